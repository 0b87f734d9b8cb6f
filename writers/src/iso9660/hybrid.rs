//! The hybrid layout that lets the image boot from a USB stick: the appended ESP partition,
//! the MBR (boot code patched to find the BIOS image, partition table) or a protective MBR
//! and GPT, all in the 32 KiB system area before the first volume descriptor.

use md5::{Digest, Md5};

use super::eltorito::BootFiles;
use super::layout::Layout;
use super::{file_size, IsoError, IsoOptions, MbrStyle, BLOCK};
use crate::gpt::{self, Gpt, GptPartition};
use crate::tree::FsTree;

/// Check the hybrid options against the boot files found.
pub(super) fn validate(opts: &IsoOptions, boot: &BootFiles) -> Result<(), IsoError> {
    let bad = |m: String| Err(IsoError::BadOption(m));
    let Some(h) = &opts.hybrid else {
        return Ok(());
    };
    if opts.chrp_boot_part {
        return bad(
            "a CHRP boot partition takes the whole MBR: no hybrid MBR or GPT with it".into(),
        );
    }
    let code = !h.mbr_template.is_empty();
    if code && !(432..=512).contains(&h.mbr_template.len()) {
        return bad(format!(
            "hybrid MBR template is {} bytes, expected 432 to 512",
            h.mbr_template.len()
        ));
    }
    if code && boot.bios.is_none() {
        return bad("hybrid MBR boot code needs a BIOS boot image".into());
    }
    if !code && boot.efi.is_none() {
        return bad("a hybrid image without MBR boot code needs an EFI boot image".into());
    }
    if h.append_efi && boot.efi.is_none() {
        return bad("appending the EFI partition needs an EFI boot image".into());
    }
    Ok(())
}

/// The disk past the ISO volume, in 512-byte sectors.
pub(super) struct Disk {
    /// First sector of the appended ESP.
    pub esp_start: u64,
    /// Its length (0 when none is appended).
    pub esp_sectors: u64,
    /// The whole image, backup GPT included.
    pub disk_sectors: u64,
    /// Identity for GUIDs and the MBR signature: derived from the image, so reproducible.
    pub ident: [u8; 16],
    /// The GPT, when the options ask for one.
    pub gpt: Option<Gpt>,
}

/// Lay out the disk around the volume: the appended ESP and the partition tables.
pub(super) fn plan(
    tree: &FsTree,
    opts: &IsoOptions,
    layout: &Layout,
    boot: &BootFiles,
    vol_time: i64,
) -> Disk {
    let volume_blocks = layout.volume_blocks;
    let efi_size = boot.efi.map_or(0, |id| file_size(tree, id));
    let (esp_start, esp_sectors, disk_sectors) = match &opts.hybrid {
        Some(h) => {
            let start = volume_blocks * 4;
            let sectors = if h.append_efi {
                efi_size.div_ceil(16 * gpt::SECTOR) * 16
            } else {
                0
            };
            let tail = if h.gpt { 64 } else { 0 };
            (start, sectors, start + sectors + tail)
        }
        None => (0, 0, volume_blocks * 4),
    };
    let ident = {
        let mut h = Md5::new();
        h.update(opts.volume_id.as_bytes());
        h.update(vol_time.to_le_bytes());
        h.update(disk_sectors.to_le_bytes());
        h.update((layout.files as u64).to_le_bytes());
        let d: [u8; 16] = h.finalize().into();
        d
    };
    let mut disk = Disk {
        esp_start,
        esp_sectors,
        disk_sectors,
        ident,
        gpt: None,
    };
    if opts.hybrid.as_ref().is_some_and(|h| h.gpt) {
        disk.gpt = Some(gpt_table(&disk, volume_blocks));
    }
    disk
}

/// The GPT: the ISO volume as a basic data partition from sector 64, and the appended ESP.
fn gpt_table(disk: &Disk, volume_blocks: u64) -> Gpt {
    let mut disk_guid = disk.ident;
    disk_guid[7] = (disk_guid[7] & 0x0F) | 0x40;
    disk_guid[8] = (disk_guid[8] & 0x3F) | 0x80;
    let part_guid = |k: u8| {
        let mut g = disk_guid;
        g[15] = g[15].wrapping_add(k);
        g
    };
    let mut partitions = vec![GptPartition {
        type_guid: gpt::guid(gpt::BASIC_DATA_TYPE),
        guid: part_guid(1),
        first_lba: 64,
        last_lba: volume_blocks * 4 - 1,
        attributes: 0x1000_0000_0000_0001,
        name: "ISO9660".into(),
    }];
    if disk.esp_sectors > 0 {
        partitions.push(GptPartition {
            type_guid: gpt::guid(gpt::ESP_TYPE),
            guid: part_guid(2),
            first_lba: disk.esp_start,
            last_lba: disk.esp_start + disk.esp_sectors - 1,
            attributes: 0,
            name: "EFI System Partition".into(),
        });
    }
    Gpt {
        disk_guid,
        disk_sectors: disk.disk_sectors,
        slots: 248,
        partitions,
    }
}

/// The 16 blocks before the first volume descriptor: zeros, or for a hybrid image the MBR
/// (boot code patched to load the BIOS image) and the primary GPT.
pub(super) fn system_area(
    opts: &IsoOptions,
    disk: &Disk,
    layout: &Layout,
    bios_lba: Option<u32>,
) -> Vec<u8> {
    let mut system = vec![0u8; (16 * BLOCK) as usize];
    let Some(h) = &opts.hybrid else {
        if opts.chrp_boot_part {
            // As xorriso writes it: no boot code, no disk signature, one active entry.
            let entry = gpt::mbr_entry(true, 0x96, 0, layout.volume_blocks * 4);
            gpt::set_mbr_table(&mut system[..512], &[entry]);
        }
        return system;
    };
    let t = &h.mbr_template;
    let code = t.len().min(446);
    system[..code].copy_from_slice(&t[..code]);
    let boot512 = u64::from(bios_lba.unwrap_or(0)) * 4;
    match h.style {
        // No boot code: nothing points at a BIOS image; a disk signature for the table.
        _ if t.is_empty() => system[440..444].copy_from_slice(&disk.ident[..4]),
        MbrStyle::Grub2 => system[432..440].copy_from_slice(&(boot512 + 4).to_le_bytes()),
        MbrStyle::Isohybrid => {
            system[432..436].copy_from_slice(&(boot512 as u32).to_le_bytes());
            system[436..440].fill(0);
            system[440..444].copy_from_slice(&disk.ident[..4]);
            system[444..446].fill(0);
        }
    }
    let table = if disk.gpt.is_some() {
        vec![gpt::mbr_entry(false, 0xEE, 1, disk.disk_sectors - 1)]
    } else {
        let mut t = vec![gpt::mbr_entry(true, 0x17, 0, layout.volume_blocks * 4)];
        if disk.esp_sectors > 0 {
            t.push(gpt::mbr_entry(
                false,
                0xEF,
                disk.esp_start,
                disk.esp_sectors,
            ));
        }
        t
    };
    gpt::set_mbr_table(&mut system[..512], &table);
    if let Some(g) = &disk.gpt {
        let p = g.primary();
        system[512..512 + p.len()].copy_from_slice(&p);
    }
    system
}
