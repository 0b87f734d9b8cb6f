//! Getting bytes: `file://` paths, or HTTP(S) through ureq with the `*_proxy` environment or a
//! per-repo proxy, retries with exponential backoff, and verification before a file is renamed
//! into place (a failed or interrupted transfer never leaves a partial file behind).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::rpmfile::digest::FileDigest;

use super::RepoError;
use crate::error::IoError;
use crate::rpmfile::repodata::Checksum;

/// Set by the CLI's Ctrl-C handler; transfers stop at the next chunk. The process-wide flag
/// of [`crate::cancel`], under its old name.
pub use crate::cancel::INTERRUPTED;

/// HTTP/file fetcher shared by metadata and package downloads.
#[derive(Clone)]
pub struct Fetcher {
    agent: ureq::Agent,
    /// Attempts per URL.
    pub retries: u32,
    /// First backoff delay; doubles per retry.
    pub backoff: Duration,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("retries", &self.retries)
            .finish()
    }
}

/// Hex digest of a file.
pub fn file_digest(path: &Path, kind: &str) -> Result<String, RepoError> {
    let mut h = FileDigest::from_repodata_name(kind).ok_or_else(|| RepoError::ChecksumType {
        file: path.display().to_string(),
        kind: kind.to_string(),
    })?;
    let mut f = std::fs::File::open(path).map_err(IoError::at("open", path))?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(IoError::at("read", path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.hex())
}

/// Check a file against a checksum; the error names `label` (URL or path).
pub fn verify_file(path: &Path, want: &Checksum, label: &str) -> Result<(), RepoError> {
    let got = file_digest(path, &want.kind)?;
    if got != want.hex {
        return Err(RepoError::Checksum {
            file: label.to_string(),
            kind: want.kind.clone(),
            expected: want.hex.clone(),
            actual: got,
        });
    }
    Ok(())
}

/// `base` + `rel`, with exactly one slash between.
pub fn join_url(base: &str, rel: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        rel.trim_start_matches('/')
    )
}

/// The local path of a `file://` URL.
pub fn file_path(url: &str) -> Option<PathBuf> {
    url.strip_prefix("file://").map(PathBuf::from)
}

/// Transfer failures worth retrying vs. not.
#[derive(Debug, thiserror::Error)]
enum Attempt {
    #[error("{0}")]
    Retry(Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Fatal(RepoError),
}

impl Fetcher {
    /// A fetcher using `proxy` if given, else the `*_proxy` environment.
    pub fn new(proxy: Option<&str>) -> Result<Fetcher, RepoError> {
        let mut b = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(30))
            .timeout_read(Duration::from_secs(60))
            .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")));
        match proxy {
            Some(p) => {
                let p = ureq::Proxy::new(p).map_err(|e| RepoError::BadUrl {
                    url: format!("{p} ({e})"),
                    origin: None,
                })?;
                b = b.proxy(p);
            }
            None => b = b.try_proxy_from_env(true),
        }
        Ok(Fetcher {
            agent: b.build(),
            retries: 4,
            backoff: Duration::from_millis(300),
        })
    }

    /// The body of a small document (repomd.xml, mirror lists), with retries.
    pub fn get_text(&self, url: &str) -> Result<String, RepoError> {
        if let Some(p) = file_path(url) {
            return std::fs::read_to_string(&p)
                .map_err(|e| RepoError::from(IoError::new("read", &p, e)));
        }
        self.with_retries(url, || {
            let resp = self.agent.get(url).call().map_err(classify)?;
            let mut s = String::new();
            resp.into_reader()
                .take(64 << 20)
                .read_to_string(&mut s)
                .map_err(|e| Attempt::Retry(Box::new(e)))?;
            Ok(s)
        })
    }

    fn with_retries<T>(
        &self,
        url: &str,
        mut f: impl FnMut() -> Result<T, Attempt>,
    ) -> Result<T, RepoError> {
        let mut delay = self.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if INTERRUPTED.load(Ordering::Relaxed) {
                return Err(RepoError::Interrupted);
            }
            match f() {
                Ok(v) => return Ok(v),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry(e)) if attempt >= self.retries => {
                    return Err(RepoError::Fetch {
                        url: url.to_string(),
                        attempts: attempt,
                        source: e,
                    })
                }
                Err(Attempt::Retry(e)) => {
                    tracing::warn!("fetching {url} failed ({e}); retry {attempt} in {delay:?}");
                    std::thread::sleep(delay);
                    delay = delay.saturating_mul(2);
                }
            }
        }
    }

    /// Download `url` to `dest`, verified against `want` when given: the data goes to a temp file
    /// beside `dest` which is renamed only after the checksum matched. `progress` gets byte counts.
    pub fn fetch_to(
        &self,
        url: &str,
        dest: &Path,
        want: Option<&Checksum>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(), RepoError> {
        let dir = dest.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(IoError::at("create", dir))?;
        let tmp = dest.with_file_name(format!(
            ".{}.part{}",
            dest.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id()
        ));
        let guard = TempGuard(tmp.clone());
        if let Some(src) = file_path(url) {
            std::fs::copy(&src, &tmp).map_err(IoError::at("copy", &src))?;
        } else {
            self.with_retries(url, || {
                let resp = self.agent.get(url).call().map_err(classify)?;
                let mut out = std::fs::File::create(&tmp)
                    .map_err(|e| Attempt::Fatal(IoError::new("create", &tmp, e).into()))?;
                let mut rd = resp.into_reader();
                let mut buf = vec![0u8; 128 * 1024];
                loop {
                    if INTERRUPTED.load(Ordering::Relaxed) {
                        return Err(Attempt::Fatal(RepoError::Interrupted));
                    }
                    let n = rd.read(&mut buf).map_err(|e| Attempt::Retry(Box::new(e)))?;
                    if n == 0 {
                        break;
                    }
                    out.write_all(&buf[..n])
                        .map_err(|e| Attempt::Fatal(IoError::new("write", &tmp, e).into()))?;
                    progress(n as u64);
                }
                out.sync_all()
                    .map_err(|e| Attempt::Fatal(IoError::new("write", &tmp, e).into()))?;
                Ok(())
            })?;
        }
        if let Some(w) = want {
            verify_file(&tmp, w, url)?;
        }
        std::fs::rename(&tmp, dest).map_err(IoError::at("rename into", dest))?;
        guard.keep();
        Ok(())
    }
}

fn classify(e: ureq::Error) -> Attempt {
    match e {
        // 4xx other than timeouts/rate limits will not get better by retrying.
        ureq::Error::Status(code, r)
            if (400..500).contains(&code) && code != 408 && code != 429 =>
        {
            Attempt::Fatal(RepoError::Fetch {
                url: r.get_url().to_string(),
                attempts: 1,
                source: format!("HTTP {code}").into(),
            })
        }
        other => Attempt::Retry(Box::new(other)),
    }
}

/// Removes a temp file unless kept.
struct TempGuard(PathBuf);

impl TempGuard {
    fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Shared byte counter for progress.
pub type Counter = Arc<std::sync::atomic::AtomicU64>;
