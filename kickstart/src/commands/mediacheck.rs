//! `mediacheck`: verify the installation media first (pykickstart `FC4_MediaCheck`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::OptParser;

/// `mediacheck` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MediaCheck {
    /// Whether `mediacheck` was given.
    pub mediacheck: bool,
}

impl Command for MediaCheck {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        ctx.parse(&OptParser::new("mediacheck"), args)?;
        self.mediacheck = true;
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if self.mediacheck {
            "mediacheck\n".to_string()
        } else {
            String::new()
        }
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<MediaCheck>::default()
}
