//! livemedia-creator's command line (lorax) for `--no-virt` live media, as Koji's
//! LiveMediaTask runs it: `--ks KS --logfile DIR/lmc-logs/livemedia-out.log --no-virt
//! --resultdir DIR/lmc --project NAME --make-iso --volid V --iso-only --iso-name N.iso
//! --releasever VER --macboot|--nomacboot` and, as the task's options say,
//! `--extra-boot-args`, `--lorax-templates`, `--squashfs-only`, `--compress-arg`.

use std::path::PathBuf;
use std::time::Duration;

use super::{compressor, log_dir, Plan};

/// livemedia-creator (`--no-virt`): live media from a kickstart, built by kiln.
#[derive(Debug, clap::Parser)]
#[command(
    name = "livemedia-creator",
    about = "Creates live media from a kickstart: livemedia-creator's options for --no-virt \
             media, built by kiln (no Anaconda, no VM).",
    after_help = "VM and installer options (--iso, --location, --ram, --vcpus, --vnc, \
                  --kernel-args, --ovmf-path, --virt-uefi, --no-kvm, --with-rng, \
                  --anaconda-arg, --qemu-arg) are accepted and ignored with one warning, as \
                  livemedia-creator ignores them under --no-virt. KILN_COMPAT_DRY_RUN=1 prints \
                  the kiln build these options amount to instead of building.",
    group = clap::ArgGroup::new("action").required(true).multiple(false)
)]
pub struct Args {
    /// Make a live ISO.
    #[arg(long, group = "action")]
    pub make_iso: bool,
    /// Make a PXE live tree: kernel, initramfs, root image, PXE_CONFIG (kiln: LABEL-pxe/).
    #[arg(long, group = "action")]
    pub make_pxe_live: bool,
    /// Make an ext4 file system image of the root.
    #[arg(long, group = "action")]
    pub make_fsimage: bool,
    /// Make a tar archive of the root (compressed as --compression says).
    #[arg(long, group = "action")]
    pub make_tar: bool,
    /// Make a partitioned disk image (GPT: EFI system partition + ext4 root).
    #[arg(long, group = "action")]
    pub make_disk: bool,
    /// The kickstart.
    #[arg(long, value_name = "KS")]
    pub ks: Vec<String>,
    /// Build without a VM (kiln always does).
    #[arg(long)]
    pub no_virt: bool,
    /// Keep only the ISO, named --iso-name, in --resultdir.
    #[arg(long)]
    pub iso_only: bool,
    /// The ISO's name with --iso-only.
    #[arg(long, default_value = "boot.iso", value_name = "ISO_NAME")]
    pub iso_name: String,
    /// Volume id (default: PROJECT-RELEASEVER-ARCH), at most 32 characters.
    #[arg(long, value_name = "VOLID")]
    pub volid: Option<String>,
    /// Product name: the boot menus' and the ISO's.
    #[arg(long, default_value = "Linux", value_name = "PROJECT")]
    pub project: String,
    /// Release version: $releasever in repository URLs, and the default volume id's.
    #[arg(long, value_name = "RELEASEVER")]
    pub releasever: Option<String>,
    /// Title of the boot menus.
    #[arg(long, default_value = "Linux Live Media", value_name = "TITLE")]
    pub title: String,
    /// Arguments added to the kernel command line of the boot entries (one pair of quotes
    /// around them, as Koji adds, is removed).
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub extra_boot_args: Option<String>,
    /// Bootable on UEFI Macs: kiln makes no HFS+ image; Macs boot its EFI image.
    #[arg(long, overrides_with = "nomacboot")]
    pub macboot: bool,
    /// No Mac boot image (kiln makes none anyway).
    #[arg(long)]
    pub nomacboot: bool,
    /// The root directly in LiveOS/squashfs.img (as --rootfs-type squashfs).
    #[arg(long)]
    pub squashfs_only: bool,
    /// What LiveOS/squashfs.img is: squashfs, squashfs-ext4, erofs, erofs-ext4.
    #[arg(long, default_value = "squashfs", value_name = "TYPE",
          value_parser = ["squashfs", "squashfs-ext4", "erofs", "erofs-ext4"])]
    pub rootfs_type: String,
    /// Compressor: xz, zstd, gzip, lz4 (lzo is refused).
    #[arg(long, default_value = "xz", value_name = "COMPRESSION")]
    pub compression: String,
    /// Argument for the compressor, mksquashfs style (`-Xbcj x86`, `-b 1M`); repeatable.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub compress_arg: Vec<String>,
    /// Argument for dracut (replaces kiln's defaults); repeatable.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub dracut_arg: Vec<String>,
    /// A dracut.conf for the live initramfs.
    #[arg(long, value_name = "FILE")]
    pub dracut_conf: Option<PathBuf>,
    /// Temporary directory.
    #[arg(long, default_value = "/var/tmp", value_name = "TMP")]
    pub tmp: PathBuf,
    /// Result directory; it must not exist (default: a new lmc-result-* in --tmp).
    #[arg(long = "resultdir", value_name = "RESULT_DIR")]
    pub resultdir: Option<PathBuf>,
    /// Log file (its directory is created).
    #[arg(long, default_value = "./livemedia.log", value_name = "LOGFILE")]
    pub logfile: PathBuf,
    /// Name of the fsimage, disk image or tar file.
    #[arg(long, value_name = "IMAGE_NAME")]
    pub image_name: Option<String>,
    /// Label of the fsimage or disk image's root file system.
    #[arg(long, default_value = "Anaconda", value_name = "LABEL")]
    pub fs_label: String,
    /// Stop the build after this many minutes.
    #[arg(long, value_name = "MINUTES")]
    pub timeout: Option<u64>,
    /// Proxy for the downloads (http_proxy/https_proxy).
    #[arg(long, value_name = "PROXY")]
    pub proxy: Option<String>,
    /// lorax templates: not supported by kiln (an error says what to use instead).
    #[arg(long, value_name = "DIR")]
    pub lorax_templates: Option<String>,
    /// Target architecture (kiln builds foreign ones through qemu-user).
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Build from this ext4 file system image instead of installing.
    #[arg(long, value_name = "FS_IMAGE")]
    pub fs_image: Option<PathBuf>,
    /// Build from this disk image's root partition instead of installing.
    #[arg(long, value_name = "DISK_IMAGE")]
    pub disk_image: Option<PathBuf>,
    /// Keep the root image beside the ISO.
    #[arg(long)]
    pub keep_image: bool,
    /// Only the root image, no ISO.
    #[arg(long)]
    pub image_only: bool,
    /// With --make-disk: qcow2 instead of raw.
    #[arg(long)]
    pub qcow2: bool,
    // VM and installer options: accepted, ignored (one warning).
    #[arg(long, hide = true)]
    iso: Option<String>,
    #[arg(long, hide = true)]
    location: Option<String>,
    #[arg(long, hide = true)]
    ram: Option<String>,
    #[arg(long, hide = true)]
    vcpus: Option<String>,
    #[arg(long, hide = true)]
    vnc: Option<String>,
    #[arg(long, hide = true, allow_hyphen_values = true)]
    kernel_args: Option<String>,
    #[arg(long, hide = true)]
    ovmf_path: Option<String>,
    #[arg(long, hide = true)]
    virt_uefi: bool,
    #[arg(long, hide = true)]
    no_kvm: bool,
    #[arg(long, hide = true)]
    with_rng: Option<String>,
    #[arg(long, hide = true, allow_hyphen_values = true)]
    anaconda_arg: Vec<String>,
    #[arg(long, hide = true, allow_hyphen_values = true)]
    qemu_arg: Vec<String>,
}

/// The kiln build `a` amounts to.
pub fn plan(a: &Args) -> Result<Plan, String> {
    if let Some(dir) = &a.lorax_templates {
        return Err(format!(
            "--lorax-templates {dir}: kiln runs no lorax templates (it lays out the media \
             itself); give boot menu templates (grub.cfg, isolinux.cfg) to `kiln build \
             --templates DIR`, and dracut's settings with --dracut-arg or --dracut-conf"
        ));
    }
    let ks = match a.ks.as_slice() {
        [ks] => ks.clone(),
        [] => return Err("--ks is required: the kickstart to build".into()),
        _ => return Err("kiln takes one --ks".into()),
    };
    let mut p = Plan::build();
    p.opt("--ks", &ks);
    if let Some(arch) = &a.arch {
        p.opt("--arch", arch);
    }
    let arch = a.arch.as_deref().unwrap_or(std::env::consts::ARCH);
    let label = if a.make_iso || a.make_pxe_live {
        match &a.volid {
            Some(v) => v.clone(),
            None => match &a.releasever {
                Some(r) => format!("{}-{r}-{arch}", a.project),
                None => format!("{}-{arch}", a.project),
            },
        }
    } else {
        a.fs_label.clone()
    };
    if label.len() > 32 {
        return Err(format!(
            "the volume id `{label}` is longer than 32 characters"
        ));
    }
    p.opt("-f", &label);
    p.opt("--product", &a.project);
    p.opt("--title", &a.title);
    if let Some(v) = &a.releasever {
        p.opt("--releasever", v);
    }
    for (given, flag) in [
        (a.make_iso, "--make-iso"),
        (a.make_pxe_live, "--make-pxe-live"),
        (a.make_fsimage, "--make-fsimage"),
        (a.make_tar, "--make-tar"),
        (a.make_disk, "--make-disk"),
    ] {
        if given {
            p.flag(flag);
        }
    }
    if let Some(args) = &a.extra_boot_args {
        p.opt("--kernel-args", unquote(args));
    }
    if a.macboot {
        p.notes.push(
            "--macboot: kiln makes no HFS+ Mac boot image; UEFI Macs boot the ISO's EFI image"
                .into(),
        );
    } else if a.nomacboot {
        p.notes
            .push("--nomacboot: kiln makes no Mac boot image in any case".into());
    }
    if a.squashfs_only && a.rootfs_type != "squashfs" {
        return Err(format!(
            "--squashfs-only and --rootfs-type {} ask for different root images",
            a.rootfs_type
        ));
    }
    p.opt("--rootfs-type", &a.rootfs_type);
    p.opt(
        "--compression",
        compressor("--compression", &a.compression)?,
    );
    for c in &a.compress_arg {
        p.opt("--compress-arg", c);
    }
    for d in &a.dracut_arg {
        p.opt("--dracut-arg", d);
    }
    if let Some(c) = &a.dracut_conf {
        p.opt("--dracut-conf", c);
    }
    p.opt("--tmpdir", &a.tmp);
    p.resultdir = match &a.resultdir {
        Some(dir) if dir.exists() => {
            return Err(format!(
                "The results_dir ({}) should not exist, please delete or move its contents",
                dir.display()
            ))
        }
        Some(dir) => dir.clone(),
        None => tempfile::Builder::new()
            .prefix("lmc-result-")
            .tempdir_in(&a.tmp)
            .map_err(|e| format!("cannot make a result directory in {}: {e}", a.tmp.display()))?
            .keep(),
    };
    p.opt("--resultdir", p.resultdir.clone());
    p.opt("--logfile", &a.logfile);
    p.dirs.extend(log_dir(&a.logfile));
    for (path, flag) in [(&a.fs_image, "--fs-image"), (&a.disk_image, "--disk-image")] {
        if let Some(path) = path {
            p.opt(flag, path);
        }
    }
    for (given, flag) in [
        (a.keep_image, "--keep-image"),
        (a.image_only, "--image-only"),
        (a.qcow2, "--qcow2"),
    ] {
        if given {
            p.flag(flag);
        }
    }
    p.timeout = a.timeout.map(|m| Duration::from_secs(m * 60));
    if let Some(proxy) = &a.proxy {
        for key in ["http_proxy", "https_proxy"] {
            p.env.push((key.into(), proxy.clone()));
        }
    }
    renames(a, &label, &mut p);
    let ignored = ignored_options(a);
    if !ignored.is_empty() {
        p.notes.push(format!(
            "warning: ignored: {} (kiln installs without a VM or Anaconda, as \
             livemedia-creator --no-virt does, which ignores them too)",
            ignored.join(", ")
        ));
    }
    Ok(p)
}

/// Where livemedia-creator leaves what kiln names `LABEL...`.
fn renames(a: &Args, label: &str, p: &mut Plan) {
    let iso = format!("{label}.iso");
    if a.make_iso && !a.image_only {
        let to = match a.iso_only {
            true => a.iso_name.clone(),
            // livemedia-creator's tree keeps its ISO under images/.
            false => "images/boot.iso".to_string(),
        };
        p.renames.push((iso, to));
    }
    let Some(name) = &a.image_name else {
        return;
    };
    let from = if a.make_tar {
        let (_, suffix) = kiln::media::disk::tar_compressor(&a.compression);
        format!("{label}-root.{suffix}")
    } else if a.make_fsimage {
        format!("{label}-rootfs.img")
    } else if a.make_disk {
        format!("{label}-disk.{}", if a.qcow2 { "qcow2" } else { "raw" })
    } else {
        p.notes.push(format!(
            "--image-name {name}: used for fsimage, disk and tar images only"
        ));
        return;
    };
    p.renames.push((from, name.clone()));
}

/// The VM and installer options given.
fn ignored_options(a: &Args) -> Vec<&'static str> {
    [
        (a.iso.is_some(), "--iso"),
        (a.location.is_some(), "--location"),
        (a.ram.is_some(), "--ram"),
        (a.vcpus.is_some(), "--vcpus"),
        (a.vnc.is_some(), "--vnc"),
        (a.kernel_args.is_some(), "--kernel-args"),
        (a.ovmf_path.is_some(), "--ovmf-path"),
        (a.virt_uefi, "--virt-uefi"),
        (a.no_kvm, "--no-kvm"),
        (a.with_rng.is_some(), "--with-rng"),
        (!a.anaconda_arg.is_empty(), "--anaconda-arg"),
        (!a.qemu_arg.is_empty(), "--qemu-arg"),
    ]
    .into_iter()
    .filter_map(|(given, name)| given.then_some(name))
    .collect()
}

/// One pair of double quotes around the whole value removed: Koji's LiveMediaTask passes
/// `"\"%s\"" % append` as one argument, without a shell to take them off.
fn unquote(text: &str) -> &str {
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn koji_quotes_come_off() {
        assert_eq!(unquote("\"console=ttyS0 quiet\""), "console=ttyS0 quiet");
        assert_eq!(unquote("console=ttyS0"), "console=ttyS0");
    }
}
