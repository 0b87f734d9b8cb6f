//! kiln's top-level error: one variant per stage, each with its module's error as source.

/// A failure of some stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kickstart could not be read.
    #[error("kickstart error")]
    Kickstart(#[from] crate::kickstart::KsError),
    /// An I/O failure outside any stage's own errors.
    #[error("failed to {action} `{path}`")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Exit code: 1 for bad input, 2 for environment/internal failures.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Kickstart(e)
                if e.kind == crate::kickstart::ErrorKind::Io && e.origin.is_none() =>
            {
                1
            }
            Error::Kickstart(_) => 1,
            Error::Io { .. } => 2,
        }
    }
}
