//! `firstboot`: whether the setup agent runs on first boot (pykickstart `FC3_Firstboot`).

use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Action, Arg, OptParser, Val};

/// What the setup agent does on first boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FirstbootMode {
    /// `--disable`: not started.
    Disabled,
    /// `--enable`: started.
    Enabled,
    /// `--reconfig`: started in reconfiguration mode.
    Reconfig,
}

/// `firstboot` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Firstboot {
    /// The mode; `None` when no option was given (or the command was not used).
    pub mode: Option<FirstbootMode>,
}

fn parser() -> OptParser {
    let c = |s: &str| Action::StoreConst(Val::Str(s.to_string()));
    OptParser::new("firstboot")
        .add(
            Arg::opt(&["--disable", "--disabled"])
                .dest("firstboot")
                .action(c("disable")),
        )
        .add(
            Arg::opt(&["--enable", "--enabled"])
                .dest("firstboot")
                .action(c("enable")),
        )
        .add(
            Arg::opt(&["--reconfig"])
                .dest("firstboot")
                .action(c("reconfig")),
        )
}

impl Command for Firstboot {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let ns = ctx.parse(&parser(), args)?;
        self.mode = match ns.str("firstboot").as_deref() {
            Some("disable") => Some(FirstbootMode::Disabled),
            Some("enable") => Some(FirstbootMode::Enabled),
            Some("reconfig") => Some(FirstbootMode::Reconfig),
            _ => None,
        };
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        match self.mode {
            None => String::new(),
            Some(FirstbootMode::Disabled) => "firstboot --disable\n".to_string(),
            Some(FirstbootMode::Enabled) => {
                "# Run the Setup Agent on first boot\nfirstboot --enable\n".to_string()
            }
            Some(FirstbootMode::Reconfig) => {
                "# Run the Setup Agent on first boot\nfirstboot --reconfig\n".to_string()
            }
        }
    }
    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Applied
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Firstboot>::default()
}
