//! clap definitions. Names follow livecd-creator / livemedia-creator where they have one.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// kiln: build live media from kickstarts, without Anaconda or a VM.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about, propagate_version = true)]
pub struct Args {
    /// More output: -v for debug, -vv for trace (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Also write a debug log to this file.
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// When to use colors.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Color choice.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ColorChoice {
    /// Colors when stderr is a terminal and NO_COLOR is unset.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Kickstart tools: flatten, lint, show.
    #[command(subcommand)]
    Ks(KsCommand),
    /// Resolve the kickstart's %packages against its repositories and print the transaction.
    Resolve(ResolveArgs),
    /// Resolve, then download every package into the cache (verified).
    Download(DownloadArgs),
    /// Resolve, download and install the kickstart's packages into a root directory.
    Install(InstallArgs),
    /// Install RPM files into a root in the order given (like `rpm -i --root --nodeps --noorder`).
    InstallRpms(InstallRpmsArgs),
    /// Build live media from a kickstart (livecd-creator / livemedia-creator --make-iso).
    Build(BuildArgs),
    /// Boot an image headless in qemu and wait for a line on its serial console.
    BootTest(BootTestArgs),
    /// Turn a live ISO into a PXE tree whose initrd carries the ISO (livecd-iso-to-pxeboot).
    IsoToPxeboot(IsoToPxebootArgs),
    /// Add a live ISO's root to a netroot tree: an nbd-server export and a pxelinux TFTP tree
    /// (fedora-live-netroot's livecd-iso-to-pxenetroot).
    IsoToNetroot(IsoToNetrootArgs),
    /// Write one image from a directory: squashfs, EROFS, ISO 9660, EFI boot (FAT) image.
    #[command(subcommand)]
    Write(WriteCommand),
    /// Compress one tree with several squashfs and EROFS settings and compare size, time and
    /// read speed.
    BenchCompress(BenchCompressArgs),
    /// Which files of two ISOs differ (inside LiveOS/squashfs.img and the initramfs too):
    /// exit 0 when bit-identical, 1 when they differ.
    Diff(DiffArgs),
    /// The persistent block cache (`<cache>/blocks-v1`): its size and hit rates, pruning,
    /// clearing.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// livecd-creator's command line, translated into a kiln build (also when kiln runs
    /// through a link named `livecd-creator`); `kiln livecd-creator --help` lists its options.
    #[command(name = "livecd-creator", disable_help_flag = true)]
    LivecdCreator(CompatArgs),
    /// livemedia-creator's command line (`--no-virt` live media), translated into a kiln build
    /// (also through a link named `livemedia-creator`); `kiln livemedia-creator --help` lists
    /// its options.
    #[command(name = "livemedia-creator", disable_help_flag = true)]
    LivemediaCreator(CompatArgs),
    /// Run a command (default: your shell) in the user namespace a rootless kiln builds in, as
    /// its root (podman unshare's counterpart): to look at, change or remove what a rootless
    /// `kiln install --root DIR` left, owned by your subordinate ids.
    Unshare(UnshareArgs),
}

/// The arguments of a drop-in front end, parsed by the front end itself (`cli::compat`).
#[derive(Debug, clap::Args)]
pub struct CompatArgs {
    /// The tool's own options.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<std::ffi::OsString>,
}

/// `kiln unshare [COMMAND [ARGS...]]`.
#[derive(Debug, clap::Args)]
pub struct UnshareArgs {
    /// The command and its arguments.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<std::ffi::OsString>,
}

/// `kiln cache` subcommands.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Entries and bytes per writer setting, the limit a build would use, the last builds'
    /// hit rates and seconds saved, and the package cache's size.
    Stats(CacheStatsArgs),
    /// Remove the least recently used entries down to a size (and what killed writers left).
    Prune(CachePruneArgs),
    /// Remove every entry (the history of builds stays).
    Clear(CacheDirArg),
}

/// The cache directory, as `kiln build --cache`.
#[derive(Debug, clap::Args)]
pub struct CacheDirArg {
    /// Cache directory (as `kiln build --cache`; default: $XDG_CACHE_HOME/kiln or
    /// ~/.cache/kiln).
    #[arg(long, value_name = "DIR", env = "KILN_CACHE")]
    pub cache: Option<PathBuf>,
}

/// `kiln cache stats`.
#[derive(Debug, clap::Args)]
pub struct CacheStatsArgs {
    /// The cache directory.
    #[command(flatten)]
    pub dir: CacheDirArg,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kiln cache prune`.
#[derive(Debug, clap::Args)]
pub struct CachePruneArgs {
    /// The cache directory.
    #[command(flatten)]
    pub dir: CacheDirArg,
    /// Keep at most this much (`4G`, `500M`, bytes); default: the limit a build would use.
    #[arg(long, value_name = "SIZE")]
    pub size: Option<String>,
}

/// `--block-cache-size`'s help, shared by `build` and `write squashfs|erofs`.
pub const BLOCK_CACHE_SIZE_HELP: &str = concat!(
    "How big the persistent cache of compressed blocks (<cache>/blocks-v1) may grow: `4G`, ",
    "`500M`, bytes; `0` turns it off. Default: twice the largest image the cache has seen ",
    "(this one's included), at least 1G. A rebuild takes the blocks it already compressed ",
    "from it; the least recently used go first. KILN_PRECOMPRESS=0 does not turn it off."
);

/// `kiln diff` options.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The first ISO.
    pub a: PathBuf,
    /// The second ISO.
    pub b: PathBuf,
    /// The differences as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `kiln bench-compress` options.
#[derive(Debug, clap::Args)]
pub struct BenchCompressArgs {
    /// A directory, a squashfs image or an ISO (its LiveOS/squashfs.img, else its files);
    /// told apart by content.
    #[arg(value_name = "TREE|ISO|SQUASHFS")]
    pub input: PathBuf,
    /// Settings, comma-separated: CODEC[:OPT[:OPT]], e.g. `xz:bcj=x86:b=1M,zstd:level=19,lz4:hc`.
    /// b=SIZE fixes the block size; other options as `write squashfs --comp-opt` (join several
    /// BCJ filters with +). EROFS: erofs[:ALG[,LEVEL]][,C=SIZE], e.g. `erofs:lz4hc,12`,
    /// `erofs:lzma,C=64K` (algorithms as `write erofs -z`; default lz4hc, C=4096). Default: xz,
    /// xz:b=1M, xz with the host's BCJ filter at 1M, zstd levels 3, 15 and 19, gzip, lz4:hc,
    /// erofs:lz4hc, erofs:lzma,C=64K.
    #[arg(long, value_name = "LIST")]
    pub codec: Option<String>,
    /// Block sizes, comma-separated (e.g. 128K,1M): each squashfs setting without b= runs once
    /// per size.
    #[arg(long, value_name = "LIST")]
    pub block_size: Option<String>,
    /// Directory for the images and the reports (created; images kept). Without it images go
    /// to a temporary directory and the reports to the current one.
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Keep the images even without --output (their directory is printed).
    #[arg(long)]
    pub keep: bool,
    /// Compression threads (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub processors: usize,
}

/// Options shared by `resolve` and `download`.
#[derive(Debug, clap::Args)]
pub struct ResolveArgs {
    /// The kickstart file.
    #[arg(long = "ks", alias = "config", short = 'c', value_name = "FILE")]
    pub ks: String,
    /// Target architecture (default: the host's).
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Value of `$releasever` in repository URLs.
    #[arg(long, value_name = "N")]
    pub releasever: Option<String>,
    /// Use this repository instead of the kickstart's (repeatable; like Koji's --repo);
    /// `,gpgkey=KEY` (repeatable) makes its packages verify against that key.
    #[arg(long = "repo", value_name = "NAME,URL[,gpgkey=KEY]")]
    pub repos: Vec<String>,
    /// Verify every package's signature; each repository needs a key (--gpgkey or gpgkey=).
    #[arg(long, conflicts_with = "nogpgcheck")]
    pub gpgcheck: bool,
    /// Trust this ASCII-armored public key (path or file/http(s) URL) for every repository
    /// and verify all packages against the trusted keys (repeatable).
    #[arg(long = "gpgkey", value_name = "KEY")]
    pub gpgkeys: Vec<String>,
    /// Verify no signatures, whatever else is given (livecd-creator's --nogpgcheck).
    #[arg(long)]
    pub nogpgcheck: bool,
    /// Cache directory (livecd-creator's --cache).
    #[arg(long, value_name = "DIR", env = "KILN_CACHE")]
    pub cache: Option<PathBuf>,
    /// Use only the cache; never touch the network.
    #[arg(long)]
    pub cacheonly: bool,
    /// Do not load filelists (faster; file dependencies outside primary's subset fail).
    #[arg(long)]
    pub no_filelists: bool,
    /// Kickstart syntax version: DEVEL (latest Fedora), RHEL8, RHEL9, RHEL10. Without it, an
    /// Enterprise Linux --releasever (8, 9 or 10, also as 9.4) selects RHEL8/RHEL9/RHEL10;
    /// anything else reads DEVEL.
    #[arg(long = "ksversion", value_name = "VERSION")]
    pub ksversion: Option<String>,
    /// Print JSON: an array of packages in transaction order.
    #[arg(long)]
    pub json: bool,
}

/// `kiln download`.
#[derive(Debug, clap::Args)]
pub struct DownloadArgs {
    /// Resolution options.
    #[command(flatten)]
    pub resolve: ResolveArgs,
    /// Parallel downloads.
    #[arg(long, default_value_t = 6, value_name = "N")]
    pub jobs: usize,
}

/// `kiln write ...`
#[derive(Debug, Subcommand)]
pub enum WriteCommand {
    /// Write DIR as a squashfs 4.0 image (like mksquashfs DIR OUT -noappend).
    Squashfs(SquashfsArgs),
    /// Write DIR as an EROFS image the Linux kernel mounts (like mkfs.erofs OUT DIR).
    Erofs(ErofsArgs),
    /// Write DIR as a bootable ISO 9660 image with Rock Ridge and Joliet (like xorriso -as
    /// mkisofs -R -J), El Torito BIOS/UEFI entries and a hybrid MBR/GPT for USB sticks.
    Iso(IsoArgs),
    /// Write DIR as a FAT12/16 image sized to its content (an EFI boot image, efiboot.img).
    Efiboot(EfibootArgs),
}

/// `kiln write iso` options, named after xorriso -as mkisofs where it has them.
#[derive(Debug, clap::Args)]
pub struct IsoArgs {
    /// Source directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Output image (replaced if it exists).
    #[arg(value_name = "OUT")]
    pub out: PathBuf,
    /// Volume id, at most 32 characters (-V).
    #[arg(long, value_name = "V")]
    pub volid: String,
    /// Application id (-A).
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub appid: String,
    /// Publisher id (-publisher).
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub publisher: String,
    /// Data preparer id (-p).
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub preparer: String,
    /// BIOS El Torito boot image, a path inside DIR (-b), booted without emulation.
    #[arg(long, value_name = "FILE")]
    pub bios_boot: Option<PathBuf>,
    /// 512-byte sectors the BIOS loads from the boot image (-boot-load-size).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub boot_load_size: u16,
    /// Do not patch a boot info table into the BIOS boot image (-boot-info-table is default).
    #[arg(long)]
    pub no_boot_info_table: bool,
    /// Patch GRUB's boot info into the BIOS boot image (--grub2-boot-info); implied by a GRUB
    /// hybrid MBR.
    #[arg(long)]
    pub grub2_boot_info: bool,
    /// Path of the boot catalog inside the image (-c); default isolinux/boot.cat when the BIOS
    /// image is under isolinux/, else boot.cat.
    #[arg(long, value_name = "PATH")]
    pub boot_catalog: Option<PathBuf>,
    /// UEFI El Torito boot image (a FAT image), a path inside DIR (-e).
    #[arg(long, value_name = "FAT_IMG")]
    pub efi_boot: Option<PathBuf>,
    /// Hybrid MBR boot code for USB sticks: GRUB's boot_hybrid.img or SYSLINUX's
    /// isohdpfx.bin (a file on the host). Also writes a GPT with the EFI image appended.
    #[arg(long, value_name = "FILE")]
    pub hybrid_mbr: Option<PathBuf>,
    /// With --hybrid-mbr: an MBR partition table only, no GPT.
    #[arg(long)]
    pub no_gpt: bool,
    /// UEFI-only hybrid (no BIOS image): a protective MBR without boot code and a GPT with
    /// the ISO partition and the --efi-boot image appended as the EFI system partition.
    #[arg(long, conflicts_with = "hybrid_mbr", requires = "efi_boot")]
    pub efi_gpt: bool,
    /// The whole volume as one MBR partition of type 0x96 (xorriso's -chrp-boot-part,
    /// mkisofs' -chrp-boot): CHRP media for Open Firmware (ppc64le).
    #[arg(long, conflicts_with_all = ["hybrid_mbr", "efi_gpt"])]
    pub chrp_boot_part: bool,
    /// Primary-tree names as the files are named (mkisofs' -U, xorriso's
    /// -untranslated_names), which Open Firmware looks up, instead of level 2 d-characters.
    #[arg(long)]
    pub untranslated_names: bool,
    /// Implant an implantisomd5-compatible checksum (checkisomd5 verifies it).
    #[arg(long)]
    pub implant_md5: bool,
    /// Do not write a Joliet tree.
    #[arg(long)]
    pub no_joliet: bool,
    /// Volume dates and mtime clamp; defaults to SOURCE_DATE_EPOCH, else now (no clamp).
    #[arg(long, value_name = "SECONDS")]
    pub source_date_epoch: Option<i64>,
}

/// `kiln write efiboot` options.
#[derive(Debug, clap::Args)]
pub struct EfibootArgs {
    /// Source directory (usually holding EFI/BOOT/BOOTX64.EFI).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Output image (replaced if it exists).
    #[arg(value_name = "OUT")]
    pub out: PathBuf,
    /// Volume label, at most 11 characters.
    #[arg(long, value_name = "LABEL")]
    pub label: Option<String>,
    /// Free space to leave in the image, e.g. 1M.
    #[arg(long, value_name = "SIZE", default_value = "0")]
    pub extra: String,
    /// Date clamp; defaults to SOURCE_DATE_EPOCH.
    #[arg(long, value_name = "SECONDS")]
    pub source_date_epoch: Option<i64>,
}

/// `kiln write squashfs` options, named after mksquashfs where it has them.
#[derive(Debug, clap::Args)]
pub struct SquashfsArgs {
    /// Source directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Output image (replaced if it exists).
    #[arg(value_name = "OUT")]
    pub out: PathBuf,
    /// Compressor: gzip, xz, zstd or lz4.
    #[arg(long, default_value = "xz", value_name = "CODEC")]
    pub comp: String,
    /// Compressor option, repeatable: level=N (gzip, zstd), window=N (gzip), dict-size=N,
    /// bcj=x86,arm,arm64,... preset=N, extreme (xz), hc (lz4).
    #[arg(long = "comp-opt", value_name = "KEY[=VALUE]")]
    pub comp_opt: Vec<String>,
    /// Data block size, 4K to 1M, a power of two.
    #[arg(short = 'b', long, default_value = "128K", value_name = "SIZE")]
    pub block_size: String,
    /// Make every entry owned by root.
    #[arg(long)]
    pub all_root: bool,
    /// Store extended attributes (default).
    #[arg(long, overrides_with = "no_xattrs")]
    pub xattrs: bool,
    /// Do not store extended attributes.
    #[arg(long)]
    pub no_xattrs: bool,
    /// Do not pack small files and tails into fragments.
    #[arg(long)]
    pub no_fragments: bool,
    /// Pack only files smaller than a block, not the tails of larger ones (mksquashfs default).
    #[arg(long)]
    pub no_tail_packing: bool,
    /// Do not detect duplicate files.
    #[arg(long)]
    pub no_duplicates: bool,
    /// Do not store all-zero blocks as holes.
    #[arg(long)]
    pub no_sparse: bool,
    /// Do not write the NFS export table.
    #[arg(long)]
    pub no_exports: bool,
    /// Compression threads (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub processors: usize,
    /// Filesystem time and mtime clamp; defaults to SOURCE_DATE_EPOCH, else now (no clamp).
    #[arg(long, value_name = "SECONDS")]
    pub mkfs_time: Option<u32>,
    /// Cache directory holding the block cache (as `kiln build --cache`).
    #[arg(long, value_name = "DIR", env = "KILN_CACHE")]
    pub cache: Option<PathBuf>,
    #[arg(long, value_name = "SIZE", help = BLOCK_CACHE_SIZE_HELP)]
    pub block_cache_size: Option<String>,
}

/// `kiln write erofs` options, named after mkfs.erofs where it has them.
#[derive(Debug, clap::Args)]
pub struct ErofsArgs {
    /// Source directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Output image (replaced if it exists).
    #[arg(value_name = "OUT")]
    pub out: PathBuf,
    /// Compression: lz4, lz4hc, lzma, deflate or zstd, optionally with a level (`lz4hc,12`,
    /// `lzma,9`); `none` stores the data uncompressed.
    #[arg(
        short = 'z',
        long = "compress",
        default_value = "lz4hc",
        value_name = "ALG[,LEVEL]"
    )]
    pub compress: String,
    /// Physical cluster size: the most compressed bytes one extent takes, a multiple of 4K
    /// (e.g. 65536 or 64K); above 4K the kernel reads big pclusters.
    #[arg(
        short = 'C',
        long = "pcluster-size",
        default_value = "4096",
        value_name = "SIZE"
    )]
    pub pcluster_size: String,
    /// Make every entry owned by root.
    #[arg(long)]
    pub all_root: bool,
    /// Do not store extended attributes.
    #[arg(long)]
    pub no_xattrs: bool,
    /// Store identical files' data once (default).
    #[arg(long, overrides_with = "no_dedup")]
    pub dedup: bool,
    /// Store every file's data even when an identical file was stored already.
    #[arg(long)]
    pub no_dedup: bool,
    /// Compression threads (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub processors: usize,
    /// Filesystem build time and mtime clamp; defaults to SOURCE_DATE_EPOCH, else now (no clamp).
    #[arg(short = 'T', long = "timestamp", value_name = "SECONDS")]
    pub timestamp: Option<i64>,
    /// Filesystem UUID (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`); default derived from the
    /// content, so equal inputs give equal images.
    #[arg(short = 'U', long = "uuid", value_name = "UUID")]
    pub uuid: Option<String>,
    /// Volume name, at most 16 bytes.
    #[arg(short = 'L', long = "label", default_value = "", value_name = "LABEL")]
    pub label: String,
    /// Cache directory holding the block cache (as `kiln build --cache`).
    #[arg(long, value_name = "DIR", env = "KILN_CACHE")]
    pub cache: Option<PathBuf>,
    #[arg(long, value_name = "SIZE", help = BLOCK_CACHE_SIZE_HELP)]
    pub block_cache_size: Option<String>,
}

/// Options shared by the kickstart tools.
#[derive(Debug, clap::Args)]
pub struct KsCommon {
    /// The kickstart file (or URL).
    #[arg(value_name = "KICKSTART")]
    pub input: String,
    /// Kickstart syntax version: DEVEL (latest Fedora), RHEL8, RHEL9, RHEL10.
    #[arg(long = "ksversion", default_value = "DEVEL", value_name = "VERSION")]
    pub ksversion: String,
}

/// `kiln ks ...`
#[derive(Debug, Subcommand)]
pub enum KsCommand {
    /// Print the kickstart with every %include resolved (like ksflatten).
    Flatten {
        /// Input and syntax.
        #[command(flatten)]
        common: KsCommon,
        /// Write to this file instead of stdout.
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
    },
    /// Validate like ksvalidator -i, plus kiln's own checks for live media.
    Lint {
        /// Input and syntax.
        #[command(flatten)]
        common: KsCommon,
        /// Do not follow %include (ksvalidator without -i).
        #[arg(long)]
        no_includes: bool,
        /// Only pykickstart's verdict; skip kiln's live-media notes.
        #[arg(long)]
        no_live: bool,
        /// Machine-readable findings.
        #[arg(long)]
        json: bool,
    },
    /// Print the typed model kiln reads from the kickstart.
    Show {
        /// Input and syntax.
        #[command(flatten)]
        common: KsCommon,
        /// As JSON (the only format for now).
        #[arg(long)]
        json: bool,
    },
}

/// `kiln install`: the root alone (livemedia-creator's `--make-fsimage` without the image).
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// Resolution options.
    #[command(flatten)]
    pub resolve: ResolveArgs,
    /// The root directory to create (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    /// Parallel downloads.
    #[arg(long, default_value_t = 6, value_name = "N")]
    pub jobs: usize,
    /// Skip %doc files (as `%packages --excludedocs`).
    #[arg(long)]
    pub excludedocs: bool,
    /// Keep only these languages' %lang files, colon-separated (as `%packages --instLangs`).
    #[arg(long = "inst-langs", value_name = "LANGS")]
    pub inst_langs: Option<String>,
    /// Run no scriptlets or triggers.
    #[arg(long)]
    pub noscripts: bool,
    /// A failing %post, %posttrans or trigger fails the install (rpm only warns).
    #[arg(long)]
    pub strict_scriptlets: bool,
    /// End a scriptlet, trigger or chroot %post that runs longer than SECONDS (with all it
    /// started), failing the install; 0: no limit.
    #[arg(long, value_name = "SECONDS", default_value_t = kiln::install::scriptlet::DEFAULT_TIMEOUT.as_secs())]
    pub script_timeout: u64,
    /// The rpmdb directory inside the root (default: the target's own %_dbpath).
    #[arg(long, value_name = "PATH")]
    pub dbpath: Option<String>,
    /// Keep a partly installed root when the install fails (for debugging).
    #[arg(long)]
    pub nocleanup: bool,
    /// Do not check the packages' header and payload digests (rpm's --nodigest; a warning
    /// is printed). Signature checks, when on, still verify them.
    #[arg(long)]
    pub nodigest: bool,
}

/// `kiln install-rpms`.
#[derive(Debug, clap::Args)]
pub struct InstallRpmsArgs {
    /// The root directory: a new one, or a root with an rpmdb to add the packages to (a second
    /// transaction, as `rpm -i --root`).
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    /// The packages, installed in this order (no dependency check, no reordering).
    #[arg(value_name = "RPM", required = true)]
    pub rpms: Vec<PathBuf>,
    /// Target architecture (for the macros Lua scriptlets expand; default: the host's).
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Skip %doc files.
    #[arg(long)]
    pub excludedocs: bool,
    /// Keep only these languages' %lang files, colon-separated.
    #[arg(long = "inst-langs", value_name = "LANGS")]
    pub inst_langs: Option<String>,
    /// Run no scriptlets or triggers.
    #[arg(long)]
    pub noscripts: bool,
    /// A failing %post, %posttrans or trigger fails the install.
    #[arg(long)]
    pub strict_scriptlets: bool,
    /// End a scriptlet, trigger or chroot %post that runs longer than SECONDS (with all it
    /// started), failing the install; 0: no limit.
    #[arg(long, value_name = "SECONDS", default_value_t = kiln::install::scriptlet::DEFAULT_TIMEOUT.as_secs())]
    pub script_timeout: u64,
    /// The rpmdb directory inside the root (default: the target's own %_dbpath).
    #[arg(long, value_name = "PATH")]
    pub dbpath: Option<String>,
    /// Keep a partly installed root when the install fails.
    #[arg(long)]
    pub nocleanup: bool,
    /// Do not check the packages' header and payload digests (rpm's --nodigest; a warning
    /// is printed). Signature checks, when on, still verify them.
    #[arg(long)]
    pub nodigest: bool,
    /// Print the install report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Relocate the files of a relocatable package (one `Prefix:`) to DIR (`rpm --prefix`).
    #[arg(long, value_name = "DIR")]
    pub prefix: Option<String>,
    /// Relocate files under OLD to NEW (`rpm --relocate OLD=NEW`; repeatable).
    #[arg(long = "relocate", value_name = "OLD=NEW")]
    pub relocate: Vec<String>,
}

/// `kiln boot-test`.
#[derive(Debug, clap::Args)]
pub struct BootTestArgs {
    /// The image (ISO or disk image), or a network boot tree: a PXE tree (a directory with
    /// pxelinux.0, booted from qemu's TFTP) or a netroot tree (tftp/ + images/nbd.conf; an
    /// nbd-server on 127.0.0.1 serves it during the boot).
    #[arg(value_name = "IMAGE|TREE")]
    pub image: PathBuf,
    /// Firmware: bios or uefi (default: bios; uefi with --secure-boot). Ignored where the
    /// machine brings its own (ppc64le: pseries boots SLOF).
    #[arg(long, value_parser = ["bios", "uefi"])]
    pub firmware: Option<String>,
    /// Boot with UEFI firmware that enforces Secure Boot, Microsoft's keys enrolled (x86_64:
    /// OVMF_CODE_4M.secboot.fd and a copy of OVMF_VARS_4M.ms.fd on q35 with SMM): only a
    /// signed chain starts (shim, the distribution's signed GRUB and kernel). Fails when
    /// the firmware or shim refuses an image, or the kernel says Secure Boot is disabled.
    #[arg(long)]
    pub secure_boot: bool,
    /// Attach the image as a cdrom, a USB disk (the hybrid ISO path) or a virtio hard disk
    /// (disk images; writes go to a temporary snapshot). Ignored for network boot trees.
    #[arg(long = "as", default_value = "cdrom", value_parser = ["cdrom", "disk", "hd"])]
    pub attach: String,
    /// Target architecture (default: the host's).
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Seconds to wait for the expected line.
    #[arg(long, default_value_t = 600, value_name = "S")]
    pub timeout: u64,
    /// Success when a serial console line matches this regex.
    #[arg(long, default_value = "KILN-BOOT-OK|login:", value_name = "REGEX")]
    pub expect: String,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 2048, value_name = "MB")]
    pub memory: u32,
    /// Keep the serial log here (default: IMAGE.serial.log beside the image).
    #[arg(long, value_name = "FILE")]
    pub serial_log: Option<PathBuf>,
    /// Accelerator: auto (probe KVM, else TCG), tcg or kvm.
    #[arg(long, default_value = "auto", value_parser = ["auto", "tcg", "kvm"], env = "KILN_ACCEL")]
    pub accel: String,
    /// Let the boot menu's countdown run out. By default boot-test presses Enter once GRUB's
    /// or SYSLINUX's menu counts down on the serial console, which starts the default entry
    /// as the countdown would, without the wait.
    #[arg(long)]
    pub menu_timeout: bool,
}

/// `kiln iso-to-pxeboot`.
#[derive(Debug, clap::Args)]
pub struct IsoToPxebootArgs {
    /// The live ISO.
    #[arg(value_name = "ISO")]
    pub iso: PathBuf,
    /// Output directory (the TFTP root): vmlinuz0, initrd0.img, pxelinux.0, ldlinux.c32,
    /// pxelinux.cfg/default.
    #[arg(value_name = "OUTDIR", default_value = "tftpboot")]
    pub outdir: PathBuf,
}

/// `kiln iso-to-netroot`.
#[derive(Debug, clap::Args)]
pub struct IsoToNetrootArgs {
    /// The live ISO (its volume id is the export's label; several labels share a tree).
    #[arg(value_name = "ISO")]
    pub iso: PathBuf,
    /// The tree: OUTDIR/images/LABEL/rootfs.img + OUTDIR/images/nbd.conf (serve with
    /// `nbd-server -C OUTDIR/images/nbd.conf`), OUTDIR/tftp/ (the TFTP root).
    #[arg(value_name = "OUTDIR")]
    pub outdir: PathBuf,
    /// The NBD server's address as the booting machines see it (qemu's user network: the
    /// host is 10.0.2.2).
    #[arg(long, default_value = "10.0.2.2", value_name = "ADDR")]
    pub server: String,
}

/// `kiln build`, with livecd-creator / livemedia-creator names.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Resolution options (`--ks`/`-c/--config`, `--arch`, `--releasever`, `--repo`, `--cache`).
    #[command(flatten)]
    pub resolve: ResolveArgs,
    /// Make a live ISO (the default output when no other --make-* is given). The --make-*
    /// flags combine: one build (one install) can make several outputs at once.
    #[arg(long)]
    pub make_iso: bool,
    /// Make a PXE live tree (`LABEL-pxe/`): kernel, initrd, root image (lorax's pxe-live
    /// files and PXE_CONFIG) plus pxelinux and GRUB netboot configs that boot from TFTP alone.
    #[arg(long)]
    pub make_pxe_live: bool,
    /// Make a netroot tree (`LABEL-netroot/`, as `kiln iso-to-netroot`): the root image for
    /// nbd-server with its nbd.conf, and a pxelinux TFTP tree. The root needs dracut's
    /// network and nbd modules and nbd-client.
    #[arg(long)]
    pub make_netroot: bool,
    /// Make a GPT disk image (`LABEL-disk.raw`): an EFI system partition and an ext4 root
    /// (built without mounting), booting with UEFI.
    #[arg(long)]
    pub make_disk: bool,
    /// With --make-disk: write qcow2 (`LABEL-disk.qcow2`, through qemu-img) instead of raw.
    #[arg(long)]
    pub qcow2: bool,
    /// Make an ext4 file system image of the root (`LABEL-rootfs.img`, `part / --size`).
    #[arg(long)]
    pub make_fsimage: bool,
    /// Make a tar archive of the root (`LABEL-root.tar.xz`, compressed as --compression
    /// says: xz, zstd, gzip, lz4).
    #[arg(long)]
    pub make_tar: bool,
    /// Volume label, also the ISO's name (livecd-creator's -f/--fslabel).
    #[arg(short = 'f', long = "fslabel", value_name = "LABEL")]
    pub fslabel: Option<String>,
    /// Title in the boot menus.
    #[arg(long, value_name = "TITLE")]
    pub title: Option<String>,
    /// Product name (the ISO's application id).
    #[arg(long, value_name = "PRODUCT")]
    pub product: Option<String>,
    /// Where results go.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub resultdir: PathBuf,
    /// Where the work directory is made.
    #[arg(long, default_value = "/var/tmp", value_name = "DIR")]
    pub tmpdir: PathBuf,
    /// squashfs compressor: xz, zstd, gzip, lz4.
    #[arg(long, default_value = "xz", value_name = "CODEC")]
    pub compression: String,
    /// Compressor argument, mksquashfs style, repeatable (`-b 1M`, `-Xbcj x86`,
    /// `-Xdict-size 100%`, `-Xcompression-level 19`) or kiln's `KEY=VALUE`.
    #[arg(long = "compress-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub compress_args: Vec<String>,
    /// Build from this ext4 file system image (e.g. an earlier --make-fsimage) instead of
    /// installing: no install, no kickstart configuration or %post (livemedia-creator's
    /// --fs-image). It is loop-mounted read-only in a private mount namespace and copied.
    #[arg(long, value_name = "IMG", conflicts_with = "disk_image")]
    pub fs_image: Option<PathBuf>,
    /// Build from this raw GPT disk image's Linux root partition (e.g. an earlier --make-disk),
    /// as --fs-image (livemedia-creator's --disk-image).
    #[arg(long, value_name = "IMG")]
    pub disk_image: Option<PathBuf>,
    /// Only the root image (LiveOS/squashfs.img), no ISO or other output.
    #[arg(long)]
    pub image_only: bool,
    /// Keep the root image beside the ISO.
    #[arg(long)]
    pub keep_image: bool,
    /// Keep the work directory (and say where).
    #[arg(long)]
    pub nocleanup: bool,
    /// Do not check the packages' header and payload digests (rpm's --nodigest; a warning
    /// is printed). Signature checks, when on, still verify them.
    #[arg(long)]
    pub nodigest: bool,
    /// Extra kernel arguments for the boot entries.
    #[arg(long = "kernel-args", value_name = "ARGS")]
    pub kernel_args: Option<String>,
    /// What LiveOS/squashfs.img is, as livemedia-creator's --rootfs-type: `squashfs` (of the
    /// root), `squashfs-ext4` (holding an ext4 LiveOS/rootfs.img), `erofs`, `erofs-ext4`.
    #[arg(long, value_name = "TYPE", default_value = "squashfs",
          value_parser = ["squashfs", "squashfs-ext4", "erofs", "erofs-ext4"])]
    pub rootfs_type: String,
    /// The same as --rootfs-type squashfs-ext4 (livecd-creator's classic layout).
    #[arg(long, conflicts_with = "rootfs_type")]
    pub ext4_in_squashfs: bool,
    /// EROFS root image compression, mkfs.erofs `-z` style: lz4, lz4hc, lzma, deflate, zstd,
    /// with an optional level (`lz4hc,12`). Default: lzma when the target's kernel reads it
    /// (CONFIG_EROFS_FS_ZIP_LZMA), else lz4hc; one it cannot read fails the build.
    #[arg(long, value_name = "ALG[,LEVEL]")]
    pub erofs_compression: Option<String>,
    /// EROFS physical cluster size (mkfs.erofs `-C`): the most compressed bytes one extent
    /// takes, a multiple of 4096 (`64K`, `1M`).
    #[arg(long, value_name = "SIZE", default_value = "4K")]
    pub erofs_pcluster: String,
    /// ISOLINUX for BIOS instead of GRUB.
    #[arg(long)]
    pub syslinux: bool,
    /// Directory with boot menu templates (grub.cfg, isolinux.cfg) overriding the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Drop into a shell in the root before this stage (prepare, install, configure, finalize,
    /// package).
    #[arg(long, value_name = "STAGE")]
    pub shell_before: Option<String>,
    /// Parallel downloads.
    #[arg(long, default_value_t = 6, value_name = "N")]
    pub jobs: usize,
    /// Build log (livemedia-creator's --logfile; same as the global --log-file).
    #[arg(long = "logfile", value_name = "FILE")]
    pub logfile: Option<PathBuf>,
    #[arg(long, value_name = "SIZE", help = BLOCK_CACHE_SIZE_HELP)]
    pub block_cache_size: Option<String>,
    /// Progress as JSON lines for build farms (stage start/end, bytes done/total, result): on
    /// stdout (`-`, the default) or sent to the Unix socket SOCKET.
    #[arg(long, value_name = "SOCKET", num_args = 0..=1, default_missing_value = "-")]
    pub json_progress: Option<String>,
    /// End a scriptlet, trigger or chroot %post that runs longer than SECONDS (with all it
    /// started), failing the build; 0: no limit.
    #[arg(long, value_name = "SECONDS", default_value_t = kiln::install::scriptlet::DEFAULT_TIMEOUT.as_secs())]
    pub script_timeout: u64,
    #[arg(long = "dracut-arg", value_name = "ARG", allow_hyphen_values = true, help = dracut_arg_help())]
    pub dracut_args: Vec<String>,
    /// A dracut.conf for the live initramfs instead of kiln's default dracut arguments, as
    /// livemedia-creator's --dracut-conf: dracut runs with `--conf FILE` (a copy in the root);
    /// it wins over --dracut-arg. See dracut.conf(5).
    #[arg(long, value_name = "FILE")]
    pub dracut_conf: Option<PathBuf>,
    /// The network of chroot %post scripts: `host` (the host's network and /etc/resolv.conf
    /// for the script, as under livecd-creator; the root's resolv.conf is put back after) or
    /// `none` (isolated, as package scriptlets always are).
    #[arg(long, value_name = "MODE", default_value = "host", value_parser = ["host", "none"])]
    pub post_network: String,
}

/// `--dracut-arg`'s help, with the defaults it replaces.
fn dracut_arg_help() -> String {
    format!(
        "Argument for dracut when it makes the live initramfs, repeatable; each is split at its \
         first space (`--dracut-arg \"--add-drivers e1000\"`), as livemedia-creator does. Given, \
         they replace kiln's defaults: {} {}",
        kiln::boot::DEFAULT_DRACUT_ARGS.join(" "),
        kiln::boot::LIVE_MODULES_HELP
    )
}
