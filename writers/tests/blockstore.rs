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

/// Two stores on one directory and several threads each put and get the same and different
/// keys at once: every get is nothing or exactly the bytes put.
#[test]
fn blockstore_threads_and_stores_share_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let a = BlockStore::open(dir.path()).unwrap();
    let b = BlockStore::open(dir.path()).unwrap();
    const KEYS: u64 = 120;
    std::thread::scope(|s| {
        for t in 0..6u64 {
            let ns = if t % 2 == 0 { &a } else { &b }.namespace(NS);
            s.spawn(move || {
                for round in 0..3u64 {
                    for i in 0..KEYS {
                        // Half the keys are shared by all threads, half are this thread's own.
                        let n = if i % 2 == 0 { i } else { 1000 * (t + 1) + i };
                        let n = if round % 2 == 0 { n } else { n ^ 2 };
                        if let Some(got) = ns.get(&key(n)) {
                            assert!(got == value(n, size_of(n)), "key {n}: wrong bytes");
                        }
                        ns.put(&key(n), &value(n, size_of(n)));
                        assert!(
                            ns.get(&key(n)) == Some(value(n, size_of(n))),
                            "key {n} after put"
                        );
                    }
                }
            });
        }
    });
    let (ca, cb) = (a.counters(), b.counters());
    eprintln!("store a: {ca:?}\nstore b: {cb:?}");
    assert_eq!(ca.rejected + cb.rejected, 0);
    assert_eq!(ca.store_failures + cb.store_failures, 0);
    // Each distinct key was written at least once, a racing duplicate at most once per thread.
    let distinct: BTreeSet<u64> = (0..6u64)
        .flat_map(|t| (0..KEYS).map(move |i| if i % 2 == 0 { i } else { 1000 * (t + 1) + i }))
        .flat_map(|n| [n, n ^ 2])
        .collect();
    let usage = blockstore::usage(dir.path()).unwrap();
    assert_eq!(usage.entries, distinct.len() as u64);
    assert!(ca.stored + cb.stored >= distinct.len() as u64);
    assert!(temp_files(dir.path()).is_empty());
}

/// Writers put and get while another thread prunes hard and clears: gets stay exact, nothing
/// panics, nothing is left half-written.
#[test]
fn blockstore_prune_and_clear_while_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlockStore::open(dir.path()).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let mut writers = Vec::new();
        for t in 0..3u64 {
            let ns = store.namespace(NS);
            writers.push(s.spawn(move || {
                for i in 0..300u64 {
                    let n = (i * 7 + t) % 150;
                    if let Some(got) = ns.get(&key(n)) {
                        assert!(got == value(n, size_of(n)), "key {n}: wrong bytes");
                    }
                    ns.put(&key(n), &value(n, size_of(n)));
                }
            }));
        }
        let (stop, path) = (&stop, dir.path());
        s.spawn(move || {
            let mut rounds = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                blockstore::prune(path, 2_000_000).unwrap();
                rounds += 1;
                if rounds == 10 {
                    rounds = 0;
                    blockstore::clear(path).unwrap();
                }
            }
        });
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let c = store.counters();
    eprintln!("with prune and clear running: {c:?}");
    assert_eq!(c.rejected, 0);
    assert!(temp_files(dir.path()).is_empty());
    // After all that, the store still works.
    let ns = store.namespace(NS);
    ns.put(&key(9999), &value(9999, 4096));
    assert_eq!(ns.get(&key(9999)), Some(value(9999, 4096)));
}

const CHILD_DIR: &str = "KILN_BLOCKSTORE_CHILD_DIR";

/// Size of the child writer's entry `n`: 256 KiB to 1 MiB.
fn child_size(n: u64) -> usize {
    (256 << 10) + (n.wrapping_mul(2_654_435_761) % (768 << 10)) as usize
}

/// The child of `blockstore_writer_killed_mid_entry`: puts entries 0, 1, 2... into the store
/// named by the environment until it is killed. Run on its own, it writes a few and checks them.
#[test]
#[ignore = "child process of blockstore_writer_killed_mid_entry"]
fn blockstore_child_writer() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        let dir = tempfile::tempdir().unwrap();
        let ns = BlockStore::open(dir.path()).unwrap().namespace(NS);
        for n in 0..5 {
            ns.put(&key(n), &value(n, child_size(n)));
            assert_eq!(ns.get(&key(n)), Some(value(n, child_size(n))));
        }
        return;
    };
    let ns = BlockStore::open(Path::new(&dir)).unwrap().namespace(NS);
    // Until the parent kills this process: no bound is meant to be reached.
    for n in 0..=u64::MAX {
        ns.put(&key(n), &value(n, child_size(n)));
    }
}

fn spawn_child_writer(dir: &Path) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["blockstore_child_writer", "--exact", "--ignored", "--quiet"])
        .env(CHILD_DIR, dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Two processes write the same entries while this one reads them; both are then killed with
/// SIGKILL while one is stopped in the middle of an entry (a temporary file exists). Every
/// entry left verifies and holds what the writers meant, the half-written temporary is never
/// handed out, and prune removes it once it is old.
#[test]
fn blockstore_writer_killed_mid_entry() {
    use rustix::process::{kill_process, Pid, Signal};
    let dir = tempfile::tempdir().unwrap();
    let store = BlockStore::open(dir.path()).unwrap();
    let ns = store.namespace(NS);
    let mut children = [
        spawn_child_writer(dir.path()),
        spawn_child_writer(dir.path()),
    ];

    // Read alongside the writers, each entry as soon as it appears, until 40 exist.
    let mut seen = 0u64;
    let mut reads = 0u64;
    while seen < 40 {
        reads += 1;
        if let Some(got) = ns.get(&key(seen)) {
            assert!(
                got == value(seen, child_size(seen)),
                "key {seen}: wrong bytes while writing"
            );
            seen += 1;
        }
        for c in &mut children {
            assert!(c.try_wait().unwrap().is_none(), "child writer exited");
        }
    }

    // Catch the first child with a temporary file open: stop it, look, go on or kill it.
    let pid = Pid::from_raw(children[0].id() as i32).unwrap();
    kill_process(
        Pid::from_raw(children[1].id() as i32).unwrap(),
        Signal::STOP,
    )
    .unwrap();
    let mut tries = 0;
    let caught = loop {
        tries += 1;
        kill_process(pid, Signal::STOP).unwrap();
        // The stop is asynchronous; /proc says when it took effect.
        while !std::fs::read_to_string(format!("/proc/{}/stat", children[0].id()))
            .unwrap()
            .contains(") T ")
        {
            std::thread::yield_now();
        }
        let temps = temp_files(dir.path());
        if !temps.is_empty() {
            break temps;
        }
        assert!(tries < 10_000, "never caught the writer inside an entry");
        kill_process(pid, Signal::CONT).unwrap();
        std::thread::sleep(Duration::from_micros(200 + (tries % 7) * 300));
    };
    for c in &mut children {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    // Listed again now that no writer runs: the second child's stop is asynchronous, so a
    // create it had in flight may have landed after the look above.
    let leftovers = temp_files(dir.path());
    assert!(
        caught.iter().all(|t| leftovers.contains(t)),
        "{caught:?} gone after the kill: {leftovers:?}"
    );
    eprintln!(
        "killed after {seen}+ entries, {reads} concurrent reads, {tries} stops; leftovers: {:?}",
        leftovers
    );

    let before = blockstore::usage(dir.path()).unwrap();
    let mut verified = 0;
    let mut n = 0;
    let mut misses_in_a_row = 0;
    while misses_in_a_row < 10 {
        match ns.get(&key(n)) {
            Some(got) => {
                assert!(
                    got == value(n, child_size(n)),
                    "key {n}: wrong bytes after kill"
                );
                verified += 1;
                misses_in_a_row = 0;
            }
            None => misses_in_a_row += 1,
        }
        n += 1;
    }
    eprintln!(
        "{verified} entries verified after the kill, {} temporaries",
        leftovers.len()
    );
    assert_eq!(verified, before.entries, "an entry present did not verify");
    assert_eq!(store.counters().rejected, 0);

    // Young temporaries belong to writers that may still be running: prune leaves them.
    let pruned = blockstore::prune(dir.path(), u64::MAX).unwrap();
    assert_eq!(pruned.removed, 0);
    for t in &leftovers {
        assert!(t.exists());
        set_mtime(t, SystemTime::now() - Duration::from_secs(3600));
    }
    let pruned = blockstore::prune(dir.path(), u64::MAX).unwrap();
    assert_eq!(pruned.removed, 0);
    assert_eq!(pruned.kept, before.bytes);
    assert!(
        temp_files(dir.path()).is_empty(),
        "stale temporaries left by prune"
    );
    assert_eq!(blockstore::usage(dir.path()).unwrap(), before);
}

/// Prune removes the least recently used entries first (a get counts as a use) down to the
/// limit, and the shard directories it empties.
#[test]
fn blockstore_prune_keeps_the_recently_used() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlockStore::open(dir.path()).unwrap();
    let ns = store.namespace(NS);
    let base = SystemTime::now() - Duration::from_secs(86_400);
    for n in 0..20u64 {
        ns.put(&key(n), &value(n, 1000));
        // Entry n was last used n seconds after `base`: 0 is the oldest.
        set_mtime(
            &entry_path(dir.path(), NS, &key(n)),
            base + Duration::from_secs(n),
        );
    }
    // Using the three oldest makes them the newest.
    for n in 0..3 {
        assert_eq!(ns.get(&key(n)), Some(value(n, 1000)));
    }
    // What a writer of the history killed long ago, and one writing now, leave.
    let stale = dir.path().join(".tmp-4000000-0");
    let young = dir.path().join(".tmp-4000000-1");
    std::fs::write(&stale, "1\tx").unwrap();
    std::fs::write(&young, "1\tx").unwrap();
    set_mtime(&stale, base);
    let entry_len = 112 + 1000;
    assert_eq!(blockstore::prune(dir.path(), u64::MAX).unwrap().removed, 0);
    assert!(!stale.exists() && young.exists());
    assert_eq!(blockstore::usage(dir.path()).unwrap().entries, 20);
    let pruned = blockstore::prune(dir.path(), 10 * entry_len + entry_len / 2).unwrap();
    assert_eq!(
        pruned,
        blockstore::Pruned {
            removed: 10,
            freed: 10 * entry_len,
            kept: 10 * entry_len
        }
    );
    let kept: Vec<u64> = (0..20).filter(|n| ns.contains(&key(*n))).collect();
    assert_eq!(kept, vec![0, 1, 2, 13, 14, 15, 16, 17, 18, 19]);

    let pruned = blockstore::prune(dir.path(), 0).unwrap();
    assert_eq!(pruned.removed, 10);
    assert_eq!(pruned.kept, 0);
    let ns_dir = entry_path(dir.path(), NS, &key(0))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let left: Vec<String> = std::fs::read_dir(&ns_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["params"], "empty shard dirs left");
    // The store still writes into the pruned namespace.
    ns.put(&key(5), &value(5, 10));
    assert_eq!(ns.get(&key(5)), Some(value(5, 10)));
}

#[test]
fn blockstore_usage_and_clear() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("blocks-v1");
    assert_eq!(
        blockstore::usage(&dir).unwrap(),
        blockstore::Usage::default()
    );
    assert_eq!(blockstore::clear(&dir).unwrap(), 0);
    assert_eq!(
        blockstore::prune(&dir, 0).unwrap(),
        blockstore::Pruned::default()
    );

    let store = BlockStore::open(&dir).unwrap();
    let ns = store.namespace(NS);
    let other = store.namespace(OTHER_NS);
    for n in 0..5 {
        ns.put(&key(n), &value(n, 100 * n as usize));
    }
    for n in 0..3 {
        other.put(&key(n), &value(n, 7));
    }
    let usage = blockstore::usage(&dir).unwrap();
    let ns_bytes = 5 * 112 + 100 * (1 + 2 + 3 + 4);
    let other_bytes = 3 * (112 + 7);
    let mut expected = vec![
        (NS.to_string(), 5, ns_bytes),
        (OTHER_NS.to_string(), 3, other_bytes),
    ];
    expected.sort();
    assert_eq!(
        usage,
        blockstore::Usage {
            entries: 8,
            bytes: ns_bytes + other_bytes,
            namespaces: expected
        }
    );

    let rec = BuildRecord {
        time: 1,
        image: "LiveOS/squashfs.img".into(),
        image_bytes: 10,
        from_cache: 1,
        compressed: 2,
        seconds_saved: 0.5,
    };
    blockstore::record_build(&dir, &rec).unwrap();
    assert_eq!(blockstore::clear(&dir).unwrap(), ns_bytes + other_bytes);
    assert_eq!(
        blockstore::usage(&dir).unwrap(),
        blockstore::Usage::default()
    );
    assert_eq!(blockstore::history(&dir).unwrap(), vec![rec]);
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, vec![".lock", "history"]);
    // Open namespaces keep working after a clear: the directories come back.
    assert_eq!(ns.get(&key(1)), None);
    ns.put(&key(1), &value(1, 100));
    assert_eq!(ns.get(&key(1)), Some(value(1, 100)));
    assert_eq!(blockstore::usage(&dir).unwrap().namespaces[0].0, NS);
    assert_eq!(store.counters().store_failures, 0);
}

#[test]
fn blockstore_history_round_trip_cap_and_damage() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(blockstore::history(dir.path()).unwrap(), vec![]);
    let rec = |i: u64| BuildRecord {
        time: 1_700_000_000 + i as i64,
        image: format!("out/image {i}\twith tab\nand newline \\ backslash.iso"),
        image_bytes: 1 << 30 | i,
        from_cache: 1000 * i,
        compressed: i,
        seconds_saved: i as f64 / 3.0,
    };
    for i in 0..60 {
        blockstore::record_build(dir.path(), &rec(i)).unwrap();
    }
    let expected: Vec<BuildRecord> = (10..60).map(rec).collect();
    assert_eq!(blockstore::history(dir.path()).unwrap(), expected);
    let text = std::fs::read_to_string(dir.path().join("history")).unwrap();
    assert_eq!(text.lines().filter(|l| !l.starts_with('#')).count(), 50);

    // Damaged lines (a torn one, a bad escape, a word for a number) are skipped.
    let first_line = text.lines().nth(1).unwrap().to_owned();
    let damaged = format!(
        "{text}{}\n1700000099\tx\\q\t1\t1\t1\t1\n1700000099\tx\tbig\t1\t1\t1\n",
        &first_line[..first_line.len() / 2]
    );
    std::fs::write(dir.path().join("history"), damaged).unwrap();
    assert_eq!(blockstore::history(dir.path()).unwrap(), expected);
    blockstore::record_build(dir.path(), &rec(60)).unwrap();
    let expected: Vec<BuildRecord> = (11..61).map(rec).collect();
    assert_eq!(blockstore::history(dir.path()).unwrap(), expected);
    assert!(temp_files(dir.path()).is_empty());
}

/// A put that cannot write (here the shard directory's name is taken by a file) is counted,
/// not returned, and costs only a miss.
#[test]
fn blockstore_failed_put_is_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlockStore::open(dir.path()).unwrap();
    let ns = store.namespace(NS);
    let path = entry_path(dir.path(), NS, &key(3));
    std::fs::write(path.parent().unwrap(), b"not a directory").unwrap();
    ns.put(&key(3), &value(3, 100));
    assert_eq!(ns.get(&key(3)), None);
    assert!(!ns.contains(&key(3)));
    let c = store.counters();
    assert_eq!(
        (c.store_failures, c.stored, c.misses, c.rejected),
        (1, 0, 1, 0)
    );
    // Other shards are unaffected.
    let other = (0..).map(key).find(|k| k[0] != key(3)[0]).unwrap();
    ns.put(&other, b"fine");
    assert_eq!(ns.get(&other).as_deref(), Some(&b"fine"[..]));
}
