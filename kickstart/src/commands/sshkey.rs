//! `sshkey`: install an authorized ssh key for a user (pykickstart `F22_SshKey` with
//! `F38_SshKeyData`).

use super::lang::unexpected_args;
use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, Nargs, OptParser};
use crate::KsVersion;

/// One `sshkey` line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SshKeyData {
    /// `--username`: whose `authorized_keys` gets the key.
    pub username: String,
    /// The public key.
    pub key: String,
}

impl SshKeyData {
    fn render(&self, version: KsVersion) -> String {
        // F22_SshKeyData (RHEL 8) writes the key without escaping its quotes.
        let key = if version == KsVersion::Rhel8 {
            self.key.clone()
        } else {
            self.key.replace('"', "\\\"")
        };
        format!("sshkey --username={} \"{key}\"\n", self.username)
    }
}

/// `sshkey` state: every line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SshKey {
    /// The keys, in order.
    pub keys: Vec<SshKeyData>,
    /// Syntax version.
    #[serde(skip)]
    pub version: KsVersion,
}

impl Command for SshKey {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("sshkey")
            .add(Arg::opt(&["--username"]).required())
            .add(Arg::pos("sshkey", Nargs::One));
        let (ns, extra) = ctx.parse_known(&op, args)?;
        if !extra.is_empty() {
            return Err(unexpected_args("sshkey", &extra));
        }
        let k = SshKeyData {
            username: ns.str("username").unwrap_or_default(),
            key: ns.str("sshkey").unwrap_or_default(),
        };
        if self.keys.iter().any(|x| x.username == k.username) {
            ctx.warn(format!(
                "An ssh user with the name {} has already been defined.",
                k.username
            ));
        }
        self.keys.push(k);
        Ok(Parsed::Item(self.keys.len() - 1))
    }
    fn render(&self) -> String {
        self.keys.iter().map(|k| k.render(self.version)).collect()
    }
    fn render_item(&self, idx: usize) -> String {
        self.keys[idx].render(self.version)
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
    Box::<SshKey>::default()
}
