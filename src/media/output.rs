//! The one shape every output of a build has: an [`Output`] takes what the build made (the
//! configured root, the live media tree with its boot files and root image) and writes its
//! files into the staging directory, returning them as [`Artifact`]s. The creator picks the
//! outputs the settings ask for and loops over them; a new output type is one more implementor.
//!
//! Implementors: [`RootImageFile`](super::live::RootImageFile) and
//! [`LiveIso`](super::live::LiveIso) (live.rs), [`PxeLive`](super::netboot::PxeLive) and
//! [`Netroot`](super::netboot::Netroot) (netboot.rs), [`Disk`](super::disk::Disk),
//! [`FsImage`](super::disk::FsImage) and [`Tar`](super::disk::Tar) (disk.rs).

use std::path::{Path, PathBuf};

use super::MediaError;
use crate::boot::{layout, BootAssets};
use crate::error::IoError;

/// What the build has made by the time the outputs are written.
#[derive(Debug, Clone, Copy)]
pub struct Built<'a> {
    /// The installed, configured root directory.
    pub root: &'a Path,
    /// The live media tree: the boot files and, when an output needs it, the root image
    /// (`LiveOS/squashfs.img`).
    pub media_dir: &'a Path,
    /// The boot files prepared in `media_dir`.
    pub boot: &'a BootAssets,
    /// Scratch space in the work directory.
    pub work: &'a Path,
}

impl Built<'_> {
    /// The kernel in the media tree.
    pub fn vmlinuz(&self) -> PathBuf {
        self.media_dir.join(layout::VMLINUZ)
    }

    /// The live initramfs in the media tree.
    pub fn initrd(&self) -> PathBuf {
        self.media_dir.join(layout::INITRD)
    }

    /// The root image in the media tree.
    pub fn root_image(&self) -> PathBuf {
        self.media_dir.join(layout::SQUASHFS)
    }
}

/// One kind of media a build can make.
pub trait Output {
    /// Whether it is made from the root image, which the build then writes before any output.
    fn needs_root_image(&self) -> bool;

    /// Write it into `staging` (a directory in the result directory, renamed into place when
    /// the whole build succeeded); returns what was made there.
    fn make(&self, built: &Built<'_>, staging: &Path) -> Result<Vec<Artifact>, MediaError>;
}

/// Something a build produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Artifact {
    /// Path.
    pub path: PathBuf,
    /// Size in bytes (of all files under it, for a directory).
    pub size: u64,
    /// Media type (`iso`, `squashfs`, `pxe-live`, ...).
    pub kind: String,
}

impl Artifact {
    /// The file `path`, of media type `kind`, with its size.
    pub fn file(path: PathBuf, kind: &str) -> Result<Artifact, MediaError> {
        let size = std::fs::metadata(&path)
            .map_err(IoError::at("read the size of", &path))?
            .len();
        Ok(Artifact {
            path,
            size,
            kind: kind.to_string(),
        })
    }

    /// The directory tree `dir`, of media type `kind`, with the bytes of its files.
    pub fn tree(dir: PathBuf, kind: &str) -> Artifact {
        Artifact {
            size: dir_size(&dir),
            path: dir,
            kind: kind.to_string(),
        }
    }
}

/// Bytes of the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flat_map(|rd| rd.flatten())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// Copy the regular files and directories of `src` into `dst`.
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<(), IoError> {
    std::fs::create_dir_all(dst).map_err(IoError::at("create", dst))?;
    for e in std::fs::read_dir(src)
        .map_err(IoError::at("read", src))?
        .flatten()
    {
        let (from, to) = (e.path(), dst.join(e.file_name()));
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            copy_tree(&from, &to)?;
        } else {
            std::fs::copy(&from, &to).map_err(IoError::at("copy to", &to))?;
        }
    }
    Ok(())
}
