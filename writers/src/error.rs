//! The one shape of a failed file-system call in this crate: every writer's error enum (and
//! [`crate::tree::TreeError`]) carries it as `Io(#[from] IoError)`. It mirrors kiln's own
//! `IoError`, which this crate cannot depend on. Failures writing the image itself have no path
//! here (the writers get a `Write`), so those stay `Write(std::io::Error)` in each enum.

use std::path::{Path, PathBuf};

/// A failed call on a file the writers read: the file, what was done to it, and why.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action} `{}`", path.display())]
pub struct IoError {
    /// The file.
    pub path: PathBuf,
    /// The call, as a verb phrase (`read`, `stat`, `list directory`).
    pub action: &'static str,
    /// Why it failed.
    #[source]
    pub source: std::io::Error,
}

impl IoError {
    /// A `map_err` adapter for `action` on `path`:
    /// `File::open(p).map_err(IoError::at("read", p))?`.
    pub fn at<'a>(action: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> IoError + 'a {
        move |source| IoError {
            path: path.to_owned(),
            action,
            source,
        }
    }
}
