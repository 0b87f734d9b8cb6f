//! `services`: services to disable and enable (pykickstart `FC6_Services`).

use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser, Ty};

/// `services` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Services {
    /// Services to disable (applied before enabling).
    pub disabled: Vec<String>,
    /// Services to enable.
    pub enabled: Vec<String>,
}

impl Command for Services {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("services")
            .add(Arg::opt(&["--disabled"]).ty(Ty::CommaSplit))
            .add(Arg::opt(&["--enabled"]).ty(Ty::CommaSplit));
        let ns = ctx.parse(&op, args)?;
        ns.merge_list("disabled", &mut self.disabled);
        ns.merge_list("enabled", &mut self.enabled);
        if self.disabled.is_empty() && self.enabled.is_empty() {
            return Err(KsError::bad(
                "One of --disabled or --enabled must be provided.",
            ));
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        let mut args = String::new();
        if !self.disabled.is_empty() {
            args.push_str(&format!(" --disabled=\"{}\"", self.disabled.join(",")));
        }
        if !self.enabled.is_empty() {
            args.push_str(&format!(" --enabled=\"{}\"", self.enabled.join(",")));
        }
        if args.is_empty() {
            String::new()
        } else {
            format!("# System services\nservices{args}\n")
        }
    }
    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Applied
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Services>::default()
}
