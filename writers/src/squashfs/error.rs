//! Errors of the squashfs writer.

use crate::error::IoError;

/// Why writing a squashfs image failed.
#[derive(Debug, thiserror::Error)]
pub enum SquashfsError {
    /// A compressor or block-size option is invalid.
    #[error("invalid squashfs option: {0}")]
    BadOption(String),
    /// The compressor library reported an error.
    #[error("{codec} compression failed: {msg}")]
    Compress {
        /// Codec name.
        codec: &'static str,
        /// The library's message.
        msg: String,
    },
    /// Reading a source file failed (or it changed size while the image was written).
    #[error(transparent)]
    Io(#[from] IoError),
    /// Writing the image failed.
    #[error("cannot write the image")]
    Write(#[source] std::io::Error),
    /// The caller's cancel callback asked to stop; the image is incomplete.
    #[error("cancelled")]
    Cancelled,
    /// The tree exceeds a format limit (more than 65536 ids, 2^32 inodes, ...).
    #[error("the tree exceeds a squashfs limit: {0}")]
    Limit(String),
}
