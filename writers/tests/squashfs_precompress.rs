//! Blocks compressed ahead of the write change nothing in the image: the same bytes come out
//! with and without the cache, a file rewritten after it was precompressed gets its new
//! content, and the writer reports how many blocks it took from the cache. With the persistent
//! store, the precompressor fills it (beyond its own memory limit) and skips what it holds.

mod common;

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_writers::blockstore::BlockStore;
use kiln_writers::squashfs::{self, BlockCache, Codec, Precompressor};
use kiln_writers::tree::{FsTree, ScanOptions};

const BS: u32 = 65536;

/// Test bytes: `mask` 0x0f gives compressible data, 0xff data no codec can shrink.
fn bytes(seed: u64, n: usize, mask: u8) -> Vec<u8> {
    common::noise(seed, n)
        .into_iter()
        .map(|b| b & mask)
        .collect()
}

fn image(dir: &Path, cache: Option<Arc<BlockCache>>) -> (Vec<u8>, squashfs::Summary) {
    let tree = FsTree::from_dir(dir, &ScanOptions { xattrs: false }).unwrap();
    let opts = squashfs::Options {
        codec: Codec::default(),
        block_size: BS,
        block_cache: cache,
        ..squashfs::Options::default()
    };
    let mut out = Cursor::new(Vec::new());
    let sum = squashfs::write(&tree, &mut out, &opts).unwrap();
    (out.into_inner(), sum)
}

#[test]
fn cached_blocks_give_the_same_image() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("usr/lib")).unwrap();
    std::fs::write(d.join("usr/lib/a"), bytes(1, 5 * BS as usize + 123, 0x0f)).unwrap();
    std::fs::write(d.join("usr/lib/b"), bytes(2, 3 * BS as usize, 0x0f)).unwrap();
    std::fs::write(d.join("usr/lib/raw"), bytes(3, 2 * BS as usize, 0xff)).unwrap();
    std::fs::write(d.join("changed"), bytes(4, 2 * BS as usize, 0x0f)).unwrap();
    std::fs::write(d.join("small"), b"under a block").unwrap();

    let cache = Arc::new(BlockCache::new(Codec::default(), BS, 64 << 20));
    let pre = Precompressor::start(d, cache.clone(), 2).unwrap();
    let t = Instant::now();
    // 5 + 3 + 2 + 2 full blocks, all different.
    while cache.len() < 12 && t.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = pre.finish();
    assert_eq!(cache.len(), 12, "{stats:?}");
    assert_eq!(stats.blocks, 12);

    // Rewritten after it was read: its old blocks must not come back.
    std::fs::write(d.join("changed"), bytes(6, 2 * BS as usize, 0x0f)).unwrap();

    let (plain, s0) = image(d, None);
    let (cached, s1) = image(d, Some(cache.clone()));
    assert_eq!(s0.cached_blocks, 0);
    assert_eq!(s1.cached_blocks, 10, "a, b and raw come from the cache");
    assert!(plain == cached, "the cache changed the image");

    // A cache for other settings is not used.
    let other = Arc::new(BlockCache::new(
        Codec::by_name("zstd").unwrap(),
        BS,
        1 << 20,
    ));
    let (_, s2) = image(d, Some(other));
    assert_eq!(s2.cached_blocks, 0);
}

#[test]
fn precompressor_fills_the_store_and_skips_what_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a"), bytes(11, 4 * BS as usize + 5, 0x0f)).unwrap();
    std::fs::write(d.join("raw"), bytes(13, 2 * BS as usize, 0xff)).unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let store = BlockStore::open(store_dir.path()).unwrap();
    let precompress = |limit: usize| {
        let cache = Arc::new(BlockCache::new(Codec::default(), BS, limit).with_store(&store));
        let pre = Precompressor::start(d, cache.clone(), 2).unwrap();
        let t = Instant::now();
        // 4 + 2 full blocks; the store's entries count once they are in place.
        while store.counters().stored < 6 && t.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Let it walk again: nothing is compressed twice.
        std::thread::sleep(Duration::from_millis(700));
        (pre.finish(), cache)
    };
    // A cache too small for one block: everything goes to the store only.
    let (stats, cache) = precompress(1);
    assert_eq!(stats.blocks, 6, "{stats:?}");
    assert!(cache.len() <= 1, "bounded by its limit");
    assert_eq!(store.counters().stored, 6);

    // A second precompressor finds every block in the store: no compression.
    let (stats, cache) = precompress(64 << 20);
    assert_eq!(stats.blocks, 0, "{stats:?}");
    assert!(cache.is_empty());

    // The writer takes them from the store (not the cache) and the image is the cold one.
    let tree = FsTree::from_dir(d, &ScanOptions { xattrs: false }).unwrap();
    let write = |store: Option<BlockStore>| {
        let opts = squashfs::Options {
            codec: Codec::default(),
            block_size: BS,
            block_store: store,
            ..squashfs::Options::default()
        };
        let mut out = Cursor::new(Vec::new());
        let s = squashfs::write(&tree, &mut out, &opts).unwrap();
        (out.into_inner(), s)
    };
    let (cold, _) = write(None);
    let (warm, s) = write(Some(store.clone()));
    assert!(cold == warm, "the store changed the image");
    eprintln!("{s:?}");
    // The 6 full blocks; the fragment (the 5-byte tail) is compressed and stored.
    assert_eq!(s.blocks_from_cache, 6);
    assert_eq!(s.blocks_compressed, 1);
    assert_eq!(s.cached_blocks, 0, "none from the precompressor's memory");
}
