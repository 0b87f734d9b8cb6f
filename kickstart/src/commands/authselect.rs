//! `authselect`: arguments passed verbatim to the authselect tool (pykickstart
//! `F28_Authselect`).

use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;

/// `authselect` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Authselect {
    /// The rest of the line after the command word, stripped.
    pub authselect: String,
}

/// The raw text of a line after its command word, stripped (pykickstart's
/// `currentLine[len(currentCmd):].strip()`).
pub(crate) fn rest_of_line(ctx: &ParseCtx<'_>) -> String {
    let line = ctx.line;
    let rest = line.get(ctx.cmd.len()..).unwrap_or("");
    rest.trim_matches(|c: char| c.is_whitespace()).to_string()
}

impl Command for Authselect {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, _args: &[String]) -> Result<Parsed, KsError> {
        self.authselect = rest_of_line(ctx);
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if self.authselect.is_empty() {
            String::new()
        } else {
            format!(
                "# System authorization information\nauthselect {}\n",
                self.authselect
            )
        }
    }
    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Applied
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Authselect>::default()
}
