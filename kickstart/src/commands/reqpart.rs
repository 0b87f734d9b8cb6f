//! `reqpart`: create the partitions the platform requires (pykickstart `F23_ReqPart`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser};

/// State of the `reqpart` command.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReqPart {
    /// The command was given.
    pub reqpart: bool,
    /// `--add-boot`: also create a separate `/boot` partition.
    pub add_boot: bool,
}

impl Command for ReqPart {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("reqpart").add(Arg::flag(&["--add-boot"]).dest("add_boot"));
        let ns = ctx.parse(&op, args)?;
        self.add_boot = ns.bool("add_boot");
        self.reqpart = true;
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if !self.reqpart {
            return String::new();
        }
        let mut s = "reqpart".to_string();
        if self.add_boot {
            s.push_str(" --add-boot");
        }
        s.push('\n');
        s
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::new(ReqPart::default())
}
