//! File data: duplicate detection, block and fragment planning, parallel compression and the
//! ordered write ("parallel compute, ordered commit", DESIGN.md §1.4).
//!
//! Everything that decides where bytes land (which files are duplicates, which tails share a
//! fragment) is settled before any compression starts, so the image does not depend on thread
//! timing and two runs give identical bytes.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::compress::Codec;
use super::error::SquashfsError;
use super::precompress::BlockCache;
use crate::blockstore::{Key, Namespace};
use crate::error::IoError;
use crate::tree::{DataSource, SourceReadError};

/// Size field bit marking a block stored uncompressed (spec "Data and fragment blocks").
pub const UNCOMPRESSED_BLOCK: u32 = 1 << 24;
/// Input read per hashing/compare step.
const CHUNK: usize = 1 << 20;

/// A regular file whose data goes into the image.
#[derive(Clone)]
pub struct DataFile {
    /// Length in bytes.
    pub size: u64,
    /// Where to read it.
    pub source: DataSource,
}

/// Where a file's data ended up.
#[derive(Debug, Clone, Default)]
pub struct FileLoc {
    /// Absolute position of the first block (0 when there is none).
    pub blocks_start: u64,
    /// One size field per block.
    pub sizes: Vec<u32>,
    /// Fragment index and offset of the tail.
    pub frag: Option<(u32, u32)>,
    /// Bytes stored as holes.
    pub sparse: u64,
}

/// Settings for the data area.
pub struct DataOptions {
    /// The compressor.
    pub codec: Arc<Codec>,
    /// Block size in bytes.
    pub block_size: u32,
    /// Pack small files into fragments.
    pub fragments: bool,
    /// Also pack the tails of files larger than a block.
    pub tail_packing: bool,
    /// Store identical files once.
    pub dedup: bool,
    /// Store all-zero blocks as holes.
    pub sparse: bool,
    /// Worker pool.
    pub pool: Arc<rayon::ThreadPool>,
    /// Full blocks compressed ahead of time, already checked to fit the codec and block size.
    pub cache: Option<Arc<BlockCache>>,
    /// The persistent store's namespace for this codec and block size.
    pub store: Option<Namespace>,
}

/// Result of the data phase.
pub struct DataOut {
    /// Per input file.
    pub locs: Vec<FileLoc>,
    /// Fragment table entries: (start, size field).
    pub fragments: Vec<(u64, u32)>,
    /// Position after the last byte written.
    pub end: u64,
    /// Files stored as a reference to an identical earlier file.
    pub duplicates: usize,
    /// Blocks taken from the precompressor's cache.
    pub cached_blocks: u64,
    /// Data and fragment blocks taken from the precompressor's cache or the store.
    pub blocks_from_cache: u64,
    /// Of those, fragment blocks.
    pub fragments_from_cache: u64,
    /// Data and fragment blocks compressed by this write.
    pub blocks_compressed: u64,
    /// Compression seconds (summed over threads) the cached blocks would have cost, at this
    /// write's own rate per input byte.
    pub seconds_saved: f64,
}

enum Job {
    Blocks { file: usize, first: u64, count: u64 },
    Fragment(Vec<(usize, u64, u32)>),
}

/// One compressed block: data to write (empty for a hole) and its size field.
type Block = (Vec<u8>, u32);

/// The caller's "stop now?" question, asked between blocks and between input chunks.
pub type Cancel<'a> = &'a (dyn Fn() -> bool + Sync);

fn check(cancel: Cancel<'_>) -> Result<(), SquashfsError> {
    if cancel() {
        return Err(SquashfsError::Cancelled);
    }
    Ok(())
}

fn read_at(
    src: &DataSource,
    file: &mut Option<std::fs::File>,
    off: u64,
    buf: &mut [u8],
) -> Result<(), SquashfsError> {
    src.read_exact_at(file, off, buf).map_err(|e| match e {
        SourceReadError::Io(e) => SquashfsError::Io(e),
        SourceReadError::ShortBytes => {
            SquashfsError::Limit("in-memory file shorter than its size".into())
        }
    })
}

/// True when `[off, off + len)` of the file is one hole (no data there).
fn is_hole(
    src: &DataSource,
    file: &mut Option<std::fs::File>,
    off: u64,
    len: u64,
) -> Result<bool, SquashfsError> {
    let DataSource::Path(p) = src else {
        return Ok(false);
    };
    if file.is_none() {
        *file = Some(std::fs::File::open(p).map_err(IoError::at("read", p))?);
    }
    let f = file.as_ref().expect("opened above");
    Ok(match rustix::fs::seek(f, rustix::fs::SeekFrom::Data(off)) {
        Ok(next) => next >= off + len,
        // ENXIO: no data at or after `off`.
        Err(e) if e == rustix::io::Errno::NXIO => true,
        // Filesystems without SEEK_DATA: read the block.
        Err(_) => false,
    })
}

/// What the planning needs of a file's bytes, read in one pass: the dedup filter hash (when
/// deduplicating) and the boundary mark of its fragment tail (when it has one).
#[derive(Clone, Copy, Default)]
struct Scanned {
    dedup: Option<u64>,
    mark: u64,
}

/// Whether the last `size % block size` bytes of a file go into a fragment.
fn tail_to_fragment(size: u64, o: &DataOptions) -> bool {
    let bs = o.block_size as u64;
    o.fragments && !size.is_multiple_of(bs) && (o.tail_packing || size < bs)
}

fn scan_file(f: &DataFile, o: &DataOptions, cancel: Cancel<'_>) -> Result<Scanned, SquashfsError> {
    let bs = o.block_size as u64;
    let tail_from = tail_to_fragment(f.size, o).then_some(f.size / bs * bs);
    // SipHash with fixed keys: only a filter, equal hashes are confirmed byte by byte.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut mark = 0;
    // Without dedup only the tail is read. A tail never straddles two chunks: both it and
    // the chunks start at multiples of the block size, which divides CHUNK.
    let mut off = if o.dedup {
        0
    } else {
        tail_from.unwrap_or(f.size)
    };
    let mut buf = vec![0u8; CHUNK.min((f.size - off) as usize)];
    let mut handle = None;
    while off < f.size {
        check(cancel)?;
        let n = (f.size - off).min(CHUNK as u64) as usize;
        let tail = tail_from.filter(|&t| t >= off && t < off + n as u64);
        if o.dedup && is_hole(&f.source, &mut handle, off, n as u64)? {
            // Only a filter: a hole hashes unlike written zeros, which at worst misses a dedup.
            h.write_u64(u64::MAX - n as u64);
            buf[..n].fill(0);
        } else {
            read_at(&f.source, &mut handle, off, &mut buf[..n])?;
            h.write(&buf[..n]);
        }
        if let Some(t) = tail {
            mark = tail_mark(&buf[(t - off) as usize..n]);
        }
        off += n as u64;
    }
    Ok(Scanned {
        dedup: o.dedup.then(|| h.finish()),
        mark,
    })
}

/// A well-mixed 64-bit value of a fragment tail's bytes (CRC-32 and length through the
/// splitmix64 finaliser): stable across builds and toolchains, as the image depends on it.
fn tail_mark(tail: &[u8]) -> u64 {
    let mut z = (u64::from(crc32fast::hash(tail)) << 32 | tail.len() as u64)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fill (in eighths of a block) from which a tail's mark may close a fragment block.
const CUT_MIN_EIGHTHS: u64 = 4;
/// Past that fill, a tail of `len` bytes closes the block before it with probability
/// `len / (block size / CUT_SPAN_DIV)`, so blocks end about that many bytes further on.
const CUT_SPAN_DIV: u64 = 4;

/// Whether the fragment block filled to `fill` closes before a tail of `len` bytes with
/// mark `mark`: when the tail does not fit, or (content-defined) when the block is filled
/// enough and the mark says so. Decided by the tail's bytes, not its position, so after a
/// changed file the blocks end where they did before within a block or two, and a rebuild
/// finds the later fragment blocks unchanged in the store.
fn cut_before(fill: u64, len: u64, mark: u64, bs: u64) -> bool {
    if fill == 0 {
        return false;
    }
    if fill + len > bs {
        return true;
    }
    let span = bs / CUT_SPAN_DIV;
    fill >= bs * CUT_MIN_EIGHTHS / 8 && u128::from(mark >> 32) * u128::from(span) < u128::from(len) << 32
}

fn same_content(a: &DataFile, b: &DataFile, cancel: Cancel<'_>) -> Result<bool, SquashfsError> {
    if a.source == b.source {
        return Ok(true);
    }
    let (mut ha, mut hb) = (None, None);
    let mut ba = vec![0u8; CHUNK.min(a.size as usize)];
    let mut bb = ba.clone();
    let mut off = 0;
    while off < a.size {
        check(cancel)?;
        let n = (a.size - off).min(CHUNK as u64) as usize;
        read_at(&a.source, &mut ha, off, &mut ba[..n])?;
        read_at(&b.source, &mut hb, off, &mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
        off += n as u64;
    }
    Ok(true)
}

/// A block stored raw: its bytes with the uncompressed bit in the size field.
fn raw_block(data: &[u8]) -> Block {
    (data.to_vec(), data.len() as u32 | UNCOMPRESSED_BLOCK)
}

/// A codec's result for `data` as a block: compressed, or raw when it could not shrink it.
fn to_block(data: &[u8], compressed: Option<&[u8]>) -> Block {
    match compressed {
        Some(c) => (c.to_vec(), c.len() as u32),
        None => raw_block(data),
    }
}

/// Store value tags: the codec could not shrink the block (nothing else follows), or the
/// compressed bytes follow.
const TAG_RAW: u8 = 0;
const TAG_COMPRESSED: u8 = 1;

pub(super) fn encode_value(compressed: Option<&[u8]>) -> Vec<u8> {
    match compressed {
        None => vec![TAG_RAW],
        Some(c) => {
            let mut v = Vec::with_capacity(c.len() + 1);
            v.push(TAG_COMPRESSED);
            v.extend_from_slice(c);
            v
        }
    }
}

/// A store value for a block of `len` bytes: `Some(None)` stored raw, `Some(Some(c))`
/// compressed to `c`; `None` for anything a write never stores (an unknown tag, a raw entry
/// with bytes after the tag, compressed bytes empty or not smaller than the block), which is
/// then a miss.
fn decode_value(v: &[u8], len: usize) -> Option<Option<&[u8]>> {
    match v.split_first()? {
        (&TAG_RAW, []) => Some(None),
        (&TAG_COMPRESSED, c) if !c.is_empty() && c.len() < len => Some(Some(c)),
        _ => None,
    }
}

fn run_job(
    job: &Job,
    files: &[DataFile],
    o: &JobCtx,
    cancel: Cancel<'_>,
) -> Result<Vec<Block>, SquashfsError> {
    // Either the caller cancels, or another job failed and nothing of this one will be used.
    let stop = || cancel() || o.stop.load(Ordering::Relaxed);
    let bs = o.block_size as u64;
    let mut buf = vec![0u8; o.block_size as usize];
    match job {
        Job::Blocks { file, first, count } => {
            let f = &files[*file];
            let mut handle = None;
            let mut out = Vec::with_capacity(*count as usize);
            for b in *first..first + count {
                if stop() {
                    return Err(SquashfsError::Cancelled);
                }
                let off = b * bs;
                let n = (f.size - off).min(bs) as usize;
                if o.sparse && is_hole(&f.source, &mut handle, off, n as u64)? {
                    out.push((Vec::new(), 0));
                    continue;
                }
                read_at(&f.source, &mut handle, off, &mut buf[..n])?;
                let data = &buf[..n];
                // Holes are never looked up nor stored: the cache and store hold none.
                if o.sparse && data.iter().all(|&b| b == 0) {
                    out.push((Vec::new(), 0));
                    continue;
                }
                out.push(o.block(data, false)?);
            }
            Ok(out)
        }
        Job::Fragment(pieces) => {
            if stop() {
                return Err(SquashfsError::Cancelled);
            }
            let mut fill = 0;
            for &(file, off, len) in pieces {
                let mut handle = None;
                let len = len as usize;
                read_at(
                    &files[file].source,
                    &mut handle,
                    off,
                    &mut buf[fill..fill + len],
                )?;
                fill += len;
            }
            // Fragments are never holes: the reader expects the fragment block to exist.
            Ok(vec![o.block(&buf[..fill], true)?])
        }
    }
}

struct JobCtx {
    codec: Arc<Codec>,
    cache: Option<Arc<BlockCache>>,
    store: Option<Namespace>,
    block_size: u32,
    sparse: bool,
    /// Set when the commit loop gives up (an error), so queued jobs end at their next block.
    stop: AtomicBool,
    counts: Counts,
}

/// What the jobs took from the cache and store and what they compressed.
#[derive(Default)]
struct Counts {
    precompressed: AtomicU64,
    from_store: AtomicU64,
    fragments_from_cache: AtomicU64,
    /// Input bytes of the blocks taken from the cache or store.
    bytes_from_cache: AtomicU64,
    compressed: AtomicU64,
    bytes_compressed: AtomicU64,
    compress_nanos: AtomicU64,
    /// One block taken from the cache or store, to time the codec on when the write
    /// compresses nothing itself.
    sample: Mutex<Option<Vec<u8>>>,
}

impl JobCtx {
    /// The block for `data` (not a hole): from the precompressor's cache, else from the
    /// store, else compressed (and then stored).
    fn block(&self, data: &[u8], fragment: bool) -> Result<Block, SquashfsError> {
        let key: Option<Key> = (self.cache.is_some() || self.store.is_some())
            .then(|| Sha256::digest(data).into());
        let c = &self.counts;
        let hit = |c: &Counts| {
            c.bytes_from_cache
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            if fragment {
                c.fragments_from_cache.fetch_add(1, Ordering::Relaxed);
            }
            let mut sample = c.sample.lock().expect("sample lock");
            if sample.is_none() {
                *sample = Some(data.to_vec());
            }
        };
        if let (Some(cache), Some(k)) = (&self.cache, &key) {
            if let Some(r) = cache.get_by_key(k, data.len()) {
                c.precompressed.fetch_add(1, Ordering::Relaxed);
                hit(c);
                return Ok(to_block(data, r.as_deref()));
            }
        }
        if let (Some(store), Some(k)) = (&self.store, &key) {
            if let Some(v) = store.get(k) {
                if let Some(r) = decode_value(&v, data.len()) {
                    c.from_store.fetch_add(1, Ordering::Relaxed);
                    hit(c);
                    return Ok(to_block(data, r));
                }
                tracing::debug!("a store entry does not decode as a block; compressing again");
            }
        }
        let t = Instant::now();
        let r = self.codec.compress(data, self.block_size)?;
        c.compress_nanos
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        c.compressed.fetch_add(1, Ordering::Relaxed);
        c.bytes_compressed
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        if let (Some(store), Some(k)) = (&self.store, &key) {
            store.put(k, &encode_value(r.as_deref()));
        }
        Ok(to_block(data, r.as_deref()))
    }

    /// Compression seconds the cached blocks saved: their input bytes at this write's rate
    /// per byte; when it compressed nothing, at the rate of compressing one of them again
    /// (timed here, its result dropped); 0 when nothing came from the cache.
    fn seconds_saved(&self) -> f64 {
        let c = &self.counts;
        let cached = c.bytes_from_cache.load(Ordering::Relaxed) as f64;
        if cached == 0.0 {
            return 0.0;
        }
        let (mut secs, mut bytes) = (
            c.compress_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            c.bytes_compressed.load(Ordering::Relaxed) as f64,
        );
        if bytes == 0.0 {
            let Some(sample) = c.sample.lock().expect("sample lock").take() else {
                return 0.0;
            };
            let t = Instant::now();
            if self.codec.compress(&sample, self.block_size).is_err() {
                return 0.0;
            }
            (secs, bytes) = (t.elapsed().as_secs_f64(), sample.len() as f64);
        }
        cached * secs / bytes
    }
}

/// Write the data of `files` (in this order) to `out`, which is at absolute position `start`.
/// `cancel` is asked before every block and input chunk; once it says yes the result is
/// [`SquashfsError::Cancelled`] and the workers stop within a block.
pub fn write_data<W: Write>(
    out: &mut W,
    start: u64,
    files: &[DataFile],
    o: &DataOptions,
    cancel: Cancel<'_>,
) -> Result<DataOut, SquashfsError> {
    let scanned = scan(files, o, cancel)?;
    let (canon, duplicates) = find_duplicates(files, &scanned, cancel)?;
    let (jobs, mut locs) = plan_jobs(files, &canon, &scanned, o);

    // 3. Compress on the pool, commit in job order. A scope, so that jobs can ask `cancel`.
    let ctx = JobCtx {
        codec: o.codec.clone(),
        cache: o.cache.clone(),
        store: o.store.clone(),
        block_size: o.block_size,
        sparse: o.sparse,
        stop: AtomicBool::new(false),
        counts: Counts::default(),
    };
    // Enough work queued to keep every worker busy while the writer waits on the oldest job.
    let window = o.pool.current_num_threads() * 4;
    let mut fragments = Vec::new();
    let end = o.pool.in_place_scope(|scope| {
        let r = commit_in_order(
            scope,
            out,
            start,
            files,
            &jobs,
            &ctx,
            window,
            &mut locs,
            &mut fragments,
            cancel,
        );
        if r.is_err() {
            // The scope waits for every job it started: make them quick.
            ctx.stop.store(true, Ordering::Relaxed);
        }
        r
    })?;
    for i in 0..files.len() {
        if let Some(c) = canon[i] {
            locs[i] = locs[c].clone();
        }
    }
    Ok(DataOut {
        locs,
        fragments,
        end,
        duplicates,
        cached_blocks: ctx.counts.precompressed.load(Ordering::Relaxed),
        blocks_from_cache: ctx.counts.precompressed.load(Ordering::Relaxed)
            + ctx.counts.from_store.load(Ordering::Relaxed),
        fragments_from_cache: ctx.counts.fragments_from_cache.load(Ordering::Relaxed),
        blocks_compressed: ctx.counts.compressed.load(Ordering::Relaxed),
        seconds_saved: ctx.seconds_saved(),
    })
}

/// Read what planning needs of every file, in parallel.
fn scan(
    files: &[DataFile],
    o: &DataOptions,
    cancel: Cancel<'_>,
) -> Result<Vec<Scanned>, SquashfsError> {
    o.pool.install(|| {
        files
            .par_iter()
            .map(|f| {
                if f.size == 0 {
                    Ok(Scanned::default())
                } else {
                    scan_file(f, o, cancel)
                }
            })
            .collect::<Result<_, _>>()
    })
}

/// Duplicates: by the hashes of [`scan`], confirmed byte by byte, in file order.
/// Returns, for every file, the earlier file it duplicates, and how many do.
fn find_duplicates(
    files: &[DataFile],
    scanned: &[Scanned],
    cancel: Cancel<'_>,
) -> Result<(Vec<Option<usize>>, usize), SquashfsError> {
    let mut canon: Vec<Option<usize>> = vec![None; files.len()];
    let mut duplicates = 0;
    let mut seen: HashMap<(u64, u64), Vec<usize>> = HashMap::new();
    for (i, sc) in scanned.iter().enumerate() {
        let Some(h) = &sc.dedup else { continue };
        let cands = seen.entry((files[i].size, *h)).or_default();
        let mut found = None;
        for &c in cands.iter() {
            if same_content(&files[c], &files[i], cancel)? {
                found = Some(c);
                break;
            }
        }
        match found {
            Some(c) => {
                canon[i] = Some(c);
                duplicates += 1;
            }
            None => cands.push(i),
        }
    }
    Ok((canon, duplicates))
}

/// Plan blocks and fragments in file order: the compression jobs, and each file's fragment
/// (which block, where in it).
fn plan_jobs(
    files: &[DataFile],
    canon: &[Option<usize>],
    scanned: &[Scanned],
    o: &DataOptions,
) -> (Vec<Job>, Vec<FileLoc>) {
    let bs = o.block_size as u64;
    let per_job = ((1u64 << 20) / bs).max(1);
    let mut jobs = Vec::new();
    let mut locs = vec![FileLoc::default(); files.len()];
    let mut pieces: Vec<(usize, u64, u32)> = Vec::new();
    let mut fill = 0u64;
    let mut frag_count = 0u32;
    for (i, f) in files.iter().enumerate() {
        if canon[i].is_some() || f.size == 0 {
            continue;
        }
        let full = f.size / bs;
        let tail = f.size % bs;
        let to_frag = tail_to_fragment(f.size, o);
        let nblocks = full + u64::from(tail > 0 && !to_frag);
        if to_frag && cut_before(fill, tail, scanned[i].mark, bs) {
            jobs.push(Job::Fragment(std::mem::take(&mut pieces)));
            frag_count += 1;
            fill = 0;
        }
        let mut b = 0;
        while b < nblocks {
            let count = per_job.min(nblocks - b);
            jobs.push(Job::Blocks {
                file: i,
                first: b,
                count,
            });
            b += count;
        }
        if to_frag {
            locs[i].frag = Some((frag_count, fill as u32));
            pieces.push((i, full * bs, tail as u32));
            fill += tail;
        }
    }
    if !pieces.is_empty() {
        jobs.push(Job::Fragment(pieces));
    }
    (jobs, locs)
}

/// Runs the jobs on the pool, at most a window ahead of the oldest, and writes their blocks in
/// job order; returns the position after the last byte written.
fn commit_in_order<'s, W: Write>(
    scope: &rayon::Scope<'s>,
    out: &mut W,
    start: u64,
    files: &'s [DataFile],
    jobs: &'s [Job],
    ctx: &'s JobCtx,
    window: usize,
    locs: &mut [FileLoc],
    fragments: &mut Vec<(u64, u32)>,
    cancel: Cancel<'s>,
) -> Result<u64, SquashfsError> {
    let bs = ctx.block_size as u64;
    let (tx, rx) = mpsc::channel::<(usize, Result<Vec<Block>, SquashfsError>)>();
    let mut pending: BTreeMap<usize, Vec<Block>> = BTreeMap::new();
    let (mut next_spawn, mut next_commit) = (0usize, 0usize);
    let mut pos = start;
    while next_commit < jobs.len() {
        check(cancel)?;
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
        while let Some(blocks) = pending.remove(&next_commit) {
            match &jobs[next_commit] {
                Job::Blocks { file, first, .. } => {
                    let loc = &mut locs[*file];
                    if *first == 0 {
                        loc.blocks_start = pos;
                    }
                    for (k, (data, field)) in blocks.into_iter().enumerate() {
                        if field == 0 {
                            let off = (first + k as u64) * bs;
                            loc.sparse += (files[*file].size - off).min(bs);
                        }
                        out.write_all(&data).map_err(SquashfsError::Write)?;
                        pos += data.len() as u64;
                        loc.sizes.push(field);
                    }
                }
                Job::Fragment(_) => {
                    let (data, field) = &blocks[0];
                    fragments.push((pos, *field));
                    out.write_all(data).map_err(SquashfsError::Write)?;
                    pos += data.len() as u64;
                }
            }
            next_commit += 1;
        }
    }
    Ok(pos)
}
