//! `kiln boot-test`.

use std::time::Duration;

use kiln::boottest::{Accel, Attach, BootTest, Firmware};

use super::args::BootTestArgs;
use super::{EXIT_BAD_INPUT, EXIT_ENV, EXIT_OK};

/// Exit status of a boot that did not reach the expected line.
const EXIT_BOOT_FAILED: i32 = 1;

/// `kiln boot-test`.
pub fn run(a: &BootTestArgs) -> anyhow::Result<i32> {
    let arch_name = a
        .arch
        .clone()
        .unwrap_or_else(|| kiln::arch::host().to_string());
    let Some(arch) = kiln::arch::info(&arch_name) else {
        eprintln!("error: unknown architecture `{arch_name}`");
        return Ok(EXIT_BAD_INPUT);
    };
    let expect = match regex::Regex::new(&a.expect) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: bad --expect regex: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let serial_log = a.serial_log.clone().unwrap_or_else(|| {
        let mut p = a
            .image
            .components()
            .as_path()
            .to_path_buf()
            .into_os_string();
        p.push(".serial.log");
        p.into()
    });
    let firmware = match (a.firmware.as_deref(), a.secure_boot) {
        (Some("bios"), true) => {
            eprintln!("error: --secure-boot needs --firmware uefi (Secure Boot is UEFI's)");
            return Ok(EXIT_BAD_INPUT);
        }
        (Some("uefi"), _) | (None, true) => "uefi",
        _ => "bios",
    };
    let t = BootTest {
        image: a.image.clone(),
        arch,
        firmware: if firmware == "uefi" {
            Firmware::Uefi
        } else {
            Firmware::Bios
        },
        attach: match a.attach.as_str() {
            "disk" => Attach::Disk,
            "hd" => Attach::Hd,
            _ => Attach::Cdrom,
        },
        timeout: Duration::from_secs(a.timeout),
        expect,
        memory_mb: a.memory,
        menu_enter: !a.menu_timeout,
        serial_log: serial_log.clone(),
        accel: match a.accel.as_str() {
            "tcg" => Accel::Tcg,
            "kvm" => Accel::Kvm,
            _ => Accel::Auto,
        },
        net: if a.image.is_dir() {
            match kiln::boottest::NetBoot::detect(&a.image) {
                Some(n) => Some(n),
                None => {
                    eprintln!(
                        "error: `{}` is a directory but no PXE tree (pxelinux.0) or netroot tree (tftp/pxelinux.0)",
                        a.image.display()
                    );
                    return Ok(EXIT_BAD_INPUT);
                }
            }
        } else {
            None
        },
        secure_boot: a.secure_boot,
    };
    let o = match t.run() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(match e {
                kiln::boottest::BootTestError::NoImage(_)
                | kiln::boottest::BootTestError::NoBios(_) => EXIT_BAD_INPUT,
                _ => EXIT_ENV,
            });
        }
    };
    // What ran: a tree boots from the network (`--as` does not apply), an image as attached.
    let medium = match &t.net {
        Some(n) if n.nbd_conf.is_some() => "from the network (netroot tree over NBD)".to_string(),
        Some(_) => "from the network (PXE tree)".to_string(),
        None => format!("as {}", a.attach),
    };
    // An arch with neither BIOS nor UEFI boots through the machine's own firmware.
    let firmware = if arch.grub_bios_target.is_none() && arch.efi_boot_file.is_none() {
        "machine firmware"
    } else {
        firmware
    };
    let how = format!(
        "{} {}{} {medium} ({}, {:.0} s)",
        arch.name,
        arch.builtin_firmware.unwrap_or(firmware),
        if a.secure_boot {
            " with Secure Boot"
        } else {
            ""
        },
        o.accel,
        o.elapsed.as_secs_f64()
    );
    let how = if o.restarts > 0 {
        format!("{how}, started again after a stall")
    } else {
        how
    };
    // Under --secure-boot a boot counts only if Secure Boot was on: a kernel that says it is
    // off means the firmware did not enforce it.
    if o.success && a.secure_boot && o.kernel_secure_boot == Some(false) {
        eprintln!(
            "boot-test: FAILED: {how}: the kernel says Secure Boot is disabled; serial log in {}",
            serial_log.display()
        );
        return Ok(EXIT_BOOT_FAILED);
    }
    if o.success {
        println!("{}", o.matched.as_deref().unwrap_or(""));
        // The fixture prints the package count on the line after the marker.
        let mut after = o.log.lines().skip_while(|l| !t.expect.is_match(l)).skip(1);
        if let Some(next) = after.next() {
            println!("{}", next.trim_end_matches('\r'));
        }
        if a.secure_boot {
            eprintln!(
                "boot-test: Secure Boot: {}",
                match o.kernel_secure_boot {
                    Some(true) => "enforced (kernel: `secureboot: Secure boot enabled`)",
                    _ => "the kernel did not say (no `secureboot:` line on the console)",
                }
            );
        }
        eprintln!(
            "boot-test: ok: {how}; serial log in {}",
            serial_log.display()
        );
        Ok(EXIT_OK)
    } else {
        let lines: Vec<&str> = o.log.lines().collect();
        for l in &lines[lines.len().saturating_sub(30)..] {
            eprintln!("  | {}", l.trim_end_matches('\r'));
        }
        eprintln!(
            "boot-test: FAILED: {how}: {}; serial log in {}",
            o.reason.as_deref().unwrap_or("unknown"),
            serial_log.display()
        );
        Ok(EXIT_BOOT_FAILED)
    }
}
