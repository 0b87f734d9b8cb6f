//! `skipx`: do not configure X on the installed system (pykickstart `FC3_SkipX`).

use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::OptParser;

/// `skipx` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SkipX {
    /// Whether `skipx` was given.
    pub skipx: bool,
}

impl Command for SkipX {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        ctx.parse(&OptParser::new("skipx"), args)?;
        self.skipx = true;
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if self.skipx {
            "# Do not configure the X Window System\nskipx\n".to_string()
        } else {
            String::new()
        }
    }
    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Applied
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<SkipX>::default()
}
