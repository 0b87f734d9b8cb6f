//! Installer errors: one variant per failing operation; the package or path is always named.

use super::rpmdb::RpmDbError;
use super::scriptlet::ScriptError;
use super::unpack::UnpackError;
use crate::error::IoError;
use crate::rpmfile::RpmFileError;

/// A failure of the install stage.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A package file could not be read.
    #[error("failed to read package `{path}`")]
    Read {
        /// The file.
        path: String,
        #[source]
        source: RpmFileError,
    },
    /// A package's header or payload does not match its digests (checked before anything is
    /// written).
    #[error(transparent)]
    Digest(#[from] crate::rpmfile::digest::DigestError),
    /// Two packages ship different files at one path (checked before anything is written).
    #[error("file conflict")]
    Conflict(#[source] UnpackError),
    /// A package of the transaction is installed already (same NEVRA), as rpm refuses it.
    #[error("package {nevra} is already installed")]
    AlreadyInstalled {
        /// The package.
        nevra: String,
    },
    /// `--prefix`/`--relocate` cannot be applied to a package.
    #[error(transparent)]
    Relocate(#[from] super::relocate::RelocateError),
    /// Unpacking a package failed.
    #[error("failed to install {nevra}")]
    Unpack {
        /// The package.
        nevra: String,
        #[source]
        source: UnpackError,
    },
    /// The rpmdb could not be written.
    #[error("failed to write the rpm database")]
    RpmDb(#[from] RpmDbError),
    /// A `%pretrans`/`%pre` (or, strictly, any) scriptlet failed.
    #[error("{name} scriptlet failed, exit status {status}{}", if output.is_empty() { String::new() } else { format!("; its last output:\n{output}") })]
    Scriptlet {
        /// rpm's name for the scriptlet (`%pre(pkg-1.0-1.x86_64)`).
        name: String,
        /// Exit status.
        status: i32,
        /// The end of its output.
        output: String,
    },
    /// The scriptlet runner failed (not the script).
    #[error("failed to run a scriptlet")]
    Runner(#[from] ScriptError),
    /// Ctrl-C.
    #[error("interrupted")]
    Interrupted,
    /// A file-system call on the root failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The sidecar of what a user namespace refused could not be written.
    #[error(transparent)]
    Attrs(#[from] crate::attrs::AttrsError),
}

impl InstallError {
    /// Exit code: 1 for bad input (broken or conflicting packages, failing or hanging
    /// scriptlets), 2 for
    /// the environment, 130 for Ctrl-C.
    pub fn exit_code(&self) -> i32 {
        match self {
            InstallError::Read { .. }
            | InstallError::Digest(_)
            | InstallError::Conflict(_)
            | InstallError::AlreadyInstalled { .. }
            | InstallError::Relocate(_)
            | InstallError::Unpack { .. }
            | InstallError::Scriptlet { .. }
            | InstallError::Runner(ScriptError::Timeout { .. }) => 1,
            InstallError::Interrupted => 130,
            InstallError::RpmDb(_)
            | InstallError::Runner(_)
            | InstallError::Io(_)
            | InstallError::Attrs(_) => 2,
        }
    }
}
