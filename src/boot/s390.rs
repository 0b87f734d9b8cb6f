//! s390x live media as lorax lays them out: the kernel and initramfs as `images/kernel.img` and
//! `images/initrd.img`, the parameter files `images/cdboot.prm` and `images/generic.prm`,
//! `images/initrd.addrsize` and `generic.ins` (what an IPL from the HMC's removable media or
//! z/VM's reader loads, file by file), and `images/cdboot.img`: kernel, parameter line and
//! initramfs in one image, the ISO's El Torito entry, which the machine's firmware loads at
//! address 0 and starts (the format of s390-tools' `mk-s390image`).
//!
//! The image is the kernel's own IPL image padded to a 4 KiB boundary, the initramfs after it,
//! and the kernel's parameter area (`struct parmarea` at 0x10400, arch/s390's setup.h) told
//! where: the initramfs' start and size at 0x10408 and 0x10410, the command line at 0x10480
//! (at most the size the kernel states at 0x10430). The image is loaded at address 0, so
//! offsets in the file are the addresses the kernel reads. Big-endian, as the machine.

use std::path::Path;

use super::{copy, layout as iso_layout, BootAssets, BootError};
use crate::error::IoError;

/// Where things go on the ISO (lorax's s390 live template).
pub mod layout {
    /// The kernel.
    pub const KERNEL: &str = "images/kernel.img";
    /// The initramfs.
    pub const INITRD: &str = "images/initrd.img";
    /// The initramfs' load address and size for `generic.ins` (two big-endian u64).
    pub const INITRD_ADDRSIZE: &str = "images/initrd.addrsize";
    /// The combined IPL image, the El Torito entry.
    pub const CDBOOT: &str = "images/cdboot.img";
    /// The command line inside `cdboot.img`.
    pub const CDBOOT_PRM: &str = "images/cdboot.prm";
    /// The command line `generic.ins` loads.
    pub const GENERIC_PRM: &str = "images/generic.prm";
    /// What to load where, for an IPL from the HMC or z/VM.
    pub const GENERIC_INS: &str = "generic.ins";
    /// The El Torito boot catalog (lorax's `-c images/boot.cat`).
    pub const BOOT_CATALOG: &str = "images/boot.cat";
}

/// Where `generic.ins` loads the initramfs (lorax's `INITRD_ADDRESS`).
pub const INITRD_ADDRESS: u64 = 0x0200_0000;
/// The parameter area's initramfs start (big-endian u64).
pub const INITRD_START_OFFSET: usize = 0x10408;
/// The parameter area's initramfs size (big-endian u64).
pub const INITRD_SIZE_OFFSET: usize = 0x10410;
/// The parameter area's maximum command line size (big-endian u64; 0 in kernels before it).
pub const MAX_COMMAND_LINE_SIZE_OFFSET: usize = 0x10430;
/// The command line (NUL-terminated).
pub const COMMAND_LINE_OFFSET: usize = 0x10480;
/// The command line room of kernels that do not state theirs (mk-s390image's legacy size).
const LEGACY_COMMAND_LINE_SIZE: u64 = 896;
/// Bytes 8..32 of an s390 Linux IPL image: the channel program that reads the rest (two CCWs,
/// then EBCDIC spaces). qemu's s390-ccw firmware IPLs an El Torito entry only when its first
/// sector carries these bytes.
pub const IPL_MAGIC: [u8; 24] = [
    0x02, 0x00, 0x00, 0x18, 0x60, 0x00, 0x00, 0x50, 0x02, 0x00, 0x00, 0x68, 0x60, 0x00, 0x00, 0x50,
    0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
];
/// The kernel is padded to this before the initramfs (mk-s390image's page boundary).
const PAGE: usize = 4096;

/// Why the combined image cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum IplImageError {
    /// The kernel file is no s390 IPL image.
    #[error("the kernel is not an s390 Linux IPL image (no IPL channel program at bytes 8..32, or shorter than its parameter area)\nhint: the root's kernel must be an s390x kernel (`kernel` on Fedora, `linux-image-s390x` on Debian)")]
    NotS390Kernel,
    /// The command line does not fit the kernel's parameter area.
    #[error(
        "the kernel command line has {len} bytes; this kernel takes at most {max} (with its NUL)"
    )]
    CommandLineTooLong {
        /// Its length.
        len: usize,
        /// The kernel's room for it.
        max: u64,
    },
}

fn be64(image: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(image[at..at + 8].try_into().unwrap_or_default())
}

/// The combined IPL image of `kernel` (the s390 kernel image as the root ships it), `initrd`
/// and the command line `cmdline`.
pub fn ipl_image(kernel: &[u8], initrd: &[u8], cmdline: &str) -> Result<Vec<u8>, IplImageError> {
    if kernel.len() < COMMAND_LINE_OFFSET + 1 || kernel[8..32] != IPL_MAGIC {
        return Err(IplImageError::NotS390Kernel);
    }
    let max = match be64(kernel, MAX_COMMAND_LINE_SIZE_OFFSET) {
        0 => LEGACY_COMMAND_LINE_SIZE,
        n => n,
    };
    let line = cmdline.trim_end().as_bytes();
    if line.len() as u64 >= max || COMMAND_LINE_OFFSET + max as usize > kernel.len() {
        return Err(IplImageError::CommandLineTooLong {
            len: line.len(),
            max,
        });
    }
    let initrd_start = kernel.len().div_ceil(PAGE) * PAGE;
    let mut image = Vec::with_capacity(initrd_start + initrd.len());
    image.extend_from_slice(kernel);
    image.resize(initrd_start, 0);
    image.extend_from_slice(initrd);
    image[INITRD_START_OFFSET..INITRD_START_OFFSET + 8]
        .copy_from_slice(&(initrd_start as u64).to_be_bytes());
    image[INITRD_SIZE_OFFSET..INITRD_SIZE_OFFSET + 8]
        .copy_from_slice(&(initrd.len() as u64).to_be_bytes());
    // The kernel's built-in line (`root=/dev/ram0 ro`) cleared, ours in its place.
    image[COMMAND_LINE_OFFSET..COMMAND_LINE_OFFSET + max as usize].fill(0);
    image[COMMAND_LINE_OFFSET..COMMAND_LINE_OFFSET + line.len()].copy_from_slice(line);
    Ok(image)
}

/// The parameter file's line: lorax's `cdboot.prm` (`ro`, the live root, the extra arguments).
fn parm_line(cmdline: &str) -> String {
    format!("ro {}\n", cmdline.trim())
}

/// Lay out the s390 boot files in the staging directory `iso`, from the kernel and initramfs
/// [`super::prepare`] put at `images/pxeboot/` (kept: kiln's PXE and disk outputs read them
/// there; `kernel.img` and `initrd.img` are hard links, so the ISO holds each once).
pub fn lay_out(iso: &Path, cmdline: &str, assets: &mut BootAssets) -> Result<(), BootError> {
    let vmlinuz = iso.join(iso_layout::VMLINUZ);
    let initrd = iso.join(iso_layout::INITRD);
    for (src, dst) in [(&vmlinuz, layout::KERNEL), (&initrd, layout::INITRD)] {
        let dst = iso.join(dst);
        let _ = std::fs::remove_file(&dst);
        if std::fs::hard_link(src, &dst).is_err() {
            copy(src, &dst)?;
        }
    }
    let kernel = std::fs::read(&vmlinuz).map_err(IoError::at("read", &vmlinuz))?;
    let ramdisk = std::fs::read(&initrd).map_err(IoError::at("read", &initrd))?;
    let prm = parm_line(cmdline);
    let image = ipl_image(&kernel, &ramdisk, &prm)?;
    let mut addrsize = INITRD_ADDRESS.to_be_bytes().to_vec();
    addrsize.extend_from_slice(&(ramdisk.len() as u64).to_be_bytes());
    let ins = format!(
        "* kiln live media: the files an IPL from the HMC's removable media or z/VM loads, and where\n\
         {} 0x00000000\n{} 0x{INITRD_ADDRESS:08x}\n{} 0x{COMMAND_LINE_OFFSET:08x}\n{} 0x{INITRD_START_OFFSET:08x}\n",
        layout::KERNEL,
        layout::INITRD,
        layout::GENERIC_PRM,
        layout::INITRD_ADDRSIZE,
    );
    let files: [(&str, &[u8]); 5] = [
        (layout::CDBOOT, image.as_slice()),
        (layout::CDBOOT_PRM, prm.as_bytes()),
        // The same live system when the files are loaded one by one.
        (layout::GENERIC_PRM, prm.as_bytes()),
        (layout::INITRD_ADDRSIZE, addrsize.as_slice()),
        (layout::GENERIC_INS, ins.as_bytes()),
    ];
    for (rel, bytes) in files {
        let p = iso.join(rel);
        std::fs::write(&p, bytes).map_err(IoError::at("write", &p))?;
    }
    assets.ipl_image = Some(layout::CDBOOT.to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in kernel: the IPL header, the parameter area as Linux 6.1 ships it (4096
    /// bytes of command line, the built-in `root=/dev/ram0 ro`), an odd length.
    fn kernel() -> Vec<u8> {
        let mut k = vec![0xEEu8; 0x12345];
        k[..8].copy_from_slice(&[0, 8, 0, 0, 0x80, 0, 2, 0]);
        k[8..32].copy_from_slice(&IPL_MAGIC);
        k[MAX_COMMAND_LINE_SIZE_OFFSET..MAX_COMMAND_LINE_SIZE_OFFSET + 8]
            .copy_from_slice(&4096u64.to_be_bytes());
        k[COMMAND_LINE_OFFSET..COMMAND_LINE_OFFSET + 18].copy_from_slice(b"root=/dev/ram0 ro\0");
        k
    }

    #[test]
    fn initrd_after_the_page_aligned_kernel_and_the_line_in_the_parmarea() {
        let k = kernel();
        let initrd = b"070701initrd bytes".to_vec();
        let img = ipl_image(&k, &initrd, "ro root=live:CDLABEL=X rd.live.image\n").unwrap();
        let start = u64::from_be_bytes(img[0x10408..0x10410].try_into().unwrap()) as usize;
        let size = u64::from_be_bytes(img[0x10410..0x10418].try_into().unwrap()) as usize;
        assert_eq!(start % 4096, 0);
        assert!(start >= k.len() && start < k.len() + 4096);
        assert_eq!(&img[start..start + size], &initrd[..]);
        assert_eq!(img.len(), start + size);
        let line = &img[0x10480..0x10480 + 4096];
        let end = line.iter().position(|&b| b == 0).unwrap();
        assert_eq!(&line[..end], b"ro root=live:CDLABEL=X rd.live.image");
        assert!(
            line[end..].iter().all(|&b| b == 0),
            "the built-in line is gone"
        );
        // Everything else of the kernel is untouched.
        assert_eq!(&img[..0x10408], &k[..0x10408]);
        assert_eq!(&img[0x10480 + 4096..k.len()], &k[0x10480 + 4096..]);
    }

    #[test]
    fn refuses_other_kernels_and_long_lines() {
        let mut arm = kernel();
        arm[8..12].copy_from_slice(b"ARMd");
        assert!(matches!(
            ipl_image(&arm, b"", "x"),
            Err(IplImageError::NotS390Kernel)
        ));
        let long = "a".repeat(4096);
        assert!(matches!(
            ipl_image(&kernel(), b"", &long),
            Err(IplImageError::CommandLineTooLong {
                len: 4096,
                max: 4096
            })
        ));
        // A kernel that states no size gets mk-s390image's legacy 896 bytes.
        let mut old = kernel();
        old[MAX_COMMAND_LINE_SIZE_OFFSET..MAX_COMMAND_LINE_SIZE_OFFSET + 8].fill(0);
        assert!(ipl_image(&old, b"", &"a".repeat(895)).is_ok());
        assert!(ipl_image(&old, b"", &"a".repeat(896)).is_err());
    }
}
