//! GPT and MBR partition tables as bytes (UEFI spec 2.10 §5), for hybrid ISO images.
//!
//! Written by hand rather than with the `gpt` crate: an ISO is streamed once through a
//! `Write + Seek`, and the tables must be known before the first byte goes out (primary
//! header in the system area) and again at the very end (backup), which a device-oriented
//! crate reading back a disk cannot do.

/// 512-byte logical sectors, which is what BIOS and UEFI use on USB sticks.
pub const SECTOR: u64 = 512;
/// Partition type "EFI System".
pub const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
/// Partition type "Microsoft basic data" (what xorriso gives the ISO partition).
pub const BASIC_DATA_TYPE: &str = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7";

/// A GUID in its mixed-endian on-disk form from the usual text form.
pub fn guid(text: &str) -> [u8; 16] {
    let hex: Vec<u8> = text
        .bytes()
        .filter(|c| c.is_ascii_hexdigit())
        .map(|c| (c as char).to_digit(16).unwrap_or(0) as u8)
        .collect();
    assert_eq!(hex.len(), 32, "a GUID has 32 hex digits: {text}");
    let mut b = [0u8; 16];
    for i in 0..16 {
        b[i] = hex[2 * i] << 4 | hex[2 * i + 1];
    }
    b[..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    b
}

/// One GPT entry.
#[derive(Debug, Clone)]
pub struct GptPartition {
    /// Type GUID (on-disk form).
    pub type_guid: [u8; 16],
    /// Unique GUID (on-disk form).
    pub guid: [u8; 16],
    /// First sector.
    pub first_lba: u64,
    /// Last sector, inclusive.
    pub last_lba: u64,
    /// Attribute bits.
    pub attributes: u64,
    /// Name (at most 36 UTF-16 units).
    pub name: String,
}

/// A whole GPT: header fields and entries.
#[derive(Debug, Clone)]
pub struct Gpt {
    /// Disk GUID (on-disk form).
    pub disk_guid: [u8; 16],
    /// Disk size in 512-byte sectors.
    pub disk_sectors: u64,
    /// Number of entry slots (128 bytes each); xorriso uses 248 so the array ends at LBA 63.
    pub slots: u32,
    /// The partitions.
    pub partitions: Vec<GptPartition>,
}

impl Gpt {
    /// Sectors the entry array takes.
    pub fn entry_sectors(&self) -> u64 {
        (u64::from(self.slots) * 128).div_ceil(SECTOR)
    }

    /// First usable sector (after the primary array).
    pub fn first_usable(&self) -> u64 {
        2 + self.entry_sectors()
    }

    /// Last usable sector (before the backup array).
    pub fn last_usable(&self) -> u64 {
        self.disk_sectors - 2 - self.entry_sectors()
    }

    fn entries(&self) -> Vec<u8> {
        let mut v = vec![0u8; (self.entry_sectors() * SECTOR) as usize];
        for (i, p) in self.partitions.iter().enumerate() {
            let e = &mut v[i * 128..(i + 1) * 128];
            e[..16].copy_from_slice(&p.type_guid);
            e[16..32].copy_from_slice(&p.guid);
            e[32..40].copy_from_slice(&p.first_lba.to_le_bytes());
            e[40..48].copy_from_slice(&p.last_lba.to_le_bytes());
            e[48..56].copy_from_slice(&p.attributes.to_le_bytes());
            for (j, u) in p.name.encode_utf16().take(36).enumerate() {
                e[56 + 2 * j..58 + 2 * j].copy_from_slice(&u.to_le_bytes());
            }
        }
        v
    }

    fn header(&self, entries: &[u8], primary: bool) -> [u8; 512] {
        let (my, alt, array) = if primary {
            (1, self.disk_sectors - 1, 2)
        } else {
            let last = self.disk_sectors - 1;
            (last, 1, last - self.entry_sectors())
        };
        let mut h = [0u8; 512];
        h[..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&my.to_le_bytes());
        h[32..40].copy_from_slice(&alt.to_le_bytes());
        h[40..48].copy_from_slice(&self.first_usable().to_le_bytes());
        h[48..56].copy_from_slice(&self.last_usable().to_le_bytes());
        h[56..72].copy_from_slice(&self.disk_guid);
        h[72..80].copy_from_slice(&array.to_le_bytes());
        h[80..84].copy_from_slice(&self.slots.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        let used = self.slots as usize * 128;
        h[88..92].copy_from_slice(&crc32fast::hash(&entries[..used]).to_le_bytes());
        let crc = crc32fast::hash(&h[..92]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// Bytes for sectors 1.. : the primary header, then the entry array.
    pub fn primary(&self) -> Vec<u8> {
        let entries = self.entries();
        let mut v = self.header(&entries, true).to_vec();
        v.extend_from_slice(&entries);
        v
    }

    /// Bytes for the last `entry_sectors() + 1` sectors: the entry array, then the header.
    pub fn backup(&self) -> Vec<u8> {
        let mut v = self.entries();
        let h = self.header(&v, false);
        v.extend_from_slice(&h);
        v
    }
}

/// CHS of a sector with xorriso's geometry (64 heads, 32 sectors), saturated past cylinder
/// 1023 as the MBR convention wants.
fn chs(lba: u64) -> [u8; 3] {
    let (heads, secs) = (64u64, 32u64);
    let c = lba / (heads * secs);
    if c > 1023 {
        return [0xFE, 0xFF, 0xFF];
    }
    let h = lba / secs % heads;
    let s = lba % secs + 1;
    [h as u8, (s as u8) | ((c >> 2) as u8 & 0xC0), c as u8]
}

/// A 16-byte MBR partition entry.
pub fn mbr_entry(bootable: bool, kind: u8, start: u64, count: u64) -> [u8; 16] {
    let mut e = [0u8; 16];
    e[0] = if bootable { 0x80 } else { 0 };
    e[1..4].copy_from_slice(&chs(start));
    e[4] = kind;
    e[5..8].copy_from_slice(&chs((start + count).saturating_sub(1)));
    e[8..12].copy_from_slice(&(start.min(u64::from(u32::MAX)) as u32).to_le_bytes());
    e[12..16].copy_from_slice(&(count.min(u64::from(u32::MAX)) as u32).to_le_bytes());
    e
}

/// Put the partition table and the boot signature into a 512-byte MBR.
pub fn set_mbr_table(mbr: &mut [u8], entries: &[[u8; 16]]) {
    mbr[446..510].fill(0);
    for (i, e) in entries.iter().enumerate().take(4) {
        mbr[446 + 16 * i..462 + 16 * i].copy_from_slice(e);
    }
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_on_disk_order() {
        // The ESP type as it appears on disk (e.g. `xorriso -report_system_area`).
        let g = guid(ESP_TYPE);
        assert_eq!(
            g,
            [
                0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e,
                0xc9, 0x3b
            ]
        );
    }

    #[test]
    fn chs_saturates() {
        assert_eq!(chs(0), [0, 1, 0]);
        assert_eq!(chs(1), [0, 2, 0]);
        assert_eq!(chs(10_000_000), [0xFE, 0xFF, 0xFF]);
    }
}
