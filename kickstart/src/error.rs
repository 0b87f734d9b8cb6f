//! Kickstart errors and warnings. Every one carries the [`Origin`] of the line it is about and,
//! for included files, the chain of `%include` lines that led there.

use super::Origin;

/// What went wrong, coarse enough for callers to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// A file (top level or included) could not be read.
    Io,
    /// A line could not be split (unbalanced quotes).
    Syntax,
    /// A command name pykickstart does not know.
    UnknownCommand,
    /// A `%section` pykickstart does not know.
    UnknownSection,
    /// A section without `%end`.
    MissingEnd,
    /// Bad options or values of a command or section header.
    BadOption,
    /// A command that the syntax version removed.
    RemovedCommand,
    /// Two commands that cannot be used together.
    Conflict,
    /// `%include` cycle.
    IncludeCycle,
    /// A warning that was promoted to an error (ksvalidator semantics).
    Warning,
}

/// A kickstart error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct KsError {
    /// Kind.
    pub kind: ErrorKind,
    /// The message, lowercase-first as pykickstart words it.
    pub message: String,
    /// Where: the file and line the error is about.
    pub origin: Option<Origin>,
    /// The offending word on that line, if known (for the caret).
    pub token: Option<String>,
    /// A hint for the user.
    pub hint: Option<String>,
    /// `%include` lines from the top-level file down to `origin`'s file.
    pub include_chain: Vec<Origin>,
}

impl KsError {
    /// A new error without location.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> KsError {
        KsError {
            kind,
            message: message.into(),
            origin: None,
            token: None,
            hint: None,
            include_chain: Vec::new(),
        }
    }
    /// Attach the origin (only if none is set yet).
    pub fn at(mut self, origin: &Origin) -> KsError {
        if self.origin.is_none() {
            self.origin = Some(origin.clone());
        }
        self
    }
    /// Attach the offending token.
    pub fn token(mut self, t: impl Into<String>) -> KsError {
        self.token = Some(t.into());
        self
    }
    /// Attach a hint.
    pub fn hint(mut self, h: impl Into<String>) -> KsError {
        self.hint = Some(h.into());
        self
    }
    /// A bad-option error (the commonest kind from command parsers).
    pub fn bad(message: impl Into<String>) -> KsError {
        KsError::new(ErrorKind::BadOption, message)
    }
}

impl From<super::options::OptError> for KsError {
    fn from(e: super::options::OptError) -> KsError {
        let mut k = KsError::bad(e.message);
        k.token = e.token;
        k
    }
}

/// Why a kickstart file (top level, `%include` or `%ksappend`) could not be read: the crate's
/// one I/O error. The wording is pykickstart's, which the conformance tests compare.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A local file could not be read.
    #[error("Error opening file: {}: '{name}'", io_reason(source))]
    Open {
        /// The file as the kickstart or the user named it.
        name: String,
        #[source]
        source: std::io::Error,
    },
    /// A `file://` URL could not be read.
    #[error("Error opening file: {source}: '{path}'")]
    FileUrl {
        /// The path after `file://`.
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// An http(s)/ftp URL could not be fetched.
    #[error("Error accessing URL {url}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// What the HTTP client reported.
        reason: String,
    },
    /// An http(s)/ftp URL answered but its body could not be read.
    #[error("Error reading URL {url}: {source}")]
    UrlBody {
        /// The URL.
        url: String,
        #[source]
        source: std::io::Error,
    },
    /// A URL include in a build without the `url-includes` feature (the fuzz target's).
    #[error(
        "Error accessing URL {url}: URL includes need kiln-kickstart's `url-includes` feature"
    )]
    UrlUnsupported {
        /// The URL.
        url: String,
    },
}

impl LoadError {
    /// The same error naming the local file `name` (as written) instead of the path tried.
    pub fn named(self, name: &str) -> LoadError {
        match self {
            LoadError::Open { source, .. } => LoadError::Open {
                name: name.to_string(),
                source,
            },
            other => other,
        }
    }
}

/// pykickstart's wording of the commonest I/O failures (Python's `strerror`, without Rust's
/// "(os error N)").
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => e.to_string(),
    }
}

/// How serious a warning is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// pykickstart's `KickstartParseWarning` (ksvalidator fails on it).
    Parse,
    /// pykickstart's `KickstartDeprecationWarning` (ksvalidator fails on it too).
    Deprecation,
    /// kiln's own lint finding (no effect on live media, risky %post, ...).
    Kiln,
}

/// A warning found while parsing or linting.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KsWarning {
    /// Kind.
    pub kind: WarningKind,
    /// Message.
    pub message: String,
    /// Where.
    pub origin: Option<Origin>,
}
