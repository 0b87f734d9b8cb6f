//! Header and payload digests of package files, checked before any payload of a transaction is
//! used, as rpm 4.18 does on every install (`%_pkgverify_level digest`): signatures are a
//! separate, optional check (`--nogpgcheck` skips those, never these); `--nodigest` skips these.
//!
//! rpm's rules (lib/rpmvs.c), which this module follows:
//! - every digest the package carries must match: the signature header's SHA256HEADER and
//!   SHA1HEADER over the main header, its MD5 over the main header and the payload (the one
//!   digest of old v3 packages), and the main header's PAYLOADDIGEST over the payload as stored
//!   (compressed). rpm 4.18 computes it as SHA-256 whatever PAYLOADDIGESTALGO says, and
//!   compares PAYLOADDIGESTALT (meant for the uncompressed payload) with the same hash: one of
//!   the two matching is enough, as for rpm, whose alternative digest excuses the other;
//! - the header and the payload must each be covered by at least one digest; a package with
//!   none for either is refused ("no digest").
//!
//! Each package is read once, front to back, every present digest computed in the same pass;
//! packages are checked in parallel. A [`DigestRecords`] (the download cache's record of
//! verified files) spares a file that was verified before and has not changed since.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::tags::{
    SIGTAG_MD5, SIGTAG_SHA1, SIGTAG_SHA256, TAG_PAYLOADDIGEST, TAG_PAYLOADDIGESTALT, TYPE_BIN,
    TYPE_STRING, TYPE_STRING_ARRAY,
};
use md5::Md5;
use rayon::prelude::*;
use sha1::Sha1;
use sha2::{Digest, Sha256};

const LEAD_SIZE: usize = 96;
const HEADER_MAGIC: [u8; 3] = [0x8e, 0xad, 0xe8];
/// rpm's limits on a header's index entries and data (hdrchkTags, hdrchkData).
const MAX_INDEX_ENTRIES: u32 = 0x10000;
const MAX_HEADER_DATA: u32 = 256 * 1024 * 1024;

/// Why a package file did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestFailure {
    /// A digest the package carries does not match (rpm's BAD).
    #[error(
        "its {digest} digest does not match (the package says {expected}, the file has {actual})"
    )]
    Mismatch {
        /// Which one, in rpm's words (`header SHA256`, `payload SHA256`, `MD5`).
        digest: &'static str,
        /// The value in the package.
        expected: String,
        /// The value computed from the file.
        actual: String,
    },
    /// No digest covers this part of the package (rpm: "does not verify: no digest").
    #[error("no digest covers its {0} (rpm refuses it: \"no digest\")")]
    Missing(&'static str),
    /// A digest tag that is not a digest (wrong type, not hex).
    #[error("its {digest} digest is invalid: {reason}")]
    Invalid {
        /// Which one.
        digest: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Not a readable package (truncated, not an rpm).
    #[error("it cannot be read as a package: {0}")]
    Unreadable(String),
}

/// A package file that failed its digest check.
#[derive(Debug, thiserror::Error)]
#[error("package `{}` does not verify", path.display())]
pub struct DigestError {
    /// The file.
    pub path: PathBuf,
    /// What did not match.
    #[source]
    pub failure: DigestFailure,
}

/// Remembers package files whose digests verified, by file identity, so that an unchanged file
/// is hashed once (within a run, and across runs where the records are kept).
pub trait DigestRecords: std::fmt::Debug + Send + Sync {
    /// Runs `check` on `path` unless the file is unchanged since its digests verified, and
    /// remembers a success. Returns whether `check` ran.
    fn verify_digests(
        &self,
        path: &Path,
        check: &dyn Fn(&Path) -> Result<(), DigestFailure>,
    ) -> Result<bool, DigestFailure>;

    /// Keeps what was learnt (best effort).
    fn save(&self);
}

/// Checks every package in `paths`, in parallel; the first failure in transaction order is the
/// error (the others are logged, so one run shows them all). Returns how many were hashed.
pub fn verify_all(
    paths: &[PathBuf],
    records: Option<&dyn DigestRecords>,
) -> Result<usize, DigestError> {
    let results: Vec<Result<bool, DigestFailure>> = paths
        .par_iter()
        .map(|p| match records {
            Some(r) => r.verify_digests(p, &verify_file),
            None => verify_file(p).map(|()| true),
        })
        .collect();
    if let Some(r) = records {
        r.save();
    }
    let mut hashed = 0;
    let mut first: Option<DigestError> = None;
    for (path, result) in paths.iter().zip(results) {
        match result {
            Ok(h) => hashed += usize::from(h),
            Err(failure) if first.is_none() => {
                first = Some(DigestError {
                    path: path.clone(),
                    failure,
                })
            }
            Err(failure) => {
                tracing::error!("package `{}` does not verify: {failure}", path.display())
            }
        }
    }
    match first {
        Some(e) => Err(e),
        None => {
            tracing::debug!(
                "digests: {} package(s) verified, {hashed} hashed",
                paths.len()
            );
            Ok(hashed)
        }
    }
}

/// One index entry of a header.
#[derive(Debug, Clone, Copy)]
struct Entry {
    tag: u32,
    kind: u32,
    offset: usize,
    count: usize,
}

/// A header read from the file: its bytes (intro, index and data, as rpm hashes them) and
/// where its index and data are.
struct RawHeader {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    data_start: usize,
}

impl RawHeader {
    fn read(f: &mut impl Read, what: &str) -> Result<RawHeader, DigestFailure> {
        let mut intro = [0u8; 16];
        read_exact(f, &mut intro, what)?;
        if intro[..3] != HEADER_MAGIC {
            return Err(DigestFailure::Unreadable(format!("no {what} (bad magic)")));
        }
        let il = u32::from_be_bytes(intro[8..12].try_into().unwrap_or_default());
        let dl = u32::from_be_bytes(intro[12..16].try_into().unwrap_or_default());
        if il == 0 || il > MAX_INDEX_ENTRIES || dl > MAX_HEADER_DATA {
            return Err(DigestFailure::Unreadable(format!(
                "{what} has an impossible size ({il} entries, {dl} bytes)"
            )));
        }
        let data_start = 16 + il as usize * 16;
        let mut bytes = vec![0u8; data_start + dl as usize];
        bytes[..16].copy_from_slice(&intro);
        read_exact(f, &mut bytes[16..], what)?;
        let entries = bytes[16..data_start]
            .chunks_exact(16)
            .map(|e| {
                let n = |i: usize| u32::from_be_bytes(e[i..i + 4].try_into().unwrap_or_default());
                Entry {
                    tag: n(0),
                    kind: n(4),
                    offset: n(8) as usize,
                    count: n(12) as usize,
                }
            })
            .collect();
        Ok(RawHeader {
            bytes,
            entries,
            data_start,
        })
    }

    fn data(&self) -> &[u8] {
        &self.bytes[self.data_start..]
    }

    fn find(&self, tag: u32) -> Option<Entry> {
        self.entries.iter().copied().find(|e| e.tag == tag)
    }

    /// The strings of a STRING or STRING_ARRAY entry.
    fn strings(&self, e: Entry, digest: &'static str) -> Result<Vec<String>, DigestFailure> {
        let invalid = |reason: &str| DigestFailure::Invalid {
            digest,
            reason: reason.to_string(),
        };
        let count = match e.kind {
            TYPE_STRING => 1,
            TYPE_STRING_ARRAY => e.count,
            k => {
                return Err(invalid(&format!(
                    "tag {} has type {k}, not a string",
                    e.tag
                )))
            }
        };
        let mut rest = self
            .data()
            .get(e.offset..)
            .ok_or_else(|| invalid("outside the header"))?;
        let mut out = Vec::with_capacity(count.min(16));
        for _ in 0..count {
            let end = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| invalid("unterminated string"))?;
            out.push(String::from_utf8_lossy(&rest[..end]).into_owned());
            rest = &rest[end + 1..];
        }
        Ok(out)
    }

    fn bin(&self, e: Entry, digest: &'static str) -> Result<&[u8], DigestFailure> {
        let invalid = |reason: String| DigestFailure::Invalid { digest, reason };
        if e.kind != TYPE_BIN {
            return Err(invalid(format!(
                "tag {} has type {}, not binary",
                e.tag, e.kind
            )));
        }
        self.data()
            .get(e.offset..e.offset.saturating_add(e.count))
            .ok_or_else(|| invalid("outside the header".into()))
    }
}

fn read_exact(f: &mut impl Read, buf: &mut [u8], what: &str) -> Result<(), DigestFailure> {
    f.read_exact(buf).map_err(|e| {
        DigestFailure::Unreadable(if e.kind() == std::io::ErrorKind::UnexpectedEof {
            format!("the file ends inside its {what}")
        } else {
            format!("reading its {what}: {e}")
        })
    })
}

/// A hex digest as rpm accepts one: even length, at least SHA-1's, hex digits only.
fn valid_hex(s: &str, digest: &'static str) -> Result<String, DigestFailure> {
    if s.len() % 2 == 0 && s.len() >= 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(DigestFailure::Invalid {
            digest,
            reason: format!("`{s}` is not a hex digest"),
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn mismatch(digest: &'static str, expected: &str, actual: String) -> DigestFailure {
    DigestFailure::Mismatch {
        digest,
        expected: expected.to_string(),
        actual,
    }
}

/// Checks the digests of one package file (see the module docs for the rules).
pub fn verify_file(path: &Path) -> Result<(), DigestFailure> {
    let f = File::open(path).map_err(|e| DigestFailure::Unreadable(e.to_string()))?;
    let mut f = std::io::BufReader::with_capacity(256 * 1024, f);
    let mut lead = [0u8; LEAD_SIZE];
    read_exact(&mut f, &mut lead, "lead")?;
    if lead[..4] != [0xed, 0xab, 0xee, 0xdb] {
        return Err(DigestFailure::Unreadable(
            "not an rpm file (bad lead)".into(),
        ));
    }
    let sig = RawHeader::read(&mut f, "signature header")?;
    // The signature header is padded to a multiple of 8 bytes.
    let pad = (8 - sig.bytes.len() % 8) % 8;
    read_exact(&mut f, &mut [0u8; 8][..pad], "signature header")?;

    let sha256_header = match sig.find(SIGTAG_SHA256) {
        Some(e) => Some(valid_hex(
            &first(sig.strings(e, "header SHA256")?),
            "header SHA256",
        )?),
        None => None,
    };
    let sha1_header = match sig.find(SIGTAG_SHA1) {
        Some(e) => Some(valid_hex(
            &first(sig.strings(e, "header SHA1")?),
            "header SHA1",
        )?),
        None => None,
    };
    let md5 = match sig.find(SIGTAG_MD5) {
        Some(e) => {
            let b = sig.bin(e, "MD5")?;
            if b.len() != 16 {
                return Err(DigestFailure::Invalid {
                    digest: "MD5",
                    reason: format!("{} bytes, not 16", b.len()),
                });
            }
            Some(hex(b))
        }
        None => None,
    };

    let main = RawHeader::read(&mut f, "header")?;
    let mut payload_digests = Vec::new();
    for (tag, name) in [
        (TAG_PAYLOADDIGEST, "payload SHA256"),
        (TAG_PAYLOADDIGESTALT, "payload SHA256 ALT"),
    ] {
        if let Some(e) = main.find(tag) {
            for s in main.strings(e, name)? {
                payload_digests.push((name, valid_hex(&s, name)?));
            }
        }
    }
    if sha256_header.is_none() && sha1_header.is_none() && md5.is_none() {
        return Err(DigestFailure::Missing("header"));
    }
    if payload_digests.is_empty() && md5.is_none() {
        return Err(DigestFailure::Missing("payload"));
    }

    // The header: checked before the payload is read, so a bad header costs no hashing.
    if let Some(want) = &sha256_header {
        let got = hex(&Sha256::digest(&main.bytes));
        if &got != want {
            return Err(mismatch("header SHA256", want, got));
        }
    }
    if let Some(want) = &sha1_header {
        let got = hex(&Sha1::digest(&main.bytes));
        if &got != want {
            return Err(mismatch("header SHA1", want, got));
        }
    }

    // The payload, in one pass for every digest that covers it.
    let mut md5_ctx = md5.as_ref().map(|_| {
        let mut c = Md5::new();
        c.update(&main.bytes);
        c
    });
    let mut sha256_ctx = (!payload_digests.is_empty()).then(Sha256::new);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(DigestFailure::Unreadable(format!(
                    "reading its payload: {e}"
                )))
            }
        };
        if let Some(c) = &mut sha256_ctx {
            c.update(&buf[..n]);
        }
        if let Some(c) = &mut md5_ctx {
            c.update(&buf[..n]);
        }
    }
    if let Some(c) = sha256_ctx {
        let got = hex(&c.finalize());
        if !payload_digests.iter().any(|(_, want)| *want == got) {
            let (name, want) = &payload_digests[0];
            return Err(mismatch(name, want, got));
        }
    }
    if let (Some(c), Some(want)) = (md5_ctx, &md5) {
        let got = hex(&c.finalize());
        if &got != want {
            return Err(mismatch("MD5", want, got));
        }
    }
    Ok(())
}

fn first(v: Vec<String>) -> String {
    v.into_iter().next().unwrap_or_default()
}

/// A file's content digest, as the header's FILEDIGESTS holds it (FILEDIGESTALGO: rpm's
/// `PGPHASHALGO_*`). rpm checks each file against it while unpacking, even under `--nodigest`.
#[derive(Clone)]
pub enum FileDigest {
    /// 1.
    Md5(Md5),
    /// 2.
    Sha1(Sha1),
    /// 8.
    Sha256(Sha256),
    /// 9.
    Sha384(sha2::Sha384),
    /// 10.
    Sha512(sha2::Sha512),
    /// 11.
    Sha224(sha2::Sha224),
}

impl FileDigest {
    /// The hasher for `algo`; `None` for one rpm does not know either.
    pub fn new(algo: u32) -> Option<FileDigest> {
        Some(match algo {
            1 => FileDigest::Md5(Md5::new()),
            2 => FileDigest::Sha1(Sha1::new()),
            8 => FileDigest::Sha256(Sha256::new()),
            9 => FileDigest::Sha384(sha2::Sha384::new()),
            10 => FileDigest::Sha512(sha2::Sha512::new()),
            11 => FileDigest::Sha224(sha2::Sha224::new()),
            _ => return None,
        })
    }

    /// The hasher for a repository metadata checksum type (`<checksum type="sha256">`; `sha` is
    /// SHA-1); `None` for one kiln does not accept there (MD5 included).
    pub fn from_repodata_name(kind: &str) -> Option<FileDigest> {
        Some(match kind.to_ascii_lowercase().as_str() {
            "sha" | "sha1" => FileDigest::Sha1(Sha1::new()),
            "sha224" => FileDigest::Sha224(sha2::Sha224::new()),
            "sha256" => FileDigest::Sha256(Sha256::new()),
            "sha384" => FileDigest::Sha384(sha2::Sha384::new()),
            "sha512" => FileDigest::Sha512(sha2::Sha512::new()),
            _ => return None,
        })
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            FileDigest::Md5(h) => h.update(data),
            FileDigest::Sha1(h) => h.update(data),
            FileDigest::Sha256(h) => h.update(data),
            FileDigest::Sha384(h) => h.update(data),
            FileDigest::Sha512(h) => h.update(data),
            FileDigest::Sha224(h) => h.update(data),
        }
    }

    /// The digest in lowercase hex.
    pub fn hex(self) -> String {
        match self {
            FileDigest::Md5(h) => hex(&h.finalize()),
            FileDigest::Sha1(h) => hex(&h.finalize()),
            FileDigest::Sha256(h) => hex(&h.finalize()),
            FileDigest::Sha384(h) => hex(&h.finalize()),
            FileDigest::Sha512(h) => hex(&h.finalize()),
            FileDigest::Sha224(h) => hex(&h.finalize()),
        }
    }
}

/// A reader that hashes what is read through it (or only passes it on, without a digest).
pub struct HashingReader<R> {
    inner: R,
    digest: Option<FileDigest>,
}

impl<R: Read> HashingReader<R> {
    /// Hashes what is read from `inner` with `digest`.
    pub fn new(inner: R, digest: Option<FileDigest>) -> HashingReader<R> {
        HashingReader { inner, digest }
    }

    /// The digest of everything read, in lowercase hex.
    pub fn hex(self) -> Option<String> {
        self.digest.map(FileDigest::hex)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(d) = &mut self.digest {
            d.update(&buf[..n]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal header with the given entries (tag, type, data).
    fn header(entries: &[(u32, u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut data: Vec<u8> = Vec::new();
        let mut index: Vec<u8> = Vec::new();
        for (tag, kind, count, d) in entries {
            index.extend(tag.to_be_bytes());
            index.extend(kind.to_be_bytes());
            index.extend((data.len() as u32).to_be_bytes());
            index.extend(count.to_be_bytes());
            data.extend(d);
        }
        let mut h = vec![0x8e, 0xad, 0xe8, 1, 0, 0, 0, 0];
        h.extend((entries.len() as u32).to_be_bytes());
        h.extend((data.len() as u32).to_be_bytes());
        h.extend(index);
        h.extend(data);
        h
    }

    fn string(s: &str) -> Vec<u8> {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        v
    }

    /// A package file from a signature header's entries, a main header and a payload.
    fn package(sig: &[(u32, u32, u32, Vec<u8>)], main: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0xed, 0xab, 0xee, 0xdb];
        f.resize(LEAD_SIZE, 0);
        let s = header(sig);
        f.extend(&s);
        f.resize(f.len() + (8 - s.len() % 8) % 8, 0);
        f.extend(main);
        f.extend(payload);
        f
    }

    fn check(bytes: &[u8]) -> Result<(), DigestFailure> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.rpm");
        std::fs::write(&p, bytes).unwrap();
        verify_file(&p)
    }

    #[test]
    fn every_present_digest_must_match_and_both_parts_be_covered() {
        let payload = b"compressed payload bytes";
        let pd = hex(&Sha256::digest(payload));
        let main = header(&[(TAG_PAYLOADDIGEST, TYPE_STRING_ARRAY, 1, string(&pd))]);
        let h256 = hex(&Sha256::digest(&main));
        let h1 = hex(&Sha1::digest(&main));
        let mut m = Md5::new();
        m.update(&main);
        m.update(payload);
        let md5 = m.finalize().to_vec();
        let full = [
            (SIGTAG_SHA1, TYPE_STRING, 1, string(&h1)),
            (SIGTAG_SHA256, TYPE_STRING, 1, string(&h256)),
            (SIGTAG_MD5, TYPE_BIN, 16, md5.clone()),
        ];
        assert_eq!(check(&package(&full, &main, payload)), Ok(()));

        let mut bad = payload.to_vec();
        bad[3] ^= 1;
        assert!(matches!(
            check(&package(&full, &main, &bad)),
            Err(DigestFailure::Mismatch {
                digest: "payload SHA256",
                ..
            })
        ));
        // Only MD5 left to catch it.
        let no_payload_digest = header(&[(1000, TYPE_STRING, 1, string("x"))]);
        let mut m = Md5::new();
        m.update(&no_payload_digest);
        m.update(payload);
        let md5_only = [(SIGTAG_MD5, TYPE_BIN, 16, m.finalize().to_vec())];
        assert_eq!(
            check(&package(&md5_only, &no_payload_digest, payload)),
            Ok(())
        );
        assert!(matches!(
            check(&package(&md5_only, &no_payload_digest, &bad)),
            Err(DigestFailure::Mismatch { digest: "MD5", .. })
        ));
        // No digest at all for the header.
        let size_only = [(1000, 4, 1, 100u32.to_be_bytes().to_vec())];
        assert_eq!(
            check(&package(&size_only, &main, payload)),
            Err(DigestFailure::Missing("header"))
        );
        // A header digest but none for the payload.
        let bare = header(&[(1000, TYPE_STRING, 1, string("x"))]);
        let bare_sig = [(
            SIGTAG_SHA256,
            TYPE_STRING,
            1,
            string(&hex(&Sha256::digest(&bare))),
        )];
        assert_eq!(
            check(&package(&bare_sig, &bare, payload)),
            Err(DigestFailure::Missing("payload"))
        );
        // Not hex.
        assert!(matches!(
            check(&package(
                &[(SIGTAG_SHA256, TYPE_STRING, 1, string("zz"))],
                &main,
                payload
            )),
            Err(DigestFailure::Invalid { .. })
        ));
        // Truncated.
        let whole = package(&full, &main, payload);
        assert!(matches!(
            check(&whole[..LEAD_SIZE + 20]),
            Err(DigestFailure::Unreadable(_))
        ));
    }
}
