//! `clearpart`: which partitions to remove before partitioning (pykickstart `F28_ClearPart`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Action, Arg, OptParser, Ty, Val};

/// What `clearpart` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClearType {
    /// `--linux`: Linux partitions.
    Linux,
    /// `--all`: every partition.
    All,
    /// `--none`: nothing.
    None,
    /// `--list=...`: the listed partitions.
    List,
}

/// State of the `clearpart` command.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ClearPart {
    /// What to clear; `None` when no type was chosen (nothing is written then).
    #[serde(rename = "type")]
    pub clear_type: Option<ClearType>,
    /// `--drives`: drives to clear.
    pub drives: Vec<String>,
    /// `--initlabel`: initialise disk labels.
    pub init_all: bool,
    /// `--list`: partitions to clear.
    pub devices: Vec<String>,
    /// `--disklabel`: default disk label type.
    pub disklabel: String,
    /// `--cdl`: reformat LDL DASDs to CDL.
    pub cdl: bool,
}

impl Command for ClearPart {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let t = |n: &'static str, v: &str| {
            Arg::opt(&[n])
                .dest("type")
                .action(Action::StoreConst(Val::Str(v.to_string())))
        };
        let op = OptParser::new("clearpart")
            .add(t("--all", "all"))
            .add(Arg::opt(&["--drives"]).ty(Ty::CommaSplit))
            .add(Arg::flag(&["--initlabel"]).dest("initAll"))
            .add(t("--linux", "linux"))
            .add(t("--none", "none"))
            .add(Arg::opt(&["--list"]).dest("devices").ty(Ty::CommaSplit))
            .add(Arg::opt(&["--disklabel"]).default(Val::Str(String::new())))
            .add(Arg::opt(&["--drives"]).ty(Ty::CommaSplit))
            .add(Arg::opt(&["--list"]).dest("devices").ty(Ty::CommaSplit))
            .add(Arg::flag(&["--cdl"]));
        let ns = ctx.parse(&op, args)?;
        match ns.str("type").as_deref() {
            Some("all") => self.clear_type = Some(ClearType::All),
            Some("linux") => self.clear_type = Some(ClearType::Linux),
            Some("none") => self.clear_type = Some(ClearType::None),
            _ => {}
        }
        if !ns.is_none("drives") {
            self.drives = ns.list("drives");
        }
        self.init_all = ns.bool("initAll");
        if !ns.is_none("devices") {
            self.devices = ns.list("devices");
        }
        if let Some(d) = ns.str("disklabel") {
            self.disklabel = d;
        }
        self.cdl = ns.bool("cdl");
        if !self.devices.is_empty() {
            self.clear_type = Some(ClearType::List);
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        let Some(t) = self.clear_type else {
            return String::new();
        };
        let mut s = String::from("# Partition clearing information\nclearpart");
        match t {
            ClearType::None => s.push_str(" --none"),
            ClearType::Linux => s.push_str(" --linux"),
            ClearType::All => s.push_str(" --all"),
            ClearType::List => {}
        }
        if self.init_all {
            s.push_str(" --initlabel");
        }
        if !self.drives.is_empty() {
            s.push_str(" --drives=");
            s.push_str(&self.drives.join(","));
        }
        if !self.devices.is_empty() {
            s.push_str(" --list=");
            s.push_str(&self.devices.join(","));
        }
        if !self.disklabel.is_empty() {
            s.push_str(" --disklabel=");
            s.push_str(&self.disklabel);
        }
        if self.cdl {
            s.push_str(" --cdl");
        }
        s.push('\n');
        s
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::new(ClearPart::default())
}
