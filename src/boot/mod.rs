//! Boot assets for live media, made from the root's own packages: the kernel, a live initramfs
//! (the root's dracut with dmsquash-live, run in the chroot), GRUB's BIOS El Torito image or
//! ISOLINUX, the UEFI chain (shim + grub from the packages, else a GRUB EFI image made in the
//! chroot), GRUB for Open Firmware with its CHRP boot script (`ieee1275`, ppc64le) and the boot
//! menus, written into the ISO staging directory in Fedora's layout.
//!
//! Knows nothing of ISO9660 or squashfs: `media/` turns the staging directory into an image.

use std::path::{Path, PathBuf};

use crate::arch::ArchInfo;
use crate::error::IoError;
use crate::install::scriptlet::{ScriptRunner, ScriptSpec};
use crate::rpmfile::vercmp::rpmvercmp;

mod ieee1275;
mod initrd_nodes;
pub mod s390;

/// Where things go on the ISO (Fedora's live layout).
pub mod layout {
    /// The kernel.
    pub const VMLINUZ: &str = "images/pxeboot/vmlinuz";
    /// The initramfs.
    pub const INITRD: &str = "images/pxeboot/initrd.img";
    /// GRUB's BIOS El Torito image.
    pub const ELTORITO: &str = "images/eltorito.img";
    /// The EFI system partition image.
    pub const EFIBOOT: &str = "images/efiboot.img";
    /// The El Torito boot catalog.
    pub const BOOT_CATALOG: &str = "boot.catalog";
    /// GRUB's BIOS directory.
    pub const GRUB_BIOS_DIR: &str = "boot/grub2";
    /// ISOLINUX's directory.
    pub const ISOLINUX_DIR: &str = "isolinux";
    /// The EFI boot directory.
    pub const EFI_DIR: &str = "EFI/BOOT";
    /// The root image, squashfs or EROFS (lorax and dracut keep the name for every type).
    pub const SQUASHFS: &str = "LiveOS/squashfs.img";
    /// GRUB's directory for IEEE 1275 firmware (its menu; the platform's core image and
    /// modules in a subdirectory), as lorax's ppc64le template has it.
    pub const GRUB_IEEE1275_DIR: &str = "boot/grub";
    /// The CHRP boot script Open Firmware reads from the volume.
    pub const BOOTINFO: &str = "ppc/bootinfo.txt";
}

/// What the live root image `LiveOS/squashfs.img` is: livemedia-creator's `--rootfs-type`
/// names and layouts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RootfsType {
    /// squashfs of the root (Fedora's layout before 42).
    #[default]
    Squashfs,
    /// squashfs holding the ext4 image `LiveOS/rootfs.img` (livecd-creator's classic layout).
    SquashfsExt4,
    /// EROFS of the root (Fedora 42 on; dmsquash-live mounts it from dracut 103 on).
    Erofs,
    /// EROFS holding the ext4 image `LiveOS/rootfs.img`.
    ErofsExt4,
}

impl RootfsType {
    /// Every type, as `--rootfs-type` takes them.
    pub const ALL: [RootfsType; 4] = [
        RootfsType::Squashfs,
        RootfsType::SquashfsExt4,
        RootfsType::Erofs,
        RootfsType::ErofsExt4,
    ];

    /// lorax's name.
    pub fn name(self) -> &'static str {
        match self {
            RootfsType::Squashfs => "squashfs",
            RootfsType::SquashfsExt4 => "squashfs-ext4",
            RootfsType::Erofs => "erofs",
            RootfsType::ErofsExt4 => "erofs-ext4",
        }
    }

    /// The type called `name`.
    pub fn parse(name: &str) -> Option<RootfsType> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The image is EROFS (else squashfs).
    pub fn is_erofs(self) -> bool {
        matches!(self, RootfsType::Erofs | RootfsType::ErofsExt4)
    }

    /// The image holds an ext4 `LiveOS/rootfs.img` rather than the root's tree.
    pub fn ext4_inside(self) -> bool {
        matches!(self, RootfsType::SquashfsExt4 | RootfsType::ErofsExt4)
    }
}

/// Options for [`prepare`].
#[derive(Debug, Clone)]
pub struct BootOptions {
    /// Target arch facts.
    pub arch: &'static ArchInfo,
    /// The volume label (`root=live:CDLABEL=<label>`).
    pub label: String,
    /// The menu title (`Start <title>`).
    pub title: String,
    /// Extra kernel arguments (`bootloader --append`, `--kernel-args`).
    pub kernel_args: String,
    /// Use ISOLINUX instead of GRUB for BIOS.
    pub syslinux: bool,
    /// Menu templates overriding the built-in ones (`grub.cfg`, `isolinux.cfg`).
    pub templates: Option<PathBuf>,
    /// Menu timeout in seconds (`bootloader --timeout`).
    pub timeout: u32,
    /// What the root image is. One that holds the root directly (no LiveOS/rootfs.img) needs
    /// an overlayfs overlay (`rd.live.overlay.overlayfs=1`), as Fedora's squashfs-only media;
    /// an EROFS one needs a dracut that mounts EROFS ([`ErofsHook`]).
    pub rootfs_type: RootfsType,
    /// `SOURCE_DATE_EPOCH`: dracut runs with `--reproducible` (sorted cpio, clamped dates).
    pub source_date_epoch: Option<i64>,
    /// What dracut is told besides kiln's fixed arguments (`--dracut-arg`, `--dracut-conf`).
    pub dracut: DracutArgs,
}

/// kiln's dracut arguments, which `--dracut-arg` and `--dracut-conf` replace (as
/// livemedia-creator's replace its own): besides these, `--add` names the live modules the
/// root can install ([`LIVE_MODULES_HELP`]).
pub const DEFAULT_DRACUT_ARGS: [&str; 4] = [
    "--no-hostonly",
    "--no-hostonly-cmdline",
    "--omit",
    "plymouth",
];

/// What the default `--add` holds, for `--help`.
pub const LIVE_MODULES_HELP: &str =
    "--add \"dmsquash-live [network-legacy livenet nbd: when the root has their modules and tools]\"";

/// What dracut is told when it makes the live initramfs, besides what kiln always passes
/// (`--force`, `--kver`, the output file, `--reproducible` with `SOURCE_DATE_EPOCH`, and
/// `--no-compress` unless the arguments or the file choose a compressor). kiln's
/// `/etc/dracut.conf.d/99-liveos.conf` (dmsquash-live, no host-only) is written in every case,
/// as livecd-creator writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DracutArgs {
    /// [`DEFAULT_DRACUT_ARGS`] and the live modules.
    #[default]
    Default,
    /// `--dracut-arg`s instead of the defaults, each split at its first space as lorax splits
    /// them (`--add-drivers e1000` is two arguments, `--include SRC DST` needs two flags).
    Args(Vec<String>),
    /// `--dracut-conf FILE` instead of the defaults: copied into the root for the run and passed
    /// as `--conf` (it then stands for the root's `/etc/dracut.conf`; `dracut.conf.d` is still
    /// read).
    Conf(PathBuf),
}

impl DracutArgs {
    /// From the command line: the file wins over the arguments (livemedia-creator's rule),
    /// neither given is the default.
    pub fn from_flags(args: &[String], conf: Option<&Path>) -> Self {
        match conf {
            Some(c) => DracutArgs::Conf(c.to_path_buf()),
            None if !args.is_empty() => DracutArgs::Args(
                args.iter()
                    .flat_map(|a| match a.split_once(' ') {
                        Some((first, rest)) => vec![first.to_string(), rest.to_string()],
                        None => vec![a.clone()],
                    })
                    .collect(),
            ),
            None => DracutArgs::Default,
        }
    }
}

/// How the media boots, for `media/` and the build report.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BootAssets {
    /// The kernel version.
    pub kernel_version: String,
    /// BIOS El Torito image path inside the ISO, when BIOS boot is set up.
    pub bios_image: Option<String>,
    /// Whether the BIOS image is ISOLINUX (else GRUB).
    pub isolinux: bool,
    /// The MBR template for the hybrid layout (GRUB's `boot_hybrid.img` or `isohdpfx.bin`).
    #[serde(skip)]
    pub hybrid_mbr: Option<Vec<u8>>,
    /// Staging directory of the EFI system partition (holds `EFI/BOOT/...`), when UEFI is set up.
    pub efi_dir: Option<PathBuf>,
    /// `shim + grub from /boot/efi/EFI/<vendor> (<image> as grub<arch>.efi)`: the root's signed
    /// chain; or `grub-mkimage`: an unsigned GRUB image made in the root.
    pub efi_chain: Option<String>,
    /// The GRUB core image `ppc/bootinfo.txt` names (`boot/grub/powerpc-ieee1275/core.elf`),
    /// when the media boots on IEEE 1275 firmware: the ISO is then a CHRP one.
    pub ieee1275_image: Option<String>,
    /// The full kernel command line of the default entry.
    pub cmdline: String,
    /// The combined IPL image an s390x machine loads from the El Torito entry (lorax's
    /// `images/cdboot.img`, [`s390`]), when the arch boots that way.
    pub ipl_image: Option<String>,
}

/// A failure while preparing boot assets.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// No kernel in the root.
    #[error("no kernel found in the root (looked in /usr/lib/modules/*/vmlinuz, /boot/vmlinuz-* and /boot/vmlinux-*)\nhint: add a kernel package (`kernel` on Fedora, `linux-image-amd64` on Debian) to %packages")]
    NoKernel,
    /// dracut or its live module is missing.
    #[error("{0}\nhint: add `dracut-live` (and `dracut`) to %packages: livecd-creator's initramfs needs the dmsquash-live module")]
    NoDracutLive(String),
    /// A needed boot file is missing from the root.
    #[error("`{path}` not found in the root\nhint: {hint}")]
    Missing {
        /// Path inside the root.
        path: String,
        /// Which package provides it.
        hint: String,
    },
    /// A tool run in the chroot failed.
    #[error("`{cmd}` failed in the root (exit status {status}):\n{output}")]
    Tool {
        /// The command line.
        cmd: String,
        /// Exit status.
        status: i32,
        /// Its output.
        output: String,
    },
    /// The s390 IPL image could not be made from the root's kernel.
    #[error(transparent)]
    IplImage(#[from] s390::IplImageError),
    /// The chroot runner failed.
    #[error("failed to run a tool in the root")]
    Runner(#[from] crate::install::scriptlet::ScriptError),
    /// A file of the root or the staging directory could not be read or written.
    #[error(transparent)]
    Io(#[from] IoError),
}

/// A kernel found in the root.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// `uname -r`.
    pub version: String,
    /// Host path of the image.
    pub vmlinuz: PathBuf,
}

/// The newest kernel in the root.
pub fn find_kernel(root: &Path) -> Result<Kernel, BootError> {
    let mut found: Vec<Kernel> = Vec::new();
    for modules in ["usr/lib/modules", "lib/modules"] {
        if let Ok(rd) = std::fs::read_dir(rj(root, modules)) {
            for e in rd.flatten() {
                let v = e.file_name().to_string_lossy().into_owned();
                // Debian installs the uncompressed images of ppc64el and riscv64 (an EFI stub
                // there) as /boot/vmlinux-KVER.
                let image = [
                    e.path().join("vmlinuz"),
                    rj(root, format!("boot/vmlinuz-{v}")),
                    rj(root, format!("boot/vmlinux-{v}")),
                ]
                .into_iter()
                .find(|p| p.is_file());
                if let Some(vmlinuz) = image {
                    found.push(Kernel {
                        version: v,
                        vmlinuz,
                    });
                }
            }
        }
    }
    found.sort_by(|a, b| rpmvercmp(&a.version, &b.version));
    found.dedup_by(|a, b| a.version == b.version);
    found.pop().ok_or(BootError::NoKernel)
}

/// Run `argv` in the root (the scriptlet sandbox) and fail with its output if it fails.
fn chroot_run(runner: &ScriptRunner, root: &Path, argv: &[String]) -> Result<String, BootError> {
    let spec = ScriptSpec {
        name: argv.join(" "),
        root: root.to_path_buf(),
        prog: argv.to_vec(),
        ..ScriptSpec::default()
    };
    // kiln's own steps, not scripts: `--script-timeout` does not apply (dracut under
    // emulation may take long); an interrupt still ends them.
    let out = runner.clone().with_timeout(None).run(&spec)?;
    if !out.success() {
        return Err(BootError::Tool {
            cmd: argv.join(" "),
            status: out.status,
            output: out.output,
        });
    }
    Ok(out.output)
}

/// A path of the target as a chroot sees it: symlinks and `..` resolved beneath the root, so
/// a link a package planted (`/var/tmp -> /host/dir`) never makes kiln read or write the host.
fn rj(root: &Path, rel: impl AsRef<Path>) -> PathBuf {
    let rel = rel.as_ref().to_string_lossy();
    crate::fsutil::in_root(root, &format!("/{}", rel.trim_start_matches('/')), true)
}

/// The first of `candidates` (paths inside the root) that exists.
fn first_in_root(root: &Path, candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .find(|c| rj(root, c.trim_start_matches('/')).exists())
        .map(|c| c.to_string())
}

/// How the initramfs is compressed when kiln does it natively: what the kernel unpacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InitrdCodec {
    Zstd,
    Gzip,
}

/// zstd when the kernel's config (beside it in the root) says it unpacks zstd initramfs
/// images, else gzip, which every kernel does.
/// The build configuration of the root's kernel `kver` (`/boot/config-KVER`, or Fedora's
/// `/usr/lib/modules/KVER/config`), when the root has it.
pub fn kernel_config(root: &Path, kver: &str) -> Option<String> {
    [
        format!("boot/config-{kver}"),
        format!("usr/lib/modules/{kver}/config"),
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(rj(root, p)).ok())
}

fn initrd_codec(root: &Path, kver: &str) -> InitrdCodec {
    let cfg = kernel_config(root, kver).unwrap_or_default();
    if cfg.lines().any(|l| l.trim() == "CONFIG_RD_ZSTD=y") {
        InitrdCodec::Zstd
    } else {
        InitrdCodec::Gzip
    }
}

/// Compress the uncompressed cpio `path` in place, on the host.
fn compress_initrd(path: &Path, codec: InitrdCodec) -> Result<(), BootError> {
    use std::io::Write;
    let raw = std::fs::read(path).map_err(IoError::at("read", path))?;
    let tmp = path.with_extension("img.kiln-z");
    let f = std::fs::File::create(&tmp).map_err(IoError::at("create", &tmp))?;
    let w = std::io::BufWriter::with_capacity(1 << 20, f);
    let done = match codec {
        InitrdCodec::Zstd => zstd::stream::Encoder::new(w, 3)
            .and_then(|mut e| {
                e.include_checksum(true)?;
                e.write_all(&raw)?;
                e.finish()
            })
            .and_then(|mut w| w.flush()),
        InitrdCodec::Gzip => {
            let mut e = flate2::write::GzEncoder::new(w, flate2::Compression::new(6));
            e.write_all(&raw)
                .and_then(|()| e.finish())
                .and_then(|mut w| w.flush())
        }
    };
    done.map_err(IoError::at("compress", &tmp))?;
    std::fs::rename(&tmp, path).map_err(IoError::at("replace", path))?;
    Ok(())
}

/// Build the live initramfs with the root's dracut, in the chroot; returns its host path.
/// With `native_compress`, dracut writes it uncompressed and kiln compresses it on the host
/// (zstd when the kernel can unpack it, else gzip).
pub fn make_initramfs(
    root: &Path,
    kver: &str,
    runner: &ScriptRunner,
    native_compress: bool,
) -> Result<PathBuf, BootError> {
    make_initramfs_with(
        root,
        kver,
        runner,
        native_compress,
        None,
        &DracutArgs::Default,
        false,
    )
}

/// kiln's dracut module for EROFS live roots (`templates/erofs-live`), named as dracut's
/// `--add` takes it.
pub const EROFS_MODULE: &str = "kiln-erofs-live";

/// The module's files: kiln's own text.
const EROFS_MODULE_FILES: [(&str, &str); 2] = [
    (
        "module-setup.sh",
        include_str!("templates/erofs-live/module-setup.sh"),
    ),
    (
        "kiln-erofs-live-root.sh",
        include_str!("templates/erofs-live/kiln-erofs-live-root.sh"),
    ),
];

/// The root's dmsquash-live module directory (`.../modules.d/NNdmsquash-live`).
fn live_module_dir(root: &Path) -> Option<PathBuf> {
    ["usr/lib/dracut/modules.d", "lib/dracut/modules.d"]
        .iter()
        .filter_map(|d| std::fs::read_dir(rj(root, d)).ok())
        .flat_map(|rd| rd.flatten())
        .find(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.len() > 2 && &n[2..] == "dmsquash-live"
        })
        .map(|e| e.path())
}

/// Whether the root's dracut mounts an EROFS live root itself: its dmsquash-live scripts
/// handle `erofs` (dracut 103 and later). Read from the scripts rather than the version, so
/// that a distribution's backport counts.
pub fn dracut_mounts_erofs(root: &Path) -> bool {
    let Some(dir) = live_module_dir(root) else {
        return false;
    };
    std::fs::read_dir(&dir)
        .into_iter()
        .flat_map(|rd| rd.flatten())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".sh"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .any(|text| text.contains("erofs"))
}

/// kiln's module in the root's `modules.d` for one dracut run; removed when dropped, so the
/// root (and its image) never keeps it.
struct ErofsModule(PathBuf);

impl ErofsModule {
    fn install(root: &Path) -> Result<ErofsModule, BootError> {
        let live = live_module_dir(root).ok_or_else(|| {
            BootError::NoDracutLive("dracut's dmsquash-live module is not in the root".into())
        })?;
        let modules_d = live.parent().unwrap_or(root);
        // After dmsquash-live (90), whose script it renames.
        let dir = modules_d.join(format!("91{EROFS_MODULE}"));
        let module = ErofsModule(dir);
        for (name, text) in EROFS_MODULE_FILES {
            let path = module.0.join(name);
            crate::fsutil::write_atomic(
                &path,
                text.as_bytes(),
                crate::fsutil::NewFile::root(0o755),
            )
            .map_err(IoError::at("write", &path))?;
        }
        Ok(module)
    }
}

impl Drop for ErofsModule {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!("cannot remove `{}`: {e}", self.0.display());
        }
    }
}

/// dracut's compression options: with one of them among the user's arguments, dracut
/// compresses as told and kiln does not.
const DRACUT_COMPRESS_FLAGS: [&str; 9] = [
    "--gzip",
    "--bzip2",
    "--lzma",
    "--xz",
    "--lzo",
    "--lz4",
    "--zstd",
    "--compress",
    "--no-compress",
];

/// Whether the user's arguments or configuration file choose how dracut compresses.
fn user_compression(dracut: &DracutArgs) -> Result<bool, BootError> {
    Ok(match dracut {
        DracutArgs::Default => false,
        DracutArgs::Args(args) => args.iter().any(|a| {
            let flag = a.split_once('=').map_or(a.as_str(), |(f, _)| f);
            DRACUT_COMPRESS_FLAGS.contains(&flag)
        }),
        DracutArgs::Conf(path) => std::fs::read_to_string(path)
            .map_err(IoError::at("read", path))?
            .lines()
            .map(|l| l.trim_start())
            .any(|l| l.starts_with("compress=") || l.starts_with("compress+=")),
    })
}

/// [`make_initramfs`]; with `source_date_epoch`, dracut runs with `--reproducible` and the
/// epoch in its environment; `dracut` replaces kiln's default arguments. When the user's
/// arguments or file choose a compressor, dracut compresses and `native_compress` is ignored.
/// With `erofs_module`, kiln's [`EROFS_MODULE`] is added for the run (for a root whose dracut
/// does not mount EROFS live roots, [`dracut_mounts_erofs`]).
pub fn make_initramfs_with(
    root: &Path,
    kver: &str,
    runner: &ScriptRunner,
    native_compress: bool,
    source_date_epoch: Option<i64>,
    dracut: &DracutArgs,
    erofs_module: bool,
) -> Result<PathBuf, BootError> {
    let dracut_bin = first_in_root(
        root,
        &["/usr/bin/dracut", "/usr/sbin/dracut", "/sbin/dracut"],
    )
    .ok_or_else(|| BootError::NoDracutLive("dracut is not installed in the root".into()))?;
    let live_module = ["usr/lib/dracut/modules.d", "lib/dracut/modules.d"]
        .iter()
        .filter_map(|d| std::fs::read_dir(rj(root, d)).ok())
        .flat_map(|rd| rd.flatten())
        .any(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.len() > 2 && &n[2..] == "dmsquash-live"
        });
    if !live_module {
        return Err(BootError::NoDracutLive(
            "dracut's dmsquash-live module is not in the root".into(),
        ));
    }
    // As livecd-creator: the live settings stay in the image so a later kernel update
    // rebuilds a live-capable initramfs.
    let conf = crate::fsutil::in_root(root, "/etc/dracut.conf.d/99-liveos.conf", false);
    // Replaced atomically, never written through a link at its name.
    crate::fsutil::write_atomic(
        &conf,
        b"# written by kiln for live media (as livecd-creator does)\nadd_dracutmodules+=\" dmsquash-live \"\nhostonly=\"no\"\n",
        crate::fsutil::NewFile::root(0o644),
    )
    .map_err(IoError::at("write", &conf))?;
    let var_tmp = rj(root, "var/tmp");
    std::fs::create_dir_all(&var_tmp).map_err(IoError::at("create", &var_tmp))?;
    let out_in_root = "/var/tmp/kiln-initramfs.img";
    // The user's file, where dracut in the chroot can read it; removed after the run.
    let conf_in_root = "/var/tmp/kiln-dracut.conf";
    let mut argv: Vec<String> = vec![dracut_bin];
    match dracut {
        DracutArgs::Default => {
            argv.extend(DEFAULT_DRACUT_ARGS.iter().map(|s| s.to_string()));
            argv.extend(["--add".to_string(), initramfs_modules(root)]);
        }
        DracutArgs::Args(args) => argv.extend(args.iter().cloned()),
        DracutArgs::Conf(path) => {
            let text = std::fs::read(path).map_err(IoError::at("read", path))?;
            let host = crate::fsutil::in_root(root, conf_in_root, false);
            crate::fsutil::write_atomic(&host, &text, crate::fsutil::NewFile::root(0o644))
                .map_err(IoError::at("write", &host))?;
            argv.extend(["--conf".to_string(), conf_in_root.to_string()]);
        }
    }
    let native_compress = native_compress && !user_compression(dracut)?;
    if native_compress {
        argv.push("--no-compress".into());
    }
    if source_date_epoch.is_some() {
        argv.push("--reproducible".into());
    }
    let module = match erofs_module {
        true => {
            argv.extend(["--add".to_string(), EROFS_MODULE.to_string()]);
            Some(ErofsModule::install(root)?)
        }
        false => None,
    };
    argv.extend(
        ["--force", "--kver", kver, out_in_root]
            .iter()
            .map(|s| s.to_string()),
    );
    tracing::info!("running dracut for kernel {kver}: {}", argv[1..].join(" "));
    let ran = chroot_run(runner, root, &argv);
    if matches!(dracut, DracutArgs::Conf(_)) {
        let _ = std::fs::remove_file(crate::fsutil::in_root(root, conf_in_root, false));
    }
    drop(module);
    ran?;
    let host = rj(root, out_in_root.trim_start_matches('/'));
    if !host.is_file() {
        return Err(BootError::Tool {
            cmd: argv.join(" "),
            status: 0,
            output: "dracut reported success but wrote no image".into(),
        });
    }
    // A rootless build: the device nodes dracut asked the mknod stand-in for.
    let nodes = initrd_nodes::staged_nodes(&crate::attrs::take_mknod_log(root));
    if !nodes.is_empty() {
        if native_compress {
            let done = initrd_nodes::rewrite(&host, root, &nodes)?;
            tracing::info!(
                "initramfs: {} device node(s) the user namespace refused dracut, and {} copy of kiln's mknod stand-in, made as a root build has them",
                done.nodes,
                done.programs
            );
        } else {
            tracing::warn!(
                "initramfs: dracut compressed it itself, so the {} device node(s) a user namespace refused ({}) are empty files in it",
                nodes.len(),
                nodes.iter().map(|n| n.0.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
    }
    if native_compress {
        let codec = initrd_codec(root, kver);
        let t0 = std::time::Instant::now();
        compress_initrd(&host, codec)?;
        tracing::info!(
            "initramfs compressed natively ({codec:?}) in {:.1} s",
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(host)
}

/// dmsquash-live, plus the network boot modules the root can install: livenet (the root image
/// from a URL, as lorax's PXE images have it) and nbd (netroot), each only when its module
/// and tools are in the root (`dracut-network`, `curl`, `nbd-client`/`nbd`), since an `--add`ed
/// module that cannot be installed fails dracut.
fn initramfs_modules(root: &Path) -> String {
    let has_module = |name: &str| {
        ["usr/lib/dracut/modules.d", "lib/dracut/modules.d"]
            .iter()
            .filter_map(|d| std::fs::read_dir(rj(root, d)).ok())
            .flat_map(|rd| rd.flatten())
            .any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.len() > 2 && &n[2..] == name
            })
    };
    let has_bin = |name: &str| {
        ["usr/bin", "usr/sbin", "bin", "sbin"]
            .iter()
            .any(|d| rj(root, d).join(name).exists())
    };
    let mut m = vec!["dmsquash-live"];
    let livenet =
        has_module("network") && has_module("url-lib") && has_module("livenet") && has_bin("curl");
    let nbd = has_module("network") && has_module("nbd") && has_bin("nbd-client");
    // dracut 059's systemd-networkd module brings the link up but never runs the netroot
    // handlers (nbd, livenet); network-legacy (dhclient) does.
    if (livenet || nbd) && has_module("network-legacy") && has_bin("dhclient") {
        m.push("network-legacy");
    }
    if livenet {
        m.push("livenet");
    }
    if nbd {
        m.push("nbd");
    }
    m.join(" ")
}

fn copy(src: &Path, dst: &Path) -> Result<(), BootError> {
    if let Some(p) = dst.parent() {
        std::fs::create_dir_all(p).map_err(IoError::at("create", p))?;
    }
    std::fs::copy(src, dst).map_err(IoError::at("copy to", dst))?;
    Ok(())
}

/// Substitute `@NAME@` placeholders.
fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut s = template.to_string();
    for (k, v) in vars {
        s = s.replace(&format!("@{k}@"), v);
    }
    s
}

const GRUB_CFG: &str = include_str!("templates/grub.cfg");
const ISOLINUX_CFG: &str = include_str!("templates/isolinux.cfg");

fn template(opts: &BootOptions, name: &str, builtin: &str) -> Result<String, BootError> {
    if let Some(dir) = &opts.templates {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(std::fs::read_to_string(&p).map_err(IoError::at("read", &p))?);
        }
    }
    Ok(builtin.to_string())
}

/// Prepare everything that boots the media, into the staging directory `iso`; `work` is a
/// scratch directory (the EFI partition's staging tree goes there).
pub fn prepare(
    root: &Path,
    iso: &Path,
    work: &Path,
    opts: &BootOptions,
    runner: &ScriptRunner,
) -> Result<BootAssets, BootError> {
    let kernel = find_kernel(root)?;
    let mut assets = BootAssets {
        kernel_version: kernel.version.clone(),
        ..BootAssets::default()
    };
    // dracut before 103 cannot mount an EROFS root image: kiln's module does, always through
    // an overlayfs overlay (no device-mapper snapshot of erofs-ext4's rootfs.img).
    let erofs_module = opts.rootfs_type.is_erofs() && !dracut_mounts_erofs(root);
    if erofs_module {
        tracing::info!(
            "the root's dracut does not mount EROFS live roots (dracut 103 does): adding kiln's \
             `{EROFS_MODULE}` module to the initramfs"
        );
    }
    let cmdline = format!(
        "root=live:CDLABEL={} rd.live.image{}{}",
        opts.label,
        if !opts.rootfs_type.ext4_inside() || erofs_module {
            " rd.live.overlay.overlayfs=1"
        } else {
            ""
        },
        if opts.kernel_args.trim().is_empty() {
            String::new()
        } else {
            format!(" {}", opts.kernel_args.trim())
        }
    );
    assets.cmdline = cmdline.clone();
    let serial = opts
        .arch
        .grub_serial_for
        .is_some_and(|dev| opts.kernel_args.contains(&format!("console={dev}")));
    let timeout = opts.timeout.to_string();
    let timeout_tenths = (opts.timeout * 10).max(1).to_string();
    let vars = [
        ("TITLE", opts.title.as_str()),
        ("LABEL", opts.label.as_str()),
        ("KERNEL", "/images/pxeboot/vmlinuz"),
        ("INITRD", "/images/pxeboot/initrd.img"),
        ("ARGS", cmdline.as_str()),
        ("TIMEOUT", timeout.as_str()),
        ("TIMEOUT10", timeout_tenths.as_str()),
        (
            "SERIAL",
            if serial {
                "serial --unit=0 --speed=115200\nterminal_input console serial\nterminal_output console serial"
            } else {
                ""
            },
        ),
        (
            "ISOLINUX_SERIAL",
            if serial { "serial 0 115200" } else { "" },
        ),
    ];
    let grub_cfg = fill(&template(opts, "grub.cfg", GRUB_CFG)?, &vars);

    // BIOS.
    if opts.arch.grub_bios_target.is_some() {
        if opts.syslinux {
            bios_isolinux(root, iso, &vars, opts, &mut assets)?;
        } else {
            bios_grub(root, iso, &grub_cfg, opts, runner, &mut assets)?;
        }
    }
    // UEFI.
    if opts.arch.efi_boot_file.is_some() {
        efi(root, iso, work, &grub_cfg, opts, runner, &mut assets)?;
    }
    // Open Firmware (CHRP).
    if let Some(target) = opts.arch.grub_ieee1275_target {
        ieee1275::prepare(root, iso, &grub_cfg, target, opts, runner, &mut assets)?;
    }
    // The initramfs last: dracut is the slow part, and a root that lacks a boot loader should
    // fail in seconds, not after it.
    copy(&kernel.vmlinuz, &iso.join(layout::VMLINUZ))?;
    // Compressed by kiln for every arch: dracut's default (`gzip -9`, one core) took longer
    // than the rest of dracut, and for a foreign arch it would also run emulated.
    let initrd = make_initramfs_with(
        root,
        &kernel.version,
        runner,
        true,
        opts.source_date_epoch,
        &opts.dracut,
        erofs_module,
    )?;
    copy(&initrd, &iso.join(layout::INITRD))?;
    let _ = std::fs::remove_file(&initrd);
    // s390x: the kernel is its own boot loader, IPLed with the line and the initramfs.
    if opts.arch.ipl_image {
        s390::lay_out(iso, &cmdline, &mut assets)?;
    }
    Ok(assets)
}

fn bios_grub(
    root: &Path,
    iso: &Path,
    grub_cfg: &str,
    opts: &BootOptions,
    runner: &ScriptRunner,
    assets: &mut BootAssets,
) -> Result<(), BootError> {
    let target = opts.arch.grub_bios_target.unwrap_or("i386-pc");
    let moddir = first_in_root(
        root,
        &[&format!("/usr/lib/grub/{target}"), &format!("/usr/lib/grub2/{target}")],
    )
    .ok_or_else(|| BootError::Missing {
        path: format!("/usr/lib/grub/{target}"),
        hint: "add GRUB's BIOS modules (`grub2-pc-modules` on Fedora, `grub-pc-bin` on Debian), or build with --syslinux".into(),
    })?;
    let mkimage = first_in_root(root, &["/usr/bin/grub2-mkimage", "/usr/bin/grub-mkimage"])
        .ok_or_else(|| BootError::Missing {
            path: "/usr/bin/grub2-mkimage".into(),
            hint: "add `grub2-tools` (Fedora) or `grub-common` (Debian)".into(),
        })?;
    let out_in_root = "/var/tmp/kiln-eltorito.img";
    let argv: Vec<String> = [
        mkimage.as_str(),
        "-O",
        &format!("{target}-eltorito"),
        "-d",
        &moddir,
        "-p",
        &format!("/{}", layout::GRUB_BIOS_DIR),
        "-o",
        out_in_root,
        "iso9660",
        "biosdisk",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    chroot_run(runner, root, &argv)?;
    let img = rj(root, out_in_root.trim_start_matches('/'));
    copy(&img, &iso.join(layout::ELTORITO))?;
    let _ = std::fs::remove_file(&img);
    // The modules GRUB loads at run time, beside its config, as lorax copies them.
    let src = copy_grub_modules(root, &moddir, &iso.join(layout::GRUB_BIOS_DIR).join(target))?;
    let cfg = iso.join(layout::GRUB_BIOS_DIR).join("grub.cfg");
    std::fs::write(&cfg, grub_cfg).map_err(IoError::at("write", &cfg))?;
    let hybrid = src.join("boot_hybrid.img");
    assets.hybrid_mbr = std::fs::read(&hybrid).ok();
    assets.bios_image = Some(layout::ELTORITO.to_string());
    assets.isolinux = false;
    Ok(())
}

fn bios_isolinux(
    root: &Path,
    iso: &Path,
    vars: &[(&str, &str)],
    opts: &BootOptions,
    assets: &mut BootAssets,
) -> Result<(), BootError> {
    let isolinux_bin = first_in_root(
        root,
        &[
            "/usr/share/syslinux/isolinux.bin",
            "/usr/lib/ISOLINUX/isolinux.bin",
            "/usr/lib/syslinux/isolinux.bin",
        ],
    )
    .ok_or_else(|| BootError::Missing {
        path: "isolinux.bin".into(),
        hint: "add `syslinux` (Fedora) or `isolinux` and `syslinux-common` (Debian) to %packages"
            .into(),
    })?;
    let modules = first_in_root(
        root,
        &["/usr/share/syslinux", "/usr/lib/syslinux/modules/bios"],
    )
    .ok_or_else(|| BootError::Missing {
        path: "/usr/lib/syslinux/modules/bios".into(),
        hint: "add `syslinux` (Fedora) or `syslinux-common` (Debian)".into(),
    })?;
    let dir = iso.join(layout::ISOLINUX_DIR);
    copy(
        &rj(root, isolinux_bin.trim_start_matches('/')),
        &dir.join("isolinux.bin"),
    )?;
    for m in [
        "ldlinux.c32",
        "libcom32.c32",
        "libutil.c32",
        "menu.c32",
        "vesamenu.c32",
    ] {
        let p = rj(root, format!("{modules}/{m}"));
        if p.is_file() {
            copy(&p, &dir.join(m))?;
        } else if m == "ldlinux.c32" || m == "menu.c32" {
            return Err(BootError::Missing {
                path: format!("{modules}/{m}"),
                hint: "the syslinux BIOS modules are incomplete in the root".into(),
            });
        }
    }
    let cfg = fill(&template(opts, "isolinux.cfg", ISOLINUX_CFG)?, vars);
    let p = dir.join("isolinux.cfg");
    std::fs::write(&p, cfg).map_err(IoError::at("write", &p))?;
    let mbr = [
        "/usr/share/syslinux/isohdpfx.bin",
        "/usr/lib/ISOLINUX/isohdpfx.bin",
        "/usr/lib/syslinux/mbr/isohdpfx.bin",
    ]
    .iter()
    .map(|c| rj(root, c.trim_start_matches('/')))
    .find(|p| p.is_file());
    assets.hybrid_mbr = mbr.and_then(|p| std::fs::read(p).ok());
    assets.bios_image = Some(format!("{}/isolinux.bin", layout::ISOLINUX_DIR));
    assets.isolinux = true;
    Ok(())
}

fn efi(
    root: &Path,
    iso: &Path,
    work: &Path,
    grub_cfg: &str,
    opts: &BootOptions,
    runner: &ScriptRunner,
    assets: &mut BootAssets,
) -> Result<(), BootError> {
    let boot_file = opts.arch.efi_boot_file.unwrap_or("BOOTX64.EFI");
    let suffix = opts.arch.efi_suffix.unwrap_or("x64");
    let esp = work.join("efiboot");
    let _ = std::fs::remove_dir_all(&esp);
    let esp_boot = esp.join(layout::EFI_DIR);
    std::fs::create_dir_all(&esp_boot).map_err(IoError::at("create", &esp_boot))?;
    if let Some(chain) = signed_chain(root, suffix) {
        // As lorax's efi.tmpl and livecd-creator lay out removable media: shim as the
        // fallback loader, the signed GRUB beside it (shim loads `grub<arch>.efi` from its own
        // directory), MokManager, GRUB's font. Copied byte for byte: nothing is re-signed,
        // and fallback (fbx64.efi) stays off the media, or shim would run it to make boot
        // entries instead of starting GRUB.
        copy(&chain.shim, &esp_boot.join(boot_file))?;
        copy(&chain.grub, &esp_boot.join(format!("grub{suffix}.efi")))?;
        if let Some(mm) = &chain.mm {
            copy(mm, &esp_boot.join(format!("mm{suffix}.efi")))?;
        }
        if let Some(font) = &chain.font {
            copy(font, &esp_boot.join("fonts/unicode.pf2"))?;
        }
        assets.efi_chain = Some(format!(
            "shim + grub from /boot/efi/EFI/{} ({} as grub{suffix}.efi)",
            chain.vendor, chain.grub_name
        ));
    } else {
        // No signed chain laid out for EFI: a GRUB EFI image made by the root's own mkimage.
        let target = opts.arch.grub_efi_target.unwrap_or("x86_64-efi");
        let moddir = first_in_root(
            root,
            &[&format!("/usr/lib/grub/{target}"), &format!("/usr/lib/grub2/{target}")],
        )
        .ok_or_else(|| BootError::Missing {
            path: format!("/usr/lib/grub/{target}"),
            hint: format!("add GRUB's EFI modules (`grub2-efi-{suffix}-modules` on Fedora, `grub-efi-{}-bin` on Debian) or shim + grub2-efi", opts.arch.debian_arch),
        })?;
        let mkimage = first_in_root(root, &["/usr/bin/grub2-mkimage", "/usr/bin/grub-mkimage"])
            .ok_or_else(|| BootError::Missing {
                path: "/usr/bin/grub2-mkimage".into(),
                hint: "add `grub2-tools` (Fedora) or `grub-common` (Debian)".into(),
            })?;
        let wanted = [
            "all_video",
            "boot",
            "cat",
            "chain",
            "configfile",
            "echo",
            "efi_gop",
            "ext2",
            "fat",
            "font",
            "gfxterm",
            "gzio",
            "halt",
            "iso9660",
            "linux",
            "loadenv",
            "loopback",
            "minicmd",
            "normal",
            "part_gpt",
            "part_msdos",
            "reboot",
            "search",
            "search_fs_file",
            "search_fs_uuid",
            "search_label",
            "serial",
            "sleep",
            "test",
            "true",
            "video",
            "efinet",
            "terminal",
        ];
        let mod_host = rj(root, moddir.trim_start_matches('/'));
        let mods: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|m| mod_host.join(format!("{m}.mod")).is_file())
            .collect();
        let out_in_root = "/var/tmp/kiln-grub.efi";
        let mut argv: Vec<String> = [
            mkimage.as_str(),
            "-O",
            target,
            "-d",
            &moddir,
            "-p",
            "/EFI/BOOT",
            "-o",
            out_in_root,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        argv.extend(mods.iter().map(|s| s.to_string()));
        chroot_run(runner, root, &argv)?;
        let img = rj(root, out_in_root.trim_start_matches('/'));
        copy(&img, &esp_boot.join(boot_file))?;
        let _ = std::fs::remove_file(&img);
        assets.efi_chain = Some("grub-mkimage".into());
    }
    let cfg = esp_boot.join("grub.cfg");
    std::fs::write(&cfg, grub_cfg).map_err(IoError::at("write", &cfg))?;
    // The same EFI tree on the ISO itself, as Fedora's media carry it.
    let iso_efi = iso.join(layout::EFI_DIR);
    std::fs::create_dir_all(&iso_efi).map_err(IoError::at("create", &iso_efi))?;
    copy_dir(&esp_boot, &iso_efi)?;
    assets.efi_dir = Some(esp);
    Ok(())
}

/// Copy the regular files of `src` into `dst`, subdirectories included (the ESP's tree is kiln's
/// own, made just above).
/// Copy a GRUB platform's modules and their lists (`*.mod`, `*.lst`) from `moddir` in the
/// root to `dst`, where the image made with that directory as its prefix loads them; returns
/// the platform directory beneath the root.
fn copy_grub_modules(root: &Path, moddir: &str, dst: &Path) -> Result<PathBuf, BootError> {
    let src = rj(root, moddir.trim_start_matches('/'));
    std::fs::create_dir_all(dst).map_err(IoError::at("create", dst))?;
    for e in std::fs::read_dir(&src)
        .map_err(IoError::at("read", &src))?
        .flatten()
    {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.ends_with(".mod") || n.ends_with(".lst") {
            // Each file resolved beneath the root: a module may be a link to a host file.
            copy(&rj(root, format!("{moddir}/{n}")), &dst.join(&n))?;
        }
    }
    Ok(src)
}

fn copy_dir(src: &Path, dst: &Path) -> Result<(), BootError> {
    for e in std::fs::read_dir(src)
        .map_err(IoError::at("read", src))?
        .flatten()
    {
        let path = e.path();
        if path.is_dir() {
            copy_dir(&path, &dst.join(e.file_name()))?;
        } else {
            copy(&path, &dst.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// The Secure Boot chain a Fedora/EL root installs under `/boot/efi/EFI/<vendor>/`
/// (`shim-x64`, `grub2-efi-x64`, `grub2-efi-x64-cdboot`), as host paths beneath the root.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SignedChain {
    /// The vendor directory's name (`fedora`, `redhat`, `debian`...).
    vendor: String,
    /// `shim<arch>.efi` (else `shim.efi`).
    shim: PathBuf,
    /// The GRUB image for the media: `gcd<arch>.efi`, the build for optical media that lorax
    /// and livecd-creator put on ISOs, else `grub<arch>.efi`.
    grub: PathBuf,
    /// Which of the two `grub` is.
    grub_name: String,
    /// MokManager, `mm<arch>.efi`.
    mm: Option<PathBuf>,
    /// GRUB's `fonts/unicode.pf2` beside the images.
    font: Option<PathBuf>,
}

/// The first vendor directory (by name; `EFI/BOOT` is the removable-media path, not a vendor)
/// holding both a shim and a GRUB for `suffix`. Each file is resolved beneath the root, so a
/// vendor directory that is a link never leads to the host's files.
fn signed_chain(root: &Path, suffix: &str) -> Option<SignedChain> {
    let mut vendors: Vec<String> = std::fs::read_dir(rj(root, "boot/efi/EFI"))
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.eq_ignore_ascii_case("BOOT"))
        .collect();
    vendors.sort();
    vendors.into_iter().find_map(|vendor| {
        let file = |name: &str| {
            let p = rj(root, format!("boot/efi/EFI/{vendor}/{name}"));
            p.is_file().then_some(p)
        };
        let shim = file(&format!("shim{suffix}.efi")).or_else(|| file("shim.efi"))?;
        let (grub, grub_name) = [format!("gcd{suffix}.efi"), format!("grub{suffix}.efi")]
            .into_iter()
            .find_map(|n| file(&n).map(|p| (p, n)))?;
        Some(SignedChain {
            mm: file(&format!("mm{suffix}.efi")),
            font: file("fonts/unicode.pf2"),
            vendor,
            shim,
            grub,
            grub_name,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the root's dracut mounts EROFS comes from its dmsquash-live scripts: dracut
    /// 059's mounts `-t squashfs` only; 103's names erofs.
    #[test]
    fn dracut_erofs_support_is_read_from_dmsquash_live() {
        let d = tempfile::tempdir().unwrap();
        assert!(!dracut_mounts_erofs(d.path()));
        let live = d.path().join("usr/lib/dracut/modules.d/90dmsquash-live");
        std::fs::create_dir_all(&live).unwrap();
        let script = live.join("dmsquash-live-root.sh");
        std::fs::write(
            &script,
            "mount -n -t squashfs -o ro \"$SQUASHED_LOOPDEV\" /run/initramfs/squashfs\n",
        )
        .unwrap();
        assert!(!dracut_mounts_erofs(d.path()));
        std::fs::write(
            &script,
            "case $fstype in squashfs|erofs) mount -n -t \"$fstype\" ...;; esac\n",
        )
        .unwrap();
        assert!(dracut_mounts_erofs(d.path()));
    }

    /// kiln's module is in the root only while dracut runs: written next to dmsquash-live,
    /// gone when the guard drops.
    #[test]
    fn erofs_module_is_removed_after_the_run() {
        if !crate::test_support::root_or_skip("the module's files are written owned by root") {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let modules = d.path().join("usr/lib/dracut/modules.d");
        std::fs::create_dir_all(modules.join("90dmsquash-live")).unwrap();
        let module = ErofsModule::install(d.path()).unwrap();
        let dir = modules.join("91kiln-erofs-live");
        let setup = std::fs::read_to_string(dir.join("module-setup.sh")).unwrap();
        assert!(setup.contains("instmods erofs"));
        assert!(dir.join("kiln-erofs-live-root.sh").is_file());
        drop(module);
        assert!(!dir.exists());
        assert!(modules.join("90dmsquash-live").is_dir());
    }

    #[test]
    fn newest_kernel_wins() {
        let d = tempfile::tempdir().unwrap();
        for v in ["6.1.0-9-amd64", "6.1.0-10-amd64"] {
            let m = d.path().join("usr/lib/modules").join(v);
            std::fs::create_dir_all(&m).unwrap();
            std::fs::write(m.join("vmlinuz"), v).unwrap();
        }
        assert_eq!(find_kernel(d.path()).unwrap().version, "6.1.0-10-amd64");
        let e = tempfile::tempdir().unwrap();
        assert!(matches!(find_kernel(e.path()), Err(BootError::NoKernel)));
        // Debian's ppc64el layout: modules in /usr/lib/modules, the ELF kernel in /boot.
        let p = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(p.path().join("usr/lib/modules/6.1.0-28-powerpc64le")).unwrap();
        std::fs::create_dir_all(p.path().join("boot")).unwrap();
        std::fs::write(p.path().join("boot/vmlinux-6.1.0-28-powerpc64le"), "ELF").unwrap();
        let k = find_kernel(p.path()).unwrap();
        assert!(k.vmlinuz.ends_with("boot/vmlinux-6.1.0-28-powerpc64le"));
    }

    /// Debian's riscv64 kernel package (trixie's linux-image-*-riscv64): the image is
    /// /boot/vmlinux-KVER, the modules under /usr/lib/modules/KVER.
    #[test]
    fn debian_riscv64_vmlinux_is_found() {
        let d = tempfile::tempdir().unwrap();
        let v = "6.12.117+deb13-riscv64";
        std::fs::create_dir_all(d.path().join("usr/lib/modules").join(v)).unwrap();
        std::fs::create_dir_all(d.path().join("boot")).unwrap();
        let image = d.path().join(format!("boot/vmlinux-{v}"));
        std::fs::write(&image, "MZ").unwrap();
        let k = find_kernel(d.path()).unwrap();
        assert_eq!((k.version.as_str(), k.vmlinuz), (v, image));
    }

    /// lorax's own vectors for its `dracut_args` (tests/pylorax/test_creator.py): split at
    /// the first space only; the file wins over the arguments.
    #[test]
    fn dracut_flags_as_livemedia_creator_reads_them() {
        let args: Vec<String> = [
            "--xz",
            "--omit plymouth",
            "--add livenet dmsquash-live dmsquash-live-ntfs",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            DracutArgs::from_flags(&args, None),
            DracutArgs::Args(
                [
                    "--xz",
                    "--omit",
                    "plymouth",
                    "--add",
                    "livenet dmsquash-live dmsquash-live-ntfs"
                ]
                .iter()
                .map(|s| s.to_string())
                .collect()
            )
        );
        let conf = Path::new("/var/tmp/project/lmc-dracut.conf");
        assert_eq!(
            DracutArgs::from_flags(&args, Some(conf)),
            DracutArgs::Conf(conf.to_path_buf())
        );
        assert_eq!(DracutArgs::from_flags(&[], None), DracutArgs::Default);
        assert!(user_compression(&DracutArgs::from_flags(&args, None)).unwrap());
        let plain = DracutArgs::from_flags(&["--omit plymouth".to_string()], None);
        assert!(!user_compression(&plain).unwrap());
        let eq = DracutArgs::from_flags(&["--compress=zstd".to_string()], None);
        assert!(user_compression(&eq).unwrap());
    }

    #[test]
    fn signed_chain_as_lorax_picks_it() {
        let d = tempfile::tempdir().unwrap();
        let put = |rel: &str| {
            let p = d.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, rel).unwrap();
        };
        // shim-x64's removable-media copy is no vendor directory.
        put("boot/efi/EFI/BOOT/BOOTX64.EFI");
        put("boot/efi/EFI/BOOT/fbx64.efi");
        put("boot/efi/EFI/debian/shimx64.efi");
        put("boot/efi/EFI/debian/mmx64.efi");
        assert_eq!(signed_chain(d.path(), "x64"), None, "a shim without a GRUB");
        put("boot/efi/EFI/debian/grubx64.efi");
        let c = signed_chain(d.path(), "x64").unwrap();
        assert_eq!(
            (c.vendor.as_str(), c.grub_name.as_str()),
            ("debian", "grubx64.efi")
        );
        assert!(c.mm.is_some() && c.font.is_none());
        // grub2-efi-x64-cdboot's image is the one for media.
        put("boot/efi/EFI/debian/gcdx64.efi");
        assert_eq!(
            signed_chain(d.path(), "x64").unwrap().grub_name,
            "gcdx64.efi"
        );
        assert_eq!(signed_chain(d.path(), "aa64"), None);
    }

    #[test]
    fn templates_fill() {
        assert_eq!(fill("a @X@ b @X@", &[("X", "1")]), "a 1 b 1");
    }
}
