//! The whole pipeline: `kiln build --make-iso` on the live-x86_64 fixture, checked by the
//! reference tools (xorriso, isoinfo, checkisomd5, sgdisk, unsquashfs) and booted in qemu
//! (TCG) as CD-ROM and as USB disk, BIOS and UEFI, to the fixture's `KILN-BOOT-OK` with the
//! package count of the build's own transaction.
//!
//! Needs root, the fixtures, xorriso, isomd5sum, qemu-system-x86 and OVMF. Slow (several
//! minutes under TCG): one build is shared by the boot tests of this file, and with
//! build_repro (its `SOURCE_DATE_EPOCH` build; see `common::live_x86_64_shared`).

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use common::{run_ok, Built};

fn build(extra: &[&str], name: &str) -> Option<Built> {
    let fx = common::fixtures()?;
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("build-iso-{name}"));
    let ks = fx.join("ks/live-x86_64.ks");
    Some(common::build_live(&ks, "KILN-LIVE", &work, extra).0)
}

/// The plain build, made once for this file's tests and build_repro's comparison
/// ([`common::live_x86_64_shared`]).
fn default_build() -> Option<&'static Built> {
    static B: OnceLock<Option<Built>> = OnceLock::new();
    B.get_or_init(|| Some(common::live_x86_64_shared(&common::fixtures()?).0))
        .as_ref()
}

#[test]
fn iso_passes_reference_tools() {
    let Some(b) = default_build() else { return };
    if !common::have_tool("/usr/bin/xorriso") || !common::have_tool("/usr/bin/checkisomd5") {
        return;
    }
    let rep = run_ok(Command::new("xorriso").args(["-indev"]).arg(&b.iso).args([
        "-report_el_torito",
        "plain",
        "-report_system_area",
        "plain",
    ]));
    assert!(
        rep.contains("El Torito boot img :   1  BIOS"),
        "no BIOS entry:\n{rep}"
    );
    assert!(
        rep.contains("El Torito boot img :   2  UEFI"),
        "no UEFI entry:\n{rep}"
    );
    assert!(rep.contains("GPT"), "no GPT in the system area:\n{rep}");
    run_ok(Command::new("checkisomd5").arg("--verbose").arg(&b.iso));
    let info = run_ok(Command::new("isoinfo").arg("-d").arg("-i").arg(&b.iso));
    assert!(info.contains("Volume id: KILN-LIVE"), "{info}");
    let listing = run_ok(Command::new("isoinfo").args(["-R", "-f", "-i"]).arg(&b.iso));
    for p in [
        "/LiveOS/squashfs.img",
        "/images/pxeboot/vmlinuz",
        "/images/pxeboot/initrd.img",
        "/images/efiboot.img",
        "/EFI/BOOT/BOOTX64.EFI",
        "/boot/grub2/grub.cfg",
    ] {
        assert!(
            listing.lines().any(|l| l == p),
            "{p} missing from the ISO:\n{listing}"
        );
    }
    if Path::new("/usr/sbin/sgdisk").exists() {
        let v = run_ok(Command::new("sgdisk").arg("-v").arg(&b.iso));
        assert!(v.contains("No problems found"), "sgdisk -v: {v}");
    }
    // The root image holds the installed system with its rpmdb.
    let sq = b.work.join("squashfs.img");
    run_ok(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(&b.iso)
            .args(["-extract", "/LiveOS/squashfs.img"])
            .arg(&sq),
    );
    let ls = run_ok(Command::new("unsquashfs").arg("-l").arg(&sq));
    assert!(
        ls.contains("squashfs-root/usr/lib/sysimage/rpm/rpmdb.sqlite")
            || ls.contains("rpmdb.sqlite")
    );
    common::assert_post_marker(&sq);
    let _ = std::fs::remove_file(&sq);
}

fn boot(b: &Built, firmware: &str, attach: &str) {
    let _slot = common::BootSlot::take();
    if !common::have_tool("/usr/bin/qemu-system-x86_64") {
        return;
    }
    let log = b.work.join(format!("serial-{firmware}-{attach}.log"));
    common::boot_fixture(
        &format!("{firmware}/{attach}"),
        &b.iso,
        firmware,
        attach,
        900,
        &log,
        b.packages,
    );
}

#[test]
fn boots_bios_cdrom() {
    if let Some(b) = default_build() {
        boot(b, "bios", "cdrom");
    }
}

#[test]
fn boots_bios_usb() {
    if let Some(b) = default_build() {
        boot(b, "bios", "disk");
    }
}

#[test]
fn boots_uefi_cdrom() {
    if let Some(b) = default_build() {
        boot(b, "uefi", "cdrom");
    }
}

#[test]
fn boots_uefi_usb() {
    if let Some(b) = default_build() {
        boot(b, "uefi", "disk");
    }
}

/// livecd-creator's classic layout (LiveOS/squashfs.img holds LiveOS/rootfs.img, ext4) and
/// `--syslinux` (isolinux as the BIOS loader instead of GRUB), in one build and one boot: each
/// build runs dracut and a boot takes minutes under TCG, and the two options touch different
/// parts of the ISO (the root image and the boot loader), so one image proves both.
#[test]
fn ext4_in_squashfs_with_syslinux_boots_bios_cdrom() {
    let Some(b) = build(&["--ext4-in-squashfs", "--syslinux"], "ext4-syslinux") else {
        return;
    };
    let sq = b.work.join("squashfs.img");
    run_ok(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(&b.iso)
            .args(["-extract", "/LiveOS/squashfs.img"])
            .arg(&sq),
    );
    let ls = run_ok(Command::new("unsquashfs").arg("-l").arg(&sq));
    assert!(
        ls.lines().any(|l| l == "squashfs-root/LiveOS/rootfs.img"),
        "no LiveOS/rootfs.img in the squashfs:\n{ls}"
    );
    // The inner image is a clean ext4 file system (e2fsck from e2fsprogs, not kiln's code).
    let x = b.work.join("x");
    run_ok(
        Command::new("unsquashfs")
            .arg("-d")
            .arg(&x)
            .arg(&sq)
            .arg("LiveOS/rootfs.img"),
    );
    run_ok(
        Command::new("e2fsck")
            .args(["-f", "-n"])
            .arg(x.join("LiveOS/rootfs.img")),
    );
    let _ = std::fs::remove_dir_all(&x);
    let _ = std::fs::remove_file(&sq);

    let rep = run_ok(
        Command::new("xorriso")
            .args(["-indev"])
            .arg(&b.iso)
            .args(["-report_el_torito", "plain"]),
    );
    assert!(
        rep.contains("El Torito boot img :   1  BIOS") && rep.contains("isolinux/isolinux.bin"),
        "BIOS entry is not isolinux:\n{rep}"
    );
    let listing = run_ok(Command::new("isoinfo").args(["-R", "-f", "-i"]).arg(&b.iso));
    assert!(
        listing.lines().any(|l| l == "/isolinux/isolinux.cfg"),
        "no isolinux.cfg:\n{listing}"
    );
    boot(&b, "bios", "cdrom");
}
