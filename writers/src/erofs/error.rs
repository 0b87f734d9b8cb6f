//! Errors of the EROFS writer.

use crate::error::IoError;

/// Why writing an EROFS image failed.
#[derive(Debug, thiserror::Error)]
pub enum ErofsError {
    /// An algorithm, level or cluster-size option is invalid.
    #[error("invalid erofs option: {0}")]
    BadOption(String),
    /// The compressor library reported an error.
    #[error("{algorithm} compression failed: {msg}")]
    Compress {
        /// Algorithm name.
        algorithm: &'static str,
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
    /// The tree exceeds a format limit.
    #[error("the tree exceeds an erofs limit: {0}")]
    Limit(String),
}
