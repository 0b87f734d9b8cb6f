//! Inode records and directory listings (spec "Inode table" and "Directory table").
//! Encoding only: which inode gets which number and where is decided in `mod.rs`.

use super::metadata::METADATA_SIZE;

/// Inode type numbers; extended variants are the basic number + 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum InodeType {
    /// Directory.
    Dir = 1,
    /// Regular file.
    File = 2,
    /// Symbolic link.
    Symlink = 3,
    /// Block device.
    Block = 4,
    /// Character device.
    Char = 5,
    /// Named pipe.
    Fifo = 6,
    /// Unix socket.
    Socket = 7,
}

/// "No xattrs" / "no fragment" marker.
pub const NONE32: u32 = 0xffff_ffff;

/// The fields every inode starts with.
pub struct Header {
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u16,
    /// Index into the id table.
    pub uid_idx: u16,
    /// Index into the id table.
    pub gid_idx: u16,
    /// Modification time.
    pub mtime: u32,
    /// 1-based inode number.
    pub ino: u32,
}

fn header(out: &mut Vec<u8>, t: InodeType, extended: bool, h: &Header) {
    let t = t as u16 + if extended { 7 } else { 0 };
    for v in [t, h.mode, h.uid_idx, h.gid_idx] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&h.mtime.to_le_bytes());
    out.extend_from_slice(&h.ino.to_le_bytes());
}

fn u32s(out: &mut Vec<u8>, vals: &[u32]) {
    for v in vals {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// One directory index entry (spec "Directory index"): where a listing header starts, so the
/// kernel's lookup and readdir skip to the metadata block that holds a name or position
/// instead of decompressing the listing from its start.
pub struct DirIndex<'a> {
    /// Byte position of the header in the listing.
    pub at: u32,
    /// Start of the metadata block holding that byte, relative to the directory table.
    pub block: u32,
    /// Name of the header's first entry.
    pub name: &'a [u8],
}

/// A directory inode. Basic when it fits (listing < 64 KiB, no xattrs, no index); extended
/// with `index` (more than one entry: the listing spans metadata blocks) after its fields.
pub fn dir(
    out: &mut Vec<u8>,
    h: &Header,
    nlink: u32,
    listing: (u32, u16, u32),
    parent: u32,
    xattr: u32,
    index: &[DirIndex<'_>],
) {
    let (start, offset, size) = listing;
    let index = if index.len() > 1 { index } else { &[] };
    if xattr == NONE32 && size <= 0xffff && index.is_empty() {
        header(out, InodeType::Dir, false, h);
        u32s(out, &[start, nlink]);
        out.extend_from_slice(&(size as u16).to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        u32s(out, &[parent]);
    } else {
        header(out, InodeType::Dir, true, h);
        u32s(out, &[nlink, size, start, parent]);
        out.extend_from_slice(&(index.len() as u16).to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        u32s(out, &[xattr]);
        for i in index {
            u32s(out, &[i.at, i.block, i.name.len() as u32 - 1]);
            out.extend_from_slice(i.name);
        }
    }
}

/// Where a regular file's data is.
pub struct FileData<'a> {
    /// Absolute position of the first block.
    pub blocks_start: u64,
    /// File length.
    pub size: u64,
    /// Bytes stored as holes.
    pub sparse: u64,
    /// Fragment index or [`NONE32`].
    pub frag: u32,
    /// Offset of the tail in the fragment.
    pub frag_offset: u32,
    /// Block size fields.
    pub blocks: &'a [u32],
}

/// A regular file inode. Basic unless it has links, xattrs, holes or needs 64-bit fields.
pub fn file(out: &mut Vec<u8>, h: &Header, nlink: u32, d: &FileData<'_>, xattr: u32) {
    let basic = nlink == 1
        && xattr == NONE32
        && d.sparse == 0
        && d.size <= u32::MAX as u64
        && d.blocks_start <= u32::MAX as u64;
    header(out, InodeType::File, !basic, h);
    if basic {
        u32s(
            out,
            &[d.blocks_start as u32, d.frag, d.frag_offset, d.size as u32],
        );
    } else {
        for v in [d.blocks_start, d.size, d.sparse] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        u32s(out, &[nlink, d.frag, d.frag_offset, xattr]);
    }
    u32s(out, d.blocks);
}

/// A symlink inode.
pub fn symlink(out: &mut Vec<u8>, h: &Header, nlink: u32, target: &[u8], xattr: u32) {
    header(out, InodeType::Symlink, xattr != NONE32, h);
    u32s(out, &[nlink, target.len() as u32]);
    out.extend_from_slice(target);
    if xattr != NONE32 {
        u32s(out, &[xattr]);
    }
}

/// A device, fifo or socket inode (`dev` is ignored for fifos and sockets).
pub fn special(out: &mut Vec<u8>, t: InodeType, h: &Header, nlink: u32, dev: u32, xattr: u32) {
    let ext = xattr != NONE32;
    header(out, t, ext, h);
    u32s(out, &[nlink]);
    if matches!(t, InodeType::Block | InodeType::Char) {
        u32s(out, &[dev]);
    }
    if ext {
        u32s(out, &[xattr]);
    }
}

/// Linux's `new_encode_dev`, the device number layout squashfs stores.
pub fn encode_dev(major: u32, minor: u32) -> u32 {
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

/// One entry of a directory listing.
pub struct DirEntry<'a> {
    /// Entry name (one path component).
    pub name: &'a [u8],
    /// Inode number.
    pub ino: u32,
    /// Inode reference: block start << 16 | offset.
    pub inode_ref: u64,
    /// Basic type.
    pub t: InodeType,
}

/// An encoded directory listing and where its index points are.
pub struct Listing<'a> {
    /// The listing's bytes.
    pub bytes: Vec<u8>,
    /// Headers the directory index names (byte position, first entry's name): the first one
    /// and then one at least every metadata block's worth of bytes.
    pub index: Vec<(u32, &'a [u8])>,
}

/// Encode a directory listing: runs of entries sharing an inode block, at most 256 per header,
/// inode numbers within an i16 of the run's base. A run also ends where it would carry the
/// listing more than a metadata block past the last index point, so that the next header can
/// be one (as mksquashfs lays out listings).
pub fn listing<'a>(entries: &[DirEntry<'a>]) -> Listing<'a> {
    let mut out = Vec::new();
    let mut index = Vec::new();
    let mut last_index = 0usize;
    let mut i = 0;
    while i < entries.len() {
        let start = out.len();
        let first = 12 + 8 + entries[i].name.len();
        if index.is_empty() || start + first - last_index > METADATA_SIZE {
            index.push((start as u32, entries[i].name));
            last_index = start;
        }
        let block = entries[i].inode_ref >> 16;
        let base = entries[i].ino;
        let mut end = start + first;
        let mut j = i + 1;
        while j < entries.len()
            && j - i < 256
            && entries[j].inode_ref >> 16 == block
            && (entries[j].ino as i64 - base as i64).abs() <= i16::MAX as i64
            && end + 8 + entries[j].name.len() - last_index <= METADATA_SIZE
        {
            end += 8 + entries[j].name.len();
            j += 1;
        }
        u32s(&mut out, &[(j - i - 1) as u32, block as u32, base]);
        for e in &entries[i..j] {
            out.extend_from_slice(&((e.inode_ref & 0xffff) as u16).to_le_bytes());
            out.extend_from_slice(&((e.ino as i64 - base as i64) as i16).to_le_bytes());
            out.extend_from_slice(&(e.t as u16).to_le_bytes());
            out.extend_from_slice(&((e.name.len() - 1) as u16).to_le_bytes());
            out.extend_from_slice(e.name);
        }
        i = j;
    }
    Listing { bytes: out, index }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_encoding_matches_kernel() {
        assert_eq!(encode_dev(8, 1), 0x801);
        assert_eq!(encode_dev(1, 0x123), 0x10_0123);
    }

    /// File entries named `names`, numbered from 1, with `inode_ref(i)` for entry i.
    fn files(names: &[Vec<u8>], inode_ref: impl Fn(usize) -> u64) -> Vec<DirEntry<'_>> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| DirEntry {
                name: n,
                ino: i as u32 + 1,
                inode_ref: inode_ref(i),
                t: InodeType::File,
            })
            .collect()
    }

    #[test]
    fn listing_splits_on_block_and_count() {
        let names: Vec<Vec<u8>> = (0..300).map(|i| format!("f{i:03}").into_bytes()).collect();
        let entries = files(&names, |i| if i < 100 { 5 } else { (40 << 16) | 7 });
        let l = listing(&entries);
        // 2 headers (100 + 200 entries), each 12 bytes; entries 8 + 4 bytes.
        assert_eq!(l.bytes.len(), 2 * 12 + 300 * 12);
        assert_eq!(&l.bytes[0..4], &99u32.to_le_bytes());
        // Under a metadata block: one index point, so the inode stays basic.
        assert_eq!(l.index, [(0, &b"f000"[..])]);
    }

    #[test]
    fn long_listings_get_an_index_point_every_metadata_block() {
        let names: Vec<Vec<u8>> = (0..3000)
            .map(|i| format!("a-rather-long-file-name-{i:05}").into_bytes())
            .collect();
        let entries = files(&names, |_| 9);
        let l = listing(&entries);
        assert!(l.index.len() > 10, "{} index points", l.index.len());
        // Each point is a header whose first entry is the named one, and no two are more than
        // a metadata block apart.
        let mut prev = 0;
        for (n, &(at, name)) in l.index.iter().enumerate() {
            let at = at as usize;
            assert!(n == 0 || at - prev <= METADATA_SIZE, "{prev} -> {at}");
            let len = u16::from_le_bytes([l.bytes[at + 18], l.bytes[at + 19]]) as usize + 1;
            assert_eq!(&l.bytes[at + 20..at + 20 + len], name);
            prev = at;
        }
        assert!(l.bytes.len() - prev <= METADATA_SIZE);

        // The extended inode carries them after its fields: count, then (at, block, size-1, name).
        let index: Vec<DirIndex<'_>> = l
            .index
            .iter()
            .map(|&(at, name)| DirIndex {
                at,
                block: at / 4,
                name,
            })
            .collect();
        let h = Header {
            mode: 0o755,
            uid_idx: 0,
            gid_idx: 0,
            mtime: 0,
            ino: 3001,
        };
        let mut rec = Vec::new();
        dir(
            &mut rec,
            &h,
            2,
            (0, 0, l.bytes.len() as u32 + 3),
            3002,
            NONE32,
            &index,
        );
        assert_eq!(
            u16::from_le_bytes([rec[0], rec[1]]),
            8,
            "extended directory"
        );
        assert_eq!(u16::from_le_bytes([rec[32], rec[33]]) as usize, index.len());
        let first = &rec[40..];
        assert_eq!(&first[..4], &0u32.to_le_bytes());
        assert_eq!(
            u32::from_le_bytes(first[8..12].try_into().unwrap()) as usize,
            names[0].len() - 1
        );
        assert_eq!(&first[12..12 + names[0].len()], &names[0][..]);
    }
}
