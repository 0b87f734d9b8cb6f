//! `xconfig`: X Window System settings (pykickstart `F14_XConfig`).

use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser};

/// `xconfig` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct XConfig {
    /// `--defaultdesktop`: GNOME or KDE.
    pub defaultdesktop: String,
    /// `--startxonboot`: graphical login on the installed system.
    pub startx: bool,
}

impl Command for XConfig {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("xconfig")
            .add(Arg::opt(&["--defaultdesktop"]))
            .add(Arg::flag(&["--startxonboot"]).dest("startX"));
        let ns = ctx.parse(&op, args)?;
        if let Some(v) = ns.str("defaultdesktop") {
            self.defaultdesktop = v;
        }
        self.startx = ns.bool("startX");
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        let mut s = String::new();
        if !self.defaultdesktop.is_empty() {
            s.push_str(&format!(" --defaultdesktop={}", self.defaultdesktop));
        }
        if self.startx {
            s.push_str(" --startxonboot");
        }
        if s.is_empty() {
            s
        } else {
            format!("# X Window System configuration information\nxconfig {s}\n")
        }
    }
    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Applied
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<XConfig>::default()
}
