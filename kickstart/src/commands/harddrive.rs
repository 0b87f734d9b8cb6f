//! `harddrive`: install from ISO images on a local partition (pykickstart `F33_HardDrive`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser};
use crate::KsVersion;

/// `harddrive` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct HardDrive {
    /// Whether the command was used.
    pub seen: bool,
    /// `--partition`: the partition holding the images.
    pub partition: Option<String>,
    /// `--dir`: the directory on it.
    pub dir: Option<String>,
    /// `--biospart` (RHEL 8 syntax only): BIOS partition to install from.
    pub biospart: Option<String>,
}

impl Command for HardDrive {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        self.seen = true;
        if ctx.version == KsVersion::Rhel8 {
            // FC3_HardDrive: --biospart or --partition, exactly one of them.
            let op = OptParser::new("harddrive")
                .add(Arg::opt(&["--biospart"]))
                .add(Arg::opt(&["--partition"]))
                .add(Arg::opt(&["--dir"]).required());
            let ns = ctx.parse(&op, args)?;
            ns.merge_str("biospart", &mut self.biospart);
            ns.merge_str("partition", &mut self.partition);
            ns.merge_str("dir", &mut self.dir);
            if self.biospart.is_some() == self.partition.is_some() {
                return Err(KsError::bad(
                    "One of biospart or partition options must be specified.",
                ));
            }
            return Ok(Parsed::Command);
        }
        let op = OptParser::new("harddrive")
            .add(Arg::opt(&["--dir"]).required())
            .add(Arg::opt(&["--partition"]).required());
        let ns = ctx.parse(&op, args)?;
        ns.merge_str("partition", &mut self.partition);
        ns.merge_str("dir", &mut self.dir);
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if !self.seen {
            return String::new();
        }
        let dir = self.dir.as_deref().unwrap_or("None");
        match &self.biospart {
            Some(b) => format!(
                "# Use hard drive installation media\nharddrive --dir=\"{dir}\" --biospart={b}\n"
            ),
            None => format!(
                "# Use hard drive installation media\nharddrive --dir=\"{dir}\" --partition={}\n",
                self.partition.as_deref().unwrap_or("None")
            ),
        }
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<HardDrive>::default()
}
