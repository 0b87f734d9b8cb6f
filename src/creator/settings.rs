//! What a build is asked to make: the stages, the validated settings the CLI builds from flags
//! and kickstart, the outputs they select, and the report a build gives back.

use std::path::PathBuf;

use crate::arch::ArchInfo;
use crate::kickstart::Kickstart;
use crate::media::{disk, live, netboot, Artifact, Output};

/// A stage of the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Stage {
    /// Work directories, `%pre`.
    Prepare,
    /// Resolve, download, install the packages.
    Install,
    /// Kickstart configuration and `%post`.
    Configure,
    /// Boot assets: initramfs, boot loaders, menus.
    Finalize,
    /// Images: squashfs, EFI image, ISO.
    Package,
}

impl Stage {
    /// All stages in order.
    pub const ALL: [Stage; 5] = [
        Stage::Prepare,
        Stage::Install,
        Stage::Configure,
        Stage::Finalize,
        Stage::Package,
    ];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Prepare => "prepare",
            Stage::Install => "install",
            Stage::Configure => "configure",
            Stage::Finalize => "finalize",
            Stage::Package => "package",
        }
    }

    /// Parse a CLI name.
    pub fn from_name(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|st| st.name() == s)
    }
}

/// Everything a build needs, validated (the CLI builds it from flags + kickstart).
#[derive(Debug, Clone)]
pub struct BuildSettings {
    /// The kickstart file (kept with the results).
    pub ks_path: PathBuf,
    /// The parsed kickstart.
    pub ks: Kickstart,
    /// Target arch.
    pub arch: &'static ArchInfo,
    /// Resolution options.
    pub resolve: crate::resolve::ResolveOptions,
    /// Package signature checking (`--gpgcheck`, `--gpgkey`, `--nogpgcheck`).
    pub gpg: crate::repo::GpgOptions,
    /// Parallel downloads.
    pub jobs: usize,
    /// Where results go.
    pub resultdir: PathBuf,
    /// Where the work directory is made.
    pub tmpdir: PathBuf,
    /// Volume label (`-f/--fslabel`), also the ISO's base name.
    pub label: String,
    /// Menu title (`--title`).
    pub title: String,
    /// Product name (`--product`).
    pub product: String,
    /// squashfs codec options; its `block_store` (the persistent block store, `None`: off)
    /// serves the EROFS root image and the precompressor too.
    pub squashfs: crate::media::SquashfsOptions,
    /// How big the block store may grow (`--block-cache-size`); `None`: twice the largest
    /// image it has seen (`media::block_store::default_limit`).
    pub block_store_limit: Option<u64>,
    /// What LiveOS/squashfs.img is (`--rootfs-type`): squashfs or EROFS, of the root or of an
    /// ext4 LiveOS/rootfs.img (livecd-creator's classic layout).
    pub rootfs_type: crate::media::RootfsType,
    /// The EROFS root image's settings (`--erofs-compression`, `--erofs-pcluster`); its
    /// compression `None` until the install: then the target kernel's best.
    pub erofs: crate::media::live::ErofsRoot,
    /// ext4 image size in MiB (`part / --size`).
    pub rootfs_size_mb: u64,
    /// ISOLINUX for BIOS instead of GRUB.
    pub syslinux: bool,
    /// Boot menu templates.
    pub templates: Option<PathBuf>,
    /// Extra kernel arguments (`--kernel-args` + `bootloader --append`).
    pub kernel_args: String,
    /// Menu timeout.
    pub timeout: u32,
    /// Keep the work directory.
    pub nocleanup: bool,
    /// `SOURCE_DATE_EPOCH`.
    pub source_date_epoch: Option<i64>,
    /// Only the root image, no ISO (`--image-only`).
    pub image_only: bool,
    /// Keep the root image beside the ISO (`--keep-image`).
    pub keep_image: bool,
    /// Run no scriptlets (debugging).
    pub no_scripts: bool,
    /// Do not check the packages' header and payload digests (`--nodigest`).
    pub no_digest: bool,
    /// What to make besides (or instead of) the ISO.
    pub outputs: Outputs,
    /// Reuse this image's root instead of installing and configuring (`--fs-image`: an ext4
    /// image; `--disk-image`: a raw GPT disk, its Linux root partition).
    pub reuse: Option<Reuse>,
    /// dracut's arguments for the live initramfs (`--dracut-arg`, `--dracut-conf`).
    pub dracut: crate::boot::DracutArgs,
    /// The network chroot `%post` gets (`--post-network`).
    pub post_network: crate::configure::PostNetwork,
}

/// An existing image to build from (livemedia-creator's `--fs-image` / `--disk-image`).
#[derive(Debug, Clone)]
pub enum Reuse {
    /// A file system image.
    FsImage(PathBuf),
    /// A raw GPT disk image.
    DiskImage(PathBuf),
}

/// The media a build makes; any combination, all from one installed root.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// The live ISO.
    pub iso: bool,
    /// `--make-pxe-live`: kernel, initrd, root image and PXE/GRUB netboot configs.
    pub pxe_live: bool,
    /// `--make-netroot`: a netroot tree (nbd-server export + pxelinux).
    pub netroot: bool,
    /// `--make-disk`: a GPT disk (ESP + ext4 root) booting with UEFI.
    pub disk: bool,
    /// The disk as qcow2 (`--qcow2`).
    pub qcow2: bool,
    /// `--make-fsimage`: an ext4 image of the root.
    pub fsimage: bool,
    /// `--make-tar`: a tar archive of the root.
    pub tar: bool,
    /// The tar compressor (`tar --use-compress-program`; empty: none) and file suffix.
    pub tar_compressor: (String, String),
}

/// What a build did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BuildReport {
    /// Stage timings.
    pub stages: Vec<(String, f64)>,
    /// Installed packages.
    pub packages: Vec<String>,
    /// Artifacts.
    pub artifacts: Vec<Artifact>,
    /// Warnings collected on the way.
    pub warnings: Vec<String>,
    /// Boot details.
    pub boot: Option<crate::boot::BootAssets>,
    /// Seconds spent running target programs in the root (scriptlets, `%post`, dracut,
    /// grub-mkimage); under emulation when `emulation` is set.
    pub target_code_secs: f64,
    /// How target code ran when the target arch is not the host's (the binfmt entry used).
    pub emulation: Option<String>,
    /// How the block store and the precompressor served the root image (none written, or
    /// neither in use: `None`).
    pub block_cache: Option<crate::media::block_store::CacheUse>,
}

/// The outputs the settings ask for, in the order their artifacts are listed.
pub(super) fn selected_outputs(settings: &BuildSettings) -> Vec<Box<dyn Output>> {
    let (wanted, label) = (&settings.outputs, &settings.label);
    let mut outputs: Vec<Box<dyn Output>> = Vec::new();
    if settings.image_only || settings.keep_image {
        outputs.push(Box::new(live::RootImageFile {
            move_out: settings.image_only,
            rootfs_type: settings.rootfs_type,
        }));
    }
    if settings.image_only {
        return outputs;
    }
    if wanted.iso {
        outputs.push(Box::new(live::LiveIso {
            label: label.clone(),
            product: settings.product.clone(),
            source_date_epoch: settings.source_date_epoch,
        }));
    }
    if wanted.pxe_live {
        outputs.push(Box::new(netboot::PxeLive {
            label: label.clone(),
            kernel_args: settings.kernel_args.clone(),
        }));
    }
    if wanted.netroot {
        outputs.push(Box::new(netboot::Netroot {
            resultdir: settings.resultdir.clone(),
            label: label.clone(),
            kernel_args: settings.kernel_args.clone(),
        }));
    }
    if wanted.disk {
        outputs.push(Box::new(disk::Disk {
            label: label.clone(),
            title: settings.title.clone(),
            kernel_args: settings.kernel_args.clone(),
            arch: settings.arch,
            rootfs_size_mb: settings.rootfs_size_mb,
            source_date_epoch: settings.source_date_epoch,
            qcow2: wanted.qcow2,
        }));
    }
    if wanted.fsimage {
        outputs.push(Box::new(disk::FsImage {
            label: label.clone(),
            rootfs_size_mb: settings.rootfs_size_mb,
            source_date_epoch: settings.source_date_epoch,
        }));
    }
    if wanted.tar {
        outputs.push(Box::new(disk::Tar {
            label: label.clone(),
            compressor: wanted.tar_compressor.clone(),
        }));
    }
    outputs
}
