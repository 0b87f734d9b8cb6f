//! A persistent, content-addressed store of compressed blocks that builds share: a rebuild
//! pays only for the bytes that changed. An entry is keyed by the SHA-256 of the uncompressed
//! input inside a *namespace*, a string naming everything that changes the compressed bytes
//! (writer, codec, level and options, block or cluster size, compressor library versions).
//!
//! On disk (`DIR` is the store directory, `blocks-v1` in kiln's cache directory):
//!
//! ```text
//! DIR/<16 hex: hash of the namespace>/params          the namespace string
//! DIR/<16 hex>/<2 hex>/<62 hex>                       one entry (the key's hex, split)
//! DIR/<16 hex>/<2 hex>/.tmp-<pid>-<n>                 an entry being written
//! DIR/.trash-<pid>-<n>                                a namespace being cleared
//! DIR/.lock                                           held while pruning or clearing
//! DIR/history                                         the last builds' figures
//! ```
//!
//! An entry is written under a temporary name and renamed into place, so a reader never sees
//! a torn one; it carries the namespace hash, its key and a SHA-256 of its value, and a reader
//! checks all three and the length: a damaged, truncated or misplaced entry is removed and
//! counted as rejected, never handed out. Store errors never fail a write: they cost a miss.
//!
//! An entry file is a 112-byte header and the value:
//!
//! ```text
//! 0   8   magic "KILNBLK" + format version 1
//! 8   32  SHA-256 of the namespace string
//! 40  32  the key
//! 72  8   value length, little-endian (the file is exactly 112 + this long)
//! 80  32  SHA-256 of the value
//! 112     the value
//! ```
//!
//! Readers and writers take no lock: entries are immutable once renamed into place (only
//! their mtime changes: a hit sets it to now, and [`prune`] removes the oldest first), and a
//! missing file is a miss. Only [`prune`], [`clear`] and [`record_build`] take `DIR/.lock`
//! (`flock`, exclusive), so that two of them never race. No fsync: a crash may lose entries,
//! and one torn by it fails verification. A writer killed mid-entry leaves a `.tmp-` file
//! that no reader opens and that [`prune`] removes once it is ten minutes old.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

/// A content key: the SHA-256 of the uncompressed input.
pub type Key = [u8; 32];

/// The store's directory name inside kiln's cache directory (versioned like the package cache).
pub const STORE_DIR: &str = "blocks-v1";

/// First bytes of every entry file: a name and the entry format version.
const MAGIC: [u8; 8] = *b"KILNBLK\x01";
/// Length of an entry file's header.
const HEADER_LEN: usize = 112;
/// Prefix of temporary files; never 62 hex digits, so never taken for an entry.
const TMP_PREFIX: &str = ".tmp-";
/// Prefix of namespace directories [`clear`] is removing.
const TRASH_PREFIX: &str = ".trash-";
/// A temporary file this old belongs to a writer that died (a live one renames in moments).
const STALE_TMP_AGE: Duration = Duration::from_secs(600);
/// How many builds `DIR/history` keeps.
const HISTORY_LEN: usize = 50;
/// First line of `DIR/history`.
const HISTORY_HEADER: &str =
    "# kiln block store history v1: time image image_bytes from_cache compressed seconds_saved";

/// Figures of what a store handed out and took in since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounters {
    /// Lookups that returned a verified entry.
    pub hits: u64,
    /// Lookups that found nothing usable (rejected ones included).
    pub misses: u64,
    /// Entries found damaged, truncated or misplaced, and removed.
    pub rejected: u64,
    /// Entries written.
    pub stored: u64,
    /// Entries that could not be written (full disk, permissions): only a lost hit later.
    pub store_failures: u64,
    /// Value bytes read from verified entries.
    pub bytes_read: u64,
    /// Value bytes written.
    pub bytes_written: u64,
}

/// The live counters behind [`StoreCounters`], shared by all clones and namespaces.
#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    rejected: AtomicU64,
    stored: AtomicU64,
    store_failures: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// An open store. Cheap to clone; all clones share the counters.
#[derive(Debug, Clone)]
pub struct BlockStore {
    dir: Arc<PathBuf>,
    counters: Arc<Counters>,
}

impl BlockStore {
    /// Open the store at `dir` (created when missing).
    pub fn open(dir: &Path) -> std::io::Result<BlockStore> {
        std::fs::create_dir_all(dir)?;
        Ok(BlockStore {
            dir: Arc::new(dir.to_path_buf()),
            counters: Arc::new(Counters::default()),
        })
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entries of one writer setting; `params` names everything that changes the bytes.
    pub fn namespace(&self, params: &str) -> Namespace {
        let hash: [u8; 32] = Sha256::digest(params.as_bytes()).into();
        let dir = self.dir.join(hex(&hash[..8]));
        let ns = Namespace {
            inner: Arc::new(NamespaceInner {
                store: self.clone(),
                params: params.to_owned(),
                hash,
                dir,
            }),
        };
        // Failures here surface (and are counted) on the first put.
        let _ = ns.ensure_dir();
        ns
    }

    /// What all namespaces of this store (and its clones) did so far.
    pub fn counters(&self) -> StoreCounters {
        let c = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StoreCounters {
            hits: load(&c.hits),
            misses: load(&c.misses),
            rejected: load(&c.rejected),
            stored: load(&c.stored),
            store_failures: load(&c.store_failures),
            bytes_read: load(&c.bytes_read),
            bytes_written: load(&c.bytes_written),
        }
    }
}

/// One namespace of a [`BlockStore`]; `Send + Sync`, cheap to clone.
#[derive(Debug, Clone)]
pub struct Namespace {
    inner: Arc<NamespaceInner>,
}

#[derive(Debug)]
struct NamespaceInner {
    store: BlockStore,
    params: String,
    /// SHA-256 of `params`, written into every entry of this namespace.
    hash: [u8; 32],
    /// `DIR/<16 hex of hash>`.
    dir: PathBuf,
}

/// Why an entry file was refused.
#[derive(Debug)]
enum Refused {
    /// No file: a plain miss.
    Absent,
    /// The file could not be read (not damage: left in place).
    Unreadable,
    /// The file is damaged or belongs elsewhere: remove it (unless the file at its path is no
    /// longer this one: device and inode number).
    Damaged(&'static str, (u64, u64)),
}

impl Namespace {
    /// The params string this namespace was opened with.
    pub fn params(&self) -> &str {
        &self.inner.params
    }

    /// The verified value stored for `key`, and the entry marked as just used (LRU); `None`
    /// when there is none or it failed verification (then it is removed).
    pub fn get(&self, key: &Key) -> Option<Vec<u8>> {
        let counters = &self.inner.store.counters;
        let path = self.entry_path(key);
        match self.read_entry(&path, key) {
            Ok(value) => {
                bump(&counters.hits, 1);
                bump(&counters.bytes_read, value.len() as u64);
                Some(value)
            }
            Err(Refused::Absent | Refused::Unreadable) => {
                bump(&counters.misses, 1);
                None
            }
            Err(Refused::Damaged(why, file_id)) => {
                tracing::warn!(path = %path.display(), why, "block store: damaged entry removed");
                // Another process may have removed it and put a good one meanwhile.
                let same =
                    std::fs::symlink_metadata(&path).is_ok_and(|m| (m.dev(), m.ino()) == file_id);
                if same {
                    let _ = std::fs::remove_file(&path);
                }
                bump(&counters.rejected, 1);
                bump(&counters.misses, 1);
                None
            }
        }
    }

    /// Whether an entry exists for `key` (not verified: for skipping work, not for output).
    pub fn contains(&self, key: &Key) -> bool {
        std::fs::symlink_metadata(self.entry_path(key)).is_ok_and(|m| m.is_file())
    }

    /// Store `value` for `key` atomically (an existing entry is left as it is). Failures are
    /// counted, never returned.
    pub fn put(&self, key: &Key, value: &[u8]) {
        let counters = &self.inner.store.counters;
        let path = self.entry_path(key);
        if std::fs::symlink_metadata(&path).is_ok() {
            return;
        }
        match self.write_entry(&path, key, value) {
            Ok(()) => {
                bump(&counters.stored, 1);
                bump(&counters.bytes_written, value.len() as u64);
            }
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "block store: entry not stored");
                bump(&counters.store_failures, 1);
            }
        }
    }

    /// `DIR/<ns>/<2 hex>/<62 hex>`.
    fn entry_path(&self, key: &Key) -> PathBuf {
        let h = hex(key);
        let mut p = self.inner.dir.join(&h[..2]);
        p.push(&h[2..]);
        p
    }

    /// The namespace directory with its `params` file (written once, atomically).
    fn ensure_dir(&self) -> std::io::Result<()> {
        let params = self.inner.dir.join("params");
        if params.exists() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.inner.dir)?;
        let (tmp, file) = create_temp(&self.inner.dir)?;
        let written = write_then_close(file, &[self.inner.params.as_bytes()])
            .and_then(|()| std::fs::rename(&tmp, &params));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    fn read_entry(&self, path: &Path, key: &Key) -> Result<Vec<u8>, Refused> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(Refused::Absent),
            Err(_) => return Err(Refused::Unreadable),
        };
        let meta = file.metadata().map_err(|_| Refused::Unreadable)?;
        let file_len = meta.len();
        let file_id = (meta.dev(), meta.ino());
        if file_len < HEADER_LEN as u64 {
            return Err(Refused::Damaged("shorter than its header", file_id));
        }
        let mut header = [0u8; HEADER_LEN];
        file.read_exact(&mut header)
            .map_err(|_| Refused::Damaged("header unreadable", file_id))?;
        let h = Header::decode(&header).ok_or(Refused::Damaged("bad magic or version", file_id))?;
        if h.namespace != self.inner.hash {
            return Err(Refused::Damaged("entry of another namespace", file_id));
        }
        if h.key != *key {
            return Err(Refused::Damaged("entry of another key", file_id));
        }
        if file_len.checked_sub(HEADER_LEN as u64) != Some(h.value_len) {
            return Err(Refused::Damaged(
                "length does not match its header",
                file_id,
            ));
        }
        let mut value = vec![0u8; h.value_len as usize];
        file.read_exact(&mut value)
            .map_err(|_| Refused::Damaged("truncated value", file_id))?;
        let digest: [u8; 32] = Sha256::digest(&value).into();
        if digest != h.value_sha256 {
            return Err(Refused::Damaged("value checksum mismatch", file_id));
        }
        // LRU: a hit makes the entry the newest (mtime only; failure just ages it).
        let now = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_NOW,
            },
        };
        let _ = rustix::fs::futimens(&file, &now);
        Ok(value)
    }

    fn write_entry(&self, path: &Path, key: &Key, value: &[u8]) -> std::io::Result<()> {
        let header = Header {
            namespace: self.inner.hash,
            key: *key,
            value_len: value.len() as u64,
            value_sha256: Sha256::digest(value).into(),
        }
        .encode();
        let shard = path.parent().expect("entry paths have a shard dir");
        let (tmp, file) = match create_temp(shard) {
            Ok(t) => t,
            // First entry of this shard, or a clear/prune removed the dirs meanwhile.
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.ensure_dir()?;
                std::fs::create_dir_all(shard)?;
                create_temp(shard)?
            }
            Err(e) => return Err(e),
        };
        let written = write_then_close(file, &[&header, value])
            // A concurrent identical put may win the race: its entry is the same bytes.
            .and_then(|()| std::fs::rename(&tmp, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }
}

/// An entry file's header (see the module doc).
#[derive(Debug, PartialEq, Eq)]
struct Header {
    namespace: [u8; 32],
    key: Key,
    value_len: u64,
    value_sha256: [u8; 32],
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..40].copy_from_slice(&self.namespace);
        b[40..72].copy_from_slice(&self.key);
        b[72..80].copy_from_slice(&self.value_len.to_le_bytes());
        b[80..112].copy_from_slice(&self.value_sha256);
        b
    }

    fn decode(b: &[u8; HEADER_LEN]) -> Option<Header> {
        if b[0..8] != MAGIC {
            return None;
        }
        let field = |r: std::ops::Range<usize>| -> [u8; 32] { b[r].try_into().expect("32 bytes") };
        Some(Header {
            namespace: field(8..40),
            key: field(40..72),
            value_len: u64::from_le_bytes(b[72..80].try_into().expect("8 bytes")),
            value_sha256: field(80..112),
        })
    }
}

/// Write `parts` and close `file` (no fsync: a crash may lose entries, and a torn one fails
/// verification).
fn write_then_close(mut file: File, parts: &[&[u8]]) -> std::io::Result<()> {
    for part in parts {
        file.write_all(part)?;
    }
    Ok(())
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

fn is_hex(name: &str, len: usize) -> bool {
    name.len() == len && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A number not returned before in this process.
fn next_unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A new file `.tmp-<pid>-<n>` in `dir`, created exclusively (a killed writer's leftover with
/// the same name, after pid reuse, only moves us to the next number).
fn create_temp(dir: &Path) -> std::io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    loop {
        let n = next_unique();
        let tmp = dir.join(format!("{TMP_PREFIX}{pid}-{n}"));
        match File::options().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `DIR/.lock`, held exclusively until the returned file is dropped.
fn lock(dir: &Path) -> std::io::Result<File> {
    std::fs::create_dir_all(dir)?;
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(".lock"))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)?;
    Ok(file)
}

/// Entries of an absent directory (or one removed meanwhile by a clear) are none.
fn read_dir_or_empty(dir: &Path) -> std::io::Result<Vec<std::fs::DirEntry>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.collect(),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// One file found by [`walk`].
struct Found {
    path: PathBuf,
    /// Index into the namespace list (none: a temporary of `DIR/history`).
    namespace: Option<usize>,
    len: u64,
    mtime: (i64, i64),
    /// A writer's temporary file, not an entry.
    temp: bool,
}

/// Every entry and temporary file under `dir`, and the namespaces (their params, or the
/// directory name in brackets when `params` is missing).
fn walk(dir: &Path) -> std::io::Result<(Vec<String>, Vec<PathBuf>, Vec<Found>)> {
    let mut names = Vec::new();
    let mut ns_dirs = Vec::new();
    let mut found = Vec::new();
    for ns in read_dir_or_empty(dir)? {
        let ns_name = ns.file_name();
        if ns_name.to_str().is_some_and(|n| n.starts_with(TMP_PREFIX)) {
            // A history file's temporary.
            if let Ok(m) = ns.metadata() {
                found.push(Found {
                    path: ns.path(),
                    namespace: None,
                    len: m.len(),
                    mtime: (m.mtime(), m.mtime_nsec()),
                    temp: true,
                });
            }
            continue;
        }
        let Some(ns_name) = ns_name.to_str().filter(|n| is_hex(n, 16)) else {
            continue;
        };
        let ns_dir = ns.path();
        if !ns.file_type()?.is_dir() {
            continue;
        }
        let namespace = names.len();
        names.push(
            std::fs::read_to_string(ns_dir.join("params"))
                .unwrap_or_else(|_| format!("[{ns_name}]")),
        );
        ns_dirs.push(ns_dir.clone());
        for shard in read_dir_or_empty(&ns_dir)? {
            let shard_name = shard.file_name();
            let is_tmp = shard_name
                .to_str()
                .is_some_and(|n| n.starts_with(TMP_PREFIX));
            if is_tmp {
                // A params file's temporary.
                if let Ok(m) = shard.metadata() {
                    found.push(Found {
                        path: shard.path(),
                        namespace: Some(namespace),
                        len: m.len(),
                        mtime: (m.mtime(), m.mtime_nsec()),
                        temp: true,
                    });
                }
                continue;
            }
            if !shard_name.to_str().is_some_and(|n| is_hex(n, 2)) || !shard.file_type()?.is_dir() {
                continue;
            }
            for file in read_dir_or_empty(&shard.path())? {
                let name = file.file_name();
                let Some(name) = name.to_str() else { continue };
                let temp = name.starts_with(TMP_PREFIX);
                if !temp && !is_hex(name, 62) {
                    continue;
                }
                // Gone meanwhile (another prune, a get that rejected it): not counted.
                let Ok(m) = file.metadata() else { continue };
                if !m.is_file() {
                    continue;
                }
                found.push(Found {
                    path: file.path(),
                    namespace: Some(namespace),
                    len: m.len(),
                    mtime: (m.mtime(), m.mtime_nsec()),
                    temp,
                });
            }
        }
    }
    Ok((names, ns_dirs, found))
}

/// What a store directory holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Entries.
    pub entries: u64,
    /// Bytes on disk of the entries (file lengths).
    pub bytes: u64,
    /// Per namespace: its params string, entries and bytes.
    pub namespaces: Vec<(String, u64, u64)>,
}

/// Count what `dir` holds (an absent directory holds nothing).
pub fn usage(dir: &Path) -> std::io::Result<Usage> {
    let (names, _, found) = walk(dir)?;
    let mut usage = Usage {
        namespaces: names.into_iter().map(|n| (n, 0, 0)).collect(),
        ..Usage::default()
    };
    for f in found.iter().filter(|f| !f.temp) {
        usage.entries += 1;
        usage.bytes += f.len;
        let Some(ns) = f.namespace.map(|i| &mut usage.namespaces[i]) else {
            continue;
        };
        ns.1 += 1;
        ns.2 += f.len;
    }
    usage.namespaces.sort();
    Ok(usage)
}

/// What [`prune`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Entries removed.
    pub removed: u64,
    /// Their bytes.
    pub freed: u64,
    /// Bytes of the entries kept.
    pub kept: u64,
}

/// Remove the least recently used entries until at most `limit` bytes remain (and any
/// temporary file a killed writer left behind); under the store lock.
pub fn prune(dir: &Path, limit: u64) -> std::io::Result<Pruned> {
    if !dir.exists() {
        return Ok(Pruned::default());
    }
    let _lock = lock(dir)?;
    remove_trash(dir)?;
    let (_, ns_dirs, found) = walk(dir)?;
    let stale_before = SystemTime::now()
        .checked_sub(STALE_TMP_AGE)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64);
    let (temps, mut entries): (Vec<Found>, Vec<Found>) = found.into_iter().partition(|f| f.temp);
    for t in temps.iter().filter(|t| t.mtime.0 < stale_before) {
        match std::fs::remove_file(&t.path) {
            Ok(()) => {
                tracing::debug!(path = %t.path.display(), "block store: stale temporary removed")
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    // Oldest use first; the path breaks ties so that the order is the same every time.
    entries.sort_by(|a, b| a.mtime.cmp(&b.mtime).then_with(|| a.path.cmp(&b.path)));
    let mut pruned = Pruned {
        kept: entries.iter().map(|e| e.len).sum(),
        ..Pruned::default()
    };
    for e in &entries {
        if pruned.kept <= limit {
            break;
        }
        match std::fs::remove_file(&e.path) {
            Ok(()) => {
                pruned.removed += 1;
                pruned.freed += e.len;
            }
            // Removed meanwhile by a reader that found it damaged.
            Err(err) if err.kind() == ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        pruned.kept -= e.len;
    }
    // Empty shard dirs go; a writer that loses its dir to this re-creates it.
    for ns_dir in &ns_dirs {
        for shard in read_dir_or_empty(ns_dir)? {
            if shard.file_name().to_str().is_some_and(|n| is_hex(n, 2)) {
                let _ = std::fs::remove_dir(shard.path());
            }
        }
    }
    Ok(pruned)
}

/// Remove every entry and namespace (the history stays); under the store lock. Returns the
/// bytes freed.
pub fn clear(dir: &Path) -> std::io::Result<u64> {
    if !dir.exists() {
        return Ok(0);
    }
    let _lock = lock(dir)?;
    let (_, ns_dirs, found) = walk(dir)?;
    let freed = found
        .iter()
        .filter(|f| f.namespace.is_some())
        .map(|f| f.len)
        .sum();
    for ns_dir in ns_dirs {
        // Moved aside in one step, then removed: writers that go on putting meanwhile create
        // a new namespace directory instead of adding files to the tree being removed.
        let trash = dir.join(format!(
            "{TRASH_PREFIX}{}-{}",
            std::process::id(),
            next_unique()
        ));
        match std::fs::rename(&ns_dir, &trash) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    remove_trash(dir)?;
    Ok(freed)
}

/// Remove the namespace trees [`clear`] moved aside (also those of a clear that was killed).
/// Only called under the store lock, so no other clear is still removing them.
fn remove_trash(dir: &Path) -> std::io::Result<()> {
    for e in read_dir_or_empty(dir)? {
        if !e
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(TRASH_PREFIX))
        {
            continue;
        }
        // A writer whose path lookup passed the namespace directory just before it was moved
        // may still create a file in it: that lands in the trash once, so trying again ends.
        let mut attempt = 0;
        loop {
            match std::fs::remove_dir_all(e.path()) {
                Ok(()) => break,
                Err(err) if err.kind() == ErrorKind::NotFound => break,
                Err(err) if err.kind() == ErrorKind::DirectoryNotEmpty && attempt < 10 => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(attempt));
                }
                Err(err) => return Err(err),
            }
        }
    }
    Ok(())
}

/// One build's use of the store, kept in `DIR/history` for `kiln cache stats`.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildRecord {
    /// When it ended (seconds since the epoch).
    pub time: i64,
    /// The image it wrote (a name, e.g. `LiveOS/squashfs.img` or the output file).
    pub image: String,
    /// Its size in bytes (the default store limit is twice the largest one seen).
    pub image_bytes: u64,
    /// Blocks (or EROFS segments) taken from the store or the precompressor.
    pub from_cache: u64,
    /// Blocks (or segments) the build compressed itself.
    pub compressed: u64,
    /// Compression seconds the cache saved (estimated from this build's own rate).
    pub seconds_saved: f64,
}

impl BuildRecord {
    /// One tab-separated line (no newline); the image name escaped.
    fn to_line(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            self.time,
            escape(&self.image),
            self.image_bytes,
            self.from_cache,
            self.compressed,
            self.seconds_saved
        )
    }

    fn from_line(line: &str) -> Option<BuildRecord> {
        let mut fields = line.split('\t');
        let rec = BuildRecord {
            time: fields.next()?.parse().ok()?,
            image: unescape(fields.next()?)?,
            image_bytes: fields.next()?.parse().ok()?,
            from_cache: fields.next()?.parse().ok()?,
            compressed: fields.next()?.parse().ok()?,
            seconds_saved: fields.next()?.parse().ok()?,
        };
        fields.next().is_none().then_some(rec)
    }
}

/// `\` `\t` `\n` `\r` as backslash escapes, so that a name never splits a field or a line.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '\\' => '\\',
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            _ => return None,
        });
    }
    Some(out)
}

/// Parse a history file's text, skipping damaged lines.
fn parse_history(text: &str) -> Vec<BuildRecord> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let rec = BuildRecord::from_line(l);
            if rec.is_none() {
                tracing::debug!(line = l, "block store history: damaged line skipped");
            }
            rec
        })
        .collect()
}

/// Append `rec` to `DIR/history`, keeping the last 50 records.
pub fn record_build(dir: &Path, rec: &BuildRecord) -> std::io::Result<()> {
    let _lock = lock(dir)?;
    let mut records = history(dir)?;
    records.push(rec.clone());
    let skip = records.len().saturating_sub(HISTORY_LEN);
    let mut text = String::from(HISTORY_HEADER);
    text.push('\n');
    for r in &records[skip..] {
        text.push_str(&r.to_line());
        text.push('\n');
    }
    let (tmp, file) = create_temp(dir)?;
    let written = write_then_close(file, &[text.as_bytes()])
        .and_then(|()| std::fs::rename(&tmp, dir.join("history")));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The records in `DIR/history`, oldest first (none when absent).
pub fn history(dir: &Path) -> std::io::Result<Vec<BuildRecord>> {
    match std::fs::read(dir.join("history")) {
        Ok(bytes) => Ok(parse_history(&String::from_utf8_lossy(&bytes))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// A fixed, text-like input of at least `len` bytes made of `words` (a namespace's `sample=`
/// digest compresses it, so a codec whose output changed starts a new namespace).
pub(crate) fn sample_input(words: &[&[u8]; 8], len: usize) -> Vec<u8> {
    let mut sample = Vec::with_capacity(len + 64);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    while sample.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        sample.extend_from_slice(words[(x % 8) as usize]);
        if x.is_multiple_of(5) {
            sample.push((x >> 32) as u8);
        }
    }
    sample
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_layout() {
        let h = Header {
            namespace: [1; 32],
            key: [2; 32],
            value_len: 0x0102_0304_0506_0708,
            value_sha256: [3; 32],
        };
        let b = h.encode();
        assert_eq!(&b[..8], b"KILNBLK\x01");
        assert_eq!(b[8], 1);
        assert_eq!(b[40], 2);
        assert_eq!(&b[72..80], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(b[111], 3);
        assert_eq!(Header::decode(&b), Some(h));
        let mut other_version = b;
        other_version[7] = 2;
        assert_eq!(Header::decode(&other_version), None);
    }

    #[test]
    fn hex_digits() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert!(is_hex("0123456789abcdef", 16));
        assert!(!is_hex("0123456789ABCDEF", 16));
        assert!(!is_hex(".tmp-1-2", 8));
    }

    #[test]
    fn entry_path_splits_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlockStore::open(dir.path()).unwrap();
        let ns = store.namespace("squashfs-block v1 xz bs=1048576");
        let mut key = [0u8; 32];
        key[0] = 0xab;
        key[31] = 0x01;
        let p = ns.entry_path(&key);
        let ns_hash = Sha256::digest(b"squashfs-block v1 xz bs=1048576");
        let rel = p.strip_prefix(dir.path()).unwrap();
        let parts: Vec<_> = rel.iter().map(|c| c.to_str().unwrap().to_owned()).collect();
        assert_eq!(parts[0], hex(&ns_hash[..8]));
        assert_eq!(parts[1], "ab");
        assert_eq!(parts[2], format!("{}01", "0".repeat(60)));
    }

    #[test]
    fn history_line_escapes_separators() {
        let rec = BuildRecord {
            time: -5,
            image: "a\tb\nc\\d\re".into(),
            image_bytes: 7,
            from_cache: 8,
            compressed: 9,
            seconds_saved: 0.1 + 0.2,
        };
        let line = rec.to_line();
        assert_eq!(line.matches('\t').count(), 5);
        assert!(!line.contains('\n'));
        assert_eq!(line, "-5\ta\\tb\\nc\\\\d\\re\t7\t8\t9\t0.30000000000000004");
        assert_eq!(BuildRecord::from_line(&line), Some(rec));
        assert_eq!(BuildRecord::from_line("1\tx\\q\t1\t1\t1\t1"), None);
        assert_eq!(BuildRecord::from_line("1\tx\t1\t1\t1"), None);
        assert_eq!(BuildRecord::from_line("1\tx\t1\t1\t1\t1\t1"), None);
    }
}
