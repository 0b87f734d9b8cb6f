//! `ostreecontainer`: install from an OSTree native container (pykickstart
//! `F43_OSTreeContainer`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser};

/// `ostreecontainer` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct OstreeContainer {
    /// Whether the command was used.
    pub seen: bool,
    /// `--stateroot` ("osname").
    pub stateroot: Option<String>,
    /// `--url`: the container image.
    pub url: Option<String>,
    /// `--transport`: registry, oci, oci-archive, ...
    pub transport: Option<String>,
    /// `--remote` (defaults to the stateroot).
    pub remote: Option<String>,
    /// `--no-signature-verification`.
    pub no_signature_verification: bool,
}

impl Command for OstreeContainer {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        self.seen = true;
        let op = OptParser::new("ostreecontainer")
            .add(Arg::opt(&["--stateroot"]))
            .add(Arg::opt(&["--url"]).required())
            .add(Arg::opt(&["--transport"]))
            .add(Arg::opt(&["--remote"]))
            .add(Arg::flag(&["--no-signature-verification"]).dest("noSignatureVerification"));
        let ns = ctx.parse(&op, args)?;
        ns.merge_str("stateroot", &mut self.stateroot);
        ns.merge_str("url", &mut self.url);
        ns.merge_str("transport", &mut self.transport);
        ns.merge_str("remote", &mut self.remote);
        self.no_signature_verification = ns.bool("noSignatureVerification");
        if self.remote.as_deref().unwrap_or("").is_empty() {
            self.remote = self.stateroot.clone();
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if !self.seen {
            return String::new();
        }
        let q = |v: &Option<String>, o: &str| {
            v.as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("--{o}=\"{v}\""))
        };
        let mut parts = Vec::new();
        parts.extend(q(&self.stateroot, "stateroot"));
        parts.extend(q(&self.remote, "remote"));
        if self.no_signature_verification {
            parts.push("--no-signature-verification".to_string());
        }
        parts.extend(q(&self.transport, "transport"));
        parts.extend(q(&self.url, "url"));
        format!(
            "# OSTree container setup\nostreecontainer {}\n",
            parts.join(" ")
        )
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<OstreeContainer>::default()
}
