//! `timesource`: an NTP server or pool, or NTP disabled (pykickstart `F33_Timesource`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser};

/// One `timesource` line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TimesourceData {
    /// `--ntp-server`.
    pub ntp_server: String,
    /// `--ntp-pool`.
    pub ntp_pool: String,
    /// `--ntp-disable`.
    pub ntp_disable: bool,
    /// `--nts`: the source supports NTS.
    pub nts: bool,
}

impl TimesourceData {
    fn render(&self) -> String {
        let mut a = String::new();
        if !self.ntp_server.is_empty() {
            a.push_str(&format!(" --ntp-server={}", self.ntp_server));
        }
        if !self.ntp_pool.is_empty() {
            a.push_str(&format!(" --ntp-pool={}", self.ntp_pool));
        }
        if self.nts {
            a.push_str(" --nts");
        }
        if self.ntp_disable {
            a.push_str(" --ntp-disable");
        }
        if a.is_empty() {
            a
        } else {
            format!("timesource{a}\n")
        }
    }
}

/// `timesource` state: every line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timesource {
    /// The time sources, in order.
    pub sources: Vec<TimesourceData>,
}

impl Command for Timesource {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("timesource")
            .add(Arg::opt(&["--ntp-server"]))
            .add(Arg::opt(&["--ntp-pool"]))
            .add(Arg::flag(&["--ntp-disable"]))
            .add(Arg::flag(&["--nts"]));
        let ns = ctx.parse(&op, args)?;
        let t = TimesourceData {
            ntp_server: ns.str("ntp_server").unwrap_or_default(),
            ntp_pool: ns.str("ntp_pool").unwrap_or_default(),
            ntp_disable: ns.bool("ntp_disable"),
            nts: ns.bool("nts"),
        };
        let mut used = Vec::new();
        if !t.ntp_server.is_empty() {
            used.push("--ntp-server");
        }
        if !t.ntp_pool.is_empty() {
            used.push("--ntp-pool");
        }
        if t.ntp_disable {
            used.push("--ntp-disable");
        }
        if used.is_empty() {
            return Err(KsError::bad(
                "One of ---ntp-server, --ntp-pool, --ntp-disable options must be specified for \
                 timesource command.",
            ));
        }
        if used.len() > 1 {
            return Err(KsError::bad(format!(
                "Only one of {} options may be specified for timesource command.",
                used.join(", ")
            )));
        }
        self.sources.push(t);
        Ok(Parsed::Item(self.sources.len() - 1))
    }
    fn render(&self) -> String {
        self.sources.iter().map(TimesourceData::render).collect()
    }
    fn render_item(&self, idx: usize) -> String {
        self.sources[idx].render()
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Timesource>::default()
}
