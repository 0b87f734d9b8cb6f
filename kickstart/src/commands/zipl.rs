//! `zipl`: ZIPL configuration for s390x (pykickstart `F32_Zipl`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Action, Arg, OptParser, Val};

/// Secure Boot setting of `zipl`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecureBoot {
    /// Not specified.
    #[default]
    Default,
    /// `--no-secure-boot`.
    Disabled,
    /// `--force-secure-boot`.
    Enabled,
    /// `--secure-boot`: enable if supported.
    Auto,
}

/// State of the `zipl` command.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Zipl {
    /// The Secure Boot setting.
    pub secure_boot: SecureBoot,
}

impl Command for Zipl {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let c = |n: &'static str, v: &str| {
            Arg::opt(&[n])
                .dest("secure_boot")
                .action(Action::StoreConst(Val::Str(v.to_string())))
        };
        let op = OptParser::new("zipl")
            .add(c("--secure-boot", "auto"))
            .add(c("--force-secure-boot", "enabled"))
            .add(c("--no-secure-boot", "disabled"));
        let ns = ctx.parse(&op, args)?;
        // Unset options leave the previous value (pykickstart `set_to_self` skips None).
        match ns.str("secure_boot").as_deref() {
            Some("auto") => self.secure_boot = SecureBoot::Auto,
            Some("enabled") => self.secure_boot = SecureBoot::Enabled,
            Some("disabled") => self.secure_boot = SecureBoot::Disabled,
            _ => {}
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        let opt = match self.secure_boot {
            SecureBoot::Default => return String::new(),
            SecureBoot::Auto => " --secure-boot",
            SecureBoot::Enabled => " --force-secure-boot",
            SecureBoot::Disabled => " --no-secure-boot",
        };
        format!("# ZIPL configuration\nzipl{opt}\n")
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::new(Zipl::default())
}
