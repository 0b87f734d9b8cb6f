//! `sshpw`: accounts for ssh access to the installer environment (pykickstart `F24_SshPw`).

use super::lang::unexpected_args;
use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Action, Arg, Nargs, OptParser};

/// One `sshpw` line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SshPwData {
    /// `--username`.
    pub username: String,
    /// The password (or key, with `--sshkey`): the positional words joined by spaces.
    pub password: String,
    /// `--iscrypted` (versus `--plaintext`).
    pub is_crypted: bool,
    /// `--lock`.
    pub lock: bool,
    /// `--sshkey`: the password is an ssh key.
    pub sshkey: bool,
}

impl SshPwData {
    fn render(&self) -> String {
        let mut s = format!("sshpw --username={}", self.username);
        if self.sshkey {
            s.push_str(" --sshkey");
        } else {
            if self.lock {
                s.push_str(" --lock");
            }
            s.push_str(if self.is_crypted {
                " --iscrypted"
            } else {
                " --plaintext"
            });
        }
        s.push(' ');
        s.push_str(&self.password);
        s.push('\n');
        s
    }
}

/// `sshpw` state: every line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SshPw {
    /// The accounts, in order.
    pub users: Vec<SshPwData>,
}

impl Command for SshPw {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("sshpw")
            .add(Arg::opt(&["--username"]).required())
            .add(Arg::flag(&["--iscrypted"]).dest("isCrypted"))
            .add(
                Arg::opt(&["--plaintext"])
                    .dest("isCrypted")
                    .action(Action::StoreFalse),
            )
            .add(Arg::flag(&["--lock"]))
            .add(Arg::pos("password", Nargs::Any))
            .add(Arg::flag(&["--sshkey"]));
        let (ns, extra) = ctx.parse_known(&op, args)?;
        let pw = ns.list("password");
        if pw.is_empty() {
            return Err(KsError::bad(
                "A single argument is expected for the sshpw command",
            ));
        }
        if !extra.is_empty() {
            return Err(unexpected_args("sshpw", &extra));
        }
        let u = SshPwData {
            username: ns.str("username").unwrap_or_default(),
            password: pw.join(" "),
            is_crypted: ns.bool("isCrypted"),
            lock: ns.bool("lock"),
            sshkey: ns.bool("sshkey"),
        };
        if self.users.iter().any(|x| x.username == u.username) {
            ctx.warn(format!(
                "An ssh user with the name {} has already been defined.",
                u.username
            ));
        }
        self.users.push(u);
        Ok(Parsed::Item(self.users.len() - 1))
    }
    fn render(&self) -> String {
        self.users.iter().map(SshPwData::render).collect()
    }
    fn render_item(&self, idx: usize) -> String {
        self.users[idx].render()
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<SshPw>::default()
}
