//! The errors of reading an RPM file (its one shape of a failed file-system call included).

use std::path::{Path, PathBuf};

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
    #[error("failed to {action} `{}`", path.display())]
    Io {
        /// What was being done ("open", "read").
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
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

impl RpmFileError {
    /// A `map_err` adapter for a failed `action` ("open", "read") on `path`.
    pub fn io<'a>(
        action: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(std::io::Error) -> RpmFileError + 'a {
        move |source| RpmFileError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
