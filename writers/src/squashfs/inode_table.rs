//! The inode and directory tables: link counts and the files whose data is written (in tree
//! order), inode numbers (children first, so a directory after everything in it), and every
//! inode and directory listing, with ids and xattr sets numbered on the way.

use std::os::unix::ffi::OsStrExt;

use super::compress::Codec;
use super::data::{DataFile, DataOut};
use super::error::SquashfsError;
use super::inode::{self, InodeType, NONE32};
use super::metadata::MetadataWriter;
use super::tables::{IdTable, XattrTable};
use super::Options;
use crate::tree::{FsTree, Kind, NodeId};

/// Per-node state while writing: inode number, reference, link count, data file index.
pub(super) struct Slots {
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

/// Link counts and the data files, in tree order.
pub(super) fn scan(tree: &FsTree) -> (Slots, Vec<DataFile>) {
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
    (s, files)
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

/// The two metadata areas, not yet compressed to their end, and what the superblock and the
/// export table need of them.
pub(super) struct InodeTables<'c> {
    pub inodes: MetadataWriter<'c>,
    pub dirs: MetadataWriter<'c>,
    pub inode_count: u32,
    pub root_ref: u64,
    /// Inode references by inode number minus one: the export table, when exportable.
    pub export: Option<Vec<u64>>,
}

/// What the inode pass reads.
pub(super) struct InodeInput<'a> {
    pub tree: &'a FsTree,
    pub opts: &'a Options,
    pub data: &'a DataOut,
}

/// Write every inode (and every directory's listing) in children-first order.
pub(super) fn write<'c>(
    mut s: Slots,
    input: &InodeInput<'_>,
    codec: &'c Codec,
    ids: &mut IdTable,
    xattrs: &mut XattrTable<'_>,
) -> Result<InodeTables<'c>, SquashfsError> {
    let (tree, bs) = (input.tree, input.opts.block_size);
    let mut order = Vec::with_capacity(tree.len());
    number(tree, FsTree::ROOT, &mut s, &mut order);
    let inode_count = u32::try_from(order.len())
        .map_err(|_| SquashfsError::Limit("more than 2^32 inodes".into()))?;
    let mut tables = InodeTables {
        inodes: MetadataWriter::new(codec, bs, false),
        dirs: MetadataWriter::new(codec, bs, false),
        inode_count,
        root_ref: 0,
        export: None,
    };
    let mut rec = Vec::with_capacity(256);
    for &id in &order {
        let h = header(tree, id, &s, input.opts, ids)?;
        let xattr = xattrs.index(&tree.node(id).meta.xattrs)?;
        rec.clear();
        inode_record(input, &s, id, &h, xattr, &mut tables, &mut rec)?;
        let (block, off) = tables.inodes.pos();
        s.iref[id] = (block << 16) | off as u64;
        tables.inodes.write(&rec)?;
    }
    tables.root_ref = s.iref[FsTree::ROOT];
    if input.opts.exportable {
        let mut refs = vec![0u64; inode_count as usize];
        for &id in &order {
            refs[s.ino[id] as usize - 1] = s.iref[id];
        }
        tables.export = Some(refs);
    }
    Ok(tables)
}

/// The header every inode starts with: mode, ids, clamped time, number.
fn header(
    tree: &FsTree,
    id: NodeId,
    s: &Slots,
    opts: &Options,
    ids: &mut IdTable,
) -> Result<inode::Header, SquashfsError> {
    let m = &tree.node(id).meta;
    let (uid, gid) = if opts.all_root {
        (0, 0)
    } else {
        (m.uid, m.gid)
    };
    let mut mtime = m.mtime;
    if let Some(c) = opts.clamp_mtime {
        mtime = mtime.min(c);
    }
    Ok(inode::Header {
        mode: (m.mode & 0o7777) as u16,
        uid_idx: ids.index(uid)?,
        gid_idx: ids.index(gid)?,
        mtime: mtime.clamp(0, u32::MAX as i64) as u32,
        ino: s.ino[id],
    })
}

/// Encode node `id`'s inode into `rec`; a directory's listing goes to the directory table.
fn inode_record(
    input: &InodeInput<'_>,
    s: &Slots,
    id: NodeId,
    h: &inode::Header,
    xattr: u32,
    tables: &mut InodeTables<'_>,
    rec: &mut Vec<u8>,
) -> Result<(), SquashfsError> {
    let tree = input.tree;
    let node = tree.node(id);
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
            let (block, off) = tables.dirs.pos();
            let listing = inode::listing(&entries);
            // Written up to each index point in turn, to learn the metadata block it lands in.
            let mut index = Vec::with_capacity(listing.index.len());
            let mut written = 0;
            for &(at, name) in &listing.index {
                tables.dirs.write(&listing.bytes[written..at as usize])?;
                written = at as usize;
                let block = tables.dirs.pos().0;
                let block = u32::try_from(block)
                    .map_err(|_| SquashfsError::Limit("a directory table over 4 GiB".into()))?;
                index.push(inode::DirIndex { at, block, name });
            }
            tables.dirs.write(&listing.bytes[written..])?;
            let parent = if id == FsTree::ROOT {
                tables.inode_count + 1
            } else {
                s.ino[node.parent]
            };
            let size = listing.bytes.len() as u32 + 3; // "." and ".." count as 3 bytes
            inode::dir(
                rec,
                h,
                s.nlink[id],
                (block as u32, off, size),
                parent,
                xattr,
                &index,
            );
        }
        Kind::File { size, .. } => {
            let loc = &input.data.locs[s.data_idx[id]];
            let (frag, frag_offset) = loc.frag.unwrap_or((NONE32, 0));
            let d = inode::FileData {
                blocks_start: loc.blocks_start,
                size: *size,
                sparse: loc.sparse,
                frag,
                frag_offset,
                blocks: &loc.sizes,
            };
            inode::file(rec, h, s.nlink[id], &d, xattr);
        }
        Kind::Symlink(t) => inode::symlink(rec, h, s.nlink[id], t.as_bytes(), xattr),
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
            inode::special(rec, t, h, s.nlink[id], dev, xattr);
        }
        Kind::Fifo | Kind::Socket => {
            inode::special(rec, basic_type(&node.kind), h, s.nlink[id], 0, xattr)
        }
        Kind::Hardlink(_) => unreachable!("hardlinks are written as their target"),
    }
    Ok(())
}
