//! `selinux`: SELinux state of the installed system (pykickstart `FC3_SELinux`).

use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Action, Arg, OptParser, Val};

/// SELinux mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SelinuxMode {
    /// `--disabled`.
    Disabled,
    /// `--enforcing`.
    Enforcing,
    /// `--permissive`.
    Permissive,
}

/// `selinux` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Selinux {
    /// Whether the command was used at all.
    pub seen: bool,
    /// The mode; `None` when no option was given.
    pub mode: Option<SelinuxMode>,
}

impl Command for Selinux {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let c = |s: &str| Action::StoreConst(Val::Str(s.to_string()));
        let op = OptParser::new("selinux")
            .add(Arg::opt(&["--disabled"]).dest("selinux").action(c("d")))
            .add(Arg::opt(&["--enforcing"]).dest("selinux").action(c("e")))
            .add(Arg::opt(&["--permissive"]).dest("selinux").action(c("p")));
        let ns = ctx.parse(&op, args)?;
        self.seen = true;
        self.mode = match ns.str("selinux").as_deref() {
            Some("d") => Some(SelinuxMode::Disabled),
            Some("e") => Some(SelinuxMode::Enforcing),
            Some("p") => Some(SelinuxMode::Permissive),
            _ => None,
        };
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        let Some(mode) = self.mode else {
            return String::new();
        };
        let opt = match mode {
            SelinuxMode::Disabled => "--disabled",
            SelinuxMode::Enforcing => "--enforcing",
            SelinuxMode::Permissive => "--permissive",
        };
        format!("# SELinux configuration\nselinux {opt}\n")
    }
    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Applied
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Selinux>::default()
}
