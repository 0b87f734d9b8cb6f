//! `syspurpose`: the system's intended purpose for subscriptions (pykickstart
//! `RHEL8_Syspurpose`; the RHEL handlers only).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Action, Arg, OptParser};

/// `syspurpose` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Syspurpose {
    /// `--role`.
    pub role: Option<String>,
    /// `--sla`.
    pub sla: Option<String>,
    /// `--usage`.
    pub usage: Option<String>,
    /// `--addon`, every one given.
    pub addons: Option<Vec<String>>,
}

impl Command for Syspurpose {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("syspurpose")
            .add(Arg::opt(&["--role"]))
            .add(Arg::opt(&["--sla"]))
            .add(Arg::opt(&["--usage"]))
            .add(Arg::opt(&["--addon"]).dest("addons").action(Action::Append));
        let (ns, extra) = ctx.parse_known(&op, args)?;
        if !extra.is_empty() {
            return Err(KsError::bad(
                "The syspurpose command does not take positional arguments!",
            ));
        }
        ns.merge_str("role", &mut self.role);
        ns.merge_str("sla", &mut self.sla);
        ns.merge_str("usage", &mut self.usage);
        if !ns.is_none("addons") {
            self.addons = Some(ns.list("addons"));
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        let set = |o: &Option<String>| o.as_deref().is_some_and(|s| !s.is_empty());
        let addons = self.addons.as_deref().unwrap_or_default();
        if !set(&self.role) && !set(&self.sla) && !set(&self.usage) && addons.is_empty() {
            return String::new();
        }
        let mut s = "# Intended system purpose\nsyspurpose".to_string();
        for (opt, v) in [
            ("role", &self.role),
            ("sla", &self.sla),
            ("usage", &self.usage),
        ] {
            if set(v) {
                s.push_str(&format!(" --{opt}=\"{}\"", v.as_deref().unwrap_or("")));
            }
        }
        for a in addons {
            s.push_str(&format!(" --addon=\"{a}\""));
        }
        s.push('\n');
        s
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Syspurpose>::default()
}
