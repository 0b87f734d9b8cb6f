//! Regular files' data: duplicate detection, fixed-output compression into physical clusters,
//! the uncompressed fallback, lcluster indexes, and the ordered write ("parallel compute,
//! ordered commit", DESIGN.md §1.4).
//!
//! A file is cut into segments (jobs) compressed on the pool; the writer thread takes their
//! results in file order, so where bytes land never depends on thread timing. Each segment is
//! compressed as mkfs.erofs compresses a file: fill a pcluster from the current position with as
//! much input as fits, keep it when it saves at least a block over storing that input, else
//! store one block uncompressed and go on. A file whose compressed form saves no block at all is
//! stored uncompressed (FLAT) instead; since a segment never takes more blocks than its raw
//! input, one segment that saves a block settles the file as compressed.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::compress::{Compression, Compressor};
use super::error::ErofsError;
use super::superblock::BLOCK;
use crate::blockstore::{Key, Namespace};
use crate::tree::{DataSource, SourceReadError};

const BS: usize = BLOCK as usize;
/// Input per job (and per store entry; the segment rules here are part of the store
/// namespace's revision, `compress::STORE_REVISION`): big enough that a segment boundary (one partly used block) costs nothing
/// measurable, small enough that the jobs in flight stay in memory.
const SEGMENT: usize = 4 << 20;
/// Most input one pcluster may hold: bounds the kernel's decompression buffer for very
/// compressible data (mkfs.erofs bounds it likewise).
const MAX_EXTENT: usize = 1 << 20;
/// A file still undecided (no segment saved a block) after this much input is stored
/// uncompressed, so an incompressible giant file is not held in memory.
pub const UNDECIDED_LIMIT: usize = 64 << 20;
/// Lcluster index types (`Z_EROFS_LCLUSTER_TYPE_*`) and the CBLKCNT flag of delta[0].
const LCLUSTER_PLAIN: u16 = 0;
const LCLUSTER_HEAD1: u16 = 1;
const LCLUSTER_NONHEAD: u16 = 2;
const D0_CBLKCNT: u16 = 1 << 11;

/// A regular file whose data goes into the image.
pub struct DataFile {
    pub size: u64,
    pub source: DataSource,
    /// Its last partial block goes inline after the inode (decided from the inode's size).
    pub tail_inline: bool,
}

/// Where a file's data ended up.
#[derive(Debug, Clone)]
pub enum FileData {
    /// No data.
    Empty,
    /// Uncompressed, `blocks` contiguous blocks from `blkaddr`, the tail in `tails[range]`
    /// when inline.
    Flat {
        blkaddr: u32,
        blocks: u32,
        tail: Option<(usize, usize)>,
    },
    /// Compressed: the full lcluster index array, and the pclusters' total blocks.
    Compressed { indexes: Arc<[u8]>, blocks: u32 },
}

/// Settings for the data area.
pub struct DataOptions<'a> {
    pub compression: Option<Compression>,
    pub pcluster_size: u32,
    pub dedup: bool,
    pub pool: &'a rayon::ThreadPool,
    /// [`UNDECIDED_LIMIT`] (smaller in tests).
    pub undecided_limit: usize,
    /// The persistent store's namespace for this compression and pcluster size.
    pub store: Option<Namespace>,
}

/// Result of the data pass.
pub struct DataOut {
    /// Per input file.
    pub files: Vec<FileData>,
    /// Inline tails, addressed by [`FileData::Flat`]'s `tail`.
    pub tails: Vec<u8>,
    pub duplicates: usize,
    pub compressed_pclusters: u64,
    pub plain_pclusters: u64,
    /// Whether any file is stored compressed (the superblock's features depend on it).
    pub any_compressed: bool,
    /// Segments to compress taken from the store.
    pub segments_from_cache: u64,
    /// Segments this write compressed.
    pub segments_compressed: u64,
    /// Compression seconds (summed over threads) the store's segments saved, at this write's
    /// rate per input byte (0 when it compressed nothing).
    pub seconds_saved: f64,
}

/// The caller's "stop now?" question.
pub type Cancel<'a> = &'a (dyn Fn() -> bool + Sync);

/// Where the image bytes go: whole blocks, in order.
pub trait BlockSink {
    /// The next free block.
    fn next_block(&self) -> u64;
    /// Append these bytes (a multiple of the block size).
    fn put(&mut self, bytes: &[u8]) -> Result<(), ErofsError>;
}

fn read_at(
    src: &DataSource,
    file: &mut Option<std::fs::File>,
    off: u64,
    buf: &mut [u8],
) -> Result<(), ErofsError> {
    src.read_exact_at(file, off, buf).map_err(|e| match e {
        SourceReadError::Io(e) => ErofsError::Io(e),
        SourceReadError::ShortBytes => {
            ErofsError::Limit("in-memory file shorter than its size".into())
        }
    })
}

fn hash_file(f: &DataFile, cancel: Cancel<'_>) -> Result<[u8; 32], ErofsError> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; SEGMENT.min(f.size as usize)];
    let mut handle = None;
    let mut off = 0;
    while off < f.size {
        if cancel() {
            return Err(ErofsError::Cancelled);
        }
        let n = (f.size - off).min(SEGMENT as u64) as usize;
        read_at(&f.source, &mut handle, off, &mut buf[..n])?;
        h.update(&buf[..n]);
        off += n as u64;
    }
    Ok(h.finalize().into())
}

/// For every file, the earlier file with the same content (and the same tail placement, so
/// both inodes can point at the same blocks), and how many have one.
fn find_duplicates(
    files: &[DataFile],
    o: &DataOptions<'_>,
    cancel: Cancel<'_>,
) -> Result<(Vec<Option<usize>>, usize), ErofsError> {
    let mut canon = vec![None; files.len()];
    if !o.dedup {
        return Ok((canon, 0));
    }
    // Only files that share their size (and tail placement) with another can be duplicates:
    // the others are not read twice.
    let mut same_size: HashMap<(u64, bool), u32> = HashMap::new();
    for f in files {
        *same_size.entry((f.size, f.tail_inline)).or_default() += 1;
    }
    let hashes: Vec<Option<[u8; 32]>> = o.pool.install(|| {
        files
            .par_iter()
            .map(|f| {
                if f.size == 0 || same_size[&(f.size, f.tail_inline)] < 2 {
                    Ok(None)
                } else {
                    hash_file(f, cancel).map(Some)
                }
            })
            .collect::<Result<_, _>>()
    })?;
    let mut first: HashMap<(u64, bool, [u8; 32]), usize> = HashMap::new();
    let mut duplicates = 0;
    for (i, h) in hashes.into_iter().enumerate() {
        let Some(h) = h else { continue };
        match first.entry((files[i].size, files[i].tail_inline, h)) {
            std::collections::hash_map::Entry::Occupied(e) => {
                canon[i] = Some(*e.get());
                duplicates += 1;
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(i);
            }
        }
    }
    Ok((canon, duplicates))
}

thread_local! {
    /// Each worker's compressor, kept across jobs: an lzma or zstd encoder's tables cost more
    /// to set up than a small file takes to compress.
    static COMPRESSOR: RefCell<Option<(Compression, u32, Compressor)>> = const { RefCell::new(None) };
}

/// Run `f` with this thread's compressor for `c` and `pcluster_size`.
fn with_compressor<R>(
    c: Compression,
    pcluster_size: u32,
    f: impl FnOnce(&mut Compressor) -> Result<R, ErofsError>,
) -> Result<R, ErofsError> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        match &mut *slot {
            Some((sc, sp, z)) if *sc == c && *sp == pcluster_size => f(z),
            _ => {
                let mut z = Compressor::new(c, pcluster_size)?;
                let r = f(&mut z);
                *slot = Some((c, pcluster_size, z));
                r
            }
        }
    })
}

/// One extent of a segment: its input length and the blocks it takes.
#[derive(Debug, Clone, Copy)]
struct Ext {
    len: u32,
    blocks: u32,
    plain: bool,
}

/// A segment compressed: its extents and their blocks, back to back.
struct Packed {
    extents: Vec<Ext>,
    blocks: Vec<u8>,
}

/// A job's result: the input (needed when the file ends up uncompressed) and, when it saved
/// at least a block, its compressed form.
struct SegOut {
    raw: Vec<u8>,
    packed: Option<Packed>,
}

struct Job {
    file: usize,
    start: u64,
    len: usize,
    compress: bool,
}

struct JobCtx {
    compression: Option<Compression>,
    pcluster_size: u32,
    store: Option<Namespace>,
    stop: AtomicBool,
    from_store: AtomicU64,
    bytes_from_store: AtomicU64,
    compressed: AtomicU64,
    bytes_compressed: AtomicU64,
    compress_nanos: AtomicU64,
}

/// Store value tags: the segment saved no block (nothing follows), or its extents and blocks
/// follow.
const TAG_NOTHING_SAVED: u8 = 0;
const TAG_PACKED: u8 = 1;
/// Bytes per extent in a store value: input length, blocks (u32 LE each), plain flag.
const EXT_BYTES: usize = 9;

fn encode_packed(packed: Option<&Packed>) -> Vec<u8> {
    let Some(p) = packed else {
        return vec![TAG_NOTHING_SAVED];
    };
    let mut v = Vec::with_capacity(5 + p.extents.len() * EXT_BYTES + p.blocks.len());
    v.push(TAG_PACKED);
    v.extend_from_slice(&(p.extents.len() as u32).to_le_bytes());
    for e in &p.extents {
        v.extend_from_slice(&e.len.to_le_bytes());
        v.extend_from_slice(&e.blocks.to_le_bytes());
        v.push(u8::from(e.plain));
    }
    v.extend_from_slice(&p.blocks);
    v
}

/// A store value for the segment `raw`: `Some(None)` saved no block, `Some(Some(p))` packed
/// as `p`; `None` for anything this writer never produces (checked: the extents cover the
/// input exactly, each within the kernel's and this writer's limits, the blocks are as many as
/// the extents say and fewer than the raw input's, a plain extent holds its input as is and a
/// compressed one is not all padding), which is then a miss.
fn decode_packed(v: &[u8], raw: &[u8], pcluster_size: u32) -> Option<Option<Packed>> {
    let (&tag, rest) = v.split_first()?;
    if tag == TAG_NOTHING_SAVED {
        return rest.is_empty().then_some(None);
    }
    if tag != TAG_PACKED || rest.len() < 4 {
        return None;
    }
    let n = u32::from_le_bytes(rest[..4].try_into().ok()?) as usize;
    let head = n.checked_mul(EXT_BYTES)?.checked_add(4)?;
    if n == 0 || rest.len() < head {
        return None;
    }
    let blocks = &rest[head..];
    let mut extents = Vec::with_capacity(n);
    let (mut la, mut at) = (0usize, 0usize);
    for e in (4..head)
        .step_by(EXT_BYTES)
        .map(|o| &rest[o..o + EXT_BYTES])
    {
        let len = u32::from_le_bytes(e[0..4].try_into().ok()?);
        let nblk = u32::from_le_bytes(e[4..8].try_into().ok()?);
        let plain = match e[8] {
            0 => false,
            1 => true,
            _ => return None,
        };
        let (l, b) = (len as usize, nblk as usize);
        let end = at.checked_add(b.checked_mul(BS)?)?;
        if l == 0 || b == 0 || la + l > raw.len() || end > blocks.len() {
            return None;
        }
        let data = &blocks[at..end];
        if plain {
            if b != 1 || l > BS || data[..l] != raw[la..la + l] || data[l..].iter().any(|&x| x != 0)
            {
                return None;
            }
        } else if b * BS > pcluster_size as usize
            || l > MAX_EXTENT
            || l <= b * BS
            || data.iter().all(|&x| x == 0)
        {
            return None;
        }
        extents.push(Ext {
            len,
            blocks: nblk,
            plain,
        });
        la += l;
        at = end;
    }
    if la != raw.len() || at != blocks.len() || blocks.len() >= raw.len().div_ceil(BS) * BS {
        return None;
    }
    Some(Some(Packed {
        extents,
        blocks: blocks.to_vec(),
    }))
}

fn run_job(
    job: &Job,
    files: &[DataFile],
    ctx: &JobCtx,
    cancel: Cancel<'_>,
) -> Result<SegOut, ErofsError> {
    let stop = || cancel() || ctx.stop.load(Ordering::Relaxed);
    if stop() {
        return Err(ErofsError::Cancelled);
    }
    let mut raw = vec![0u8; job.len];
    read_at(&files[job.file].source, &mut None, job.start, &mut raw)?;
    let compression = match ctx.compression {
        Some(c) if job.compress => c,
        _ => return Ok(SegOut { raw, packed: None }),
    };
    let key: Option<Key> = ctx.store.as_ref().map(|_| Sha256::digest(&raw).into());
    if let (Some(store), Some(k)) = (&ctx.store, &key) {
        if let Some(v) = store.get(k) {
            if let Some(packed) = decode_packed(&v, &raw, ctx.pcluster_size) {
                ctx.from_store.fetch_add(1, Ordering::Relaxed);
                ctx.bytes_from_store
                    .fetch_add(raw.len() as u64, Ordering::Relaxed);
                return Ok(SegOut { raw, packed });
            }
            tracing::debug!("a store entry does not decode as a segment; compressing again");
        }
    }
    let started = crate::squashfs::compress::thread_cpu_nanos();
    let (extents, blocks) = with_compressor(compression, ctx.pcluster_size, |zip| {
        zip.start_segment();
        let mut dst = vec![0u8; ctx.pcluster_size as usize];
        let mut extents = Vec::new();
        let mut blocks = Vec::with_capacity(job.len / 2);
        let mut p = 0;
        while p < raw.len() {
            if stop() {
                return Err(ErofsError::Cancelled);
            }
            let r = raw.len() - p;
            // A remainder of a block or less cannot save a block: stored as is.
            if r > BS {
                let take = r.min(MAX_EXTENT);
                let (consumed, written) = zip.compress_fill(&raw[p..p + take], &mut dst)?;
                let k = written.div_ceil(BS);
                if written > 0 && consumed > k * BS {
                    // Right-aligned in its blocks: the kernel skips the leading zeros (0padding).
                    blocks.resize(blocks.len() + k * BS - written, 0);
                    blocks.extend_from_slice(&dst[..written]);
                    extents.push(Ext {
                        len: consumed as u32,
                        blocks: k as u32,
                        plain: false,
                    });
                    p += consumed;
                    continue;
                }
            }
            let n = r.min(BS);
            blocks.extend_from_slice(&raw[p..p + n]);
            blocks.resize(blocks.len().div_ceil(BS) * BS, 0);
            extents.push(Ext {
                len: n as u32,
                blocks: 1,
                plain: true,
            });
            p += n;
        }
        Ok((extents, blocks))
    })?;
    let packed = (blocks.len() < raw.len().div_ceil(BS) * BS).then_some(Packed { extents, blocks });
    ctx.compress_nanos.fetch_add(
        crate::squashfs::compress::thread_cpu_nanos().saturating_sub(started),
        Ordering::Relaxed,
    );
    ctx.compressed.fetch_add(1, Ordering::Relaxed);
    ctx.bytes_compressed
        .fetch_add(raw.len() as u64, Ordering::Relaxed);
    if let (Some(store), Some(k)) = (&ctx.store, &key) {
        store.put(k, &encode_packed(packed.as_ref()));
    }
    Ok(SegOut { raw, packed })
}

/// Write the data of `files` (in this order) through `sink`.
pub fn write_data(
    sink: &mut dyn BlockSink,
    files: &[DataFile],
    o: &DataOptions<'_>,
    cancel: Cancel<'_>,
) -> Result<DataOut, ErofsError> {
    let (canon, duplicates) = find_duplicates(files, o, cancel)?;
    let mut jobs = Vec::new();
    for (i, f) in files.iter().enumerate() {
        if canon[i].is_some() || f.size == 0 {
            continue;
        }
        // Files of a block or less never compress (nothing to save), as with mkfs.erofs.
        let compress = o.compression.is_some() && f.size > BLOCK;
        let mut start = 0;
        while start < f.size {
            let len = (f.size - start).min(SEGMENT as u64) as usize;
            jobs.push(Job {
                file: i,
                start,
                len,
                compress,
            });
            start += len as u64;
        }
    }
    let ctx = JobCtx {
        compression: o.compression,
        pcluster_size: o.pcluster_size,
        store: o.store.clone(),
        stop: AtomicBool::new(false),
        from_store: AtomicU64::new(0),
        bytes_from_store: AtomicU64::new(0),
        compressed: AtomicU64::new(0),
        bytes_compressed: AtomicU64::new(0),
        compress_nanos: AtomicU64::new(0),
    };
    let window = o.pool.current_num_threads() * 4;
    let limit = o.undecided_limit;
    let mut out = DataOut {
        files: vec![FileData::Empty; files.len()],
        tails: Vec::new(),
        duplicates,
        compressed_pclusters: 0,
        plain_pclusters: 0,
        any_compressed: false,
        segments_from_cache: 0,
        segments_compressed: 0,
        seconds_saved: 0.0,
    };
    let big = o.pcluster_size as u64 > BLOCK;
    o.pool.in_place_scope(|scope| {
        let r = commit_in_order(
            scope, sink, files, &jobs, &ctx, window, limit, big, &mut out, cancel,
        );
        if r.is_err() {
            ctx.stop.store(true, Ordering::Relaxed);
        }
        r
    })?;
    for (i, c) in canon.iter().enumerate() {
        if let Some(c) = *c {
            out.files[i] = out.files[c].clone();
        }
    }
    out.segments_from_cache = ctx.from_store.load(Ordering::Relaxed);
    out.segments_compressed = ctx.compressed.load(Ordering::Relaxed);
    let bytes = ctx.bytes_compressed.load(Ordering::Relaxed);
    if bytes > 0 {
        out.seconds_saved = ctx.bytes_from_store.load(Ordering::Relaxed) as f64
            * (ctx.compress_nanos.load(Ordering::Relaxed) as f64 / 1e9)
            / bytes as f64;
    }
    Ok(out)
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Mode {
    Undecided,
    Flat,
    Compressed,
}

/// The file being committed.
struct Open {
    file: usize,
    mode: Mode,
    held: Vec<SegOut>,
    held_bytes: usize,
    first_blk: Option<u64>,
    blocks: u64,
    /// Compressed: (logical start, extent, first block).
    extents: Vec<(u64, Ext, u64)>,
    la: u64,
}

impl Open {
    fn new(file: usize, compress: bool) -> Open {
        Open {
            file,
            mode: if compress {
                Mode::Undecided
            } else {
                Mode::Flat
            },
            held: Vec::new(),
            held_bytes: 0,
            first_blk: None,
            blocks: 0,
            extents: Vec::new(),
            la: 0,
        }
    }

    fn put(&mut self, sink: &mut dyn BlockSink, bytes: &[u8]) -> Result<(), ErofsError> {
        self.first_blk.get_or_insert(sink.next_block());
        self.blocks += (bytes.len() / BS) as u64;
        sink.put(bytes)
    }

    /// Write a segment in the mode decided; `last` for the file's final one.
    fn write_seg(
        &mut self,
        sink: &mut dyn BlockSink,
        seg: SegOut,
        f: &DataFile,
        tails: &mut Vec<u8>,
        last: bool,
    ) -> Result<(), ErofsError> {
        match self.mode {
            Mode::Flat => {
                let full = seg.raw.len() / BS * BS;
                self.put(sink, &seg.raw[..full])?;
                let tail = &seg.raw[full..];
                if !tail.is_empty() {
                    debug_assert!(last);
                    if f.tail_inline {
                        tails.extend_from_slice(tail);
                    } else {
                        let mut b = tail.to_vec();
                        b.resize(BS, 0);
                        self.put(sink, &b)?;
                    }
                }
            }
            Mode::Compressed => match seg.packed {
                Some(p) => {
                    let mut blk = sink.next_block();
                    for e in p.extents {
                        self.extents.push((self.la, e, blk));
                        self.la += u64::from(e.len);
                        blk += u64::from(e.blocks);
                    }
                    self.put(sink, &p.blocks)?;
                }
                None => {
                    for chunk in seg.raw.chunks(BS) {
                        let e = Ext {
                            len: chunk.len() as u32,
                            blocks: 1,
                            plain: true,
                        };
                        self.extents.push((self.la, e, sink.next_block()));
                        self.la += u64::from(e.len);
                        let mut b = chunk.to_vec();
                        b.resize(BS, 0);
                        self.put(sink, &b)?;
                    }
                }
            },
            Mode::Undecided => unreachable!("decided before writing"),
        }
        Ok(())
    }

    fn flush_held(
        &mut self,
        sink: &mut dyn BlockSink,
        f: &DataFile,
        tails: &mut Vec<u8>,
        last: bool,
    ) -> Result<(), ErofsError> {
        let held = std::mem::take(&mut self.held);
        let n = held.len();
        for (k, seg) in held.into_iter().enumerate() {
            self.write_seg(sink, seg, f, tails, last && k + 1 == n)?;
        }
        self.held_bytes = 0;
        Ok(())
    }
}

/// The full index array (`z_erofs_lcluster_index` per 4 KiB of the file) for these extents, as
/// the kernel's `legacy_load_cluster_from_disk` and `z_erofs_do_map_blocks` read it: each
/// extent's first lcluster is a HEAD (PLAIN or HEAD1) with the offset where the extent starts
/// and its first block; lclusters wholly inside an extent are NONHEAD with the distances back to
/// the head and on to the lcluster where the next extent starts; an extent ending inside the
/// last lcluster is closed by a PLAIN index at the end offset.
fn build_indexes(size: u64, extents: &[(u64, Ext, u64)], big: bool) -> Vec<u8> {
    let nidx = size.div_ceil(BLOCK) as usize;
    let mut idx = vec![0u8; nidx * 8];
    let mut set = |lcn: usize, advise: u16, clusterofs: u16, u: [u8; 4]| {
        let d = &mut idx[lcn * 8..lcn * 8 + 8];
        d[0..2].copy_from_slice(&advise.to_le_bytes());
        d[2..4].copy_from_slice(&clusterofs.to_le_bytes());
        d[4..8].copy_from_slice(&u);
    };
    let mut last_crossed = true;
    for &(la, e, blk) in extents {
        let head = (la / BLOCK) as usize;
        let ofs = (la % BLOCK) as u16;
        let d1 = ((u64::from(ofs) + u64::from(e.len)) / BLOCK) as usize;
        let ty = if e.plain {
            LCLUSTER_PLAIN
        } else {
            LCLUSTER_HEAD1
        };
        set(head, ty, ofs, (blk as u32).to_le_bytes());
        for d0 in 1..d1 {
            // The first NONHEAD of a big-pcluster file carries the pcluster's block count.
            let delta0 = if d0 == 1 && big {
                D0_CBLKCNT | e.blocks as u16
            } else {
                // Larger distances would read as CBLKCNT: the lookback then takes several hops.
                d0.min(D0_CBLKCNT as usize - 1) as u16
            };
            let delta1 = (d1 - d0) as u16;
            let mut u = [0u8; 4];
            u[0..2].copy_from_slice(&delta0.to_le_bytes());
            u[2..4].copy_from_slice(&delta1.to_le_bytes());
            set(head + d0, LCLUSTER_NONHEAD, ofs, u);
        }
        last_crossed = d1 > 0;
    }
    if !size.is_multiple_of(BLOCK) && last_crossed {
        set(nidx - 1, LCLUSTER_PLAIN, (size % BLOCK) as u16, [0; 4]);
    }
    idx
}

#[allow(clippy::too_many_arguments)]
fn commit_in_order<'s>(
    scope: &rayon::Scope<'s>,
    sink: &mut dyn BlockSink,
    files: &'s [DataFile],
    jobs: &'s [Job],
    ctx: &'s JobCtx,
    window: usize,
    limit: usize,
    big: bool,
    out: &mut DataOut,
    cancel: Cancel<'s>,
) -> Result<(), ErofsError> {
    let (tx, rx) = mpsc::channel::<(usize, Result<SegOut, ErofsError>)>();
    let mut pending: BTreeMap<usize, SegOut> = BTreeMap::new();
    let (mut next_spawn, mut next_commit) = (0usize, 0usize);
    let mut open: Option<Open> = None;
    while next_commit < jobs.len() {
        if cancel() {
            return Err(ErofsError::Cancelled);
        }
        while next_spawn < jobs.len() && next_spawn - next_commit < window {
            let tx = tx.clone();
            let i = next_spawn;
            scope.spawn(move |_| {
                let r = run_job(&jobs[i], files, ctx, cancel);
                let _ = tx.send((i, r));
            });
            next_spawn += 1;
        }
        let (i, r) = rx.recv().expect("workers hold a sender until they finish");
        pending.insert(i, r?);
        while let Some(seg) = pending.remove(&next_commit) {
            let job = &jobs[next_commit];
            let f = &files[job.file];
            let o = open.get_or_insert_with(|| Open::new(job.file, job.compress));
            debug_assert_eq!(o.file, job.file);
            let last = job.start + job.len as u64 == f.size;
            if o.mode == Mode::Undecided {
                let saved = seg.packed.is_some();
                o.held_bytes += seg.raw.len();
                o.held.push(seg);
                if saved {
                    o.mode = Mode::Compressed;
                } else if o.held_bytes > limit || last {
                    o.mode = Mode::Flat;
                }
                if o.mode != Mode::Undecided {
                    o.flush_held(sink, f, &mut out.tails, last)?;
                }
            } else {
                o.write_seg(sink, seg, f, &mut out.tails, last)?;
            }
            if last {
                let o = open.take().expect("opened above");
                let file = o.file;
                out.files[file] = finish(o, f, big, out);
            }
            next_commit += 1;
        }
    }
    Ok(())
}

fn finish(o: Open, f: &DataFile, big: bool, out: &mut DataOut) -> FileData {
    match o.mode {
        Mode::Compressed => {
            out.any_compressed = true;
            for (_, e, _) in &o.extents {
                if e.plain {
                    out.plain_pclusters += 1;
                } else {
                    out.compressed_pclusters += 1;
                }
            }
            FileData::Compressed {
                indexes: build_indexes(f.size, &o.extents, big).into(),
                blocks: o.blocks as u32,
            }
        }
        _ => {
            let tail_len = (f.size % BLOCK) as usize;
            let tail =
                (f.tail_inline && tail_len > 0).then(|| (out.tails.len() - tail_len, tail_len));
            FileData::Flat {
                blkaddr: o.first_blk.unwrap_or(0) as u32,
                blocks: o.blocks as u32,
                tail,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct VecSink(Vec<u8>);

    impl BlockSink for VecSink {
        fn next_block(&self) -> u64 {
            self.0.len() as u64 / BLOCK
        }
        fn put(&mut self, bytes: &[u8]) -> Result<(), ErofsError> {
            self.0.extend_from_slice(bytes);
            Ok(())
        }
    }

    #[test]
    fn long_incompressible_files_are_stored_flat_past_the_limit() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..(12 << 20) + 7)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let files = [DataFile {
            size: noise.len() as u64,
            source: DataSource::Bytes(noise.clone().into()),
            tail_inline: true,
        }];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let mut sink = VecSink(Vec::new());
        let o = DataOptions {
            compression: Some(Compression::parse("lz4").unwrap()),
            pcluster_size: 4096,
            dedup: true,
            pool: &pool,
            // Decided after the second 4 MiB segment.
            undecided_limit: 5 << 20,
            store: None,
        };
        let out = write_data(&mut sink, &files, &o, &|| false).unwrap();
        match out.files[0] {
            FileData::Flat {
                blkaddr: 0,
                blocks: 3072,
                tail: Some((0, 7)),
            } => {}
            ref other => panic!("{other:?}"),
        }
        assert!(sink.0 == noise[..12 << 20]);
        assert_eq!(out.tails, noise[12 << 20..]);
        assert!(!out.any_compressed);
    }

    #[test]
    fn store_values_decode_only_as_written() {
        let raw: Vec<u8> = b"erofs segment "
            .iter()
            .cycle()
            .take(3 * BS + 100)
            .copied()
            .collect();
        let mut z = Compressor::new(Compression::parse("lz4hc").unwrap(), 4096).unwrap();
        let mut dst = vec![0u8; BS];
        let (consumed, written) = z.compress_fill(&raw, &mut dst).unwrap();
        assert_eq!(consumed, raw.len(), "a repeated phrase fits one block");
        let mut blocks = vec![0u8; BS - written];
        blocks.extend_from_slice(&dst[..written]);
        let packed = Packed {
            extents: vec![Ext {
                len: consumed as u32,
                blocks: 1,
                plain: false,
            }],
            blocks,
        };
        let v = encode_packed(Some(&packed));
        let back = decode_packed(&v, &raw, 4096).unwrap().unwrap();
        assert_eq!(back.blocks, packed.blocks);
        assert_eq!(
            decode_packed(&[TAG_NOTHING_SAVED], &raw, 4096).map(|p| p.is_none()),
            Some(true)
        );
        // Every truncation, a bad tag, another input length, trailing bytes: misses.
        for cut in 0..v.len() {
            assert!(
                decode_packed(&v[..cut], &raw, 4096).is_none(),
                "cut at {cut}"
            );
        }
        let mut bad = v.clone();
        bad[0] = 7;
        assert!(decode_packed(&bad, &raw, 4096).is_none());
        assert!(decode_packed(&v, &raw[1..], 4096).is_none());
        let mut long = v.clone();
        long.push(1);
        assert!(decode_packed(&long, &raw, 4096).is_none());
        assert!(decode_packed(&[TAG_NOTHING_SAVED, 0], &raw, 4096).is_none());
        // Blocks that are all padding.
        let mut zero = v.clone();
        let n = zero.len();
        zero[n - BS..].fill(0);
        assert!(decode_packed(&zero, &raw, 4096).is_none());
    }

    fn idx(v: &[u8], lcn: usize) -> (u16, u16, u16, u16) {
        let d = &v[lcn * 8..lcn * 8 + 8];
        let w = |i: usize| u16::from_le_bytes([d[i], d[i + 1]]);
        (w(0), w(2), w(4), w(6))
    }

    #[test]
    fn indexes_follow_mkfs_erofs() {
        // A compressed extent of 10000 bytes (1 block), a plain one of 4096 from offset 1808
        // of lcluster 2, and a last plain extent ending inside lcluster 4 (size 18000).
        let ext = |len, blocks, plain| Ext { len, blocks, plain };
        let extents = [
            (0, ext(10000, 1, false), 1),
            (10000, ext(4096, 1, true), 2),
            (14096, ext(3904, 1, true), 3),
        ];
        let v = build_indexes(18000, &extents, false);
        assert_eq!(v.len(), 5 * 8);
        assert_eq!(idx(&v, 0), (LCLUSTER_HEAD1, 0, 1, 0));
        // lcluster 1: NONHEAD, 1 back to the head, 1 on to lcluster 2 where the next starts.
        assert_eq!(idx(&v, 1), (LCLUSTER_NONHEAD, 0, 1, 1));
        assert_eq!(idx(&v, 2), (LCLUSTER_PLAIN, 10000 - 8192, 2, 0));
        assert_eq!(idx(&v, 3), (LCLUSTER_PLAIN, 14096 - 12288, 3, 0));
        // The file ends at 18000 - 16384 = 1616 into lcluster 4.
        assert_eq!(idx(&v, 4), (LCLUSTER_PLAIN, 1616, 0, 0));
        // Big pclusters: the first NONHEAD holds the block count.
        let v = build_indexes(20000, &[(0, ext(20000, 3, false), 5)], true);
        assert_eq!(idx(&v, 1), (LCLUSTER_NONHEAD, 0, D0_CBLKCNT | 3, 3));
        assert_eq!(idx(&v, 2), (LCLUSTER_NONHEAD, 0, 2, 2));
        assert_eq!(idx(&v, 3), (LCLUSTER_NONHEAD, 0, 3, 1));
        assert_eq!(idx(&v, 4), (LCLUSTER_PLAIN, 20000 - 16384, 0, 0));
    }
}
