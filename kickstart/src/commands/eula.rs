//! `eula`: accept the EULA (pykickstart `F20_Eula`).

use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser};

/// `eula` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Eula {
    /// `--agreed` (or one of its aliases) was given.
    pub agreed: bool,
}

impl Command for Eula {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("eula")
            .add(Arg::flag(&["--agreed", "--agree", "--accepted", "--accept"]).dest("agreed"));
        let (ns, extra) = ctx.parse_known(&op, args)?;
        self.agreed = ns.bool("agreed");
        if !extra.is_empty() {
            return Err(KsError::bad(
                "Kickstart command eula does not take any arguments",
            ));
        }
        if !self.agreed {
            return Err(KsError::bad(
                "Kickstart command eula expects the --agreed option",
            ));
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if self.agreed {
            "# License agreement\neula --agreed\n".to_string()
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
    Box::<Eula>::default()
}
