//! Images written with the persistent block store are the images written without it: cold,
//! with an empty store, served from a filled one, from a damaged one (flipped bytes, truncated
//! and swapped entry files, an entry of another codec, values that verify but do not decode),
//! and by two writes sharing one store at once. unsquashfs and fsck.erofs read the images
//! back. Content-defined fragment blocks keep a rebuild after one changed small file hitting
//! the store for nearly all of them.

mod common;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use kiln_writers::blockstore::BlockStore;
use kiln_writers::erofs::{self, Compression};
use kiln_writers::squashfs::{self, Bcj, Codec};
use kiln_writers::tree::{FsTree, ScanOptions};

const EPOCH: i64 = 1_700_000_000;

/// Text-like bytes (words of a small vocabulary in a pseudo-random order): compressible but
/// different for every seed.
fn text(seed: u64, n: usize) -> Vec<u8> {
    const WORDS: [&[u8]; 12] = [
        b"kiln ",
        b"squashfs ",
        b"/usr/lib64/",
        b"block ",
        b"\n",
        b"erofs ",
        b"store ",
        b"0x7f ",
        b"fragment ",
        b"rebuild ",
        b"%post ",
        b"seconds ",
    ];
    let r = common::noise(seed.wrapping_mul(2654435761) | 2, n / 2 + 16);
    let mut v = Vec::with_capacity(n + 16);
    let mut i = 0;
    while v.len() < n {
        v.extend_from_slice(WORDS[r[i % r.len()] as usize % WORDS.len()]);
        if r[(i * 7 + 3) % r.len()] < 16 {
            v.push(r[(i * 13 + 1) % r.len()]);
        }
        i += 1;
    }
    v.truncate(n);
    v
}

/// Mixed sizes: small files (fragments), tails, whole blocks of text and of noise, identical
/// copies, sparse files (holes and a written all-zero block), empty files.
fn make_tree(dir: &Path, bs: usize) {
    for d in 0..8 {
        std::fs::create_dir_all(dir.join(format!("d{d}/sub"))).unwrap();
    }
    for i in 0..300u64 {
        let d = dir.join(format!("d{}", i % 8));
        let size = match i % 10 {
            0..=5 => 50 + (i as usize * 397) % 6000,
            6 => bs + (i as usize * 131) % bs,
            7 => 3 * bs + 17 * i as usize,
            8 => (i as usize * 911) % 700,
            _ => 2 * bs,
        };
        let data = if i % 10 == 9 {
            common::noise(i, size)
        } else {
            text(i, size)
        };
        std::fs::write(d.join(format!("f{i:03}")), &data).unwrap();
        if i % 25 == 0 {
            std::fs::write(d.join(format!("sub/copy{i:03}")), &data).unwrap();
        }
    }
    std::fs::write(dir.join("d0/empty"), b"").unwrap();
    // Holes around written data, a file that is one hole, and written zeros.
    let f = std::fs::File::create(dir.join("d1/sparse")).unwrap();
    f.set_len(5 * bs as u64 + 1000).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &text(999, bs), 2 * bs as u64).unwrap();
    std::fs::File::create(dir.join("d2/hole"))
        .unwrap()
        .set_len(3 * bs as u64)
        .unwrap();
    std::fs::write(dir.join("d3/zeros"), vec![0u8; 2 * bs + 5]).unwrap();
}

fn tree(dir: &Path) -> FsTree {
    FsTree::from_dir(dir, &ScanOptions { xattrs: false }).unwrap()
}

#[derive(Clone)]
enum Format {
    Squashfs(Codec, u32),
    Erofs(Compression, u32),
}

/// What a write took from the cache and compressed itself.
#[derive(Debug, Clone, Copy)]
struct Counts {
    from_cache: u64,
    compressed: u64,
    fragments_from_cache: u64,
    fragments: u64,
}

impl Format {
    fn name(&self) -> String {
        match self {
            Format::Squashfs(c, bs) => format!("squashfs {c:?} bs={bs}"),
            Format::Erofs(c, p) => format!("erofs {c:?} pcluster={p}"),
        }
    }

    fn params(&self) -> String {
        match self {
            Format::Squashfs(c, bs) => c.store_params(*bs),
            Format::Erofs(c, p) => c.store_params(*p),
        }
    }

    fn write(&self, t: &FsTree, store: Option<&BlockStore>) -> (Vec<u8>, Counts) {
        let mut out = Cursor::new(Vec::new());
        let counts = match self {
            Format::Squashfs(codec, bs) => {
                let opts = squashfs::Options {
                    codec: codec.clone(),
                    block_size: *bs,
                    mkfs_time: EPOCH as u32,
                    clamp_mtime: Some(EPOCH),
                    threads: 2,
                    block_store: store.cloned(),
                    ..squashfs::Options::default()
                };
                let s = squashfs::write(t, &mut out, &opts).unwrap();
                assert_eq!(s.cached_blocks, 0, "no precompressor here");
                Counts {
                    from_cache: s.blocks_from_cache,
                    compressed: s.blocks_compressed,
                    fragments_from_cache: s.fragments_from_cache,
                    fragments: u64::from(s.fragments),
                }
            }
            Format::Erofs(c, p) => {
                let opts = erofs::Options {
                    compression: Some(*c),
                    pcluster_size: *p,
                    mkfs_time: EPOCH as u64,
                    clamp_mtime: Some(EPOCH),
                    threads: 2,
                    block_store: store.cloned(),
                    ..erofs::Options::default()
                };
                let s = erofs::write(t, &mut out, &opts).unwrap();
                Counts {
                    from_cache: s.segments_from_cache,
                    compressed: s.segments_compressed,
                    fragments_from_cache: 0,
                    fragments: 0,
                }
            }
        };
        (out.into_inner(), counts)
    }
}

/// The directory of the namespace `params` in the store at `dir`.
fn namespace_dir(dir: &Path, params: &str) -> PathBuf {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if std::fs::read_to_string(p.join("params")).is_ok_and(|s| s.trim_end() == params) {
            return p;
        }
    }
    panic!("no namespace `{params}` in {}", dir.display());
}

/// Entry files of a namespace directory, sorted.
fn entries(ns: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for sub in std::fs::read_dir(ns).unwrap() {
        let sub = sub.unwrap().path();
        if !sub.is_dir() {
            continue;
        }
        for e in std::fs::read_dir(&sub).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            if name.len() == 62 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

/// The entry file for `key` in a namespace directory.
fn entry_path(ns: &Path, key: &[u8; 32]) -> PathBuf {
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    ns.join(&hex[..2]).join(&hex[2..])
}

/// Flip a byte in the first three entries (in the header, the value's start and its end),
/// truncate the next two, swap the files of the two after.
fn damage(files: &[PathBuf]) {
    assert!(files.len() >= 7, "{} entries", files.len());
    for (f, at) in files[..3].iter().zip([50usize, 112, usize::MAX]) {
        let mut b = std::fs::read(f).unwrap();
        let at = at.min(b.len() - 1);
        b[at] ^= 0x20;
        std::fs::write(f, b).unwrap();
    }
    for f in &files[3..5] {
        let b = std::fs::read(f).unwrap();
        std::fs::write(f, &b[..b.len() * 2 / 3]).unwrap();
    }
    let (a, b) = (
        std::fs::read(&files[5]).unwrap(),
        std::fs::read(&files[6]).unwrap(),
    );
    std::fs::write(&files[5], b).unwrap();
    std::fs::write(&files[6], a).unwrap();
}

/// Every regular file under `src` has the same bytes under `got`, and nothing else is there.
fn same_files(src: &Path, got: &Path) {
    let mut n = 0;
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(src.join(&rel)).unwrap() {
            let e = e.unwrap();
            let r = rel.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                stack.push(r);
            } else {
                let a = std::fs::read(src.join(&r)).unwrap();
                let b =
                    std::fs::read(got.join(&r)).unwrap_or_else(|e| panic!("{}: {e}", r.display()));
                assert!(a == b, "{} differs", r.display());
                n += 1;
            }
        }
    }
    let count = Command::new("find")
        .arg(got)
        .args(["-type", "f"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&count.stdout).lines().count(), n);
}

/// Read the image back with the reference tool and compare it with the source tree.
fn read_back(fmt: &Format, image: &[u8], src: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("image");
    std::fs::write(&img, image).unwrap();
    let out = tmp.path().join("out");
    let st = match fmt {
        Format::Squashfs(..) => {
            if !common::tool("unsquashfs") {
                return;
            }
            Command::new("unsquashfs")
                .args(["-no-xattrs", "-d"])
                .arg(&out)
                .arg(&img)
                .output()
                .unwrap()
        }
        Format::Erofs(..) => {
            if !common::tool("fsck.erofs") {
                return;
            }
            Command::new("fsck.erofs")
                .arg(format!("--extract={}", out.display()))
                .arg(&img)
                .output()
                .unwrap()
        }
    };
    assert!(
        st.status.success(),
        "{}: {}",
        fmt.name(),
        String::from_utf8_lossy(&st.stderr)
    );
    same_files(src, &out);
}

/// Cold, empty store, filled store, damaged store: the same bytes every time.
fn cycle(fmt: &Format, src: &Path, store_dir: &Path, check_tool: bool) -> Vec<u8> {
    let name = fmt.name();
    let t = tree(src);
    let (a, cold) = fmt.write(&t, None);
    assert_eq!(cold.from_cache, 0);
    if check_tool {
        read_back(fmt, &a, src);
    }
    let store = BlockStore::open(store_dir).unwrap();
    let (b, first) = fmt.write(&t, Some(&store));
    assert!(a == b, "{name}: an empty store changed the image");
    assert_eq!(first.from_cache, 0, "{name}");
    assert!(first.compressed > 0, "{name}");
    let (c, again) = fmt.write(&t, Some(&store));
    assert!(a == c, "{name}: the filled store changed the image");
    eprintln!("{name}: cold {cold:?}; first {first:?}; again {again:?}");
    assert_eq!(again.compressed, 0, "{name}: everything is in the store");
    assert_eq!(again.from_cache, first.compressed, "{name}");

    let ns = namespace_dir(store_dir, &fmt.params());
    damage(&entries(&ns));
    let before = store.counters().rejected;
    let (d, damaged) = fmt.write(&t, Some(&store));
    assert!(a == d, "{name}: a damaged store changed the image");
    let rejected = store.counters().rejected - before;
    eprintln!("{name}: after damage {damaged:?}, {rejected} entries rejected");
    assert!(rejected >= 6, "{name}: {rejected} rejected");
    assert!(damaged.compressed >= rejected, "{name}");
    a
}

/// A value that passes the store's checks but is nothing the writer stores: under `key`, in
/// place of whatever entry is there.
fn plant(store: &BlockStore, fmt: &Format, key: &[u8; 32], value: &[u8]) {
    let ns = store.namespace(&fmt.params());
    let _ = std::fs::remove_file(entry_path(&namespace_dir(store.dir(), &fmt.params()), key));
    ns.put(key, value);
    assert_eq!(ns.get(key).as_deref(), Some(value));
}

#[test]
fn squashfs_images_with_the_store_are_the_cold_images() {
    let bs = 65536u32;
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path(), bs as usize);
    let store_dir = tempfile::tempdir().unwrap();
    let xz = Format::Squashfs(Codec::default(), bs);
    let xz_bcj = Format::Squashfs(
        Codec::Xz {
            dict_size: None,
            filters: vec![Bcj::X86],
            preset: 6,
            extreme: false,
        },
        bs,
    );
    let zstd = Format::Squashfs(Codec::by_name("zstd").unwrap(), bs);
    let gzip = Format::Squashfs(Codec::by_name("gzip").unwrap(), bs);
    let a_xz = cycle(&xz, src.path(), store_dir.path(), true);
    cycle(&xz_bcj, src.path(), store_dir.path(), false);
    cycle(&gzip, src.path(), store_dir.path(), false);
    let a_zstd = cycle(&zstd, src.path(), store_dir.path(), true);
    assert!(a_xz != a_zstd);

    // An xz entry copied over the zstd entry for the same block (same key: the key is the
    // block's content), and values that verify but do not decode, under keys the write asks
    // for: the first full blocks of three files.
    let t = tree(src.path());
    let store = BlockStore::open(store_dir.path()).unwrap();
    let block = |name: &str| -> [u8; 32] {
        let b = std::fs::read(src.path().join(name)).unwrap();
        Sha256::digest(&b[..bs as usize]).into()
    };
    let (k_copy, k_a, k_b, k_c) = (
        block("d6/f006"),
        block("d7/f007"),
        block("d1/f009"),
        block("d0/f016"),
    );
    let xz_ns = namespace_dir(store_dir.path(), &xz.params());
    let zstd_ns = namespace_dir(store_dir.path(), &zstd.params());
    std::fs::copy(entry_path(&xz_ns, &k_copy), entry_path(&zstd_ns, &k_copy)).unwrap();
    // Compressed longer than the block, raw with bytes after its tag, an unknown tag.
    let mut long = vec![1u8];
    long.extend(std::iter::repeat_n(7u8, bs as usize + 1));
    plant(&store, &zstd, &k_a, &long);
    plant(&store, &zstd, &k_b, &[0, 1, 2, 3]);
    plant(&store, &zstd, &k_c, &[9, 9]);
    let before = store.counters().rejected;
    let (d, s) = zstd.write(&t, Some(&store));
    eprintln!("zstd after a foreign entry and bad values: {s:?}");
    assert!(d == a_zstd, "bad entries changed the image");
    assert_eq!(store.counters().rejected - before, 1, "the copied xz entry");
    assert_eq!(s.compressed, 4, "the copied entry and the three bad values");
    // The copied entry was removed and replaced; the bad values stay (the store keeps an
    // existing entry) and cost a compression every time, never a wrong block.
    let (e, s) = zstd.write(&t, Some(&store));
    assert!(e == a_zstd);
    assert_eq!(s.compressed, 3, "{s:?}");
}

#[test]
fn erofs_images_with_the_store_are_the_cold_images() {
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path(), 65536);
    let store_dir = tempfile::tempdir().unwrap();
    let lz4hc = Format::Erofs(Compression::parse("lz4hc,9").unwrap(), 16384);
    let lzma = Format::Erofs(Compression::parse("lzma,6").unwrap(), 65536);
    cycle(&lz4hc, src.path(), store_dir.path(), true);
    // Debian's fsck.erofs 1.5 has no lzma: erofs_kernel.rs reads lzma images with the kernel.
    let a = cycle(&lzma, src.path(), store_dir.path(), false);

    // Values that verify but do not decode, for segments the write compresses (whole small
    // files of more than a block: one segment each): an unknown tag, "saved nothing" with bytes after it, extents
    // that do not cover the input, a plain extent whose bytes are not the input.
    let store = BlockStore::open(store_dir.path()).unwrap();
    let seg = |name: &str| -> (Vec<u8>, [u8; 32]) {
        let b = std::fs::read(src.path().join(name)).unwrap();
        let k = Sha256::digest(&b).into();
        (b, k)
    };
    let (_, k1) = seg("d6/f006");
    let (_, k2) = seg("d0/f016");
    let (b3, k3) = seg("d2/f026");
    let (b4, k4) = seg("d4/f036");
    plant(&store, &lzma, &k1, &[5]);
    plant(&store, &lzma, &k2, &[0, 0]);
    // One plain extent of 4096 bytes for an input of another length.
    let mut short = vec![1u8, 1, 0, 0, 0];
    short.extend_from_slice(&4096u32.to_le_bytes());
    short.extend_from_slice(&1u32.to_le_bytes());
    short.push(1);
    short.extend_from_slice(&b3[..4096]);
    plant(&store, &lzma, &k3, &short);
    // Plain extents covering the input with the wrong bytes, one block fewer than its raw
    // form would take: claims a saving it does not hold.
    let n = b4.len().div_ceil(4096);
    assert!(n >= 2 && b4.len() > 4096);
    let mut wrong = vec![1u8];
    wrong.extend_from_slice(&(n as u32 - 1).to_le_bytes());
    for i in 0..n - 1 {
        let len = if i == n - 2 {
            b4.len() - 4096 * i
        } else {
            4096
        };
        wrong.extend_from_slice(&(len as u32).to_le_bytes());
        wrong.extend_from_slice(&1u32.to_le_bytes());
        wrong.push(1);
    }
    wrong.extend(std::iter::repeat_n(0x55u8, (n - 1) * 4096));
    plant(&store, &lzma, &k4, &wrong);
    let t = tree(src.path());
    let (d, s) = lzma.write(&t, Some(&store));
    eprintln!("lzma after bad values: {s:?}");
    assert!(d == a, "bad entries changed the image");
    assert_eq!(s.compressed, 4, "{s:?}");
}

#[test]
fn two_writes_sharing_a_store_at_once_give_the_cold_image() {
    let bs = 65536u32;
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path(), bs as usize);
    let store_dir = tempfile::tempdir().unwrap();
    let store = BlockStore::open(store_dir.path()).unwrap();
    for fmt in [
        Format::Squashfs(Codec::Zstd { level: 9 }, bs),
        Format::Erofs(Compression::parse("lz4hc").unwrap(), 4096),
    ] {
        let t = tree(src.path());
        let (a, _) = fmt.write(&t, None);
        // Twice: into an empty store (both putting), then a filled one (both reading).
        for round in 0..2 {
            let (x, y) = std::thread::scope(|s| {
                let h1 = s.spawn(|| fmt.write(&t, Some(&store)));
                let h2 =
                    s.spawn(|| fmt.write(&t, Some(&BlockStore::open(store_dir.path()).unwrap())));
                (h1.join().unwrap(), h2.join().unwrap())
            });
            eprintln!("{} round {round}: {:?} / {:?}", fmt.name(), x.1, y.1);
            assert!(x.0 == a && y.0 == a, "{}: round {round}", fmt.name());
            if round == 1 {
                assert_eq!(x.1.compressed + y.1.compressed, 0);
            }
        }
    }
}

/// Many small files (all in fragments): rewrite after changing one early file, with the store
/// the first write filled, and count the fragment blocks found there.
fn fragment_rebuild(change: impl Fn(&Path)) -> (Counts, Counts) {
    let bs = 65536u32;
    let src = tempfile::tempdir().unwrap();
    for i in 0..1500u64 {
        let d = src.path().join(format!("d{:02}", i / 100));
        std::fs::create_dir_all(&d).unwrap();
        let size = 100 + (i as usize * 7919) % 3900;
        std::fs::write(d.join(format!("f{i:04}")), text(i, size)).unwrap();
    }
    let fmt = Format::Squashfs(Codec::Zstd { level: 3 }, bs);
    let store_dir = tempfile::tempdir().unwrap();
    let store = BlockStore::open(store_dir.path()).unwrap();
    let (_, first) = fmt.write(&tree(src.path()), Some(&store));
    change(src.path());
    let t = tree(src.path());
    let (img, second) = fmt.write(&t, Some(&store));
    let (cold, _) = fmt.write(&t, None);
    assert!(
        img == cold,
        "the rebuild is the cold image of the changed tree"
    );
    read_back(&fmt, &img, src.path());
    (first, second)
}

#[test]
fn fragment_blocks_resynchronise_after_a_changed_small_file() {
    // The 6th file: same length, other bytes; then one 1000 bytes longer.
    for (what, grow) in [("same length", 0usize), ("longer", 1000)] {
        let (first, second) = fragment_rebuild(|d| {
            let p = d.join("d00/f0005");
            let mut b = std::fs::read(&p).unwrap();
            for x in b.iter_mut().take(40) {
                *x ^= 0x5a;
            }
            b.extend(text(77, grow));
            std::fs::write(&p, b).unwrap();
        });
        let (blocks, hits) = (second.fragments, second.fragments_from_cache);
        eprintln!(
            "{what}: {} fragment blocks before, {blocks} after, {hits} from the store ({:.1} %)",
            first.fragments,
            100.0 * hits as f64 / blocks as f64
        );
        // ~3.1 MB of tails in 64 KiB blocks closed from 7/8 full on: 48-56 blocks. Every
        // block misses that holds the changed file, or ends differently because of it: the
        // one before it (a cut before the file may come or go with its content), its own, and
        // the blocks until both writes close a block before the same tail: every block ends in
        // its last eighth (8 KiB, where a tail of 100-4000 bytes closes it with probability
        // length / 4 KiB), so that happens within a block or two.
        assert!(blocks >= 50, "{blocks}");
        assert!(hits + 5 >= blocks, "{hits} of {blocks}");
        assert_eq!(second.compressed, blocks - hits);
    }
}
