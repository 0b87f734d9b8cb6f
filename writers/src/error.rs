//! The one shape of a failed file-system call in this crate: every writer's error enum (and
//! [`crate::tree::TreeError`]) carries it as `Io(#[from] IoError)`. It mirrors kiln's own
//! `IoError`, which this crate cannot depend on. Failures writing the image itself have no path
//! here (the writers get a `Write`), so those stay `Write(std::io::Error)` in each enum.

use std::path::{Path, PathBuf};

/// A file-system call that failed: what was being done, on which path, and the OS's reason.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action} `{}`", path.display())]
pub struct IoError {
    /// What was being done, as a verb phrase ("read", "list directory").
    pub action: &'static str,
    /// The path it was done to.
    pub path: PathBuf,
    /// The operating system's error.
    #[source]
    pub source: std::io::Error,
}

impl IoError {
    /// The error for `action` on `path`.
    pub fn new(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IoError {
            action,
            path: path.into(),
            source,
        }
    }

    /// A `map_err` adapter: `fs::read(&p).map_err(IoError::at("read", &p))?`.
    pub fn at<'a>(action: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> IoError + 'a {
        move |source| IoError::new(action, path, source)
    }
}
