//! EROFS writer: [`FsTree`] in, image bytes out, as the Linux kernel's erofs reads it.
//!
//! SCAFFOLD (step 13, being filled in by the writer work): the public API below is fixed so the
//! media, CLI, bench and fuzz work can build against it; `write_cancellable` is replaced by the
//! real writer before this lands.

pub mod compress;
pub mod error;

use std::io::{Seek, Write};

pub use compress::{Algorithm, Compression};
pub use error::ErofsError;

use crate::tree::FsTree;

/// How to write the image.
#[derive(Debug, Clone)]
pub struct Options {
    /// Compression of regular files' data; `None` stores everything uncompressed.
    pub compression: Option<Compression>,
    /// Physical cluster size in bytes (mkfs.erofs `-C`): the most compressed bytes one extent may
    /// take; a multiple of the block size. Larger than the block size turns on big pclusters.
    pub pcluster_size: u32,
    /// Filesystem creation time in the superblock (seconds).
    pub mkfs_time: u64,
    /// Clamp every inode's mtime to at most this (reproducible builds' `SOURCE_DATE_EPOCH`).
    pub clamp_mtime: Option<i64>,
    /// Store every entry as owned by root (uid 0, gid 0).
    pub all_root: bool,
    /// Store xattrs (`user.`, `trusted.`, `security.`, POSIX ACLs; others are dropped).
    pub xattrs: bool,
    /// Store identical regular files' data once.
    pub dedup: bool,
    /// Compression threads; 0 means one per core.
    pub threads: usize,
    /// Filesystem UUID; `None` derives it from the image content (reproducible).
    pub uuid: Option<[u8; 16]>,
    /// Volume name (at most 16 bytes).
    pub volume_name: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            compression: Some(Compression::default()),
            pcluster_size: 4096,
            mkfs_time: 0,
            clamp_mtime: None,
            all_root: false,
            xattrs: true,
            dedup: true,
            threads: 0,
            uuid: None,
            volume_name: String::new(),
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Image length in bytes (a multiple of the block size).
    pub bytes: u64,
    /// Number of inodes.
    pub inodes: u64,
    /// Regular files with data.
    pub files: usize,
    /// Files stored as duplicates of earlier ones.
    pub duplicates: usize,
    /// Physical clusters holding compressed data.
    pub compressed_pclusters: u64,
    /// Physical clusters stored uncompressed because compression did not save a block.
    pub plain_pclusters: u64,
    /// The UUID written into the superblock.
    pub uuid: [u8; 16],
}

/// Write `tree` as an EROFS image to `out` (starting at its current position 0).
pub fn write<W: Write + Seek>(
    tree: &FsTree,
    out: W,
    opts: &Options,
) -> Result<Summary, ErofsError> {
    write_cancellable(tree, out, opts, &|| false)
}

/// As [`write()`], asking `cancel` between pclusters on every compression thread and between
/// steps; once it returns true writing stops with [`ErofsError::Cancelled`] and `out` holds an
/// incomplete image the caller should remove.
pub fn write_cancellable<W: Write + Seek>(
    _tree: &FsTree,
    _out: W,
    _opts: &Options,
    _cancel: &(dyn Fn() -> bool + Sync),
) -> Result<Summary, ErofsError> {
    Err(ErofsError::BadOption(
        "SCAFFOLD: the EROFS writer is not in yet".into(),
    ))
}
