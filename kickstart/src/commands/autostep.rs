//! `autostep`: step through the installer's screens (pykickstart `FC3_AutoStep`, a real command
//! only in the RHEL 8 syntax; deprecated in RHEL 9, removed later, see [`super::versions`]).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser};

/// `autostep` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Autostep {
    /// The command was given.
    pub autostep: bool,
    /// `--autoscreenshot`: take a screenshot of every step.
    pub autoscreenshot: bool,
}

impl Command for Autostep {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("autostep").add(Arg::flag(&["--autoscreenshot"]));
        let ns = ctx.parse(&op, args)?;
        self.autoscreenshot = ns.bool("autoscreenshot");
        self.autostep = true;
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        match (self.autostep, self.autoscreenshot) {
            (false, _) => String::new(),
            (true, true) => "autostep --autoscreenshot\n".into(),
            (true, false) => "autostep\n".into(),
        }
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Autostep>::default()
}
