//! `url`: install from a network tree (pykickstart `F30_Url`). `$releasever` and `$basearch`
//! are kept literally.

use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser};

/// `url` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Url {
    /// Whether the command was used.
    pub seen: bool,
    /// `--url`: the tree.
    pub url: Option<String>,
    /// `--mirrorlist`.
    pub mirrorlist: Option<String>,
    /// `--metalink`.
    pub metalink: Option<String>,
    /// `--proxy`.
    pub proxy: Option<String>,
    /// `--noverifyssl`.
    pub noverifyssl: bool,
    /// `--sslcacert`.
    pub sslcacert: Option<String>,
    /// `--sslclientcert`.
    pub sslclientcert: Option<String>,
    /// `--sslclientkey`.
    pub sslclientkey: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|v| !v.is_empty())
}

impl Command for Url {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("url")
            .add(Arg::opt(&["--proxy"]))
            .add(Arg::flag(&["--noverifyssl"]))
            .add(Arg::opt(&["--mirrorlist"]))
            .add(Arg::opt(&["--url"]))
            .add(Arg::opt(&["--metalink"]))
            .add(Arg::opt(&["--sslcacert"]))
            .add(Arg::opt(&["--sslclientcert"]))
            .add(Arg::opt(&["--sslclientkey"]));
        let ns = ctx.parse(&op, args)?;
        self.seen = true;
        ns.merge_str("url", &mut self.url);
        ns.merge_str("mirrorlist", &mut self.mirrorlist);
        ns.merge_str("metalink", &mut self.metalink);
        ns.merge_str("proxy", &mut self.proxy);
        self.noverifyssl = ns.bool("noverifyssl");
        ns.merge_str("sslcacert", &mut self.sslcacert);
        ns.merge_str("sslclientcert", &mut self.sslclientcert);
        ns.merge_str("sslclientkey", &mut self.sslclientkey);
        // The exclusivity check looks at this line only.
        let used: Vec<&str> = [
            (ns.str("mirrorlist"), "--mirrorlist"),
            (ns.str("url"), "--url"),
            (ns.str("metalink"), "--metalink"),
        ]
        .iter()
        .filter(|(v, _)| nonempty(v).is_some())
        .map(|(_, o)| *o)
        .collect();
        if used.is_empty() {
            return Err(KsError::bad(
                "One of ---mirrorlist, --url, --metalink options must be specified for url command.",
            ));
        }
        if used.len() > 1 {
            return Err(KsError::bad(format!(
                "Only one of {} options may be specified for url command.",
                used.join(", ")
            )));
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if !self.seen {
            return String::new();
        }
        let mut s = "# Use network installation\n".to_string();
        if let Some(u) = nonempty(&self.url) {
            s.push_str(&format!("url --url=\"{u}\""));
        } else if let Some(m) = nonempty(&self.mirrorlist) {
            s.push_str(&format!("url --mirrorlist=\"{m}\""));
        } else if let Some(m) = nonempty(&self.metalink) {
            s.push_str(&format!("url --metalink=\"{m}\""));
        }
        if let Some(p) = nonempty(&self.proxy) {
            s.push_str(&format!(" --proxy=\"{p}\""));
        }
        if self.noverifyssl {
            s.push_str(" --noverifyssl");
        }
        for (v, o) in [
            (&self.sslcacert, "sslcacert"),
            (&self.sslclientcert, "sslclientcert"),
            (&self.sslclientkey, "sslclientkey"),
        ] {
            if let Some(v) = nonempty(v) {
                s.push_str(&format!(" --{o}=\"{v}\""));
            }
        }
        s.push('\n');
        s
    }
    fn render_flat(&self) -> String {
        // Sources set by earlier lines stay in the state, but pykickstart writes only the first
        // of url, mirrorlist, metalink; the others go on lines of their own before it (the
        // one-source check is per line).
        let hidden: Vec<String> = [
            (&self.url, "url"),
            (&self.mirrorlist, "mirrorlist"),
            (&self.metalink, "metalink"),
        ]
        .iter()
        .filter_map(|(v, o)| nonempty(v).map(|v| format!("url --{o}=\"{v}\"\n")))
        .skip(1)
        .collect();
        let s = self.render();
        match s.split_once('\n') {
            Some((header, rest)) if !hidden.is_empty() => {
                format!("{header}\n{}{rest}", hidden.concat())
            }
            _ => s,
        }
    }
    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Applied
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Url>::default()
}
