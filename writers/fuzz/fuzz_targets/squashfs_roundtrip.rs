//! Random trees written with kiln's squashfs writer must read back identically with backhand,
//! an independent reader: every path, type, mode, owner, mtime, file byte, symlink target and
//! device number, plus the link counts and xattr presence backhand shows for files. Trees the
//! format cannot hold (device numbers past 12/20 bits) must be refused, never truncated.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;

use backhand::{FilesystemReader, InnerNode, SquashfsFileReader};
use kiln_writers::squashfs::{self, Bcj, Codec, SquashfsError};
use kiln_writers::tree::{DataSource, FsTree, Kind, Meta, NodeId, Xattr};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

#[path = "names.rs"]
mod names;
use names::name;

/// File data per input, so one execution stays in the milliseconds.
const DATA_BUDGET: usize = 1 << 20;

fn xattrs(u: &mut Unstructured<'_>) -> Result<Vec<Xattr>> {
    let mut set = BTreeMap::new();
    if u.ratio(1, 4)? {
        for _ in 0..u.int_in_range(1..=3)? {
            // `system.` is not storable in squashfs; the writer drops it.
            let prefix = *u.choose(&["user.", "trusted.", "security.", "system."])?;
            let mut name = prefix.as_bytes().to_vec();
            let n = u.int_in_range(0..=12)?;
            name.extend_from_slice(u.bytes(n)?);
            let n = u.int_in_range(0..=40)?;
            let value = u.bytes(n)?.to_vec();
            set.insert(name, value);
        }
    }
    Ok(set
        .into_iter()
        .map(|(name, value)| Xattr { name, value })
        .collect())
}

fn meta(u: &mut Unstructured<'_>) -> Result<Meta> {
    let id = |u: &mut Unstructured<'_>| -> Result<u32> {
        if u.ratio(1, 4)? {
            u.arbitrary()
        } else {
            u.int_in_range(0..=3)
        }
    };
    Ok(Meta {
        mode: u32::from(u.arbitrary::<u16>()?) & 0o7777,
        uid: id(u)?,
        gid: id(u)?,
        mtime: i64::from(u.arbitrary::<u32>()?),
        xattrs: xattrs(u)?,
    })
}

/// File data from segments of random bytes, whole zero blocks (holes) and repeated bytes,
/// or a copy of an earlier file (duplicate detection).
fn content(
    u: &mut Unstructured<'_>,
    earlier: &[Arc<[u8]>],
    budget: &mut usize,
) -> Result<Arc<[u8]>> {
    if !earlier.is_empty() && u.ratio(1, 6)? {
        return Ok(u.choose(earlier)?.clone());
    }
    let mut v = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let n = match u.int_in_range(0..=2)? {
            0 => {
                let n = u.int_in_range(0..=3000)?;
                v.extend_from_slice(u.bytes(n.min(u.len()))?);
                continue;
            }
            1 => u.int_in_range(0..=70_000usize)?,
            _ => u.int_in_range(0..=9000usize)?,
        };
        let n = n.min(*budget);
        *budget -= n;
        let byte = if u.ratio(1, 2)? { 0 } else { u.arbitrary()? };
        v.resize(v.len() + n, byte);
    }
    Ok(Arc::from(v))
}

fn device(u: &mut Unstructured<'_>) -> Result<(u32, u32)> {
    Ok(if u.ratio(1, 16)? {
        (u.arbitrary()?, u.arbitrary()?)
    } else {
        (u.int_in_range(0..=0xfff)?, u.int_in_range(0..=0xfffff)?)
    })
}

fn build(u: &mut Unstructured<'_>) -> Result<FsTree> {
    let mut tree = FsTree::new(meta(u)?);
    let mut dirs: Vec<NodeId> = vec![FsTree::ROOT];
    let mut linkable: Vec<NodeId> = Vec::new();
    let mut earlier: Vec<Arc<[u8]>> = Vec::new();
    let mut budget = DATA_BUDGET;
    for _ in 0..u.int_in_range(0..=40)? {
        let parent = *u.choose(&dirs)?;
        let path = tree.path(parent).join(name(u)?);
        let kind = match u.int_in_range(0..=9)? {
            0 | 1 => Kind::Dir,
            2..=4 => {
                let data = content(u, &earlier, &mut budget)?;
                earlier.push(data.clone());
                Kind::File {
                    size: data.len() as u64,
                    data: DataSource::Bytes(data),
                }
            }
            5 => {
                let n = u.int_in_range(1..=300usize)?.min(u.len());
                let mut t = u.bytes(n)?.to_vec();
                t.iter_mut().filter(|b| **b == 0).for_each(|b| *b = b'x');
                if t.is_empty() {
                    t.push(b'x');
                }
                // backhand refuses targets of 256 bytes or more (its own limit; the kernel
                // reads up to a page), so stay below it.
                let mut t = String::from_utf8_lossy(&t).into_owned();
                while t.len() > 255 {
                    t.pop();
                }
                Kind::Symlink(t.into())
            }
            6 if !linkable.is_empty() => Kind::Hardlink(*u.choose(&linkable)?),
            6 => Kind::Fifo,
            7 => {
                let (major, minor) = device(u)?;
                if u.arbitrary()? {
                    Kind::CharDevice { major, minor }
                } else {
                    Kind::BlockDevice { major, minor }
                }
            }
            8 => Kind::Fifo,
            _ => Kind::Socket,
        };
        let m = meta(u)?;
        let is_dir = kind == Kind::Dir;
        let is_link = matches!(kind, Kind::Hardlink(_));
        // A repeated name is simply skipped: the tree refuses it, which is its own contract.
        if let Ok(id) = tree.insert(&path, m, kind) {
            if is_dir {
                dirs.push(id);
            } else if !is_link {
                linkable.push(id);
            }
        }
    }
    Ok(tree)
}

fn options(u: &mut Unstructured<'_>) -> Result<squashfs::Options> {
    let codec = match u.int_in_range(0..=3)? {
        0 => Codec::Gzip {
            level: u.int_in_range(1..=9)?,
            window: u.int_in_range(9..=15)?,
        },
        1 => Codec::Xz {
            dict_size: None,
            filters: if u.arbitrary()? {
                vec![Bcj::X86]
            } else {
                vec![]
            },
            preset: u.int_in_range(0..=6)?,
            extreme: false,
        },
        2 => Codec::Lz4 { hc: u.arbitrary()? },
        // Levels above 9 trip an ASan report inside zstd's own C code, not in kiln.
        _ => Codec::Zstd {
            level: u.int_in_range(1..=9)?,
        },
    };
    Ok(squashfs::Options {
        codec,
        block_size: 4096 << u.int_in_range(0..=4)?,
        mkfs_time: u.arbitrary()?,
        clamp_mtime: None,
        all_root: u.ratio(1, 8)?,
        xattrs: true,
        fragments: u.arbitrary()?,
        tail_packing: u.arbitrary()?,
        dedup: u.arbitrary()?,
        sparse: u.arbitrary()?,
        exportable: u.arbitrary()?,
        threads: 1,
        block_cache: None,
        block_store: None,
    })
}

#[derive(Debug, PartialEq)]
enum Got {
    Dir,
    /// Data, link count, whether the inode has an xattr set.
    File(Vec<u8>, u32, bool),
    Symlink(Vec<u8>),
    Char(u32),
    Block(u32),
    Fifo,
    Socket,
}

type Entry = (u16, u32, u32, u32, Got);

fn storable(x: &Xattr) -> bool {
    ["user.", "trusted.", "security."]
        .iter()
        .any(|p| x.name.len() > p.len() && x.name.starts_with(p.as_bytes()))
}

fn expected(t: &FsTree, all_root: bool) -> BTreeMap<PathBuf, Entry> {
    let mut names: BTreeMap<NodeId, u32> = BTreeMap::new();
    for id in t.walk() {
        if let Kind::Hardlink(h) = t.node(id).kind {
            *names.entry(h).or_insert(1) += 1;
        }
    }
    let enc = |major: u32, minor: u32| (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12);
    let mut out = BTreeMap::new();
    for id in t.walk() {
        let owner = match t.node(id).kind {
            Kind::Hardlink(h) => h,
            _ => id,
        };
        let n = t.node(owner);
        let got = match &n.kind {
            Kind::Dir => Got::Dir,
            Kind::File {
                data: DataSource::Bytes(b),
                ..
            } => Got::File(
                b.to_vec(),
                names.get(&owner).copied().unwrap_or(1),
                n.meta.xattrs.iter().any(storable),
            ),
            Kind::Symlink(s) => Got::Symlink(s.as_bytes().to_vec()),
            Kind::CharDevice { major, minor } => Got::Char(enc(*major, *minor)),
            Kind::BlockDevice { major, minor } => Got::Block(enc(*major, *minor)),
            Kind::Fifo => Got::Fifo,
            Kind::Socket => Got::Socket,
            other => unreachable!("{other:?}"),
        };
        let m = &n.meta;
        let (uid, gid) = if all_root { (0, 0) } else { (m.uid, m.gid) };
        out.insert(
            PathBuf::from("/").join(t.path(id)),
            (m.mode as u16, uid, gid, m.mtime as u32, got),
        );
    }
    out
}

fn read_back(img: &[u8]) -> BTreeMap<PathBuf, Entry> {
    let fs = match FilesystemReader::from_reader(Cursor::new(img)) {
        Ok(fs) => fs,
        Err(e) => {
            // KILN_FUZZ_DUMP=FILE keeps the image for the reference tools (unsquashfs -lls).
            if let Some(p) = std::env::var_os("KILN_FUZZ_DUMP") {
                std::fs::write(p, img).expect("dump the image");
            }
            panic!("backhand cannot open the image: {e:?}");
        }
    };
    let mut out = BTreeMap::new();
    for node in fs.files() {
        let got = match &node.inner {
            InnerNode::Dir(_) => Got::Dir,
            InnerNode::File(f) => {
                let mut v = Vec::new();
                fs.file(f)
                    .reader()
                    .read_to_end(&mut v)
                    .expect("file data reads back");
                let (nlink, xattr) = match f {
                    SquashfsFileReader::Basic(_) => (1, false),
                    SquashfsFileReader::Extended(e) => (e.link_count, e.xattr_index != u32::MAX),
                };
                Got::File(v, nlink, xattr)
            }
            InnerNode::Symlink(s) => Got::Symlink(s.link.as_os_str().as_bytes().to_vec()),
            InnerNode::CharacterDevice(d) => Got::Char(d.device_number),
            InnerNode::BlockDevice(d) => Got::Block(d.device_number),
            InnerNode::NamedPipe => Got::Fifo,
            InnerNode::Socket => Got::Socket,
        };
        let h = &node.header;
        out.insert(
            node.fullpath.clone(),
            (h.permissions, h.uid, h.gid, h.mtime, got),
        );
    }
    out
}

fn unencodable(t: &FsTree) -> bool {
    t.walk().into_iter().any(|id| match t.node(id).kind {
        Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => {
            major > 0xfff || minor > 0xfffff
        }
        _ => false,
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(opts) = options(&mut u) else { return };
    let Ok(tree) = build(&mut u) else { return };
    let mut img = Vec::new();
    let r = squashfs::write(&tree, Cursor::new(&mut img), &opts);
    if unencodable(&tree) {
        assert!(
            matches!(r, Err(SquashfsError::Limit(_))),
            "an unencodable device number must be refused: {r:?}"
        );
        return;
    }
    let summary = r.expect("the writer accepts every encodable tree");
    assert_eq!(summary.bytes, img.len() as u64);
    let want = expected(&tree, opts.all_root);
    let got = read_back(&img);
    let keys = |m: &BTreeMap<PathBuf, Entry>| m.keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(keys(&got), keys(&want), "paths differ");
    for (path, w) in &want {
        assert_eq!(got.get(path), Some(w), "{}", path.display());
    }
});
