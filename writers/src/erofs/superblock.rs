//! The superblock (128 bytes at byte 1024 of block 0) and the compression configuration records
//! that follow it (`erofs_fs.h`: `struct erofs_super_block`, `z_erofs_parse_cfgs` in the kernel).

/// "E0F5E1E2": the kernel checks it first.
pub const MAGIC: u32 = 0xE0F5_E1E2;
/// Where the superblock starts (room for an x86 boot sector before it).
pub const OFFSET: usize = 1024;
/// Its size without extension slots.
pub const SIZE: usize = 128;
/// log2 of the block size: 4 KiB, the only size a 6.1 kernel (the fixtures') mounts.
pub const BLKSZBITS: u8 = 12;
/// The block size.
pub const BLOCK: u64 = 1 << BLKSZBITS;

/// Compressed data is right-aligned in its pcluster (lz4 "0padding"; required by lzma,
/// deflate and zstd, and it lets the kernel use LZ4_decompress_safe on whole extents).
pub const INCOMPAT_ZERO_PADDING: u32 = 0x1;
/// Compression configuration records follow the superblock; the same bit means big pclusters.
pub const INCOMPAT_COMPR_CFGS: u32 = 0x2;

/// What the superblock records.
pub struct Fields {
    pub root_nid: u16,
    pub inos: u64,
    pub build_time: u64,
    pub blocks: u32,
    pub meta_blkaddr: u32,
    pub xattr_blkaddr: u32,
    pub uuid: [u8; 16],
    pub volume_name: [u8; 16],
    pub feature_incompat: u32,
    /// `available_compr_algs` with COMPR_CFGS, else `lz4_max_distance` (0: the 64 KiB default).
    pub u1: u16,
}

/// The 128 superblock bytes.
pub fn bytes(f: &Fields) -> [u8; SIZE] {
    let mut b = [0u8; SIZE];
    b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    // checksum (4..8) and feature_compat (8..12) stay 0: no SB_CHKSUM, no optional features.
    b[12] = BLKSZBITS;
    // sb_extslots (13) = 0.
    b[14..16].copy_from_slice(&f.root_nid.to_le_bytes());
    b[16..24].copy_from_slice(&f.inos.to_le_bytes());
    b[24..32].copy_from_slice(&f.build_time.to_le_bytes());
    // build_time_nsec (32..36) = 0: the tree carries whole seconds.
    b[36..40].copy_from_slice(&f.blocks.to_le_bytes());
    b[40..44].copy_from_slice(&f.meta_blkaddr.to_le_bytes());
    b[44..48].copy_from_slice(&f.xattr_blkaddr.to_le_bytes());
    b[48..64].copy_from_slice(&f.uuid);
    b[64..80].copy_from_slice(&f.volume_name);
    b[80..84].copy_from_slice(&f.feature_incompat.to_le_bytes());
    b[84..86].copy_from_slice(&f.u1.to_le_bytes());
    // extra_devices, devt_slotoff, dirblkbits (0: directory blocks are filesystem blocks),
    // xattr prefixes, packed_nid and the rest stay 0.
    b
}
