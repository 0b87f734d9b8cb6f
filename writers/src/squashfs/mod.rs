//! squashfs 4.0 writer: [`FsTree`] in, image bytes out.
//!
//! Layout, in the order the kernel's sanity checks expect: superblock, compressor options,
//! data and fragment blocks, inode table, directory table, fragment table, export table, id
//! table, xattr table; the superblock is patched last and the image padded to 4 KiB.
//! Inodes are numbered and written children-first (a directory after everything in it), so a
//! directory's listing can point at inodes that already have their final references.

pub mod compress;
mod data;
pub mod error;
mod inode;
mod metadata;
pub mod precompress;

use std::collections::HashMap;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

pub use compress::{Bcj, Codec};
pub use error::SquashfsError;
pub use precompress::{BlockCache, PrecompressStats, Precompressor};

use crate::tree::{FsTree, Kind, NodeId, Xattr};
use data::{DataFile, DataOptions};
use inode::{InodeType, NONE32};
use metadata::{lookup_table, MetadataWriter};

/// Superblock flags (spec "Superblock").
mod flags {
    pub const NO_FRAGMENTS: u16 = 0x0010;
    pub const ALWAYS_FRAGMENTS: u16 = 0x0020;
    pub const DUPLICATES: u16 = 0x0040;
    pub const EXPORTABLE: u16 = 0x0080;
    pub const NO_XATTRS: u16 = 0x0200;
    pub const COMPRESSOR_OPTIONS: u16 = 0x0400;
}

const SUPERBLOCK_SIZE: usize = 96;
const NOT_SET: u64 = u64::MAX;

/// How to write the image.
#[derive(Debug, Clone)]
pub struct Options {
    /// Compressor and its settings.
    pub codec: Codec,
    /// Data block size, a power of two from 4 KiB to 1 MiB.
    pub block_size: u32,
    /// Filesystem creation time in the superblock.
    pub mkfs_time: u32,
    /// Clamp every inode's mtime to at most this (reproducible builds' `SOURCE_DATE_EPOCH`).
    pub clamp_mtime: Option<i64>,
    /// Store every entry as owned by root (uid 0, gid 0).
    pub all_root: bool,
    /// Store xattrs (`user.`, `trusted.`, `security.`; others are dropped).
    pub xattrs: bool,
    /// Pack files smaller than a block into fragments.
    pub fragments: bool,
    /// Also pack the tails of larger files into fragments (mksquashfs `-always-use-fragments`).
    pub tail_packing: bool,
    /// Store identical files once.
    pub dedup: bool,
    /// Store all-zero blocks as holes.
    pub sparse: bool,
    /// Write the export table (NFS export, `-exports`).
    pub exportable: bool,
    /// Compression threads; 0 means one per core.
    pub threads: usize,
    /// Blocks compressed ahead of time ([`Precompressor`]); used only when made for the same
    /// codec and block size.
    pub block_cache: Option<Arc<BlockCache>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            codec: Codec::default(),
            block_size: 128 * 1024,
            mkfs_time: 0,
            clamp_mtime: None,
            all_root: false,
            xattrs: true,
            fragments: true,
            tail_packing: true,
            dedup: true,
            sparse: true,
            exportable: true,
            threads: 0,
            block_cache: None,
        }
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Image length including padding.
    pub bytes: u64,
    /// Number of inodes.
    pub inodes: u32,
    /// Regular files with data.
    pub files: usize,
    /// Files stored as duplicates of earlier ones.
    pub duplicates: usize,
    /// Fragment blocks.
    pub fragments: u32,
    /// Data blocks taken from the block cache instead of compressed.
    pub cached_blocks: u64,
}

/// Per-node state while writing: inode number, reference, link count.
struct Slots {
    ino: Vec<u32>,
    iref: Vec<u64>,
    nlink: Vec<u32>,
    data_idx: Vec<usize>,
}

fn owner(tree: &FsTree, id: NodeId) -> NodeId {
    match tree.node(id).kind {
        Kind::Hardlink(t) => t,
        _ => id,
    }
}

fn basic_type(kind: &Kind) -> InodeType {
    match kind {
        Kind::Dir => InodeType::Dir,
        Kind::File { .. } | Kind::Hardlink(_) => InodeType::File,
        Kind::Symlink(_) => InodeType::Symlink,
        Kind::CharDevice { .. } => InodeType::Char,
        Kind::BlockDevice { .. } => InodeType::Block,
        Kind::Fifo => InodeType::Fifo,
        Kind::Socket => InodeType::Socket,
    }
}

/// Number inodes children-first: subdirectories, then the other entries, then the directory.
fn number(tree: &FsTree, dir: NodeId, s: &mut Slots, order: &mut Vec<NodeId>) {
    for &c in tree.children(dir) {
        if tree.node(c).kind == Kind::Dir {
            number(tree, c, s, order);
        }
    }
    for &c in tree.children(dir) {
        let o = owner(tree, c);
        if tree.node(c).kind != Kind::Dir && s.ino[o] == 0 {
            order.push(o);
            s.ino[o] = order.len() as u32;
        }
    }
    order.push(dir);
    s.ino[dir] = order.len() as u32;
}

/// The squashfs name-space type and the name without its prefix, or `None` if unsupported.
fn xattr_prefix(name: &[u8]) -> Option<(u16, &[u8])> {
    for (p, t) in [(&b"user."[..], 0u16), (b"trusted.", 1), (b"security.", 2)] {
        if let Some(rest) = name.strip_prefix(p) {
            return Some((t, rest));
        }
    }
    None
}

/// Append `bytes` at `pos`, returning where they start.
fn emit<W: Write>(out: &mut W, pos: &mut u64, bytes: &[u8]) -> Result<u64, SquashfsError> {
    let at = *pos;
    out.write_all(bytes).map_err(SquashfsError::Write)?;
    *pos += bytes.len() as u64;
    Ok(at)
}

/// Write `tree` as a squashfs image to `out` (starting at its current position 0).
pub fn write<W: Write + Seek>(
    tree: &FsTree,
    out: W,
    opts: &Options,
) -> Result<Summary, SquashfsError> {
    write_cancellable(tree, out, opts, &|| false)
}

/// As [`write`], asking `cancel` before every data block (on every compression thread) and
/// between the steps after them; once it returns true, writing stops with
/// [`SquashfsError::Cancelled`], the threads end within a block and `out` holds an incomplete
/// image the caller should remove.
pub fn write_cancellable<W: Write + Seek>(
    tree: &FsTree,
    out: W,
    opts: &Options,
    cancel: &(dyn Fn() -> bool + Sync),
) -> Result<Summary, SquashfsError> {
    let bs = opts.block_size;
    if !(4096..=1 << 20).contains(&bs) || !bs.is_power_of_two() {
        return Err(SquashfsError::BadOption(format!(
            "block size {bs} is not a power of two from 4K to 1M"
        )));
    }
    opts.codec.validate(bs)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    let w = |e| SquashfsError::Write(e);

    // Link counts and the data files, in tree order.
    let n = tree.len();
    let mut s = Slots {
        ino: vec![0; n],
        iref: vec![0; n],
        nlink: vec![0; n],
        data_idx: vec![usize::MAX; n],
    };
    let mut files = Vec::new();
    for id in tree.walk() {
        let node = tree.node(id);
        match &node.kind {
            Kind::Dir => {
                s.nlink[id] += 2;
                if id != FsTree::ROOT {
                    s.nlink[node.parent] += 1;
                }
            }
            Kind::File { size, data } => {
                s.nlink[id] += 1;
                s.data_idx[id] = files.len();
                files.push(DataFile {
                    size: *size,
                    source: data.clone(),
                });
            }
            _ => s.nlink[owner(tree, id)] += 1,
        }
    }

    // Superblock placeholder, compressor options, data.
    out.write_all(&[0u8; SUPERBLOCK_SIZE]).map_err(w)?;
    let mut pos = SUPERBLOCK_SIZE as u64;
    let mut sb_flags = 0u16;
    if let Some(rec) = opts.codec.options_record(bs) {
        // Always stored uncompressed, as mksquashfs does.
        out.write_all(&(rec.len() as u16 | 0x8000).to_le_bytes())
            .map_err(w)?;
        out.write_all(&rec).map_err(w)?;
        pos += 2 + rec.len() as u64;
        sb_flags |= flags::COMPRESSOR_OPTIONS;
    }
    let mut pool = rayon::ThreadPoolBuilder::new();
    if opts.threads > 0 {
        pool = pool.num_threads(opts.threads);
    }
    let pool = pool
        .build()
        .map_err(|e| SquashfsError::Limit(format!("cannot start compression threads: {e}")))?;
    let codec = Arc::new(opts.codec.clone());
    let data = data::write_data(
        &mut out,
        pos,
        &files,
        &DataOptions {
            codec: codec.clone(),
            block_size: bs,
            fragments: opts.fragments,
            tail_packing: opts.tail_packing,
            dedup: opts.dedup,
            sparse: opts.sparse,
            pool: Arc::new(pool),
            cache: opts.block_cache.clone().filter(|c| c.fits(&opts.codec, bs)),
        },
        cancel,
    )?;
    if cancel() {
        return Err(SquashfsError::Cancelled);
    }
    pos = data.end;
    tracing::debug!(
        files = files.len(),
        duplicates = data.duplicates,
        fragments = data.fragments.len(),
        "squashfs data written"
    );

    // Ids and xattr sets, in tree order.
    let mut ids: Vec<u32> = Vec::new();
    let mut id_idx: HashMap<u32, u16> = HashMap::new();
    let mut id_of = |v: u32| -> Result<u16, SquashfsError> {
        if let Some(&i) = id_idx.get(&v) {
            return Ok(i);
        }
        // The id count is a u16 in the superblock.
        let i = u16::try_from(ids.len())
            .ok()
            .filter(|&i| i < u16::MAX)
            .ok_or_else(|| SquashfsError::Limit("more than 65535 uids/gids".into()))?;
        ids.push(v);
        id_idx.insert(v, i);
        Ok(i)
    };
    let mut xattr_kv = MetadataWriter::new(&codec, bs, false);
    let mut xattr_ids: Vec<u8> = Vec::new();
    let mut xattr_sets: HashMap<Vec<Xattr>, u32> = HashMap::new();
    let mut xattr_of = |xs: &[Xattr]| -> Result<u32, SquashfsError> {
        let kept: Vec<Xattr> = xs
            .iter()
            .filter(|x| xattr_prefix(&x.name).is_some_and(|(_, rest)| !rest.is_empty()))
            .cloned()
            .collect();
        if !opts.xattrs || kept.is_empty() {
            return Ok(NONE32);
        }
        if let Some(&i) = xattr_sets.get(&kept) {
            return Ok(i);
        }
        let (block, off) = xattr_kv.pos();
        let mut size = 0u32;
        let mut rec = Vec::new();
        for x in &kept {
            let (t, rest) = xattr_prefix(&x.name).expect("filtered above");
            rec.extend_from_slice(&t.to_le_bytes());
            rec.extend_from_slice(&(rest.len() as u16).to_le_bytes());
            rec.extend_from_slice(rest);
            rec.extend_from_slice(&(x.value.len() as u32).to_le_bytes());
            rec.extend_from_slice(&x.value);
            // squashfs-tools counts name (with prefix) + value, what listxattr/getxattr need.
            size += (x.name.len() + 1 + x.value.len()) as u32;
        }
        xattr_kv.write(&rec)?;
        let i = xattr_sets.len() as u32;
        xattr_ids.extend_from_slice(&((block << 16) | off as u64).to_le_bytes());
        xattr_ids.extend_from_slice(&(kept.len() as u32).to_le_bytes());
        xattr_ids.extend_from_slice(&size.to_le_bytes());
        xattr_sets.insert(kept, i);
        Ok(i)
    };

    // Inodes and directories.
    let mut order = Vec::with_capacity(n);
    number(tree, FsTree::ROOT, &mut s, &mut order);
    let inode_count = u32::try_from(order.len())
        .map_err(|_| SquashfsError::Limit("more than 2^32 inodes".into()))?;
    let mut inodes = MetadataWriter::new(&codec, bs, false);
    let mut dirs = MetadataWriter::new(&codec, bs, false);
    let mut rec = Vec::with_capacity(256);
    for &id in &order {
        let node = tree.node(id);
        let m = &node.meta;
        let (uid, gid) = if opts.all_root {
            (0, 0)
        } else {
            (m.uid, m.gid)
        };
        let mut mtime = m.mtime;
        if let Some(c) = opts.clamp_mtime {
            mtime = mtime.min(c);
        }
        let h = inode::Header {
            mode: (m.mode & 0o7777) as u16,
            uid_idx: id_of(uid)?,
            gid_idx: id_of(gid)?,
            mtime: mtime.clamp(0, u32::MAX as i64) as u32,
            ino: s.ino[id],
        };
        let xattr = xattr_of(&m.xattrs)?;
        rec.clear();
        match &node.kind {
            Kind::Dir => {
                let entries: Vec<inode::DirEntry<'_>> = tree
                    .children(id)
                    .iter()
                    .map(|&c| {
                        let o = owner(tree, c);
                        inode::DirEntry {
                            name: tree.node(c).name.as_bytes(),
                            ino: s.ino[o],
                            inode_ref: s.iref[o],
                            t: basic_type(&tree.node(o).kind),
                        }
                    })
                    .collect();
                let (block, off) = dirs.pos();
                let listing = inode::listing(&entries);
                dirs.write(&listing)?;
                let parent = if id == FsTree::ROOT {
                    inode_count + 1
                } else {
                    s.ino[node.parent]
                };
                let size = listing.len() as u32 + 3; // "." and ".." count as 3 bytes
                inode::dir(
                    &mut rec,
                    &h,
                    s.nlink[id],
                    (block as u32, off, size),
                    parent,
                    xattr,
                );
            }
            Kind::File { size, .. } => {
                let loc = &data.locs[s.data_idx[id]];
                let (frag, frag_offset) = loc.frag.unwrap_or((NONE32, 0));
                let d = inode::FileData {
                    blocks_start: loc.blocks_start,
                    size: *size,
                    sparse: loc.sparse,
                    frag,
                    frag_offset,
                    blocks: &loc.sizes,
                };
                inode::file(&mut rec, &h, s.nlink[id], &d, xattr);
            }
            Kind::Symlink(t) => inode::symlink(&mut rec, &h, s.nlink[id], t.as_bytes(), xattr),
            Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => {
                // squashfs stores Linux's 32-bit encoding (12-bit major, 20-bit minor); larger
                // numbers would come back as a different device.
                if *major > 0xfff || *minor > 0xfffff {
                    return Err(SquashfsError::Limit(format!(
                        "device {major}:{minor} of `{}` needs more than 12 major or 20 minor bits",
                        tree.path(id).display()
                    )));
                }
                let t = basic_type(&node.kind);
                let dev = inode::encode_dev(*major, *minor);
                inode::special(&mut rec, t, &h, s.nlink[id], dev, xattr);
            }
            Kind::Fifo | Kind::Socket => {
                inode::special(&mut rec, basic_type(&node.kind), &h, s.nlink[id], 0, xattr)
            }
            Kind::Hardlink(_) => unreachable!("hardlinks are written as their target"),
        }
        let (block, off) = inodes.pos();
        s.iref[id] = (block << 16) | off as u64;
        inodes.write(&rec)?;
    }
    let root_ref = s.iref[FsTree::ROOT];

    // Tables, in the order the kernel checks them.
    let inode_table = emit(&mut out, &mut pos, &inodes.finish()?)?;
    let dir_table = emit(&mut out, &mut pos, &dirs.finish()?)?;

    let mut frag_bytes = Vec::with_capacity(data.fragments.len() * 16);
    for (start, field) in &data.fragments {
        frag_bytes.extend_from_slice(&start.to_le_bytes());
        frag_bytes.extend_from_slice(&field.to_le_bytes());
        frag_bytes.extend_from_slice(&0u32.to_le_bytes());
    }
    let (t, frag_table) = lookup_table(&codec, bs, false, &frag_bytes, pos)?;
    emit(&mut out, &mut pos, &t)?;

    let mut export_table = NOT_SET;
    if opts.exportable {
        let mut refs = vec![0u64; inode_count as usize];
        for &id in &order {
            refs[s.ino[id] as usize - 1] = s.iref[id];
        }
        let bytes: Vec<u8> = refs.iter().flat_map(|r| r.to_le_bytes()).collect();
        let (t, idx) = lookup_table(&codec, bs, false, &bytes, pos)?;
        emit(&mut out, &mut pos, &t)?;
        export_table = idx;
        sb_flags |= flags::EXPORTABLE;
    }

    let id_bytes: Vec<u8> = ids.iter().flat_map(|i| i.to_le_bytes()).collect();
    let (t, id_table) = lookup_table(&codec, bs, false, &id_bytes, pos)?;
    emit(&mut out, &mut pos, &t)?;

    let mut xattr_table = NOT_SET;
    if xattr_sets.is_empty() {
        sb_flags |= flags::NO_XATTRS;
    } else {
        let kv_start = emit(&mut out, &mut pos, &xattr_kv.finish()?)?;
        let (t, idx) = lookup_table(&codec, bs, false, &xattr_ids, pos)?;
        // The id-block positions follow a 16-byte header; re-split `t` around it.
        let blocks_len = (idx - pos) as usize;
        emit(&mut out, &mut pos, &t[..blocks_len])?;
        let mut hdr = Vec::with_capacity(16);
        hdr.extend_from_slice(&kv_start.to_le_bytes());
        hdr.extend_from_slice(&(xattr_sets.len() as u32).to_le_bytes());
        hdr.extend_from_slice(&0u32.to_le_bytes());
        xattr_table = emit(&mut out, &mut pos, &hdr)?;
        emit(&mut out, &mut pos, &t[blocks_len..])?;
    }
    let bytes_used = pos;
    let padded = bytes_used.div_ceil(4096) * 4096;
    out.write_all(&vec![0u8; (padded - bytes_used) as usize])
        .map_err(w)?;

    if opts.dedup {
        sb_flags |= flags::DUPLICATES;
    }
    if !opts.fragments {
        sb_flags |= flags::NO_FRAGMENTS;
    } else if opts.tail_packing {
        sb_flags |= flags::ALWAYS_FRAGMENTS;
    }
    let mut sb = Vec::with_capacity(SUPERBLOCK_SIZE);
    sb.extend_from_slice(b"hsqs");
    for v in [inode_count, opts.mkfs_time, bs, data.fragments.len() as u32] {
        sb.extend_from_slice(&v.to_le_bytes());
    }
    let block_log = bs.trailing_zeros() as u16;
    for v in [opts.codec.id(), block_log, sb_flags, ids.len() as u16, 4, 0] {
        sb.extend_from_slice(&v.to_le_bytes());
    }
    for v in [
        root_ref,
        bytes_used,
        id_table,
        xattr_table,
        inode_table,
        dir_table,
        frag_table,
        export_table,
    ] {
        sb.extend_from_slice(&v.to_le_bytes());
    }
    debug_assert_eq!(sb.len(), SUPERBLOCK_SIZE);
    out.seek(SeekFrom::Start(0)).map_err(w)?;
    out.write_all(&sb).map_err(w)?;
    out.flush().map_err(w)?;
    Ok(Summary {
        bytes: padded,
        inodes: inode_count,
        files: files.len(),
        duplicates: data.duplicates,
        fragments: data.fragments.len() as u32,
        cached_blocks: data.cached_blocks,
    })
}
