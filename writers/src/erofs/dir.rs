//! Directory contents (`erofs_fs.h` `struct erofs_dirent`, the kernel's `dir.c` and `namei.c`).
//!
//! A directory's data is a run of blocks; each block starts with 12-byte dirents (nid, name
//! offset, file type) followed by their names, unterminated: a name ends where the next one
//! starts, the last one at the first NUL or the end of the block (or of the directory). Entries,
//! `.` and `..` included, are sorted by name bytes across all blocks: lookups binary-search the
//! blocks by their first name, then the dirents.

use super::superblock::BLOCK;

/// One directory entry.
pub struct Dirent<'a> {
    pub name: &'a [u8],
    pub nid: u64,
    /// `EROFS_FT_*` (the generic `FT_*` values).
    pub file_type: u8,
}

/// `FT_REG_FILE`..`FT_SYMLINK` as the kernel's `fs_ftype_to_dtype` expects them.
pub mod ft {
    pub const REG: u8 = 1;
    pub const DIR: u8 = 2;
    pub const CHR: u8 = 3;
    pub const BLK: u8 = 4;
    pub const FIFO: u8 = 5;
    pub const SOCK: u8 = 6;
    pub const LNK: u8 = 7;
}

const DIRENT: usize = 12;

/// Where each block's entries start: indexes into `names` (sorted), one per block.
fn split(names: impl Iterator<Item = usize>) -> (Vec<usize>, u64) {
    let mut starts = vec![0];
    let mut used = 0usize;
    for (i, len) in names.enumerate() {
        let need = DIRENT + len;
        if used + need > BLOCK as usize {
            starts.push(i);
            used = 0;
        }
        used += need;
    }
    let size = (starts.len() as u64 - 1) * BLOCK + used as u64;
    (starts, size)
}

/// The directory's size in bytes for these (sorted) name lengths.
pub fn size(name_lens: impl Iterator<Item = usize>) -> u64 {
    split(name_lens).1
}

/// The directory's bytes (`size` of them; the last block is not padded).
pub fn encode(entries: &[Dirent<'_>]) -> Vec<u8> {
    let (starts, size) = split(entries.iter().map(|e| e.name.len()));
    let mut out = vec![0u8; size as usize];
    for (b, &start) in starts.iter().enumerate() {
        let end = starts.get(b + 1).copied().unwrap_or(entries.len());
        let blk = &mut out[b * BLOCK as usize..];
        let mut nameoff = (end - start) * DIRENT;
        for (k, e) in entries[start..end].iter().enumerate() {
            let d = &mut blk[k * DIRENT..(k + 1) * DIRENT];
            d[0..8].copy_from_slice(&e.nid.to_le_bytes());
            d[8..10].copy_from_slice(&(nameoff as u16).to_le_bytes());
            d[10] = e.file_type;
            blk[nameoff..nameoff + e.name.len()].copy_from_slice(e.name);
            nameoff += e.name.len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_split_where_entries_stop_fitting() {
        // 200 names of 100 bytes: 37 fit a block (37 * 112 = 4144 > 4096 -> 36).
        let names: Vec<Vec<u8>> = (0..200).map(|i| format!("{i:0100}").into_bytes()).collect();
        let entries: Vec<Dirent<'_>> = names
            .iter()
            .map(|n| Dirent {
                name: n,
                nid: 7,
                file_type: ft::REG,
            })
            .collect();
        let bytes = encode(&entries);
        assert_eq!(bytes.len() as u64, size(names.iter().map(|n| n.len())));
        // First block: 36 entries, names from 432.
        assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 36 * 12);
        assert_eq!(&bytes[432..532], &names[0][..]);
        let second = &bytes[4096..];
        assert_eq!(u16::from_le_bytes([second[8], second[9]]), 36 * 12);
        assert_eq!(&second[432..532], &names[36][..]);
    }
}
