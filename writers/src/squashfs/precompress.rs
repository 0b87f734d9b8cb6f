//! Compression ahead of the write: full data blocks of a tree that is still being built
//! (packages unpacking, scriptlets, dracut) are compressed on otherwise idle cores and kept by
//! the SHA-256 of their bytes. The writer later takes a result only for the very bytes it
//! reads, so a file that changed, grew or vanished after it was read costs a miss, never a
//! wrong block, and the image is byte for byte what it would be without the cache.

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use sha2::{Digest, Sha256};

use super::compress::Codec;
use crate::blockstore::{BlockStore, Key, Namespace};

/// Compressed full blocks by content, for one codec and block size.
pub struct BlockCache {
    codec: Codec,
    block_size: u32,
    limit: usize,
    /// `None`: the codec could not shrink the block, so it is stored raw.
    map: Mutex<HashMap<Key, Option<Arc<[u8]>>>>,
    entries: AtomicUsize,
    bytes: AtomicUsize,
    hits: AtomicU64,
    /// The persistent store's namespace for the same codec and block size: blocks it holds
    /// are not compressed again, and what is compressed goes there too.
    store: Option<Namespace>,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("codec", &self.codec)
            .field("block_size", &self.block_size)
            .field("entries", &self.len())
            .field("bytes", &self.bytes.load(Ordering::Relaxed))
            .finish()
    }
}

impl BlockCache {
    /// An empty cache for `codec` at `block_size`, holding at most `limit` compressed bytes.
    pub fn new(codec: Codec, block_size: u32, limit: usize) -> Self {
        BlockCache {
            codec,
            block_size,
            limit,
            map: Mutex::new(HashMap::new()),
            entries: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            hits: AtomicU64::new(0),
            store: None,
        }
    }

    /// Also use `store`: a [`Precompressor`] filling this cache skips the blocks it already
    /// holds and adds what it compresses, and keeps doing so (into the store only) once the
    /// cache is full.
    pub fn with_store(mut self, store: &BlockStore) -> Self {
        self.store = Some(store.namespace(&self.codec.store_params(self.block_size)));
        self
    }

    /// Whether results in this cache are valid for a write with these settings.
    pub fn fits(&self, codec: &Codec, block_size: u32) -> bool {
        self.codec == *codec && self.block_size == block_size
    }

    /// Blocks held.
    pub fn len(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lookups that found their block.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    fn full(&self) -> bool {
        self.bytes.load(Ordering::Relaxed) >= self.limit
    }

    /// Whether a precompressor has nothing more to do: the cache is full and there is no
    /// store to go on filling.
    fn done(&self) -> bool {
        self.full() && self.store.is_none()
    }

    fn key(data: &[u8]) -> Key {
        Sha256::digest(data).into()
    }

    fn contains(&self, k: &Key) -> bool {
        self.map.lock().expect("cache lock").contains_key(k)
    }

    fn insert(&self, k: Key, v: Option<Vec<u8>>) {
        if self.full() {
            return;
        }
        let n = v.as_ref().map_or(0, Vec::len) + 64;
        let mut m = self.map.lock().expect("cache lock");
        if m.insert(k, v.map(Arc::from)).is_none() {
            self.entries.fetch_add(1, Ordering::Relaxed);
            self.bytes.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The result for a full block with exactly these bytes: `Some(Some(c))` compressed to
    /// `c`, `Some(None)` stored raw, `None` not known.
    #[cfg(test)]
    fn get(&self, data: &[u8]) -> Option<Option<Arc<[u8]>>> {
        if data.len() != self.block_size as usize || self.is_empty() {
            return None;
        }
        self.get_by_key(&Self::key(data), data.len())
    }

    /// As [`BlockCache::get`], for a block of `len` bytes whose SHA-256 is `k`.
    pub(crate) fn get_by_key(&self, k: &Key, len: usize) -> Option<Option<Arc<[u8]>>> {
        if len != self.block_size as usize || self.is_empty() {
            return None;
        }
        let r = self.map.lock().expect("cache lock").get(k).cloned();
        if r.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
}

/// What a [`Precompressor`] did.
#[derive(Debug, Clone, Default)]
pub struct PrecompressStats {
    /// Blocks compressed.
    pub blocks: u64,
    /// Wall time it ran.
    pub seconds: f64,
    /// Whether it stopped early because the cache reached its limit.
    pub full: bool,
}

struct Queue {
    items: Mutex<VecDeque<(Arc<Path>, u64)>>,
    ready: Condvar,
}

struct Shared {
    root: OwnedFd,
    cache: Arc<BlockCache>,
    queue: Queue,
    stop: AtomicBool,
    blocks: AtomicU64,
}

/// Background threads at the lowest CPU priority that walk a root again and again and compress
/// the full blocks of its regular files into a [`BlockCache`], until stopped.
pub struct Precompressor {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    started: Instant,
}

impl Precompressor {
    /// Start on `root` with `threads` compressing threads (and one walking).
    pub fn start(
        root: &Path,
        cache: Arc<BlockCache>,
        threads: usize,
    ) -> std::io::Result<Precompressor> {
        let fd = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let shared = Arc::new(Shared {
            root: fd,
            cache,
            queue: Queue {
                items: Mutex::new(VecDeque::new()),
                ready: Condvar::new(),
            },
            stop: AtomicBool::new(false),
            blocks: AtomicU64::new(0),
        });
        let mut handles = Vec::new();
        let s = shared.clone();
        let workers = threads.max(1);
        handles.push(spawn("kiln-prewalk", move || walker(&s, workers))?);
        for i in 0..workers {
            let s = shared.clone();
            handles.push(spawn(&format!("kiln-precomp{i}"), move || worker(&s))?);
        }
        Ok(Precompressor {
            shared,
            threads: handles,
            started: Instant::now(),
        })
    }

    /// The cache it fills.
    pub fn cache(&self) -> Arc<BlockCache> {
        self.shared.cache.clone()
    }

    /// Stop the threads (each ends after its current block) and report.
    pub fn finish(mut self) -> PrecompressStats {
        self.halt();
        PrecompressStats {
            blocks: self.shared.blocks.load(Ordering::Relaxed),
            seconds: self.started.elapsed().as_secs_f64(),
            full: self.shared.cache.full(),
        }
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.queue.ready.notify_all();
        // A thread ends after its current block, but at nice 19 on a busy machine that block
        // can take long: wait a little, then let it finish on its own (it only reads the root
        // and writes the cache, both safe to outlive) rather than hold up an interrupt.
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        for t in self.threads.drain(..) {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Precompressor {
    fn drop(&mut self) {
        self.halt();
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            // Nice 19: the build's own work (unpacking, scriptlets, dracut) keeps the CPU; these
            // threads get what it leaves idle. Failing to lower it only costs fairness.
            let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19);
            f()
        })
}

/// Resolve strictly below the root: no symlink, no `..` out, no other mount.
fn strict() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_XDEV
}

fn walker(s: &Shared, workers: usize) {
    // Per file (by inode): the mtime and size last queued, so a rewritten file is queued again.
    let mut seen: HashMap<u64, (i64, i64, u64)> = HashMap::new();
    let bs = u64::from(s.cache.block_size);
    while !s.stop.load(Ordering::Relaxed) && !s.cache.done() {
        let mut found = Vec::new();
        walk_dir(s, s.root.as_fd(), PathBuf::new(), &mut |path, st| {
            let blocks = st.st_size as u64 / bs;
            let stamp = (st.st_mtime, st.st_mtime_nsec as i64, blocks);
            let prev = seen.insert(st.st_ino, stamp);
            let from = match prev {
                Some((m, ns, b)) if (m, ns) == (stamp.0, stamp.1) => b,
                _ => 0,
            };
            if blocks > from {
                let p: Arc<Path> = Arc::from(path);
                found.extend((from..blocks).map(|b| (p.clone(), b)));
            }
        });
        if found.is_empty() {
            pause(s, Duration::from_millis(500));
            continue;
        }
        s.queue.items.lock().expect("queue lock").extend(found);
        s.queue.ready.notify_all();
        // Walk again once the workers are nearly through what this walk found.
        loop {
            if s.stop.load(Ordering::Relaxed) {
                return;
            }
            if s.queue.items.lock().expect("queue lock").len() <= workers {
                break;
            }
            pause(s, Duration::from_millis(200));
        }
    }
}

fn pause(s: &Shared, d: Duration) {
    let q = s.queue.items.lock().expect("queue lock");
    let _ = s.queue.ready.wait_timeout(q, d);
}

fn walk_dir(
    s: &Shared,
    dir: std::os::fd::BorrowedFd<'_>,
    rel: PathBuf,
    each: &mut dyn FnMut(PathBuf, &rustix::fs::Stat),
) {
    let Ok(d) = rustix::fs::Dir::read_from(dir) else {
        return;
    };
    for e in d.flatten() {
        if s.stop.load(Ordering::Relaxed) {
            return;
        }
        let name = e.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let name = std::ffi::OsStr::from_bytes(name);
        let Ok(st) = rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                if let Ok(sub) = rustix::fs::openat2(dir, name, flags, Mode::empty(), strict()) {
                    walk_dir(s, sub.as_fd(), rel.join(name), each);
                }
            }
            FileType::RegularFile if st.st_size as u64 >= u64::from(s.cache.block_size) => {
                each(rel.join(name), &st)
            }
            _ => {}
        }
    }
}

/// Open a regular file below the root for reading; anything else (a device, a FIFO or a
/// symlink swapped in since the walk) is left unopened.
fn open_regular(s: &Shared, rel: &Path) -> Option<std::fs::File> {
    let p = rustix::fs::openat2(
        &s.root,
        rel,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        strict(),
    )
    .ok()?;
    let st = rustix::fs::fstat(&p).ok()?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return None;
    }
    // Reopen the very inode checked above for reading.
    let fd = rustix::fs::open(
        format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&p)),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    Some(std::fs::File::from(fd))
}

fn worker(s: &Shared) {
    let bs = s.cache.block_size as usize;
    let mut buf = vec![0u8; bs];
    let mut open: Option<(Arc<Path>, Option<std::fs::File>)> = None;
    loop {
        if s.stop.load(Ordering::Relaxed) || s.cache.done() {
            return;
        }
        let item = {
            let mut q = s.queue.items.lock().expect("queue lock");
            match q.pop_front() {
                Some(i) => i,
                None => {
                    let _ = s.queue.ready.wait_timeout(q, Duration::from_millis(200));
                    continue;
                }
            }
        };
        let (path, block) = item;
        if open.as_ref().is_none_or(|(p, _)| !Arc::ptr_eq(p, &path)) {
            open = Some((path.clone(), open_regular(s, &path)));
        }
        let Some((_, Some(f))) = &open else { continue };
        if f.read_exact_at(&mut buf, block * bs as u64).is_err() {
            continue;
        }
        if buf.iter().all(|&b| b == 0) {
            continue; // a hole in the image, no compression
        }
        let k = BlockCache::key(&buf);
        if s.cache.contains(&k) || s.cache.store.as_ref().is_some_and(|st| st.contains(&k)) {
            continue;
        }
        if let Ok(c) = s.cache.codec.compress(&buf, s.cache.block_size) {
            if let Some(st) = &s.cache.store {
                st.put(&k, &super::data::encode_value(c.as_deref()));
            }
            s.cache.insert(k, c);
            s.blocks.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_full_blocks_by_content_and_skips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let bs = 4096u32;
        let text: Vec<u8> = b"squashfs-block--"
            .iter()
            .cycle()
            .take(3 * bs as usize + 100)
            .copied()
            .collect();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/big"), &text).unwrap();
        std::fs::write(dir.path().join("small"), &text[..100]).unwrap();
        let zeros = vec![0u8; 2 * bs as usize];
        std::fs::write(dir.path().join("zeros"), &zeros).unwrap();
        // A symlink to a directory outside must not be walked.
        let outside = tempfile::tempdir().unwrap();
        let other: Vec<u8> = (0..bs * 2).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(outside.path().join("other"), &other).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();

        let codec = Codec::by_name("gzip").unwrap();
        let cache = Arc::new(BlockCache::new(codec.clone(), bs, 1 << 20));
        let p = Precompressor::start(dir.path(), cache.clone(), 2).unwrap();
        let t = Instant::now();
        while cache.is_empty() && t.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Let it walk again: nothing new may be added.
        std::thread::sleep(Duration::from_millis(700));
        let stats = p.finish();
        // Three full blocks of the same bytes (the pattern's period divides the block): one entry. No zeros, no small file, nothing
        // from outside the root.
        assert_eq!(cache.len(), 1, "{stats:?}");
        let block = &text[..bs as usize];
        let got = cache.get(block).expect("cached").expect("compressed");
        assert_eq!(Some(got.to_vec()), codec.compress(block, bs).unwrap());
        assert!(cache.get(&other[..bs as usize]).is_none());
        assert!(cache.get(&zeros[..bs as usize]).is_none());
        assert!(cache.fits(&codec, bs) && !cache.fits(&codec, bs * 2));
    }
}
