//! EROFS writer: [`FsTree`] in, image bytes out, as the Linux kernel's erofs reads it.
//!
//! Image layout, in block order: block 0 (superblock at byte 1024, compression configs after it,
//! then the root inode and other small inodes in the rest of the block), regular files' data
//! (`data`: written first, in parallel, in file order), directory and long-symlink blocks
//! (`dir`), the shared xattr area (`xattr`), then the remaining inodes with their inline data
//! and compression indexes (`layout`, `inode`). Metadata comes last because an inode's size
//! depends on how its data was stored (compressed or not, how many indexes), and block 0 is
//! written last of all, once every count is known.
//!
//! With `uuid: None` the UUID is the SHA-256 of the image written with a zero UUID, so the same
//! tree and options always give the same bytes.
//!
//! Only features a 6.1 kernel reads are used (the fixtures boot Debian 12's): full 8-byte
//! lcluster indexes, ZERO_PADDING for compressed data, COMPR_CFGS when the algorithm or a
//! pcluster larger than a block needs a configuration record. Holes of sparse files are stored
//! as zero blocks when uncompressed (chunk-based holes would need the CHUNKED_FILE layout, which
//! Debian's fsck.erofs 1.5 extracts wrongly) and compress to almost nothing otherwise.

pub mod compress;
mod data;
mod dir;
pub mod error;
mod inode;
mod layout;
mod superblock;
mod xattr;

use std::io::{Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;

use sha2::{Digest, Sha256};

pub use compress::{Algorithm, Compression};
pub use error::ErofsError;

use crate::tree::{FsTree, Kind, NodeId, Xattr};
use data::{BlockSink, DataFile, DataOptions, FileData};
use dir::{ft, Dirent};
use inode::Inode;
use superblock::BLOCK;

/// How to write the image.
#[derive(Debug, Clone)]
pub struct Options {
    /// Compression of regular files' data; `None` stores everything uncompressed.
    pub compression: Option<Compression>,
    /// Physical cluster size in bytes (mkfs.erofs `-C`): the most compressed bytes one extent may
    /// take; a multiple of the block size. Larger than the block size turns on big pclusters.
    pub pcluster_size: u32,
    /// Filesystem creation time in the superblock (seconds).
    pub mkfs_time: u64,
    /// Clamp every inode's mtime to at most this (reproducible builds' `SOURCE_DATE_EPOCH`).
    pub clamp_mtime: Option<i64>,
    /// Store every entry as owned by root (uid 0, gid 0).
    pub all_root: bool,
    /// Store xattrs (`user.`, `trusted.`, `security.`, POSIX ACLs; others are dropped).
    pub xattrs: bool,
    /// Store identical regular files' data once.
    pub dedup: bool,
    /// Compression threads; 0 means one per core.
    pub threads: usize,
    /// Filesystem UUID; `None` derives it from the image content (reproducible).
    pub uuid: Option<[u8; 16]>,
    /// Volume name (at most 16 bytes).
    pub volume_name: String,
    /// The persistent store shared by builds: compressed segments are taken from it
    /// (verified) and added to it.
    pub block_store: Option<crate::blockstore::BlockStore>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            compression: Some(Compression::default()),
            pcluster_size: 4096,
            mkfs_time: 0,
            clamp_mtime: None,
            all_root: false,
            xattrs: true,
            dedup: true,
            threads: 0,
            uuid: None,
            volume_name: String::new(),
            block_store: None,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Image length in bytes (a multiple of the block size).
    pub bytes: u64,
    /// Number of inodes.
    pub inodes: u64,
    /// Regular files with data.
    pub files: usize,
    /// Files stored as duplicates of earlier ones.
    pub duplicates: usize,
    /// Physical clusters holding compressed data.
    pub compressed_pclusters: u64,
    /// Physical clusters stored uncompressed because compression did not save a block.
    pub plain_pclusters: u64,
    /// The UUID written into the superblock.
    pub uuid: [u8; 16],
    /// Compressed segments taken from the persistent store.
    pub segments_from_cache: u64,
    /// Segments this write compressed itself.
    pub segments_compressed: u64,
    /// Compression CPU seconds (summed over threads) the store saved: its segments' input bytes at
    /// this write's own rate per byte; 0 when the write compressed nothing (no rate to go by).
    pub seconds_saved: f64,
}

/// Write `tree` as an EROFS image to `out` (starting at its current position 0).
pub fn write<W: Write + Seek>(
    tree: &FsTree,
    out: W,
    opts: &Options,
) -> Result<Summary, ErofsError> {
    write_cancellable(tree, out, opts, &|| false)
}

/// The largest pcluster the kernel decompresses (`Z_EROFS_PCLUSTER_MAX_SIZE`).
const MAX_PCLUSTER: u32 = 1 << 20;

/// What an inode is, with what its kind needs.
enum What {
    /// Index into the data files.
    File(usize),
    Dir,
    Symlink,
    Device {
        block: bool,
        rdev: u32,
    },
    Fifo,
    Socket,
}

/// One inode being built.
struct Ino {
    node: NodeId,
    what: What,
    /// Permission bits and type.
    mode: u16,
    nlink: u32,
    size: u64,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<Xattr>,
    /// The xattr body (header, shared ids, inline entries).
    ibody: Vec<u8>,
    extended: bool,
    /// Directories and symlinks: (first block, blocks, inline tail bytes).
    flat: (u32, u32, usize),
    /// Virtual position in the metadata space.
    at: u64,
    nid: u64,
}

impl Ino {
    fn head_len(&self) -> u64 {
        u64::from(if self.extended {
            inode::EXTENDED_SIZE
        } else {
            inode::COMPACT_SIZE
        }) + self.ibody.len() as u64
    }

    fn file_type(&self) -> u8 {
        match self.what {
            What::File(_) => ft::REG,
            What::Dir => ft::DIR,
            What::Symlink => ft::LNK,
            What::Device { block: false, .. } => ft::CHR,
            What::Device { block: true, .. } => ft::BLK,
            What::Fifo => ft::FIFO,
            What::Socket => ft::SOCK,
        }
    }
}

/// The image being written: block 0 is skipped (written last), every later byte is hashed for
/// the content-derived UUID.
struct ImageOut<W: Write> {
    w: std::io::BufWriter<W>,
    pos: u64,
    hash: Sha256,
}

impl<W: Write> BlockSink for ImageOut<W> {
    fn next_block(&self) -> u64 {
        self.pos / BLOCK
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), ErofsError> {
        debug_assert_eq!(bytes.len() as u64 % BLOCK, 0);
        self.w.write_all(bytes).map_err(ErofsError::Write)?;
        self.hash.update(bytes);
        self.pos += bytes.len() as u64;
        Ok(())
    }
}

fn check_options(opts: &Options) -> Result<(), ErofsError> {
    let p = opts.pcluster_size;
    if p < BLOCK as u32 || p > MAX_PCLUSTER || !p.is_multiple_of(BLOCK as u32) {
        return Err(ErofsError::BadOption(format!(
            "pcluster size {p} is not a multiple of 4096 from 4096 to {MAX_PCLUSTER}"
        )));
    }
    if opts.volume_name.len() > 16 {
        return Err(ErofsError::BadOption(format!(
            "volume name `{}` is longer than 16 bytes",
            opts.volume_name
        )));
    }
    Ok(())
}

/// What [`collect`] finds.
struct Collected {
    /// Every inode in walk order (hardlinks folded into their target).
    inos: Vec<Ino>,
    /// Regular files' data, in the same order.
    files: Vec<DataFile>,
    /// For every node, its inode.
    of_node: Vec<usize>,
}

/// The inodes and data files of `tree`.
fn collect(tree: &FsTree, opts: &Options) -> Result<Collected, ErofsError> {
    let rdev = |id: NodeId, major: u32, minor: u32| {
        inode::encode_rdev(major, minor).ok_or_else(|| {
            ErofsError::Limit(format!(
                "device `{}` is {major}:{minor}; erofs stores majors up to 4095 and minors up \
                 to 1048575",
                tree.path(id).display()
            ))
        })
    };
    let mut links = vec![0u32; tree.len()];
    for id in 0..tree.len() {
        if let Kind::Hardlink(t) = tree.node(id).kind {
            links[t] += 1;
        }
    }
    let mut inos = Vec::new();
    let mut files = Vec::new();
    let mut of_node = vec![usize::MAX; tree.len()];
    let order = tree.walk();
    for &id in &order {
        let n = tree.node(id);
        let (what, ty, size, nlink) = match &n.kind {
            Kind::Hardlink(_) => continue,
            Kind::Dir => {
                let subdirs = tree
                    .children(id)
                    .iter()
                    .filter(|&&c| tree.node(c).kind == Kind::Dir)
                    .count() as u32;
                let mut names: Vec<&[u8]> = vec![b".", b".."];
                names.extend(
                    tree.children(id)
                        .iter()
                        .map(|&c| tree.node(c).name.as_bytes()),
                );
                (
                    What::Dir,
                    0o040000,
                    dir::size(names.iter().map(|n| n.len())),
                    2 + subdirs,
                )
            }
            Kind::File { size, data } => {
                files.push(DataFile {
                    size: *size,
                    source: data.clone(),
                    tail_inline: false,
                });
                (What::File(files.len() - 1), 0o100000, *size, 1)
            }
            Kind::Symlink(t) => (What::Symlink, 0o120000, t.len() as u64, 1),
            Kind::CharDevice { major, minor } => (
                What::Device {
                    block: false,
                    rdev: rdev(id, *major, *minor)?,
                },
                0o020000,
                0,
                1,
            ),
            Kind::BlockDevice { major, minor } => (
                What::Device {
                    block: true,
                    rdev: rdev(id, *major, *minor)?,
                },
                0o060000,
                0,
                1,
            ),
            Kind::Fifo => (What::Fifo, 0o010000, 0, 1),
            Kind::Socket => (What::Socket, 0o140000, 0, 1),
        };
        let m = &n.meta;
        let (uid, gid) = if opts.all_root {
            (0, 0)
        } else {
            (m.uid, m.gid)
        };
        let mtime = opts.clamp_mtime.map_or(m.mtime, |c| m.mtime.min(c));
        let nlink = nlink + links[id];
        of_node[id] = inos.len();
        inos.push(Ino {
            node: id,
            what,
            mode: (ty | (m.mode & 0o7777)) as u16,
            nlink,
            size,
            uid,
            gid,
            mtime,
            xattrs: if opts.xattrs {
                xattr::storable(&m.xattrs)
            } else {
                Vec::new()
            },
            ibody: Vec::new(),
            extended: inode::needs_extended(mtime, opts.mkfs_time, uid, gid, nlink, size),
            flat: (0, 0, 0),
            at: 0,
            nid: 0,
        });
    }
    for &id in &order {
        if let Kind::Hardlink(t) = tree.node(id).kind {
            of_node[id] = of_node[t];
        }
    }
    Ok(Collected {
        inos,
        files,
        of_node,
    })
}

/// As [`write()`], asking `cancel` between pclusters on every compression thread and between
/// steps; once it returns true writing stops with [`ErofsError::Cancelled`] and `out` holds an
/// incomplete image the caller should remove.
pub fn write_cancellable<W: Write + Seek>(
    tree: &FsTree,
    out: W,
    opts: &Options,
    cancel: &(dyn Fn() -> bool + Sync),
) -> Result<Summary, ErofsError> {
    check_options(opts)?;
    let step = || {
        if cancel() {
            Err(ErofsError::Cancelled)
        } else {
            Ok(())
        }
    };
    let Collected {
        mut inos,
        mut files,
        of_node,
    } = collect(tree, opts)?;
    let shared = xattr::Shared::build(inos.iter().map(|i| &i.xattrs[..]))?;
    for i in inos.iter_mut() {
        i.ibody = shared.ibody(&i.xattrs)?;
    }
    // A file's tail goes inline when the inode, its xattrs and the tail fit one block.
    for i in &inos {
        if let What::File(f) = i.what {
            let tail = i.size % BLOCK;
            files[f].tail_inline = tail > 0 && i.head_len() + tail <= BLOCK;
        }
    }
    step()?;

    let mut pool = rayon::ThreadPoolBuilder::new();
    if opts.threads > 0 {
        pool = pool.num_threads(opts.threads);
    }
    let pool = pool
        .build()
        .map_err(|e| ErofsError::Limit(format!("cannot start compression threads: {e}")))?;
    let mut out = out;
    let mut img = ImageOut {
        w: std::io::BufWriter::with_capacity(1 << 20, &mut out),
        pos: 0,
        hash: Sha256::new(),
    };
    // Block 0 is written last; reserve it.
    img.w
        .write_all(&[0u8; BLOCK as usize])
        .map_err(ErofsError::Write)?;
    img.pos = BLOCK;
    let data = data::write_data(
        &mut img,
        &files,
        &DataOptions {
            compression: opts.compression,
            pcluster_size: opts.pcluster_size,
            dedup: opts.dedup,
            pool: &pool,
            undecided_limit: data::UNDECIDED_LIMIT,
            store: match (&opts.block_store, opts.compression) {
                (Some(st), Some(c)) => Some(st.namespace(&c.store_params(opts.pcluster_size))),
                _ => None,
            },
        },
        cancel,
    )?;
    step()?;

    let (incompat, cfgs, u1) = features(&data, opts);
    let block0_used = (superblock::OFFSET + superblock::SIZE + cfgs.len()) as u64;
    let block0_free = BLOCK - block0_used.div_ceil(layout::SLOT) * layout::SLOT;

    // After the file data: directory and symlink blocks, the shared xattrs, the metadata.
    let xattr_blkaddr = give_blocks(&mut inos, img.next_block(), block0_free);
    let meta_start = xattr_blkaddr + (shared.area.len() as u64).div_ceil(BLOCK);

    let space = place_inodes(&mut inos, &data, block0_used, meta_start);
    if inos[0].nid > u64::from(u16::MAX) {
        return Err(ErofsError::Limit(
            "the root directory's xattrs do not fit the first block".into(),
        ));
    }
    step()?;

    let tails = write_dirs_and_symlinks(tree, &inos, &of_node, &mut img)?;
    debug_assert_eq!(img.next_block(), xattr_blkaddr);
    let mut area = shared.area.clone();
    area.resize(
        (area.len() as u64).div_ceil(BLOCK) as usize * BLOCK as usize,
        0,
    );
    img.put(&area)?;
    debug_assert_eq!(img.next_block(), meta_start);

    let mut meta = vec![0u8; space.len() as usize];
    encode_inodes(&inos, &data, &tails, &mut meta, opts)?;
    img.put(&meta[BLOCK as usize..])?;
    let blocks = img.next_block();

    let mut volume_name = [0u8; 16];
    volume_name[..opts.volume_name.len()].copy_from_slice(opts.volume_name.as_bytes());
    let mut fields = superblock::Fields {
        root_nid: inos[0].nid as u16,
        inos: inos.len() as u64,
        build_time: opts.mkfs_time,
        blocks: u32::try_from(blocks)
            .map_err(|_| ErofsError::Limit("the image exceeds 16 TiB".into()))?,
        meta_blkaddr: 0,
        xattr_blkaddr: if shared.area.is_empty() {
            0
        } else {
            xattr_blkaddr as u32
        },
        uuid: [0; 16],
        volume_name,
        feature_incompat: incompat,
        u1,
    };
    let block0 = |f: &superblock::Fields| {
        let mut b = meta[..BLOCK as usize].to_vec();
        let so = superblock::OFFSET;
        b[so..so + superblock::SIZE].copy_from_slice(&superblock::bytes(f));
        let co = so + superblock::SIZE;
        b[co..co + cfgs.len()].copy_from_slice(&cfgs);
        b
    };
    fields.uuid = match opts.uuid {
        Some(u) => u,
        None => {
            let mut h = img.hash.clone();
            h.update(block0(&fields));
            let d = h.finalize();
            let mut u = [0u8; 16];
            u.copy_from_slice(&d[..16]);
            // RFC 9562 variant, version 4: random-looking, which a hash is.
            u[6] = (u[6] & 0x0f) | 0x40;
            u[8] = (u[8] & 0x3f) | 0x80;
            u
        }
    };
    let w = ErofsError::Write;
    img.w.seek(SeekFrom::Start(0)).map_err(w)?;
    img.w.write_all(&block0(&fields)).map_err(w)?;
    img.w.flush().map_err(w)?;
    Ok(Summary {
        bytes: blocks * BLOCK,
        inodes: inos.len() as u64,
        files: files.iter().filter(|f| f.size > 0).count(),
        duplicates: data.duplicates,
        compressed_pclusters: data.compressed_pclusters,
        plain_pclusters: data.plain_pclusters,
        uuid: fields.uuid,
        segments_from_cache: data.segments_from_cache,
        segments_compressed: data.segments_compressed,
        seconds_saved: data.seconds_saved,
    })
}

/// Superblock features, compression configuration records and `u1`, from what the data
/// actually uses (an image whose files all stayed uncompressed needs none).
fn features(data: &data::DataOut, opts: &Options) -> (u32, Vec<u8>, u16) {
    let mut incompat = 0;
    let mut cfgs = Vec::new();
    let mut u1 = 0u16;
    if let (true, Some(c)) = (data.any_compressed, opts.compression) {
        incompat |= superblock::INCOMPAT_ZERO_PADDING;
        let lz4 = matches!(c.algorithm, Algorithm::Lz4 | Algorithm::Lz4hc);
        // lz4 in one-block pclusters is the format's default; anything else is configured.
        if !lz4 || opts.pcluster_size as u64 > BLOCK {
            incompat |= superblock::INCOMPAT_COMPR_CFGS;
            cfgs = compress::compr_cfgs(&[c.algorithm], opts.pcluster_size);
            u1 = 1 << compress::on_disk_id(c.algorithm);
        }
    }
    (incompat, cfgs, u1)
}

/// Directory contents and symlink targets: full blocks from `first` on, tails inline when the
/// inode, its xattrs and the tail fit a block (for the root, the rest of block 0). Returns the
/// next free block.
fn give_blocks(inos: &mut [Ino], first: u64, block0_free: u64) -> u64 {
    let mut next = first;
    for (k, i) in inos.iter_mut().enumerate() {
        if !matches!(i.what, What::Dir | What::Symlink) {
            continue;
        }
        let cap = if k == 0 { block0_free } else { BLOCK };
        let tail = i.size % BLOCK;
        let inline = tail > 0 && i.head_len() + tail <= cap;
        let blocks = if inline {
            i.size / BLOCK
        } else {
            i.size.div_ceil(BLOCK)
        };
        i.flat = (
            if blocks > 0 { next as u32 } else { 0 },
            blocks as u32,
            if inline { tail as usize } else { 0 },
        );
        next += blocks;
    }
    next
}

/// Place every inode with what follows it (xattrs, inline data, indexes): this fixes the nids.
fn place_inodes(
    inos: &mut [Ino],
    data: &data::DataOut,
    block0_used: u64,
    meta_start: u64,
) -> layout::MetaSpace {
    let mut space = layout::MetaSpace::new(block0_used, meta_start);
    for i in inos.iter_mut() {
        let extra = match i.what {
            What::File(f) => match &data.files[f] {
                FileData::Flat { tail, .. } => tail.map_or(0, |t| t.1 as u64),
                // Map header at the next 8-byte boundary, a reserved slot, the indexes.
                FileData::Compressed { indexes, .. } => {
                    i.head_len().div_ceil(8) * 8 - i.head_len() + 16 + indexes.len() as u64
                }
                FileData::Empty => 0,
            },
            _ => i.flat.2 as u64,
        };
        i.at = space.place(i.head_len() + extra);
        i.nid = space.image_pos(i.at) / layout::SLOT;
    }
    space
}

/// Write the directory and symlink blocks, in the order [`give_blocks`] gave them addresses;
/// return each inode's inline tail.
fn write_dirs_and_symlinks(
    tree: &FsTree,
    inos: &[Ino],
    of_node: &[usize],
    img: &mut dyn BlockSink,
) -> Result<Vec<Vec<u8>>, ErofsError> {
    let mut tails: Vec<Vec<u8>> = vec![Vec::new(); inos.len()];
    for k in 0..inos.len() {
        let i = &inos[k];
        let content = match i.what {
            What::Dir => {
                let id = i.node;
                let mut entries: Vec<Dirent<'_>> = vec![
                    Dirent {
                        name: b".",
                        nid: i.nid,
                        file_type: ft::DIR,
                    },
                    Dirent {
                        name: b"..",
                        nid: inos[of_node[tree.node(id).parent]].nid,
                        file_type: ft::DIR,
                    },
                ];
                for &c in tree.children(id) {
                    let ci = &inos[of_node[c]];
                    entries.push(Dirent {
                        name: tree.node(c).name.as_bytes(),
                        nid: ci.nid,
                        file_type: ci.file_type(),
                    });
                }
                entries.sort_by(|a, b| a.name.cmp(b.name));
                dir::encode(&entries)
            }
            What::Symlink => match &tree.node(i.node).kind {
                Kind::Symlink(t) => t.as_bytes().to_vec(),
                _ => unreachable!("a symlink inode comes from a symlink node"),
            },
            _ => continue,
        };
        let (_, blocks, tail) = i.flat;
        let body = (blocks as u64 * BLOCK) as usize;
        if blocks > 0 {
            let mut b = content[..body.min(content.len())].to_vec();
            b.resize(body, 0);
            img.put(&b)?;
        }
        if tail > 0 {
            tails[k] = content[body..].to_vec();
        }
    }
    Ok(tails)
}

/// Encode every inode, its xattr body and what follows it into the metadata space `meta`.
fn encode_inodes(
    inos: &[Ino],
    data: &data::DataOut,
    tails: &[Vec<u8>],
    meta: &mut [u8],
    opts: &Options,
) -> Result<(), ErofsError> {
    let algorithm = opts
        .compression
        .map_or(0, |c| compress::on_disk_id(c.algorithm));
    let big = opts.pcluster_size as u64 > BLOCK;
    for (k, i) in inos.iter().enumerate() {
        let mut node = Inode {
            mode: i.mode,
            nlink: i.nlink,
            size: i.size,
            uid: i.uid,
            gid: i.gid,
            mtime: i.mtime,
            i_u: 0,
            ino: k as u32 + 1,
            layout: inode::FLAT_PLAIN,
            xattr_icount: xattr::icount(i.ibody.len())?,
            extended: i.extended,
        };
        let mut inline: &[u8] = &[];
        let mut indexes: Option<&[u8]> = None;
        match i.what {
            What::File(f) => match &data.files[f] {
                FileData::Empty => {}
                FileData::Flat {
                    blkaddr,
                    blocks,
                    tail,
                } => {
                    node.i_u = if *blocks > 0 { *blkaddr } else { 0 };
                    if let Some((off, len)) = *tail {
                        node.layout = inode::FLAT_INLINE;
                        inline = &data.tails[off..off + len];
                    }
                }
                FileData::Compressed {
                    indexes: ix,
                    blocks,
                } => {
                    node.layout = inode::COMPRESSED_FULL;
                    node.i_u = *blocks;
                    indexes = Some(ix);
                }
            },
            What::Dir | What::Symlink => {
                node.i_u = i.flat.0;
                if i.flat.2 > 0 {
                    node.layout = inode::FLAT_INLINE;
                    inline = &tails[k];
                }
            }
            What::Device { rdev, .. } => node.i_u = rdev,
            What::Fifo | What::Socket => {}
        }
        let at = i.at as usize;
        let isize = node.size_on_disk() as usize;
        node.encode(&mut meta[at..at + isize]);
        let mut p = at + isize;
        meta[p..p + i.ibody.len()].copy_from_slice(&i.ibody);
        p += i.ibody.len();
        meta[p..p + inline.len()].copy_from_slice(inline);
        if let Some(ix) = indexes {
            // z_erofs_map_header at the next 8-byte boundary, one reserved slot, the indexes.
            p = p.div_ceil(8) * 8;
            let advise: u16 = if big { 0x0002 } else { 0 };
            meta[p + 4..p + 6].copy_from_slice(&advise.to_le_bytes());
            meta[p + 6] = algorithm;
            // h_clusterbits = 0: lclusters are one 4 KiB block.
            p += 16;
            meta[p..p + ix.len()].copy_from_slice(ix);
        }
    }
    Ok(())
}
