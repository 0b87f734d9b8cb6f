//! Package signatures: which repositories must be signed by which OpenPGP keys, and the check
//! of each downloaded package before its payload is used (header signature against the trusted
//! keys, header digest, and the payload's digest from the signed header, as `rpm -K` does).
//!
//! The digests are computed by [`crate::rpmfile::digest`], through the same records the install
//! uses, so a package is hashed once per run (and not at all when an earlier run verified the
//! unchanged file); the signature itself covers only the main header.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rpm::signature::pgp::Verifier;

use super::{Fetcher, LocalPackage, PackageLocation, RepoError};
use crate::rpmfile::digest::{self, DigestFailure, DigestRecords};

/// What the user asked for: `--gpgcheck`, `--nogpgcheck`, `--gpgkey` and the `gpgkey=` of
/// `--repo NAME,URL,gpgkey=KEY`.
#[derive(Debug, Clone, Default)]
pub struct GpgOptions {
    /// Every repository must verify (`--gpgcheck`); one without a key is an error.
    pub gpgcheck: bool,
    /// Nothing is verified (`--nogpgcheck`, livecd-creator's flag); wins over the rest.
    pub nogpgcheck: bool,
    /// Keys trusted for every repository (`--gpgkey`, repeatable); giving one turns checking on.
    pub keys: Vec<String>,
    /// Keys trusted for one repository (repo id, key locations); checking is on for it.
    pub repo_keys: Vec<(String, Vec<String>)>,
}

/// The loaded policy: for each repository that is checked, the keys its packages must carry.
#[derive(Debug, Default)]
pub struct SignaturePolicy {
    keyrings: HashMap<String, Keyring>,
}

#[derive(Debug, Clone)]
struct Keyring {
    verifier: Verifier,
    /// Where the keys came from, for messages.
    sources: Vec<String>,
}

/// Why one package failed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No OpenPGP signature in the signature header.
    NotSigned,
    /// Signed, but by none of the trusted keys (rpm's NOKEY).
    UnknownKey(String),
    /// A signature by a trusted key (its id) that does not verify (rpm's BAD).
    BadSignature(String),
    /// The header's digest in the signature header does not match.
    HeaderDigest(String),
    /// The payload does not match the digest in the signed header.
    PayloadDigest {
        /// From the header.
        expected: String,
        /// Of the file.
        actual: String,
    },
    /// The signed header names no payload digest, so the payload is not covered.
    NoPayloadDigest,
    /// Another digest fails (MD5, an invalid or missing digest).
    Digest(DigestFailure),
    /// The file cannot be read as a package.
    Unreadable(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NotSigned => write!(f, "it is not signed"),
            Failure::UnknownKey(k) => {
                write!(f, "it is signed with key {k}, which is not a trusted key (NOKEY)")
            }
            Failure::BadSignature(k) => write!(
                f,
                "its header signature by key {k} is BAD (the header or the signature was altered)"
            ),
            Failure::HeaderDigest(m) => write!(f, "its header digest does not match: {m}"),
            Failure::PayloadDigest { expected, actual } => write!(
                f,
                "its payload does not match the signed header (sha256 {actual}, header says {expected})"
            ),
            Failure::NoPayloadDigest => {
                write!(f, "its signed header has no payload digest, so the payload is unverifiable")
            }
            Failure::Digest(d) => write!(f, "{d}"),
            Failure::Unreadable(m) => write!(f, "it cannot be read: {m}"),
        }
    }
}

impl SignaturePolicy {
    /// Load the keys `opts` names for the repositories `repos` (their ids). Keys are file paths
    /// or file://, http:// or https:// URLs of ASCII-armored public keys (RPM-GPG-KEY-* files).
    pub fn load(
        opts: &GpgOptions,
        repos: &[String],
        fetcher: &Fetcher,
    ) -> Result<SignaturePolicy, RepoError> {
        let mut policy = SignaturePolicy::default();
        if opts.nogpgcheck {
            return Ok(policy);
        }
        for (id, _) in &opts.repo_keys {
            if !repos.contains(id) {
                return Err(RepoError::GpgKey {
                    key: id.clone(),
                    reason: format!(
                        "`gpgkey=` is given for repository `{id}`, which the build does not use"
                    ),
                });
            }
        }
        let mut cache: HashMap<String, String> = HashMap::new();
        let mut text_of = |key: &str| -> Result<String, RepoError> {
            if let Some(t) = cache.get(key) {
                return Ok(t.clone());
            }
            let t = read_key(key, fetcher)?;
            cache.insert(key.to_string(), t.clone());
            Ok(t)
        };
        for id in repos {
            let mut sources: Vec<String> = opts.keys.clone();
            for (rid, keys) in &opts.repo_keys {
                if rid == id {
                    sources.extend(keys.iter().cloned());
                }
            }
            if sources.is_empty() {
                if opts.gpgcheck {
                    return Err(RepoError::GpgKey {
                        key: id.clone(),
                        reason: format!(
                            "--gpgcheck is on but repository `{id}` has no key: pass --gpgkey \
                             or --repo {id},URL,gpgkey=KEY (or --nogpgcheck)"
                        ),
                    });
                }
                continue;
            }
            let mut verifier = Verifier::new();
            for s in &sources {
                let text = text_of(s)?;
                verifier
                    .load_from_asc(&text)
                    .map_err(|e| RepoError::GpgKey {
                        key: s.clone(),
                        reason: format!("not a usable OpenPGP public key: {e}"),
                    })?;
            }
            policy
                .keyrings
                .insert(id.clone(), Keyring { verifier, sources });
        }
        Ok(policy)
    }

    /// Whether any repository is checked.
    pub fn is_active(&self) -> bool {
        !self.keyrings.is_empty()
    }

    /// Verify every package whose repository is checked, in parallel; the first failure in
    /// transaction order is the error (all failures are logged).
    pub fn verify(
        &self,
        plan: &[PackageLocation],
        local: &[LocalPackage],
        records: Option<&dyn DigestRecords>,
    ) -> Result<usize, RepoError> {
        use rayon::prelude::*;
        let todo: Vec<(&PackageLocation, &LocalPackage, &Keyring)> = plan
            .iter()
            .zip(local)
            .filter_map(|(p, l)| self.keyrings.get(&p.repo).map(|k| (p, l, k)))
            .collect();
        let failures: Vec<(usize, Failure)> = todo
            .par_iter()
            .enumerate()
            .filter_map(|(i, (_, l, k))| {
                verify_package(&l.path, &k.verifier, records)
                    .err()
                    .map(|f| (i, f))
            })
            .collect();
        if let Some(r) = records {
            r.save();
        }
        // The first is the error; the others are listed so one run shows them all.
        let mut sorted: Vec<&(usize, Failure)> = failures.iter().collect();
        sorted.sort_by_key(|(i, _)| *i);
        for (i, f) in sorted.iter().skip(1) {
            tracing::error!("{}: {f}", todo[*i].0.nevra);
        }
        match failures.into_iter().min_by_key(|(i, _)| *i) {
            None => Ok(todo.len()),
            Some((i, failure)) => {
                let (p, l, k) = todo[i];
                Err(RepoError::Signature {
                    package: p.nevra.clone(),
                    repo: p.repo.clone(),
                    file: l.path.clone(),
                    failure,
                    keys: k.sources.join(", "),
                })
            }
        }
    }
}

/// Load the policy for the repositories `repos` and verify the downloaded packages (`plan` and
/// `local` in the same order); returns how many were verified (0 when nothing is checked).
/// `records` spares packages whose digests are known good (and learns the new ones, for the
/// install's own digest check).
pub fn check_packages(
    opts: &GpgOptions,
    repos: &[super::RepoSpec],
    plan: &[PackageLocation],
    local: &[LocalPackage],
    fetcher: &Fetcher,
    records: Option<&dyn DigestRecords>,
) -> Result<usize, RepoError> {
    let ids: Vec<String> = repos.iter().map(|r| r.name.clone()).collect();
    let policy = SignaturePolicy::load(opts, &ids, fetcher)?;
    if !policy.is_active() {
        return Ok(0);
    }
    let n = policy.verify(plan, local, records)?;
    tracing::info!("signatures: {n} package(s) verified");
    Ok(n)
}

fn read_key(key: &str, fetcher: &Fetcher) -> Result<String, RepoError> {
    let bad = |reason: String| RepoError::GpgKey {
        key: key.to_string(),
        reason,
    };
    if key.starts_with("http://") || key.starts_with("https://") {
        return fetcher.get_text(key);
    }
    let path: PathBuf = match key.strip_prefix("file://") {
        Some(p) => PathBuf::from(p),
        None if key.contains("://") => {
            return Err(bad(
                "unsupported URL scheme (use a path, file://, http:// or https://)".into(),
            ))
        }
        None => PathBuf::from(key),
    };
    std::fs::read_to_string(&path).map_err(|e| bad(format!("cannot read it: {e}")))
}

/// Check one package file against `verifier`: its digests (header and payload, through
/// `records` when given), then a header signature by a trusted key that verifies and a payload
/// digest in the signed header.
pub fn verify_package(
    path: &Path,
    verifier: &Verifier,
    records: Option<&dyn DigestRecords>,
) -> Result<(), Failure> {
    let digests = match records {
        Some(r) => r.verify_digests(path, &digest::verify_file).map(|_| ()),
        None => digest::verify_file(path),
    };
    digests.map_err(|d| match d {
        DigestFailure::Mismatch {
            digest,
            expected,
            actual,
        } if digest.starts_with("payload") => Failure::PayloadDigest { expected, actual },
        DigestFailure::Mismatch { digest, .. } if digest.starts_with("header") => {
            Failure::HeaderDigest(d.to_string())
        }
        DigestFailure::Unreadable(m) => Failure::Unreadable(m),
        d => Failure::Digest(d),
    })?;
    let meta = crate::rpmfile::header::rpm_crate_metadata(path)
        .map_err(|e| Failure::Unreadable(e.to_string()))?;
    let report = meta
        .check_signatures(verifier)
        .map_err(|e| Failure::Unreadable(e.to_string()))?;
    if let Err(e) = report.digests.result() {
        return Err(Failure::HeaderDigest(e.to_string()));
    }
    if report.signatures.is_empty() {
        return Err(Failure::NotSigned);
    }
    if !report.signatures.iter().any(|s| s.is_verified()) {
        let s = &report.signatures[0];
        let key = s
            .info
            .key_id()
            .or(s.info.fingerprint())
            .unwrap_or("(no issuer)")
            .to_string();
        return Err(match &s.error {
            Some(rpm::Error::KeyNotFoundError { .. }) | None => Failure::UnknownKey(key),
            Some(e) => {
                // The OpenPGP library's wording ("assertion failed...") helps nobody: log it.
                tracing::debug!("{}: signature by {key}: {e}", path.display());
                Failure::BadSignature(key)
            }
        });
    }
    // The signature covers the main header; the payload matched the header's digest above,
    // so the payload is covered only if the header has one (not an MD5 alone).
    let has_payload_digest = [
        rpm::IndexTag::RPMTAG_PAYLOADSHA256,
        rpm::IndexTag::RPMTAG_PAYLOADSHA256ALT,
    ]
    .into_iter()
    .any(|t| meta.header.entry_is_present(t));
    if !has_payload_digest {
        return Err(Failure::NoPayloadDigest);
    }
    Ok(())
}
