//! `timezone`: the system time zone (pykickstart `F40_Timezone`).

use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, Nargs, OptParser, Ty};
use crate::KsVersion;

/// `timezone` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timezone {
    /// The zone name (`Europe/Prague`); empty when not given.
    pub timezone: String,
    /// `--utc` (or the deprecated `--isUtc`): the hardware clock is in UTC.
    pub utc: bool,
    /// `--nontp` (deprecated): do not start NTP.
    pub nontp: bool,
    /// `--ntpservers` (deprecated): NTP servers.
    pub ntpservers: Vec<String>,
}

impl Command for Timezone {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let dep = !matches!(ctx.version, KsVersion::Rhel8 | KsVersion::Rhel9);
        let mark = |a: Arg| if dep { a.deprecated() } else { a };
        let op = OptParser::new("timezone")
            .add(Arg::pos("timezone", Nargs::Any))
            .add(Arg::flag(&["--utc"]).dest("isUtc"))
            .add(mark(Arg::flag(&["--isUtc"]).dest("isUtc")))
            .add(mark(Arg::flag(&["--nontp"])))
            .add(mark(Arg::opt(&["--ntpservers"]).ty(Ty::CommaSplit)));
        let ns = ctx.parse(&op, args)?;
        self.utc = ns.bool("isUtc");
        self.nontp = ns.bool("nontp");
        ns.merge_list("ntpservers", &mut self.ntpservers);
        if args.is_empty() {
            return Err(KsError::bad(
                "At least one option and/or an argument are expected for the timezone command",
            ));
        }
        let tz = ns.list("timezone");
        if tz.len() == 1 {
            self.timezone = tz[0].clone();
        } else if tz.is_empty() {
            // pykickstart stores the empty positional list over the earlier zone.
            self.timezone.clear();
        } else {
            return Err(KsError::bad(
                "One or zero arguments are expected for the timezone command",
            ));
        }
        if !self.ntpservers.is_empty() && self.nontp {
            return Err(KsError::bad(
                "Options --nontp and --ntpservers are mutually exclusive",
            ));
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        let mut a = String::new();
        if !self.timezone.is_empty() {
            a.push(' ');
            a.push_str(&self.timezone);
        }
        if self.utc {
            a.push_str(" --utc");
        }
        if self.nontp {
            a.push_str(" --nontp");
        }
        if !self.ntpservers.is_empty() {
            a.push_str(" --ntpservers=");
            a.push_str(&self.ntpservers.join(","));
        }
        if a.is_empty() {
            String::new()
        } else {
            format!("# System timezone\ntimezone{a}\n")
        }
    }
    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Applied
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Timezone>::default()
}
