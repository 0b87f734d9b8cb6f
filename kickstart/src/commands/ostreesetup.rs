//! `ostreesetup`: install from an OSTree repository (pykickstart `F43_OSTreeSetup`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser};

/// `ostreesetup` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct OstreeSetup {
    /// Whether the command was used.
    pub seen: bool,
    /// `--osname`: management root.
    pub osname: Option<String>,
    /// `--remote` (defaults to the osname).
    pub remote: Option<String>,
    /// `--url`: the repository (file, http or https).
    pub url: Option<String>,
    /// `--ref`: the branch.
    pub r#ref: Option<String>,
    /// `--nogpg`: no GPG verification.
    pub nogpg: bool,
}

impl Command for OstreeSetup {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        self.seen = true;
        let op = OptParser::new("ostreesetup")
            .add(Arg::opt(&["--osname"]).required())
            .add(Arg::opt(&["--remote"]))
            .add(Arg::opt(&["--url"]).required())
            .add(Arg::opt(&["--ref"]).required())
            .add(Arg::flag(&["--nogpg"]));
        let ns = ctx.parse(&op, args)?;
        ns.merge_str("osname", &mut self.osname);
        ns.merge_str("remote", &mut self.remote);
        ns.merge_str("url", &mut self.url);
        ns.merge_str("ref", &mut self.r#ref);
        self.nogpg = ns.bool("nogpg");
        if self.remote.as_deref().unwrap_or("").is_empty() {
            self.remote = self.osname.clone();
        }
        let url = self.url.as_deref().unwrap_or("");
        if !["file:", "http:", "https:"]
            .iter()
            .any(|p| url.starts_with(p))
        {
            return Err(KsError::bad(
                "ostree repos must use file, HTTP or HTTPS protocol.",
            ));
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if !self.seen || self.osname.as_deref().unwrap_or("").is_empty() {
            return String::new();
        }
        let mut parts = Vec::new();
        for (v, o) in [
            (&self.osname, "osname"),
            (&self.remote, "remote"),
            (&self.url, "url"),
            (&self.r#ref, "ref"),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                parts.push(format!("--{o}=\"{v}\""));
            }
        }
        if self.nogpg {
            parts.push("--nogpg".to_string());
        }
        format!("# OSTree setup\nostreesetup {}\n", parts.join(" "))
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<OstreeSetup>::default()
}
