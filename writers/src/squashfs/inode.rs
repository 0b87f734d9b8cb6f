//! Inode records and directory listings (spec "Inode table" and "Directory table").
//! Encoding only: which inode gets which number and where is decided in `mod.rs`.

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

/// A directory inode. Basic when it fits (listing < 64 KiB, no xattrs).
pub fn dir(
    out: &mut Vec<u8>,
    h: &Header,
    nlink: u32,
    listing: (u32, u16, u32),
    parent: u32,
    xattr: u32,
) {
    let (start, offset, size) = listing;
    if xattr == NONE32 && size <= 0xffff {
        header(out, InodeType::Dir, false, h);
        u32s(out, &[start, nlink]);
        out.extend_from_slice(&(size as u16).to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        u32s(out, &[parent]);
    } else {
        header(out, InodeType::Dir, true, h);
        u32s(out, &[nlink, size, start, parent]);
        out.extend_from_slice(&0u16.to_le_bytes()); // no directory index: lookups scan
        out.extend_from_slice(&offset.to_le_bytes());
        u32s(out, &[xattr]);
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

/// Encode a directory listing: runs of entries sharing an inode block, at most 256 per header,
/// inode numbers within an i16 of the run's base.
pub fn listing(entries: &[DirEntry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let block = entries[i].inode_ref >> 16;
        let base = entries[i].ino;
        let mut j = i;
        while j < entries.len()
            && j - i < 256
            && entries[j].inode_ref >> 16 == block
            && (entries[j].ino as i64 - base as i64).abs() <= i16::MAX as i64
        {
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_encoding_matches_kernel() {
        assert_eq!(encode_dev(8, 1), 0x801);
        assert_eq!(encode_dev(1, 0x123), 0x10_0123);
    }

    #[test]
    fn listing_splits_on_block_and_count() {
        let names: Vec<Vec<u8>> = (0..300).map(|i| format!("f{i:03}").into_bytes()).collect();
        let entries: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, n)| DirEntry {
                name: n,
                ino: i as u32 + 1,
                inode_ref: if i < 100 { 5 } else { (40 << 16) | 7 },
                t: InodeType::File,
            })
            .collect();
        let l = listing(&entries);
        // 2 headers (100 + 200 entries), each 12 bytes; entries 8 + 4 bytes.
        assert_eq!(l.len(), 2 * 12 + 300 * 12);
        assert_eq!(&l[0..4], &99u32.to_le_bytes());
    }
}
