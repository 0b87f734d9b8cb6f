//! Per-architecture facts in one table, so that no other module tests the arch by name:
//! the qemu binaries, the EFI and GRUB names, the firmware for boot tests, the boot layout.

/// What kiln knows about one target architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchInfo {
    /// rpm's name (`x86_64`, `aarch64`, ...).
    pub name: &'static str,
    /// `$basearch`.
    pub basearch: &'static str,
    /// The qemu-user binary that runs target code on another host (binfmt).
    pub qemu_user: &'static str,
    /// The ELF machine name binfmt_misc registrations use (`qemu-<this>`).
    pub binfmt_name: &'static str,
    /// The full-system emulator for boot tests.
    pub qemu_system: &'static str,
    /// Extra machine arguments for the emulator.
    pub qemu_machine: &'static [&'static str],
    /// The removable-media EFI loader name (`EFI/BOOT/<this>`), when the arch boots UEFI.
    pub efi_boot_file: Option<&'static str>,
    /// The shim/grub suffix (`x64`, `aa64`): `shim<x>.efi`, `grub<x>.efi`.
    pub efi_suffix: Option<&'static str>,
    /// GRUB's EFI platform directory (`x86_64-efi`).
    pub grub_efi_target: Option<&'static str>,
    /// GRUB's BIOS El Torito platform (`i386-pc`), when the arch has BIOS boot.
    pub grub_bios_target: Option<&'static str>,
    /// Whether ISOLINUX/SYSLINUX can boot it.
    pub syslinux: bool,
    /// UEFI firmware code and variable-store templates for boot tests (first existing wins).
    pub uefi_firmware: &'static [(&'static str, &'static str)],
    /// UEFI firmware that qemu starts as the machine's kernel (U-Boot's EFI on OpenSBI) for
    /// boot tests: the first existing wins, over `uefi_firmware` too.
    pub uefi_kernel: &'static [&'static str],
    /// `%_lib`.
    pub lib: &'static str,
    /// Whether kiln's test suite boots media of this arch (README says which).
    pub tested: bool,
    /// The xz BCJ filter for this arch's code as mksquashfs names it (`-Xbcj x86`), when
    /// squashfs has one (its `powerpc` filter is big-endian only, so not ppc64le's).
    pub xz_bcj: Option<&'static str>,
    /// ELF `e_machine`, for the binfmt_misc magic that sends target binaries to qemu-user.
    pub elf_machine: u16,
    /// ELF byte order (`EI_DATA`): little endian.
    pub elf_le: bool,
    /// Debian's name (`dpkg --print-architecture`).
    pub debian_arch: &'static str,
    /// Packages that provide `qemu_user` as a static binary: (Debian, Fedora).
    pub qemu_user_pkg: (&'static str, &'static str),
    /// Packages that provide `qemu_system`: (Debian, Fedora).
    pub qemu_system_pkg: (&'static str, &'static str),
    /// Packages that provide `uefi_firmware`: (Debian, Fedora).
    pub uefi_firmware_pkg: (&'static str, &'static str),
    /// How boot tests attach a CD-ROM.
    pub qemu_cdrom: CdromBus,
    /// Boot tests add a display-less standard VGA (SeaBIOS and OVMF want one; virt has none).
    pub qemu_vga: bool,
    /// A kernel serial console (`ttyS`) that, named in the kernel arguments, makes the GRUB
    /// menu drive the serial port itself; `None` where the firmware's console already is the
    /// serial line (UEFI on `virt`), and GRUB has no `com0`.
    pub grub_serial_for: Option<&'static str>,
    /// How boot tests run firmware that enforces Secure Boot, when kiln knows such firmware.
    pub secure_boot: Option<SecureBootFirmware>,
    /// GRUB's IEEE 1275 platform (`powerpc-ieee1275`), when the media boot on Open Firmware
    /// from a CHRP boot script (`ppc/bootinfo.txt`).
    pub grub_ieee1275_target: Option<&'static str>,
    /// The firmware the emulator's machine brings itself (pseries' SLOF), for arches that
    /// boot neither BIOS nor UEFI: boot tests then name no firmware and ignore `--firmware`.
    pub builtin_firmware: Option<&'static str>,
    /// The media IPLs one image of kernel, parameter line and initramfs from the ISO's El
    /// Torito entry (s390x: lorax's `images/cdboot.img`, made by `boot::s390`), the
    /// machine's own firmware loading it: no GRUB, no UEFI.
    pub ipl_image: bool,
    /// vCPUs of boot tests. s390x gets one: under multi-threaded TCG (qemu 7.2) a second one
    /// left a task faulting on the same page for good (an RCU stall, then nothing).
    pub qemu_cpus: u32,
    /// `-cpu` for boot tests under TCG and under KVM, when the machine's default will not do.
    /// aarch64's `max` under TCG turns pointer authentication off: qemu computes the
    /// architected QARMA5 signature in software at every function entry and return of the
    /// kernel, which made the fixture's boot 2.6x slower (157 s against 60 s here).
    pub qemu_cpu: Option<QemuCpu>,
}

/// The emulated CPU model, per accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QemuCpu {
    pub tcg: &'static str,
    pub kvm: &'static str,
}

/// Firmware enforcing Secure Boot with Microsoft's keys enrolled (what shim is signed for),
/// and the emulator arguments it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecureBootFirmware {
    /// Code and variable-store templates (first existing wins); the store is copied per boot.
    pub firmware: &'static [(&'static str, &'static str)],
    /// Machine arguments used instead of `qemu_machine`: OVMF's Secure Boot build keeps its
    /// variables in SMM-protected flash, so q35 with SMM and the flash marked secure.
    pub qemu_machine: &'static [&'static str],
}

/// The bus a boot test puts the CD-ROM on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdromBus {
    /// The PC's IDE controller (`if=ide`): what SeaBIOS and OVMF boot from.
    Ide,
    /// virtio-scsi (`-device scsi-cd`): machines without IDE (`virt`).
    VirtioScsi,
    /// virtio-scsi on the channel subsystem (`virtio-scsi-ccw`): s390x, whose firmware
    /// (s390-ccw) IPLs from CCW devices.
    VirtioScsiCcw,
    /// The ISO as a read-only virtio disk, booted through the hybrid's GPT and EFI system
    /// partition: U-Boot, riscv64's packaged UEFI, has no virtio-scsi driver.
    VirtioBlk,
}

impl CdromBus {
    /// The virtio transport of the machine's devices (`virtio-rng-<this>`).
    pub fn virtio_transport(self) -> &'static str {
        match self {
            CdromBus::VirtioScsiCcw => "ccw",
            CdromBus::Ide | CdromBus::VirtioScsi | CdromBus::VirtioBlk => "pci",
        }
    }
}

/// Every architecture kiln has facts for.
pub const ARCHES: &[ArchInfo] = &[
    ArchInfo {
        name: "x86_64",
        basearch: "x86_64",
        qemu_user: "qemu-x86_64-static",
        binfmt_name: "qemu-x86_64",
        qemu_system: "qemu-system-x86_64",
        qemu_machine: &["-machine", "pc"],
        efi_boot_file: Some("BOOTX64.EFI"),
        efi_suffix: Some("x64"),
        grub_efi_target: Some("x86_64-efi"),
        grub_bios_target: Some("i386-pc"),
        syslinux: true,
        uefi_firmware: &[
            (
                "/usr/share/OVMF/OVMF_CODE_4M.fd",
                "/usr/share/OVMF/OVMF_VARS_4M.fd",
            ),
            (
                "/usr/share/OVMF/OVMF_CODE.fd",
                "/usr/share/OVMF/OVMF_VARS.fd",
            ),
            (
                "/usr/share/edk2/ovmf/OVMF_CODE.fd",
                "/usr/share/edk2/ovmf/OVMF_VARS.fd",
            ),
        ],
        uefi_kernel: &[],
        lib: "lib64",
        tested: true,
        xz_bcj: Some("x86"),
        elf_machine: 0x3E,
        elf_le: true,
        debian_arch: "amd64",
        qemu_user_pkg: ("qemu-user-static", "qemu-user-static-x86"),
        qemu_system_pkg: ("qemu-system-x86", "qemu-system-x86"),
        uefi_firmware_pkg: ("ovmf", "edk2-ovmf"),
        qemu_cdrom: CdromBus::Ide,
        qemu_vga: true,
        grub_serial_for: Some("ttyS"),
        secure_boot: Some(SecureBootFirmware {
            firmware: &[
                (
                    "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
                    "/usr/share/OVMF/OVMF_VARS_4M.ms.fd",
                ),
                (
                    "/usr/share/edk2/ovmf/OVMF_CODE.secboot.fd",
                    "/usr/share/edk2/ovmf/OVMF_VARS.secboot.fd",
                ),
            ],
            qemu_machine: &[
                "-machine",
                "q35,smm=on",
                "-global",
                "driver=cfi.pflash01,property=secure,value=on",
            ],
        }),
        grub_ieee1275_target: None,
        builtin_firmware: None,
        ipl_image: false,
        qemu_cpus: 2,
        qemu_cpu: None,
    },
    ArchInfo {
        name: "aarch64",
        basearch: "aarch64",
        qemu_user: "qemu-aarch64-static",
        binfmt_name: "qemu-aarch64",
        qemu_system: "qemu-system-aarch64",
        qemu_machine: &["-machine", "virt"],
        efi_boot_file: Some("BOOTAA64.EFI"),
        efi_suffix: Some("aa64"),
        grub_efi_target: Some("arm64-efi"),
        grub_bios_target: None,
        syslinux: false,
        uefi_firmware: &[
            (
                "/usr/share/AAVMF/AAVMF_CODE.fd",
                "/usr/share/AAVMF/AAVMF_VARS.fd",
            ),
            (
                "/usr/share/edk2/aarch64/QEMU_EFI-pflash.raw",
                "/usr/share/edk2/aarch64/vars-template-pflash.raw",
            ),
        ],
        uefi_kernel: &[],
        lib: "lib64",
        tested: true,
        xz_bcj: Some("arm64"),
        elf_machine: 0xB7,
        elf_le: true,
        debian_arch: "arm64",
        qemu_user_pkg: ("qemu-user-static", "qemu-user-static-aarch64"),
        qemu_system_pkg: ("qemu-system-arm", "qemu-system-aarch64"),
        uefi_firmware_pkg: ("qemu-efi-aarch64", "edk2-aarch64"),
        qemu_cdrom: CdromBus::VirtioScsi,
        qemu_vga: false,
        grub_serial_for: None,
        secure_boot: None,
        grub_ieee1275_target: None,
        builtin_firmware: None,
        ipl_image: false,
        qemu_cpus: 2,
        qemu_cpu: Some(QemuCpu {
            tcg: "max,pauth=off",
            kvm: "max",
        }),
    },
    ArchInfo {
        name: "ppc64le",
        basearch: "ppc64le",
        qemu_user: "qemu-ppc64le-static",
        binfmt_name: "qemu-ppc64le",
        qemu_system: "qemu-system-ppc64",
        qemu_machine: &["-machine", "pseries"],
        efi_boot_file: None,
        efi_suffix: None,
        grub_efi_target: None,
        grub_bios_target: None,
        syslinux: false,
        uefi_firmware: &[],
        uefi_kernel: &[],
        lib: "lib64",
        tested: true,
        xz_bcj: None,
        elf_machine: 0x15,
        elf_le: true,
        debian_arch: "ppc64el",
        qemu_user_pkg: ("qemu-user-static", "qemu-user-static-ppc"),
        qemu_system_pkg: ("qemu-system-ppc", "qemu-system-ppc"),
        uefi_firmware_pkg: ("", ""),
        qemu_cdrom: CdromBus::VirtioScsi,
        qemu_vga: false,
        grub_serial_for: None,
        secure_boot: None,
        grub_ieee1275_target: Some("powerpc-ieee1275"),
        builtin_firmware: Some("SLOF"),
        ipl_image: false,
        qemu_cpus: 2,
        qemu_cpu: None,
    },
    ArchInfo {
        name: "s390x",
        basearch: "s390x",
        qemu_user: "qemu-s390x-static",
        binfmt_name: "qemu-s390x",
        qemu_system: "qemu-system-s390x",
        qemu_machine: &["-machine", "s390-ccw-virtio"],
        efi_boot_file: None,
        efi_suffix: None,
        grub_efi_target: None,
        grub_bios_target: None,
        syslinux: false,
        uefi_firmware: &[],
        uefi_kernel: &[],
        lib: "lib64",
        tested: true,
        xz_bcj: None,
        elf_machine: 0x16,
        elf_le: false,
        debian_arch: "s390x",
        qemu_user_pkg: ("qemu-user-static", "qemu-user-static-s390x"),
        qemu_system_pkg: ("qemu-system-s390x", "qemu-system-s390x"),
        uefi_firmware_pkg: ("", ""),
        qemu_cdrom: CdromBus::VirtioScsiCcw,
        qemu_vga: false,
        grub_serial_for: None,
        secure_boot: None,
        grub_ieee1275_target: None,
        builtin_firmware: None,
        ipl_image: true,
        qemu_cpus: 1,
        qemu_cpu: None,
    },
    ArchInfo {
        name: "riscv64",
        basearch: "riscv64",
        qemu_user: "qemu-riscv64-static",
        binfmt_name: "qemu-riscv64",
        qemu_system: "qemu-system-riscv64",
        qemu_machine: &["-machine", "virt"],
        efi_boot_file: Some("BOOTRISCV64.EFI"),
        efi_suffix: Some("riscv64"),
        grub_efi_target: Some("riscv64-efi"),
        grub_bios_target: None,
        syslinux: false,
        // U-Boot (what the tests boot: Debian 12 has no riscv64 EDK2), else EDK2 where it is
        // packaged (Fedora; Debian 13), which needs qemu 8.1 or later (separate code and
        // variable flash on virt). Both boot BOOTRISCV64.EFI from the disk's EFI partition.
        uefi_firmware: &[
            (
                "/usr/share/edk2/riscv/RISCV_VIRT_CODE.fd",
                "/usr/share/edk2/riscv/RISCV_VIRT_VARS.fd",
            ),
            (
                "/usr/share/qemu-efi-riscv64/RISCV_VIRT_CODE.fd",
                "/usr/share/qemu-efi-riscv64/RISCV_VIRT_VARS.fd",
            ),
        ],
        uefi_kernel: &[
            "/usr/lib/u-boot/qemu-riscv64_smode/uboot.elf",
            "/usr/share/uboot/qemu-riscv64_smode/u-boot.bin",
        ],
        lib: "lib64",
        tested: true,
        xz_bcj: None,
        elf_machine: 0xF3,
        elf_le: true,
        debian_arch: "riscv64",
        qemu_user_pkg: ("qemu-user-static", "qemu-user-static-riscv"),
        qemu_system_pkg: ("qemu-system-misc", "qemu-system-riscv"),
        uefi_firmware_pkg: ("u-boot-qemu", "uboot-images-riscv64"),
        qemu_cdrom: CdromBus::VirtioBlk,
        qemu_vga: false,
        grub_serial_for: None,
        secure_boot: None,
        grub_ieee1275_target: None,
        builtin_firmware: None,
        ipl_image: false,
        qemu_cpus: 2,
        qemu_cpu: None,
    },
];

/// Facts for `name` (rpm arch names; `amd64`/`arm64` accepted as Debian spells them).
pub fn info(name: &str) -> Option<&'static ArchInfo> {
    let name = match name {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "ppc64el" => "ppc64le",
        n => n,
    };
    ARCHES.iter().find(|a| a.name == name)
}

/// The host's arch in rpm's spelling.
pub fn host() -> &'static str {
    std::env::consts::ARCH
}

impl ArchInfo {
    /// Whether target binaries of this arch need an emulator on this host.
    pub fn is_foreign(&self) -> bool {
        self.name != host()
    }

    /// binfmt_misc magic and mask (20 bytes from offset 0) matching this arch's ELF
    /// executables and shared objects: `\x7fELF`, 64-bit, the byte order, version 1,
    /// `e_type` 2 or 3 (the mask drops the lowest bit), `e_machine`.
    pub fn binfmt_magic(&self) -> ([u8; 20], [u8; 20]) {
        let mut magic = [0u8; 20];
        magic[..7].copy_from_slice(&[
            0x7f,
            b'E',
            b'L',
            b'F',
            2,
            if self.elf_le { 1 } else { 2 },
            1,
        ]);
        let mut mask = [0xffu8; 20];
        // EI_OSABI: Linux binaries say SYSV (0) or GNU (3); match any.
        mask[7] = 0;
        let (et, em) = if self.elf_le {
            (2u16.to_le_bytes(), self.elf_machine.to_le_bytes())
        } else {
            (2u16.to_be_bytes(), self.elf_machine.to_be_bytes())
        };
        magic[16..18].copy_from_slice(&et);
        magic[18..20].copy_from_slice(&em);
        let et_mask = if self.elf_le {
            [0xfe, 0xff]
        } else {
            [0xff, 0xfe]
        };
        mask[16..18].copy_from_slice(&et_mask);
        (magic, mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(info("amd64").unwrap().name, "x86_64");
        assert_eq!(info("aarch64").unwrap().efi_boot_file, Some("BOOTAA64.EFI"));
        assert!(info("sparc").is_none());
        assert!(info(host()).is_some(), "the host arch must be in the table");
    }

    #[test]
    fn aarch64_magic_is_debians() {
        // /usr/share/binfmts/qemu-aarch64 from Debian's qemu-user-static.
        let (magic, mask) = info("aarch64").unwrap().binfmt_magic();
        assert_eq!(
            magic,
            *b"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00"
        );
        assert_eq!(
            mask,
            *b"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
        );
        let (m, _) = info("s390x").unwrap().binfmt_magic();
        assert_eq!(&m[16..20], b"\x00\x02\x00\x16");
    }

    #[test]
    fn riscv64_magic_is_debians() {
        // /usr/share/binfmts/qemu-riscv64 from Debian's qemu-user-static.
        let (magic, mask) = info("riscv64").unwrap().binfmt_magic();
        assert_eq!(
            magic,
            *b"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00"
        );
        assert_eq!(
            mask,
            *b"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
        );
    }
}
