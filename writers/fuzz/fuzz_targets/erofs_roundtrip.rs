//! Random trees written with kiln's EROFS writer (uncompressed, lz4, lz4hc; any pcluster size)
//! must check and extract cleanly with erofs-utils' `fsck.erofs --extract` (an independent
//! reader, Debian's 1.5) and extract to the same tree: every path, type, permission, owner,
//! mtime, file byte, symlink target and device number. `dump.erofs` confirms what extraction
//! cannot show: the superblock (blocks, inode count, UUID), that hardlinks share one inode with
//! the right link count, and which inodes carry xattrs (fsck.erofs 1.5 verifies their encoding
//! but does not extract them). Trees the format cannot hold (device numbers past 12/20 bits)
//! must be refused, never truncated.
//!
//! Runs as root: extraction sets owners and makes device nodes.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use kiln_writers::erofs::{self, Algorithm, Compression, ErofsError};
use kiln_writers::tree::{split_dev, DataSource, FsTree, Kind, Meta, NodeId, Xattr};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

#[path = "names.rs"]
mod names;
use names::name;

/// File data per input, so one execution stays in the milliseconds.
const DATA_BUDGET: usize = 1 << 20;
/// dump.erofs runs per input (one process each) for hardlinks and xattrs.
const DUMPS_MAX: usize = 8;

fn xattrs(u: &mut Unstructured<'_>) -> Result<Vec<Xattr>> {
    let mut set = BTreeMap::new();
    if u.ratio(1, 4)? {
        for _ in 0..u.int_in_range(1..=4)? {
            let (name, value) = match u.int_in_range(0..=3)? {
                // Labels and capabilities repeat across inodes: the writer may share them.
                0 => (
                    b"security.selinux".to_vec(),
                    u.choose(&[
                        &b"system_u:object_r:bin_t:s0\0"[..],
                        b"system_u:object_r:etc_t:s0\0",
                    ])?
                    .to_vec(),
                ),
                1 => (
                    b"security.capability".to_vec(),
                    // vfs_cap_data revision 2, cap_net_raw permitted + effective.
                    [&[0x01, 0, 0, 0x02][..], &0x2000u32.to_le_bytes(), &[0; 16]].concat(),
                ),
                _ => {
                    // `system.` other than POSIX ACLs is not storable in EROFS; the writer
                    // drops it.
                    let prefix = *u.choose(&["user.", "trusted.", "security.", "system."])?;
                    let mut name = prefix.as_bytes().to_vec();
                    let n = u.int_in_range(1..=20)?;
                    name.extend(u.bytes(n)?.iter().map(|b| b.max(&1)));
                    let most = if u.ratio(1, 8)? { 600 } else { 40 };
                    let n = u.int_in_range(0..=most)?;
                    (name, u.bytes(n)?.to_vec())
                }
            };
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
        // u32::MAX is chown's "leave unchanged", which extraction cannot set.
        Ok(if u.ratio(1, 4)? {
            u.arbitrary::<u32>()?.min(u32::MAX - 1)
        } else {
            u.int_in_range(0..=3)?
        })
    };
    Ok(Meta {
        mode: u32::from(u.arbitrary::<u16>()?) & 0o7777,
        uid: id(u)?,
        gid: id(u)?,
        // Past 2106 now and then: extended inodes hold 64-bit times (but stay within what
        // ext4, where extraction lands, can hold: up to 2446).
        mtime: if u.ratio(1, 8)? {
            u.int_in_range(0..=(1i64 << 33))?
        } else {
            i64::from(u.arbitrary::<u32>()?)
        },
        xattrs: xattrs(u)?,
    })
}

/// File data from segments of random bytes, runs of one byte (zeros are holes), and text-like
/// repeats of a short random pattern (what lz4 compresses but not to nothing), or a copy of an
/// earlier file (deduplication).
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
        match u.int_in_range(0..=3)? {
            0 => {
                let n = u.int_in_range(0..=3000)?;
                v.extend_from_slice(u.bytes(n.min(u.len()))?);
            }
            1 | 2 => {
                let most = if u.ratio(1, 3)? { 200_000 } else { 9000 };
                let n = u.int_in_range(0..=most)?;
                let n = n.min(*budget);
                *budget -= n;
                let byte = if u.ratio(1, 2)? { 0 } else { u.arbitrary()? };
                v.resize(v.len() + n, byte);
            }
            _ => {
                let k = u.int_in_range(1..=64usize)?.min(u.len()).max(1);
                let mut pattern = u.bytes(k.min(u.len()))?.to_vec();
                if pattern.is_empty() {
                    pattern.push(b'a');
                }
                let n = u.int_in_range(0..=100_000usize)?.min(*budget);
                *budget -= n;
                let tweak: u8 = u.arbitrary()?;
                let start = v.len();
                for i in 0..n {
                    let mut b = pattern[i % pattern.len()];
                    // A changed byte every few hundred keeps the ratio finite.
                    if (i * 31 + usize::from(tweak)) % 397 == 0 {
                        b = b.wrapping_add(i as u8);
                    }
                    v.push(b);
                }
                debug_assert_eq!(v.len(), start + n);
            }
        }
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
        let kind = match u.int_in_range(0..=10)? {
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
                // The kernel reads targets up to a page; extraction up to PATH_MAX.
                let most = if u.ratio(1, 8)? { 4000 } else { 200 };
                let n = u.int_in_range(1..=most)?;
                let mut t = u.bytes(n.min(u.len()))?.to_vec();
                t.iter_mut().filter(|b| **b == 0).for_each(|b| *b = b'x');
                if t.is_empty() {
                    t.push(b'x');
                }
                Kind::Symlink(std::ffi::OsStr::from_bytes(&t).to_owned())
            }
            6 | 7 if !linkable.is_empty() => Kind::Hardlink(*u.choose(&linkable)?),
            6 => Kind::Fifo,
            7 => Kind::Socket,
            8 => {
                let (major, minor) = device(u)?;
                if u.arbitrary()? {
                    Kind::CharDevice { major, minor }
                } else {
                    Kind::BlockDevice { major, minor }
                }
            }
            9 => Kind::Fifo,
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

fn options(u: &mut Unstructured<'_>) -> Result<erofs::Options> {
    // What Debian's fsck.erofs 1.5 decompresses: lz4 and lz4hc.
    let compression = match u.int_in_range(0..=2)? {
        0 => None,
        1 => Some(Compression {
            algorithm: Algorithm::Lz4,
            level: 0,
        }),
        _ => Some(Compression {
            algorithm: Algorithm::Lz4hc,
            level: u.int_in_range(1..=12)?,
        }),
    };
    let n = u.int_in_range(0..=16usize)?;
    let volume_name: String = u
        .bytes(n.min(u.len()))?
        .iter()
        .map(|b| char::from(b'a' + b % 26))
        .collect();
    Ok(erofs::Options {
        compression,
        pcluster_size: 4096 << u.int_in_range(0..=4)?,
        mkfs_time: u64::from(u.arbitrary::<u32>()?),
        clamp_mtime: if u.ratio(1, 4)? {
            Some(i64::from(u.arbitrary::<u32>()?))
        } else {
            None
        },
        all_root: u.ratio(1, 8)?,
        xattrs: !u.ratio(1, 8)?,
        dedup: u.arbitrary()?,
        threads: u.int_in_range(1..=2)?,
        uuid: if u.arbitrary()? {
            Some(u.arbitrary()?)
        } else {
            None
        },
        volume_name,
        block_store: None,
    })
}

#[derive(Debug, PartialEq)]
enum Got {
    Dir,
    File(Vec<u8>),
    Symlink(Vec<u8>),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
    Socket,
}

/// Permission bits, uid, gid, mtime, what it is.
type Entry = (u32, u32, u32, i64, Got);

/// Extraction chowns after chmod, and chown clears setuid (and setgid with group execute) on
/// anything but a directory; symlinks have no permissions of their own.
fn comparable_mode(mode: u32, got: &Got) -> u32 {
    match got {
        Got::Dir => mode & 0o7777,
        Got::Symlink(_) => 0,
        _ if mode & 0o010 != 0 => mode & 0o1777,
        _ => mode & 0o3777,
    }
}

/// Xattrs EROFS stores: the `user.`, `trusted.`, `security.` namespaces and POSIX ACLs.
fn storable(x: &Xattr) -> bool {
    ["user.", "trusted.", "security."]
        .iter()
        .any(|p| x.name.len() > p.len() && x.name.starts_with(p.as_bytes()))
        || x.name == b"system.posix_acl_access"
        || x.name == b"system.posix_acl_default"
}

fn owner(t: &FsTree, id: NodeId) -> NodeId {
    match t.node(id).kind {
        Kind::Hardlink(h) => h,
        _ => id,
    }
}

fn expected(t: &FsTree, opts: &erofs::Options) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    for id in t.walk() {
        let n = t.node(owner(t, id));
        let got = match &n.kind {
            Kind::Dir => Got::Dir,
            Kind::File {
                data: DataSource::Bytes(b),
                ..
            } => Got::File(b.to_vec()),
            Kind::Symlink(s) => Got::Symlink(s.as_bytes().to_vec()),
            Kind::CharDevice { major, minor } => Got::Char(*major, *minor),
            Kind::BlockDevice { major, minor } => Got::Block(*major, *minor),
            Kind::Fifo => Got::Fifo,
            Kind::Socket => Got::Socket,
            other => unreachable!("{other:?}"),
        };
        let m = &n.meta;
        let (uid, gid) = if opts.all_root {
            (0, 0)
        } else {
            (m.uid, m.gid)
        };
        let mtime = opts.clamp_mtime.map_or(m.mtime, |c| m.mtime.min(c));
        out.insert(
            t.path(id),
            (comparable_mode(m.mode, &got), uid, gid, mtime, got),
        );
    }
    out
}

fn read_back(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let path = root.join(&rel);
        let md = std::fs::symlink_metadata(&path).expect("extracted entry stats");
        let ft = md.file_type();
        let got = if ft.is_dir() {
            for e in std::fs::read_dir(&path).expect("extracted directory lists") {
                stack.push(rel.join(e.expect("directory entry").file_name()));
            }
            Got::Dir
        } else if ft.is_file() {
            Got::File(std::fs::read(&path).expect("extracted file reads"))
        } else if ft.is_symlink() {
            Got::Symlink(
                std::fs::read_link(&path)
                    .expect("symlink target")
                    .as_os_str()
                    .as_bytes()
                    .to_vec(),
            )
        } else if ft.is_char_device() {
            let (major, minor) = split_dev(md.rdev());
            Got::Char(major, minor)
        } else if ft.is_block_device() {
            let (major, minor) = split_dev(md.rdev());
            Got::Block(major, minor)
        } else if ft.is_fifo() {
            Got::Fifo
        } else {
            assert!(ft.is_socket(), "{}: unknown type", path.display());
            Got::Socket
        };
        out.insert(
            rel,
            (
                comparable_mode(md.mode(), &got),
                md.uid(),
                md.gid(),
                md.mtime(),
                got,
            ),
        );
    }
    out
}

/// An entry for a failure message: file data by length and a digest-like sample, not in full.
fn show(e: &Entry) -> String {
    let (mode, uid, gid, mtime, got) = e;
    let what = match got {
        Got::File(d) => {
            let sum = d.iter().fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(*b));
            let zeros = d.iter().filter(|b| **b == 0).count();
            format!("file of {} bytes ({zeros} zero, sum {sum:x})", d.len())
        }
        Got::Symlink(t) => format!("symlink to {:?}", String::from_utf8_lossy(t)),
        other => format!("{other:?}"),
    };
    format!("{what}, mode {mode:o}, owner {uid}:{gid}, mtime {mtime}")
}

fn unencodable(t: &FsTree) -> bool {
    t.walk().into_iter().any(|id| match t.node(id).kind {
        Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => {
            major > 0xfff || minor > 0xfffff
        }
        _ => false,
    })
}

/// A scratch directory of this process, emptied.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-erofs-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

fn run(cmd: &mut Command, img: &Path) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} cannot run (is erofs-utils installed?): {e}"));
    if !out.status.success() {
        keep(img);
        panic!(
            "{cmd:?} failed: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// KILN_FUZZ_DUMP=FILE keeps a failing image for a closer look (dump.erofs, a kernel mount).
fn keep(img: &Path) {
    if let Some(p) = std::env::var_os("KILN_FUZZ_DUMP") {
        std::fs::copy(img, p).expect("keep the image");
    }
}

/// The number after `label` in dump.erofs' output.
fn field(out: &str, label: &str) -> u64 {
    let rest = &out[out
        .find(label)
        .unwrap_or_else(|| panic!("no `{label}` in dump.erofs output:\n{out}"))
        + label.len()..];
    rest.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("`{label}` is not a number in:\n{out}"))
}

fn root_user() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fuzz_target!(|data: &[u8]| {
    assert!(
        root_user(),
        "erofs_roundtrip runs as root (extraction sets owners and makes device nodes)"
    );
    let mut u = Unstructured::new(data);
    let Ok(opts) = options(&mut u) else { return };
    let Ok(tree) = build(&mut u) else { return };
    let mut img = Vec::new();
    let r = erofs::write(&tree, Cursor::new(&mut img), &opts);
    if unencodable(&tree) {
        assert!(
            matches!(r, Err(ErofsError::Limit(_))),
            "an unencodable device number must be refused: {r:?}"
        );
        return;
    }
    let summary = r.expect("the writer accepts every encodable tree");
    assert_eq!(summary.bytes, img.len() as u64);
    assert_eq!(img.len() % 4096, 0, "the image is whole blocks");

    let dir = scratch();
    let image = dir.join("img");
    std::fs::write(&image, &img).expect("write the image");
    let extracted = dir.join("x");
    let mut fsck = Command::new("fsck.erofs");
    fsck.arg(format!("--extract={}", extracted.display()))
        .arg("--preserve")
        .arg(&image);
    run(&mut fsck, &image);

    let want = expected(&tree, &opts);
    let got = read_back(&extracted);
    let keys = |m: &BTreeMap<PathBuf, Entry>| m.keys().cloned().collect::<BTreeSet<_>>();
    if keys(&got) != keys(&want) {
        keep(&image);
    }
    assert_eq!(keys(&got), keys(&want), "paths differ");
    for (path, w) in &want {
        let g = &got[path];
        if g != w {
            keep(&image);
            panic!(
                "/{}: wrote {}, read back {}",
                path.display(),
                show(w),
                show(g)
            );
        }
    }

    // The superblock: size, inode count (hardlinks share one), UUID.
    let sb = run(Command::new("dump.erofs").arg("-s").arg(&image), &image);
    let inodes = tree
        .walk()
        .into_iter()
        .filter(|id| !matches!(tree.node(*id).kind, Kind::Hardlink(_)))
        .count() as u64;
    assert_eq!(summary.inodes, inodes, "summary inode count");
    assert_eq!(field(&sb, "Filesystem inode count:"), inodes, "{sb}");
    assert_eq!(
        field(&sb, "Filesystem blocks:") * 4096,
        img.len() as u64,
        "{sb}"
    );
    if let Some(uuid) = opts.uuid {
        let hex: String = uuid.iter().map(|b| format!("{b:02x}")).collect();
        let shown = sb
            .lines()
            .find(|l| l.starts_with("Filesystem UUID:"))
            .map(|l| l.split_whitespace().last().unwrap_or("").replace('-', ""));
        assert_eq!(shown.as_deref(), Some(hex.as_str()), "{sb}");
    }

    // Hardlinks and xattrs, per inode: one dump.erofs each, so only for some paths.
    let mut names: BTreeMap<NodeId, Vec<NodeId>> = BTreeMap::new();
    for id in tree.walk() {
        names.entry(owner(&tree, id)).or_default().push(id);
    }
    let mut nids: BTreeMap<NodeId, u64> = BTreeMap::new();
    let interesting = tree.walk().into_iter().filter(|id| {
        let o = owner(&tree, *id);
        names[&o].len() > 1 || !tree.node(o).meta.xattrs.is_empty()
    });
    for id in interesting.take(DUMPS_MAX) {
        let o = owner(&tree, id);
        let path = Path::new("/").join(tree.path(id));
        let mut cmd = Command::new("dump.erofs");
        cmd.arg(format!("--path={}", path.display())).arg(&image);
        let out = run(&mut cmd, &image);
        let n = tree.node(o);
        if !matches!(n.kind, Kind::Dir) {
            assert_eq!(
                field(&out, "Links:"),
                names[&o].len() as u64,
                "{}: link count\n{out}",
                path.display()
            );
        }
        let nid = field(&out, "NID:");
        assert_eq!(
            *nids.entry(o).or_insert(nid),
            nid,
            "{}: a hardlink with its own inode",
            path.display()
        );
        let has = opts.xattrs && n.meta.xattrs.iter().any(storable);
        assert_eq!(
            field(&out, "Xattr size:") > 0,
            has,
            "{}: xattrs {:?}\n{out}",
            path.display(),
            n.meta.xattrs
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
});
