//! squashfs 4.0 writer: [`FsTree`] in, image bytes out.
//!
//! Layout, in the order the kernel's sanity checks expect: superblock, compressor options,
//! data and fragment blocks, inode table, directory table, fragment table, export table, id
//! table, xattr table; the superblock is patched last and the image padded to 4 KiB.
//! Inodes are numbered and written children-first (a directory after everything in it), so a
//! directory's listing can point at inodes that already have their final references.
//!
//! [`write_cancellable`] runs the steps in order: `inode_table::scan` (link counts, data
//! files), `superblock::write_start`, the data pass (`data`, compressors in `compress`,
//! ahead-of-time blocks from `precompress`), `inode_table::write` (inodes and listings,
//! numbering ids and xattr sets of `tables`), `tables` (every table after the data, metadata
//! blocks from `metadata`) and the superblock patched in last.

pub mod compress;
mod data;
pub mod error;
mod inode;
mod inode_table;
mod metadata;
pub mod precompress;
mod superblock;
mod tables;

use std::io::{Seek, SeekFrom, Write};
use std::sync::Arc;

pub use compress::{Bcj, Codec};
pub use error::SquashfsError;
pub use precompress::{BlockCache, PrecompressStats, Precompressor};

use crate::blockstore::BlockStore;
use crate::tree::FsTree;
use data::{DataFile, DataOptions, DataOut};
use inode_table::InodeInput;
use tables::{IdTable, TableWriter, XattrTable};

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
    /// The persistent store shared by builds: full data blocks and fragment blocks are taken
    /// from it (verified) and added to it.
    pub block_store: Option<BlockStore>,
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
            block_store: None,
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
    /// Data blocks taken from the block cache (the precompressor's) instead of compressed.
    pub cached_blocks: u64,
    /// Data and fragment blocks taken from the block cache or the persistent store.
    pub blocks_from_cache: u64,
    /// Of those, fragment blocks.
    pub fragments_from_cache: u64,
    /// Data and fragment blocks this write compressed itself.
    pub blocks_compressed: u64,
    /// Compression seconds (summed over threads) the cache and store saved: their blocks'
    /// input bytes at this write's own rate per byte; when the write compressed nothing, at
    /// the rate of compressing one of those blocks again, timed at the end of the data pass.
    pub seconds_saved: f64,
}

/// Write `tree` as a squashfs image to `out` (starting at its current position 0).
pub fn write<W: Write + Seek>(
    tree: &FsTree,
    out: W,
    opts: &Options,
) -> Result<Summary, SquashfsError> {
    write_cancellable(tree, out, opts, &|| false)
}

/// As [`write()`], asking `cancel` before every data block (on every compression thread) and
/// between the steps after them; once it returns true, writing stops with
/// [`SquashfsError::Cancelled`], the threads end within a block and `out` holds an incomplete
/// image the caller should remove.
pub fn write_cancellable<W: Write + Seek>(
    tree: &FsTree,
    out: W,
    opts: &Options,
    cancel: &(dyn Fn() -> bool + Sync),
) -> Result<Summary, SquashfsError> {
    check_block_size(opts.block_size)?;
    opts.codec.validate(opts.block_size)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    let (slots, files) = inode_table::scan(tree);
    let data_start = superblock::write_start(&mut out, opts)?;
    let data = write_file_data(&mut out, data_start, &files, opts, cancel)?;
    if cancel() {
        return Err(SquashfsError::Cancelled);
    }
    tracing::debug!(
        files = files.len(),
        duplicates = data.duplicates,
        fragments = data.fragments.len(),
        "squashfs data written"
    );
    let codec = opts.codec.clone();
    let mut ids = IdTable::default();
    let mut xattrs = XattrTable::new(&codec, opts.block_size, opts.xattrs);
    let input = InodeInput {
        tree,
        opts,
        data: &data,
    };
    let inodes = inode_table::write(slots, &input, &codec, &mut ids, &mut xattrs)?;
    let (inode_count, root_ref) = (inodes.inode_count, inodes.root_ref);
    let mut tables = TableWriter {
        out: &mut out,
        pos: data.end,
        codec: &codec,
        block_size: opts.block_size,
    };
    let starts = tables.write_all(inodes, &data.fragments, &ids, xattrs)?;
    let counts = superblock::Counts {
        inodes: inode_count,
        fragments: data.fragments.len() as u32,
        ids: ids.len(),
        root_ref,
        bytes_used: tables.pos,
    };
    let padded = finish(
        &mut out,
        &superblock::bytes(opts, &counts, &starts),
        counts.bytes_used,
    )?;
    Ok(Summary {
        bytes: padded,
        inodes: counts.inodes,
        files: files.len(),
        duplicates: data.duplicates,
        fragments: counts.fragments,
        cached_blocks: data.cached_blocks,
        blocks_from_cache: data.blocks_from_cache,
        fragments_from_cache: data.fragments_from_cache,
        blocks_compressed: data.blocks_compressed,
        seconds_saved: data.seconds_saved,
    })
}

fn check_block_size(bs: u32) -> Result<(), SquashfsError> {
    if !(4096..=1 << 20).contains(&bs) || !bs.is_power_of_two() {
        return Err(SquashfsError::BadOption(format!(
            "block size {bs} is not a power of two from 4K to 1M"
        )));
    }
    Ok(())
}

/// The data pass: file data and fragment blocks from `pos` on, compressed in parallel.
fn write_file_data<W: Write>(
    out: &mut W,
    pos: u64,
    files: &[DataFile],
    opts: &Options,
    cancel: &(dyn Fn() -> bool + Sync),
) -> Result<DataOut, SquashfsError> {
    let mut pool = rayon::ThreadPoolBuilder::new();
    if opts.threads > 0 {
        pool = pool.num_threads(opts.threads);
    }
    let pool = pool
        .build()
        .map_err(|e| SquashfsError::Limit(format!("cannot start compression threads: {e}")))?;
    let bs = opts.block_size;
    let data_opts = DataOptions {
        codec: Arc::new(opts.codec.clone()),
        block_size: bs,
        fragments: opts.fragments,
        tail_packing: opts.tail_packing,
        dedup: opts.dedup,
        sparse: opts.sparse,
        pool: Arc::new(pool),
        cache: opts.block_cache.clone().filter(|c| c.fits(&opts.codec, bs)),
        store: opts
            .block_store
            .as_ref()
            .map(|st| st.namespace(&opts.codec.store_params(bs))),
    };
    data::write_data(out, pos, files, &data_opts, cancel)
}

/// Pad the image to 4 KiB, patch the superblock in and flush; return the padded length.
fn finish<W: Write + Seek>(
    out: &mut W,
    superblock: &[u8],
    bytes_used: u64,
) -> Result<u64, SquashfsError> {
    let w = SquashfsError::Write;
    let padded = bytes_used.div_ceil(4096) * 4096;
    out.write_all(&vec![0u8; (padded - bytes_used) as usize])
        .map_err(w)?;
    out.seek(SeekFrom::Start(0)).map_err(w)?;
    out.write_all(superblock).map_err(w)?;
    out.flush().map_err(w)?;
    Ok(padded)
}
