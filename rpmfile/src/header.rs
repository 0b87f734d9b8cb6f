//! RPM file headers: the lead, the signature header and the main header, kept raw (an rpmdb
//! stores them) and parsed into the facts an installer needs.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use rpm::IndexTag as T;

use crate::error::{HeaderError, RpmFileError};
use crate::tags::{
    RPMSENSE_TRIGGERIN, RPMSENSE_TRIGGERPOSTUN, RPMSENSE_TRIGGERPREIN, RPMSENSE_TRIGGERUN,
    TYPE_BIN, TYPE_I18NSTRING, TYPE_INT16, TYPE_INT32, TYPE_INT64, TYPE_STRING, TYPE_STRING_ARRAY,
};

/// One RPM file, opened and its headers read; the payload is not touched.
#[derive(Debug, Clone)]
pub struct RpmFile {
    /// Where it is.
    pub path: PathBuf,
    /// The signature header as stored (index count, data length, index, data), without the
    /// 8-byte magic/reserved prefix and without the padding after it.
    pub sig_blob: Vec<u8>,
    /// The main header as stored, without the 8-byte magic/reserved prefix.
    pub hdr_blob: Vec<u8>,
    /// Byte offset of the (compressed) payload in the file.
    pub payload_offset: u64,
    /// Parsed facts.
    pub info: PackageInfo,
}

/// What the installer needs from the main header.
#[derive(Debug, Clone, Default)]
pub struct PackageInfo {
    /// Name.
    pub name: String,
    /// Epoch, when the header has one.
    pub epoch: Option<u32>,
    /// Version.
    pub version: String,
    /// Release.
    pub release: String,
    /// Arch (`noarch` included).
    pub arch: String,
    /// `PAYLOADCOMPRESSOR`: `gzip`, `bzip2`, `xz`, `lzma`, `zstd` (absent means gzip).
    pub payload_compressor: String,
    /// `PAYLOADFORMAT` (`cpio`).
    pub payload_format: String,
    /// `PAYLOADFLAGS`, e.g. compression level.
    pub payload_flags: String,
    /// Files, in header order (the cpio payload refers to them by this order or by path).
    pub files: Vec<FileInfo>,
    /// Install-time scriptlets present in the header.
    pub scripts: Vec<Scriptlet>,
    /// `%trigger*` scripts with their conditions.
    pub triggers: Vec<Trigger>,
    /// `%filetrigger*` and `%transfiletrigger*` scripts.
    pub file_triggers: Vec<FileTrigger>,
    /// `Provides` (name, flags, version).
    pub provides: Vec<Dep>,
    /// `Requires` (flags keep `RPMSENSE_SCRIPT_PRE` etc.).
    pub requires: Vec<Dep>,
    /// `FILEDIGESTALGO` (`PGPHASHALGO_*`: 1 = MD5 when absent, 8 = SHA256).
    pub digest_algo: u32,
    /// `LONGSIZE` or `SIZE`: the sum of the file sizes.
    pub size: u64,
}

/// One dependency entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dep {
    /// Name (or rich dependency text).
    pub name: String,
    /// `RPMSENSE_*` flags.
    pub flags: u32,
    /// Version (`[e:]v[-r]`), empty when unversioned.
    pub version: String,
}

/// One file entry of the header.
#[derive(Debug, Clone, Default)]
pub struct FileInfo {
    /// Absolute path (`DIRNAMES[DIRINDEXES[i]] + BASENAMES[i]`).
    pub path: String,
    /// Full `st_mode` (type bits included).
    pub mode: u32,
    /// `FILEUSERNAME`.
    pub user: String,
    /// `FILEGROUPNAME`.
    pub group: String,
    /// `FILEMTIMES`.
    pub mtime: u32,
    /// Size (`LONGFILESIZES` or `FILESIZES`).
    pub size: u64,
    /// `RPMFILE_*` flags (config, doc, ghost, license, ...).
    pub flags: u32,
    /// Hex digest (`FILEDIGESTS`), empty for non-regular files.
    pub digest: String,
    /// `FILELINKTOS` (symlink target), empty otherwise.
    pub linkto: String,
    /// `FILERDEVS`.
    pub rdev: u32,
    /// `FILEINODES` (hardlink sets share one inode number with `FILEDEVICES`).
    pub inode: u32,
    /// `FILEDEVICES`.
    pub device: u32,
    /// `FILELANGS` (empty = every language).
    pub lang: String,
    /// `FILECAPS` in text form (`cap_net_raw=ep`), empty when none.
    pub caps: String,
    /// `FILECOLORS` (1 = ELF32, 2 = ELF64), 0 when absent.
    pub color: u32,
    /// The path the payload names it by, when relocation moved it (empty: `path`).
    pub orig_path: String,
    /// Decided by the installer, not read from the header: a modified `%config` file on disk
    /// that rpm leaves as it is (`FA_SKIP`).
    pub keep_on_disk: bool,
}

impl FileInfo {
    /// The name of this file in the payload (the original path of a relocated file).
    pub fn payload_path(&self) -> &str {
        if self.orig_path.is_empty() {
            &self.path
        } else {
            &self.orig_path
        }
    }
}

/// When a scriptlet runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptKind {
    /// `%pretrans`.
    PreTrans,
    /// `%pre`.
    Pre,
    /// `%post`.
    Post,
    /// `%posttrans`.
    PostTrans,
    /// `%preun` (recorded, not run by an install).
    PreUn,
    /// `%postun` (recorded, not run by an install).
    PostUn,
}

/// A scriptlet (or a trigger's script).
#[derive(Debug, Clone, Default)]
pub struct Scriptlet {
    /// Which install-time slot this is (`None` for trigger and file trigger scripts).
    pub kind: Option<ScriptKind>,
    /// Interpreter argv (`/bin/sh` by default; `<lua>` for Lua).
    pub prog: Vec<String>,
    /// The body (`None` when only a program is given, e.g. `-p /sbin/ldconfig`).
    pub body: Option<String>,
    /// `RPMSCRIPT_FLAG_*` (expand, qformat, critical).
    pub flags: u32,
}

impl Scriptlet {
    /// Whether this is a `-p <lua>` scriptlet.
    pub fn is_lua(&self) -> bool {
        self.prog.first().map(String::as_str) == Some("<lua>")
    }
}

/// A kind of package trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerKind {
    /// `%triggerprein`.
    PreIn,
    /// `%triggerin`.
    In,
    /// `%triggerun`.
    Un,
    /// `%triggerpostun`.
    PostUn,
}

/// A `%trigger*` script with its conditions (`TRIGGERNAME/VERSION/FLAGS/INDEX`).
#[derive(Debug, Clone)]
pub struct Trigger {
    /// Kind.
    pub kind: TriggerKind,
    /// Packages (and version ranges) that set it off.
    pub conditions: Vec<Dep>,
    /// The script.
    pub script: Scriptlet,
}

/// A kind of file trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileTriggerKind {
    /// `%filetriggerin`.
    In,
    /// `%filetriggerun`.
    Un,
    /// `%filetriggerpostun`.
    PostUn,
    /// `%transfiletriggerin`.
    TransIn,
    /// `%transfiletriggerun`.
    TransUn,
    /// `%transfiletriggerpostun`.
    TransPostUn,
}

/// A `%filetrigger*`/`%transfiletrigger*` script.
#[derive(Debug, Clone)]
pub struct FileTrigger {
    /// Kind.
    pub kind: FileTriggerKind,
    /// Path prefixes that set it off.
    pub prefixes: Vec<String>,
    /// Priority (higher runs first).
    pub priority: i32,
    /// The script.
    pub script: Scriptlet,
}

/// The lead's magic (`ed ab ee db`).
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
/// A header structure's magic (`8e ad e8`, version 1).
const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// rpm's own limits on a header (`hdrchkTags`, `hdrchkData`): anything larger is corrupt.
const MAX_TAGS: u32 = 0xffff;
const MAX_DATA: u32 = 0x0fff_ffff;

/// The rpm crate's view of a package's headers (signature checks, SIGMD5), for files that may
/// be hostile. kiln's own parser reads them first, and the rpm crate's parser runs under
/// `catch_unwind`: fuzzing found inputs on which it panics (an index past its data, rpm 0.30),
/// which must be an error naming the file, not a crash of the build.
pub fn rpm_crate_metadata(path: &Path) -> Result<rpm::PackageMetadata, RpmFileError> {
    RpmFile::open(path)?;
    match std::panic::catch_unwind(|| rpm::PackageMetadata::open(path)) {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(e)) => Err(RpmFileError::RpmCrate(e)),
        Err(_) => Err(RpmFileError::RpmCratePanic {
            path: path.to_path_buf(),
        }),
    }
}

impl RpmFile {
    /// Reads the lead, the signature header and the main header of `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<RpmFile, RpmFileError> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(RpmFileError::io("open", path))?;
        let mut r = std::io::BufReader::with_capacity(64 * 1024, file);
        let bad = |reason: HeaderError| RpmFileError::Malformed {
            path: path.to_path_buf(),
            reason,
        };
        let mut lead = [0u8; 96];
        read_exact(&mut r, &mut lead, path, "lead")?;
        if lead[..4] != LEAD_MAGIC {
            return Err(bad("no rpm lead magic".into()));
        }
        let sig_blob = read_header(&mut r, path, "signature header")?;
        // The signature header is padded to 8 bytes; index entries are 16 bytes each, so
        // only the data length decides the padding.
        let sig_dl = u32::from_be_bytes(sig_blob[4..8].try_into().unwrap_or_default());
        let pad = (8 - (sig_dl % 8)) % 8;
        let mut padding = [0u8; 8];
        read_exact(
            &mut r,
            &mut padding[..pad as usize],
            path,
            "signature padding",
        )?;
        let hdr_blob = read_header(&mut r, path, "main header")?;
        // Lead, then each header's 8-byte magic prefix plus its blob.
        let payload_offset =
            96 + 8 + sig_blob.len() as u64 + u64::from(pad) + 8 + hdr_blob.len() as u64;
        let hdr = Header::parse(&hdr_blob).map_err(bad)?;
        let info = PackageInfo::from_header(&hdr).map_err(bad)?;
        Ok(RpmFile {
            path: path.to_path_buf(),
            sig_blob,
            hdr_blob,
            payload_offset,
            info,
        })
    }

    /// `name-[epoch:]version-release.arch`, for messages.
    pub fn nevra(&self) -> String {
        self.info.nevra()
    }
}

impl PackageInfo {
    /// `name-[epoch:]version-release.arch`.
    pub fn nevra(&self) -> String {
        match self.epoch {
            Some(e) if e != 0 => format!(
                "{}-{}:{}-{}.{}",
                self.name, e, self.version, self.release, self.arch
            ),
            _ => format!(
                "{}-{}-{}.{}",
                self.name, self.version, self.release, self.arch
            ),
        }
    }

    /// The facts of a stored rpmdb header (an installed package; entries appended after the
    /// immutable region replace the region's, as rpm reads them).
    pub fn from_blob(blob: &[u8]) -> Result<PackageInfo, HeaderError> {
        PackageInfo::from_header(&Header::parse(blob)?)
    }

    /// The install-time scriptlet of `kind`, when the package has one.
    pub fn script(&self, kind: ScriptKind) -> Option<&Scriptlet> {
        self.scripts.iter().find(|s| s.kind == Some(kind))
    }

    fn from_header(h: &Header<'_>) -> Result<PackageInfo, HeaderError> {
        let mut info = PackageInfo {
            name: h.string(T::RPMTAG_NAME)?.ok_or("header has no NAME")?,
            epoch: h.u32s(T::RPMTAG_EPOCH)?.and_then(|v| v.first().copied()),
            version: h.string(T::RPMTAG_VERSION)?.unwrap_or_default(),
            release: h.string(T::RPMTAG_RELEASE)?.unwrap_or_default(),
            arch: h.string(T::RPMTAG_ARCH)?.unwrap_or_default(),
            payload_compressor: h
                .string(T::RPMTAG_PAYLOADCOMPRESSOR)?
                .unwrap_or_else(|| "gzip".into()),
            payload_format: h
                .string(T::RPMTAG_PAYLOADFORMAT)?
                .unwrap_or_else(|| "cpio".into()),
            payload_flags: h.string(T::RPMTAG_PAYLOADFLAGS)?.unwrap_or_default(),
            digest_algo: h
                .u32s(T::RPMTAG_FILEDIGESTALGO)?
                .and_then(|v| v.first().copied())
                .unwrap_or(1),
            size: match h.u64s(T::RPMTAG_LONGSIZE)? {
                Some(v) => v.first().copied().unwrap_or(0),
                None => h
                    .u32s(T::RPMTAG_SIZE)?
                    .and_then(|v| v.first().copied())
                    .map_or(0, u64::from),
            },
            ..PackageInfo::default()
        };
        info.files = files(h)?;
        info.scripts = scripts(h)?;
        info.triggers = triggers(h)?;
        info.file_triggers = file_triggers(h)?;
        info.provides = deps(
            h,
            T::RPMTAG_PROVIDENAME,
            T::RPMTAG_PROVIDEFLAGS,
            T::RPMTAG_PROVIDEVERSION,
        )?;
        info.requires = deps(
            h,
            T::RPMTAG_REQUIRENAME,
            T::RPMTAG_REQUIREFLAGS,
            T::RPMTAG_REQUIREVERSION,
        )?;
        Ok(info)
    }
}

fn read_exact(
    r: &mut impl Read,
    buf: &mut [u8],
    path: &Path,
    what: &'static str,
) -> Result<(), RpmFileError> {
    r.read_exact(buf).map_err(|source| {
        if source.kind() == std::io::ErrorKind::UnexpectedEof {
            RpmFileError::Truncated {
                path: path.to_path_buf(),
                what,
            }
        } else {
            RpmFileError::io("read", path)(source)
        }
    })
}

/// Reads one header structure; returns it from the index count on (the magic dropped).
fn read_header(
    r: &mut impl Read,
    path: &Path,
    what: &'static str,
) -> Result<Vec<u8>, RpmFileError> {
    let mut intro = [0u8; 16];
    read_exact(r, &mut intro, path, what)?;
    if intro[..4] != HEADER_MAGIC {
        return Err(RpmFileError::Malformed {
            path: path.to_path_buf(),
            reason: format!("{what} has no header magic").into(),
        });
    }
    let il = u32::from_be_bytes(intro[8..12].try_into().unwrap_or_default());
    let dl = u32::from_be_bytes(intro[12..16].try_into().unwrap_or_default());
    if il > MAX_TAGS || dl > MAX_DATA {
        return Err(RpmFileError::Malformed {
            path: path.to_path_buf(),
            reason: format!("{what} claims {il} tags and {dl} data bytes").into(),
        });
    }
    let len = 8 + 16 * il as usize + dl as usize;
    // Grow with the bytes actually there, not with what the intro claims: a short hostile
    // file claiming rpm's maximum would otherwise cost 256 MiB per open (fuzzing found it).
    let mut blob = Vec::with_capacity(len.min(64 * 1024));
    blob.extend_from_slice(&intro[8..16]);
    let want = (len - 8) as u64;
    let got = r
        .take(want)
        .read_to_end(&mut blob)
        .map_err(RpmFileError::io("read", path))?;
    if (got as u64) < want {
        return Err(RpmFileError::Truncated {
            path: path.to_path_buf(),
            what,
        });
    }
    Ok(blob)
}

/// A parsed header blob: tag -> (type, offset, count) over the data store.
pub struct Header<'a> {
    entries: HashMap<u32, (u32, usize, usize)>,
    data: &'a [u8],
}

impl<'a> Header<'a> {
    /// Parses a blob as stored in [`RpmFile::hdr_blob`].
    pub fn parse(blob: &'a [u8]) -> Result<Header<'a>, HeaderError> {
        if blob.len() < 8 {
            return Err("header shorter than its intro".into());
        }
        let il = u32::from_be_bytes(blob[0..4].try_into().unwrap_or_default()) as usize;
        let dl = u32::from_be_bytes(blob[4..8].try_into().unwrap_or_default()) as usize;
        let index_end = 8 + il * 16;
        if blob.len() != index_end + dl {
            return Err("header length does not match its index".into());
        }
        let data = &blob[index_end..];
        let mut entries = HashMap::with_capacity(il);
        for e in blob[8..index_end].chunks_exact(16) {
            let w = |i: usize| u32::from_be_bytes(e[i..i + 4].try_into().unwrap_or_default());
            let (tag, ty, off, count) = (w(0), w(4), w(8) as usize, w(12) as usize);
            if off > dl {
                return Err(format!("tag {tag} points beyond the header data").into());
            }
            entries.insert(tag, (ty, off, count));
        }
        Ok(Header { entries, data })
    }

    fn raw(&self, tag: T) -> Option<(u32, usize, usize)> {
        self.entries.get(&(tag as u32)).copied()
    }

    fn fixed(&self, tag: T, ty: u32, width: usize) -> Result<Option<&'a [u8]>, HeaderError> {
        let Some((t, off, count)) = self.raw(tag) else {
            return Ok(None);
        };
        if t != ty {
            return Err(format!("tag {tag:?} has type {t}, expected {ty}").into());
        }
        let end = count
            .checked_mul(width)
            .and_then(|n| n.checked_add(off))
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| format!("tag {tag:?} runs past the header data"))?;
        Ok(Some(&self.data[off..end]))
    }

    /// An INT32 array.
    pub fn u32s(&self, tag: T) -> Result<Option<Vec<u32>>, HeaderError> {
        Ok(self.fixed(tag, TYPE_INT32, 4)?.map(|b| {
            b.chunks_exact(4)
                .map(|c| u32::from_be_bytes(c.try_into().unwrap_or_default()))
                .collect()
        }))
    }

    /// An INT16 array.
    pub fn u16s(&self, tag: T) -> Result<Option<Vec<u16>>, HeaderError> {
        Ok(self.fixed(tag, TYPE_INT16, 2)?.map(|b| {
            b.chunks_exact(2)
                .map(|c| u16::from_be_bytes(c.try_into().unwrap_or_default()))
                .collect()
        }))
    }

    /// An INT64 array.
    pub fn u64s(&self, tag: T) -> Result<Option<Vec<u64>>, HeaderError> {
        Ok(self.fixed(tag, TYPE_INT64, 8)?.map(|b| {
            b.chunks_exact(8)
                .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()))
                .collect()
        }))
    }

    /// A BIN value.
    pub fn bin(&self, tag: T) -> Result<Option<&'a [u8]>, HeaderError> {
        self.fixed(tag, TYPE_BIN, 1)
    }

    /// Any string-typed value as a list (a STRING is a list of one).
    pub fn strings(&self, tag: T) -> Result<Option<Vec<String>>, HeaderError> {
        let Some((t, off, count)) = self.raw(tag) else {
            return Ok(None);
        };
        if !matches!(t, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) {
            return Err(format!("tag {tag:?} has type {t}, expected a string").into());
        }
        let count = if t == TYPE_STRING { 1 } else { count };
        // An I18N string's first entry is the untranslated one; that is all kiln needs.
        let mut out = Vec::with_capacity(count.min(self.data.len()));
        let mut pos = off;
        for _ in 0..count {
            let rest = &self.data[pos.min(self.data.len())..];
            let n = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| format!("tag {tag:?} has an unterminated string"))?;
            let s =
                std::str::from_utf8(&rest[..n]).map_err(|_| format!("tag {tag:?} is not UTF-8"))?;
            out.push(s.to_owned());
            pos += n + 1;
        }
        Ok(Some(out))
    }

    /// The first string of a string-typed tag.
    pub fn string(&self, tag: T) -> Result<Option<String>, HeaderError> {
        Ok(self.strings(tag)?.and_then(|v| v.into_iter().next()))
    }
}

/// `v` when it has `n` entries (absent = `n` defaults), else an error naming the tag.
fn per_file<V: Clone + Default>(
    v: Option<Vec<V>>,
    n: usize,
    tag: T,
) -> Result<Vec<V>, HeaderError> {
    match v {
        None => Ok(vec![V::default(); n]),
        Some(v) if v.len() == n => Ok(v),
        Some(v) => Err(format!("tag {tag:?} has {} entries for {n} files", v.len()).into()),
    }
}

fn files(h: &Header<'_>) -> Result<Vec<FileInfo>, HeaderError> {
    let Some(basenames) = h.strings(T::RPMTAG_BASENAMES)? else {
        if h.raw(T::RPMTAG_OLDFILENAMES).is_some() {
            return Err("uncompressed file lists (OLDFILENAMES) are not supported".into());
        }
        return Ok(Vec::new());
    };
    let n = basenames.len();
    let dirnames = h.strings(T::RPMTAG_DIRNAMES)?.unwrap_or_default();
    let dirindexes = per_file(h.u32s(T::RPMTAG_DIRINDEXES)?, n, T::RPMTAG_DIRINDEXES)?;
    let modes = per_file(h.u16s(T::RPMTAG_FILEMODES)?, n, T::RPMTAG_FILEMODES)?;
    let users = per_file(
        h.strings(T::RPMTAG_FILEUSERNAME)?,
        n,
        T::RPMTAG_FILEUSERNAME,
    )?;
    let groups = per_file(
        h.strings(T::RPMTAG_FILEGROUPNAME)?,
        n,
        T::RPMTAG_FILEGROUPNAME,
    )?;
    let mtimes = per_file(h.u32s(T::RPMTAG_FILEMTIMES)?, n, T::RPMTAG_FILEMTIMES)?;
    let sizes: Vec<u64> = match h.u64s(T::RPMTAG_LONGFILESIZES)? {
        Some(v) => per_file(Some(v), n, T::RPMTAG_LONGFILESIZES)?,
        None => per_file(h.u32s(T::RPMTAG_FILESIZES)?, n, T::RPMTAG_FILESIZES)?
            .into_iter()
            .map(u64::from)
            .collect(),
    };
    let flags = per_file(h.u32s(T::RPMTAG_FILEFLAGS)?, n, T::RPMTAG_FILEFLAGS)?;
    let digests = per_file(h.strings(T::RPMTAG_FILEDIGESTS)?, n, T::RPMTAG_FILEDIGESTS)?;
    let linktos = per_file(h.strings(T::RPMTAG_FILELINKTOS)?, n, T::RPMTAG_FILELINKTOS)?;
    let rdevs = per_file(h.u16s(T::RPMTAG_FILERDEVS)?, n, T::RPMTAG_FILERDEVS)?;
    let inodes = per_file(h.u32s(T::RPMTAG_FILEINODES)?, n, T::RPMTAG_FILEINODES)?;
    let devices = per_file(h.u32s(T::RPMTAG_FILEDEVICES)?, n, T::RPMTAG_FILEDEVICES)?;
    let langs = per_file(h.strings(T::RPMTAG_FILELANGS)?, n, T::RPMTAG_FILELANGS)?;
    let caps = per_file(h.strings(T::RPMTAG_FILECAPS)?, n, T::RPMTAG_FILECAPS)?;
    let colors = per_file(h.u32s(T::RPMTAG_FILECOLORS)?, n, T::RPMTAG_FILECOLORS)?;
    let mut out = Vec::with_capacity(n);
    for (i, base) in basenames.into_iter().enumerate() {
        let dir = dirnames
            .get(dirindexes[i] as usize)
            .ok_or_else(|| format!("file {i} has dir index {} out of range", dirindexes[i]))?;
        out.push(FileInfo {
            path: format!("{dir}{base}"),
            mode: u32::from(modes[i]),
            user: users[i].clone(),
            group: groups[i].clone(),
            mtime: mtimes[i],
            size: sizes[i],
            flags: flags[i],
            digest: digests[i].clone(),
            linkto: linktos[i].clone(),
            rdev: u32::from(rdevs[i]),
            inode: inodes[i],
            device: devices[i],
            lang: langs[i].clone(),
            caps: caps[i].clone(),
            color: colors[i],
            orig_path: String::new(),
            keep_on_disk: false,
        });
    }
    Ok(out)
}

/// A script slot's prog: STRING (`/bin/sh`) or STRING_ARRAY (`/bin/sh -e`).
fn prog(h: &Header<'_>, tag: T) -> Result<Vec<String>, HeaderError> {
    Ok(h.strings(tag)?.unwrap_or_default())
}

fn scripts(h: &Header<'_>) -> Result<Vec<Scriptlet>, HeaderError> {
    let slots = [
        (
            ScriptKind::PreTrans,
            T::RPMTAG_PRETRANS,
            T::RPMTAG_PRETRANSPROG,
            T::RPMTAG_PRETRANSFLAGS,
        ),
        (
            ScriptKind::Pre,
            T::RPMTAG_PREIN,
            T::RPMTAG_PREINPROG,
            T::RPMTAG_PREINFLAGS,
        ),
        (
            ScriptKind::Post,
            T::RPMTAG_POSTIN,
            T::RPMTAG_POSTINPROG,
            T::RPMTAG_POSTINFLAGS,
        ),
        (
            ScriptKind::PostTrans,
            T::RPMTAG_POSTTRANS,
            T::RPMTAG_POSTTRANSPROG,
            T::RPMTAG_POSTTRANSFLAGS,
        ),
        (
            ScriptKind::PreUn,
            T::RPMTAG_PREUN,
            T::RPMTAG_PREUNPROG,
            T::RPMTAG_PREUNFLAGS,
        ),
        (
            ScriptKind::PostUn,
            T::RPMTAG_POSTUN,
            T::RPMTAG_POSTUNPROG,
            T::RPMTAG_POSTUNFLAGS,
        ),
    ];
    let mut out = Vec::new();
    for (kind, body_tag, prog_tag, flags_tag) in slots {
        let body = h.string(body_tag)?;
        let prog = prog(h, prog_tag)?;
        if body.is_none() && prog.is_empty() {
            continue;
        }
        out.push(Scriptlet {
            kind: Some(kind),
            prog: if prog.is_empty() {
                vec!["/bin/sh".into()]
            } else {
                prog
            },
            body,
            flags: h
                .u32s(flags_tag)?
                .and_then(|v| v.first().copied())
                .unwrap_or(0),
        });
    }
    Ok(out)
}

/// The per-script arrays shared by triggers and file triggers.
fn indexed_scripts(
    h: &Header<'_>,
    scripts: T,
    progs: T,
    flags: T,
) -> Result<Vec<Scriptlet>, HeaderError> {
    let bodies = h.strings(scripts)?.unwrap_or_default();
    let progs = h.strings(progs)?.unwrap_or_default();
    let flags = h.u32s(flags)?.unwrap_or_default();
    Ok(bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| Scriptlet {
            kind: None,
            // One string per script: rpm runs it as a single argv word.
            prog: vec![progs
                .get(i)
                .filter(|p| !p.is_empty())
                .cloned()
                .unwrap_or_else(|| "/bin/sh".into())],
            body: if body.is_empty() { None } else { Some(body) },
            flags: flags.get(i).copied().unwrap_or(0),
        })
        .collect())
}

fn triggers(h: &Header<'_>) -> Result<Vec<Trigger>, HeaderError> {
    let scripts = indexed_scripts(
        h,
        T::RPMTAG_TRIGGERSCRIPTS,
        T::RPMTAG_TRIGGERSCRIPTPROG,
        T::RPMTAG_TRIGGERSCRIPTFLAGS,
    )?;
    let names = h.strings(T::RPMTAG_TRIGGERNAME)?.unwrap_or_default();
    let n = names.len();
    let versions = per_file(
        h.strings(T::RPMTAG_TRIGGERVERSION)?,
        n,
        T::RPMTAG_TRIGGERVERSION,
    )?;
    let flags = per_file(h.u32s(T::RPMTAG_TRIGGERFLAGS)?, n, T::RPMTAG_TRIGGERFLAGS)?;
    let index = per_file(h.u32s(T::RPMTAG_TRIGGERINDEX)?, n, T::RPMTAG_TRIGGERINDEX)?;
    let mut out: Vec<Option<Trigger>> = vec![None; scripts.len()];
    for (i, name) in names.into_iter().enumerate() {
        let ix = index[i] as usize;
        let script = scripts
            .get(ix)
            .ok_or_else(|| format!("trigger {name} refers to missing script {ix}"))?;
        let kind = if flags[i] & RPMSENSE_TRIGGERPREIN != 0 {
            TriggerKind::PreIn
        } else if flags[i] & RPMSENSE_TRIGGERIN != 0 {
            TriggerKind::In
        } else if flags[i] & RPMSENSE_TRIGGERUN != 0 {
            TriggerKind::Un
        } else if flags[i] & RPMSENSE_TRIGGERPOSTUN != 0 {
            TriggerKind::PostUn
        } else {
            return Err(format!("trigger on {name} has no trigger kind in its flags").into());
        };
        let t = out[ix].get_or_insert_with(|| Trigger {
            kind,
            conditions: Vec::new(),
            script: script.clone(),
        });
        t.conditions.push(Dep {
            name,
            flags: flags[i],
            version: versions[i].clone(),
        });
    }
    Ok(out.into_iter().flatten().collect())
}

fn file_triggers(h: &Header<'_>) -> Result<Vec<FileTrigger>, HeaderError> {
    let mut out = Vec::new();
    let sets = [
        (
            false,
            T::RPMTAG_FILETRIGGERSCRIPTS,
            T::RPMTAG_FILETRIGGERSCRIPTPROG,
            T::RPMTAG_FILETRIGGERSCRIPTFLAGS,
            T::RPMTAG_FILETRIGGERNAME,
            T::RPMTAG_FILETRIGGERINDEX,
            T::RPMTAG_FILETRIGGERFLAGS,
            T::RPMTAG_FILETRIGGERPRIORITIES,
        ),
        (
            true,
            T::RPMTAG_TRANSFILETRIGGERSCRIPTS,
            T::RPMTAG_TRANSFILETRIGGERSCRIPTPROG,
            T::RPMTAG_TRANSFILETRIGGERSCRIPTFLAGS,
            T::RPMTAG_TRANSFILETRIGGERNAME,
            T::RPMTAG_TRANSFILETRIGGERINDEX,
            T::RPMTAG_TRANSFILETRIGGERFLAGS,
            T::RPMTAG_TRANSFILETRIGGERPRIORITIES,
        ),
    ];
    for (trans, scripts_t, prog_t, sflags_t, name_t, index_t, flags_t, prio_t) in sets {
        let scripts = indexed_scripts(h, scripts_t, prog_t, sflags_t)?;
        let names = h.strings(name_t)?.unwrap_or_default();
        let n = names.len();
        let index = per_file(h.u32s(index_t)?, n, index_t)?;
        let flags = per_file(h.u32s(flags_t)?, n, flags_t)?;
        let prios = h.u32s(prio_t)?.unwrap_or_default();
        let mut set: Vec<Option<FileTrigger>> = vec![None; scripts.len()];
        for (i, name) in names.into_iter().enumerate() {
            let ix = index[i] as usize;
            let script = scripts
                .get(ix)
                .ok_or_else(|| format!("file trigger on {name} refers to missing script {ix}"))?;
            let f = flags[i];
            let kind = match (trans, f) {
                (false, f) if f & RPMSENSE_TRIGGERIN != 0 => FileTriggerKind::In,
                (false, f) if f & RPMSENSE_TRIGGERUN != 0 => FileTriggerKind::Un,
                (false, f) if f & RPMSENSE_TRIGGERPOSTUN != 0 => FileTriggerKind::PostUn,
                (true, f) if f & RPMSENSE_TRIGGERIN != 0 => FileTriggerKind::TransIn,
                (true, f) if f & RPMSENSE_TRIGGERUN != 0 => FileTriggerKind::TransUn,
                (true, f) if f & RPMSENSE_TRIGGERPOSTUN != 0 => FileTriggerKind::TransPostUn,
                _ => return Err(format!("file trigger on {name} has no kind in its flags").into()),
            };
            let t = set[ix].get_or_insert_with(|| FileTrigger {
                kind,
                prefixes: Vec::new(),
                // Stored as INT32; rpm reads it signed.
                priority: prios.get(ix).map_or(1_000_000, |&p| p as i32),
                script: script.clone(),
            });
            t.prefixes.push(name);
        }
        out.extend(set.into_iter().flatten());
    }
    Ok(out)
}

fn deps(h: &Header<'_>, names: T, flags: T, versions: T) -> Result<Vec<Dep>, HeaderError> {
    let names = h.strings(names)?.unwrap_or_default();
    let n = names.len();
    let flags = per_file(h.u32s(flags)?, n, flags)?;
    let versions = per_file(h.strings(versions)?, n, versions)?;
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(i, name)| Dep {
            name,
            flags: flags[i],
            version: versions[i].clone(),
        })
        .collect())
}
