//! `btrfs`: defines a BTRFS volume or subvolume (pykickstart `F23_BTRFS`, data
//! `F23_BTRFSData`).

use super::storage_common::{
    mountpoint, noformat_arg, push_flag, push_quoted, unexpected_args, useexisting_arg,
};
use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser, Ty, Val, ValueError};

/// One `btrfs` line.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct BtrfsData {
    /// Where it is mounted (`none` for a volume only used through subvolumes).
    pub mountpoint: String,
    /// Member partitions (`btrfs.<id>`), or the parent volume of a subvolume.
    pub devices: Vec<String>,
    /// `--noformat` not given.
    pub format: bool,
    /// `--useexisting` (or `--noformat`).
    pub preexist: bool,
    /// `--label`.
    pub label: String,
    /// `--data`: data RAID level (`raid0`, `raid1`, `raid10`, `single`).
    pub data_level: Option<String>,
    /// `--metadata`: metadata RAID level.
    pub meta_data_level: Option<String>,
    /// `--subvol`: this is a subvolume.
    pub subvol: bool,
    /// `--parent`.
    pub parent: String,
    /// `--name`: subvolume name.
    pub name: String,
    /// `--mkfsoptions`.
    pub mkfsopts: String,
}

impl BtrfsData {
    /// pykickstart `str(BTRFSData)`.
    pub fn render(&self) -> String {
        let mut s = format!("btrfs {}", self.mountpoint);
        push_flag(&mut s, "noformat", !self.format);
        push_flag(&mut s, "useexisting", self.preexist);
        push_quoted(&mut s, "label", &self.label);
        if let Some(l) = self.data_level.as_deref().filter(|l| !l.is_empty()) {
            s.push_str(&format!(" --data={}", l.to_lowercase()));
        }
        if let Some(l) = self.meta_data_level.as_deref().filter(|l| !l.is_empty()) {
            s.push_str(&format!(" --metadata={}", l.to_lowercase()));
        }
        if self.subvol {
            s.push_str(&format!(" --subvol --name={}", self.name));
        }
        push_quoted(&mut s, "mkfsoptions", &self.mkfsopts);
        format!("{} {}\n", s, self.devices.join(" "))
    }
}

/// All `btrfs` lines.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Btrfs {
    /// The volumes and subvolumes, in order.
    pub btrfs_list: Vec<BtrfsData>,
}

fn level_cb(s: &str) -> Result<Val, ValueError> {
    let l = s.to_lowercase();
    let lvl = match l.as_str() {
        "raid0" | "0" => "raid0",
        "raid1" | "1" => "raid1",
        "raid10" | "10" => "raid10",
        "single" => "single",
        _ => return Err(ValueError::Message(format!("Invalid btrfs level: {s}"))),
    };
    Ok(Val::Str(lvl.to_string()))
}

fn parser() -> OptParser {
    let empty = || Val::Str(String::new());
    let mut op = OptParser::new("btrfs");
    op.push(noformat_arg());
    op.push(useexisting_arg());
    op.push(Arg::opt(&["--label"]).default(empty()));
    op.push(
        Arg::opt(&["--data"])
            .dest("dataLevel")
            .ty(Ty::Custom("level_cb", level_cb)),
    );
    op.push(
        Arg::opt(&["--metadata"])
            .dest("metaDataLevel")
            .ty(Ty::Custom("level_cb", level_cb)),
    );
    op.push(Arg::flag(&["--subvol"]));
    op.push(Arg::opt(&["--parent"]).default(empty()));
    op.push(Arg::opt(&["--name"]).default(empty()));
    op.push(Arg::opt(&["--mkfsoptions"]).dest("mkfsopts"));
    op
}

impl Command for Btrfs {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        // The RHEL syntaxes deprecate or remove btrfs: see `versions::availability`.
        let (ns, extra) = ctx.parse_known(&parser(), args)?;
        let mut format = ns.opt_bool("format").unwrap_or(true);
        let mut preexist = ns.bool("preexist");
        if !format {
            preexist = true;
        } else if preexist {
            format = false;
        }
        if extra.is_empty() {
            return Err(KsError::bad("btrfs must be given a mountpoint"));
        }
        if extra.iter().any(|a| a.starts_with('-')) {
            return Err(unexpected_args("btrfs", &extra));
        }
        let data = BtrfsData {
            mountpoint: mountpoint(&extra[0]),
            devices: extra[1..].to_vec(),
            format,
            preexist,
            label: ns.str("label").unwrap_or_default(),
            data_level: ns.str("dataLevel"),
            meta_data_level: ns.str("metaDataLevel"),
            subvol: ns.bool("subvol"),
            parent: ns.str("parent").unwrap_or_default(),
            name: ns.str("name").unwrap_or_default(),
            mkfsopts: ns.str("mkfsopts").unwrap_or_default(),
        };
        if data.devices.is_empty() {
            return Err(KsError::bad(if data.subvol {
                "btrfs subvol requires specification of parent volume"
            } else {
                "btrfs must be given a list of partitions"
            }));
        }
        if data.subvol && data.name.is_empty() {
            return Err(KsError::bad("btrfs subvolume requires a name"));
        }
        if self
            .btrfs_list
            .iter()
            .any(|o| o.mountpoint == data.mountpoint)
        {
            ctx.warn(format!(
                "A btrfs volume with the mountpoint {} has already been defined.",
                data.mountpoint
            ));
        }
        if data.preexist && !data.mkfsopts.is_empty() {
            return Err(KsError::bad(
                "--mkfsoptions with --noformat or --useexisting has no effect.",
            ));
        }
        self.btrfs_list.push(data);
        Ok(Parsed::Item(self.btrfs_list.len() - 1))
    }

    fn render(&self) -> String {
        self.btrfs_list.iter().map(BtrfsData::render).collect()
    }

    fn render_item(&self, idx: usize) -> String {
        self.btrfs_list[idx].render()
    }

    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Btrfs>::default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KsVersion, Origin};

    fn parse(version: KsVersion, line: &str) -> (Result<Parsed, KsError>, usize) {
        let origin = Origin::new("<test>", 3);
        let mut ctx = ParseCtx {
            cmd: "btrfs",
            line,
            origin: &origin,
            version,
            warnings: Vec::new(),
        };
        let args: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        let r = super::super::versions::dispatch(&mut Btrfs::default(), &mut ctx, &args, "btrfs");
        (r, ctx.warnings.len())
    }

    #[test]
    fn versions() {
        let line = "/ --subvol --name=root LABEL=f17";
        assert_eq!(parse(KsVersion::Devel, line).0.unwrap(), Parsed::Item(0));
        let (r, w) = parse(KsVersion::Rhel9, line);
        assert_eq!((r.unwrap(), w), (Parsed::Nothing, 1));
        assert!(parse(KsVersion::Rhel10, line).0.is_err());
    }

    #[test]
    fn renders_levels_lowercase() {
        let mut b = Btrfs::default();
        let origin = Origin::new("<test>", 1);
        let mut ctx = ParseCtx {
            cmd: "btrfs",
            line: "",
            origin: &origin,
            version: KsVersion::Devel,
            warnings: Vec::new(),
        };
        let args: Vec<String> = "none --data=RAID1 --metadata=0 --label=f btrfs.01 btrfs.02"
            .split_whitespace()
            .map(str::to_string)
            .collect();
        b.parse(&mut ctx, &args).unwrap();
        assert_eq!(
            b.render(),
            "btrfs none --label=\"f\" --data=raid1 --metadata=raid0 btrfs.01 btrfs.02\n"
        );
    }
}
