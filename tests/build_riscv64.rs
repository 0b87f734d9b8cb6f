//! Cross-architecture: `kiln build --arch riscv64` on this (x86_64) host from the live-riscv64
//! fixture (Debian 13's riscv64 packages: Debian 12 has none), target code through qemu-user
//! binfmt, checked with the reference tools (xorriso, sgdisk, isoinfo, mtools, unsquashfs,
//! findmnt, losetup) and booted with `kiln boot-test --arch riscv64 --firmware uefi`
//! (qemu-system-riscv64 -M virt, TCG, U-Boot's EFI on OpenSBI, or EDK2 where packaged) to the
//! fixture's `KILN-RPM-COUNT n` line.
//!
//! One build shared by both tests, then one boot. Outside CI, `KILN_SKIP_RISCV64_BOOT=1` skips
//! the boot; under `CI=true` it always runs.

mod common;

use std::process::Command;
use std::sync::OnceLock;

use common::{run_ok, Built};

/// PE/COFF `Machine` of RISC-V 64 (IMAGE_FILE_MACHINE_RISCV64).
const PE_RISCV64: u16 = 0x5064;
/// ELF `e_machine` of RISC-V (EM_RISCV).
const EM_RISCV: u16 = 0xF3;

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
    common::build_foreign("riscv64", "KILN-LIVE-RV64")
}

fn shared() -> Option<&'static Built> {
    static B: OnceLock<Option<Built>> = OnceLock::new();
    B.get_or_init(build).as_ref()
}

/// The PE/COFF machine of an EFI image.
fn pe_machine(pe: &[u8]) -> u16 {
    assert_eq!(&pe[..2], b"MZ", "no DOS header");
    let at = u32::from_le_bytes(pe[0x3c..0x40].try_into().unwrap()) as usize;
    assert_eq!(&pe[at..at + 4], b"PE\0\0");
    u16::from_le_bytes([pe[at + 4], pe[at + 5]])
}

#[test]
fn riscv64_iso_is_uefi_only_gpt_hybrid_of_riscv64_binaries() {
    let Some(b) = shared() else { return };
    common::assert_uefi_only_gpt_hybrid(&b.iso, "BOOTRISCV64.EFI", "riscv64");
    let x = |iso_path: &str, name: &str| {
        let to = b.work.join(name);
        run_ok(
            Command::new("xorriso")
                .args(["-osirrox", "on", "-indev"])
                .arg(&b.iso)
                .args(["-extract", iso_path])
                .arg(&to),
        );
        to
    };
    // The EFI system partition (read by mtools) holds the loader and GRUB's menu, and the
    // loader is a RISC-V PE: GRUB from the root's grub-mkimage (riscv64-efi).
    let esp = x("/images/efiboot.img", "efiboot-riscv64.img");
    let dir = run_ok(
        Command::new("mdir")
            .args(["-b", "-i"])
            .arg(&esp)
            .arg("::/EFI/BOOT"),
    );
    for f in ["BOOTRISCV64.EFI", "grub.cfg"] {
        assert!(
            dir.lines()
                .any(|l| l.eq_ignore_ascii_case(&format!("::/EFI/BOOT/{f}"))),
            "{f} not in the ESP:\n{dir}"
        );
    }
    let loader = b.work.join("BOOTRISCV64.EFI");
    run_ok(
        Command::new("mcopy")
            .args(["-n", "-o", "-i"])
            .arg(&esp)
            .arg("::/EFI/BOOT/BOOTRISCV64.EFI")
            .arg(&loader),
    );
    let pe = std::fs::read(&loader).unwrap();
    assert_eq!(pe_machine(&pe), PE_RISCV64, "BOOTRISCV64.EFI is not RISC-V");
    assert_eq!(
        pe,
        std::fs::read(x("/EFI/BOOT/BOOTRISCV64.EFI", "iso-BOOTRISCV64.EFI")).unwrap(),
        "the ISO's EFI/BOOT differs from the ESP's"
    );
    // Debian's riscv64 kernel is an EFI stub GRUB starts as a PE image.
    let kernel = std::fs::read(x("/images/pxeboot/vmlinuz", "vmlinuz-riscv64")).unwrap();
    assert_eq!(
        pe_machine(&kernel),
        PE_RISCV64,
        "the kernel is no RISC-V EFI stub"
    );
    // The root's binaries are riscv64 ELF, and no emulator was copied into the root.
    let sq = x("/LiveOS/squashfs.img", "squashfs.img");
    common::assert_foreign_root(&sq, "riscv64", true, EM_RISCV);
    for f in [
        "squashfs.img",
        "efiboot-riscv64.img",
        "vmlinuz-riscv64",
        "iso-BOOTRISCV64.EFI",
    ] {
        let _ = std::fs::remove_file(b.work.join(f));
    }
}

#[test]
fn riscv64_iso_boots_uefi_to_package_count() {
    if !ci() && std::env::var_os("KILN_SKIP_RISCV64_BOOT").is_some_and(|v| v != "0") {
        eprintln!("SKIP: KILN_SKIP_RISCV64_BOOT is set (never honoured under CI=true)");
        return;
    }
    let Some(b) = shared() else { return };
    if !common::have_tool("/usr/bin/qemu-system-riscv64") {
        skip("qemu-system-riscv64 missing (apt-get install qemu-system-misc u-boot-qemu)");
        return;
    }
    let log = b.work.join("serial-uefi.log");
    let serial = common::boot_foreign_to_count(
        "riscv64 UEFI boot (TCG)",
        &["--arch", "riscv64", "--firmware", "uefi"],
        "KILN-RPM-COUNT [0-9]+",
        &b.iso,
        &log,
        b.packages,
    );
    assert!(
        serial.contains("KILN-BOOT-OK"),
        "no KILN-BOOT-OK on the console"
    );
    assert!(
        serial.contains("KILN-POST kiln fixture live image built"),
        "no %post marker on the serial console"
    );
}
