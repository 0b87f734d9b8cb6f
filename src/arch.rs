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
    /// `%_lib`.
    pub lib: &'static str,
    /// Whether kiln's test suite boots media of this arch (README says which).
    pub tested: bool,
    /// The xz BCJ filter for this arch's code as mksquashfs names it (`-Xbcj x86`), when
    /// squashfs has one (its `powerpc` filter is big-endian only, so not ppc64le's).
    pub xz_bcj: Option<&'static str>,
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
        lib: "lib64",
        tested: true,
        xz_bcj: Some("x86"),
    },
    ArchInfo {
        name: "aarch64",
        basearch: "aarch64",
        qemu_user: "qemu-aarch64-static",
        binfmt_name: "qemu-aarch64",
        qemu_system: "qemu-system-aarch64",
        qemu_machine: &["-machine", "virt", "-cpu", "max"],
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
        lib: "lib64",
        tested: true,
        xz_bcj: Some("arm64"),
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
        lib: "lib64",
        tested: false,
        xz_bcj: None,
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
        lib: "lib64",
        tested: false,
        xz_bcj: None,
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
        uefi_firmware: &[],
        lib: "lib64",
        tested: false,
        xz_bcj: None,
    },
];

/// Facts for `name` (rpm arch names; `amd64`/`arm64` accepted as Debian spells them).
pub fn info(name: &str) -> Option<&'static ArchInfo> {
    let name = match name {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        n => n,
    };
    ARCHES.iter().find(|a| a.name == name)
}

/// The host's arch in rpm's spelling.
pub fn host() -> &'static str {
    std::env::consts::ARCH
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
}
