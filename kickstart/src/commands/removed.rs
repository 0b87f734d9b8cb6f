//! Commands the DEVEL syntax has removed (pykickstart `RemovedCommand`): using one is an error
//! "`<word>` has been removed.", and they are never written back. Which syntax removes or only
//! deprecates which command is [`super::versions::availability`]; the one line that reaches this
//! parser is RHEL 8's `method`, whose pykickstart class has no parser either (`TypeError`).

use super::{Command, ParseCtx, Parsed};
use crate::error::{ErrorKind, KsError};

/// A removed command.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Removed {
    /// Canonical name.
    pub name: &'static str,
}

impl Command for Removed {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, _args: &[String]) -> Result<Parsed, KsError> {
        Err(KsError::new(
            ErrorKind::RemovedCommand,
            format!("{} has been removed.", ctx.cmd),
        )
        .hint(format!(
            "delete the `{}` line: current kickstart syntax no longer has this command",
            ctx.cmd
        )))
    }
    fn render(&self) -> String {
        String::new()
    }
    crate::command_common!();
}

macro_rules! removed_ctor {
    ($($f:ident => $n:literal),*) => {
        $(
            /// A fresh state for this removed command.
            pub fn $f() -> Box<dyn Command> {
                Box::new(Removed { name: $n })
            }
        )*
    };
}

removed_ctor!(
    new_device => "device",
    new_deviceprobe => "deviceprobe",
    new_dmraid => "dmraid",
    new_install => "install",
    new_method => "method",
    new_multipath => "multipath"
);
