//! `timezone`: the system time zone (pykickstart `F40_Timezone`; `F25_Timezone` in RHEL 8,
//! `F33_Timezone` in RHEL 9, `RHEL10_Timezone`).

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
    /// Syntax version (RHEL 8 spells `--utc` as `--isUtc` when writing).
    #[serde(skip)]
    pub version: KsVersion,
}

impl Command for Timezone {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        self.version = ctx.version;
        let mut op = OptParser::new("timezone")
            .add(Arg::pos("timezone", Nargs::Any))
            .add(Arg::flag(&["--utc"]).dest("isUtc"));
        match ctx.version {
            // F25/F33_Timezone: plain options.
            KsVersion::Rhel8 | KsVersion::Rhel9 => {
                op.push(Arg::flag(&["--isUtc"]).dest("isUtc"));
                op.push(Arg::flag(&["--nontp"]));
                op.push(Arg::opt(&["--ntpservers"]).ty(Ty::CommaSplit));
            }
            // F40_Timezone: deprecated options.
            KsVersion::Devel => {
                op.push(Arg::flag(&["--isUtc"]).dest("isUtc").deprecated());
                op.push(Arg::flag(&["--nontp"]).deprecated());
                op.push(Arg::opt(&["--ntpservers"]).ty(Ty::CommaSplit).deprecated());
            }
            // RHEL10_Timezone removed them.
            KsVersion::Rhel10 => {}
        }
        let ns = ctx.parse(&op, args)?;
        self.utc = ns.bool("isUtc");
        if ctx.version != KsVersion::Rhel10 {
            self.nontp = ns.bool("nontp");
            ns.merge_list("ntpservers", &mut self.ntpservers);
        }
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
        if ctx.version == KsVersion::Rhel10 {
            return Ok(Parsed::Command);
        }
        if !self.ntpservers.is_empty() && self.nontp {
            return Err(KsError::bad(
                "Options --nontp and --ntpservers are mutually exclusive",
            ));
        }
        // F32/F33_Timezone (RHEL 9) announce the options' deprecation.
        if ctx.version == KsVersion::Rhel9 {
            if args.iter().any(|a| a == "--isUtc") {
                ctx.deprecate(
                    "The option --isUtc will be deprecated in future releases. Please modify your \
                     kickstart file to replace this option with its preferred alias --utc.",
                );
            }
            if !self.ntpservers.is_empty() {
                ctx.deprecate(
                    "The option --ntpservers will be deprecated in future releases. Please modify \
                     your kickstart file to replace this option with timesource --ntp-server \
                     <server hostname> command invocation, one per NTP server.",
                );
            }
            if self.nontp {
                ctx.deprecate(
                    "The option --nontp will be deprecated in future releases. Please modify your \
                     kickstart file to replace this option with timesource --ntp-disable command \
                     invocation.",
                );
            }
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
            // F25_Timezone (RHEL 8) writes the old spelling.
            a.push_str(if self.version == KsVersion::Rhel8 {
                " --isUtc"
            } else {
                " --utc"
            });
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
    fn set_version(&mut self, version: KsVersion) {
        self.version = version;
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
