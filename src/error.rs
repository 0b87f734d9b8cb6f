//! The one shape of a failed file-system call, shared by every error enum in kiln: each enum
//! carries it as `Io(#[from] IoError)` instead of its own `Io { action, path, source }` copy.

use std::path::{Path, PathBuf};

/// A file-system call that failed: what kiln was doing, on which path, and the OS's reason.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action} `{}`", path.display())]
pub struct IoError {
    /// What was being done, as a verb phrase ("read", "create directory").
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
    pub fn at<'a>(
        action: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(std::io::Error) -> IoError + 'a {
        move |source| IoError::new(action, path, source)
    }

    /// The OS error number, when there is one (ENOSPC, EACCES decide exit codes and hints).
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}
