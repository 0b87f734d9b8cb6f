//! Secure Boot with the distribution's own signed chain: the secureboot-x86_64 fixture
//! (Debian 12's Microsoft-signed shim and Debian-signed GRUB, repackaged as Fedora's shim-x64,
//! grub2-efi-x64 and grub2-efi-x64-cdboot under /boot/efi/EFI/debian, plus the live set's
//! Debian-signed kernel) built into one ISO and one UEFI disk image, then booted by
//! `kiln boot-test --secure-boot` (OVMF's Secure Boot build with Microsoft's keys enrolled,
//! q35 with SMM, TCG): ISO as CD, ISO as USB disk, the disk image, and the same ISO with an
//! unsigned GRUB in its EFI system partition, which shim must refuse.
//!
//! Oracles written by others: OVMF and shim (they start only what verifies), the kernel's own
//! "secureboot: Secure boot enabled", sbverify (sbsigntool) for the signatures, rpm2cpio/cpio
//! for the packages' bytes, xorriso and mtools to read the media, grub-mkimage for the
//! unsigned GRUB. Needs root, the fixtures (KILN_FIXTURES), qemu-system-x86, ovmf, sbsigntool,
//! mtools, xorriso, grub-efi-amd64-bin. One build (ISO + disk) is shared by every test here.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use common::{run_ok, Built};

const LABEL: &str = "KILN-SB";
const KS: &str = "ks/secureboot-x86_64.ks";

/// Every host tool these tests read the media with or boot it by.
const TOOLS: [&str; 8] = [
    "/usr/bin/qemu-system-x86_64",
    "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
    "/usr/share/OVMF/OVMF_VARS_4M.ms.fd",
    "/usr/bin/sbverify",
    "/usr/bin/mcopy",
    "/usr/bin/xorriso",
    "/usr/bin/grub-mkimage",
    "/usr/lib/grub/x86_64-efi/linux.mod",
];

/// The shared build: `--make-iso --make-disk` of the secureboot kickstart, once for all tests.
fn build() -> Option<&'static Built> {
    static B: OnceLock<Option<Built>> = OnceLock::new();
    B.get_or_init(|| {
        let fx = common::fixtures()?;
        let ks = fx.join(KS);
        if !ks.is_file() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "{} missing: rebuild the fixtures (fixtures/build-repos)",
                    ks.display()
                );
            }
            eprintln!("SKIP: {} missing (rebuild the fixtures)", ks.display());
            return None;
        }
        if !TOOLS.iter().all(|t| common::have_tool(t)) {
            return None;
        }
        let t0 = Instant::now();
        let (b, report, _) = common::build_live_shared(
            "secureboot-x86_64",
            &ks,
            LABEL,
            &["--make-disk"],
            &[("SOURCE_DATE_EPOCH", common::LIVE_EPOCH)],
        );
        eprintln!(
            "secure boot build (ISO + disk): {:.0} s; EFI chain: {}",
            t0.elapsed().as_secs_f64(),
            report["boot"]["efi_chain"]
        );
        assert!(
            report["boot"]["efi_chain"]
                .as_str()
                .is_some_and(|c| c.starts_with("shim + grub from /boot/efi/EFI/debian")),
            "the build did not take the root's signed chain: {}",
            report["boot"]
        );
        Some(b)
    })
    .as_ref()
}

fn disk(b: &Built) -> PathBuf {
    b.work.join(format!("out/{LABEL}-disk.raw"))
}

/// A file of the EFI system partition image `img` (mtools; `img` may carry `@@offset`).
fn esp_file(img: &str, path: &str, out: &Path) -> Vec<u8> {
    let _ = std::fs::remove_file(out);
    run_ok(
        Command::new("mcopy")
            .args(["-n", "-i", img])
            .arg(format!("::{path}"))
            .arg(out),
    );
    std::fs::read(out).unwrap()
}

/// `sbverify --list` of `bytes` (written to `scratch`).
fn signers(bytes: &[u8], scratch: &Path) -> String {
    std::fs::write(scratch, bytes).unwrap();
    let out = Command::new("sbverify")
        .arg("--list")
        .arg(scratch)
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The files of the fixture's package `name` (rpm2cpio | cpio), unpacked under `dir`.
fn unpack_rpm(fx: &Path, name: &str, dir: &Path) {
    let rpm = std::fs::read_dir(fx.join("secureboot-x86_64/Packages"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .unwrap_or_else(|| panic!("no {name} package in the fixture"));
    std::fs::create_dir_all(dir).unwrap();
    run_ok(
        Command::new("sh")
            .arg("-c")
            .arg("rpm2cpio \"$1\" | cpio -idm --quiet")
            .arg("sh")
            .arg(rpm)
            .current_dir(dir),
    );
}

/// The ISO's EFI system partition image (El Torito's `images/efiboot.img`), extracted to `out`.
fn extract_efiboot(iso: &Path, out: &Path) {
    let _ = std::fs::remove_file(out);
    run_ok(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(iso)
            .args(["-extract", "/images/efiboot.img"])
            .arg(out),
    );
}

/// The byte offset of the disk image's first partition (the ESP), from sgdisk.
fn esp_offset(disk: &Path) -> u64 {
    let info = run_ok(Command::new("sgdisk").args(["-i", "1"]).arg(disk));
    assert!(info.contains("EFI system partition"), "{info}");
    let first: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("First sector: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no first sector in:\n{info}"));
    first * 512
}

/// The media carry the root's chain byte for byte (nothing re-signed): BOOTX64.EFI is the
/// Microsoft-signed shim, grubx64.efi the Debian-signed GRUB for media (gcdx64.efi, as lorax
/// and livecd-creator choose), mmx64.efi MokManager, no fallback; the kernel is Debian-signed.
#[test]
fn media_carry_the_signed_chain_unchanged() {
    let Some(b) = build() else { return };
    let fx = common::fixtures().unwrap();
    let work = b.work.join("chain-check");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let pkgs = work.join("pkgs");
    for p in ["shim-x64", "grub2-efi-x64", "grub2-efi-x64-cdboot"] {
        unpack_rpm(&fx, p, &pkgs);
    }
    let vendor = pkgs.join("boot/efi/EFI/debian");
    let want = [
        (
            "BOOTX64.EFI",
            "shimx64.efi",
            "Microsoft Corporation UEFI CA 2011",
        ),
        (
            "grubx64.efi",
            "gcdx64.efi",
            "Debian Secure Boot Signer 2022 - grub2",
        ),
        (
            "mmx64.efi",
            "mmx64.efi",
            "Debian Secure Boot Signer 2022 - shim",
        ),
    ];
    let efiboot = work.join("efiboot.img");
    extract_efiboot(&b.iso, &efiboot);
    let disk_img = format!("{}@@{}", disk(b).display(), esp_offset(&disk(b)));
    let scratch = work.join("file.efi");
    for (what, img) in [
        ("ISO", efiboot.display().to_string()),
        ("disk", disk_img.clone()),
    ] {
        for (on_media, packaged, signer) in want {
            let got = esp_file(&img, &format!("/EFI/BOOT/{on_media}"), &scratch);
            let from_rpm = std::fs::read(vendor.join(packaged)).unwrap();
            assert!(
                got == from_rpm,
                "{what}: EFI/BOOT/{on_media} is not the package's {packaged}"
            );
            let list = signers(&got, &scratch);
            assert!(list.contains(signer), "{what}: {on_media}: {list}");
        }
        let dir = run_ok(Command::new("mdir").args(["-b", "-i", &img, "::/EFI/BOOT"]));
        assert!(
            !dir.to_ascii_lowercase().contains("fbx64"),
            "{what}: shim's fallback is on the media, shim would run it instead of GRUB:\n{dir}"
        );
        eprintln!("{what}: EFI/BOOT = shim (Microsoft-signed) + gcdx64.efi (Debian-signed) + mmx64.efi, byte for byte");
    }
    let vmlinuz = work.join("vmlinuz");
    run_ok(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(&b.iso)
            .args(["-extract", "/images/pxeboot/vmlinuz"])
            .arg(&vmlinuz),
    );
    let list = signers(&std::fs::read(&vmlinuz).unwrap(), &scratch);
    assert!(
        list.contains("Debian Secure Boot Signer 2022 - linux"),
        "the kernel: {list}"
    );
    let _ = std::fs::remove_dir_all(&work);
}

/// `kiln boot-test --secure-boot` of `target`; checks the kernel saw Secure Boot enforced and
/// prints the result with its seconds.
fn secure_boot(b: &Built, what: &str, target: &Path, attach: &str) {
    let _slot = common::BootSlot::take();
    let log = b.work.join(format!("serial-secure-boot-{attach}.log"));
    let t0 = Instant::now();
    let stderr = common::boot_fixture_with(
        None,
        what,
        target,
        "uefi",
        attach,
        1200,
        &log,
        b.packages,
        &["--secure-boot"],
    );
    let secs = t0.elapsed().as_secs_f64();
    let serial = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    for line in [
        "EFI stub: UEFI Secure Boot is enabled.",
        "Kernel is locked down from EFI Secure Boot",
        "secureboot: Secure boot enabled",
    ] {
        assert!(serial.contains(line), "{what}: no `{line}` on the console");
    }
    assert!(stderr.contains("Secure Boot: enforced"), "{stderr}");
    eprintln!("SECURE BOOT {what}: booted to KILN-BOOT-OK, Secure Boot enforced, {secs:.0} s");
}

#[test]
fn boots_iso_as_cdrom() {
    if let Some(b) = build() {
        secure_boot(b, "ISO as CD", &b.iso, "cdrom");
    }
}

#[test]
fn boots_iso_as_usb() {
    if let Some(b) = build() {
        secure_boot(b, "ISO as USB disk", &b.iso, "disk");
    }
}

#[test]
fn boots_disk_image() {
    if let Some(b) = build() {
        secure_boot(b, "UEFI disk image", &disk(b), "hd");
    }
}

/// Every offset (on 512-byte boundaries) where `needle` occurs in `hay`.
fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    (0..hay.len().saturating_sub(needle.len() - 1))
        .step_by(512)
        .filter(|&o| hay[o..o + 512] == needle[..512] && &hay[o..o + needle.len()] == needle)
        .collect()
}

/// The same ISO with an unsigned GRUB (grub-mkimage, same modules as kiln's fallback) in place
/// of the signed one in its EFI system partition: shim verifies it, refuses it, and the guest
/// never reaches the marker.
#[test]
fn unsigned_grub_is_refused() {
    let Some(b) = build() else { return };
    let work = b.work.join("unsigned-grub");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let efiboot = work.join("efiboot.img");
    extract_efiboot(&b.iso, &efiboot);
    let unsigned = work.join("grubx64.efi");
    run_ok(
        Command::new("grub-mkimage")
            .args([
                "-O",
                "x86_64-efi",
                "-d",
                "/usr/lib/grub/x86_64-efi",
                "-p",
                "/EFI/BOOT",
                "-o",
            ])
            .arg(&unsigned)
            .args([
                "all_video",
                "boot",
                "configfile",
                "echo",
                "efi_gop",
                "ext2",
                "fat",
                "gzio",
                "iso9660",
                "linux",
                "normal",
                "part_gpt",
                "part_msdos",
                "search",
                "search_label",
                "serial",
                "terminal",
                "test",
            ]),
    );
    assert!(
        signers(&std::fs::read(&unsigned).unwrap(), &work.join("x.efi"))
            .contains("No signature table present"),
        "grub-mkimage's image carries a signature"
    );
    // The partition image with the file swapped (mtools), written over every copy of the
    // original in a copy of the ISO: the El Torito image and the appended ESP partition.
    let patched = work.join("efiboot-unsigned.img");
    std::fs::copy(&efiboot, &patched).unwrap();
    run_ok(
        Command::new("mcopy")
            .args(["-o", "-i"])
            .arg(&patched)
            .arg(&unsigned)
            .arg("::/EFI/BOOT/grubx64.efi"),
    );
    let original = std::fs::read(&efiboot).unwrap();
    let replacement = std::fs::read(&patched).unwrap();
    assert_eq!(original.len(), replacement.len());
    let mut iso = std::fs::read(&b.iso).unwrap();
    let at = find_all(&iso, &original);
    assert!(!at.is_empty(), "the ESP image is not in the ISO");
    for &o in &at {
        iso[o..o + replacement.len()].copy_from_slice(&replacement);
    }
    let bad_iso = work.join(format!("{LABEL}-unsigned-grub.iso"));
    std::fs::write(&bad_iso, &iso).unwrap();
    drop(iso);
    // What the firmware will find: the unsigned GRUB beside the signed shim.
    let check = work.join("check.img");
    extract_efiboot(&bad_iso, &check);
    let grub = esp_file(
        &check.display().to_string(),
        "/EFI/BOOT/grubx64.efi",
        &work.join("g.efi"),
    );
    assert_eq!(grub, std::fs::read(&unsigned).unwrap());
    eprintln!(
        "unsigned GRUB swapped into {} ESP cop{} of the ISO",
        at.len(),
        if at.len() == 1 { "y" } else { "ies" }
    );

    let _slot = common::BootSlot::take();
    let log = work.join("serial.log");
    let t0 = Instant::now();
    let out = Command::new(common::kiln())
        .args([
            "boot-test",
            "--secure-boot",
            "--accel",
            "tcg",
            "--timeout",
            "600",
        ])
        .args(["--as", "cdrom", "--expect", "KILN-BOOT-OK", "--serial-log"])
        .arg(&log)
        .arg(&bad_iso)
        .output()
        .unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let serial = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the boot did not fail:\n{stderr}"
    );
    assert!(!serial.contains("KILN-BOOT-OK"), "an unsigned GRUB booted");
    // shim's own words for an image it cannot verify (EFI_SECURITY_VIOLATION).
    let refusal = "Verification failed: (0x1A) Security Violation";
    assert!(
        serial.contains(refusal),
        "shim's refusal is not on the console:\n{serial}"
    );
    assert!(
        stderr.contains(&format!(
            "Secure Boot refused to start an image (`{refusal}`)"
        )),
        "{stderr}"
    );
    eprintln!("SECURE BOOT ISO with unsigned GRUB as CD: refused by shim (`{refusal}`), no marker, {secs:.0} s");
    let _ = std::fs::remove_dir_all(&work);
}
