//! EROFS images from a directory or a tree (`kiln write erofs`, `kiln bench-compress`), through
//! the same staging file and interrupt plumbing as squashfs.

use std::path::Path;

pub use kiln_writers::erofs::{
    Compression as ErofsCompression, ErofsError, Options as ErofsOptions, Summary as ErofsSummary,
};

use super::{scan, squashfs_cancel, staged, FsTree, MediaError};

/// Write `tree` as an EROFS image into `file`, stopping at an interrupt.
pub fn write_erofs_tree(
    tree: &FsTree,
    file: std::fs::File,
    opts: &ErofsOptions,
) -> Result<ErofsSummary, ErofsError> {
    kiln_writers::erofs::write_cancellable(tree, file, opts, &squashfs_cancel)
}

/// Write the directory `dir` as an EROFS image at `out` (replaced only on success).
pub fn write_erofs_dir(
    dir: &Path,
    out: &Path,
    opts: &ErofsOptions,
) -> Result<ErofsSummary, MediaError> {
    let tree = scan(dir, opts.xattrs)?;
    tracing::debug!("writing {} entries into `{}`", tree.len(), out.display());
    staged(out, |file| {
        kiln_writers::erofs::write_cancellable(&tree, file, opts, &squashfs_cancel).map_err(
            |source| MediaError::Erofs {
                out: out.to_owned(),
                source,
            },
        )
    })
}

/// `-z` text: `none` stores data uncompressed, anything else is mkfs.erofs' `ALG[,LEVEL]`.
pub fn erofs_compression(text: &str) -> Result<Option<ErofsCompression>, ErofsError> {
    if text == "none" {
        return Ok(None);
    }
    ErofsCompression::parse(text).map(Some)
}
