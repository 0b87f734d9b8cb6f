//! `cdrom`: install from the first optical drive (pykickstart `FC3_Cdrom`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;

/// `cdrom` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Cdrom {
    /// Whether the command was used.
    pub seen: bool,
}

impl Command for Cdrom {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        self.seen = true;
        if !args.is_empty() {
            return Err(KsError::bad(format!(
                "Kickstart command {} does not take any arguments",
                ctx.cmd
            )));
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if self.seen {
            "# Use CDROM installation media\ncdrom\n".to_string()
        } else {
            String::new()
        }
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Cdrom>::default()
}
