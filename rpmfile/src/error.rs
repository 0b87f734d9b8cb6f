//! The errors of reading an RPM file, with this crate's one shape of a failed file-system call.

use std::path::{Path, PathBuf};

/// A file-system call that failed: what was being done, on which path, and the OS's reason.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action} `{}`", path.display())]
pub struct IoError {
    /// What was being done, as a verb phrase ("open", "read").
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

    /// A `map_err` adapter: `File::open(&p).map_err(IoError::at("open", &p))?`.
    pub fn at<'a>(
        action: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(std::io::Error) -> IoError + 'a {
        move |source| IoError::new(action, path, source)
    }
}

/// What is wrong with a header structure (a tag of the wrong type, an index past the data, a
/// list shorter than the files): the reason inside a [`RpmFileError::Malformed`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HeaderError(pub String);

impl From<&str> for HeaderError {
    fn from(reason: &str) -> Self {
        HeaderError(reason.to_string())
    }
}

impl From<String> for HeaderError {
    fn from(reason: String) -> Self {
        HeaderError(reason)
    }
}

/// A failure to read an RPM file's headers or to open its payload. Every message names the file
/// or the package.
#[derive(Debug, thiserror::Error)]
pub enum RpmFileError {
    /// The file could not be opened or read.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The file ends inside its lead or headers.
    #[error("`{}` is truncated: its {what} ends early", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Which part ends early ("lead", "signature header", ...).
        what: &'static str,
    },
    /// Not an RPM file, or a corrupt header.
    #[error("`{}` is not a valid rpm: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: HeaderError,
    },
    /// A payload format or compressor this crate does not read.
    #[error("{pkg}: unsupported {what}")]
    Unsupported {
        /// The package's NEVRA.
        pkg: String,
        /// The format or compressor, named.
        what: String,
    },
    /// The rpm crate refused the package's headers.
    #[error(transparent)]
    RpmCrate(#[from] rpm::Error),
    /// The rpm crate panicked on the package's headers (caught).
    #[error("`{}` has a malformed header (the rpm crate cannot parse it)", path.display())]
    RpmCratePanic {
        /// The file.
        path: PathBuf,
    },
}
