//! `iscsi`: attach iSCSI storage during installation (pykickstart `F17_Iscsi`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser, Ty};

/// One `iscsi` line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct IscsiData {
    /// `--target`: the target IQN.
    pub target: String,
    /// `--ipaddr`: the target's address.
    pub ipaddr: String,
    /// `--port` (3260 unless given).
    pub port: i64,
    /// `--user`: CHAP user name.
    pub user: Option<String>,
    /// `--password`: CHAP password.
    pub password: Option<String>,
    /// `--reverse-user`: reverse CHAP user name.
    pub user_in: Option<String>,
    /// `--reverse-password`: reverse CHAP password.
    pub password_in: Option<String>,
    /// `--iface`: network interface to bind to.
    pub iface: Option<String>,
}

impl IscsiData {
    fn render(&self) -> String {
        let mut s = String::from("iscsi");
        if !self.target.is_empty() {
            s.push_str(&format!(" --target={}", self.target));
        }
        if !self.ipaddr.is_empty() {
            s.push_str(&format!(" --ipaddr={}", self.ipaddr));
        }
        if self.port != 3260 {
            s.push_str(&format!(" --port={}", self.port));
        }
        for (k, v) in [
            ("user", &self.user),
            ("password", &self.password),
            ("reverse-user", &self.user_in),
            ("reverse-password", &self.password_in),
            ("iface", &self.iface),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                s.push_str(&format!(" --{k}={v}"));
            }
        }
        s.push('\n');
        s
    }
}

/// State of the `iscsi` command: every line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Iscsi {
    /// The targets, in order.
    pub iscsi: Vec<IscsiData>,
}

impl Command for Iscsi {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("iscsi")
            .add(Arg::opt(&["--target"]))
            .add(Arg::opt(&["--ipaddr"]).required())
            .add(Arg::opt(&["--port"]).ty(Ty::Int))
            .add(Arg::opt(&["--user"]))
            .add(Arg::opt(&["--password"]))
            .add(Arg::opt(&["--reverse-user"]).dest("user_in"))
            .add(Arg::opt(&["--reverse-password"]).dest("password_in"))
            .add(Arg::opt(&["--iface"]));
        let ns = ctx.parse(&op, args)?;
        let d = IscsiData {
            target: ns.str("target").unwrap_or_default(),
            ipaddr: ns.str("ipaddr").unwrap_or_default(),
            port: ns.int("port").unwrap_or(3260),
            user: ns.str("user"),
            password: ns.str("password"),
            user_in: ns.str("user_in"),
            password_in: ns.str("password_in"),
            iface: ns.str("iface"),
        };
        self.iscsi.push(d);
        Ok(Parsed::Item(self.iscsi.len() - 1))
    }
    fn render(&self) -> String {
        self.iscsi.iter().map(IscsiData::render).collect()
    }
    fn render_item(&self, idx: usize) -> String {
        self.iscsi[idx].render()
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::new(Iscsi::default())
}
