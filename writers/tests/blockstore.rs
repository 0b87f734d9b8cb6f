//! The persistent block store on a real file system: values come back exactly as put, every
//! kind of damage is detected, dropped and counted, several stores, threads and processes share
//! one directory, a writer killed mid-entry leaves nothing that is later used, and prune, clear,
//! usage and the build history do what `kiln cache` relies on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kiln_writers::blockstore::{self, BlockStore, BuildRecord, Key, Namespace};
use sha2::{Digest, Sha256};

const NS: &str = "squashfs-block v1 xz level=6 bs=1048576 liblzma 5.4.1";
const OTHER_NS: &str = "squashfs-block v1 zstd level=3 bs=131072 zstd 1.5.4";

/// The key of test entry `n`.
fn key(n: u64) -> Key {
    Sha256::digest(n.to_le_bytes()).into()
}

/// The value test entry `n` holds: `len` bytes derived from `n` alone, so that any process
/// can tell what it should be.
fn value(n: u64, len: usize) -> Vec<u8> {
    let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// A size between 1 byte and about 300 KiB, fixed by `n`.
fn size_of(n: u64) -> usize {
    1 + (n.wrapping_mul(2_654_435_761) % 300_000) as usize
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where entry `key` of namespace `params` lives (the layout the module documents).
fn entry_path(dir: &Path, params: &str, key: &Key) -> PathBuf {
    let ns = Sha256::digest(params.as_bytes());
    let h = hex(key);
    dir.join(hex(&ns[..8])).join(&h[..2]).join(&h[2..])
}

/// Every file under `dir` whose name starts with `.tmp-`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if e.file_name().to_string_lossy().starts_with(".tmp-") {
                out.push(e.path());
            }
        }
    }
    out
}

fn set_mtime(path: &Path, t: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn blockstore_round_trip_contains_and_counters() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlockStore::open(&dir.path().join("blocks-v1")).unwrap();
    let ns = store.namespace(NS);
    assert_eq!(ns.get(&key(1)), None);
    assert!(!ns.contains(&key(1)));
    ns.put(&key(1), &value(1, 1000));
    ns.put(&key(2), b"");
    assert!(ns.contains(&key(1)));
    assert_eq!(ns.get(&key(1)), Some(value(1, 1000)));
    assert_eq!(ns.get(&key(2)), Some(Vec::new()));
    // A second put of an existing key leaves the entry alone.
    ns.put(&key(1), b"something else");
    assert_eq!(ns.get(&key(1)), Some(value(1, 1000)));
    // Namespaces are separate.
    let other = store.clone().namespace(OTHER_NS);
    assert_eq!(other.get(&key(1)), None);
    assert!(!other.contains(&key(1)));

    let path = entry_path(store.dir(), NS, &key(1));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 112 + 1000);
    assert_eq!(
        std::fs::read_to_string(path.parent().unwrap().parent().unwrap().join("params")).unwrap(),
        NS
    );
    let c = store.counters();
    assert_eq!(c.hits, 3);
    assert_eq!(c.misses, 2);
    assert_eq!(c.stored, 2);
    assert_eq!(c.rejected, 0);
    assert_eq!(c.store_failures, 0);
    assert_eq!(c.bytes_written, 1000);
    assert_eq!(c.bytes_read, 2000);
    // Another handle on the same directory sees the entries; counters are per opened store.
    let again = BlockStore::open(store.dir()).unwrap();
    assert_eq!(again.namespace(NS).get(&key(1)), Some(value(1, 1000)));
    assert_eq!(again.counters().hits, 1);
    assert_eq!(store.counters().hits, 3);
    assert!(temp_files(store.dir()).is_empty());
}

/// Each kind of damage: `get` returns None, removes the file, counts it, and a new put works.
#[test]
fn blockstore_damaged_entries_are_rejected_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlockStore::open(dir.path()).unwrap();
    let ns = store.namespace(NS);
    let other = store.namespace(OTHER_NS);
    let n = 7;
    let v = value(n, 5000);

    type Damage = Box<dyn Fn(&Path, &Namespace)>;
    let damages: Vec<(&str, Damage)> = vec![
        (
            "flipped byte in the value",
            Box::new(|p, _| {
                let mut b = std::fs::read(p).unwrap();
                b[112 + 2500] ^= 0x01;
                std::fs::write(p, b).unwrap();
            }),
        ),
        ("flipped byte in the magic", Box::new(|p, _| flip(p, 3))),
        (
            "flipped byte in the namespace hash",
            Box::new(|p, _| flip(p, 20)),
        ),
        ("flipped byte in the key", Box::new(|p, _| flip(p, 50))),
        ("flipped byte in the length", Box::new(|p, _| flip(p, 72))),
        (
            "flipped byte in the value checksum",
            Box::new(|p, _| flip(p, 100)),
        ),
        (
            "truncated value",
            Box::new(|p, _| {
                let b = std::fs::read(p).unwrap();
                std::fs::write(p, &b[..b.len() - 1]).unwrap();
            }),
        ),
        (
            "truncated header",
            Box::new(|p, _| {
                let b = std::fs::read(p).unwrap();
                std::fs::write(p, &b[..60]).unwrap();
            }),
        ),
        (
            "empty file",
            Box::new(|p, _| std::fs::write(p, b"").unwrap()),
        ),
        (
            "bytes appended",
            Box::new(|p, _| {
                let mut b = std::fs::read(p).unwrap();
                b.extend_from_slice(b"xyz");
                std::fs::write(p, b).unwrap();
            }),
        ),
        (
            "a shorter entry (valid for its own length) under this key",
            Box::new(|p, ns| {
                // The same key's entry written for a shorter value: consistent in itself,
                // only a different value. It must still verify against its own checksum,
                // so a genuine one is made in a scratch store and copied in.
                let scratch = tempfile::tempdir().unwrap();
                let s = BlockStore::open(scratch.path())
                    .unwrap()
                    .namespace(ns.params());
                s.put(&key(7), &value(7, 100));
                let mut b =
                    std::fs::read(entry_path(scratch.path(), ns.params(), &key(7))).unwrap();
                // ... then its length field claims the original length.
                b[72..80].copy_from_slice(&5000u64.to_le_bytes());
                std::fs::write(p, b).unwrap();
            }),
        ),
    ];
    for (what, damage) in &damages {
        ns.put(&key(n), &v);
        let path = entry_path(store.dir(), NS, &key(n));
        assert!(path.exists(), "{what}: put wrote the entry");
        let rejected = store.counters().rejected;
        damage(&path, &ns);
        assert_eq!(ns.get(&key(n)), None, "{what}: damaged entry handed out");
        assert!(!path.exists(), "{what}: damaged entry not removed");
        assert_eq!(
            store.counters().rejected,
            rejected + 1,
            "{what}: not counted"
        );
        ns.put(&key(n), &v);
        assert_eq!(ns.get(&key(n)), Some(v.clone()), "{what}: re-put");
    }

    // A valid entry of another namespace copied into this one's place for the same key.
    other.put(&key(n), &v);
    let path = entry_path(store.dir(), NS, &key(n));
    std::fs::copy(entry_path(store.dir(), OTHER_NS, &key(n)), &path).unwrap();
    let rejected = store.counters().rejected;
    assert_eq!(
        ns.get(&key(n)),
        None,
        "entry of another namespace handed out"
    );
    assert!(!path.exists());
    assert_eq!(store.counters().rejected, rejected + 1);
    // The original in its own namespace is fine.
    assert_eq!(other.get(&key(n)), Some(v.clone()));

    // A valid entry of another key copied under this key's name.
    ns.put(&key(8), &value(8, 300));
    std::fs::copy(entry_path(store.dir(), NS, &key(8)), &path).unwrap();
    assert_eq!(ns.get(&key(n)), None, "entry of another key handed out");
    assert!(!path.exists());
    assert_eq!(store.counters().rejected, rejected + 2);
    ns.put(&key(n), &v);
    assert_eq!(ns.get(&key(n)), Some(v));
    assert_eq!(ns.get(&key(8)), Some(value(8, 300)));
    assert_eq!(store.counters().store_failures, 0);
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x80;
    std::fs::write(path, b).unwrap();
}
