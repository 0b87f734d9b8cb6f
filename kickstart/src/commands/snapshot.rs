//! `snapshot`: LVM thin snapshots before or after installation (pykickstart `F26_Snapshot`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, Nargs, OptParser};

/// When a snapshot is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotWhen {
    /// After the installation (and `%post`).
    PostInstall,
    /// Before the installation (after `%pre`).
    PreInstall,
}

/// One `snapshot` line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SnapshotData {
    /// The origin, `VG/LV`.
    pub origin: String,
    /// `--name`: the snapshot's name.
    pub name: String,
    /// `--when`.
    pub when: SnapshotWhen,
}

impl SnapshotData {
    fn render(&self) -> String {
        let when = match self.when {
            SnapshotWhen::PostInstall => "--when=post-install",
            SnapshotWhen::PreInstall => "--when=pre-install",
        };
        let s = format!("snapshot {} --name={} {}", self.origin, self.name, when);
        format!("{}\n", s.trim())
    }
}

/// State of the `snapshot` command: every line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Snapshot {
    /// The snapshots, in order.
    pub snapshots: Vec<SnapshotData>,
}

impl Command for Snapshot {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let mut origin = Arg::pos("origin", Nargs::One);
        origin.metavar = Some("<originVG/originLV>");
        let mut name = Arg::opt(&["--name"]).required();
        name.metavar = Some("<snapshot_name>");
        let mut when = Arg::opt(&["--when"]).required();
        when.metavar = Some("<post-install|pre-install>");
        let op = OptParser::new("snapshot").add(origin).add(name).add(when);
        let ns = ctx.parse(&op, args)?;
        let w = ns.str("when").unwrap_or_default();
        let when = match w.to_lowercase().as_str() {
            "post-install" => SnapshotWhen::PostInstall,
            "pre-install" => SnapshotWhen::PreInstall,
            _ => {
                return Err(KsError::bad(format!(
                    "Invalid parameter to --when= argument: {w}"
                )))
            }
        };
        let data = SnapshotData {
            origin: ns.str("origin").unwrap_or_default(),
            name: ns.str("name").unwrap_or_default(),
            when,
        };
        if self.snapshots.iter().any(|s| s.name == data.name) {
            return Err(KsError::bad(format!(
                "Snapshot with the name {} has been already defined!",
                data.name
            )));
        }
        let groups: Vec<&str> = data.origin.split('/').collect();
        if groups.len() != 2 || groups[0].is_empty() || groups[1].is_empty() {
            return Err(KsError::bad(format!(
                "Snapshot origin {} must be specified by VG/LV!",
                data.origin
            )));
        }
        self.snapshots.push(data);
        Ok(Parsed::Item(self.snapshots.len() - 1))
    }
    fn render(&self) -> String {
        self.snapshots.iter().map(SnapshotData::render).collect()
    }
    fn render_item(&self, idx: usize) -> String {
        self.snapshots[idx].render()
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::new(Snapshot::default())
}
