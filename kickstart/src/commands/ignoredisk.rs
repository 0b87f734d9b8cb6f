//! `ignoredisk`: which disks the installer may touch (pykickstart `F34_IgnoreDisk`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser, Ty};
use crate::KsVersion;

/// State of the `ignoredisk` command.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct IgnoreDisk {
    /// `--drives`: disks to leave alone.
    pub ignoredisk: Vec<String>,
    /// `--only-use`: the only disks to use.
    pub onlyuse: Vec<String>,
    /// `--interactive` (RHEL 8 syntax, deprecated there).
    pub interactive: bool,
}

impl Command for IgnoreDisk {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("ignoredisk")
            .add(
                Arg::opt(&["--drives"])
                    .dest("ignoredisk")
                    .ty(Ty::CommaSplit),
            )
            .add(Arg::opt(&["--only-use"]).dest("onlyuse").ty(Ty::CommaSplit));
        // F29_IgnoreDisk (RHEL 8): --interactive is deprecated but still stored and written.
        let op = if ctx.version == KsVersion::Rhel8 {
            op.add(Arg::flag(&["--interactive"]).deprecated())
        } else {
            op
        };
        let ns = ctx.parse(&op, args)?;
        if ctx.version == KsVersion::Rhel8 {
            self.interactive = ns.bool("interactive");
        }
        if !ns.is_none("ignoredisk") {
            self.ignoredisk = ns.list("ignoredisk");
        }
        if !ns.is_none("onlyuse") {
            self.onlyuse = ns.list("onlyuse");
        }
        let howmany =
            usize::from(!self.ignoredisk.is_empty()) + usize::from(!self.onlyuse.is_empty());
        if howmany != 1 {
            return Err(KsError::bad(
                "One of --drives or --only-use must be specified for ignoredisk command.",
            ));
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if self.interactive {
            "ignoredisk --interactive\n".into()
        } else if !self.ignoredisk.is_empty() {
            format!("ignoredisk --drives={}\n", self.ignoredisk.join(","))
        } else if !self.onlyuse.is_empty() {
            format!("ignoredisk --only-use={}\n", self.onlyuse.join(","))
        } else {
            String::new()
        }
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::new(IgnoreDisk::default())
}
