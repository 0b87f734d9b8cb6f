//! `rhsm`: register with Red Hat Subscription Manager (pykickstart `RHEL8_RHSM`, and
//! `RHEL10_RHSM` with `--flatpak-registry-url`; the RHEL handlers only).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Action, Arg, OptParser};
use crate::KsVersion;

/// `rhsm` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Rhsm {
    /// Syntax version (RHEL 10 adds an option).
    #[serde(skip)]
    pub version: KsVersion,
    /// `--organization`.
    pub organization: Option<String>,
    /// `--activation-key`, every one given.
    pub activation_keys: Vec<String>,
    /// `--connect-to-insights`.
    pub connect_to_insights: bool,
    /// `--proxy`.
    pub proxy: Option<String>,
    /// `--server-hostname`.
    pub server_hostname: Option<String>,
    /// `--rhsm-baseurl`.
    pub rhsm_baseurl: Option<String>,
    /// `--flatpak-registry-url` (RHEL 10).
    pub flatpak_registry_url: Option<String>,
}

impl Command for Rhsm {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        self.version = ctx.version;
        let mut op = OptParser::new("rhsm")
            .add(Arg::opt(&["--organization"]).required())
            .add(
                Arg::opt(&["--activation-key"])
                    .dest("activation_keys")
                    .action(Action::Append)
                    .required(),
            )
            .add(Arg::flag(&["--connect-to-insights"]).dest("connect_to_insights"))
            .add(Arg::opt(&["--proxy"]))
            .add(Arg::opt(&["--server-hostname"]).dest("server_hostname"))
            .add(Arg::opt(&["--rhsm-baseurl"]).dest("rhsm_baseurl"));
        if ctx.version == KsVersion::Rhel10 {
            op.push(Arg::opt(&["--flatpak-registry-url"]).dest("flatpak_registry_url"));
        }
        let ns = ctx.parse(&op, args)?;
        let keys = ns.list("activation_keys");
        if keys.iter().any(String::is_empty) {
            return Err(KsError::bad("Empty string is not a valid activation key."));
        }
        ns.merge_str("organization", &mut self.organization);
        self.activation_keys = keys;
        self.connect_to_insights = ns.bool("connect_to_insights");
        ns.merge_str("proxy", &mut self.proxy);
        ns.merge_str("server_hostname", &mut self.server_hostname);
        ns.merge_str("rhsm_baseurl", &mut self.rhsm_baseurl);
        ns.merge_str("flatpak_registry_url", &mut self.flatpak_registry_url);
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        let set = |o: &Option<String>| o.as_deref().is_some_and(|s| !s.is_empty());
        let any = set(&self.organization)
            || !self.activation_keys.is_empty()
            || set(&self.proxy)
            || set(&self.server_hostname)
            || set(&self.rhsm_baseurl)
            || set(&self.flatpak_registry_url);
        if !any {
            return String::new();
        }
        let mut s = "# Red Hat Subscription Manager\nrhsm".to_string();
        if set(&self.organization) {
            s.push_str(&format!(
                " --organization=\"{}\"",
                self.organization.as_deref().unwrap_or("")
            ));
        }
        for k in &self.activation_keys {
            s.push_str(&format!(" --activation-key=\"{k}\""));
        }
        if self.connect_to_insights {
            s.push_str(" --connect-to-insights");
        }
        for (opt, v) in [
            ("proxy", &self.proxy),
            ("server-hostname", &self.server_hostname),
            ("rhsm-baseurl", &self.rhsm_baseurl),
            ("flatpak-registry-url", &self.flatpak_registry_url),
        ] {
            if set(v) {
                s.push_str(&format!(" --{opt}=\"{}\"", v.as_deref().unwrap_or("")));
            }
        }
        s.push('\n');
        s
    }
    fn set_version(&mut self, version: KsVersion) {
        self.version = version;
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Rhsm>::default()
}
