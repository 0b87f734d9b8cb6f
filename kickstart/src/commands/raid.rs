//! `raid`: assembles a software RAID device (pykickstart `F43_Raid`, data `F29_RaidData`).

use super::storage_common::{
    noformat_arg, push_flag, push_int, push_quoted, py_strip, unexpected_args, useexisting_arg,
    Encryption, FsOptions,
};
use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, Nargs, OptParser, Ty, Val, ValueError};
use crate::KsVersion;

/// One `raid` line.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RaidData {
    /// Where it is mounted (or `swap`, `pv.<id>`, ...).
    pub mountpoint: String,
    /// `--device`: the array name (`md0`, `root`, ...).
    pub device: String,
    /// `--level`: `RAID0`, `RAID1`, `RAID4`, `RAID5`, `RAID6` or `RAID10` ("" = unset).
    pub level: String,
    /// `--spares`: number of spare devices.
    pub spares: i64,
    /// `--useexisting` (or `--noformat`): use an existing array.
    pub preexist: bool,
    /// `--chunksize`: chunk size in KiB.
    pub chunk_size: Option<i64>,
    /// Member partitions (`raid.<id>`).
    pub members: Vec<String>,
    /// Filesystem options.
    #[serde(flatten)]
    pub fs: FsOptions,
    /// Encryption options.
    #[serde(flatten)]
    pub encryption: Encryption,
}

impl RaidData {
    /// pykickstart `str(RaidData)`.
    pub fn render(&self) -> String {
        let mut r = String::new();
        if !self.device.is_empty() {
            r.push_str(&format!(" --device={}", self.device));
        }
        push_quoted(&mut r, "fstype", &self.fs.fstype);
        if !self.level.is_empty() {
            r.push_str(&format!(" --level={}", self.level.to_uppercase()));
        }
        push_flag(&mut r, "noformat", !self.fs.format);
        push_int(&mut r, "spares", self.spares);
        push_flag(&mut r, "useexisting", self.preexist);
        push_quoted(&mut r, "fsoptions", &self.fs.fsopts);
        push_quoted(&mut r, "fsprofile", &self.fs.fsprofile);
        self.encryption.push_basic(&mut r);
        self.encryption.push_escrow(&mut r);
        push_quoted(&mut r, "label", &self.fs.label);
        self.encryption.push_cipher(&mut r);
        push_quoted(&mut r, "mkfsoptions", &self.fs.mkfsopts);
        push_int(&mut r, "chunksize", self.chunk_size.unwrap_or(0));
        self.encryption.push_luks(&mut r);
        let mut s = format!("raid {}{}", self.mountpoint, r);
        if !self.preexist {
            s.push(' ');
            s.push_str(&self.members.join(" "));
        }
        format!("{}\n", py_strip(&s))
    }
}

/// All `raid` lines.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Raid {
    /// The arrays, in order.
    pub raid_list: Vec<RaidData>,
}

fn level_cb(s: &str) -> Result<Val, ValueError> {
    let u = s.to_uppercase();
    let lvl = match u.as_str() {
        "RAID0" | "0" => "RAID0",
        "RAID1" | "1" => "RAID1",
        "RAID4" | "4" => "RAID4",
        "RAID5" | "5" => "RAID5",
        "RAID6" | "6" => "RAID6",
        "RAID10" | "10" => "RAID10",
        _ => return Err(ValueError::Message(format!("Invalid raid level: {s}"))),
    };
    Ok(Val::Str(lvl.to_string()))
}

fn strip_md(s: &str) -> Result<Val, ValueError> {
    Ok(Val::Str(s.strip_prefix("md").unwrap_or(s).to_string()))
}

fn parser(version: KsVersion) -> OptParser {
    let mut mnt = Arg::pos("mntpoint", Nargs::One).ty(Ty::Mountpoint);
    mnt.metavar = Some("<mntpoint>");
    let mut parts = Arg::pos("partitions", Nargs::Any).required();
    parts.metavar = Some("<partitions*>");
    let mut op = OptParser::new("raid").add(mnt).add(parts);
    let device = Arg::opt(&["--device"]).required();
    // RHEL 8 and 9 still drop an "md" prefix from the array name.
    op.push(match version {
        KsVersion::Rhel8 | KsVersion::Rhel9 => device.ty(Ty::Custom("_device_cb", strip_md)),
        _ => device,
    });
    op.push(Arg::opt(&["--fstype"]));
    op.push(Arg::opt(&["--level"]).ty(Ty::Custom("_level_cb", level_cb)));
    op.push(noformat_arg());
    op.push(Arg::opt(&["--spares"]).ty(Ty::Int).default(Val::Int(0)));
    op.push(useexisting_arg());
    op.push(Arg::opt(&["--fsoptions"]).dest("fsopts"));
    op.push(Arg::opt(&["--fsprofile"]));
    Encryption::add_basic_args(&mut op);
    op.push(Arg::opt(&["--label"]));
    Encryption::add_cipher_arg(&mut op);
    op.push(Arg::opt(&["--mkfsoptions"]).dest("mkfsopts"));
    op.push(Arg::opt(&["--chunksize"]).dest("chunk_size").ty(Ty::Int));
    Encryption::add_luks_args(&mut op);
    op
}

impl Command for Raid {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = parser(ctx.version);
        let (ns, mut extra) = ctx.parse_known(&op, args)?;
        if extra.iter().any(|a| a.starts_with('-')) {
            return Err(unexpected_args("raid", &extra));
        }
        let mut partitions = ns.list("partitions");
        if partitions.is_empty() && !extra.is_empty() {
            partitions = std::mem::take(&mut extra);
        }
        let format = ns.opt_bool("format").unwrap_or(true);
        let preexist = ns.bool("preexist") || !format;
        if partitions.is_empty() && !preexist {
            return Err(KsError::bad("Partitions required for raid"));
        } else if !partitions.is_empty() && preexist {
            return Err(KsError::bad(
                "Members may not be specified for preexisting RAID device",
            ));
        }
        let rd = RaidData {
            mountpoint: ns.str("mntpoint").unwrap_or_default(),
            device: ns.str("device").unwrap_or_default(),
            level: ns.str("level").unwrap_or_default(),
            spares: ns.int("spares").unwrap_or(0),
            preexist,
            chunk_size: ns.int("chunk_size"),
            members: partitions,
            fs: FsOptions::from_ns(&ns),
            encryption: Encryption::from_ns(&ns),
        };
        if self.raid_list.iter().any(|r| r.device == rd.device) {
            ctx.warn(format!(
                "A RAID device with the name {} has already been defined.",
                rd.device
            ));
        }
        if !rd.preexist && rd.level.is_empty() {
            return Err(KsError::bad("RAID Partition defined without RAID level"));
        }
        if rd.preexist && rd.device.is_empty() {
            return Err(KsError::bad("Device required for preexisting RAID device"));
        }
        rd.fs.check_mkfs()?;
        rd.encryption.check()?;
        if ctx.version != KsVersion::Devel && ctx.version != KsVersion::Rhel10 && rd.fs.is_btrfs() {
            return Err(KsError::bad("Btrfs file system is not supported"));
        }
        self.raid_list.push(rd);
        Ok(Parsed::Item(self.raid_list.len() - 1))
    }

    fn render(&self) -> String {
        self.raid_list.iter().map(RaidData::render).collect()
    }

    fn render_item(&self, idx: usize) -> String {
        self.raid_list[idx].render()
    }

    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Raid>::default()
}
