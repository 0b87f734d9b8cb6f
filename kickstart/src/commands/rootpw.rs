//! `rootpw`: the root password (pykickstart `F37_RootPw`).

use super::lang::unexpected_args;
use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Action, Arg, Nargs, OptParser};
use crate::KsVersion;

/// `rootpw` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RootPw {
    /// The password (plain or crypted); empty when not given.
    pub password: String,
    /// `--iscrypted` (versus the default `--plaintext`).
    pub is_crypted: bool,
    /// `--lock`: lock the root account.
    pub lock: bool,
    /// `--allow-ssh`: allow root ssh logins with the password.
    pub allow_ssh: bool,
}

impl Command for RootPw {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let mut op = OptParser::new("rootpw")
            .add(Arg::pos("password", Nargs::Optional))
            .add(Arg::flag(&["--iscrypted"]).dest("isCrypted"))
            .add(Arg::flag(&["--lock"]))
            .add(
                Arg::opt(&["--plaintext"])
                    .dest("isCrypted")
                    .action(Action::StoreFalse),
            );
        if ctx.version != KsVersion::Rhel8 {
            op.push(Arg::flag(&["--allow-ssh"]));
        }
        let (ns, extra) = ctx.parse_known(&op, args)?;
        let password = ns.str("password");
        if password.as_deref().unwrap_or("").is_empty() && !ns.bool("lock") {
            return Err(KsError::bad(
                "A single argument is expected for the rootpw command",
            ));
        } else if !extra.is_empty() {
            return Err(unexpected_args("rootpw", &extra));
        }
        // A line without a password (`--lock`) keeps the earlier one.
        if let Some(p) = password {
            self.password = p;
        }
        self.is_crypted = ns.bool("isCrypted");
        self.lock = ns.bool("lock");
        self.allow_ssh = ns.bool("allow_ssh");
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        let mut a = String::new();
        if self.is_crypted {
            a.push_str(" --iscrypted");
        }
        if self.lock {
            a.push_str(" --lock");
        }
        if !self.is_crypted {
            a.push_str(" --plaintext");
        }
        if self.allow_ssh {
            a.push_str(" --allow-ssh");
        }
        if !self.password.is_empty() {
            let pw = if self.password.contains('#') {
                format!("\"{}\"", self.password)
            } else {
                self.password.clone()
            };
            format!("# Root password\nrootpw{a} {pw}\n")
        } else if self.lock {
            "#Root password\nrootpw --lock\n".to_string()
        } else {
            String::new()
        }
    }
    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Applied
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<RootPw>::default()
}
