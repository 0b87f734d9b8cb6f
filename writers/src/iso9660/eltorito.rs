//! El Torito: the boot catalog (a visible file, like xorriso's `-c`), the boot files it points
//! at, the boot record volume descriptor, and the boot info tables patched into a BIOS image.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use super::layout::Layout;
use super::{file_size, owner, BiosBoot, IsoError, IsoOptions, BLOCK};
use crate::tree::{DataSource, FsTree, Kind, Meta, NodeId};

/// The El Torito files of the tree being written (all `None` when the image does not boot).
pub(super) struct BootFiles {
    /// The boot catalog's node, added by [`add_catalog`].
    pub catalog: Option<NodeId>,
    /// The BIOS boot image (its data owner, past hardlinks).
    pub bios: Option<NodeId>,
    /// The EFI boot image (its data owner, past hardlinks).
    pub efi: Option<NodeId>,
}

/// Whether the options ask for any El Torito entry.
pub(super) fn booting(opts: &IsoOptions) -> bool {
    opts.bios_boot.is_some() || opts.efi_boot.is_some()
}

/// The tree to write: `tree` itself, or a copy holding the boot catalog at `opts.boot_catalog`
/// (a block of zeros dated `vol_time`; its bytes are written from [`catalog`]) and its node.
pub(super) fn add_catalog<'a>(
    tree: &'a FsTree,
    opts: &IsoOptions,
    vol_time: i64,
) -> Result<(Cow<'a, FsTree>, Option<NodeId>), IsoError> {
    if !booting(opts) {
        return Ok((Cow::Borrowed(tree), None));
    }
    let mut owned = tree.clone();
    let meta = Meta {
        mode: 0o444,
        mtime: vol_time,
        ..Meta::default()
    };
    let kind = Kind::File {
        size: BLOCK,
        data: DataSource::Bytes(Arc::from(vec![0u8; BLOCK as usize])),
    };
    if owned.lookup(&opts.boot_catalog).is_some() {
        return Err(IsoError::BadOption(format!(
            "boot catalog path `{}` already exists in the tree",
            opts.boot_catalog.display()
        )));
    }
    let id = owned.insert(&opts.boot_catalog, meta, kind).map_err(|e| {
        IsoError::BadOption(format!(
            "boot catalog `{}`: {e}",
            opts.boot_catalog.display()
        ))
    })?;
    Ok((Cow::Owned(owned), Some(id)))
}

/// Find the BIOS and EFI boot images the options name; each must be a regular file.
pub(super) fn boot_files(
    tree: &FsTree,
    opts: &IsoOptions,
    catalog: Option<NodeId>,
) -> Result<BootFiles, IsoError> {
    let find_file = |p: &Path, what: &str| -> Result<NodeId, IsoError> {
        tree.lookup(p)
            .map(|id| owner(tree, id))
            .filter(|&id| matches!(tree.node(id).kind, Kind::File { .. }))
            .ok_or_else(|| {
                IsoError::BadOption(format!(
                    "{what} `{}` is not a regular file in the tree",
                    p.display()
                ))
            })
    };
    let bios = match &opts.bios_boot {
        Some(b) => Some(find_file(&b.path, "BIOS boot image")?),
        None => None,
    };
    let efi = match &opts.efi_boot {
        Some(p) => Some(find_file(p, "EFI boot image")?),
        None => None,
    };
    Ok(BootFiles { catalog, bios, efi })
}

/// The boot record volume descriptor, pointing at the catalog.
pub(super) fn boot_record(layout: &Layout) -> Vec<u8> {
    let mut br = vec![0u8, b'C', b'D', b'0', b'0', b'1', 1];
    br.extend_from_slice(b"EL TORITO SPECIFICATION");
    br.resize(71, 0);
    br.extend_from_slice(&(layout.catalog_lba as u32).to_le_bytes());
    br.resize(BLOCK as usize, 0);
    br
}

/// The boot catalog block: a validation entry, the default entry (BIOS if there is one, else
/// EFI) and a section for the EFI entry after a BIOS one.
pub(super) fn catalog(
    tree: &FsTree,
    opts: &IsoOptions,
    layout: &Layout,
    boot: &BootFiles,
) -> Vec<u8> {
    let efi_size = boot.efi.map_or(0, |id| file_size(tree, id));
    let bios_lba = layout.lba_of(boot.bios);
    let efi_lba = layout.lba_of(boot.efi);
    let mut entries: Vec<(u8, u16, u32)> = Vec::new();
    if let (Some(b), Some(l)) = (&opts.bios_boot, bios_lba) {
        entries.push((0, b.load_size, l));
    }
    if let Some(l) = efi_lba {
        // Whole 2 KiB blocks, as xorriso counts.
        entries.push((0xEF, (efi_size.div_ceil(BLOCK) * 4).min(0xFFFF) as u16, l));
    }
    let mut c = vec![0u8; BLOCK as usize];
    c[0] = 1;
    c[1] = entries[0].0;
    c[30] = 0x55;
    c[31] = 0xAA;
    let sum = (0..16).fold(0u16, |s, i| {
        s.wrapping_add(u16::from_le_bytes([c[2 * i], c[2 * i + 1]]))
    });
    c[28..30].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
    let entry = |c: &mut [u8], count: u16, l: u32| {
        c[0] = 0x88;
        c[6..8].copy_from_slice(&count.to_le_bytes());
        c[8..12].copy_from_slice(&l.to_le_bytes());
    };
    entry(&mut c[32..64], entries[0].1, entries[0].2);
    let mut at = 64;
    for (i, &(platform, count, l)) in entries.iter().enumerate().skip(1) {
        c[at] = if i + 1 == entries.len() { 0x91 } else { 0x90 };
        c[at + 1] = platform;
        c[at + 2..at + 4].copy_from_slice(&1u16.to_le_bytes());
        entry(&mut c[at + 32..at + 64], count, l);
        at += 64;
    }
    c
}

/// Patch the boot info table (and GRUB's boot info) into a BIOS boot image.
pub(super) fn patch_boot_image(
    img: &mut [u8],
    boot: Option<&BiosBoot>,
    lba: u32,
) -> Result<(), IsoError> {
    let Some(b) = boot else { return Ok(()) };
    if b.grub2_boot_info {
        if img.len() < 2556 {
            return Err(IsoError::BadOption(format!(
                "`{}` is too small for GRUB boot info",
                b.path.display()
            )));
        }
        img[2548..2556].copy_from_slice(&(u64::from(lba) * 4 + 5).to_le_bytes());
    }
    if b.boot_info_table {
        if img.len() < 64 {
            return Err(IsoError::BadOption(format!(
                "`{}` is too small for a boot info table",
                b.path.display()
            )));
        }
        let sum = img[64..].chunks(4).fold(0u32, |s, c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            s.wrapping_add(u32::from_le_bytes(w))
        });
        img[8..12].copy_from_slice(&16u32.to_le_bytes());
        img[12..16].copy_from_slice(&lba.to_le_bytes());
        let len = img.len() as u32;
        img[16..20].copy_from_slice(&len.to_le_bytes());
        img[20..24].copy_from_slice(&sum.to_le_bytes());
        img[24..64].fill(0);
    }
    Ok(())
}
