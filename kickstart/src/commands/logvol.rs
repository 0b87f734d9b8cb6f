//! `logvol`: creates an LVM logical volume (pykickstart `F29_LogVol`, data `F29_LogVolData`).

use super::storage_common::{
    add_size_args, noformat_arg, push_flag, push_int, push_plain, push_quoted, unexpected_args,
    useexisting_arg, Encryption, FsOptions,
};
use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, Nargs, OptParser, Ty};
use crate::KsVersion;

/// One `logvol` line.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LogVolData {
    /// Where it is mounted (or `swap`, `none`).
    pub mountpoint: String,
    /// `--name`: the logical volume name.
    pub name: String,
    /// `--vgname`: the volume group it belongs to.
    pub vgname: String,
    /// `--grow`.
    pub grow: bool,
    /// `--maxsize` in MiB (0 = none).
    pub max_size_mb: i64,
    /// `--percent` of the volume group (0 = unset).
    pub percent: i64,
    /// `--recommended`.
    pub recommended: bool,
    /// `--size` in MiB.
    pub size: Option<i64>,
    /// `--useexisting` (or `--noformat`).
    pub preexist: bool,
    /// `--resize`.
    pub resize: bool,
    /// `--hibernation`.
    pub hibernation: bool,
    /// `--thinpool`: this volume is a thin pool.
    pub thin_pool: bool,
    /// `--thin`: this volume is thin-provisioned from `--poolname`.
    pub thin_volume: bool,
    /// `--poolname`.
    pub pool_name: String,
    /// `--chunksize` in KiB (thin pools).
    pub chunk_size: Option<i64>,
    /// `--metadatasize` in MiB (thin pools).
    pub metadata_size: Option<i64>,
    /// `--profile`: LVM configuration profile.
    pub profile: String,
    /// `--cachesize` in MiB.
    pub cache_size: i64,
    /// `--cachemode`: `writeback` or `writethrough`.
    pub cache_mode: String,
    /// `--cachepvs`: fast PVs for the cache.
    pub cache_pvs: Vec<String>,
    /// Filesystem options.
    #[serde(flatten)]
    pub fs: FsOptions,
    /// Encryption options.
    #[serde(flatten)]
    pub encryption: Encryption,
}

impl LogVolData {
    /// pykickstart `str(LogVolData)`.
    pub fn render(&self) -> String {
        let mut r = String::new();
        push_quoted(&mut r, "fstype", &self.fs.fstype);
        push_flag(&mut r, "grow", self.grow);
        push_int(&mut r, "maxsize", self.max_size_mb);
        push_flag(&mut r, "noformat", !self.fs.format);
        push_int(&mut r, "percent", self.percent);
        push_flag(&mut r, "recommended", self.recommended);
        push_int(&mut r, "size", self.size.unwrap_or(0));
        push_flag(&mut r, "useexisting", self.preexist);
        push_quoted(&mut r, "fsoptions", &self.fs.fsopts);
        push_quoted(&mut r, "fsprofile", &self.fs.fsprofile);
        self.encryption.push_basic(&mut r);
        self.encryption.push_escrow(&mut r);
        push_quoted(&mut r, "label", &self.fs.label);
        push_flag(&mut r, "resize", self.resize);
        push_flag(&mut r, "hibernation", self.hibernation);
        self.encryption.push_cipher(&mut r);
        if self.thin_pool {
            r.push_str(" --thinpool");
            push_int(&mut r, "metadatasize", self.metadata_size.unwrap_or(0));
            push_int(&mut r, "chunksize", self.chunk_size.unwrap_or(0));
        }
        if self.thin_volume {
            r.push_str(&format!(" --thin --poolname={}", self.pool_name));
        }
        push_plain(&mut r, "profile", &self.profile);
        push_int(&mut r, "cachesize", self.cache_size);
        if !self.cache_pvs.is_empty() {
            r.push_str(&format!(" --cachepvs={}", self.cache_pvs.join(",")));
        }
        push_plain(&mut r, "cachemode", &self.cache_mode);
        push_quoted(&mut r, "mkfsoptions", &self.fs.mkfsopts);
        self.encryption.push_luks(&mut r);
        format!(
            "logvol {}{} --name={} --vgname={}\n",
            self.mountpoint, r, self.name, self.vgname
        )
    }
}

/// All `logvol` lines.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LogVol {
    /// The logical volumes, in order.
    pub lv_list: Vec<LogVolData>,
}

fn parser() -> OptParser {
    let mut mnt = Arg::pos("mntpoint", Nargs::One).ty(Ty::Mountpoint);
    mnt.metavar = Some("<mntpoint>");
    let mut op = OptParser::new("logvol").add(mnt);
    op.push(Arg::opt(&["--fstype"]));
    add_size_args(&mut op);
    op.push(Arg::opt(&["--name"]).required());
    op.push(noformat_arg());
    op.push(Arg::opt(&["--percent"]).ty(Ty::Int));
    op.push(Arg::flag(&["--recommended"]));
    op.push(useexisting_arg());
    op.push(Arg::opt(&["--vgname"]).required());
    FsOptions::add_args(&mut op);
    Encryption::add_basic_args(&mut op);
    op.push(Arg::flag(&["--resize"]));
    op.push(Arg::flag(&["--hibernation"]));
    Encryption::add_cipher_arg(&mut op);
    op.push(Arg::flag(&["--thinpool"]).dest("thin_pool"));
    op.push(Arg::flag(&["--thin"]).dest("thin_volume"));
    op.push(Arg::opt(&["--poolname"]).dest("pool_name"));
    op.push(Arg::opt(&["--chunksize"]).dest("chunk_size").ty(Ty::Int));
    op.push(
        Arg::opt(&["--metadatasize"])
            .dest("metadata_size")
            .ty(Ty::Int),
    );
    op.push(Arg::opt(&["--profile"]));
    op.push(Arg::opt(&["--cachesize"]).dest("cache_size").ty(Ty::Int));
    op.push(Arg::opt(&["--cachemode"]).dest("cache_mode"));
    op.push(
        Arg::opt(&["--cachepvs"])
            .dest("cache_pvs")
            .ty(Ty::CommaSplit),
    );
    Encryption::add_luks_args(&mut op);
    op
}

fn check(lv: &LogVolData, percent_given: Option<i64>) -> Result<(), KsError> {
    if lv.resize && !lv.preexist {
        return Err(KsError::bad(
            "--resize can only be used in conjunction with --useexisting",
        ));
    }
    if lv.resize && lv.size.unwrap_or(0) == 0 {
        return Err(KsError::bad(
            "--resize requires --size to indicate new size",
        ));
    }
    if lv.thin_volume && lv.thin_pool {
        return Err(KsError::bad(
            "--thin and --thinpool cannot both be specified for the same logvol",
        ));
    }
    if lv.thin_volume && lv.pool_name.is_empty() {
        return Err(KsError::bad(
            "--thin requires --poolname to specify pool name",
        ));
    }
    if (lv.chunk_size.unwrap_or(0) != 0 || lv.metadata_size.unwrap_or(0) != 0) && !lv.thin_pool {
        return Err(KsError::bad(
            "--chunksize and --metadatasize are for thin pools only",
        ));
    }
    if !lv.preexist
        && lv.percent == 0
        && lv.size.unwrap_or(0) == 0
        && !lv.recommended
        && !lv.hibernation
    {
        return Err(KsError::bad(
            "No size given for logical volume. Use one of --useexisting, --noformat, --size, \
             --percent, or --hibernation.",
        ));
    }
    if let Some(p) = percent_given {
        if !(0..=100).contains(&p) {
            return Err(KsError::bad("Percentage must be between 0 and 100."));
        }
    }
    if lv.size.unwrap_or(0) != 0 && lv.percent != 0 {
        return Err(KsError::bad(
            "--size and --percent cannot both be specified for the same logvol",
        ));
    }
    if lv.cache_size != 0 || !lv.cache_mode.is_empty() || !lv.cache_pvs.is_empty() {
        if lv.preexist {
            return Err(KsError::bad(
                "Adding a cache to an existing logical volume is not supported",
            ));
        }
        if lv.thin_volume {
            return Err(KsError::bad("Thin volumes cannot be cached"));
        }
        if lv.cache_pvs.is_empty() {
            return Err(KsError::bad(
                "Cache needs to have a list of (fast) PVs specified",
            ));
        }
        if lv.cache_size == 0 {
            return Err(KsError::bad("Cache needs to have size specified"));
        }
        if !lv.cache_mode.is_empty()
            && lv.cache_mode != "writeback"
            && lv.cache_mode != "writethrough"
        {
            return Err(KsError::bad(format!(
                "Invalid cache mode given: {}",
                lv.cache_mode
            )));
        }
    }
    lv.fs.check_mkfs()?;
    lv.encryption.check()
}

impl Command for LogVol {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let (ns, extra) = ctx.parse_known(&parser(), args)?;
        if !extra.is_empty() {
            return Err(unexpected_args("logvol", &extra));
        }
        let fs = FsOptions::from_ns(&ns);
        let lv = LogVolData {
            mountpoint: ns.str("mntpoint").unwrap_or_default(),
            name: ns.str("name").unwrap_or_default(),
            vgname: ns.str("vgname").unwrap_or_default(),
            grow: ns.bool("grow"),
            max_size_mb: ns.int("maxSizeMB").unwrap_or(0),
            percent: ns.int("percent").unwrap_or(0),
            recommended: ns.bool("recommended"),
            size: ns.int("size"),
            preexist: ns.bool("preexist") || !fs.format,
            resize: ns.bool("resize"),
            hibernation: ns.bool("hibernation"),
            thin_pool: ns.bool("thin_pool"),
            thin_volume: ns.bool("thin_volume"),
            pool_name: ns.str("pool_name").unwrap_or_default(),
            chunk_size: ns.int("chunk_size"),
            metadata_size: ns.int("metadata_size"),
            profile: ns.str("profile").unwrap_or_default(),
            cache_size: ns.int("cache_size").unwrap_or(0),
            cache_mode: ns.str("cache_mode").unwrap_or_default(),
            cache_pvs: ns.list("cache_pvs"),
            fs,
            encryption: Encryption::from_ns(&ns),
        };
        if self
            .lv_list
            .iter()
            .any(|o| o.vgname == lv.vgname && o.name == lv.name)
        {
            ctx.warn(format!(
                "A logical volume with the name {} has already been defined in volume group {}.",
                lv.name, lv.vgname
            ));
        }
        check(&lv, ns.int("percent"))?;
        if ctx.version != KsVersion::Devel && lv.fs.is_btrfs() {
            return Err(KsError::bad("Btrfs file system is not supported"));
        }
        self.lv_list.push(lv);
        Ok(Parsed::Item(self.lv_list.len() - 1))
    }

    fn render(&self) -> String {
        self.lv_list.iter().map(LogVolData::render).collect()
    }

    fn render_item(&self, idx: usize) -> String {
        self.lv_list[idx].render()
    }

    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<LogVol>::default()
}
