//! `vnc`: run the installer's VNC server (pykickstart `F9_Vnc`, a real command in the RHEL 8
//! and 9 syntaxes; deprecated in RHEL 10 and removed in DEVEL, see [`super::versions`]).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser};

/// `vnc` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Vnc {
    /// The command was given.
    pub enabled: bool,
    /// `--host`: connect to a listening viewer on this host.
    pub host: String,
    /// `--port`: its port.
    pub port: String,
    /// `--password`.
    pub password: String,
}

impl Command for Vnc {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        self.enabled = true;
        let op = OptParser::new("vnc")
            .add(Arg::opt(&["--password"]))
            .add(Arg::opt(&["--host"]))
            .add(Arg::opt(&["--port"]));
        let ns = ctx.parse(&op, args)?;
        for (dest, field) in [
            ("password", &mut self.password),
            ("host", &mut self.host),
            ("port", &mut self.port),
        ] {
            if let Some(v) = ns.str(dest) {
                *field = v;
            }
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if !self.enabled {
            return String::new();
        }
        let mut s = "vnc".to_string();
        if !self.host.is_empty() {
            s.push_str(&format!(" --host={}", self.host));
            if !self.port.is_empty() {
                s.push_str(&format!(" --port={}", self.port));
            }
        }
        if !self.password.is_empty() {
            s.push_str(&format!(" --password={}", self.password));
        }
        s.push('\n');
        s
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Vnc>::default()
}
