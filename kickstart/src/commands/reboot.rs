//! `reboot`, `poweroff`, `shutdown`, `halt`: what happens after installation (pykickstart
//! `F23_Reboot`).

use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser};

/// The end-of-installation action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RebootAction {
    /// `reboot`.
    Reboot,
    /// `poweroff` or `shutdown`.
    Shutdown,
    /// `halt`: wait for the user.
    Halt,
}

/// `reboot` family state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Reboot {
    /// The action; `None` when unset.
    pub action: Option<RebootAction>,
    /// `--eject`: eject optical media first.
    pub eject: bool,
    /// `--kexec`: reboot with kexec.
    pub kexec: bool,
}

impl Command for Reboot {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        match ctx.cmd {
            "reboot" => self.action = Some(RebootAction::Reboot),
            "shutdown" | "poweroff" => self.action = Some(RebootAction::Shutdown),
            _ => {}
        }
        let op = OptParser::new("reboot|poweroff|shutdown|halt")
            .add(Arg::flag(&["--eject"]))
            .add(Arg::flag(&["--kexec"]));
        let ns = ctx.parse(&op, args)?;
        self.eject = ns.bool("eject");
        self.kexec = ns.bool("kexec");
        if ctx.cmd == "halt" {
            self.action = Some(RebootAction::Halt);
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        let (comment, word) = match self.action {
            None => return String::new(),
            Some(RebootAction::Reboot) => ("Reboot", "reboot"),
            Some(RebootAction::Shutdown) => ("Shutdown", "shutdown"),
            Some(RebootAction::Halt) => ("Halt", "halt"),
        };
        let mut s = format!("# {comment} after installation\n{word}");
        if self.eject {
            s.push_str(" --eject");
        }
        if self.kexec {
            s.push_str(" --kexec");
        }
        s.push('\n');
        s
    }
    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Applied
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Reboot>::default()
}
