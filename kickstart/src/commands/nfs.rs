//! `nfs`: install from an NFS export (pykickstart `FC6_NFS`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser};

/// `nfs` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Nfs {
    /// Whether the command was used.
    pub seen: bool,
    /// `--server`.
    pub server: Option<String>,
    /// `--dir`: the exported directory.
    pub dir: Option<String>,
    /// `--opts`: mount options.
    pub opts: Option<String>,
}

impl Command for Nfs {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        self.seen = true;
        let op = OptParser::new("nfs")
            .add(Arg::opt(&["--server"]).required())
            .add(Arg::opt(&["--dir"]).required())
            .add(Arg::opt(&["--opts"]));
        let ns = ctx.parse(&op, args)?;
        ns.merge_str("server", &mut self.server);
        ns.merge_str("dir", &mut self.dir);
        ns.merge_str("opts", &mut self.opts);
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if !self.seen {
            return String::new();
        }
        let mut s = format!(
            "# Use NFS installation media\nnfs --server={} --dir=\"{}\"",
            self.server.as_deref().unwrap_or("None"),
            self.dir.as_deref().unwrap_or("None")
        );
        if let Some(o) = self.opts.as_deref().filter(|o| !o.is_empty()) {
            s.push_str(&format!(" --opts=\"{o}\""));
        }
        s.push('\n');
        s
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Nfs>::default()
}
