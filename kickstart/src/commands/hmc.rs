//! `hmc`: install from media via SE/HMC on z Systems (pykickstart `F28_Hmc`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;

/// State of the `hmc` command.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Hmc {
    /// The command was given.
    pub seen: bool,
}

impl Command for Hmc {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        if !args.is_empty() {
            return Err(KsError::bad(format!(
                "Kickstart command {} does not take any arguments",
                ctx.cmd
            )));
        }
        self.seen = true;
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if self.seen {
            "# Use installation media via SE/HMC\nhmc\n".to_string()
        } else {
            String::new()
        }
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::new(Hmc::default())
}
