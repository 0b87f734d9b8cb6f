//! The rpmdb writer: the sqlite database (`rpmdb.sqlite`, rpm >= 4.16) that rpm reads back as if
//! it had installed the packages itself.
//!
//! What rpm does at install, and what this module reproduces byte for byte:
//! - the stored header is the package's main header with its immutable region untouched, plus
//!   "dribble" entries appended after it: the signature tags merged in (legacy numbers remapped,
//!   e.g. `SIZE` -> `SIGSIZE`, `MD5` -> `SIGMD5`, `PAYLOADSIZE` -> `ARCHIVESIZE`), `INSTPREFIXES`
//!   for relocatable packages, `FILESTATES`, `INSTALLTID`, `INSTALLTIME`, `INSTALLCOLOR`; the
//!   appended entries are sorted by tag and their data aligned as rpm's `headerExport` does;
//! - the `Packages` table plus one table per index (`Name`, `Basenames`, ...), with rpm's schema,
//!   keys (`Requirename` skips install-only prerequisites and indexes the simple names inside rich
//!   dependencies, `Triggername` skips repeats, file trigger rows carry the trigger index, ...);
//! - WAL journal mode, a checkpointed empty `-wal` and the `-shm` left in place (rpm keeps them so
//!   unprivileged readers can open the database), mode 0644, and rpm's `.rpm.lock`.

use std::collections::BTreeMap;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{openat, renameat, statat, unlinkat, AtFlags, Mode, OFlags};

use super::relocate::HeaderRelocation;
use super::rootfs::Root;
use crate::error::IoError;
use crate::rpmfile::macros::read_macro_file;
use crate::rpmfile::{HeaderError, RpmFile, RpmFileError};

use crate::rpmfile::tags::{
    RPMSENSE_KEYRING, RPMSENSE_POSTTRANS, RPMSENSE_PRETRANS, RPMSENSE_RPMLIB, RPMSENSE_SCRIPT_POST,
    RPMSENSE_SCRIPT_POSTUN, RPMSENSE_SCRIPT_PRE, RPMSENSE_SCRIPT_PREUN, SIGBASE,
    SIGTAG_FILESIGNATURELENGTH, SIGTAG_FILESIGNATURES, SIGTAG_GPG, SIGTAG_MD5, SIGTAG_PAYLOADSIZE,
    SIGTAG_PGP, SIGTAG_PGP5, SIGTAG_SIZE, TAGBASE, TAG_ARCH, TAG_ARCHIVESIZE, TAG_BASENAMES,
    TAG_CONFLICTNAME, TAG_DIRINDEXES, TAG_DIRNAMES, TAG_ENHANCENAME, TAG_EPOCH,
    TAG_FILESIGNATURELENGTH, TAG_FILESIGNATURES, TAG_FILESTATES, TAG_FILETRIGGERINDEX,
    TAG_FILETRIGGERNAME, TAG_GROUP, TAG_HEADERIMAGE, TAG_HEADERIMMUTABLE, TAG_HEADERREGIONS,
    TAG_INSTALLCOLOR, TAG_INSTALLTID, TAG_INSTALLTIME, TAG_INSTPREFIXES, TAG_NAME,
    TAG_OBSOLETENAME, TAG_OLDFILENAMES, TAG_ORIGBASENAMES, TAG_ORIGDIRINDEXES, TAG_ORIGDIRNAMES,
    TAG_PREFIXES, TAG_PROVIDENAME, TAG_RECOMMENDNAME, TAG_RELEASE, TAG_REQUIREFLAGS,
    TAG_REQUIRENAME, TAG_SHA1HEADER, TAG_SIGGPG, TAG_SIGMD5, TAG_SIGPGP, TAG_SIGPGP5, TAG_SIGSIZE,
    TAG_SUGGESTNAME, TAG_SUPPLEMENTNAME, TAG_TRANSFILETRIGGERINDEX, TAG_TRANSFILETRIGGERNAME,
    TAG_TRIGGERNAME, TAG_VERSION, TYPE_BIN, TYPE_CHAR, TYPE_I18NSTRING, TYPE_INT16, TYPE_INT32,
    TYPE_INT64, TYPE_INT8, TYPE_NULL, TYPE_STRING, TYPE_STRING_ARRAY,
};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};
use tracing::debug;

/// A failure writing the rpmdb.
#[derive(Debug, thiserror::Error)]
pub enum RpmDbError {
    /// A file-system call on the database or its directory failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// An sqlite failure on the database.
    #[error("rpmdb `{path}`: failed to {action}")]
    Sqlite {
        /// What was being done.
        action: String,
        /// The database file.
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    /// A header blob rpm would not accept (or that this writer cannot store as rpm would).
    #[error("bad {which} header of {package}: {reason}")]
    BadHeader {
        /// `signature` or `main`.
        which: &'static str,
        /// The package (NEVRA when known).
        package: String,
        /// What is wrong.
        reason: HeaderError,
    },
    /// The install facts do not fit the header.
    #[error("{package}: {reason}")]
    BadInstallInfo {
        /// The package.
        package: String,
        /// What is wrong.
        reason: String,
    },
}

/// Install-time facts rpm records in each stored header.
#[derive(Debug, Clone, Default)]
pub struct InstallInfo {
    /// `INSTALLTIME` (seconds since the epoch).
    pub install_time: u32,
    /// `INSTALLTID`: the transaction id (rpm uses the transaction's start time).
    pub install_tid: u32,
    /// `INSTALLCOLOR`: the transaction color (3 on x86_64/aarch64 multilib-capable hosts, 0 else).
    pub install_color: u32,
    /// One `RPMFILE_STATE_*` per file, in header order.
    pub file_states: Vec<u8>,
    /// `--prefix`/`--relocate`: the prefixes as installed and the moved file list.
    pub relocation: Option<HeaderRelocation>,
}

// Dependency flags deciding which requires go into the `Requirename` index.
const INSTALL_ONLY_MASK: u32 = RPMSENSE_SCRIPT_PRE
    | RPMSENSE_SCRIPT_POST
    | RPMSENSE_RPMLIB
    | RPMSENSE_KEYRING
    | RPMSENSE_PRETRANS
    | RPMSENSE_POSTTRANS;
const ERASE_ONLY_MASK: u32 = RPMSENSE_SCRIPT_PREUN | RPMSENSE_SCRIPT_POSTUN;

/// The sqlite file rpm's `sqlite` backend uses inside `%_dbpath`.
pub const DB_FILE: &str = "rpmdb.sqlite";
/// The transaction lock file rpm creates beside it (`%_rpmlock_path`).
pub const LOCK_FILE: &str = ".rpm.lock";
/// `%_dbpath` when the target has no rpm configuration of its own.
pub const DEFAULT_DBPATH: &str = "/usr/lib/sysimage/rpm";

/// One index table: its name, the tag whose values are its keys, whether keys are text (string
/// class tags) and whether it gets a `hnum` index (array tags), as rpm's `init_index` decides.
struct IndexDef {
    table: &'static str,
    tag: u32,
    text: bool,
    array: bool,
}

/// rpm's `dbiTags` order (the order tables are created and rows inserted).
const INDEXES: &[IndexDef] = &[
    IndexDef {
        table: "Name",
        tag: TAG_NAME,
        text: true,
        array: false,
    },
    IndexDef {
        table: "Basenames",
        tag: TAG_BASENAMES,
        text: true,
        array: true,
    },
    IndexDef {
        table: "Group",
        tag: TAG_GROUP,
        text: true,
        array: false,
    },
    IndexDef {
        table: "Requirename",
        tag: TAG_REQUIRENAME,
        text: true,
        array: true,
    },
    IndexDef {
        table: "Providename",
        tag: TAG_PROVIDENAME,
        text: true,
        array: true,
    },
    IndexDef {
        table: "Conflictname",
        tag: TAG_CONFLICTNAME,
        text: true,
        array: true,
    },
    IndexDef {
        table: "Obsoletename",
        tag: TAG_OBSOLETENAME,
        text: true,
        array: true,
    },
    IndexDef {
        table: "Triggername",
        tag: TAG_TRIGGERNAME,
        text: true,
        array: true,
    },
    IndexDef {
        table: "Dirnames",
        tag: TAG_DIRNAMES,
        text: true,
        array: true,
    },
    IndexDef {
        table: "Installtid",
        tag: TAG_INSTALLTID,
        text: false,
        array: false,
    },
    IndexDef {
        table: "Sigmd5",
        tag: TAG_SIGMD5,
        text: false,
        array: false,
    },
    IndexDef {
        table: "Sha1header",
        tag: TAG_SHA1HEADER,
        text: true,
        array: false,
    },
    IndexDef {
        table: "Filetriggername",
        tag: TAG_FILETRIGGERNAME,
        text: true,
        array: true,
    },
    IndexDef {
        table: "Transfiletriggername",
        tag: TAG_TRANSFILETRIGGERNAME,
        text: true,
        array: true,
    },
    IndexDef {
        table: "Recommendname",
        tag: TAG_RECOMMENDNAME,
        text: true,
        array: true,
    },
    IndexDef {
        table: "Suggestname",
        tag: TAG_SUGGESTNAME,
        text: true,
        array: true,
    },
    IndexDef {
        table: "Supplementname",
        tag: TAG_SUPPLEMENTNAME,
        text: true,
        array: true,
    },
    IndexDef {
        table: "Enhancename",
        tag: TAG_ENHANCENAME,
        text: true,
        array: true,
    },
];

/// The statements rpm runs to create the schema, in its order.
pub fn schema_statements() -> Vec<String> {
    let mut v = vec![
        "CREATE TABLE IF NOT EXISTS 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)"
            .to_string(),
    ];
    for ix in INDEXES {
        let keytype = if ix.text { "TEXT" } else { "BLOB" };
        v.push(format!(
            "CREATE TABLE IF NOT EXISTS '{t}' (key '{keytype}' NOT NULL, hnum INTEGER NOT NULL, \
             idx INTEGER NOT NULL, FOREIGN KEY (hnum) REFERENCES 'Packages'(hnum))",
            t = ix.table
        ));
        if ix.text {
            v.push(format!(
                "CREATE INDEX IF NOT EXISTS '{t}_key_idx' ON '{t}'(key ASC)",
                t = ix.table
            ));
        }
        if ix.array {
            v.push(format!(
                "CREATE INDEX IF NOT EXISTS '{t}_hnum_idx' ON '{t}'(hnum ASC)",
                t = ix.table
            ));
        }
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Header blobs.

/// One index entry of a header blob, with its data.
#[derive(Debug, Clone, Copy)]
struct Entry<'a> {
    tag: u32,
    ty: u32,
    offset: i32,
    count: u32,
    data: &'a [u8],
}

/// A header blob as stored (`il`, `dl`, index, data), its entries resolved.
#[derive(Debug)]
struct Blob<'a> {
    raw: &'a [u8],
    il: usize,
    dl: usize,
    entries: Vec<Entry<'a>>,
}

fn type_size(ty: u32) -> usize {
    match ty {
        TYPE_CHAR | TYPE_INT8 | TYPE_BIN => 1,
        TYPE_INT16 => 2,
        TYPE_INT32 => 4,
        TYPE_INT64 => 8,
        _ => 0,
    }
}

/// Padding rpm inserts before data of `ty` at offset `at` (natural alignment of the integers).
fn align_diff(ty: u32, at: usize) -> usize {
    let sz = type_size(ty);
    if sz > 1 && ty != TYPE_BIN {
        (sz - at % sz) % sz
    } else {
        0
    }
}

/// The byte length of an entry's data starting at `data` (rpm's `dataLength` on disk data).
fn data_length(ty: u32, count: u32, data: &[u8]) -> Option<usize> {
    match ty {
        TYPE_STRING => {
            if count != 1 {
                return None;
            }
            data.iter().position(|&b| b == 0).map(|p| p + 1)
        }
        TYPE_STRING_ARRAY | TYPE_I18NSTRING => {
            let mut at = 0usize;
            for _ in 0..count {
                let p = data.get(at..)?.iter().position(|&b| b == 0)?;
                at += p + 1;
            }
            Some(at)
        }
        TYPE_CHAR | TYPE_INT8 | TYPE_INT16 | TYPE_INT32 | TYPE_INT64 | TYPE_BIN => {
            let len = type_size(ty).checked_mul(count as usize)?;
            (len <= data.len()).then_some(len)
        }
        _ => None,
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> Blob<'a> {
    /// Parse and bounds-check a blob (the checks of rpm's `hdrblobInit`/`hdrblobVerifyInfo`
    /// that matter for reading it).
    fn parse(raw: &'a [u8]) -> Result<Blob<'a>, HeaderError> {
        if raw.len() < 8 {
            return Err("shorter than its 8-byte intro".into());
        }
        let il = be32(raw, 0) as usize;
        let dl = be32(raw, 4) as usize;
        if il == 0 || il > 0xffff || dl > 0x0fff_ffff {
            return Err(format!("implausible index length {il} or data length {dl}").into());
        }
        let data_start = 8 + 16 * il;
        if raw.len() < data_start + dl {
            return Err(format!(
                "blob of {} bytes is shorter than its {il} entries and {dl} data bytes",
                raw.len()
            )
            .into());
        }
        let ds = &raw[data_start..data_start + dl];
        let mut entries = Vec::with_capacity(il);
        for i in 0..il {
            let at = 8 + 16 * i;
            let tag = be32(raw, at);
            let ty = be32(raw, at + 4);
            let offset = be32(raw, at + 8) as i32;
            let count = be32(raw, at + 12);
            if !(TYPE_NULL + 1..=TYPE_I18NSTRING).contains(&ty) {
                return Err(format!("tag {tag} has bad type {ty}").into());
            }
            if offset < 0 || offset as usize > dl || count == 0 {
                return Err(format!("tag {tag}: bad offset {offset} or count {count}").into());
            }
            let off = offset as usize;
            if align_diff(ty, off) != 0 {
                return Err(format!("tag {tag}: misaligned offset {off}").into());
            }
            let len = data_length(ty, count, &ds[off..])
                .ok_or_else(|| format!("tag {tag}: data does not fit"))?;
            entries.push(Entry {
                tag,
                ty,
                offset,
                count,
                data: &ds[off..off + len],
            });
        }
        Ok(Blob {
            raw,
            il,
            dl,
            entries,
        })
    }

    fn data(&self) -> &'a [u8] {
        let s = 8 + 16 * self.il;
        &self.raw[s..s + self.dl]
    }

    fn index_bytes(&self, from: usize, to: usize) -> &'a [u8] {
        &self.raw[8 + 16 * from..8 + 16 * to]
    }

    /// The entry of `tag`; one appended after the region replaces the region's (rpm's import).
    fn get(&self, tag: u32) -> Option<&Entry<'a>> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.tag == tag && !(TAG_HEADERIMAGE..TAG_HEADERREGIONS).contains(&e.tag))
    }

    fn has(&self, tag: u32) -> bool {
        self.get(tag).is_some()
    }

    /// Strings of a string, string array or i18n string entry (for i18n, every translation).
    fn strings(&self, tag: u32) -> Vec<&'a [u8]> {
        match self.get(tag) {
            Some(e) if matches!(e.ty, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) => {
                e.data.split(|&b| b == 0).take(e.count as usize).collect()
            }
            _ => Vec::new(),
        }
    }

    fn u32s(&self, tag: u32) -> Vec<u32> {
        match self.get(tag) {
            Some(e) if e.ty == TYPE_INT32 => e.data.chunks_exact(4).map(|c| be32(c, 0)).collect(),
            _ => Vec::new(),
        }
    }

    fn nevra(&self) -> String {
        let s = |t| {
            self.strings(t)
                .first()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let epoch = self
            .u32s(TAG_EPOCH)
            .first()
            .map(|e| format!("{e}:"))
            .unwrap_or_default();
        format!(
            "{}-{epoch}{}-{}.{}",
            s(TAG_NAME),
            s(TAG_VERSION),
            s(TAG_RELEASE),
            s(TAG_ARCH)
        )
    }
}

/// An entry added at install time (a "dribble" after the immutable region).
struct Added {
    tag: u32,
    ty: u32,
    count: u32,
    data: Vec<u8>,
}

fn string_array(tag: u32, v: &[&str]) -> Added {
    let mut data = Vec::new();
    for s in v {
        data.extend_from_slice(s.as_bytes());
        data.push(0);
    }
    Added {
        tag,
        ty: TYPE_STRING_ARRAY,
        count: v.len() as u32,
        data,
    }
}

/// The header rpm stores in `Packages` for a package with these signature and main header blobs
/// (both as in the .rpm, without the 8-byte magic): the main header's immutable region kept
/// intact, then the merged signature tags and the install-time tags.
pub fn db_header_blob(
    sig_blob: &[u8],
    hdr_blob: &[u8],
    info: &InstallInfo,
) -> Result<Vec<u8>, RpmDbError> {
    let main = Blob::parse(hdr_blob).map_err(|reason| RpmDbError::BadHeader {
        which: "main",
        package: "package".into(),
        reason,
    })?;
    let package = main.nevra();
    let bad = |which, reason: String| RpmDbError::BadHeader {
        which,
        package: package.clone(),
        reason: reason.into(),
    };
    let sig = Blob::parse(sig_blob).map_err(|r| bad("signature", r.0))?;

    // The main header must be one sealed immutable region with nothing outside it (what rpmbuild
    // writes); legacy v3 headers and headers carrying dribbles would need rpm's conversions.
    let region = main.entries[0];
    if region.tag != TAG_HEADERIMMUTABLE || region.ty != TYPE_BIN || region.count != 16 {
        return Err(bad(
            "main",
            "does not start with an immutable region".into(),
        ));
    }
    let trailer_at = region.offset as usize;
    if trailer_at + 16 != main.dl {
        return Err(bad("main", "has data after its immutable region".into()));
    }
    let trailer = &main.data()[trailer_at..trailer_at + 16];
    let roff = be32(trailer, 8) as i32;
    if be32(trailer, 0) != TAG_HEADERIMMUTABLE || roff >= 0 || (-(roff as i64)) % 16 != 0 {
        return Err(bad("main", "bad immutable region trailer".into()));
    }
    let ril = (-(roff as i64) / 16) as usize;
    if ril != main.il {
        return Err(bad(
            "main",
            format!(
                "has {} entries outside its immutable region",
                main.il as i64 - ril as i64
            ),
        ));
    }
    if main.has(TAG_OLDFILENAMES) && !main.has(TAG_BASENAMES) {
        return Err(bad("main", "uses the legacy uncompressed file list".into()));
    }
    for t in [
        TAG_INSTALLTIME,
        TAG_INSTALLTID,
        TAG_INSTALLCOLOR,
        TAG_FILESTATES,
    ] {
        if main.has(t) {
            return Err(bad("main", format!("already carries install-time tag {t}")));
        }
    }

    let mut added: BTreeMap<u32, Added> = BTreeMap::new();
    let present = |added: &BTreeMap<u32, Added>, tag| main.has(tag) || added.contains_key(&tag);

    // Signature tags, as rpm's headerMergeLegacySigs: iterate in tag order, renumber the legacy
    // ones, keep the rest of the signature range, skip what the main header already has and
    // what rpm refuses (arrays of integers, huge blobs, i18n strings).
    let mut sig_entries: Vec<&Entry<'_>> = sig
        .entries
        .iter()
        .filter(|e| !(TAG_HEADERIMAGE..TAG_HEADERREGIONS).contains(&e.tag))
        .collect();
    sig_entries.sort_by_key(|e| e.tag);
    for e in sig_entries {
        let tag = match e.tag {
            SIGTAG_SIZE => TAG_SIGSIZE,
            SIGTAG_PGP => TAG_SIGPGP,
            SIGTAG_MD5 => TAG_SIGMD5,
            SIGTAG_GPG => TAG_SIGGPG,
            SIGTAG_PGP5 => TAG_SIGPGP5,
            SIGTAG_PAYLOADSIZE => TAG_ARCHIVESIZE,
            SIGTAG_FILESIGNATURES => TAG_FILESIGNATURES,
            SIGTAG_FILESIGNATURELENGTH => TAG_FILESIGNATURELENGTH,
            t if (SIGBASE..TAGBASE).contains(&t) => t,
            _ => continue,
        };
        if present(&added, tag) {
            continue;
        }
        let keep = match e.ty {
            TYPE_CHAR | TYPE_INT8 | TYPE_INT16 | TYPE_INT32 | TYPE_INT64 => e.count == 1,
            TYPE_STRING | TYPE_STRING_ARRAY | TYPE_BIN => e.count < 16 * 1024,
            _ => false,
        };
        if keep {
            added.insert(
                tag,
                Added {
                    tag,
                    ty: e.ty,
                    count: e.count,
                    data: e.data.to_vec(),
                },
            );
        }
    }

    // Relocated packages: where each prefix went, and (when paths moved) the original file
    // list kept under ORIG* while the new one replaces it. rpm modifies the header in memory;
    // its export keeps the immutable region as it was and appends the new entries, which
    // replace the region's when the header is read back.
    if let Some(r) = &info.relocation {
        if !r.inst_prefixes.is_empty() {
            let v: Vec<&str> = r.inst_prefixes.iter().map(String::as_str).collect();
            added.insert(TAG_INSTPREFIXES, string_array(TAG_INSTPREFIXES, &v));
        }
        if let Some(f) = &r.files {
            for (from, to) in [
                (TAG_BASENAMES, TAG_ORIGBASENAMES),
                (TAG_DIRNAMES, TAG_ORIGDIRNAMES),
                (TAG_DIRINDEXES, TAG_ORIGDIRINDEXES),
            ] {
                let e = main
                    .get(from)
                    .ok_or_else(|| bad("main", format!("relocated, but has no tag {from}")))?;
                added.insert(
                    to,
                    Added {
                        tag: to,
                        ty: e.ty,
                        count: e.count,
                        data: e.data.to_vec(),
                    },
                );
            }
            let b: Vec<&str> = f.basenames.iter().map(String::as_str).collect();
            let d: Vec<&str> = f.dirnames.iter().map(String::as_str).collect();
            added.insert(TAG_BASENAMES, string_array(TAG_BASENAMES, &b));
            added.insert(TAG_DIRNAMES, string_array(TAG_DIRNAMES, &d));
            added.insert(
                TAG_DIRINDEXES,
                Added {
                    tag: TAG_DIRINDEXES,
                    ty: TYPE_INT32,
                    count: f.dirindexes.len() as u32,
                    data: f.dirindexes.iter().flat_map(|v| v.to_be_bytes()).collect(),
                },
            );
        }
    }
    // Relocatable packages get their prefixes recorded as installed (no relocation applied).
    if let Some(p) = main.get(TAG_PREFIXES) {
        if !present(&added, TAG_INSTPREFIXES) {
            added.insert(
                TAG_INSTPREFIXES,
                Added {
                    tag: TAG_INSTPREFIXES,
                    ty: p.ty,
                    count: p.count,
                    data: p.data.to_vec(),
                },
            );
        }
    }

    let nfiles = main
        .get(TAG_BASENAMES)
        .map(|e| e.count as usize)
        .unwrap_or(0);
    if info.file_states.len() != nfiles {
        return Err(RpmDbError::BadInstallInfo {
            package,
            reason: format!(
                "{} file states given for {nfiles} files",
                info.file_states.len()
            ),
        });
    }
    if nfiles > 0 {
        added.insert(
            TAG_FILESTATES,
            Added {
                tag: TAG_FILESTATES,
                ty: TYPE_CHAR,
                count: nfiles as u32,
                data: info.file_states.clone(),
            },
        );
    }
    for (tag, v) in [
        (TAG_INSTALLTID, info.install_tid),
        (TAG_INSTALLTIME, info.install_time),
        (TAG_INSTALLCOLOR, info.install_color),
    ] {
        added.insert(
            tag,
            Added {
                tag,
                ty: TYPE_INT32,
                count: 1,
                data: v.to_be_bytes().to_vec(),
            },
        );
    }

    // Layout as headerExport: region index, added index (by tag), region data, added data each
    // aligned relative to the data start.
    let mut data = main.data().to_vec();
    let mut index = Vec::with_capacity(16 * added.len());
    for a in added.values() {
        let pad = align_diff(a.ty, data.len());
        data.resize(data.len() + pad, 0);
        index.extend_from_slice(&a.tag.to_be_bytes());
        index.extend_from_slice(&a.ty.to_be_bytes());
        index.extend_from_slice(&(data.len() as u32).to_be_bytes());
        index.extend_from_slice(&a.count.to_be_bytes());
        data.extend_from_slice(&a.data);
    }
    let il = main.il + added.len();
    let mut out = Vec::with_capacity(8 + 16 * il + data.len());
    out.extend_from_slice(&(il as u32).to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(main.index_bytes(0, main.il));
    out.extend_from_slice(&index);
    out.extend_from_slice(&data);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Index keys.

/// One row of an index table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRow {
    /// Table name.
    pub table: &'static str,
    /// Key bytes (text for string tags, binary otherwise).
    pub key: Vec<u8>,
    /// `idx`: the entry's position in its tag (the trigger index for file triggers).
    pub idx: u32,
}

/// The index rows rpm writes for a stored header blob (as made by [`db_header_blob`]), in the
/// order rpm inserts them.
pub fn index_rows(db_blob: &[u8]) -> Result<Vec<IndexRow>, RpmDbError> {
    let h = Blob::parse(db_blob).map_err(|reason| RpmDbError::BadHeader {
        which: "stored",
        package: "package".into(),
        reason,
    })?;
    let mut rows = Vec::new();
    for ix in INDEXES {
        index_rows_for(&h, ix, &mut rows);
    }
    Ok(rows)
}

fn index_rows_for(h: &Blob<'_>, ix: &IndexDef, rows: &mut Vec<IndexRow>) {
    let mut push = |key: &[u8], idx: u32| {
        rows.push(IndexRow {
            table: ix.table,
            key: key.to_vec(),
            idx,
        })
    };
    let Some(e) = h.get(ix.tag) else {
        // rpm indexes a missing Group as "Unknown".
        if ix.tag == TAG_GROUP {
            push(b"Unknown", 0);
        }
        return;
    };
    match e.ty {
        TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING => {}
        TYPE_BIN => {
            push(e.data, 0);
            return;
        }
        TYPE_INT32 => {
            // Integer keys are stored in host byte order, as rpm binds the raw value.
            for (i, c) in e.data.chunks_exact(4).enumerate() {
                push(&be32(c, 0).to_ne_bytes(), i as u32);
            }
            return;
        }
        _ => return,
    }
    let mut names = h.strings(ix.tag);
    if e.ty == TYPE_I18NSTRING || e.ty == TYPE_STRING {
        // One value: the untranslated (first) string of an i18n tag.
        names.truncate(1);
    }
    let reqflags = (ix.tag == TAG_REQUIRENAME).then(|| h.u32s(TAG_REQUIREFLAGS));
    let trig_index = match ix.tag {
        TAG_FILETRIGGERNAME => Some(h.u32s(TAG_FILETRIGGERINDEX)),
        TAG_TRANSFILETRIGGERNAME => Some(h.u32s(TAG_TRANSFILETRIGGERINDEX)),
        _ => None,
    };
    for (i, name) in names.iter().enumerate() {
        let idx = match &trig_index {
            Some(ti) => match ti.get(i) {
                Some(&v) => v,
                None => continue,
            },
            None => i as u32,
        };
        if let Some(flags) = &reqflags {
            // Install-only prerequisites (rpmlib(), %pre/%post/%pretrans/%posttrans-only) are
            // not recorded: nothing depends on them once installed.
            if let Some(&f) = flags.get(i) {
                if f & INSTALL_ONLY_MASK != 0 && f & ERASE_ONLY_MASK == 0 {
                    continue;
                }
            }
        }
        if ix.tag == TAG_TRIGGERNAME && names[..i].contains(name) {
            continue;
        }
        push(name, idx);
        let rich_tag = matches!(
            ix.tag,
            TAG_REQUIRENAME
                | TAG_CONFLICTNAME
                | TAG_SUGGESTNAME
                | TAG_SUPPLEMENTNAME
                | TAG_RECOMMENDNAME
                | TAG_ENHANCENAME
        );
        if rich_tag && e.ty == TYPE_STRING_ARRAY && name.first() == Some(&b'(') {
            for n in rich_dep_names(name) {
                push(&n, idx);
            }
        }
    }
}

/// The simple dependency names inside a rich dependency, as rpm indexes them: sorted, unique,
/// `rpmlib(` names left out, names in a negated context (the condition of `if`, the branch of
/// `unless`, ...) prefixed with `!`. Empty when the text does not parse.
pub fn rich_dep_names(dep: &[u8]) -> Vec<Vec<u8>> {
    let mut st = RichState {
        names: Vec::new(),
        neg: false,
        level_start: Vec::new(),
    };
    let mut p = 0usize;
    if rich_parse(dep, &mut p, &mut st).is_none() {
        return Vec::new();
    }
    let mut names = st.names;
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|mut n| {
            if n[0] == b' ' {
                n.remove(0);
            }
            n
        })
        .collect()
}

struct RichState {
    names: Vec<Vec<u8>>,
    neg: bool,
    level_start: Vec<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RichOp {
    Single,
    And,
    Or,
    If,
    Unless,
    Else,
    With,
    Without,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn at(s: &[u8], p: usize) -> u8 {
    s.get(p).copied().unwrap_or(0)
}

fn skip_white(s: &[u8], p: &mut usize) {
    while at(s, *p) != 0 && (is_space(at(s, *p)) || at(s, *p) == b',') {
        *p += 1;
    }
}

/// Advance over a token; parentheses inside it nest (`foo(x86-64)`).
fn skip_nonwhite(s: &[u8], p: &mut usize) {
    let mut depth = 0i32;
    loop {
        let c = at(s, *p);
        if c == 0 || is_space(c) || c == b',' {
            return;
        }
        if c == b')' {
            let d = depth;
            depth -= 1;
            if d <= 0 {
                return;
            }
        }
        *p += 1;
        if c == b'(' {
            depth += 1;
        }
    }
}

fn rich_parse(s: &[u8], p: &mut usize, st: &mut RichState) -> Option<()> {
    // Enter.
    st.level_start.push(st.names.len());
    if at(s, *p) != b'(' {
        return None;
    }
    *p += 1;
    let mut op = RichOp::Single;
    let mut chain: Option<RichOp> = None;
    loop {
        skip_white(s, p);
        if at(s, *p) == b')' {
            return None;
        }
        if at(s, *p) == b'(' {
            rich_parse(s, p, st)?;
        } else {
            // A simple dependency: name [op version].
            let n0 = *p;
            skip_nonwhite(s, p);
            let name = &s[n0..*p];
            if name.is_empty() {
                return None;
            }
            skip_white(s, p);
            if at(s, *p) != 0 {
                let mut pe = *p;
                skip_nonwhite(s, &mut pe);
                if matches!(
                    &s[*p..pe],
                    b"<=" | b"=<" | b"<" | b"==" | b"=" | b">=" | b"=>" | b">"
                ) {
                    *p = pe;
                    skip_white(s, p);
                    let e0 = *p;
                    skip_nonwhite(s, p);
                    if *p == e0 {
                        return None;
                    }
                }
            }
            if !(name.len() > 7 && name.starts_with(b"rpmlib(")) {
                let mut n = Vec::with_capacity(name.len() + 1);
                n.push(if st.neg { b'!' } else { b' ' });
                n.extend_from_slice(name);
                st.names.push(n);
            }
        }
        skip_white(s, p);
        match at(s, *p) {
            0 => return None,
            b')' => break,
            _ => {}
        }
        let o0 = *p;
        let mut pe = *p;
        while at(s, pe) != 0 && !is_space(at(s, pe)) && at(s, pe) != b')' {
            pe += 1;
        }
        op = match &s[o0..pe] {
            b"and" => RichOp::And,
            b"or" => RichOp::Or,
            b"if" => RichOp::If,
            b"unless" => RichOp::Unless,
            b"else" => RichOp::Else,
            b"with" => RichOp::With,
            b"without" => RichOp::Without,
            _ => return None,
        };
        if op == RichOp::Else && matches!(chain, Some(RichOp::If | RichOp::Unless)) {
            chain = None;
        }
        if let Some(c) = chain {
            if op != c || !matches!(op, RichOp::And | RichOp::Or | RichOp::With) {
                return None;
            }
        }
        // The op callback.
        match op {
            RichOp::If | RichOp::Unless => {
                if let Some(l) = st.level_start.last_mut() {
                    *l = st.names.len();
                }
                st.neg = !st.neg;
            }
            RichOp::Else => {
                let from = st.level_start.last().copied().unwrap_or(0);
                let to = st.names.len();
                for i in from..to {
                    let mut n = st.names[i].clone();
                    n[0] = if n[0] == b' ' { b'!' } else { b' ' };
                    st.names.push(n);
                }
                st.neg = !st.neg;
            }
            _ => {}
        }
        chain = Some(op);
        *p = pe;
    }
    *p += 1;
    // Leave.
    st.level_start.pop();
    if matches!(op, RichOp::If | RichOp::Unless) {
        st.neg = !st.neg;
    }
    Some(())
}

// ---------------------------------------------------------------------------------------------
// The database.

/// An rpmdb being written: one sqlite transaction from [`RpmDb::create`] (or
/// [`RpmDb::open_append`]) to [`RpmDb::finish`].
pub struct RpmDb {
    conn: Connection,
    /// The database directory, resolved beneath the root and held open: every file of the
    /// database is reached through it (sqlite by `/proc/self/fd/N/...`), so neither a symlink
    /// planted in the root nor one swapped in by a scriptlet can move the database to the host.
    dirfd: OwnedFd,
    /// The database file as the user knows it (root + dbpath), for messages.
    file: PathBuf,
    /// Packages added since the last commit.
    dirty: bool,
}

impl std::fmt::Debug for RpmDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpmDb").field("file", &self.file).finish()
    }
}

struct TextKey<'a>(&'a [u8]);
impl rusqlite::ToSql for TextKey<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        // rpm binds keys as text of the header's bytes, valid UTF-8 or not.
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(self.0)))
    }
}

impl RpmDb {
    fn sql_err(
        &self,
        action: impl Into<String>,
    ) -> impl FnOnce(rusqlite::Error) -> RpmDbError + '_ {
        let action = action.into();
        move |source| RpmDbError::Sqlite {
            action,
            path: self.file.display().to_string(),
            source,
        }
    }

    /// Create a fresh database at `root` + `dbpath` (an absolute path inside the root, e.g.
    /// `/usr/lib/sysimage/rpm`), replacing any database already there. The directory is
    /// resolved beneath the root as a chroot would (`..` and symlinks clamped to the root).
    pub fn create(root: &Path, dbpath: &str) -> Result<RpmDb, RpmDbError> {
        Self::open_in(root, dbpath, false)
    }

    /// Open the database at `root` + `dbpath` to append a transaction to it (rpm's `rpm -i`
    /// into a root that has one); a fresh one when there is none.
    pub fn open_append(root: &Path, dbpath: &str) -> Result<RpmDb, RpmDbError> {
        Self::open_in(root, dbpath, true)
    }

    fn open_in(root: &Path, dbpath: &str, keep: bool) -> Result<RpmDb, RpmDbError> {
        let dbpath = clamp_in_root(dbpath);
        let shown = root.join(dbpath.trim_start_matches('/'));
        fs::create_dir_all(root).map_err(IoError::at("create the root", root))?;
        let rootfs = Root::open(root).map_err(IoError::at("open the root", root))?;
        let dirfd = ensure_dir(root, &rootfs, &dbpath)
            .map_err(IoError::at("create the rpmdb directory", &shown))?;
        let file = shown.join(DB_FILE);
        let exists = statat(&dirfd, DB_FILE, AtFlags::SYMLINK_NOFOLLOW).is_ok();
        if !keep || !exists {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let name = format!("{DB_FILE}{suffix}");
                match unlinkat(&dirfd, name.as_str(), AtFlags::empty()) {
                    Err(e) if e != rustix::io::Errno::NOENT => {
                        return Err(IoError::new(
                            "remove the old rpmdb",
                            shown.join(&name),
                            e.into(),
                        )
                        .into())
                    }
                    _ => {}
                }
            }
        }
        let conn = Connection::open_with_flags(
            fd_path(&dirfd, DB_FILE),
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| RpmDbError::Sqlite {
            action: if exists && keep {
                "open the database".into()
            } else {
                "create the database".into()
            },
            path: file.display().to_string(),
            source,
        })?;
        // One statement per table stays prepared for the whole transaction.
        conn.set_prepared_statement_cache_capacity(2 * (INDEXES.len() + 1));
        // A failed transaction must not checkpoint and delete the -wal and -shm of a database
        // it appends to when its connection drops; `finish` checkpoints itself.
        if keep && exists {
            conn.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                true,
            )
            .map_err(|source| RpmDbError::Sqlite {
                action: "keep the wal file".into(),
                path: file.display().to_string(),
                source,
            })?;
        }
        let db = RpmDb {
            conn,
            dirfd,
            file,
            dirty: false,
        };
        // rpm's connection settings; WAL is persistent in the file and what rpm expects. The
        // large page cache keeps the random-order index inserts of one big transaction from
        // spilling to the WAL and being read back. Checkpoints after a commit once the WAL
        // passes 1000 pages keep it small when scriptlets make kiln commit often.
        db.conn
            .execute_batch(
                "PRAGMA secure_delete = OFF; PRAGMA case_sensitive_like = ON; \
                 PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 1000; \
                 PRAGMA synchronous = OFF; PRAGMA cache_size = -131072;",
            )
            .map_err(db.sql_err("set the database up"))?;
        let mut batch = String::from("BEGIN;");
        for s in schema_statements() {
            batch.push_str(&s);
            batch.push(';');
        }
        // The empty database is committed at once, as `rpmdb --initdb` leaves it before a
        // transaction: `rpm -q` in a %pretrans finds a valid, empty database.
        batch.push_str("COMMIT; BEGIN;");
        db.conn
            .execute_batch(&batch)
            .map_err(db.sql_err("create the schema"))?;
        debug!(file = %db.file.display(), appending = exists && keep, "rpmdb opened");
        Ok(db)
    }

    /// Store one package (its signature and main header blobs as in the .rpm) with its index
    /// rows; returns its header number (`DBINSTANCE`).
    pub fn add(
        &mut self,
        sig_blob: &[u8],
        hdr_blob: &[u8],
        info: &InstallInfo,
    ) -> Result<u32, RpmDbError> {
        let blob = db_header_blob(sig_blob, hdr_blob, info)?;
        let rows = index_rows(&blob)?;
        let nevra = Blob::parse(&blob).map(|b| b.nevra()).unwrap_or_default();
        self.conn
            .prepare_cached("INSERT INTO 'Packages' VALUES(NULL, ?)")
            .and_then(|mut st| st.execute([&blob]))
            .map_err(|source| RpmDbError::Sqlite {
                action: format!("store the header of {nevra}"),
                path: self.file.display().to_string(),
                source,
            })?;
        let hnum = u32::try_from(self.conn.last_insert_rowid()).map_err(|_| {
            RpmDbError::BadInstallInfo {
                package: nevra.clone(),
                reason: "header number overflow".into(),
            }
        })?;
        // Rows come grouped by table, in rpm's table order: one cached statement per group.
        let mut rest = &rows[..];
        while let Some(first) = rest.first() {
            let n = rest.iter().take_while(|r| r.table == first.table).count();
            let (group, tail) = rest.split_at(n);
            rest = tail;
            let text = INDEXES.iter().any(|d| d.table == first.table && d.text);
            let fail = |source| RpmDbError::Sqlite {
                action: format!("add to the {} index for {nevra}", first.table),
                path: self.file.display().to_string(),
                source,
            };
            let mut st = self
                .conn
                .prepare_cached(&format!("INSERT INTO '{}' VALUES(?, ?, ?)", first.table))
                .map_err(fail)?;
            for r in group {
                let res = if text {
                    st.execute(rusqlite::params![TextKey(&r.key), hnum, r.idx])
                } else {
                    st.execute(rusqlite::params![&r.key, hnum, r.idx])
                };
                res.map_err(|source| RpmDbError::Sqlite {
                    action: format!("add to the {} index for {nevra}", r.table),
                    path: self.file.display().to_string(),
                    source,
                })?;
            }
        }
        self.dirty = true;
        debug!(hnum, %nevra, rows = rows.len(), "rpmdb: added");
        Ok(hnum)
    }

    /// Makes the packages added so far visible to other readers, so that rpm (or dnf, or
    /// python3-rpm) run by a scriptlet sees what it sees under rpm: rpm commits each package
    /// before its `%post`. kiln commits only before a scriptlet runs; the packages between
    /// two scriptlets go in one commit.
    pub fn publish(&mut self) -> Result<(), RpmDbError> {
        if !self.dirty {
            return Ok(());
        }
        self.conn
            .execute_batch("COMMIT; BEGIN;")
            .map_err(self.sql_err("commit"))?;
        self.dirty = false;
        Ok(())
    }

    /// Commit, checkpoint and close, leaving the files as rpm leaves them: the database in WAL
    /// mode, an empty `-wal` and the `-shm` kept (rpm sets `SQLITE_FCNTL_PERSIST_WAL` so that
    /// unprivileged readers can open it), all 0644, and `.rpm.lock`.
    pub fn finish(self) -> Result<(), RpmDbError> {
        self.conn
            .execute_batch("COMMIT;")
            .map_err(self.sql_err("commit"))?;
        // Statistics for the query planner (rpm's "PRAGMA optimize" leaves sqlite_stat1 too);
        // the bundled sqlite's extra sqlite_stat4 goes, as rpm's sqlite does not write it.
        self.conn
            .execute_batch("ANALYZE; DROP TABLE IF EXISTS sqlite_stat4; PRAGMA optimize;")
            .map_err(self.sql_err("analyze"))?;
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(self.sql_err("checkpoint"))
            .and_then(|busy| {
                if busy == 0 {
                    Ok(())
                } else {
                    Err(RpmDbError::Sqlite {
                        action: "checkpoint (database busy)".into(),
                        path: self.file.display().to_string(),
                        source: rusqlite::Error::InvalidQuery,
                    })
                }
            })?;
        // Closing would otherwise checkpoint again and delete -wal and -shm.
        self.conn
            .set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                true,
            )
            .map_err(self.sql_err("keep the wal file"))?;
        let RpmDb {
            conn, dirfd, file, ..
        } = self;
        conn.close().map_err(|(_, source)| RpmDbError::Sqlite {
            action: "close".into(),
            path: file.display().to_string(),
            source,
        })?;
        let io = |action, name: &str| {
            let path = file.with_file_name(name);
            move |source: rustix::io::Errno| IoError::new(action, path, source.into())
        };
        let db = openat(
            &dirfd,
            DB_FILE,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(io("open", DB_FILE))?;
        rustix::fs::fsync(&db).map_err(io("sync", DB_FILE))?;
        // Created if missing, never followed: a planted symlink is refused, not written through.
        let lock = openat(
            &dirfd,
            LOCK_FILE,
            OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map_err(io("create", LOCK_FILE))?;
        drop(lock);
        for name in [
            DB_FILE.to_string(),
            format!("{DB_FILE}-wal"),
            format!("{DB_FILE}-shm"),
            LOCK_FILE.to_string(),
        ] {
            // Never followed: a symlink there (ELOOP) is left alone.
            let Ok(fd) = openat(
                &dirfd,
                name.as_str(),
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) else {
                continue;
            };
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o644))
                .map_err(io("set the mode of", &name))?;
        }
        debug!(file = %file.display(), "rpmdb finished");
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The target's %_dbpath.

/// The target's `%_dbpath`, from the rpm macro files inside `root` (read in rpm's order, later
/// definitions winning), expanded; [`DEFAULT_DBPATH`] when the root has no rpm configuration or
/// the value does not expand to an absolute path. The macro files are read beneath the root
/// (symlinks clamped to it), and the value is normalized as a chrooted rpm would see it: `..`
/// cannot climb above the root, so the result always names a place inside it.
pub fn target_dbpath(root: &Path) -> String {
    let Ok(rootfs) = Root::open(root) else {
        return DEFAULT_DBPATH.to_string();
    };
    let mut files: Vec<String> = vec!["/usr/lib/rpm/macros".into()];
    files.extend(sorted_glob(&rootfs, "/usr/lib/rpm/macros.d", "macros."));
    files.push("/usr/lib/rpm/redhat/macros".into());
    files.extend(sorted_glob(&rootfs, "/etc/rpm", "macros."));
    files.push("/etc/rpm/macros".into());
    let mut macros: BTreeMap<String, String> = BTreeMap::new();
    let mut any = false;
    for f in &files {
        if let Some(text) = read_in_root(&rootfs, f) {
            any = true;
            for definition in read_macro_file(&text) {
                macros.insert(definition.name, definition.body);
            }
        }
    }
    if !any || !macros.contains_key("_dbpath") {
        return DEFAULT_DBPATH.to_string();
    }
    match expand_macros("%{_dbpath}", &macros, 0) {
        Some(v) if v.starts_with('/') => {
            let v = clamp_in_root(&v);
            if v == "/" {
                DEFAULT_DBPATH.to_string()
            } else {
                v
            }
        }
        _ => DEFAULT_DBPATH.to_string(),
    }
}

/// An absolute path as a process chrooted to the root resolves it lexically: `.`, empty
/// components and trailing slashes dropped, `..` applied but never above `/`.
pub fn clamp_in_root(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The directory `path` of the root, created when missing (0755), as a chrooted `mkdir -p`
/// would: a dangling symlink on the way (`/var/lib/rpm -> /elsewhere`) is followed inside the
/// root and its target made. The returned fd is opened with `RESOLVE_IN_ROOT`, whatever the
/// root looked like when the path was computed.
fn ensure_dir(root: &Path, rootfs: &Root, path: &str) -> std::io::Result<OwnedFd> {
    match rootfs.open_dir(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Links resolved lexically beneath the root give a path without links to make.
            let resolved = crate::fsutil::in_root(root, path, true);
            let rel = resolved
                .strip_prefix(root)
                .map(|p| format!("/{}", p.display()))
                .unwrap_or_else(|_| path.to_string());
            rootfs.mkdir_p(&rel, 0o755)?;
            rootfs.open_dir(path)
        }
        r => r,
    }
}

/// `/proc/self/fd/N/name`: a path that reaches `name` in the directory `fd` holds, whatever
/// symlinks are on the way to it now (for APIs that take paths, like sqlite).
fn fd_path(fd: &OwnedFd, name: &str) -> PathBuf {
    let p = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    if name.is_empty() {
        p
    } else {
        p.join(name)
    }
}

/// Names in a directory of the root starting with `prefix`, sorted, as root paths.
fn sorted_glob(root: &Root, dir: &str, prefix: &str) -> Vec<String> {
    let Ok(pathfd) = root.open_dir(dir) else {
        return Vec::new();
    };
    let Ok(fd) = openat(
        &pathfd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return Vec::new();
    };
    let Ok(d) = rustix::fs::Dir::read_from(&fd) else {
        return Vec::new();
    };
    let mut v: Vec<String> = d
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(prefix).then(|| format!("{dir}/{n}"))
        })
        .collect();
    v.sort();
    v
}

/// Read a file of the target, resolving symlinks and `..` beneath the root (never the host);
/// `None` for anything but a readable regular file.
fn read_in_root(root: &Root, path: &str) -> Option<String> {
    let st = root.stat(path).ok()?;
    if st.st_mode & 0o170000 != 0o100000 {
        return None;
    }
    root.read_file(path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Move the database files from one directory of the root to another (the target's own
/// `%_dbpath`, known once its macros are unpacked). Both are resolved beneath the root.
pub fn move_db(root: &Path, from: &str, to: &str) -> Result<(), RpmDbError> {
    let (from, to) = (clamp_in_root(from), clamp_in_root(to));
    let io = |action, path: &str| {
        let path = root.join(path.trim_start_matches('/'));
        move |source: std::io::Error| IoError::new(action, path, source)
    };
    let rootfs = Root::open(root).map_err(io("open the root", "/"))?;
    let dst = ensure_dir(root, &rootfs, &to).map_err(io("create the rpmdb directory", &to))?;
    let src = rootfs.open_dir(&from).map_err(io("open", &from))?;
    let names: Vec<std::ffi::OsString> = {
        let fd = openat(
            &src,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io("read", &from)(e.into()))?;
        rustix::fs::Dir::read_from(&fd)
            .map_err(|e| io("read", &from)(e.into()))?
            .flatten()
            .map(|e| {
                std::ffi::OsString::from(std::ffi::OsStr::from_bytes(e.file_name().to_bytes()))
            })
            .filter(|n| n != "." && n != "..")
            .collect()
    };
    for n in names {
        renameat(&src, n.as_os_str(), &dst, n.as_os_str()).map_err(|e| {
            io(
                "move the rpmdb to",
                &format!("{to}/{}", n.to_string_lossy()),
            )(e.into())
        })?;
    }
    if let Some((parent, name)) = from.rsplit_once('/') {
        if let Ok(p) = rootfs.open_dir(if parent.is_empty() { "/" } else { parent }) {
            let _ = unlinkat(&p, name, AtFlags::REMOVEDIR);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading an installed database (appending a transaction).

/// One package of an existing rpmdb.
#[derive(Debug, Clone)]
pub struct InstalledPackage {
    /// Its header number (`DBINSTANCE`).
    pub hnum: u32,
    /// The stored header blob.
    pub blob: Vec<u8>,
    /// `FILESTATES`, one per file (empty when the package has no files).
    pub file_states: Vec<u8>,
}

/// Whether `root` + `dbpath` holds an rpmdb, and of which backend rpm would use there.
pub fn existing_backend(root: &Path, dbpath: &str) -> Option<&'static str> {
    let rootfs = Root::open(root).ok()?;
    let dir = rootfs.open_dir(&clamp_in_root(dbpath)).ok()?;
    for (name, backend) in [
        (DB_FILE, "sqlite"),
        ("Packages", "bdb"),
        ("Packages.db", "ndb"),
    ] {
        if statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|st| st.st_mode & 0o170000 == 0o100000)
        {
            return Some(backend);
        }
    }
    None
}

/// The packages already installed in the sqlite rpmdb at `root` + `dbpath` (resolved beneath
/// the root), in header-number order; empty when there is no database. This is the one place
/// the transaction learns of installed packages (for `$1` counts, triggers, conflicts and
/// "already installed").
pub fn installed_packages(root: &Path, dbpath: &str) -> Result<Vec<InstalledPackage>, RpmDbError> {
    let dbpath = clamp_in_root(dbpath);
    let shown = root.join(dbpath.trim_start_matches('/')).join(DB_FILE);
    match existing_backend(root, &dbpath) {
        None => return Ok(Vec::new()),
        Some("sqlite") => {}
        Some(other) => {
            return Err(RpmDbError::BadInstallInfo {
                package: shown.display().to_string(),
                reason: format!(
                    "the root's rpmdb uses the {other} backend; kiln appends only to sqlite \
                     databases (rpm --rebuilddb --define '_db_backend sqlite' converts it)"
                ),
            })
        }
    }
    let sqlite_err = |action: &str| {
        let action = action.to_string();
        let path = shown.display().to_string();
        move |source| RpmDbError::Sqlite {
            action,
            path,
            source,
        }
    };
    let rootfs = Root::open(root).map_err(IoError::at("open the root", root))?;
    let dirfd = rootfs
        .open_dir(&dbpath)
        .map_err(IoError::at("open the rpmdb directory", &shown))?;
    let conn = Connection::open_with_flags(
        fd_path(&dirfd, DB_FILE),
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_err("open the database"))?;
    // Closing must leave the -wal and -shm as rpm keeps them (a close would checkpoint and
    // delete them).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )
    .map_err(sqlite_err("keep the wal file"))?;
    let mut st = conn
        .prepare("SELECT hnum, blob FROM 'Packages' ORDER BY hnum")
        .map_err(sqlite_err("read the installed packages"))?;
    let rows = st
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
        .map_err(sqlite_err("read the installed packages"))?;
    let mut out = Vec::new();
    for r in rows {
        let (hnum, blob) = r.map_err(sqlite_err("read the installed packages"))?;
        let b = Blob::parse(&blob).map_err(|reason| RpmDbError::BadHeader {
            which: "installed",
            package: format!("header #{hnum} of {}", shown.display()),
            reason,
        })?;
        // Dribble entries replace region ones (as rpm's import), so the last one wins.
        let file_states = b
            .entries
            .iter()
            .rev()
            .find(|e| e.tag == TAG_FILESTATES)
            .map(|e| e.data.to_vec())
            .unwrap_or_default();
        out.push(InstalledPackage {
            hnum: hnum as u32,
            file_states,
            blob,
        });
    }
    Ok(out)
}

/// Expand the macro forms a `%_dbpath` definition uses: `%{name}`, `%name`, `%{?name}`,
/// `%{?name:text}`, `%{!?name:text}`, `%%`. None when something is undefined or unsupported.
fn expand_macros(s: &str, macros: &BTreeMap<String, String>, depth: u32) -> Option<String> {
    if depth > 16 {
        return None;
    }
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            let next = s[i..].find('%').map(|n| i + n).unwrap_or(b.len());
            out.push_str(&s[i..next]);
            i = next;
            continue;
        }
        match b.get(i + 1) {
            Some(b'%') => {
                out.push('%');
                i += 2;
            }
            Some(b'{') => {
                let mut d = 0;
                let mut j = i + 1;
                let end = loop {
                    match b.get(j)? {
                        b'{' => d += 1,
                        b'}' => {
                            d -= 1;
                            if d == 0 {
                                break j;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                };
                let inner = &s[i + 2..end];
                let (neg, cond, inner) = if let Some(r) = inner.strip_prefix("!?") {
                    (true, true, r)
                } else if let Some(r) = inner.strip_prefix("?!") {
                    (true, true, r)
                } else if let Some(r) = inner.strip_prefix('?') {
                    (false, true, r)
                } else {
                    (false, false, inner)
                };
                let (name, alt) = match inner.split_once(':') {
                    Some((n, a)) => (n, Some(a)),
                    None => (inner, None),
                };
                let def = macros.get(name);
                let piece = if cond {
                    match (def.is_some() != neg, alt) {
                        (true, Some(a)) => expand_macros(a, macros, depth + 1)?,
                        (true, None) if !neg => expand_macros(def?, macros, depth + 1)?,
                        _ => String::new(),
                    }
                } else if alt.is_some() {
                    return None; // %{expand:...}, %{lua:...} and friends: not supported
                } else {
                    expand_macros(def?, macros, depth + 1)?
                };
                out.push_str(&piece);
                i = end + 1;
            }
            _ => {
                let rest = &s[i + 1..];
                let n = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                if n == 0 {
                    return None;
                }
                out.push_str(&expand_macros(macros.get(&rest[..n])?, macros, depth + 1)?);
                i += 1 + n;
            }
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Reading blobs from .rpm files (for tests and tools).

/// The signature and main header blobs of an .rpm file, as the rpmdb stores them.
pub fn read_rpm_blobs(path: &Path) -> Result<(Vec<u8>, Vec<u8>), RpmFileError> {
    let rpm = RpmFile::open(path)?;
    Ok((rpm.sig_blob, rpm.hdr_blob))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build a blob from entries (tag, type, count, data); with `region`, wrap them in an
    /// immutable region as rpmbuild does.
    fn build(entries: &[(u32, u32, u32, Vec<u8>)], region: Option<u32>) -> Vec<u8> {
        let mut data = Vec::new();
        let mut index = Vec::new();
        let n = entries.len() + usize::from(region.is_some());
        for (tag, ty, count, d) in entries {
            data.resize(data.len() + align_diff(*ty, data.len()), 0);
            for v in [*tag, *ty, data.len() as u32, *count] {
                index.extend_from_slice(&v.to_be_bytes());
            }
            data.extend_from_slice(d);
        }
        let mut head = Vec::new();
        if let Some(rtag) = region {
            for v in [rtag, TYPE_BIN, data.len() as u32, 16] {
                head.extend_from_slice(&v.to_be_bytes());
            }
            for v in [rtag, TYPE_BIN, (-(16 * n as i32)) as u32, 16] {
                data.extend_from_slice(&v.to_be_bytes());
            }
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(n as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(&head);
        out.extend_from_slice(&index);
        out.extend_from_slice(&data);
        out
    }

    fn s(v: &str) -> Vec<u8> {
        let mut b = v.as_bytes().to_vec();
        b.push(0);
        b
    }

    fn sa(v: &[&str]) -> Vec<u8> {
        v.iter().flat_map(|x| s(x)).collect()
    }

    fn sample() -> (Vec<u8>, Vec<u8>) {
        let main = build(
            &[
                (TAG_NAME, TYPE_STRING, 1, s("foo")),
                (TAG_VERSION, TYPE_STRING, 1, s("1")),
                (TAG_RELEASE, TYPE_STRING, 1, s("2")),
                (TAG_ARCH, TYPE_STRING, 1, s("noarch")),
                (
                    TAG_REQUIREFLAGS,
                    TYPE_INT32,
                    3,
                    [0u32, 1 << 24, 1 << 9 | 1 << 11]
                        .iter()
                        .flat_map(|v| v.to_be_bytes())
                        .collect(),
                ),
                (
                    TAG_REQUIRENAME,
                    TYPE_STRING_ARRAY,
                    3,
                    sa(&["(a if b else c)", "rpmlib(X)", "sh"]),
                ),
                (TAG_BASENAMES, TYPE_STRING_ARRAY, 2, sa(&["x", "y"])),
                (TAG_DIRNAMES, TYPE_STRING_ARRAY, 1, sa(&["/d/"])),
                (TAG_PREFIXES, TYPE_STRING_ARRAY, 1, sa(&["/opt"])),
            ],
            Some(TAG_HEADERIMMUTABLE),
        );
        let sig = build(
            &[
                (269, TYPE_STRING, 1, s("abc")),
                (SIGTAG_SIZE, TYPE_INT32, 1, 77u32.to_be_bytes().to_vec()),
                (SIGTAG_MD5, TYPE_BIN, 16, vec![7; 16]),
                (
                    SIGTAG_PAYLOADSIZE,
                    TYPE_INT32,
                    1,
                    5u32.to_be_bytes().to_vec(),
                ),
                (1008, TYPE_BIN, 3, vec![0; 3]), // reserved space: dropped
                (270, TYPE_INT64, 1, 9u64.to_be_bytes().to_vec()),
            ],
            Some(62),
        );
        (sig, main)
    }

    #[test]
    fn blob_keeps_region_and_appends_sorted_aligned_tags() {
        let (sig, main) = sample();
        let info = InstallInfo {
            install_time: 10,
            install_tid: 11,
            install_color: 3,
            file_states: vec![0, 2],
            relocation: None,
        };
        let out = db_header_blob(&sig, &main, &info).unwrap();
        let m = Blob::parse(&main).unwrap();
        let b = Blob::parse(&out).unwrap();
        // Region index and data are unchanged, at the start.
        assert_eq!(b.index_bytes(0, m.il), m.index_bytes(0, m.il));
        assert_eq!(&b.data()[..m.dl], m.data());
        let added: Vec<(u32, u32, i32)> = b.entries[m.il..]
            .iter()
            .map(|e| (e.tag, e.ty, e.offset))
            .collect();
        let tags: Vec<u32> = added.iter().map(|a| a.0).collect();
        assert_eq!(
            tags,
            vec![
                TAG_SIGSIZE,
                TAG_SIGMD5,
                TAG_SHA1HEADER,
                270,
                TAG_INSTALLTIME,
                TAG_FILESTATES,
                TAG_ARCHIVESIZE,
                TAG_INSTPREFIXES,
                TAG_INSTALLCOLOR,
                TAG_INSTALLTID
            ]
        );
        for e in &b.entries[m.il..] {
            assert_eq!(
                align_diff(e.ty, e.offset as usize),
                0,
                "tag {} aligned",
                e.tag
            );
        }
        assert_eq!(b.u32s(TAG_INSTALLTIME), vec![10]);
        assert_eq!(b.u32s(TAG_INSTALLTID), vec![11]);
        assert_eq!(b.get(TAG_FILESTATES).unwrap().data, &[0, 2]);
        assert_eq!(b.strings(TAG_INSTPREFIXES), vec![b"/opt".as_slice()]);
        assert_eq!(b.get(270).unwrap().data, &9u64.to_be_bytes());
        // Data ends exactly with the last entry (no trailing padding).
        assert_eq!(b.dl, b.entries.last().unwrap().offset as usize + 4);
    }

    #[test]
    fn file_state_count_must_match() {
        let (sig, main) = sample();
        let err = db_header_blob(&sig, &main, &InstallInfo::default()).unwrap_err();
        assert!(err.to_string().contains("foo-1-2.noarch"), "{err}");
    }

    #[test]
    fn index_rows_follow_rpm_rules() {
        let (sig, main) = sample();
        let info = InstallInfo {
            file_states: vec![0, 0],
            ..Default::default()
        };
        let rows = index_rows(&db_header_blob(&sig, &main, &info).unwrap()).unwrap();
        let of = |t: &str| -> Vec<(String, u32)> {
            rows.iter()
                .filter(|r| r.table == t)
                .map(|r| (String::from_utf8_lossy(&r.key).into_owned(), r.idx))
                .collect()
        };
        assert_eq!(of("Name"), vec![("foo".into(), 0)]);
        assert_eq!(of("Group"), vec![("Unknown".into(), 0)]);
        assert_eq!(of("Basenames"), vec![("x".into(), 0), ("y".into(), 1)]);
        // rpmlib() skipped; a %pre+%preun requirement kept; rich deps expanded.
        assert_eq!(
            of("Requirename"),
            vec![
                ("(a if b else c)".into(), 0),
                ("a".into(), 0),
                ("b".into(), 0),
                ("c".into(), 0),
                ("!b".into(), 0),
                ("sh".into(), 2)
            ]
        );
        let tid = rows.iter().find(|r| r.table == "Installtid").unwrap();
        assert_eq!(tid.key, 0u32.to_ne_bytes());
        assert_eq!(
            rows.iter().find(|r| r.table == "Sigmd5").unwrap().key,
            vec![7; 16]
        );
        assert_eq!(of("Sha1header"), vec![("abc".into(), 0)]);
    }

    #[test]
    fn rich_names() {
        let n = |s: &str| -> Vec<String> {
            rich_dep_names(s.as_bytes())
                .into_iter()
                .map(|v| String::from_utf8(v).unwrap())
                .collect()
        };
        assert_eq!(
            n("(a >= 1.0 and (b or c(x86-64)))"),
            ["a", "b", "c(x86-64)"]
        );
        assert_eq!(n("(a unless b)"), ["a", "!b"]);
        assert_eq!(n("(rpmlib(Foo) or z)"), ["z"]);
        assert!(n("(a and)").is_empty());
        assert!(n("(a and b or c)").is_empty());
    }

    #[test]
    fn dbpath_from_target_macros() {
        let d = std::env::temp_dir().join(format!("kiln-rpmdb-macros-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        assert_eq!(target_dbpath(&d), DEFAULT_DBPATH);
        fs::create_dir_all(d.join("usr/lib/rpm/macros.d")).unwrap();
        fs::write(
            d.join("usr/lib/rpm/macros"),
            "%_usr\t\t\t/usr\n%_var /var\n%_dbpath\t\t%{_var}/lib/rpm\n%_foo(o:) \\\n  bar\n",
        )
        .unwrap();
        assert_eq!(target_dbpath(&d), "/var/lib/rpm");
        fs::write(
            d.join("usr/lib/rpm/macros.d/macros.db"),
            "%_dbpath %{_usr}/lib/sysimage/rpm\n",
        )
        .unwrap();
        assert_eq!(target_dbpath(&d), "/usr/lib/sysimage/rpm");
        fs::create_dir_all(d.join("etc/rpm")).unwrap();
        fs::write(
            d.join("etc/rpm/macros.x"),
            "%_dbpath %{?_nope}%_var/lib/rpm-local/\n",
        )
        .unwrap();
        assert_eq!(target_dbpath(&d), "/var/lib/rpm-local");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn dbpath_stays_beneath_the_root() {
        assert_eq!(clamp_in_root("/../../tmp//x/./db/"), "/tmp/x/db");
        assert_eq!(clamp_in_root("/a/../../b"), "/b");
        assert_eq!(clamp_in_root("/.."), "/");
        let t = tempfile::tempdir().unwrap();
        let (root, host) = (t.path().join("root"), t.path().join("host-macros"));
        fs::create_dir_all(root.join("etc/rpm")).unwrap();
        // A macro file that is a link to a host file is read inside the root (missing here).
        fs::write(&host, "%_dbpath /from-the-host\n").unwrap();
        std::os::unix::fs::symlink(&host, root.join("etc/rpm/macros.link")).unwrap();
        assert_eq!(target_dbpath(&root), DEFAULT_DBPATH);
        fs::write(
            root.join("etc/rpm/macros.up"),
            "%_dbpath /../../../../x/../db\n",
        )
        .unwrap();
        assert_eq!(target_dbpath(&root), "/db");
        // The database and its move stay inside too, through a planted absolute link.
        std::os::unix::fs::symlink(t.path().join("host-db"), root.join("db")).unwrap();
        let db = RpmDb::create(&root, "/db").unwrap();
        db.finish().unwrap();
        assert!(!t.path().join("host-db").exists());
        let inside = root.join(t.path().join("host-db").strip_prefix("/").unwrap());
        assert!(inside.join(DB_FILE).is_file());
        move_db(&root, "/db", "/../moved").unwrap();
        assert!(root.join("moved").join(DB_FILE).is_file());
        assert!(!t.path().join("moved").exists());
    }
}
