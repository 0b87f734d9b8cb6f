//! ISO 9660 writer: [`FsTree`] in, a bootable hybrid image out, in one sequential pass.
//!
//! kiln's own writer rather than a wrapper around hadris-iso: the faults measured in that
//! crate (PLATFORM.md: deep directories moved to `/rr_moved`, Joliet names cut at 64, the GRUB
//! hybrid MBR address, the zeroed application-use area) sit in its layout code, and a writer
//! that plans everything first can stream file data once and hash it on the way
//! (implantisomd5) without reading the image back.
//!
//! Layout, in 2048-byte blocks:
//! system area (MBR + primary GPT) | PVD | El Torito boot record | Joliet SVD | terminator |
//! path tables (L, M; Joliet L, M) | boot catalog | ISO directories, each followed by its
//! Rock Ridge continuation areas | Joliet directories |
//! file data | 16 blocks of padding || appended ESP | backup GPT.
//!
//! The primary tree carries Rock Ridge (PX, TF, NM, SL, PN; SP and ER on the root), no
//! directory relocation (deep trees stay where they are, as every reader accepts), level 2
//! identifiers and multi-extent files past 4 GiB. The Joliet tree holds directories and
//! regular files with names up to 103 UTF-16 units.
//!
//! [`write_iso_with_progress`] runs the steps in order, each taking the previous one's output:
//! `eltorito` adds the boot catalog and finds the boot images, `rock_ridge` counts links,
//! `records` plans the directories of both trees (names in `names`, fields in `susp`),
//! `layout` places every block, `hybrid` lays out the disk around the volume (MBR, GPT,
//! appended ESP), `descriptors` and `eltorito` build the fixed blocks, and `write` streams the
//! image. `read` is a small reader for images already written.

mod descriptors;
mod eltorito;
mod hybrid;
mod layout;
mod names;
pub mod read;
mod records;
mod rock_ridge;
mod susp;
mod write;

use std::io::{Seek, Write};
use std::path::PathBuf;

use crate::error::IoError;
use crate::tree::{FsTree, Kind, NodeId};

const BLOCK: u64 = 2048;
/// Largest extent of a multi-extent file: the biggest block multiple below 4 GiB.
const MAX_EXTENT: u64 = 0xFFFF_F800;
/// Blocks of zeros after the data (checkisomd5 skips the last 15).
const PAD_BLOCKS: u64 = 16;
/// implantisomd5: where the application-use area sits in the PVD, and its size.
const APPDATA_OFFSET: usize = 883;
const APPDATA_SIZE: usize = 512;

/// Errors writing an ISO image.
#[derive(Debug, thiserror::Error)]
pub enum IsoError {
    /// An option is invalid (volume id too long, boot file missing, ...).
    #[error("{0}")]
    BadOption(String),
    /// A source file could not be read.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A source file shrank while being read.
    #[error("`{}` changed size while being read", path.display())]
    Changed {
        /// The source path.
        path: PathBuf,
    },
    /// The tree cannot be represented (too many directories for the path table, ...).
    #[error("{0}")]
    Unsupported(String),
    /// Writing the image failed.
    #[error("cannot write the image")]
    Write(#[source] std::io::Error),
}

/// The BIOS El Torito entry (no emulation), like xorriso's `-b FILE -no-emul-boot`.
#[derive(Debug, Clone)]
pub struct BiosBoot {
    /// The boot image, a path inside the tree (`isolinux/isolinux.bin`, `images/eltorito.img`).
    pub path: PathBuf,
    /// 512-byte sectors the BIOS loads (`-boot-load-size`, 4 for GRUB and ISOLINUX).
    pub load_size: u16,
    /// Patch the boot info table into the image (`-boot-info-table`).
    pub boot_info_table: bool,
    /// Patch GRUB's own boot info at byte 2548 (`--grub2-boot-info`).
    pub grub2_boot_info: bool,
}

/// Which kind of hybrid MBR boot code a template is, which decides how it is patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MbrStyle {
    /// GRUB's `boot_hybrid.img` (`--grub2-mbr`).
    Grub2,
    /// SYSLINUX's `isohdpfx.bin` (`-isohybrid-mbr`).
    Isohybrid,
}

impl MbrStyle {
    /// Guess from the template's bytes: GRUB's code carries the string `GRUB`.
    pub fn detect(template: &[u8]) -> MbrStyle {
        if template.windows(4).any(|w| w == b"GRUB") {
            MbrStyle::Grub2
        } else {
            MbrStyle::Isohybrid
        }
    }
}

/// The hybrid layout that lets the image boot from a USB stick.
#[derive(Debug, Clone)]
pub struct Hybrid {
    /// MBR boot code (432 to 512 bytes); empty for media without BIOS boot (UEFI-only arches):
    /// the boot code area stays zeroed and only the partition tables are written.
    pub mbr_template: Vec<u8>,
    /// How to patch it.
    pub style: MbrStyle,
    /// Write a GPT (protective MBR, ISO partition, appended ESP) instead of an MBR table.
    pub gpt: bool,
    /// Append the EFI boot image as a partition (`-append_partition 2 0xef`).
    pub append_efi: bool,
}

/// How to write the image.
#[derive(Debug, Clone)]
pub struct IsoOptions {
    /// Volume id (`-V`), at most 32 bytes.
    pub volume_id: String,
    /// System id.
    pub system_id: String,
    /// Publisher (`-publisher`).
    pub publisher: String,
    /// Application (`-A`).
    pub application: String,
    /// Data preparer (`-p`).
    pub preparer: String,
    /// Write a Joliet tree.
    pub joliet: bool,
    /// BIOS boot entry.
    pub bios_boot: Option<BiosBoot>,
    /// UEFI boot entry: a FAT image, a path inside the tree (`images/efiboot.img`).
    pub efi_boot: Option<PathBuf>,
    /// Where the boot catalog appears in the tree (`-c`), when booting.
    pub boot_catalog: PathBuf,
    /// Hybrid MBR/GPT.
    pub hybrid: Option<Hybrid>,
    /// Implant an implantisomd5-compatible checksum.
    pub implant_md5: bool,
    /// Volume dates and the clamp for file times; `None` means now, unclamped.
    pub source_date_epoch: Option<i64>,
    /// Primary-tree names as the files are named (mkisofs `-U`, xorriso
    /// `-untranslated_names`): what IEEE 1275 firmware (SLOF) reads, instead of level 2
    /// d-characters (lorax makes its ppc64le media so).
    pub untranslated_names: bool,
    /// The whole volume as one MBR partition of type 0x96, CHRP (xorriso `-chrp-boot-part`,
    /// mkisofs `-chrp-boot`); no other MBR or GPT entries, so not with [`IsoOptions::hybrid`].
    pub chrp_boot_part: bool,
}

impl Default for IsoOptions {
    fn default() -> Self {
        IsoOptions {
            volume_id: "CDROM".into(),
            system_id: "LINUX".into(),
            publisher: String::new(),
            application: String::new(),
            preparer: String::new(),
            joliet: true,
            bios_boot: None,
            efi_boot: None,
            boot_catalog: PathBuf::from("boot.cat"),
            hybrid: None,
            implant_md5: false,
            source_date_epoch: None,
            untranslated_names: false,
            chrp_boot_part: false,
        }
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct IsoReport {
    /// Bytes written, appended partitions and backup GPT included.
    pub bytes: u64,
    /// Blocks of the ISO 9660 volume (its volume space size).
    pub volume_blocks: u64,
    /// Regular files with data.
    pub files: usize,
    /// Directories.
    pub dirs: usize,
    /// Block of the BIOS boot image.
    pub bios_boot_lba: Option<u32>,
    /// Block of the EFI boot image.
    pub efi_boot_lba: Option<u32>,
    /// The implanted checksum (hex).
    pub md5: Option<String>,
}

/// Where a node's bytes come from, following hardlinks.
fn owner(tree: &FsTree, id: NodeId) -> NodeId {
    match tree.node(id).kind {
        Kind::Hardlink(t) => t,
        _ => id,
    }
}

/// Length of a node's data (0 for anything but a regular file).
fn file_size(tree: &FsTree, id: NodeId) -> u64 {
    match tree.node(owner(tree, id)).kind {
        Kind::File { size, .. } => size,
        _ => 0,
    }
}

/// Write `tree` as an ISO image to `out` (at its position 0).
pub fn write_iso<W: Write + Seek>(
    tree: &FsTree,
    opts: &IsoOptions,
    out: W,
) -> Result<IsoReport, IsoError> {
    write_iso_with_progress(tree, opts, out, &mut |_, _| {})
}

/// [`write_iso`], calling `progress(bytes_done, bytes_total)` as file data is written.
pub fn write_iso_with_progress<W: Write + Seek>(
    tree: &FsTree,
    opts: &IsoOptions,
    out: W,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<IsoReport, IsoError> {
    check_volume_id(&opts.volume_id)?;
    let vol_time = opts.source_date_epoch.unwrap_or_else(now);
    let (tree, catalog_node) = eltorito::add_catalog(tree, opts, vol_time)?;
    let tree: &FsTree = &tree;
    let boot = eltorito::boot_files(tree, opts, catalog_node)?;
    hybrid::validate(opts, &boot)?;
    let rock_ridge = rock_ridge::RockRidge::new(tree, opts.source_date_epoch);
    let mut dirs = records::plan(tree, &rock_ridge, opts.joliet, opts.untranslated_names)?;
    let layout = layout::allocate(tree, &mut dirs, &boot, opts)?;
    let disk = hybrid::plan(tree, opts, &layout, &boot, vol_time);
    let bios_lba = layout.lba_of(boot.bios);
    let booting = eltorito::booting(opts);
    let descriptor =
        |joliet| descriptors::volume_descriptor(tree, opts, &rock_ridge, &layout, vol_time, joliet);
    let head = write::Head {
        system_area: hybrid::system_area(opts, &disk, &layout, bios_lba),
        primary: descriptor(false),
        boot_record: booting.then(|| eltorito::boot_record(&layout)),
        joliet: opts.joliet.then(|| descriptor(true)),
        terminator: descriptors::terminator(),
        catalog: booting.then(|| eltorito::catalog(tree, opts, &layout, &boot)),
    };
    let image = write::Image {
        tree,
        opts,
        rock_ridge: &rock_ridge,
        dirs: &dirs,
        layout: &layout,
        boot: &boot,
        disk: &disk,
        head,
    };
    let written = write::write_image(out, &image, progress)?;
    let report = IsoReport {
        bytes: written.bytes,
        volume_blocks: layout.volume_blocks,
        files: layout.files,
        dirs: dirs.iso.len(),
        bios_boot_lba: bios_lba,
        efi_boot_lba: layout.lba_of(boot.efi),
        md5: written.md5,
    };
    tracing::debug!(?report, "iso written");
    Ok(report)
}

fn check_volume_id(volume_id: &str) -> Result<(), IsoError> {
    if volume_id.len() > 32 || !volume_id.bytes().all(|c| (0x20..0x7f).contains(&c)) {
        return Err(IsoError::BadOption(format!(
            "volume id `{volume_id}` must be at most 32 printable ASCII characters"
        )));
    }
    Ok(())
}

/// Seconds since the epoch, for volume dates when no `SOURCE_DATE_EPOCH` is given.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
