//! `logging`: remote logging of the installer (pykickstart `F40_Logging`).

use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser, Val};
use crate::KsVersion;

/// `logging` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Logging {
    /// `--host`: remote syslog host.
    pub host: String,
    /// `--port`: remote syslog port.
    pub port: String,
    /// `--level` (RHEL 8 only; deprecated later): the tty3 log level.
    pub level: Option<String>,
    /// Syntax version (RHEL 8's `FC6_Logging` writes differently).
    #[serde(skip)]
    pub version: KsVersion,
}

impl Logging {
    /// `FC6_Logging.__str__`: the level once any line was read, and always a newline.
    fn render_fc6(&self) -> String {
        let mut s = String::new();
        if let Some(level) = self.level.as_deref().filter(|l| !l.is_empty()) {
            s.push_str(&format!(
                "# Installation logging level\nlogging --level={level}"
            ));
            if !self.host.is_empty() {
                s.push_str(&format!(" --host={}", self.host));
                if !self.port.is_empty() {
                    s.push_str(&format!(" --port={}", self.port));
                }
            }
        }
        s.push('\n');
        s
    }
}

impl Command for Logging {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let mut op = OptParser::new("logging")
            .add(Arg::opt(&["--host"]))
            .add(Arg::opt(&["--port"]));
        self.version = ctx.version;
        match ctx.version {
            KsVersion::Rhel8 => op.push(
                Arg::opt(&["--level"])
                    .choices(&["debug", "info", "warning", "error", "critical"])
                    .default(Val::Str("info".into())),
            ),
            KsVersion::Rhel9 => op.push(Arg::opt(&["--level"]).deprecated()),
            _ => {}
        }
        let ns = ctx.parse(&op, args)?;
        if let Some(h) = ns.str("host") {
            self.host = h;
        }
        if let Some(p) = ns.str("port") {
            self.port = p;
        }
        ns.merge_str("level", &mut self.level);
        if !self.port.is_empty() && self.host.is_empty() {
            return Err(KsError::bad("Can't specify --port without --host."));
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if self.version == KsVersion::Rhel8 {
            return self.render_fc6();
        }
        if self.host.is_empty() {
            return String::new();
        }
        let mut s = format!("# Installation logging level\nlogging --host={}", self.host);
        if !self.port.is_empty() {
            s.push_str(&format!(" --port={}", self.port));
        }
        s.push('\n');
        s
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
    Box::<Logging>::default()
}
