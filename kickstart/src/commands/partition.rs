//! `part` / `partition`: creates a partition (pykickstart `F41_Partition`, data `F41_PartData`).

use super::storage_common::{
    add_size_args, noformat_arg, push_flag, push_int, push_plain, push_quoted, Encryption,
    FsOptions,
};
use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, Nargs, OptParser, Ty, Val, ValueError};
use crate::KsVersion;

/// One `part` line.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PartData {
    /// Where it is mounted (`/`, `/home`), or `swap`, `raid.<id>`, `pv.<id>`, `btrfs.<id>`,
    /// `biosboot`, ...
    pub mountpoint: String,
    /// `--active` (RHEL 8 syntax: deprecated, yet stored and written).
    pub active: bool,
    /// `--asprimary`: force a primary partition.
    pub prim_only: bool,
    /// `--grow`: grow to fill available space.
    pub grow: bool,
    /// `--maxsize`: growth limit in MiB (0 = none).
    pub max_size_mb: i64,
    /// `--onbiosdisk`: BIOS disk number.
    pub onbiosdisk: String,
    /// `--ondisk`: disk to create it on.
    pub disk: String,
    /// `--onpart`: existing partition to use (without `/dev/`).
    pub on_part: String,
    /// `--recommended`: size chosen automatically.
    pub recommended: bool,
    /// `--size`: size in MiB.
    pub size: Option<i64>,
    /// `--resize`: resize the existing partition to `--size`.
    pub resize: bool,
    /// `--hibernation`: swap sized for hibernation.
    pub hibernation: bool,
    /// Filesystem options.
    #[serde(flatten)]
    pub fs: FsOptions,
    /// Encryption options.
    #[serde(flatten)]
    pub encryption: Encryption,
    /// `--hw-passphrase`: OPAL administrator passphrase.
    pub hw_passphrase: String,
}

impl PartData {
    /// pykickstart `str(PartData)`.
    pub fn render(&self) -> String {
        let mut r = String::new();
        push_flag(&mut r, "active", self.active);
        push_flag(&mut r, "asprimary", self.prim_only);
        push_quoted(&mut r, "fstype", &self.fs.fstype);
        push_flag(&mut r, "grow", self.grow);
        if self.max_size_mb > 0 {
            r.push_str(&format!(" --maxsize={}", self.max_size_mb));
        }
        push_flag(&mut r, "noformat", !self.fs.format);
        push_plain(&mut r, "onbiosdisk", &self.onbiosdisk);
        push_plain(&mut r, "ondisk", &self.disk);
        push_plain(&mut r, "onpart", &self.on_part);
        push_flag(&mut r, "recommended", self.recommended);
        push_int(&mut r, "size", self.size.unwrap_or(0));
        push_quoted(&mut r, "fsoptions", &self.fs.fsopts);
        push_quoted(&mut r, "label", &self.fs.label);
        push_quoted(&mut r, "fsprofile", &self.fs.fsprofile);
        self.encryption.push_basic(&mut r);
        self.encryption.push_escrow(&mut r);
        push_flag(&mut r, "resize", self.resize);
        push_flag(&mut r, "hibernation", self.hibernation);
        self.encryption.push_cipher(&mut r);
        push_quoted(&mut r, "mkfsoptions", &self.fs.mkfsopts);
        self.encryption.push_luks(&mut r);
        if self.encryption.encrypted {
            push_quoted(&mut r, "hw-passphrase", &self.hw_passphrase);
        }
        format!("part {}{}\n", self.mountpoint, r)
    }
}

/// All `part` lines.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Partition {
    /// The partitions, in order.
    pub partitions: Vec<PartData>,
}

impl Partition {
    /// The size in MiB of the `part /` entry (the live build uses it as the root filesystem
    /// size), if there is one with a size.
    pub fn root_size_mib(&self) -> Option<i64> {
        self.partitions
            .iter()
            .rev()
            .find(|p| p.mountpoint == "/")
            .and_then(|p| p.size)
            .filter(|s| *s > 0)
    }
}

fn strip_dev(s: &str) -> Result<Val, ValueError> {
    Ok(Val::Str(s.strip_prefix("/dev/").unwrap_or(s).to_string()))
}

fn parser(version: KsVersion) -> OptParser {
    let mut mnt = Arg::pos("mntpoint", Nargs::One).ty(Ty::Mountpoint);
    mnt.metavar = Some("<mntpoint>");
    let mut op = OptParser::new("part|partition").add(mnt);
    op.push(Arg::flag(&["--asprimary"]).dest("primOnly"));
    op.push(Arg::opt(&["--fstype", "--type"]).dest("fstype"));
    add_size_args(&mut op);
    op.push(noformat_arg());
    op.push(Arg::opt(&["--onbiosdisk"]));
    op.push(Arg::opt(&["--ondisk", "--ondrive"]).dest("disk"));
    op.push(
        Arg::opt(&["--onpart", "--usepart"])
            .dest("onPart")
            .ty(Ty::Custom("part_cb", strip_dev)),
    );
    op.push(Arg::flag(&["--recommended"]));
    FsOptions::add_args(&mut op);
    Encryption::add_basic_args(&mut op);
    op.push(Arg::flag(&["--resize"]));
    op.push(Arg::flag(&["--hibernation"]));
    Encryption::add_cipher_arg(&mut op);
    Encryption::add_luks_args(&mut op);
    match version {
        KsVersion::Rhel8 => op.push(Arg::flag(&["--active"]).deprecated()),
        KsVersion::Rhel9 | KsVersion::Rhel10 => {}
        KsVersion::Devel => op.push(
            Arg::opt(&["--hw-passphrase"])
                .dest("hw_passphrase")
                .default(Val::Str(String::new())),
        ),
    }
    op
}

impl Command for Partition {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = parser(ctx.version);
        let (ns, extra) = ctx.parse_known(&op, args)?;
        if !extra.is_empty() {
            return Err(super::storage_common::unexpected_args("partition", &extra));
        }
        let pd = PartData {
            mountpoint: ns.str("mntpoint").unwrap_or_default(),
            active: ns.bool("active"),
            prim_only: ns.bool("primOnly"),
            grow: ns.bool("grow"),
            max_size_mb: ns.int("maxSizeMB").unwrap_or(0),
            onbiosdisk: ns.str("onbiosdisk").unwrap_or_default(),
            disk: ns.str("disk").unwrap_or_default(),
            on_part: ns.str("onPart").unwrap_or_default(),
            recommended: ns.bool("recommended"),
            size: ns.int("size"),
            resize: ns.bool("resize"),
            hibernation: ns.bool("hibernation"),
            fs: FsOptions::from_ns(&ns),
            encryption: Encryption::from_ns(&ns),
            hw_passphrase: ns.str("hw_passphrase").unwrap_or_default(),
        };
        if pd.mountpoint != "swap"
            && self
                .partitions
                .iter()
                .any(|p| p.mountpoint == pd.mountpoint)
        {
            ctx.warn(format!(
                "A partition with the mountpoint {} has already been defined.",
                pd.mountpoint
            ));
        }
        if pd.resize && pd.on_part.is_empty() {
            return Err(KsError::bad(
                "--resize can only be used in conjunction with --onpart",
            ));
        }
        if pd.resize && pd.size.unwrap_or(0) == 0 {
            return Err(KsError::bad("--resize requires --size to specify new size"));
        }
        if pd.fs.fstype == "tmpfs" && (pd.grow || pd.max_size_mb != 0) {
            return Err(KsError::bad(
                "The --fstype=tmpfs option can't be used together with --grow or --maxsize",
            ));
        }
        pd.fs.check_mkfs()?;
        pd.encryption.check()?;
        if ctx.version == KsVersion::Devel {
            if !pd.hw_passphrase.is_empty()
                && (!pd.encryption.encrypted || !pd.encryption.luks_version.starts_with("luks2-"))
            {
                return Err(KsError::bad(
                    "hw-passphrase may be specified only with LUKSv2 HW-OPAL encrypted devices",
                ));
            }
        } else if pd.mountpoint.starts_with("btrfs.") || pd.fs.is_btrfs() {
            return Err(KsError::bad("Btrfs file system is not supported"));
        }
        self.partitions.push(pd);
        Ok(Parsed::Item(self.partitions.len() - 1))
    }

    fn render(&self) -> String {
        if self.partitions.is_empty() {
            return String::new();
        }
        let mut s = String::from("# Disk partitioning information\n");
        for p in &self.partitions {
            s.push_str(&p.render());
        }
        s
    }

    fn render_item(&self, idx: usize) -> String {
        self.partitions[idx].render()
    }

    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Applied
    }

    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Partition>::default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Origin;

    fn parse_lines(lines: &[&str]) -> (Partition, Vec<String>) {
        let mut p = Partition::default();
        let origin = Origin::new("<test>", 1);
        let mut warnings = Vec::new();
        for l in lines {
            let args: Vec<String> = l.split_whitespace().map(str::to_string).collect();
            let mut ctx = ParseCtx {
                cmd: "part",
                line: l,
                origin: &origin,
                version: KsVersion::Devel,
                warnings: Vec::new(),
            };
            p.parse(&mut ctx, &args).unwrap();
            warnings.extend(ctx.warnings.into_iter().map(|(_, m)| m));
        }
        (p, warnings)
    }

    #[test]
    fn root_size_is_exposed() {
        let (p, w) = parse_lines(&["/boot --size=512", "/ --size=8192 --grow", "swap --size=1"]);
        assert!(w.is_empty());
        assert_eq!(p.root_size_mib(), Some(8192));
        let (p, _) = parse_lines(&["/boot --size=512"]);
        assert_eq!(p.root_size_mib(), None);
    }

    #[test]
    fn duplicate_mountpoints_warn_except_swap() {
        let (_, w) = parse_lines(&["swap --size=1", "swap --size=2"]);
        assert!(w.is_empty());
        let (p, w) = parse_lines(&["/ --size=1", "/ --size=2"]);
        assert_eq!(w.len(), 1);
        assert_eq!(p.root_size_mib(), Some(2));
        assert_eq!(
            p.render(),
            "# Disk partitioning information\npart / --size=1\npart / --size=2\n"
        );
    }
}
