//! Media assembly: the only module that uses kiln-writers (DESIGN.md §1.3 rule 3).
//!
//! For now a thin facade for `kiln write ...`: scan a directory into an `FsTree` and hand it to
//! a writer, writing to a staging file renamed into place only on success.

pub mod bench;
pub mod boot_test;
pub mod live;

use std::path::{Path, PathBuf};

pub use kiln_writers::fat::{FatOptions, FatReport};
pub use kiln_writers::iso9660::{BiosBoot, Hybrid, IsoOptions, IsoReport, MbrStyle};
pub use kiln_writers::squashfs::{Codec, Options as SquashfsOptions, Summary as SquashfsSummary};
use kiln_writers::tree::{FsTree, ScanOptions};

/// A failure while writing media.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Scanning the source directory failed.
    #[error("cannot scan `{}`", dir.display())]
    Scan {
        /// The source directory.
        dir: PathBuf,
        /// Cause.
        #[source]
        source: kiln_writers::tree::TreeError,
    },
    /// The squashfs writer failed.
    #[error("cannot write squashfs image `{}`", out.display())]
    Squashfs {
        /// The image being written.
        out: PathBuf,
        /// Cause.
        #[source]
        source: kiln_writers::squashfs::SquashfsError,
    },
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
        /// Cause.
        #[source]
        source: kiln_writers::iso9660::IsoError,
    },
    /// The FAT writer failed.
    #[error("cannot write FAT image `{}`", out.display())]
    Fat {
        /// The image being written.
        out: PathBuf,
        /// Cause.
        #[source]
        source: kiln_writers::fat::FatError,
    },
    /// Creating or renaming the output failed.
    #[error("cannot create `{}`", path.display())]
    Output {
        /// The path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
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
            } | MediaError::Fat {
                source: kiln_writers::fat::FatError::BadOption(_)
                    | kiln_writers::fat::FatError::TooLarge(_)
                    | kiln_writers::fat::FatError::BadName(_),
                ..
            }
        )
    }
}

/// Parse a codec name and its `key=value` options (mksquashfs names).
pub fn codec(name: &str, opts: &[String]) -> Result<Codec, String> {
    let mut c = Codec::by_name(name)
        .ok_or_else(|| format!("unknown compressor `{name}` (gzip, xz, zstd, lz4)"))?;
    for o in opts {
        c.set_option(o).map_err(|e| e.to_string())?;
    }
    Ok(c)
}

/// Parse a block size like `128K` or `1M`.
pub fn parse_size(s: &str) -> Result<u32, String> {
    kiln_writers::squashfs::compress::parse_size(s).map_err(|e| e.to_string())
}

/// Write the directory `dir` as a squashfs image at `out`.
pub fn write_squashfs_dir(
    dir: &Path,
    out: &Path,
    xattrs: bool,
    opts: &SquashfsOptions,
) -> Result<SquashfsSummary, MediaError> {
    let tree = scan(dir, xattrs)?;
    staged(out, |file| {
        kiln_writers::squashfs::write(&tree, file, opts).map_err(|source| MediaError::Squashfs {
            out: out.to_owned(),
            source,
        })
    })
}

pub(crate) fn scan(dir: &Path, xattrs: bool) -> Result<FsTree, MediaError> {
    FsTree::from_dir(dir, &ScanOptions { xattrs }).map_err(|source| MediaError::Scan {
        dir: dir.to_owned(),
        source,
    })
}

/// Write through `f` into `OUT.partial`, renamed to `out` only on success.
fn staged<T>(
    out: &Path,
    f: impl FnOnce(&mut std::fs::File) -> Result<T, MediaError>,
) -> Result<T, MediaError> {
    let mut staging = out.as_os_str().to_owned();
    staging.push(".partial");
    let staging = PathBuf::from(staging);
    let out_err = |path: &Path| {
        let path = path.to_owned();
        move |source| MediaError::Output { path, source }
    };
    let mut file = std::fs::File::create(&staging).map_err(out_err(&staging))?;
    match f(&mut file) {
        Ok(v) => {
            std::fs::rename(&staging, out).map_err(out_err(out))?;
            Ok(v)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&staging);
            Err(e)
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
