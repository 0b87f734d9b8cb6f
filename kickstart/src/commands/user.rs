//! `user`: create a user (pykickstart `F24_User` with `F19_UserData`).

use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Action, Arg, OptParser, Ty};

/// One `user` line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct UserData {
    /// `--name`: the login name.
    pub name: String,
    /// `--groups`: supplementary groups (each may carry a GID: `name(5002)`).
    pub groups: Vec<String>,
    /// `--homedir`.
    pub homedir: String,
    /// `--password`.
    pub password: String,
    /// `--iscrypted` (versus `--plaintext`).
    pub is_crypted: bool,
    /// `--shell`.
    pub shell: String,
    /// `--uid`.
    pub uid: Option<i64>,
    /// `--gid`: the primary group's GID.
    pub gid: Option<i64>,
    /// `--gecos`.
    pub gecos: String,
    /// `--lock`: lock the account.
    pub lock: bool,
}

impl UserData {
    fn render(&self) -> String {
        let mut a = String::new();
        if !self.groups.is_empty() {
            a.push_str(&format!(" --groups={}", self.groups.join(",")));
        }
        if !self.homedir.is_empty() {
            a.push_str(&format!(" --homedir={}", self.homedir));
        }
        if !self.name.is_empty() {
            a.push_str(&format!(" --name={}", self.name));
        }
        if !self.password.is_empty() {
            if self.password.contains('#') {
                a.push_str(&format!(" --password=\"{}\"", self.password));
            } else {
                a.push_str(&format!(" --password={}", self.password));
            }
        }
        if self.is_crypted {
            a.push_str(" --iscrypted");
        }
        if !self.shell.is_empty() {
            a.push_str(&format!(" --shell={}", self.shell));
        }
        if let Some(u) = self.uid.filter(|u| *u != 0) {
            a.push_str(&format!(" --uid={u}"));
        }
        if self.lock {
            a.push_str(" --lock");
        }
        if !self.gecos.is_empty() {
            a.push_str(&format!(" --gecos=\"{}\"", self.gecos));
        }
        if let Some(g) = self.gid.filter(|g| *g != 0) {
            a.push_str(&format!(" --gid={g}"));
        }
        if a.is_empty() {
            a
        } else {
            format!("user{a}\n")
        }
    }
}

/// `user` state: every line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct User {
    /// The users, in order.
    pub users: Vec<UserData>,
}

impl Command for User {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("user")
            .add(Arg::opt(&["--homedir"]))
            .add(Arg::flag(&["--iscrypted"]).dest("isCrypted"))
            .add(Arg::opt(&["--name"]).required())
            .add(Arg::opt(&["--password"]))
            .add(Arg::opt(&["--shell"]))
            .add(Arg::opt(&["--uid"]).ty(Ty::Int))
            .add(Arg::flag(&["--lock"]))
            .add(
                Arg::opt(&["--plaintext"])
                    .dest("isCrypted")
                    .action(Action::StoreFalse),
            )
            .add(Arg::opt(&["--gecos"]))
            .add(Arg::opt(&["--gid"]).ty(Ty::Int))
            .add(Arg::opt(&["--groups"]).ty(Ty::CommaSplit));
        let ns = ctx.parse(&op, args)?;
        let u = UserData {
            name: ns.str("name").unwrap_or_default(),
            groups: ns.list("groups"),
            homedir: ns.str("homedir").unwrap_or_default(),
            password: ns.str("password").unwrap_or_default(),
            is_crypted: ns.bool("isCrypted"),
            shell: ns.str("shell").unwrap_or_default(),
            uid: ns.int("uid"),
            gid: ns.int("gid"),
            gecos: ns.str("gecos").unwrap_or_default(),
            lock: ns.bool("lock"),
        };
        if self.users.iter().any(|x| x.name == u.name) {
            ctx.warn(format!(
                "A user with the name {} has already been defined.",
                u.name
            ));
        }
        self.users.push(u);
        Ok(Parsed::Item(self.users.len() - 1))
    }
    fn render(&self) -> String {
        self.users.iter().map(UserData::render).collect()
    }
    fn render_item(&self, idx: usize) -> String {
        self.users[idx].render()
    }
    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Applied
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<User>::default()
}
