//! `zerombr`: initialise disks whose formatting is unrecognised (pykickstart `F9_ZeroMbr`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::OptParser;

/// State of the `zerombr` command.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ZeroMbr {
    /// The command was given.
    pub zerombr: bool,
}

impl Command for ZeroMbr {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("zerombr");
        ctx.parse(&op, args)?;
        self.zerombr = true;
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if self.zerombr {
            "# Clear the Master Boot Record\nzerombr\n".to_string()
        } else {
            String::new()
        }
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::new(ZeroMbr::default())
}
