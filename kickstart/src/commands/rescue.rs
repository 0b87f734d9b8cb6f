//! `rescue`: enter rescue mode (pykickstart `F10_Rescue`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser};

/// `rescue` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Rescue {
    /// Whether `rescue` was given.
    pub rescue: bool,
    /// `--nomount`: do not mount the installed system.
    pub nomount: bool,
    /// `--romount`: mount it read-only.
    pub romount: bool,
}

impl Command for Rescue {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("rescue")
            .add(Arg::flag(&["--nomount"]))
            .add(Arg::flag(&["--romount"]));
        let ns = ctx.parse(&op, args)?;
        if ns.bool("nomount") && ns.bool("romount") {
            return Err(KsError::bad(
                "Only one of --nomount and --romount may be specified for rescue command.",
            ));
        }
        self.nomount = ns.bool("nomount");
        self.romount = ns.bool("romount");
        self.rescue = true;
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if !self.rescue {
            return String::new();
        }
        let mut s = "rescue".to_string();
        if self.nomount {
            s.push_str(" --nomount");
        }
        if self.romount {
            s.push_str(" --romount");
        }
        format!("# Start rescue mode\n{s}\n")
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Rescue>::default()
}
