//! `harddrive`: install from ISO images on a local partition (pykickstart `F33_HardDrive`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser};

/// `harddrive` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct HardDrive {
    /// Whether the command was used.
    pub seen: bool,
    /// `--partition`: the partition holding the images.
    pub partition: Option<String>,
    /// `--dir`: the directory on it.
    pub dir: Option<String>,
}

impl Command for HardDrive {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        self.seen = true;
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
        format!(
            "# Use hard drive installation media\nharddrive --dir=\"{}\" --partition={}\n",
            self.dir.as_deref().unwrap_or("None"),
            self.partition.as_deref().unwrap_or("None")
        )
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<HardDrive>::default()
}
