//! The persistent block store (`kiln_writers::blockstore`) as kiln's commands use it: opened in
//! the cache directory (`<cache>/blocks-v1`, beside `packages-v1`), handed to the squashfs and
//! EROFS writers and the precompressor through their options, and after a root image is
//! written, the image's figures recorded and the store pruned to its limit. Also what
//! `kiln cache stats|prune|clear` reads and does.
//!
//! The limit: `--block-cache-size`, else twice the largest image in the store's history (this
//! one's included), at least [`MIN_DEFAULT_LIMIT`]: one full image's blocks fit with room for
//! the next version of it.

use std::path::{Path, PathBuf};

pub use kiln_writers::blockstore::{
    BlockStore, BuildRecord, Pruned, StoreCounters, Usage, STORE_DIR,
};

use crate::error::IoError;

/// The smallest default limit (1 GiB): a small image's store still keeps a few rebuilds.
pub const MIN_DEFAULT_LIMIT: u64 = 1 << 30;

/// The store directory of the cache directory `cache`.
pub fn store_dir(cache: &Path) -> PathBuf {
    cache.join(STORE_DIR)
}

/// The store of `cache`, opened (and created); `None` when `limit` is `Some(0)` (turned off).
/// An error means the build goes on without it (the caller warns).
pub fn open(cache: &Path, limit: Option<u64>) -> Result<Option<BlockStore>, IoError> {
    if limit == Some(0) {
        return Ok(None);
    }
    let dir = store_dir(cache);
    BlockStore::open(&dir)
        .map(Some)
        .map_err(|e| IoError::new("open the block store", &dir, e))
}

/// The limit a build uses when none is given: twice the largest image the store's history
/// records (and `image_bytes`, this build's), at least [`MIN_DEFAULT_LIMIT`].
pub fn default_limit(dir: &Path, image_bytes: u64) -> u64 {
    let largest = history(dir)
        .iter()
        .map(|r| r.image_bytes)
        .fold(image_bytes, u64::max);
    largest.saturating_mul(2).max(MIN_DEFAULT_LIMIT)
}

/// The store's history, oldest first; unreadable reads as none (it only informs).
pub fn history(dir: &Path) -> Vec<BuildRecord> {
    kiln_writers::blockstore::history(dir).unwrap_or_else(|e| {
        tracing::debug!(
            "cannot read the block store history in `{}`: {e}",
            dir.display()
        );
        Vec::new()
    })
}

/// What the store holds.
pub fn usage(dir: &Path) -> Result<Usage, IoError> {
    kiln_writers::blockstore::usage(dir).map_err(|e| IoError::new("read the block store", dir, e))
}

/// Remove the least recently used entries until at most `limit` bytes remain.
pub fn prune(dir: &Path, limit: u64) -> Result<Pruned, IoError> {
    kiln_writers::blockstore::prune(dir, limit)
        .map_err(|e| IoError::new("prune the block store", dir, e))
}

/// Remove every entry; returns the bytes freed.
pub fn clear(dir: &Path) -> Result<u64, IoError> {
    kiln_writers::blockstore::clear(dir).map_err(|e| IoError::new("clear the block store", dir, e))
}

/// How one image write used the store and the precompressor: the build summary's line.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct CacheUse {
    /// Blocks (EROFS: segments) taken from the store or the precompressor.
    pub blocks_from_cache: u64,
    /// Blocks (segments) the write compressed itself.
    pub blocks_compressed: u64,
    /// `blocks_from_cache` of all blocks, in percent (0 without blocks).
    pub hit_rate: f64,
    /// Compression seconds saved (the cached blocks at the write's own rate).
    pub seconds_saved: f64,
    /// Store entries found damaged, truncated or misplaced during the write, and removed.
    pub rejected: u64,
    /// Entries the write added to the store.
    pub stored: u64,
}

impl CacheUse {
    /// The figures of a write, with the store's counters since it was opened.
    pub fn new(
        from_cache: u64,
        compressed: u64,
        seconds_saved: f64,
        store: &StoreCounters,
    ) -> Self {
        CacheUse {
            blocks_from_cache: from_cache,
            blocks_compressed: compressed,
            hit_rate: hit_rate(from_cache, compressed),
            seconds_saved,
            rejected: store.rejected,
            stored: store.stored,
        }
    }

    /// The summary line, e.g. `1234 blocks from the cache, 56 compressed (95.6 % hits), 71.2 s
    /// saved`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{} blocks from the cache, {} compressed ({:.1} % hits), {:.1} s saved",
            self.blocks_from_cache, self.blocks_compressed, self.hit_rate, self.seconds_saved
        );
        if self.rejected > 0 {
            line.push_str(&format!(
                ", {} damaged store entries dropped",
                self.rejected
            ));
        }
        line
    }
}

/// `from_cache` of all, in percent; 0 when there is nothing.
pub fn hit_rate(from_cache: u64, compressed: u64) -> f64 {
    let all = from_cache + compressed;
    if all == 0 {
        0.0
    } else {
        from_cache as f64 * 100.0 / all as f64
    }
}

/// After an image was written with `store`: its record in the history, then the store pruned
/// to `limit` (`None`: [`default_limit`]). Failures are logged, never fatal: the image is made.
pub fn finish_write(
    store: &BlockStore,
    limit: Option<u64>,
    image: &str,
    image_bytes: u64,
    used: &CacheUse,
) {
    let dir = store.dir();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let record = BuildRecord {
        time: now,
        image: image.to_string(),
        image_bytes,
        from_cache: used.blocks_from_cache,
        compressed: used.blocks_compressed,
        seconds_saved: used.seconds_saved,
    };
    if let Err(e) = kiln_writers::blockstore::record_build(dir, &record) {
        tracing::warn!("cannot record the build in `{}`: {e}", dir.display());
    }
    let limit = limit.unwrap_or_else(|| default_limit(dir, image_bytes));
    match prune(dir, limit) {
        Ok(p) => tracing::info!(
            "block store `{}`: {} entries ({} bytes) pruned, {} bytes kept (limit {limit})",
            dir.display(),
            p.removed,
            p.freed,
            p.kept
        ),
        Err(e) => tracing::warn!("{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_rate_and_line() {
        assert_eq!(hit_rate(0, 0), 0.0);
        let used = CacheUse::new(
            1234,
            56,
            71.24,
            &StoreCounters {
                rejected: 0,
                ..StoreCounters::default()
            },
        );
        assert_eq!(
            used.line(),
            "1234 blocks from the cache, 56 compressed (95.7 % hits), 71.2 s saved"
        );
    }

    #[test]
    fn turned_off_opens_nothing() {
        let d = tempfile::tempdir().unwrap();
        assert!(open(d.path(), Some(0)).unwrap().is_none());
        assert!(!d.path().join(STORE_DIR).exists());
        assert!(open(d.path(), None).unwrap().is_some());
        assert!(d.path().join(STORE_DIR).is_dir());
        assert_eq!(
            default_limit(&d.path().join(STORE_DIR), 5),
            MIN_DEFAULT_LIMIT
        );
        assert_eq!(default_limit(&d.path().join(STORE_DIR), 3 << 30), 6 << 30);
    }
}
