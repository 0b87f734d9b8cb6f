//! The superblock (spec "Superblock"): a placeholder and the compressor options at the start
//! of the image, and the real bytes patched in once every table's position is known.

use std::io::Write;

use super::error::SquashfsError;
use super::tables::TableStarts;
use super::Options;

/// Superblock flags (spec "Superblock").
mod flags {
    pub const NO_FRAGMENTS: u16 = 0x0010;
    pub const ALWAYS_FRAGMENTS: u16 = 0x0020;
    pub const DUPLICATES: u16 = 0x0040;
    pub const EXPORTABLE: u16 = 0x0080;
    pub const NO_XATTRS: u16 = 0x0200;
    pub const COMPRESSOR_OPTIONS: u16 = 0x0400;
}

pub(super) const SUPERBLOCK_SIZE: usize = 96;

/// Write the superblock's placeholder and the compressor options; return where data starts.
pub(super) fn write_start<W: Write>(out: &mut W, opts: &Options) -> Result<u64, SquashfsError> {
    let w = SquashfsError::Write;
    out.write_all(&[0u8; SUPERBLOCK_SIZE]).map_err(w)?;
    let mut pos = SUPERBLOCK_SIZE as u64;
    if let Some(rec) = opts.codec.options_record(opts.block_size) {
        // Always stored uncompressed, as mksquashfs does.
        out.write_all(&(rec.len() as u16 | 0x8000).to_le_bytes())
            .map_err(w)?;
        out.write_all(&rec).map_err(w)?;
        pos += 2 + rec.len() as u64;
    }
    Ok(pos)
}

/// What the superblock records besides the options.
pub(super) struct Counts {
    pub inodes: u32,
    pub fragments: u32,
    pub ids: u16,
    pub root_ref: u64,
    /// Image length before padding.
    pub bytes_used: u64,
}

fn flags_of(opts: &Options, tables: &TableStarts) -> u16 {
    let mut sb_flags = 0u16;
    if opts.codec.options_record(opts.block_size).is_some() {
        sb_flags |= flags::COMPRESSOR_OPTIONS;
    }
    if opts.exportable {
        sb_flags |= flags::EXPORTABLE;
    }
    if !tables.has_xattrs {
        sb_flags |= flags::NO_XATTRS;
    }
    if opts.dedup {
        sb_flags |= flags::DUPLICATES;
    }
    if !opts.fragments {
        sb_flags |= flags::NO_FRAGMENTS;
    } else if opts.tail_packing {
        sb_flags |= flags::ALWAYS_FRAGMENTS;
    }
    sb_flags
}

/// The superblock's bytes.
pub(super) fn bytes(opts: &Options, counts: &Counts, tables: &TableStarts) -> Vec<u8> {
    let bs = opts.block_size;
    let mut sb = Vec::with_capacity(SUPERBLOCK_SIZE);
    sb.extend_from_slice(b"hsqs");
    for v in [counts.inodes, opts.mkfs_time, bs, counts.fragments] {
        sb.extend_from_slice(&v.to_le_bytes());
    }
    let block_log = bs.trailing_zeros() as u16;
    let sb_flags = flags_of(opts, tables);
    for v in [opts.codec.id(), block_log, sb_flags, counts.ids, 4, 0] {
        sb.extend_from_slice(&v.to_le_bytes());
    }
    for v in [
        counts.root_ref,
        counts.bytes_used,
        tables.id_table,
        tables.xattr_table,
        tables.inode_table,
        tables.dir_table,
        tables.frag_table,
        tables.export_table,
    ] {
        sb.extend_from_slice(&v.to_le_bytes());
    }
    debug_assert_eq!(sb.len(), SUPERBLOCK_SIZE);
    sb
}
