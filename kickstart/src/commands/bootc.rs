//! `bootc`: install from a bootable container image (pykickstart `F45_Bootc`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser, Val};
use crate::KsVersion;

/// `bootc` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Bootc {
    /// Whether the command was used.
    pub seen: bool,
    /// `--stateroot` (default `default`).
    pub stateroot: Option<String>,
    /// `--source-imgref`: where to install from (with a transport prefix).
    pub source_imgref: Option<String>,
    /// `--target-imgref`: the image for later updates (defaults to the source).
    pub target_imgref: Option<String>,
    /// `--bootloader`: none, grub or systemd.
    pub bootloader: Option<String>,
    /// `--composefs`: use the composefs backend.
    pub composefs: bool,
}

impl Command for Bootc {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        self.seen = true;
        let op = OptParser::new("bootc")
            .add(Arg::opt(&["--stateroot"]).default(Val::Str("default".into())))
            .add(
                Arg::opt(&["--source-imgref"])
                    .dest("sourceImgRef")
                    .required(),
            )
            .add(Arg::opt(&["--target-imgref"]).dest("targetImgRef"));
        // RHEL 10 has F43_Bootc, without F45's --bootloader and --composefs.
        let op = if ctx.version == KsVersion::Rhel10 {
            op
        } else {
            op.add(Arg::opt(&["--bootloader"]))
                .add(Arg::flag(&["--composefs"]))
        };
        let ns = ctx.parse(&op, args)?;
        self.stateroot = ns.str("stateroot");
        self.source_imgref = ns.str("sourceImgRef");
        ns.merge_str("targetImgRef", &mut self.target_imgref);
        ns.merge_str("bootloader", &mut self.bootloader);
        self.composefs = ns.bool("composefs");
        if self.target_imgref.as_deref().unwrap_or("").is_empty() {
            self.target_imgref = self.source_imgref.clone();
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if !self.seen {
            return String::new();
        }
        let mut parts = Vec::new();
        for (v, o) in [
            (&self.stateroot, "stateroot"),
            (&self.source_imgref, "source-imgref"),
            (&self.target_imgref, "target-imgref"),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                parts.push(format!("--{o}=\"{v}\""));
            }
        }
        let mut a = parts.join(" ");
        if let Some(b) = self.bootloader.as_deref().filter(|v| !v.is_empty()) {
            a.push_str(&format!(" --bootloader=\"{b}\""));
        }
        if self.composefs {
            a.push_str(" --composefs");
        }
        format!("# Bootc setup\nbootc {a}\n")
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Bootc>::default()
}
