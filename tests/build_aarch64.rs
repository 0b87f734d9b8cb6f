//! Cross-architecture: `kiln build --arch aarch64` on this (x86_64) host, target code through
//! qemu-user binfmt, checked with the reference tools (xorriso, sgdisk, isoinfo, unsquashfs,
//! findmnt, losetup) and booted with `kiln boot-test --arch aarch64 --firmware uefi`
//! (qemu-system-aarch64 -M virt, AAVMF, TCG) to the fixture's `KILN-RPM-COUNT n` line.
//!
//! One build shared by the first two tests, then one boot; a third test builds and boots the
//! same fixture with an EROFS root (`--rootfs-type erofs`, kiln's dracut module for dracut 059).
//! Measured on the 2-core machine (loaded), since the fixture's dracut takes only the virtio
//! CD-ROM's drivers: build 52 s (44 s emulated; 563 s with dracut's default drivers), EROFS
//! build 94 s, boots 224 s and 197 s under TCG side by side; 344 s for the binary.
//! Outside CI, `KILN_SKIP_AARCH64_BOOT=1` skips the boot; under `CI=true` it always runs.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use common::{run_ok, Built};

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

fn skip(why: &str) -> Option<Built> {
    if ci() {
        panic!("{why}");
    }
    eprintln!("SKIP: {why}");
    None
}

fn build() -> Option<Built> {
    // As an ordinary user (rootless, step 17) through the administrator's registration.
    common::build_foreign_as("aarch64", "KILN-LIVE-A64", true)
}

fn shared() -> Option<&'static Built> {
    static B: OnceLock<Option<Built>> = OnceLock::new();
    B.get_or_init(build).as_ref()
}

#[test]
fn aarch64_iso_is_uefi_only_gpt_hybrid_of_aarch64_binaries() {
    let Some(b) = shared() else { return };
    common::assert_uefi_only_gpt_hybrid(&b.iso, "BOOTAA64.EFI", "aarch64");
    // BOOTAA64.EFI is an arm64 PE (machine 0xAA64), the root's binaries aarch64 ELF, and
    // no emulator was copied into the root.
    let efi = b.work.join("BOOTAA64.EFI");
    let sq = b.work.join("squashfs.img");
    run_ok(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(&b.iso)
            .args(["-extract", "/EFI/BOOT/BOOTAA64.EFI"])
            .arg(&efi)
            .args(["-extract", "/LiveOS/squashfs.img"])
            .arg(&sq),
    );
    let pe = std::fs::read(&efi).unwrap();
    let at = u32::from_le_bytes(pe[0x3c..0x40].try_into().unwrap()) as usize;
    assert_eq!(&pe[at..at + 4], b"PE\0\0");
    assert_eq!(u16::from_le_bytes([pe[at + 4], pe[at + 5]]), 0xAA64);
    common::assert_foreign_root(&sq, "aarch64", true, 0xB7);
    let _ = std::fs::remove_file(&sq);
}

#[test]
fn aarch64_iso_boots_uefi_to_package_count() {
    if !ci() && std::env::var_os("KILN_SKIP_AARCH64_BOOT").is_some_and(|v| v != "0") {
        eprintln!("SKIP: KILN_SKIP_AARCH64_BOOT is set (never honoured under CI=true)");
        return;
    }
    let Some(b) = shared() else { return };
    if !common::have_tool("/usr/bin/qemu-system-aarch64") {
        skip("qemu-system-aarch64 missing (apt-get install qemu-system-arm qemu-efi-aarch64)");
        return;
    }
    let log = b.work.join("serial-uefi-cdrom.log");
    let serial = boot_uefi_to_package_count("aarch64 UEFI boot", &b.iso, &log, b.packages);
    assert!(
        serial.contains("KILN-BOOT-OK"),
        "no KILN-BOOT-OK on the console"
    );
    assert!(
        serial.contains("KILN-POST kiln fixture live image built"),
        "no %post marker on the serial console"
    );
}

/// The aarch64 fixture as an EROFS ISO (UEFI only), booted on qemu's virt machine (TCG).
/// Outside CI, `KILN_SKIP_AARCH64_BOOT=1` skips it (the emulated dracut and boot take many
/// minutes); under `CI=true` it always runs.
#[test]
fn aarch64_erofs_iso_boots_uefi() {
    if !ci() && std::env::var_os("KILN_SKIP_AARCH64_BOOT").is_some_and(|v| v != "0") {
        eprintln!("SKIP: KILN_SKIP_AARCH64_BOOT is set (never honoured under CI=true)");
        return;
    }
    let Some(fx) = common::fixtures() else { return };
    let ks = fx.join("ks/live-aarch64.ks");
    if !ks.is_file() {
        if ci() {
            panic!("{} missing", ks.display());
        }
        eprintln!("SKIP: {} missing", ks.display());
        return;
    }
    if !common::have_tool("/usr/bin/qemu-aarch64-static")
        || !common::have_tool("/usr/bin/qemu-system-aarch64")
    {
        skip("qemu-user-static or qemu-system-aarch64 missing (apt-get install qemu-user-static qemu-system-arm qemu-efi-aarch64)");
        return;
    }
    // After the shared build: it asserts that no binfmt entry of kiln's is left, which this
    // build's own entry would break, and two emulated builds at once only slow both.
    let _ = shared();
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("build-erofs-aarch64");
    let t0 = Instant::now();
    let (b, _, _) = common::build_live(
        &ks,
        "KILN-EROFS-A64",
        &work,
        &["--arch", "aarch64", "--rootfs-type", "erofs"],
    );
    eprintln!("aarch64 EROFS build: {:.1} s", t0.elapsed().as_secs_f64());
    let _slot = common::BootSlot::take();
    let log = work.join("serial-uefi-cdrom.log");
    let serial = boot_uefi_to_package_count("aarch64 EROFS ISO boot", &b.iso, &log, b.packages);
    assert!(
        serial.contains("erofs: (device loop"),
        "the kernel never mounted an EROFS image (serial log {})",
        log.display()
    );
    let _ = std::fs::remove_dir_all(&work);
}

/// Boot `iso` on qemu's virt machine with UEFI (TCG) to the fixture's package count
/// (`common::boot_foreign_to_count`); returns the serial log.
fn boot_uefi_to_package_count(what: &str, iso: &Path, log: &Path, packages: usize) -> String {
    common::boot_foreign_to_count(
        what,
        &["--arch", "aarch64", "--firmware", "uefi"],
        "KILN-RPM-COUNT [0-9]+",
        iso,
        log,
        packages,
    )
}
