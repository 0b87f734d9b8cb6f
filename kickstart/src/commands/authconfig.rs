//! `auth` / `authconfig`: removed in current syntax (pykickstart `F35_Authconfig` is a
//! `RemovedCommand`); RHEL 8 and 9 still take the rest of the line verbatim
//! (`F28_Authconfig`) with a deprecation warning.

use super::authselect::rest_of_line;
use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;

/// `auth` state (RHEL 8/9 syntax only).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Authconfig {
    /// The arguments passed to authconfig, verbatim.
    pub authconfig: String,
}

impl Command for Authconfig {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, _args: &[String]) -> Result<Parsed, KsError> {
        // Only RHEL 8 and 9 get here (`versions::availability`).
        ctx.deprecate("The authconfig command will be deprecated, use authselect instead.");
        self.authconfig = rest_of_line(ctx);
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if self.authconfig.is_empty() {
            String::new()
        } else {
            format!(
                "# System authorization information\nauth {}\n",
                self.authconfig
            )
        }
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Authconfig>::default()
}
