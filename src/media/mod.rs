//! Media: everything a build or `kiln write` puts on disk as an image, and the only module that
//! uses kiln-writers (DESIGN.md §1.3 rule 3).
//!
//! Each output of `kiln build` (the live ISO and its root image, PXE and netroot trees, GPT disk,
//! file-system image, tar) implements [`Output`] ([`output`]), in [`live`], [`netboot`] and
//! [`disk`]. This file holds what they share with `kiln write`: scanning a directory into an
//! `FsTree`, writing it as squashfs, ISO or FAT through a staging file renamed into place only
//! on success, and the interrupt plumbing: every writer stops when [`crate::cancel`]'s flag is
//! set, squashfs through its cancel callback, ISO and FAT through an output that refuses
//! further writes ([`CancelWriter`]).

pub mod block_store;
pub mod disk;
pub mod erofs;
mod ext4_attrs;
pub mod live;
pub mod netboot;
pub mod output;
mod tar_attrs;

use std::path::{Path, PathBuf};

pub use kiln_writers::fat::{FatOptions, FatReport};
pub use kiln_writers::iso9660::{BiosBoot, Hybrid, IsoOptions, IsoReport, MbrStyle};
pub use kiln_writers::squashfs::{
    BlockCache, Codec, Options as SquashfsOptions, Precompressor, Summary as SquashfsSummary,
};
use kiln_writers::tree::ScanOptions;

pub use erofs::{
    erofs_compression, write_erofs_dir, write_erofs_tree, ErofsError, ErofsOptions, ErofsSummary,
};
pub use output::{Artifact, Built, Output};

// The live root image's EROFS settings, as the CLI parses them.
pub use crate::boot::RootfsType;
pub use kiln_writers::erofs::{Algorithm as ErofsAlgorithm, Compression as ErofsCompression};

// What the compressor benchmark ([`crate::bench`]) builds trees with, writes and reads back.
pub use kiln_writers::iso9660::read as iso_read;
pub use kiln_writers::squashfs::SquashfsError;
pub use kiln_writers::tree::{DataSource, FsTree, Kind, Meta, TreeError};

use crate::attrs::AttrStore;
use crate::error::IoError;

/// A failure while writing media.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Scanning the source directory failed.
    #[error("cannot scan `{}`", dir.display())]
    Scan {
        /// The source directory.
        dir: PathBuf,
        #[source]
        source: kiln_writers::tree::TreeError,
    },
    /// The squashfs writer failed.
    #[error("cannot write squashfs image `{}`", out.display())]
    Squashfs {
        /// The image being written.
        out: PathBuf,
        #[source]
        source: kiln_writers::squashfs::SquashfsError,
    },
    /// The EROFS writer failed.
    #[error("cannot write EROFS image `{}`", out.display())]
    Erofs {
        /// The image being written.
        out: PathBuf,
        #[source]
        source: kiln_writers::erofs::ErofsError,
    },
    /// The target's kernel cannot read the EROFS root image asked for.
    #[error("{0}")]
    ErofsKernel(String),
    /// An external tool (mkfs.ext4) failed.
    #[error("`{cmd}` failed: {output}")]
    Tool {
        /// The command.
        cmd: String,
        /// Its error output.
        output: String,
    },
    /// The ISO writer failed.
    #[error("cannot write ISO image `{}`", out.display())]
    Iso {
        /// The image being written.
        out: PathBuf,
        #[source]
        source: kiln_writers::iso9660::IsoError,
    },
    /// The FAT writer failed.
    #[error("cannot write FAT image `{}`", out.display())]
    Fat {
        /// The image being written.
        out: PathBuf,
        #[source]
        source: kiln_writers::fat::FatError,
    },
    /// The input is not live media kiln can take apart.
    #[error("{0}")]
    NotLive(String),
    /// Stopped by an interrupt (Ctrl-C, SIGTERM); the partial output was removed.
    #[error("interrupted")]
    Interrupted,
    /// A file-system call failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The root's sidecar (what a rootless build could not put on disk) is unreadable or does
    /// not fit the root.
    #[error(transparent)]
    Attrs(#[from] crate::attrs::AttrsError),
}

/// A `--compress`/`--comp` codec that cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// A name that is no codec kiln writes.
    #[error("unknown compressor `{0}` (gzip, xz, zstd, lz4)")]
    Unknown(String),
    /// An option the codec refuses.
    #[error(transparent)]
    Option(#[from] kiln_writers::squashfs::SquashfsError),
}

impl MediaError {
    /// Bad options are the user's input (exit 1); everything else is the environment (exit 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            MediaError::Squashfs {
                source: kiln_writers::squashfs::SquashfsError::BadOption(_),
                ..
            } | MediaError::Iso {
                source: kiln_writers::iso9660::IsoError::BadOption(_),
                ..
            } | MediaError::Erofs {
                source: kiln_writers::erofs::ErofsError::BadOption(_),
                ..
            } | MediaError::ErofsKernel(_)
                | MediaError::Fat {
                    source: kiln_writers::fat::FatError::BadOption(_)
                        | kiln_writers::fat::FatError::TooLarge(_)
                        | kiln_writers::fat::FatError::BadName(_),
                    ..
                }
        )
    }
}

/// An output that fails every write once [`crate::cancel`]'s flag is set, so that writers without
/// a cancel callback (ISO, FAT) stop at their next write.
pub struct CancelWriter<W>(pub W);

impl<W> CancelWriter<W> {
    fn check() -> std::io::Result<()> {
        if crate::cancel::interrupted() {
            // Not `ErrorKind::Interrupted`: `write_all` retries that kind forever.
            return Err(std::io::Error::other("interrupted"));
        }
        Ok(())
    }
}

impl<W: std::io::Write> std::io::Write for CancelWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Self::check()?;
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<W: std::io::Seek> std::io::Seek for CancelWriter<W> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        Self::check()?;
        self.0.seek(pos)
    }
}

/// The squashfs writer's cancel callback: kiln's interrupt flag.
pub(crate) fn squashfs_cancel() -> bool {
    crate::cancel::interrupted()
}

/// `e`, or [`MediaError::Interrupted`] when it happened because of an interrupt.
pub(crate) fn or_interrupted(e: MediaError) -> MediaError {
    if crate::cancel::interrupted() {
        MediaError::Interrupted
    } else {
        e
    }
}

/// Parse a codec name and its `key=value` options (mksquashfs names).
pub fn codec(name: &str, opts: &[String]) -> Result<Codec, CodecError> {
    let mut codec = Codec::by_name(name).ok_or_else(|| CodecError::Unknown(name.to_string()))?;
    for opt in opts {
        codec.set_option(opt)?;
    }
    Ok(codec)
}

/// Parse a block size like `128K` or `1M`.
pub fn parse_size(text: &str) -> Result<u32, kiln_writers::squashfs::SquashfsError> {
    kiln_writers::squashfs::compress::parse_size(text)
}

/// Write `tree` as a squashfs image into `file`, stopping at an interrupt.
pub fn write_squashfs_tree(
    tree: &FsTree,
    file: std::fs::File,
    opts: &SquashfsOptions,
) -> Result<SquashfsSummary, SquashfsError> {
    kiln_writers::squashfs::write_cancellable(tree, file, opts, &squashfs_cancel)
}

/// Write the directory `dir` as a squashfs image at `out`.
pub fn write_squashfs_dir(
    dir: &Path,
    out: &Path,
    xattrs: bool,
    opts: &SquashfsOptions,
) -> Result<SquashfsSummary, MediaError> {
    let tree = scan(dir, xattrs)?;
    tracing::debug!(
        "compressing {} entries into `{}`",
        tree.len(),
        out.display()
    );
    staged(out, |file| {
        kiln_writers::squashfs::write_cancellable(&tree, file, opts, &squashfs_cancel).map_err(
            |source| MediaError::Squashfs {
                out: out.to_owned(),
                source,
            },
        )
    })
}

/// Scan `dir` into a tree with the attributes of its sidecar laid over it, when it is a root a
/// rootless build left ([`crate::attrs`]; a directory without a sidecar is taken as it is).
/// Without `xattrs` the sidecar's xattrs are left out as the scan leaves the disk's.
pub(crate) fn scan(dir: &Path, xattrs: bool) -> Result<FsTree, MediaError> {
    let mut tree =
        FsTree::from_dir(dir, &ScanOptions { xattrs }).map_err(|source| MediaError::Scan {
            dir: dir.to_owned(),
            source,
        })?;
    let store = AttrStore::load(dir)?;
    if !store.is_empty() {
        let store = if xattrs {
            store
        } else {
            store.without_xattrs()
        };
        tracing::debug!(
            "`{}`: attributes of {} paths from its sidecar",
            dir.display(),
            store.len()
        );
        store.apply(&mut tree, dir)?;
    }
    if crate::cancel::interrupted() {
        return Err(MediaError::Interrupted);
    }
    Ok(tree)
}

/// Write through `f` into `OUT.partial`, renamed to `out` only on success (removed on failure
/// or interrupt).
pub(crate) fn staged<T>(
    out: &Path,
    f: impl FnOnce(&mut CancelWriter<std::fs::File>) -> Result<T, MediaError>,
) -> Result<T, MediaError> {
    let mut staging = out.as_os_str().to_owned();
    staging.push(".partial");
    let staging = PathBuf::from(staging);
    let file = std::fs::File::create(&staging).map_err(IoError::at("create", &staging))?;
    let mut file = CancelWriter(file);
    match f(&mut file) {
        // The last check: an interrupt after the last write still leaves no output.
        Ok(_) if crate::cancel::interrupted() => {
            let _ = std::fs::remove_file(&staging);
            Err(MediaError::Interrupted)
        }
        Ok(v) => {
            std::fs::rename(&staging, out).map_err(IoError::at("rename into", out))?;
            Ok(v)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&staging);
            Err(or_interrupted(e))
        }
    }
}

/// Write the directory `dir` as an ISO image at `out`; `progress(done, total)` sees file bytes.
pub fn write_iso_dir(
    dir: &Path,
    out: &Path,
    opts: &IsoOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<IsoReport, MediaError> {
    let tree = scan(dir, false)?;
    staged(out, |file| {
        kiln_writers::iso9660::write_iso_with_progress(&tree, opts, file, progress).map_err(
            |source| MediaError::Iso {
                out: out.to_owned(),
                source,
            },
        )
    })
}

/// Write the directory `dir` as a FAT (EFI boot) image at `out`.
pub fn write_efiboot_dir(
    dir: &Path,
    out: &Path,
    opts: &FatOptions,
) -> Result<FatReport, MediaError> {
    let tree = scan(dir, false)?;
    staged(out, |file| {
        kiln_writers::fat::write_efiboot(&tree, opts, file).map_err(|source| MediaError::Fat {
            out: out.to_owned(),
            source,
        })
    })
}
