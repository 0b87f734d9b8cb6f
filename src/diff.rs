//! `kiln diff A.iso B.iso`: which files of two live ISOs differ, for chasing non-reproducible
//! bytes. Compares the ISO's own files (Rock Ridge tree), then recurses into squashfs images
//! (read with backhand) and compressed initramfs archives (cpio newc), and names the ISO
//! structures (system area, volume descriptors, directory records, appended partition) whose
//! blocks differ outside any file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use kiln_writers::iso9660::read::{self as iso_read, EntryKind, IsoEntry};

use crate::error::IoError;
use sha2::{Digest, Sha256};

const BLOCK: u64 = 2048;

/// Errors while diffing.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// Reading an image failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Not an ISO image.
    #[error("cannot read `{path}` as an ISO image")]
    Iso {
        /// The file.
        path: PathBuf,
        #[source]
        source: kiln_writers::iso9660::read::IsoReadError,
    },
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    /// Path; inside a nested image `IMAGE//PATH`; ISO structures in brackets.
    pub path: String,
    /// `content`, `metadata`, `only-a`, `only-b`, `type`.
    pub what: String,
    /// Details (the differing metadata).
    pub detail: String,
}

/// What one entry of an image is, for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    kind: String,
    meta: String,
    digest: Option<[u8; 32]>,
}

/// Why a nested squashfs image cannot be listed (reported as a difference, not an error).
#[derive(Debug, thiserror::Error)]
enum SquashfsError {
    /// The extracted image could not be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// backhand does not read it.
    #[error(transparent)]
    Backhand(#[from] backhand::BackhandError),
}

fn sha(r: &mut impl Read) -> std::io::Result<[u8; 32]> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// Compare two ISO images; an empty list means they are bit-identical.
pub fn diff_isos(a: &Path, b: &Path) -> Result<Vec<Difference>, DiffError> {
    let mut out = Vec::new();
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let ea = iso_read::list(&mut fa).map_err(|source| DiffError::Iso {
        path: a.to_owned(),
        source,
    })?;
    let eb = iso_read::list(&mut fb).map_err(|source| DiffError::Iso {
        path: b.to_owned(),
        source,
    })?;
    let blocks = differing_blocks(a, b)?;
    if blocks.is_empty() {
        return Ok(out);
    }
    structure_diffs(&ea, &eb, &blocks, &mut fa, &mut out).map_err(IoError::at("read", a))?;
    let ma: BTreeMap<String, &IsoEntry> = ea.iter().map(|e| (name(&e.path), e)).collect();
    let mb: BTreeMap<String, &IsoEntry> = eb.iter().map(|e| (name(&e.path), e)).collect();
    for (p, x) in &ma {
        let Some(y) = mb.get(p) else {
            out.push(d(p, "only-a", ""));
            continue;
        };
        if x.kind != y.kind || x.mode != y.mode {
            out.push(d(
                p,
                "metadata",
                &format!("{:?} {:?} != {:?} {:?}", x.kind, x.mode, y.kind, y.mode),
            ));
        }
        if x.kind != EntryKind::File || y.kind != EntryKind::File {
            continue;
        }
        let ha = iso_sha(&mut fa, x).map_err(IoError::at("read", a))?;
        let hb = iso_sha(&mut fb, y).map_err(IoError::at("read", b))?;
        if ha == hb {
            continue;
        }
        out.push(d(
            p,
            "content",
            &format!("{} != {} bytes", x.size(), y.size()),
        ));
        // Nested images: which of their files differ.
        let head_a = iso_head(&mut fa, x).map_err(IoError::at("read", a))?;
        if head_a.starts_with(b"hsqs") {
            let ta = extract(&mut fa, x).map_err(IoError::at("read", a))?;
            let tb = extract(&mut fb, y).map_err(IoError::at("read", b))?;
            match (squashfs_items(ta.path()), squashfs_items(tb.path())) {
                (Ok(ia), Ok(ib)) => compare(p, &ia, &ib, &mut out),
                (Err(e), _) | (_, Err(e)) => {
                    out.push(d(p, "unreadable", &format!("squashfs: {e}")));
                }
            }
        } else if let Some(ia) = initramfs_items(&mut fa, x) {
            if let Some(ib) = initramfs_items(&mut fb, y) {
                compare(p, &ia, &ib, &mut out);
            }
        }
    }
    for p in mb.keys().filter(|p| !ma.contains_key(*p)) {
        out.push(d(p, "only-b", ""));
    }
    Ok(out)
}

fn d(path: &str, what: &str, detail: &str) -> Difference {
    Difference {
        path: path.to_string(),
        what: what.to_string(),
        detail: detail.to_string(),
    }
}

fn name(p: &Path) -> String {
    let s = p.to_string_lossy().into_owned();
    if s.is_empty() {
        "/".into()
    } else {
        s
    }
}

fn open(p: &Path) -> Result<BufReader<File>, DiffError> {
    Ok(BufReader::with_capacity(
        1 << 20,
        File::open(p).map_err(IoError::at("open", p))?,
    ))
}

fn iso_sha(r: &mut BufReader<File>, e: &IsoEntry) -> std::io::Result<[u8; 32]> {
    let mut h = Sha256::new();
    let mut w = HashWriter(&mut h);
    iso_read::copy_file(r, e, &mut w).map_err(std::io::Error::other)?;
    Ok(h.finalize().into())
}

struct HashWriter<'a>(&'a mut Sha256);
impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn iso_head(r: &mut BufReader<File>, e: &IsoEntry) -> std::io::Result<Vec<u8>> {
    let Some(&(block, len)) = e.extents.first() else {
        return Ok(Vec::new());
    };
    r.seek(SeekFrom::Start(u64::from(block) * BLOCK))?;
    let mut head = vec![0u8; len.min(8) as usize];
    r.read_exact(&mut head)?;
    Ok(head)
}

fn extract(r: &mut BufReader<File>, e: &IsoEntry) -> std::io::Result<tempfile::NamedTempFile> {
    let mut t = tempfile::NamedTempFile::new()?;
    iso_read::copy_file(r, e, t.as_file_mut()).map_err(std::io::Error::other)?;
    Ok(t)
}

/// 2048-byte blocks whose bytes differ (and, for images of different sizes, the tail).
fn differing_blocks(a: &Path, b: &Path) -> Result<Vec<u64>, DiffError> {
    let (mut ra, mut rb) = (open(a)?, open(b)?);
    let mut out = Vec::new();
    let (mut ba, mut bb) = (vec![0u8; BLOCK as usize], vec![0u8; BLOCK as usize]);
    let mut n = 0u64;
    loop {
        let la = fill(&mut ra, &mut ba).map_err(IoError::at("read", a))?;
        let lb = fill(&mut rb, &mut bb).map_err(IoError::at("read", b))?;
        if la == 0 && lb == 0 {
            break;
        }
        if la != lb || ba[..la] != bb[..lb] {
            out.push(n);
        }
        n += 1;
    }
    Ok(out)
}

fn fill(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let n = r.read(&mut buf[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

/// Differing blocks that belong to no file of image A, named by the structure they hold.
fn structure_diffs(
    ea: &[IsoEntry],
    eb: &[IsoEntry],
    blocks: &[u64],
    ra: &mut BufReader<File>,
    out: &mut Vec<Difference>,
) -> std::io::Result<()> {
    let mut extents: Vec<(u64, u64)> = ea
        .iter()
        .chain(eb)
        .filter(|e| e.kind == EntryKind::File)
        .flat_map(|e| e.extents.iter())
        .map(|&(b, l)| (u64::from(b), u64::from(b) + u64::from(l).div_ceil(BLOCK)))
        .collect();
    extents.sort_unstable();
    // The volume space size (PVD bytes 80..84): blocks past it are the appended partition
    // and the backup GPT.
    ra.seek(SeekFrom::Start(16 * BLOCK + 80))?;
    let mut sz = [0u8; 4];
    ra.read_exact(&mut sz)?;
    let volume_blocks = u64::from(u32::from_le_bytes(sz));
    let mut named: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for &b in blocks {
        let in_file = extents
            .partition_point(|&(s, _)| s <= b)
            .checked_sub(1)
            .is_some_and(|i| b < extents[i].1);
        if in_file {
            continue;
        }
        let what = match b {
            0..=15 => "[system area: MBR, GPT]",
            16..=31 => "[volume descriptors]",
            _ if b >= volume_blocks => "[past the ISO volume: appended partition, backup GPT]",
            _ => "[directory records, path tables]",
        };
        named.entry(what).or_default().push(b);
    }
    for (what, bl) in named {
        let shown: Vec<String> = bl.iter().take(8).map(u64::to_string).collect();
        out.push(d(
            what,
            "content",
            &format!(
                "{} block(s): {}{}",
                bl.len(),
                shown.join(" "),
                if bl.len() > 8 { " ..." } else { "" }
            ),
        ));
    }
    Ok(())
}

fn compare(
    prefix: &str,
    a: &BTreeMap<String, Item>,
    b: &BTreeMap<String, Item>,
    out: &mut Vec<Difference>,
) {
    for (p, x) in a {
        let path = format!("{prefix}/{p}");
        match b.get(p) {
            None => out.push(d(&path, "only-a", "")),
            Some(y) if x.kind != y.kind => {
                out.push(d(&path, "type", &format!("{} != {}", x.kind, y.kind)));
            }
            Some(y) => {
                if x.digest != y.digest {
                    out.push(d(&path, "content", ""));
                }
                if x.meta != y.meta {
                    out.push(d(&path, "metadata", &format!("{} != {}", x.meta, y.meta)));
                }
            }
        }
    }
    for p in b.keys().filter(|p| !a.contains_key(*p)) {
        out.push(d(&format!("{prefix}/{p}"), "only-b", ""));
    }
}

/// Every node of a squashfs image; the superblock as `[superblock]`.
fn squashfs_items(image: &Path) -> Result<BTreeMap<String, Item>, SquashfsError> {
    let mut f = File::open(image)?;
    let mut sb = vec![0u8; 96];
    f.read_exact(&mut sb).and_then(|()| f.rewind())?;
    let fs = backhand::FilesystemReader::from_reader(BufReader::new(f))?;
    let mut m = BTreeMap::new();
    m.insert(
        "[superblock]".to_string(),
        Item {
            kind: "superblock".into(),
            meta: String::new(),
            digest: Some(Sha256::digest(&sb).into()),
        },
    );
    for node in fs.files() {
        let h = &node.header;
        let meta = format!(
            "mode {:o} uid {} gid {} mtime {}",
            h.permissions, h.uid, h.gid, h.mtime
        );
        let (kind, digest) = match &node.inner {
            backhand::InnerNode::Dir(_) => ("dir".to_string(), None),
            backhand::InnerNode::File(file) => {
                let dg = sha(&mut fs.file(file).reader())?;
                ("file".to_string(), Some(dg))
            }
            backhand::InnerNode::Symlink(s) => (
                "symlink".to_string(),
                Some(Sha256::digest(s.link.as_os_str().as_encoded_bytes()).into()),
            ),
            backhand::InnerNode::CharacterDevice(x) => (format!("chr {}", x.device_number), None),
            backhand::InnerNode::BlockDevice(x) => (format!("blk {}", x.device_number), None),
            backhand::InnerNode::NamedPipe => ("fifo".to_string(), None),
            backhand::InnerNode::Socket => ("socket".to_string(), None),
        };
        let p = node.fullpath.to_string_lossy();
        m.insert(
            p.trim_start_matches('/').to_string(),
            Item { kind, meta, digest },
        );
    }
    Ok(m)
}

/// A gzip- or zstd-compressed (or plain) cpio newc initramfs, possibly several archives in a
/// row (early microcode first); `None` when the file is not one.
fn initramfs_items(r: &mut BufReader<File>, e: &IsoEntry) -> Option<BTreeMap<String, Item>> {
    let mut raw = Vec::new();
    iso_read::copy_file(r, e, &mut raw).ok()?;
    cpio_items(raw)
}

fn cpio_items(raw: Vec<u8>) -> Option<BTreeMap<String, Item>> {
    let data = if raw.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::stream::decode_all(&raw[..]).ok()?
    } else if raw.starts_with(&[0x1f, 0x8b]) {
        let mut v = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut v)
            .ok()?;
        v
    } else if raw.starts_with(b"070701") {
        raw
    } else {
        return None;
    };
    let mut m = BTreeMap::new();
    let mut rest: &[u8] = &data;
    let mut archive = 0;
    while rest.starts_with(b"070701") {
        let mut c = crate::rpmfile::cpio::CpioReader::new(rest);
        while let Ok(Some(ent)) = c.next_entry() {
            if ent.is_trailer() {
                break;
            }
            let crate::rpmfile::cpio::EntryName::Path(p) = &ent.name else {
                return None;
            };
            let digest = match c.data(ent.size) {
                Ok(mut rd) => sha(&mut rd).ok(),
                Err(_) => None,
            };
            let key = if archive == 0 {
                p.trim_start_matches("./").to_string()
            } else {
                format!("[archive {archive}]/{}", p.trim_start_matches("./"))
            };
            m.insert(
                key,
                Item {
                    kind: format!("{:o}", ent.mode & 0o170000),
                    meta: format!(
                        "mode {:o} uid {} gid {} mtime {} nlink {}",
                        ent.mode, ent.uid, ent.gid, ent.mtime, ent.nlink
                    ),
                    digest,
                },
            );
        }
        let used = c.offset() as usize;
        rest = &rest[used.min(rest.len())..];
        // Archives are padded with zeros to a 512-byte boundary or so.
        let skip = rest.iter().take_while(|&&b| b == 0).count();
        rest = &rest[skip..];
        archive += 1;
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpmfile::cpio::{write_newc_entry, write_trailer};

    fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut v = Vec::new();
        for (i, (n, d)) in files.iter().enumerate() {
            write_newc_entry(&mut v, n, 0o100644, 1, i as u32 + 1, d);
        }
        write_trailer(&mut v);
        v
    }

    #[test]
    fn initramfs_archives_in_a_row() {
        // Early microcode first (padded), then the main archive, compressed as kiln does.
        let mut raw = archive(&[("kernel/x86/microcode/a.bin", b"ucode")]);
        raw.resize(raw.len().div_ceil(512) * 512, 0);
        raw.extend(archive(&[("./etc/machine-id", b""), ("usr/bin/x", b"one")]));
        let a = cpio_items(zstd::stream::encode_all(&raw[..], 3).unwrap()).unwrap();
        let keys: Vec<&str> = a.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "[archive 1]/etc/machine-id",
                "[archive 1]/usr/bin/x",
                "kernel/x86/microcode/a.bin"
            ]
        );
        let mut raw2 = archive(&[("kernel/x86/microcode/a.bin", b"ucode")]);
        raw2.resize(raw2.len().div_ceil(512) * 512, 0);
        raw2.extend(archive(&[("./etc/machine-id", b""), ("usr/bin/x", b"two")]));
        let b = cpio_items(raw2).unwrap();
        let mut out = Vec::new();
        compare("initrd.img", &a, &b, &mut out);
        assert_eq!(
            out,
            vec![d("initrd.img/[archive 1]/usr/bin/x", "content", "")]
        );
    }
}
