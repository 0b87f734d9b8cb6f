//! Package checksums and rpm digests already verified, remembered by the file's identity so that
//! a build from a local repo or a warm cache does not hash gigabytes of unchanged packages again.
//!
//! A record holds the path, the checksum it matched, whether the package's own header and
//! payload digests verified (see [`crate::rpmfile::digest`]), and the file's device, inode,
//! size, mtime and ctime (nanoseconds). It is reused only while all of them are unchanged. Every write or
//! replacement of a file moves its ctime, which user space cannot set back. As git does for
//! its index, a file changed within the last seconds before its check is not recorded: a
//! later write within the clock's granularity could otherwise keep the same times.
//!
//! Stored as `DIR/verified-v1` (one tab-separated line per file, mode 0600; the digest mark is
//! an optional last field, so older kilns skip such lines and hash again), rewritten under a
//! temporary name; a file another user owns or could write is ignored. Builds sharing a cache
//! may drop each other's new lines; that costs a second hashing, never a wrong answer.
//!
//! Within a run, a file whose digests verified is not hashed again while its identity is
//! unchanged (the signature check and the install both need them), recorded or not.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::fetch::verify_file;
use super::{Cache, RepoError};
use crate::rpmfile::digest::{DigestFailure, DigestRecords};
use crate::rpmfile::repodata::Checksum;

/// Files changed this recently before their check are not recorded (see the module docs).
const SETTLE: Duration = Duration::from_secs(2);

/// Most records kept; past this only the ones used or made by this run are written back.
const MAX_RECORDS: usize = 200_000;

/// The records stand in for hashing, so only a file that nobody else could have written is
/// read: owned by this user, not writable by group or others.
fn trusted(file: &Path) -> bool {
    match std::fs::symlink_metadata(file) {
        Ok(m) => {
            let ok = m.is_file()
                && m.uid() == rustix::process::geteuid().as_raw()
                && m.mode() & 0o022 == 0;
            if !ok {
                tracing::warn!(
                    file = %file.display(),
                    "verified checksums ignored: not a private file of this user"
                );
            }
            ok
        }
        Err(_) => false,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    fn of(path: &Path) -> Option<Identity> {
        let m = std::fs::metadata(path).ok()?;
        m.is_file().then(|| Identity {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    id: Identity,
    /// The checksum (empty when only the digests were checked).
    kind: String,
    hex: String,
    /// The package's header and payload digests verified.
    digests: bool,
}

/// The last field of a record whose digests verified.
const DIGESTS_MARK: &str = "digests";

/// The verified-checksum records of one cache.
#[derive(Debug)]
pub struct Verified {
    file: PathBuf,
    known: HashMap<PathBuf, Record>,
    /// Records looked up or made by this run.
    used: Mutex<HashMap<PathBuf, Record>>,
    /// Files whose digests verified in this run, settled or not.
    digested: Mutex<HashMap<PathBuf, Identity>>,
    /// `used` as this run last wrote it (a run saves after its download and again after its
    /// checks; the second save writes only when the checks changed a record).
    saved: Mutex<HashMap<PathBuf, Record>>,
    started: SystemTime,
}

fn parse_line(line: &str) -> Option<(PathBuf, Record)> {
    let f: Vec<&str> = line.split('\t').collect();
    let (fields, digests) = match f.split_last() {
        Some((&DIGESTS_MARK, rest)) => (rest, true),
        _ => (f.as_slice(), false),
    };
    let [path, dev, ino, size, ms, mns, cs, cns, kind, hex] = fields else {
        return None;
    };
    let id = Identity {
        dev: dev.parse().ok()?,
        ino: ino.parse().ok()?,
        size: size.parse().ok()?,
        mtime: (ms.parse().ok()?, mns.parse().ok()?),
        ctime: (cs.parse().ok()?, cns.parse().ok()?),
    };
    Some((
        PathBuf::from(path),
        Record {
            id,
            kind: (*kind).to_owned(),
            hex: (*hex).to_owned(),
            digests,
        },
    ))
}

fn format_line(path: &Path, r: &Record) -> Option<String> {
    let p = path.to_str()?;
    if p.contains(['\t', '\n']) {
        return None;
    }
    let id = &r.id;
    let mark = if r.digests { "\tdigests" } else { "" };
    Some(format!(
        "{p}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}{mark}\n",
        id.dev, id.ino, id.size, id.mtime.0, id.mtime.1, id.ctime.0, id.ctime.1, r.kind, r.hex
    ))
}

impl Verified {
    /// The records of `cache` (none when the file is missing or unreadable).
    pub fn load(cache: &Cache) -> Verified {
        let file = cache.root.join("verified-v1");
        let known = if trusted(&file) {
            std::fs::read_to_string(&file)
                .map(|text| text.lines().filter_map(parse_line).collect())
                .unwrap_or_default()
        } else {
            HashMap::new()
        };
        Verified {
            file,
            known,
            used: Mutex::new(HashMap::new()),
            digested: Mutex::new(HashMap::new()),
            saved: Mutex::new(HashMap::new()),
            started: SystemTime::now(),
        }
    }

    /// Checks `path` against `want`: from a record when the file is unchanged since it was
    /// verified, else by hashing it (and recording the result).
    pub fn verify(&self, path: &Path, want: &Checksum) -> Result<(), RepoError> {
        let before = Identity::of(path);
        if let (Some(id), Some(r)) = (&before, self.known.get(path)) {
            if r.id == *id && r.kind == want.kind && r.hex == want.hex {
                self.used().insert(path.to_owned(), r.clone());
                return Ok(());
            }
        }
        verify_file(path, want, &path.display().to_string())?;
        let Some(id) = before else { return Ok(()) };
        // Unchanged while it was hashed, and not written just before.
        if self.settled(&id) && Identity::of(path).as_ref() == Some(&id) {
            let mut used = self.used();
            let digests = self.record_of(&used, path, &id).is_some_and(|r| r.digests);
            let r = Record {
                id,
                kind: want.kind.clone(),
                hex: want.hex.clone(),
                digests,
            };
            used.insert(path.to_owned(), r);
        }
        Ok(())
    }

    /// Whether a file of this identity was last changed long enough before this run.
    fn settled(&self, id: &Identity) -> bool {
        UNIX_EPOCH
            + Duration::new(
                id.ctime.0.max(0) as u64,
                id.ctime.1.clamp(0, 999_999_999) as u32,
            )
            + SETTLE
            < self.started
    }

    /// The record of `path` made or used by this run, else the stored one, if it is for the
    /// file as it is (`id`).
    fn record_of<'a>(
        &'a self,
        used: &'a HashMap<PathBuf, Record>,
        path: &Path,
        id: &Identity,
    ) -> Option<&'a Record> {
        used.get(path)
            .or_else(|| self.known.get(path))
            .filter(|r| r.id == *id)
    }

    fn used(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Record>> {
        self.used.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn digested(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Identity>> {
        self.digested.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the records back (best effort: a cache that cannot be written only costs a
    /// second hashing next time).
    pub fn save(&self) {
        let used = self.used();
        let added = used
            .iter()
            .filter(|(p, r)| self.known.get(*p) != Some(*r))
            .count();
        let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        if added == 0 || *saved == *used {
            return;
        }
        let mut all: HashMap<&Path, &Record> = HashMap::new();
        if self.known.len() + added <= MAX_RECORDS {
            all.extend(self.known.iter().map(|(p, r)| (p.as_path(), r)));
        }
        all.extend(used.iter().map(|(p, r)| (p.as_path(), r)));
        let text: String = all
            .into_iter()
            .filter_map(|(p, r)| format_line(p, r))
            .collect();
        // Named like a partial download, so the next build sweeps one a killed build left.
        crate::stale::sweep_partial_files(&self.cache_root());
        let tmp = self
            .file
            .with_file_name(format!(".verified-v1.part{}", std::process::id()));
        let written = std::fs::create_dir_all(self.cache_root())
            .and_then(|_| {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&tmp)
            })
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .and_then(|_| std::fs::rename(&tmp, &self.file));
        match written {
            Ok(()) => saved.clone_from(&used),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                tracing::debug!(file = %self.file.display(), "verified checksums not saved: {e}");
            }
        }
    }

    fn cache_root(&self) -> PathBuf {
        self.file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

impl DigestRecords for Verified {
    fn verify_digests(
        &self,
        path: &Path,
        check: &dyn Fn(&Path) -> Result<(), DigestFailure>,
    ) -> Result<bool, DigestFailure> {
        let before = Identity::of(path);
        if let Some(id) = &before {
            if self.digested().get(path) == Some(id) {
                return Ok(false);
            }
            let mut used = self.used();
            if let Some(r) = self.record_of(&used, path, id).filter(|r| r.digests) {
                let r = r.clone();
                used.insert(path.to_owned(), r);
                return Ok(false);
            }
        }
        check(path)?;
        let Some(id) = before else { return Ok(true) };
        if Identity::of(path).as_ref() != Some(&id) {
            // Changed while it was read: the next look hashes it again.
            return Ok(true);
        }
        self.digested().insert(path.to_owned(), id.clone());
        if self.settled(&id) {
            let mut used = self.used();
            let mut r = self.record_of(&used, path, &id).cloned().unwrap_or(Record {
                id,
                kind: String::new(),
                hex: String::new(),
                digests: false,
            });
            r.digests = true;
            used.insert(path.to_owned(), r);
        }
        Ok(true)
    }

    fn save(&self) {
        Verified::save(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    fn checksum_of(data: &[u8]) -> Checksum {
        Checksum {
            kind: "sha256".into(),
            hex: sha2::Sha256::digest(data)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        }
    }

    /// A file's ctime cannot be moved into the past: the run's start moves into the future.
    fn later(v: Verified) -> Verified {
        Verified {
            started: SystemTime::now() + Duration::from_secs(10),
            ..v
        }
    }

    /// A temporary directory with a cache in it and a package file `a.rpm` holding `payload`.
    fn setup() -> (tempfile::TempDir, Cache, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("cache"), false);
        let pkg = dir.path().join("a.rpm");
        std::fs::write(&pkg, b"payload").unwrap();
        (dir, cache, pkg)
    }

    #[test]
    fn records_only_settled_unchanged_files() {
        let (dir, cache, pkg) = setup();
        let good = checksum_of(b"payload");

        // Just written: verified, but not recorded.
        let v = Verified::load(&cache);
        v.verify(&pkg, &good).unwrap();
        v.save();
        assert!(!dir.path().join("cache/verified-v1").exists());

        // Settled: recorded, and the record is used next time.
        let v = later(Verified::load(&cache));
        v.verify(&pkg, &good).unwrap();
        v.save();
        let mut v = Verified::load(&cache);
        assert_eq!(v.known.len(), 1);
        let r = &v.known[&pkg];
        assert_eq!(r.hex, good.hex);
        assert_eq!(Some(r.id.clone()), Identity::of(&pkg));
        // The record answers without hashing: one claiming other bytes for this very file
        // is believed (only a record made by a real check can say so).
        let claimed = checksum_of(b"claimed");
        v.known.get_mut(&pkg).unwrap().hex.clone_from(&claimed.hex);
        v.verify(&pkg, &claimed).unwrap();
        let v = Verified::load(&cache);

        // A wrong checksum is never answered from the record.
        let bad = checksum_of(b"other");
        assert!(matches!(
            v.verify(&pkg, &bad),
            Err(RepoError::Checksum { .. })
        ));

        // Replaced with different bytes of the same size: the identity no longer matches, so
        // the file is hashed again and fails.
        std::fs::write(dir.path().join("b.rpm"), b"PAYLOAD").unwrap();
        std::fs::rename(dir.path().join("b.rpm"), &pkg).unwrap();
        let v = later(Verified::load(&cache));
        assert!(matches!(
            v.verify(&pkg, &good),
            Err(RepoError::Checksum { .. })
        ));
    }

    #[test]
    fn a_file_others_can_write_is_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, cache, pkg) = setup();
        let v = later(Verified::load(&cache));
        v.verify(&pkg, &checksum_of(b"payload")).unwrap();
        v.save();
        let rec = dir.path().join("cache/verified-v1");
        assert_eq!(std::fs::metadata(&rec).unwrap().mode() & 0o777, 0o600);
        assert_eq!(Verified::load(&cache).known.len(), 1);
        std::fs::set_permissions(&rec, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(Verified::load(&cache).known.is_empty());
    }

    #[test]
    fn lines_round_trip_and_bad_lines_are_skipped() {
        let r = Record {
            id: Identity {
                dev: 1,
                ino: 2,
                size: 3,
                mtime: (4, 5),
                ctime: (6, 7),
            },
            kind: "sha256".into(),
            hex: "ab".into(),
            digests: false,
        };
        let line = format_line(Path::new("/x/y.rpm"), &r).unwrap();
        let (p, back) = parse_line(line.trim_end()).unwrap();
        assert_eq!(p, Path::new("/x/y.rpm"));
        assert_eq!(back, r);
        let marked = Record {
            digests: true,
            ..r.clone()
        };
        let line = format_line(Path::new("/x/y.rpm"), &marked).unwrap();
        assert!(line.ends_with("\tab\tdigests\n"));
        assert_eq!(parse_line(line.trim_end()).unwrap().1, marked);
        assert!(parse_line("garbage").is_none());
        assert!(parse_line("/p\t1\t2\tx\t4\t5\t6\t7\tsha256\tab").is_none());
        assert!(format_line(Path::new("/a\tb"), &r).is_none());
    }

    #[test]
    fn digests_are_checked_once_per_file_state() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (dir, cache, pkg) = setup();
        let runs = AtomicUsize::new(0);
        let ok = |_: &Path| -> Result<(), DigestFailure> {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(())
        };
        let bad = |_: &Path| -> Result<(), DigestFailure> { Err(DigestFailure::Missing("header")) };

        // A failure is not remembered.
        let v = later(Verified::load(&cache));
        assert!(v.verify_digests(&pkg, &bad).is_err());
        // Within a run: checked once.
        assert!(v.verify_digests(&pkg, &ok).unwrap());
        assert!(!v.verify_digests(&pkg, &ok).unwrap());
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // The checksum record of the same file keeps the mark, and both are saved.
        v.verify(&pkg, &checksum_of(b"payload")).unwrap();
        v.save();
        let v = Verified::load(&cache);
        assert!(v.known[&pkg].digests);
        assert_eq!(v.known[&pkg].kind, "sha256");
        // The next run takes it from the record.
        assert!(!v.verify_digests(&pkg, &ok).unwrap());
        assert_eq!(runs.load(Ordering::SeqCst), 1);

        // A just-written file: remembered for the run, not recorded.
        let fresh = dir.path().join("b.rpm");
        std::fs::write(&fresh, b"other").unwrap();
        let v = Verified::load(&cache);
        assert!(v.verify_digests(&fresh, &ok).unwrap());
        assert!(!v.verify_digests(&fresh, &ok).unwrap());
        v.save();
        assert!(!Verified::load(&cache).known.contains_key(&fresh));

        // Replaced: checked again.
        std::fs::write(dir.path().join("c.rpm"), b"PAYLOAD").unwrap();
        std::fs::rename(dir.path().join("c.rpm"), &pkg).unwrap();
        let v = later(Verified::load(&cache));
        assert!(v.verify_digests(&pkg, &bad).is_err());
    }
}
