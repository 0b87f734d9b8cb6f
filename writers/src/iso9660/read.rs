//! A small ISO 9660 reader: lists the primary tree (Rock Ridge names and modes when present)
//! and reads file extents. Enough to find `LiveOS/squashfs.img` in a live ISO or copy its files
//! out, without mounting (these machines have no iso9660 driver) or an external tool.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

const BLOCK: u64 = 2048;
/// Rock Ridge `S_IFMT` and the two types the reader distinguishes besides regular files.
const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;

/// Errors reading an ISO image.
#[derive(Debug, thiserror::Error)]
pub enum IsoReadError {
    /// Reading the image failed (the reader has no path; callers name the file).
    #[error("cannot read the ISO image")]
    Io(#[from] std::io::Error),
    /// The bytes are not an ISO 9660 image or are damaged.
    #[error("not a valid ISO 9660 image: {0}")]
    Format(String),
}

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// Anything else Rock Ridge describes (symlink, device, ...); its data is not read.
    Other,
}

/// One entry of the primary tree.
#[derive(Debug, Clone)]
pub struct IsoEntry {
    /// Path relative to the root (Rock Ridge name, else the ISO name without `;1`).
    pub path: PathBuf,
    /// Directory, file or other.
    pub kind: EntryKind,
    /// Rock Ridge permission bits (`0o7777`), when present.
    pub mode: Option<u32>,
    /// The file's extents (block, length); several for files past 4 GiB.
    pub extents: Vec<(u32, u32)>,
}

impl IsoEntry {
    /// Total data length.
    pub fn size(&self) -> u64 {
        self.extents.iter().map(|e| u64::from(e.1)).sum()
    }
}

fn read_at<R: Read + Seek>(r: &mut R, off: u64, len: usize) -> Result<Vec<u8>, IsoReadError> {
    let mut buf = vec![0u8; len];
    r.seek(SeekFrom::Start(off))?;
    r.read_exact(&mut buf)?;
    Ok(buf)
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// List every entry of the primary tree, parents before children.
pub fn list<R: Read + Seek>(r: &mut R) -> Result<Vec<IsoEntry>, IsoReadError> {
    let mut pvd = None;
    for i in 16..64u64 {
        let vd = read_at(r, i * BLOCK, BLOCK as usize)?;
        if &vd[1..6] != b"CD001" {
            return Err(IsoReadError::Format(format!("no CD001 at block {i}")));
        }
        match vd[0] {
            1 => {
                pvd = Some(vd);
                break;
            }
            255 => break,
            _ => {}
        }
    }
    let pvd = pvd.ok_or_else(|| IsoReadError::Format("no primary volume descriptor".into()))?;
    let root = &pvd[156..190];
    let mut out = Vec::new();
    // (path, extent, length); visited breadth-first so parents come first.
    let mut queue =
        std::collections::VecDeque::from([(PathBuf::new(), le32(root, 2), le32(root, 10))]);
    let mut seen = std::collections::HashSet::new();
    while let Some((dir, lba, len)) = queue.pop_front() {
        if !seen.insert(lba) {
            return Err(IsoReadError::Format("directory loop".into()));
        }
        let data = read_at(r, u64::from(lba) * BLOCK, len as usize)?;
        let mut off = 0usize;
        let mut index = 0usize;
        while off < data.len() {
            let rec_len = data[off] as usize;
            if rec_len == 0 {
                // Records never span blocks: the rest of this block is padding.
                off = (off / BLOCK as usize + 1) * BLOCK as usize;
                continue;
            }
            if rec_len < 34 || off + rec_len > data.len() {
                return Err(IsoReadError::Format(format!(
                    "bad directory record at block {lba}"
                )));
            }
            let rec = &data[off..off + rec_len];
            off += rec_len;
            index += 1;
            if index <= 2 {
                continue; // "." and ".."
            }
            let name_len = rec[32] as usize;
            if 33 + name_len > rec.len() {
                return Err(IsoReadError::Format(format!(
                    "bad name length at block {lba}"
                )));
            }
            let iso_name = &rec[33..33 + name_len];
            let su_start = 33 + name_len + (1 - name_len % 2);
            let rr = rock_ridge(r, rec.get(su_start..).unwrap_or(&[]))?;
            let flags = rec[25];
            let extent = (le32(rec, 2), le32(rec, 10));
            let name = rr.name.unwrap_or_else(|| plain_name(iso_name));
            let path = dir.join(std::ffi::OsString::from_vec(name));
            // Multi-extent files: continuation records repeat the name right after.
            if let Some(prev) = out.last_mut().filter(|p: &&mut IsoEntry| p.path == path) {
                prev.extents.push(extent);
                continue;
            }
            let kind = match rr.mode.map(|m| m & S_IFMT) {
                Some(S_IFDIR) => EntryKind::Dir,
                Some(S_IFREG) => EntryKind::File,
                Some(_) => EntryKind::Other,
                None if flags & 2 != 0 => EntryKind::Dir,
                None => EntryKind::File,
            };
            if kind == EntryKind::Dir {
                queue.push_back((path.clone(), extent.0, extent.1));
            }
            out.push(IsoEntry {
                path,
                kind,
                mode: rr.mode.map(|m| m & 0o7777),
                extents: if kind == EntryKind::File {
                    vec![extent]
                } else {
                    Vec::new()
                },
            });
        }
    }
    Ok(out)
}

/// An ISO level-2 identifier without its version and empty extension.
fn plain_name(id: &[u8]) -> Vec<u8> {
    let id = match id.iter().rposition(|&b| b == b';') {
        Some(i) => &id[..i],
        None => id,
    };
    id.strip_suffix(b".").unwrap_or(id).to_vec()
}

#[derive(Default)]
struct RockRidge {
    name: Option<Vec<u8>>,
    mode: Option<u32>,
}

/// The NM and PX entries of a system use area, following CE continuations.
fn rock_ridge<R: Read + Seek>(r: &mut R, area: &[u8]) -> Result<RockRidge, IsoReadError> {
    let mut rr = RockRidge::default();
    let mut name: Vec<u8> = Vec::new();
    let mut named = false;
    let mut area = area.to_vec();
    // A bound on continuation areas, so a looping CE chain cannot hang the reader.
    for _ in 0..32 {
        let mut next = None;
        let mut i = 0usize;
        while i + 4 <= area.len() {
            let (sig, len) = (&area[i..i + 2], area[i + 2] as usize);
            if len < 4 || i + len > area.len() {
                break;
            }
            let e = &area[i..i + len];
            match sig {
                // Flags: CURRENT/PARENT name no real entry; CONTINUE keeps appending.
                b"NM" if len >= 5 && e[4] & 6 == 0 => {
                    name.extend_from_slice(&e[5..]);
                    named = true;
                }
                b"PX" if len >= 12 => rr.mode = Some(le32(e, 4)),
                b"CE" if len >= 28 => {
                    next = Some((le32(e, 4), le32(e, 12), le32(e, 20)));
                }
                b"ST" => break,
                _ => {}
            }
            i += len;
        }
        match next {
            Some((block, off, len)) => {
                area = read_at(r, u64::from(block) * BLOCK + u64::from(off), len as usize)?;
            }
            None => break,
        }
    }
    if named {
        rr.name = Some(name);
    }
    Ok(rr)
}

/// Copy an entry's data to `out`.
pub fn copy_file<R: Read + Seek, W: std::io::Write>(
    r: &mut R,
    entry: &IsoEntry,
    out: &mut W,
) -> Result<u64, IsoReadError> {
    let mut total = 0;
    for &(block, len) in &entry.extents {
        r.seek(SeekFrom::Start(u64::from(block) * BLOCK))?;
        let n = std::io::copy(&mut r.by_ref().take(u64::from(len)), out)?;
        if n != u64::from(len) {
            return Err(IsoReadError::Format(format!(
                "`{}` runs past the end of the image",
                entry.path.display()
            )));
        }
        total += n;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso9660::{write_iso, IsoOptions};
    use crate::tree::{DataSource, FsTree, Kind, Meta};
    use std::path::Path;
    use std::sync::Arc;

    #[test]
    fn lists_and_reads_what_the_writer_wrote() {
        let mut t = FsTree::new(Meta::default());
        let file = |b: &[u8]| Kind::File {
            size: b.len() as u64,
            data: DataSource::Bytes(Arc::from(b)),
        };
        t.insert(Path::new("LiveOS"), Meta::default(), Kind::Dir)
            .unwrap();
        let long = "a-name-longer-than-thirty-one-characters.with.dots.txt";
        let big: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        t.insert(
            Path::new("LiveOS/squashfs.img"),
            Meta::default(),
            file(&big),
        )
        .unwrap();
        t.insert(Path::new(long), Meta::default(), file(b"hello"))
            .unwrap();
        t.insert(
            Path::new("link"),
            Meta::default(),
            Kind::Symlink("LiveOS".into()),
        )
        .unwrap();
        let mut img = std::io::Cursor::new(Vec::new());
        write_iso(&t, &IsoOptions::default(), &mut img).unwrap();
        let entries = list(&mut img).unwrap();
        let find = |p: &str| entries.iter().find(|e| e.path == Path::new(p)).unwrap();
        assert_eq!(find("LiveOS").kind, EntryKind::Dir);
        assert_eq!(find("link").kind, EntryKind::Other);
        let sq = find("LiveOS/squashfs.img");
        assert_eq!((sq.kind, sq.size()), (EntryKind::File, 5000));
        let mut got = Vec::new();
        copy_file(&mut img, sq, &mut got).unwrap();
        assert_eq!(got, big);
        let mut got = Vec::new();
        copy_file(&mut img, find(long), &mut got).unwrap();
        assert_eq!(got, b"hello");
    }
}
