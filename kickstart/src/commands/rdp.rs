//! `rdp`: remote access to the graphical installer over RDP (pykickstart `F43_RDP`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser};

/// `rdp` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Rdp {
    /// Whether `rdp` was given.
    pub enabled: bool,
    /// `--username`.
    pub username: String,
    /// `--password`.
    pub password: String,
}

impl Command for Rdp {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        self.enabled = true;
        let op = OptParser::new("rdp")
            .add(Arg::opt(&["--username"]))
            .add(Arg::opt(&["--password"]));
        let ns = ctx.parse(&op, args)?;
        if let Some(v) = ns.str("username") {
            self.username = v;
        }
        if let Some(v) = ns.str("password") {
            self.password = v;
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if !self.enabled {
            return String::new();
        }
        let mut s = "rdp".to_string();
        if !self.username.is_empty() {
            s.push_str(&format!(" --username={}", self.username));
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
    Box::<Rdp>::default()
}
