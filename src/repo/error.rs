//! Errors of the repository stage.

use crate::kickstart::Origin;

/// A repository operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// A `--repo NAME,URL` argument without the comma.
    #[error("invalid `--repo` value `{0}` (expected NAME,URL or NAME,URL,gpgkey=KEY)")]
    BadRepoArg(String),
    /// No repository at all.
    #[error("no package repository: add a `repo` or `url` line to the kickstart, or pass `--repo NAME,URL`")]
    NoRepos,
    /// `$releasever` used but not given.
    #[error("`{url}` uses `$releasever`: pass `--releasever`")]
    NoReleasever {
        /// The URL.
        url: String,
        /// Where it was written.
        origin: Option<Origin>,
    },
    /// A repomd.xml record whose location leaves the repository.
    #[error("`{repomd}` points outside the repository: `{href}`")]
    OutsideRepo {
        /// The repomd.xml (path or URL).
        repomd: String,
        /// The offending location.
        href: String,
    },
    /// A signing key that cannot be read or used, or a key setting that cannot apply.
    #[error("gpg key `{key}`: {reason}")]
    GpgKey {
        /// The key location (or repository id).
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A package that fails signature verification.
    #[error("package {package} from repository `{repo}` fails signature verification: {failure} (file `{}`; trusted keys: {keys})", file.display())]
    Signature {
        /// NEVRA.
        package: String,
        /// Repository id.
        repo: String,
        /// The package file.
        file: std::path::PathBuf,
        /// Why.
        failure: super::gpg::Failure,
        /// The keys it was checked against.
        keys: String,
    },
    /// A repomd.xml record without a checksum (metadata is always verified).
    #[error("`{repomd}`: the `{kind}` record has no checksum, so it cannot be verified")]
    NoChecksum {
        /// The repomd.xml (path or URL).
        repomd: String,
        /// The record type (primary, filelists, group...).
        kind: String,
    },
    /// A mirror list or metalink whose every mirror uses a scheme kiln refuses to follow.
    #[error("mirror list `{list}` names no usable mirror: `{mirror}` is not an http:// or https:// URL (file:// only from a local list)")]
    BadMirror {
        /// The mirror list or metalink URL.
        list: String,
        /// The first refused entry.
        mirror: String,
    },
    /// A URL scheme kiln cannot fetch.
    #[error("unsupported URL `{url}` (use file://, http:// or https://)")]
    BadUrl {
        /// The URL.
        url: String,
        /// Where it was written.
        origin: Option<Origin>,
    },
    /// Fetching failed after all retries and mirrors.
    #[error("cannot fetch `{url}` after {attempts} attempt(s)")]
    Fetch {
        /// The last URL tried.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// Last cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file's checksum does not match what its index says.
    #[error("checksum mismatch for `{file}`: expected {kind} {expected}, got {actual}")]
    Checksum {
        /// The file (URL or path).
        file: String,
        /// Algorithm.
        kind: String,
        /// Expected hex digest.
        expected: String,
        /// Actual hex digest.
        actual: String,
    },
    /// A checksum type kiln does not implement.
    #[error("unsupported checksum type `{kind}` for `{file}`")]
    ChecksumType {
        /// The file.
        file: String,
        /// The type.
        kind: String,
    },
    /// Metadata that does not parse.
    #[error("invalid {what} in `{file}`: {message}")]
    Parse {
        /// repomd.xml, comps, metalink, ...
        what: &'static str,
        /// The file.
        file: String,
        /// Parser message.
        message: String,
    },
    /// repomd.xml has no primary record.
    #[error("`{file}` lists no primary metadata")]
    NoPrimary {
        /// The repomd file.
        file: String,
    },
    /// `--cacheonly` and the cache lacks something.
    #[error("`{what}` is not in the cache `{cache}` (run once without --cacheonly)")]
    NotCached {
        /// What was needed.
        what: String,
        /// The cache dir.
        cache: String,
    },
    /// The metalink lists no hash matching repomd.xml.
    #[error("repomd.xml from `{url}` does not match any hash in the metalink `{metalink}`")]
    Metalink {
        /// The repomd URL.
        url: String,
        /// The metalink.
        metalink: String,
    },
    /// A mirror list or metalink with no usable URL.
    #[error("no usable mirror in `{0}`")]
    NoMirrors(String),
    /// A file-system call on the cache or a local repository failed.
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    /// Ctrl-C.
    #[error("interrupted")]
    Interrupted,
}
