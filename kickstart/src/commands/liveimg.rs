//! `liveimg`: install from a disk image or root tarball (pykickstart `F19_Liveimg`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser};

/// `liveimg` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Liveimg {
    /// Whether the command was used.
    pub seen: bool,
    /// `--url`: the image.
    pub url: Option<String>,
    /// `--proxy`.
    pub proxy: Option<String>,
    /// `--noverifyssl`.
    pub noverifyssl: bool,
    /// `--checksum`: sha256 of the image.
    pub checksum: String,
}

impl Command for Liveimg {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        self.seen = true;
        let op = OptParser::new("liveimg")
            .add(Arg::opt(&["--url"]).required())
            .add(Arg::opt(&["--proxy"]))
            .add(Arg::flag(&["--noverifyssl"]))
            .add(Arg::opt(&["--checksum"]));
        let ns = ctx.parse(&op, args)?;
        self.url = ns.str("url");
        ns.merge_str("proxy", &mut self.proxy);
        self.noverifyssl = ns.bool("noverifyssl");
        if let Some(c) = ns.str("checksum") {
            self.checksum = c;
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if !self.seen {
            return String::new();
        }
        let mut s = format!(
            "# Use live disk image installation\nliveimg --url=\"{}\"",
            self.url.as_deref().unwrap_or("None")
        );
        if let Some(p) = self.proxy.as_deref().filter(|p| !p.is_empty()) {
            s.push_str(&format!(" --proxy=\"{p}\""));
        }
        if self.noverifyssl {
            s.push_str(" --noverifyssl");
        }
        if !self.checksum.is_empty() {
            s.push_str(&format!(" --checksum=\"{}\"", self.checksum));
        }
        s.push('\n');
        s
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Liveimg>::default()
}
