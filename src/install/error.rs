//! Installer errors: one variant per failing operation; the package or path is always named.

/// A failure of the install stage.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// An I/O failure on a named path.
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
