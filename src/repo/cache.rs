//! The on-disk cache (`--cache DIR`), versioned per bucket so a format change never reads old data:
//!
//! ```text
//! DIR/repodata-v1/<name>-<hash(source)>/repomd.xml    last fetched repomd
//!                                      /<basename>    metadata files, verified against repomd
//!                                      /.lock         held while fetching this repo's metadata
//! DIR/solv-v1/<repomd sha256>[-fl].solv               libsolv cache of primary (+ filelists)
//! DIR/packages-v1/<name>-<hash(base url)>/<file>.rpm  packages, verified against primary
//! DIR/verified-v1                                     checksums already verified (repo::verified)
//! ```
//! Every file is written under a temporary name and renamed into place after verification.

use std::path::{Path, PathBuf};

use sha2::Digest;

use super::RepoError;
use crate::error::IoError;

/// The cache root.
#[derive(Debug, Clone)]
pub struct Cache {
    /// Root directory.
    pub root: PathBuf,
    /// Never touch the network (`--cacheonly`).
    pub cache_only: bool,
}

fn short_hash(s: &str) -> String {
    let d = sha2::Sha256::digest(s.as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Cache {
    /// A cache rooted at `root`.
    pub fn new(root: impl Into<PathBuf>, cache_only: bool) -> Cache {
        Cache {
            root: root.into(),
            cache_only,
        }
    }

    /// Directory for one repo's metadata.
    pub fn repodata_dir(&self, name: &str, source_key: &str) -> PathBuf {
        self.root
            .join("repodata-v1")
            .join(format!("{}-{}", safe(name), short_hash(source_key)))
    }

    /// The `.solv` file for a repomd checksum.
    pub fn solv_path(&self, repomd_sha256: &str, with_filelists: bool) -> PathBuf {
        let suffix = if with_filelists { "-fl" } else { "" };
        self.root
            .join("solv-v1")
            .join(format!("{repomd_sha256}{suffix}.solv"))
    }

    /// Directory for one repo's packages.
    pub fn packages_dir(&self, name: &str, base: &str) -> PathBuf {
        self.root
            .join("packages-v1")
            .join(format!("{}-{}", safe(name), short_hash(base)))
    }
}

/// An exclusive lock on a directory, released on drop (so two builds can share a cache).
#[derive(Debug)]
pub struct DirLock {
    _file: std::fs::File,
}

impl DirLock {
    /// Block until `dir/.lock` is ours.
    pub fn acquire(dir: &Path) -> Result<DirLock, RepoError> {
        std::fs::create_dir_all(dir).map_err(IoError::at("create", dir))?;
        let p = dir.join(".lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(IoError::at("open", &p))?;
        fs4::fs_std::FileExt::lock_exclusive(&f).map_err(IoError::at("lock", &p))?;
        Ok(DirLock { _file: f })
    }
}
