//! File data: duplicate detection, block and fragment planning, parallel compression and the
//! ordered write ("parallel compute, ordered commit", DESIGN.md §1.4).
//!
//! Everything that decides where bytes land (which files are duplicates, which tails share a
//! fragment) is settled before any compression starts, so the image does not depend on thread
//! timing and two runs give identical bytes.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use rayon::prelude::*;

use super::compress::Codec;
use super::error::SquashfsError;
use super::precompress::BlockCache;
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
    /// Blocks taken from the cache.
    pub cached_blocks: u64,
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

fn hash_file(f: &DataFile, cancel: Cancel<'_>) -> Result<u64, SquashfsError> {
    // SipHash with fixed keys: only a filter, equal hashes are confirmed byte by byte.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut buf = vec![0u8; CHUNK.min(f.size as usize)];
    let mut handle = None;
    let mut off = 0;
    while off < f.size {
        check(cancel)?;
        let n = (f.size - off).min(CHUNK as u64) as usize;
        if is_hole(&f.source, &mut handle, off, n as u64)? {
            // Only a filter: a hole hashes unlike written zeros, which at worst misses a dedup.
            h.write_u64(u64::MAX - n as u64);
        } else {
            read_at(&f.source, &mut handle, off, &mut buf[..n])?;
            h.write(&buf[..n]);
        }
        off += n as u64;
    }
    Ok(h.finish())
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

fn compress_block(
    codec: &Codec,
    bs: u32,
    data: &[u8],
    sparse: bool,
) -> Result<Block, SquashfsError> {
    if sparse && data.iter().all(|&b| b == 0) {
        return Ok((Vec::new(), 0));
    }
    Ok(match codec.compress(data, bs)? {
        Some(c) => {
            let n = c.len() as u32;
            (c, n)
        }
        None => (data.to_vec(), data.len() as u32 | UNCOMPRESSED_BLOCK),
    })
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
                // The cache never holds an all-zero block, so a hit is never a hole.
                out.push(match o.cache.as_ref().and_then(|c| c.get(data)) {
                    Some(Some(c)) => (c.to_vec(), c.len() as u32),
                    Some(None) => (data.to_vec(), n as u32 | UNCOMPRESSED_BLOCK),
                    None => compress_block(&o.codec, o.block_size, data, o.sparse)?,
                });
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
            Ok(vec![compress_block(
                &o.codec,
                o.block_size,
                &buf[..fill],
                false,
            )?])
        }
    }
}

struct JobCtx {
    codec: Arc<Codec>,
    cache: Option<Arc<BlockCache>>,
    block_size: u32,
    sparse: bool,
    /// Set when the commit loop gives up (an error), so queued jobs end at their next block.
    stop: AtomicBool,
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
    let hits_before = o.cache.as_ref().map_or(0, |c| c.hits());
    let (canon, duplicates) = find_duplicates(files, o, cancel)?;
    let (jobs, mut locs) = plan_jobs(files, &canon, o);

    // 3. Compress on the pool, commit in job order. A scope, so that jobs can ask `cancel`.
    let ctx = JobCtx {
        codec: o.codec.clone(),
        cache: o.cache.clone(),
        block_size: o.block_size,
        sparse: o.sparse,
        stop: AtomicBool::new(false),
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
        cached_blocks: o.cache.as_ref().map_or(0, |c| c.hits() - hits_before),
    })
}

/// Duplicates: hash everything in parallel, confirm matches byte by byte, in file order.
/// Returns, for every file, the earlier file it duplicates, and how many do.
fn find_duplicates(
    files: &[DataFile],
    o: &DataOptions,
    cancel: Cancel<'_>,
) -> Result<(Vec<Option<usize>>, usize), SquashfsError> {
    let mut canon: Vec<Option<usize>> = vec![None; files.len()];
    let mut duplicates = 0;
    if !o.dedup {
        return Ok((canon, duplicates));
    }
    let hashes: Vec<Option<u64>> = o.pool.install(|| {
        files
            .par_iter()
            .map(|f| {
                if f.size == 0 {
                    Ok(None)
                } else {
                    hash_file(f, cancel).map(Some)
                }
            })
            .collect::<Result<_, _>>()
    })?;
    let mut seen: HashMap<(u64, u64), Vec<usize>> = HashMap::new();
    for (i, h) in hashes.iter().enumerate() {
        let Some(h) = h else { continue };
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
        let to_frag = o.fragments && tail > 0 && (o.tail_packing || f.size < bs);
        let nblocks = full + u64::from(tail > 0 && !to_frag);
        if to_frag && fill + tail > bs {
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
