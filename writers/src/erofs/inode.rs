//! On-disk inodes: the 32-byte compact and the 64-byte extended form (`erofs_fs.h`).

/// Data layouts (`i_format` bits 1..3).
pub const FLAT_PLAIN: u8 = 0;
/// Compressed with full (8-byte) lcluster indexes.
pub const COMPRESSED_FULL: u8 = 1;
/// Uncompressed, the last partial block inline after the inode.
pub const FLAT_INLINE: u8 = 2;

/// Sizes of the two forms.
pub const COMPACT_SIZE: u32 = 32;
/// The extended form.
pub const EXTENDED_SIZE: u32 = 64;

/// Everything an inode records.
#[derive(Debug, Clone, Default)]
pub struct Inode {
    /// Type and permission bits (`S_IFREG | 0o644`).
    pub mode: u16,
    pub nlink: u32,
    pub size: u64,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    /// `raw_blkaddr`, `compressed_blocks` or `rdev`, by kind.
    pub i_u: u32,
    /// Only for 32-bit `stat`; the kernel numbers inodes by nid.
    pub ino: u32,
    pub layout: u8,
    /// `i_xattr_icount`: 0, or 1 + (ibody bytes - 12) / 4.
    pub xattr_icount: u16,
    pub extended: bool,
}

/// Compact inodes have no mtime (the kernel takes the superblock's build time) and 16-bit owner,
/// link count and 32-bit size fields: anything else needs the extended form.
pub fn needs_extended(
    mtime: i64,
    build_time: u64,
    uid: u32,
    gid: u32,
    nlink: u32,
    size: u64,
) -> bool {
    mtime != build_time as i64
        || uid > 0xffff
        || gid > 0xffff
        || nlink > 0xffff
        || size > u64::from(u32::MAX)
}

/// The device number as the kernel decodes it (`new_decode_dev`): 12 bits of major, 20 of minor.
pub fn encode_rdev(major: u32, minor: u32) -> u32 {
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12)
}

impl Inode {
    /// 32 or 64.
    pub fn size_on_disk(&self) -> u32 {
        if self.extended {
            EXTENDED_SIZE
        } else {
            COMPACT_SIZE
        }
    }

    /// Write the inode into `out` (32 or 64 bytes, zeroed by the caller).
    pub fn encode(&self, out: &mut [u8]) {
        let format = u16::from(self.extended) | (u16::from(self.layout) << 1);
        out[0..2].copy_from_slice(&format.to_le_bytes());
        out[2..4].copy_from_slice(&self.xattr_icount.to_le_bytes());
        out[4..6].copy_from_slice(&self.mode.to_le_bytes());
        if self.extended {
            out[8..16].copy_from_slice(&self.size.to_le_bytes());
            out[16..20].copy_from_slice(&self.i_u.to_le_bytes());
            out[20..24].copy_from_slice(&self.ino.to_le_bytes());
            out[24..28].copy_from_slice(&self.uid.to_le_bytes());
            out[28..32].copy_from_slice(&self.gid.to_le_bytes());
            out[32..40].copy_from_slice(&self.mtime.to_le_bytes());
            // mtime_nsec (40..44) = 0.
            out[44..48].copy_from_slice(&self.nlink.to_le_bytes());
        } else {
            out[6..8].copy_from_slice(&(self.nlink as u16).to_le_bytes());
            out[8..12].copy_from_slice(&(self.size as u32).to_le_bytes());
            out[16..20].copy_from_slice(&self.i_u.to_le_bytes());
            out[20..24].copy_from_slice(&self.ino.to_le_bytes());
            out[24..26].copy_from_slice(&(self.uid as u16).to_le_bytes());
            out[26..28].copy_from_slice(&(self.gid as u16).to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rdev_matches_new_decode_dev() {
        // The kernel's new_decode_dev: major = (dev & 0xfff00) >> 8,
        // minor = (dev & 0xff) | ((dev >> 12) & 0xfff00).
        let dev = encode_rdev(259, 300_000);
        assert_eq!((dev & 0xfff00) >> 8, 259);
        assert_eq!((dev & 0xff) | ((dev >> 12) & 0xfff00), 300_000);
    }
}
