//! One package's payload written beneath the root: every header file checked against the
//! payload, placed with its owner, mode, mtime and capabilities, hardlink sets kept as one
//! inode, `%ghost`, `--excludedocs` and `--instLangs` handled as rpm 4.18 does; plus the file
//! conflict check between the packages of a transaction.
//!
//! Does not run scriptlets or touch the rpmdb; safe to call for several packages at once.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::sync::RwLock;

use tracing::{debug, warn};

use super::rootfs::{encode_caps, CapsError, Meta, NodeKind, Root, SizeMismatch};
use crate::error::IoError;
use crate::rpmfile::cpio::{CpioError, CpioReader, EntryName};
use crate::rpmfile::header::{FileInfo, RpmFile};
use crate::rpmfile::payload::{self, BOMB_MESSAGE};
use crate::rpmfile::RpmFileError;

use crate::rpmfile::tags::{
    RPMFILE_DOC, RPMFILE_GHOST, RPMFILE_STATE_NORMAL, RPMFILE_STATE_NOTINSTALLED,
    RPMFILE_STATE_WRONGCOLOR,
};

const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;
const S_IFBLK: u32 = 0o060000;
const S_IFIFO: u32 = 0o010000;

/// A failure to read a package or to write its files. Every message names the package (or
/// the file) and the path involved.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The RPM file could not be read, is not an RPM, or its payload is of an unsupported kind.
    #[error(transparent)]
    Package(#[from] RpmFileError),
    /// The payload stream failed (corrupt compressed data, I/O error).
    #[error("{pkg}: failed to read the payload")]
    Payload {
        /// Package NEVRA.
        pkg: String,
        #[source]
        source: io::Error,
    },
    /// The payload ends before the header's files do.
    #[error("{pkg}: the payload ends early (at `{path}`)")]
    Short {
        /// Package NEVRA.
        pkg: String,
        /// The entry being read.
        path: String,
    },
    /// The payload decompresses to more than the header declares.
    #[error("{pkg}: the payload expands beyond the {limit} bytes its header declares")]
    Bomb {
        /// Package NEVRA.
        pkg: String,
        /// The cap.
        limit: u64,
    },
    /// A malformed cpio archive.
    #[error("{pkg}: corrupt cpio payload")]
    Cpio {
        /// Package NEVRA.
        pkg: String,
        #[source]
        source: CpioError,
    },
    /// A payload entry the header does not list.
    #[error("{pkg}: payload entry `{path}` is not in the header's file list")]
    NotInHeader {
        /// Package NEVRA.
        pkg: String,
        /// Entry name.
        path: String,
    },
    /// A path that would leave the root or go through one of the package's own symlinks.
    #[error("{pkg}: unsafe path `{path}`: {reason}")]
    UnsafePath {
        /// Package NEVRA.
        pkg: String,
        /// The path.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// A payload entry that disagrees with its header entry.
    #[error("{pkg}: payload entry `{path}` does not match the header: {reason}")]
    Mismatch {
        /// Package NEVRA.
        pkg: String,
        /// The path.
        path: String,
        /// How.
        reason: String,
    },
    /// A header file the payload lacks.
    #[error("{pkg}: the payload lacks `{path}`")]
    Missing {
        /// Package NEVRA.
        pkg: String,
        /// The path.
        path: String,
    },
    /// Bad `FILECAPS` text.
    #[error("{pkg}: bad file capabilities on `{path}`")]
    Caps {
        /// Package NEVRA.
        pkg: String,
        /// The path.
        path: String,
        #[source]
        source: CapsError,
    },
    /// A filesystem operation beneath the root failed (the path is the one inside the root).
    #[error("{pkg}")]
    Fs {
        /// Package NEVRA.
        pkg: String,
        #[source]
        source: IoError,
    },
    /// Two packages of the transaction install different files at one path.
    #[error("file `{path}` conflicts between {a} and {b}: {reason}")]
    Conflict {
        /// The path.
        path: String,
        /// First package.
        a: String,
        /// Second package.
        b: String,
        /// What differs.
        reason: &'static str,
    },
    /// Stopped between two files by an interrupt (Ctrl-C, SIGTERM).
    #[error("interrupted")]
    Interrupted,
}

/// Marker inside the `io::Error` a capped payload returns.
fn is_bomb(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData && e.to_string() == BOMB_MESSAGE
}

#[derive(Default)]
struct Table {
    /// (mtime s, mtime ns, size, inode) of the file the map was read from.
    key: Option<(i64, i64, u64, u64)>,
    ids: HashMap<String, u32>,
}

/// User and group names of the root (`/etc/passwd`, `/etc/group` as they are now), re-read
/// when either file changes.
pub struct Owners {
    root: Root,
    users: RwLock<Table>,
    groups: RwLock<Table>,
    /// While set, [`Owners::refresh`] keeps the tables: packages unpacked side by side all see
    /// the tables as they were when the run started, not whatever a neighbour just wrote.
    frozen: std::sync::atomic::AtomicBool,
}

impl Owners {
    /// Reads the root's tables (missing files mean only `root` is known).
    pub fn new(root: &Root) -> io::Result<Owners> {
        let o = Owners {
            root: root.try_clone()?,
            users: RwLock::new(Table::default()),
            groups: RwLock::new(Table::default()),
            frozen: Default::default(),
        };
        o.refresh();
        Ok(o)
    }

    /// Re-reads a table whose file changed since it was read; one `stat` per file when not.
    pub fn refresh(&self) {
        if self.frozen.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        for (path, table) in [("/etc/passwd", &self.users), ("/etc/group", &self.groups)] {
            let key = self.root.stat(path).ok().map(|st| {
                (
                    st.st_mtime,
                    st.st_mtime_nsec as i64,
                    st.st_size as u64,
                    st.st_ino,
                )
            });
            if table.read().map(|t| t.key == key).unwrap_or(false) && key.is_some() {
                continue;
            }
            let text = self.root.read_file(path).unwrap_or_default();
            let mut ids = HashMap::new();
            for line in String::from_utf8_lossy(&text).lines() {
                let mut f = line.split(':');
                if let (Some(name), Some(_), Some(id)) = (f.next(), f.next(), f.next()) {
                    if let Ok(id) = id.trim().parse::<u32>() {
                        // The first entry wins, as getpwnam's scan does.
                        ids.entry(name.to_owned()).or_insert(id);
                    }
                }
            }
            debug!(path, entries = ids.len(), "read owner table");
            if let Ok(mut t) = table.write() {
                *t = Table { key, ids };
            }
        }
    }

    fn lookup(table: &RwLock<Table>, name: &str) -> Option<u32> {
        if name == "root" {
            return Some(0);
        }
        table.read().ok()?.ids.get(name).copied()
    }

    /// Refresh now, then keep the tables until `thaw` (a parallel run of packages).
    pub fn freeze(&self) {
        self.refresh();
        self.frozen
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Undo [`Owners::freeze`].
    pub fn thaw(&self) {
        self.frozen
            .store(false, std::sync::atomic::Ordering::Release);
    }

    /// The uid of `name`.
    pub fn uid(&self, name: &str) -> Option<u32> {
        Self::lookup(&self.users, name)
    }

    /// The gid of `name`.
    pub fn gid(&self, name: &str) -> Option<u32> {
        Self::lookup(&self.groups, name)
    }
}

/// Kickstart `%packages` options that affect which files are written.
#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    /// `--excludedocs`: skip `%doc` files.
    pub exclude_docs: bool,
    /// `--instLangs=de:fr`: skip `%lang` files of other languages (`None` = all).
    pub inst_langs: Option<Vec<String>>,
    /// Check each file's content against the header's file digest while writing it, as rpm
    /// does (needed when the payload digest was not verified: `--nodigest`).
    pub verify_file_digests: bool,
}

/// What one package's unpack did.
#[derive(Debug, Clone, Default)]
pub struct UnpackResult {
    /// Per header file index, the `RPMFILE_STATE_*` rpm 4.18 records: NORMAL (0) for written
    /// files and `%ghost`s, NOTINSTALLED (2) for excluded docs/languages and the directories
    /// they leave empty.
    pub file_states: Vec<u8>,
    /// Warnings as rpm words them ("user X does not exist - using root").
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Create,
    Ghost,
    Skip,
    /// Not written, but installed as far as the rpmdb is concerned (rpm's `FA_SKIP`): left to
    /// an earlier package of the transaction that ships it identically, or a `%config` file an
    /// installed package shares and that stays as it is on disk.
    Shared,
    /// Not written: another package's file of the preferred colour takes the path.
    WrongColor,
}

/// rpm's `skipInstallFiles`: docs and languages skipped, then directories that only held
/// skipped files.
fn plan(files: &[FileInfo], opts: &UnpackOptions) -> Vec<Action> {
    let langs = opts
        .inst_langs
        .as_ref()
        .filter(|l| !l.iter().any(|x| x == "all"));
    let mut actions = vec![Action::Create; files.len()];
    // dir -> (files still installed, whether one was skipped)
    let mut dirs: HashMap<&str, (usize, bool)> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        let dir = &f.path[..f.path.rfind('/').map_or(0, |k| k + 1)];
        let d = dirs.entry(dir).or_insert((0, false));
        d.0 += 1;
        if f.flags & RPMFILE_GHOST != 0 {
            actions[i] = Action::Ghost;
        }
        let lang_skip = match langs {
            Some(langs) if !f.lang.is_empty() => !langs.iter().any(|want| {
                f.lang
                    .split('|')
                    .any(|l| !l.is_empty() && want.starts_with(l))
            }),
            _ => false,
        };
        let doc_skip = opts.exclude_docs && f.flags & RPMFILE_DOC != 0;
        if lang_skip || doc_skip {
            d.0 -= 1;
            d.1 = true;
            actions[i] = Action::Skip;
        }
    }
    let by_path: HashMap<&str, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.path.as_str(), i))
        .collect();
    for (dir, (left, emptied)) in dirs {
        if left != 0 || !emptied {
            continue;
        }
        let dir = dir.trim_end_matches('/');
        if let Some(&i) = by_path.get(dir) {
            if actions[i] != Action::Skip && files[i].mode & S_IFMT == S_IFDIR {
                actions[i] = Action::Skip;
            }
        }
    }
    actions
}

/// Why a path is unsafe, if it is: it must be absolute with no empty, `.` or `..` parts.
fn path_problem(path: &str) -> Option<&'static str> {
    let Some(rest) = path.strip_prefix('/') else {
        return Some("not absolute");
    };
    if rest.is_empty() {
        return None;
    }
    for c in rest.split('/') {
        match c {
            ".." => return Some("has a `..` component"),
            "." => return Some("has a `.` component"),
            "" => return Some("has an empty component"),
            _ => {}
        }
    }
    None
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(k) => &path[..k],
    }
}

/// A reader that remembers whether it failed, so a failed file write can be blamed on the
/// payload or on the filesystem.
struct Tracked<R> {
    inner: R,
    error: Option<io::Error>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            self.error = Some(io::Error::new(e.kind(), e.to_string()));
        })
    }
}

struct HardlinkSet {
    /// Header indexes of the members that are in the payload, in header order.
    members: Vec<usize>,
    seen: usize,
    /// Where the data went (`None` with `done` = every member was skipped).
    target: Option<usize>,
    done: bool,
    pending: Vec<usize>,
}

/// Directory handles kept per package: a payload is sorted by path, so consecutive entries
/// mostly share a directory. Bounded, as a package may have thousands of directories and one
/// unpack runs per core (the install also raises the open-file limit).
const DIR_CACHE: usize = 8;

struct Unpacker<'a> {
    rpm: &'a RpmFile,
    root: &'a Root,
    owners: &'a Owners,
    pkg: String,
    warnings: Vec<String>,
    warned: HashSet<String>,
    /// Open directories by path, most recent last. Safe to reuse for the whole package:
    /// nothing in an unpack removes or moves a directory (a non-directory is never renamed
    /// over one), and scriptlets never run during one.
    dirs: Vec<(String, OwnedFd)>,
    buf: Vec<u8>,
    verify_file_digests: bool,
}

impl Unpacker<'_> {
    fn fs(&self, action: &'static str, path: &str) -> impl FnOnce(io::Error) -> UnpackError {
        let pkg = self.pkg.clone();
        let path = path.to_owned();
        move |source| UnpackError::Fs {
            pkg,
            source: IoError::new(action, path, source),
        }
    }

    fn meta(&mut self, f: &FileInfo) -> Result<Meta, UnpackError> {
        // As rpm does: an unknown owner becomes root and loses its set-id bit.
        let mut mode = f.mode & 0o7777;
        let uid = match self.owners.uid(&f.user) {
            Some(u) => u,
            None => {
                self.warn(format!("user {} does not exist - using root", f.user));
                mode &= !0o4000;
                0
            }
        };
        let gid = match self.owners.gid(&f.group) {
            Some(g) => g,
            None => {
                self.warn(format!("group {} does not exist - using root", f.group));
                mode &= !0o2000;
                0
            }
        };
        let caps = if f.caps.is_empty() || f.mode & S_IFMT != S_IFREG {
            None
        } else {
            encode_caps(&f.caps).map_err(|source| UnpackError::Caps {
                pkg: self.pkg.clone(),
                path: f.path.clone(),
                source,
            })?
        };
        Ok(Meta {
            mode,
            uid,
            gid,
            mtime: f.mtime,
            caps,
        })
    }

    fn warn(&mut self, msg: String) {
        if self.warned.insert(msg.clone()) {
            warn!(pkg = %self.pkg, "{msg}");
            self.warnings.push(msg);
        }
    }

    /// The directory that holds `path` (created if missing), and the name in it.
    fn parent_dir<'p>(&mut self, path: &'p str) -> Result<(usize, &'p str), UnpackError> {
        let dir = parent_of(path);
        let name = path.rsplit('/').next().unwrap_or(path);
        if let Some(i) = self.dirs.iter().rposition(|(d, _)| d == dir) {
            return Ok((i, name));
        }
        let fd = self
            .root
            .dir(dir)
            .map_err(self.fs("create the parent directories of", path))?;
        self.remember_dir(dir, fd);
        Ok((self.dirs.len() - 1, name))
    }

    fn remember_dir(&mut self, dir: &str, fd: OwnedFd) {
        if let Some(i) = self.dirs.iter().position(|(d, _)| d == dir) {
            self.dirs.remove(i);
        } else if self.dirs.len() == DIR_CACHE {
            self.dirs.remove(0);
        }
        self.dirs.push((dir.to_owned(), fd));
    }

    fn mkparent(&self, path: &str) -> Result<(), UnpackError> {
        self.root
            .mkdir_p(parent_of(path), 0o755)
            .map(|_| ())
            .map_err(self.fs("create the parent directories of", path))
    }

    /// Writes a regular file from `data`, which must hold exactly `f.size` bytes.
    fn write_regular(
        &mut self,
        f: &FileInfo,
        data: &mut dyn Read,
        path: &str,
    ) -> Result<(), UnpackError> {
        let meta = self.meta(f)?;
        let (d, name) = self.parent_dir(path)?;
        let digest = (self.verify_file_digests && !f.digest.is_empty())
            .then(|| crate::rpmfile::digest::FileDigest::new(self.rpm.info.digest_algo))
            .flatten();
        let mut hashing = crate::rpmfile::digest::HashingReader::new(data, digest);
        let mut tracked = Tracked {
            inner: &mut hashing,
            error: None,
        };
        let (dirs, buf) = (&self.dirs, &mut self.buf);
        match Root::write_file_in(&dirs[d].1, name, &meta, &mut tracked, buf, Some(f.size)) {
            Ok(_) => match hashing.hex() {
                Some(got) if !got.eq_ignore_ascii_case(&f.digest) => Err(UnpackError::Mismatch {
                    pkg: self.pkg.clone(),
                    path: path.to_owned(),
                    reason: format!(
                        "its content does not match the header's file digest ({got}, header \
                         says {}; rpm: \"cpio: Digest mismatch\")",
                        f.digest
                    ),
                }),
                _ => Ok(()),
            },
            Err(e) if e.get_ref().is_some_and(|x| x.is::<SizeMismatch>()) => {
                Err(UnpackError::Mismatch {
                    pkg: self.pkg.clone(),
                    path: path.to_owned(),
                    reason: e.to_string(),
                })
            }
            Err(e) => Err(match tracked.error {
                Some(re) => self.payload_error(re, path),
                None => self.fs("write", path)(e),
            }),
        }
    }

    fn payload_error(&self, e: io::Error, path: &str) -> UnpackError {
        if is_bomb(&e) {
            UnpackError::Bomb {
                pkg: self.pkg.clone(),
                limit: payload::max_payload_size(self.rpm),
            }
        } else if e.kind() == io::ErrorKind::UnexpectedEof {
            UnpackError::Short {
                pkg: self.pkg.clone(),
                path: path.to_owned(),
            }
        } else {
            UnpackError::Payload {
                pkg: self.pkg.clone(),
                source: e,
            }
        }
    }

    fn cpio_error(&self, e: CpioError, path: &str) -> UnpackError {
        match e {
            CpioError::Io { source, .. } => self.payload_error(source, path),
            other => UnpackError::Cpio {
                pkg: self.pkg.clone(),
                source: other,
            },
        }
    }
}

/// Checks the header's file list before anything is written: safe paths, no file beneath one
/// of the package's own symlinks.
fn check_paths(rpm: &RpmFile, actions: &[Action]) -> Result<(), UnpackError> {
    let files = &rpm.info.files;
    let mut links = HashSet::new();
    for f in files {
        if let Some(reason) = path_problem(&f.path) {
            return Err(UnpackError::UnsafePath {
                pkg: rpm.nevra(),
                path: f.path.clone(),
                reason,
            });
        }
        if f.mode & S_IFMT == S_IFLNK && f.flags & RPMFILE_GHOST == 0 {
            links.insert(f.path.as_str());
        }
    }
    if links.is_empty() {
        return Ok(());
    }
    for (i, f) in files.iter().enumerate() {
        if actions[i] != Action::Create {
            continue;
        }
        let mut p = f.path.as_str();
        while p != "/" {
            p = parent_of(p);
            if links.contains(p) {
                return Err(UnpackError::UnsafePath {
                    pkg: rpm.nevra(),
                    path: f.path.clone(),
                    reason: "goes through a symlink of the same package",
                });
            }
        }
    }
    Ok(())
}

/// Writes every file of `rpm`'s payload beneath `root`.
pub fn unpack(
    rpm: &RpmFile,
    root: &Root,
    owners: &Owners,
    opts: &UnpackOptions,
) -> Result<UnpackResult, UnpackError> {
    unpack_sharing(rpm, root, owners, opts, &Sharing::default())
}

/// [`unpack`] as one package of a transaction: the files `sharing` (from [`shared_files`])
/// leaves to other packages are not written.
pub fn unpack_sharing(
    rpm: &RpmFile,
    root: &Root,
    owners: &Owners,
    opts: &UnpackOptions,
    sharing: &Sharing,
) -> Result<UnpackResult, UnpackError> {
    let files = &rpm.info.files;
    let n = files.len();
    let mut actions = plan(files, opts);
    for (list, to) in [
        (&sharing.skip, Action::Shared),
        (&sharing.wrong_color, Action::WrongColor),
    ] {
        for &i in list {
            if let Some(a) = actions
                .get_mut(i as usize)
                .filter(|a| **a == Action::Create)
            {
                *a = to;
            }
        }
    }
    for (a, f) in actions.iter_mut().zip(files) {
        if *a == Action::Create && f.keep_on_disk {
            *a = Action::Shared;
        }
    }
    check_paths(rpm, &actions)?;
    owners.refresh();
    let mut u = Unpacker {
        rpm,
        root,
        owners,
        pkg: rpm.nevra(),
        warnings: Vec::new(),
        warned: HashSet::new(),
        dirs: Vec::new(),
        buf: vec![0u8; 256 * 1024],
        verify_file_digests: opts.verify_file_digests,
    };
    let by_path: HashMap<&str, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.payload_path(), i))
        .collect();

    // Hardlink sets: regular files in the payload sharing (device, inode).
    let mut groups: HashMap<(u32, u32), Vec<usize>> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        if f.mode & S_IFMT == S_IFREG && actions[i] != Action::Ghost {
            groups.entry((f.device, f.inode)).or_default().push(i);
        }
    }
    let mut set_of: HashMap<usize, usize> = HashMap::new();
    let mut sets: Vec<HardlinkSet> = Vec::new();
    for members in groups.into_values().filter(|m| m.len() > 1) {
        for &m in &members {
            set_of.insert(m, sets.len());
        }
        sets.push(HardlinkSet {
            members,
            seen: 0,
            target: None,
            done: false,
            pending: Vec::new(),
        });
    }

    let stream = payload::open(rpm)?;
    let mut cpio = CpioReader::new(stream);
    let mut seen = vec![false; n];
    let mut last = String::from("(start)");
    loop {
        // Per file, so that an interrupt stops even a run of large packages within moments.
        if crate::cancel::interrupted() {
            return Err(UnpackError::Interrupted);
        }
        let entry = match cpio.next_entry() {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e) => return Err(u.cpio_error(e, &last)),
        };
        if entry.is_trailer() {
            break;
        }
        let i = match &entry.name {
            EntryName::Index(ix) => {
                let ix = *ix as usize;
                if ix >= n {
                    return Err(UnpackError::NotInHeader {
                        pkg: u.pkg.clone(),
                        path: format!("(file index {ix})"),
                    });
                }
                ix
            }
            EntryName::Path(name) => {
                let p = name.strip_prefix('.').unwrap_or(name);
                if let Some(reason) = path_problem(p) {
                    return Err(UnpackError::UnsafePath {
                        pkg: u.pkg.clone(),
                        path: name.clone(),
                        reason,
                    });
                }
                *by_path.get(p).ok_or_else(|| UnpackError::NotInHeader {
                    pkg: u.pkg.clone(),
                    path: name.clone(),
                })?
            }
        };
        let f = &files[i];
        last.clone_from(&f.path);
        let mismatch = |reason: String| UnpackError::Mismatch {
            pkg: rpm.nevra(),
            path: f.path.clone(),
            reason,
        };
        if std::mem::replace(&mut seen[i], true) {
            return Err(mismatch("appears twice in the payload".into()));
        }
        let ftype = f.mode & S_IFMT;
        let set = set_of.get(&i).copied();
        // The data size: a newc header has it; for a stripped entry rpm wrote the header's
        // size, zero for all but the last member of a hardlink set and for non-files.
        let size = match entry.size {
            Some(s) => {
                if entry.mode & S_IFMT != ftype {
                    return Err(mismatch(format!(
                        "payload type {:o}, header type {:o}",
                        entry.mode & S_IFMT,
                        ftype
                    )));
                }
                s
            }
            None => match ftype {
                S_IFREG => match set {
                    Some(s) if sets[s].seen + 1 < sets[s].members.len() => 0,
                    _ => f.size,
                },
                S_IFLNK => f.linkto.len() as u64,
                _ => 0,
            },
        };
        if ftype == S_IFREG && size != f.size && !(set.is_some() && size == 0) {
            return Err(mismatch(format!(
                "{size} bytes in the payload, the header declares {}",
                f.size
            )));
        }
        let mut data = cpio
            .data(Some(size))
            .map_err(|e| u.cpio_error(e, &f.path))?;
        let action = actions[i];
        if let Some(s) = set {
            sets[s].seen += 1;
            let carries = size > 0 || sets[s].seen == sets[s].members.len();
            if !sets[s].done && carries {
                let target = if action == Action::Create {
                    Some(i)
                } else {
                    sets[s]
                        .members
                        .iter()
                        .copied()
                        .find(|&m| actions[m] == Action::Create)
                };
                sets[s].done = true;
                sets[s].target = target;
                if let Some(t) = target {
                    u.write_regular(&files[t], &mut data, &files[t].path)?;
                    let pending = std::mem::take(&mut sets[s].pending);
                    for p in pending.into_iter().filter(|&p| p != t) {
                        link(&u, &files[t].path, &files[p].path)?;
                    }
                }
            } else if sets[s].done {
                if let Some(t) = sets[s].target {
                    if action == Action::Create && t != i {
                        link(&u, &files[t].path, &f.path)?;
                    }
                }
            } else if action == Action::Create {
                sets[s].pending.push(i);
            }
            drain(&mut data).map_err(|e| u.payload_error(e, &f.path))?;
            continue;
        }
        if action != Action::Create {
            drain(&mut data).map_err(|e| u.payload_error(e, &f.path))?;
            continue;
        }
        match ftype {
            S_IFREG => u.write_regular(f, &mut data, &f.path)?,
            S_IFDIR => {
                let meta = u.meta(f)?;
                let (d, name) = u.parent_dir(&f.path)?;
                if name.is_empty() {
                    root.ensure_dir(&f.path, &meta)
                        .map_err(u.fs("create directory", &f.path))?;
                } else {
                    let fd = root
                        .ensure_dir_in(&u.dirs[d].1, &f.path, name, &meta)
                        .map_err(u.fs("create directory", &f.path))?;
                    // Its entries come next in the payload (sorted by path).
                    u.remember_dir(&f.path, fd);
                }
            }
            S_IFLNK => {
                let mut target = Vec::new();
                (&mut data)
                    .take(4096)
                    .read_to_end(&mut target)
                    .map_err(|e| u.payload_error(e, &f.path))?;
                if target != f.linkto.as_bytes() {
                    return Err(mismatch(format!(
                        "symlink target `{}` in the payload, `{}` in the header",
                        String::from_utf8_lossy(&target),
                        f.linkto
                    )));
                }
                let meta = u.meta(f)?;
                let (d, name) = u.parent_dir(&f.path)?;
                Root::symlink_in(&u.dirs[d].1, name, &f.linkto, &meta)
                    .map_err(u.fs("create symlink", &f.path))?;
            }
            S_IFCHR | S_IFBLK | S_IFIFO => {
                let meta = u.meta(f)?;
                u.mkparent(&f.path)?;
                let kind = match ftype {
                    S_IFCHR => NodeKind::Char,
                    S_IFBLK => NodeKind::Block,
                    _ => NodeKind::Fifo,
                };
                // FILERDEVS is 16 bits: the old major << 8 | minor encoding.
                let (major, minor) = ((f.rdev >> 8) & 0xff, f.rdev & 0xff);
                root.mknod(&f.path, kind, major, minor, &meta)
                    .map_err(u.fs("create device node", &f.path))?;
            }
            other => {
                return Err(mismatch(format!("unsupported file type {other:o}")));
            }
        }
        drain(&mut data).map_err(|e| u.payload_error(e, &f.path))?;
    }
    if let Some(i) = (0..n).find(|&i| !seen[i] && actions[i] != Action::Ghost) {
        return Err(UnpackError::Missing {
            pkg: u.pkg.clone(),
            path: files[i].path.clone(),
        });
    }
    let file_states = actions
        .iter()
        .map(|a| match a {
            Action::Skip => RPMFILE_STATE_NOTINSTALLED,
            Action::WrongColor => RPMFILE_STATE_WRONGCOLOR,
            _ => RPMFILE_STATE_NORMAL,
        })
        .collect();
    debug!(pkg = %u.pkg, files = n, "unpacked");
    Ok(UnpackResult {
        file_states,
        warnings: u.warnings,
    })
}

fn link(u: &Unpacker<'_>, existing: &str, path: &str) -> Result<(), UnpackError> {
    u.mkparent(path)?;
    u.root
        .hardlink(existing, path)
        .map_err(u.fs("hardlink", path))
}

fn drain(r: &mut impl Read) -> io::Result<()> {
    io::copy(r, &mut io::sink()).map(|_| ())
}

/// rpm's `rpmfilesCompare` for two packages' entries at one path: what differs, if anything.
pub(crate) fn differs(
    a: &FileInfo,
    a_algo: u32,
    b: &FileInfo,
    b_algo: u32,
) -> Option<&'static str> {
    if a.flags & RPMFILE_GHOST != 0 || b.flags & RPMFILE_GHOST != 0 {
        return None;
    }
    let (at, bt) = (a.mode & S_IFMT, b.mode & S_IFMT);
    if at != bt {
        return Some("different file types");
    }
    if at != S_IFLNK && a.mode != b.mode {
        return Some("different modes");
    }
    if (at == S_IFLNK || at == S_IFREG) && a.size != b.size {
        return Some("different sizes");
    }
    if a.user != b.user {
        return Some("different owners");
    }
    if a.group != b.group {
        return Some("different groups");
    }
    if at == S_IFLNK && a.linkto != b.linkto {
        return Some("different symlink targets");
    }
    if at == S_IFREG && (a_algo != b_algo || a.digest != b.digest) {
        return Some("different contents");
    }
    None
}

/// Which files each package of a transaction (in order) leaves to an earlier one, as rpm 4.18
/// decides (`handleOverlappedFiles`): a path that several packages ship identically (a
/// conflict otherwise) is written by the first, skipped by the next, written again by the one
/// after, and so on, each looking only at the package before it (measured: with four
/// packages the third one's copy, its mtime, is what remains). Directories take part too: a
/// skipped one keeps the writer's metadata (only the mtime can differ; the rest must agree,
/// or they conflict). A `%ghost` counts as a skipped entry (measured: a real copy, a ghost,
/// a real copy: the third is written). Files of two colours (ELF32 and ELF64) at one path
/// are not a conflict when `prefer_color` is set (rpm's `%_prefer_color`, 2 on 64-bit
/// arches; 0: colours ignored): the preferred one is written.
///
/// Deciding this up front makes packages unpacked side by side give the serial result: of two
/// neighbours only one writes each shared path, so a hardlink set is never half replaced by
/// another package's copy; a package that writes a file again ([`Sharing::rewrites`]) must
/// not be unpacked beside the earlier writer, and a directory set again
/// ([`Sharing::dir_rewrites`]) needs its mtime set again once such a run is done.
pub fn shared_files(pkgs: &[&RpmFile], opts: &UnpackOptions, prefer_color: u32) -> Vec<Sharing> {
    struct Last {
        /// Package and header index of the last package's entry.
        pkg: usize,
        idx: u32,
        /// Whether that entry is written.
        writes: bool,
        /// How many packages' entries are written so far.
        writers: u32,
    }
    let mut last_at: HashMap<&str, Last> = HashMap::new();
    let mut out: Vec<Sharing> = vec![Sharing::default(); pkgs.len()];
    for (p, rpm) in pkgs.iter().enumerate() {
        let files = &rpm.info.files;
        // Without exclusions every non-ghost file is written: no plan to make.
        let excluding = opts.exclude_docs || opts.inst_langs.is_some();
        let actions = excluding.then(|| plan(files, opts));
        for (i, f) in files.iter().enumerate() {
            let i = i as u32;
            let dir = f.mode & S_IFMT == S_IFDIR;
            // A %ghost takes part as an entry that is not written.
            let mut writes = f.flags & RPMFILE_GHOST == 0
                && actions
                    .as_ref()
                    .is_none_or(|a| a[i as usize] == Action::Create);
            let Some(last) = last_at.get_mut(f.path.as_str()) else {
                last_at.insert(
                    &f.path,
                    Last {
                        pkg: p,
                        idx: i,
                        writes,
                        writers: u32::from(writes),
                    },
                );
                continue;
            };
            let other = &pkgs[last.pkg].info.files[last.idx as usize];
            let colored = prefer_color != 0
                && f.color != 0
                && other.color != 0
                && f.color != other.color
                && differs(other, 0, f, 0).is_some();
            if colored {
                // An ELF32 and an ELF64 file: the preferred colour's is written, the other
                // recorded as "wrong color", whichever comes first.
                if f.color & prefer_color != 0 {
                    if writes && last.writes {
                        out[last.pkg].wrong_color.push(last.idx);
                        last.writes = false;
                        last.writers -= 1;
                    }
                } else if other.color & prefer_color != 0 {
                    if writes {
                        out[p].wrong_color.push(i);
                    }
                    writes = false;
                }
            } else if last.writes {
                // Identical (anything else is a conflict, refused before): left to the
                // package before.
                if writes {
                    out[p].skip.push(i);
                }
                writes = false;
            }
            if writes && last.writers > 0 {
                if dir {
                    out[p].dir_rewrites.push(i);
                } else {
                    out[p].rewrites = true;
                }
            }
            *last = Last {
                pkg: p,
                idx: i,
                writes,
                writers: last.writers + u32::from(writes),
            };
        }
    }
    for s in &mut out {
        s.wrong_color.sort_unstable();
    }
    out
}

/// One package's part in the transaction's shared files (see [`shared_files`]).
#[derive(Debug, Clone, Default)]
pub struct Sharing {
    /// Header indexes of the files an earlier package writes (for [`unpack_sharing`]).
    pub skip: Vec<u32>,
    /// Whether the package writes a file (not a directory) that an earlier package wrote too.
    pub rewrites: bool,
    /// Header indexes of directories it sets that an earlier package set too (sorted).
    pub dir_rewrites: Vec<u32>,
    /// Header indexes of files of the colour not preferred where a file of the preferred one
    /// (ELF64 on x86_64) shares the path: not written, recorded as `RPMFILE_STATE_WRONGCOLOR`.
    pub wrong_color: Vec<u32>,
}

/// The symlinks of packages unpacked side by side (a run), to tell whether a next package can
/// join the run: one whose paths lie beneath such a symlink (usrmove's `/bin -> usr/bin`)
/// resolves them through it, so it must wait until the link and its target are on disk, as
/// in rpm's serial unpack.
#[derive(Debug, Default)]
pub struct RunLinks {
    links: HashSet<String>,
}

impl RunLinks {
    /// Whether a path of `rpm` lies beneath one of the run's symlinks.
    pub fn reaches(&self, rpm: &RpmFile) -> bool {
        if self.links.is_empty() {
            return false;
        }
        let mut seen: HashSet<&str> = HashSet::new();
        for f in &rpm.info.files {
            let mut dir = parent_of(&f.path);
            while dir != "/" && seen.insert(dir) {
                if self.links.contains(dir) {
                    return true;
                }
                dir = parent_of(dir);
            }
        }
        false
    }

    /// Adds `rpm`'s symlinks to the run.
    pub fn add(&mut self, rpm: &RpmFile) {
        for f in &rpm.info.files {
            if f.mode & S_IFMT == S_IFLNK && f.flags & RPMFILE_GHOST == 0 {
                self.links.insert(f.path.clone());
            }
        }
    }
}

/// File conflicts between packages about to be installed together: one path, both
/// non-`%ghost`, and different as rpm compares them (type, mode, size, owner, symlink target,
/// digest). Identical shared files and identical directories are fine. Multilib colors are
/// honoured only as "an ELF32 and an ELF64 file never conflict" (rpm then prefers ELF64).
pub fn check_conflicts(pkgs: &[&RpmFile]) -> Result<(), UnpackError> {
    let mut owners: HashMap<&str, (usize, usize)> = HashMap::new();
    for (p, rpm) in pkgs.iter().enumerate() {
        for (i, f) in rpm.info.files.iter().enumerate() {
            if f.flags & RPMFILE_GHOST != 0 {
                continue;
            }
            match owners.get(f.path.as_str()) {
                None => {
                    owners.insert(&f.path, (p, i));
                }
                Some(&(op, oi)) => {
                    let other = &pkgs[op].info.files[oi];
                    if other.color != 0 && f.color != 0 && other.color != f.color {
                        continue;
                    }
                    if let Some(reason) =
                        differs(other, pkgs[op].info.digest_algo, f, rpm.info.digest_algo)
                    {
                        return Err(UnpackError::Conflict {
                            path: f.path.clone(),
                            a: pkgs[op].nevra(),
                            b: rpm.nevra(),
                            reason,
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, mode: u32, flags: u32, lang: &str) -> FileInfo {
        FileInfo {
            path: path.into(),
            mode,
            flags,
            lang: lang.into(),
            ..FileInfo::default()
        }
    }

    #[test]
    fn plan_skips_like_rpm() {
        let files = vec![
            file("/usr/share/doc/p", 0o40755, 0, ""),
            file("/usr/share/doc/p/README", 0o100644, RPMFILE_DOC, ""),
            file("/usr/share/locale/de/x.mo", 0o100644, 0, "de"),
            file("/usr/share/locale/fr/x.mo", 0o100644, 0, "fr"),
            file("/var/log/p.log", 0o100644, RPMFILE_GHOST, ""),
            file("/usr/bin/p", 0o100755, 0, ""),
        ];
        let opts = UnpackOptions {
            exclude_docs: true,
            inst_langs: Some(vec!["fr_FR".into()]),
            verify_file_digests: false,
        };
        let a = plan(&files, &opts);
        assert_eq!(
            a,
            vec![
                Action::Skip,
                Action::Skip,
                Action::Skip,
                Action::Create,
                Action::Ghost,
                Action::Create
            ]
        );
        let a = plan(&files, &UnpackOptions::default());
        assert_eq!(a.iter().filter(|&&x| x == Action::Skip).count(), 0);
    }

    fn pkg(files: Vec<FileInfo>) -> RpmFile {
        RpmFile {
            path: std::path::PathBuf::from("/nonexistent.rpm"),
            sig_blob: Vec::new(),
            hdr_blob: Vec::new(),
            payload_offset: 0,
            info: crate::rpmfile::header::PackageInfo {
                files,
                ..Default::default()
            },
        }
    }

    fn colored(path: &str, color: u32, digest: &str) -> FileInfo {
        FileInfo {
            color,
            digest: digest.into(),
            size: 9,
            ..file(path, 0o100755, 0, "")
        }
    }

    // The expected decisions are rpm 4.18's, measured with the fidelity sets kf-unpack-shared,
    // kf-unpack-ghostshare and kf-unpack-color(-pre) (tests/install_fidelity.rs).
    #[test]
    fn shared_paths_alternate_as_in_rpm() {
        let f = || file("/usr/share/x", 0o100644, 0, "");
        let d = || file("/usr/share", 0o40755, 0, "");
        let pkgs: Vec<RpmFile> = (0..4).map(|_| pkg(vec![d(), f()])).collect();
        let refs: Vec<&RpmFile> = pkgs.iter().collect();
        let s = shared_files(&refs, &UnpackOptions::default(), 2);
        let skips: Vec<&[u32]> = s.iter().map(|x| x.skip.as_slice()).collect();
        assert_eq!(skips, [&[][..], &[0, 1], &[], &[0, 1]]);
        assert_eq!(
            s.iter().map(|x| x.rewrites).collect::<Vec<_>>(),
            [false, false, true, false]
        );
        assert_eq!(s[2].dir_rewrites, [0]);
        // A ghost between two real copies counts as skipped: the third copy is written.
        let ghost = file("/usr/share/x", 0o100644, RPMFILE_GHOST, "");
        let pkgs = [pkg(vec![f()]), pkg(vec![ghost]), pkg(vec![f()])];
        let refs: Vec<&RpmFile> = pkgs.iter().collect();
        let s = shared_files(&refs, &UnpackOptions::default(), 2);
        assert!(s.iter().all(|x| x.skip.is_empty()));
        assert!(s[2].rewrites);
    }

    #[test]
    fn preferred_color_wins_either_way() {
        let elf64 = || pkg(vec![colored("/usr/bin/x", 2, "aa")]);
        let elf32 = || pkg(vec![colored("/usr/bin/x", 1, "bb")]);
        for (pkgs, loser) in [([elf64(), elf32()], 1), ([elf32(), elf64()], 0)] {
            let refs: Vec<&RpmFile> = pkgs.iter().collect();
            let s = shared_files(&refs, &UnpackOptions::default(), 2);
            assert_eq!(s[loser].wrong_color, [0]);
            assert!(s[1 - loser].wrong_color.is_empty());
            assert!(s.iter().all(|x| x.skip.is_empty() && !x.rewrites));
        }
    }

    #[test]
    fn run_links_catch_paths_beneath_them() {
        let mut link = file("/bin", 0o120777, 0, "");
        link.linkto = "usr/bin".into();
        let mut run = RunLinks::default();
        let beneath = pkg(vec![file("/bin/sh", 0o100755, 0, "")]);
        let beside = pkg(vec![file("/usr/bin/sh", 0o100755, 0, "")]);
        assert!(!run.reaches(&beneath));
        run.add(&pkg(vec![link]));
        assert!(run.reaches(&beneath));
        assert!(!run.reaches(&beside));
    }

    #[test]
    fn unsafe_paths() {
        assert!(path_problem("/usr/bin/x").is_none());
        assert!(path_problem("/").is_none());
        assert!(path_problem("/usr/../etc").is_some());
        assert!(path_problem("usr/bin").is_some());
        assert!(path_problem("/usr//bin").is_some());
        assert!(path_problem("/./x").is_some());
    }

    #[test]
    fn owners_follow_the_root_tables() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        let root = Root::open(dir.path()).unwrap();
        let owners = Owners::new(&root).unwrap();
        assert_eq!(owners.uid("root"), Some(0));
        assert_eq!(owners.uid("dbus"), None);
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\ndbus:x:81:81::/:/sbin/nologin\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\ndbus:x:82:\n").unwrap();
        owners.refresh();
        assert_eq!(owners.uid("dbus"), Some(81));
        assert_eq!(owners.gid("dbus"), Some(82));
        // A later change (same size, new content) is picked up too.
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\ndbus:x:83:\n").unwrap();
        owners.refresh();
        assert_eq!(owners.gid("dbus"), Some(83));
    }
}
