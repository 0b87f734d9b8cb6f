//! Live media with an EROFS root (`kiln build --rootfs-type erofs|erofs-ext4`) on the fixtures'
//! Debian 12 root, whose dracut 059 mounts the root image as squashfs only (kiln adds its own
//! dracut module) and whose kernel reads EROFS lz4/lz4hc only (so kiln picks lz4hc):
//!
//! - the image on the ISO, extracted with xorriso, checked by erofs-utils (`dump.erofs`,
//!   `fsck.erofs --extract`) and mounted by the kernel's erofs, against the root as GNU tar
//!   archived it (`--make-tar` of the same build); the initramfs by `lsinitrd`;
//! - that one ISO booted BIOS and UEFI, CD and USB (TCG) to the fixture's `KILN-BOOT-OK` with
//!   the build's package count, the kernel saying it mounted EROFS;
//! - one `erofs-ext4` build and boot (the aarch64 EROFS build and boot are in build_aarch64.rs,
//!   which test.sh runs one at a time with the other foreign-arch builds);
//! - two `SOURCE_DATE_EPOCH` builds give the same ISO;
//! - `--erofs-compression lzma`, which the Debian kernel cannot read, fails right after the
//!   install naming `CONFIG_EROFS_FS_ZIP_LZMA`.
//!
//! Needs root, the fixtures, xorriso, erofs-utils, dracut (lsinitrd), qemu-system-x86 and OVMF.

mod common;
#[path = "common/tree.rs"]
mod tree;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use common::{run_ok, Built};
use tree::Node;

const LABEL: &str = "KILN-EROFS";

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// A missing tool: a failure under CI, else a skip.
fn need(tool: &str, package: &str) -> bool {
    if Path::new(tool).exists() {
        return true;
    }
    if ci() {
        panic!("{tool} missing (apt-get install {package})");
    }
    eprintln!("SKIP: {tool} missing (apt-get install {package})");
    false
}

/// The EROFS build (no `--erofs-compression`: the kernel's rule picks lz4hc), with the root as
/// a tar beside the ISO, `SOURCE_DATE_EPOCH` set: made once for every test of this binary and
/// its reruns ([`common::build_live_shared`]).
fn erofs_build() -> Option<&'static (Built, String)> {
    static B: OnceLock<Option<(Built, String)>> = OnceLock::new();
    B.get_or_init(|| {
        let fx = common::fixtures()?;
        let t0 = Instant::now();
        let (built, _, stderr) = common::build_live_shared(
            "live-x86_64-erofs",
            &fx.join("ks/live-x86_64.ks"),
            LABEL,
            &["--rootfs-type", "erofs", "--make-tar"],
            &[("SOURCE_DATE_EPOCH", common::LIVE_EPOCH)],
        );
        eprintln!(
            "EROFS build (or its cached copy): {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        Some((built, stderr))
    })
    .as_ref()
}

fn extract(iso: &Path, path: &str, to: &Path) {
    let _ = std::fs::remove_file(to);
    run_ok(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(iso)
            .args(["-extract", path])
            .arg(to),
    );
}

/// A read-only kernel mount of an EROFS image, unmounted (and its loop device freed) on drop.
struct ErofsMount(PathBuf);

impl ErofsMount {
    fn new(image: &Path, at: &Path) -> ErofsMount {
        std::fs::create_dir_all(at).unwrap();
        run_ok(
            Command::new("mount")
                .args(["-t", "erofs", "-o", "loop,ro"])
                .arg(image)
                .arg(at),
        );
        ErofsMount(at.to_owned())
    }
}

impl Drop for ErofsMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// `tree` without the root directory itself (an extraction directory's own metadata is not
/// the image's).
fn entries(dir: &Path) -> BTreeMap<String, Node> {
    let mut t = tree::tree(dir);
    t.remove("/");
    t
}

/// `dump.erofs` superblock field `name`.
fn superblock_field(dump: &str, name: &str) -> String {
    dump.lines()
        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("dump.erofs printed no `{name}`:\n{dump}"))
}

#[test]
fn erofs_root_image_reads_back_as_the_root_with_erofs_utils_and_the_kernel() {
    if !common::require(
        common::is_root(),
        "root: the kernel's erofs mount of a loop device",
    ) {
        return;
    }
    let Some((b, _)) = erofs_build() else {
        return;
    };
    if !need("/usr/bin/xorriso", "xorriso")
        || !need("/usr/bin/fsck.erofs", "erofs-utils")
        || !need("/usr/bin/lsinitrd", "dracut")
    {
        return;
    }
    // The kernel's rule: Debian's 6.1 has no CONFIG_EROFS_FS_ZIP_LZMA, so lz4hc; and kiln's
    // dracut module, dracut 059 lacking EROFS support.
    let log = std::fs::read_to_string(b.work.join("out/build.log")).unwrap();
    assert!(
        log.contains("EROFS root image: lz4hc,9 (what kernel"),
        "the build did not settle on lz4hc for the Debian kernel (out/build.log)"
    );
    assert!(
        log.contains("adding kiln's `kiln-erofs-live` module"),
        "no kiln-erofs-live module for dracut 059 (out/build.log)"
    );
    let dir = b.work.join("check");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let img = dir.join("squashfs.img");
    extract(&b.iso, "/LiveOS/squashfs.img", &img);
    let blkid = run_ok(
        Command::new("blkid")
            .args(["-o", "value", "-s", "TYPE"])
            .arg(&img),
    );
    assert_eq!(blkid.trim(), "erofs", "blkid of LiveOS/squashfs.img");

    // erofs-utils: the superblock, and every file decoded (fsck checks each extent).
    let dump = run_ok(Command::new("dump.erofs").arg(&img));
    assert_eq!(
        superblock_field(&dump, "Filesystem magic number:"),
        "0xE0F5E1E2"
    );
    let fsck_dir = dir.join("fsck");
    run_ok(
        Command::new("fsck.erofs")
            .arg(format!("--extract={}", fsck_dir.display()))
            .arg(&img),
    );

    // The root as tar archived it (same build, same root).
    let tar = b.work.join(format!("out/{LABEL}-root.tar.zst"));
    let root_dir = dir.join("root");
    std::fs::create_dir_all(&root_dir).unwrap();
    run_ok(
        Command::new("tar")
            .args([
                "--extract",
                "--numeric-owner",
                "--preserve-permissions",
                "--xattrs",
                "--xattrs-include=*",
                "--acls",
                "--use-compress-program",
                "zstd -d",
                "--file",
            ])
            .arg(&tar)
            .arg("-C")
            .arg(&root_dir),
    );
    let mut root = entries(&root_dir);
    // Reproducible builds clamp every mtime to SOURCE_DATE_EPOCH.
    let epoch: i64 = common::LIVE_EPOCH.parse().unwrap();
    for n in root.values_mut() {
        n.mtime = n.mtime.map(|m| m.min(epoch));
    }

    let mnt = dir.join("mnt");
    let mounted = {
        let _m = ErofsMount::new(&img, &mnt);
        entries(&mnt)
    };
    // kiln's dracut module was in the root for the dracut run only.
    let module = "/usr/lib/dracut/modules.d/91kiln-erofs-live";
    assert!(
        !mounted.contains_key(module)
            && mounted.contains_key("/usr/lib/dracut/modules.d/90dmsquash-live"),
        "{module} left in the root image, or dmsquash-live missing"
    );
    let diff = tree::diff(&root, &mounted);
    assert!(
        diff.is_empty(),
        "the kernel-mounted EROFS image differs from the root (\"rpm\" = tar's root, \"kiln\" = \
         the image), {} paths:\n{}",
        diff.len(),
        diff.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
    );
    let inodes = mounted.values().filter(|n| n.link_group.is_none()).count()
        + mounted
            .values()
            .filter_map(|n| n.link_group.as_ref())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
        + 1;
    assert_eq!(
        superblock_field(&dump, "Filesystem inode count:"),
        inodes.to_string(),
        "dump.erofs' inode count against the mounted tree's inodes (with the root)"
    );
    // fsck.erofs 1.5 extracts content, permissions and owners (no xattrs, hard links as
    // copies; it chowns after chmod, which clears setuid/setgid, so those bits are left out).
    let plain =
        |t: &BTreeMap<String, Node>| -> BTreeMap<String, (char, u32, u32, u32, String, String)> {
            t.iter()
                .map(|(p, n)| {
                    (
                        p.clone(),
                        (
                            n.kind,
                            n.mode & 0o1777,
                            n.uid,
                            n.gid,
                            n.sha256.clone(),
                            n.target.clone(),
                        ),
                    )
                })
                .collect()
        };
    let fsck_tree = plain(&entries(&fsck_dir));
    let root_plain = plain(&root);
    let differing: Vec<_> = common::differing(&root_plain, &fsck_tree)
        .into_iter()
        .map(|(p, a, b)| format!("{p}: root {a:?}\n   fsck.erofs {b:?}"))
        .collect();
    assert!(
        differing.is_empty(),
        "fsck.erofs --extract differs from the root, {} paths:\n{}",
        differing.len(),
        differing
            .into_iter()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "EROFS image: {} bytes, {} paths, {inodes} inodes; kernel mount, fsck.erofs and tar agree",
        std::fs::metadata(&img).unwrap().len(),
        mounted.len()
    );

    // Boot side: the overlayfs root on the command line, kiln's module (and erofs.ko) in the
    // initramfs, dracut's own root script kept beside it for other images.
    let grub = dir.join("grub.cfg");
    extract(&b.iso, "/boot/grub2/grub.cfg", &grub);
    let grub = std::fs::read_to_string(&grub).unwrap();
    assert!(
        grub.contains("rd.live.overlay.overlayfs=1"),
        "grub.cfg: {grub}"
    );
    let initrd = dir.join("initrd.img");
    extract(&b.iso, "/images/pxeboot/initrd.img", &initrd);
    let listing = run_ok(Command::new("lsinitrd").arg(&initrd));
    for want in [
        "kernel/fs/erofs/erofs.ko",
        "dmsquash-live-root-squashfs",
        "kiln-erofs-live",
    ] {
        assert!(
            listing.contains(want),
            "{want} is not in the initramfs:\n{listing}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Boot the shared EROFS ISO; the serial log must show the kernel mounting EROFS.
fn boot(firmware: &str, attach: &str) {
    let Some((b, _)) = erofs_build() else { return };
    let _slot = common::BootSlot::take();
    if !need("/usr/bin/qemu-system-x86_64", "qemu-system-x86") {
        return;
    }
    let log = b.work.join(format!("serial-{firmware}-{attach}.log"));
    let t0 = Instant::now();
    common::boot_fixture(
        &format!("erofs {firmware}/{attach}"),
        &b.iso,
        firmware,
        attach,
        900,
        &log,
        b.packages,
    );
    eprintln!(
        "EROFS ISO boot {firmware}/{attach}: {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert_mounted_erofs(&log);
}

fn assert_mounted_erofs(log: &Path) {
    let serial = String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned();
    assert!(
        serial.contains("erofs: (device loop"),
        "the kernel never mounted an EROFS image (serial log {})",
        log.display()
    );
}

#[test]
fn erofs_iso_boots_bios_cdrom() {
    boot("bios", "cdrom");
}

#[test]
fn erofs_iso_boots_bios_usb() {
    boot("bios", "disk");
}

#[test]
fn erofs_iso_boots_uefi_cdrom() {
    boot("uefi", "cdrom");
}

#[test]
fn erofs_iso_boots_uefi_usb() {
    boot("uefi", "disk");
}

/// EROFS holding the ext4 `LiveOS/rootfs.img` (lorax's erofs-ext4): its layout, and one boot.
#[test]
fn erofs_ext4_iso_holds_rootfs_img_and_boots() {
    let Some(fx) = common::fixtures() else { return };
    if !common::require(
        common::is_root(),
        "root: the kernel's erofs mount of a loop device",
    ) {
        return;
    }
    if !need("/usr/bin/xorriso", "xorriso")
        || !need("/usr/bin/qemu-system-x86_64", "qemu-system-x86")
    {
        return;
    }
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("build-erofs-ext4");
    let t0 = Instant::now();
    let (b, _, _) = common::build_live(
        &fx.join("ks/live-x86_64.ks"),
        "KILN-EROFS4",
        &work,
        &["--rootfs-type", "erofs-ext4"],
    );
    eprintln!("erofs-ext4 build: {:.1} s", t0.elapsed().as_secs_f64());
    let img = work.join("squashfs.img");
    extract(&b.iso, "/LiveOS/squashfs.img", &img);
    {
        let mnt = work.join("mnt");
        let _m = ErofsMount::new(&img, &mnt);
        let names: Vec<String> = std::fs::read_dir(&mnt)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["LiveOS"], "the erofs-ext4 image's top level");
        let inner = mnt.join("LiveOS/rootfs.img");
        let fs = run_ok(
            Command::new("blkid")
                .args(["-o", "value", "-s", "TYPE"])
                .arg(&inner),
        );
        assert_eq!(fs.trim(), "ext4", "LiveOS/rootfs.img in the EROFS image");
    }
    let _ = std::fs::remove_file(&img);
    let _slot = common::BootSlot::take();
    let log = work.join("serial-bios-cdrom.log");
    let t0 = Instant::now();
    common::boot_fixture(
        "erofs-ext4 bios/cdrom",
        &b.iso,
        "bios",
        "cdrom",
        900,
        &log,
        b.packages,
    );
    eprintln!(
        "erofs-ext4 ISO boot bios/cdrom: {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert_mounted_erofs(&log);
}

fn sha256sum(p: &Path) -> String {
    run_ok(Command::new("sha256sum").arg(p))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// A second `SOURCE_DATE_EPOCH` build of the shared one's inputs, in another directory (its
/// own tmpdir, cache and resultdir), gives the same bytes.
#[test]
fn two_source_date_epoch_erofs_builds_are_identical() {
    let Some((first, _)) = erofs_build() else {
        return;
    };
    let fx = common::fixtures().unwrap();
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("build-erofs-repro");
    let t0 = Instant::now();
    let (second, _, _) = common::build_live_env(
        &fx.join("ks/live-x86_64.ks"),
        LABEL,
        &work,
        &["--rootfs-type", "erofs", "--make-tar"],
        &[("SOURCE_DATE_EPOCH", common::LIVE_EPOCH)],
    );
    eprintln!("second EROFS build: {:.1} s", t0.elapsed().as_secs_f64());
    let (a, b) = (sha256sum(&first.iso), sha256sum(&second.iso));
    if a != b {
        let diff = Command::new(common::kiln())
            .arg("diff")
            .arg(&first.iso)
            .arg(&second.iso)
            .output()
            .unwrap();
        panic!(
            "the two EROFS ISOs differ ({a} vs {b}):\n{}",
            String::from_utf8_lossy(&diff.stdout)
        );
    }
    eprintln!("two SOURCE_DATE_EPOCH EROFS builds: sha256 {a}");
    let _ = std::fs::remove_dir_all(&work);
}

/// `lzma` is what lorax picks, but Debian 12's kernel cannot read it: the build stops right
/// after the install, before dracut and before anything is compressed, naming the option.
#[test]
fn lzma_for_the_debian_kernel_fails_naming_its_config_option() {
    let Some(fx) = common::fixtures() else { return };
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("build-erofs-lzma");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let out = Command::new(common::kiln())
        .args(["build", "--make-iso", "-f", "KILN-LZMA", "--ks"])
        .arg(fx.join("ks/live-x86_64.ks"))
        .args(["--rootfs-type", "erofs", "--erofs-compression", "lzma"])
        .arg("--resultdir")
        .arg(work.join("out"))
        .arg("--tmpdir")
        .arg(&work)
        .arg("--cache")
        .arg(work.join("cache"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("CONFIG_EROFS_FS_ZIP_LZMA"),
        "the error does not name the kernel option:\n{stderr}"
    );
    assert!(
        !stderr.contains("running dracut") && !stderr.contains("kiln: finalize"),
        "the build went past the install:\n{stderr}"
    );
    assert!(!work.join("out/KILN-LZMA.iso").exists());
    let _ = std::fs::remove_dir_all(&work);
}
