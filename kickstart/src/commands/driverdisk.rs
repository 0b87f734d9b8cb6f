//! `driverdisk`: a driver disk for the installer (pykickstart `F14_DriverDisk`).

use super::lang::unexpected_args;
use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, Nargs, OptParser};

/// One `driverdisk` line: exactly one of the three sources is set.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DriverDiskData {
    /// The partition holding the driver disk.
    pub partition: String,
    /// `--source`: a URL.
    pub source: String,
    /// `--biospart`: a BIOS partition.
    pub biospart: String,
}

impl DriverDiskData {
    fn render(&self) -> String {
        let a = if !self.partition.is_empty() {
            self.partition.clone()
        } else if !self.source.is_empty() {
            format!("--source={}", self.source)
        } else if !self.biospart.is_empty() {
            format!("--biospart={}", self.biospart)
        } else {
            String::new()
        };
        format!("driverdisk {a}\n")
    }
}

/// `driverdisk` state: every line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DriverDisk {
    /// The driver disks, in order.
    pub disks: Vec<DriverDiskData>,
}

impl Command for DriverDisk {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("driverdisk")
            .add(Arg::pos("partition", Nargs::Any))
            .add(Arg::opt(&["--source"]))
            .add(Arg::opt(&["--biospart"]));
        let (ns, extra) = ctx.parse_known(&op, args)?;
        let part = ns.list("partition");
        let source = ns.str("source").unwrap_or_default();
        let biospart = ns.str("biospart").unwrap_or_default();
        if part.len() > 1 {
            return Err(KsError::bad(
                "Only one partition may be specified for driverdisk command.",
            ));
        } else if !extra.is_empty() {
            return Err(unexpected_args("driverdisk", &extra));
        }
        let (p, s, b) = (!part.is_empty(), !source.is_empty(), !biospart.is_empty());
        if p && s {
            return Err(KsError::bad(
                "Only one of --source and partition may be specified for driverdisk command.",
            ));
        } else if p && b {
            return Err(KsError::bad(
                "Only one of --biospart and partition may be specified for driverdisk command.",
            ));
        } else if s && b {
            return Err(KsError::bad(
                "Only one of --biospart and --source may be specified for driverdisk command.",
            ));
        }
        if !p && !s && !b {
            return Err(KsError::bad(
                "One of --source, --biospart, or partition must be specified for driverdisk command.",
            ));
        }
        self.disks.push(DriverDiskData {
            partition: part.into_iter().next().unwrap_or_default(),
            source,
            biospart,
        });
        Ok(Parsed::Item(self.disks.len() - 1))
    }
    fn render(&self) -> String {
        self.disks.iter().map(DriverDiskData::render).collect()
    }
    fn render_item(&self, idx: usize) -> String {
        self.disks[idx].render()
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<DriverDisk>::default()
}
