//! `updates`: location of an installer updates image (pykickstart `F34_Updates`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, Nargs, OptParser};

/// `updates` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Updates {
    /// The updates image URL; empty when unset.
    pub url: String,
}

impl Command for Updates {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("updates").add(Arg::pos("url", Nargs::One));
        let ns = ctx.parse(&op, args)?;
        self.url = ns.str("url").unwrap_or_default();
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if self.url.is_empty() {
            String::new()
        } else {
            format!("updates {}\n", self.url)
        }
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Updates>::default()
}
