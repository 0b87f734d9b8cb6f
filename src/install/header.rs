//! RPM file headers: the lead, the signature header and the main header, kept raw (the rpmdb
//! stores them) and parsed into what the installer needs.

use std::path::PathBuf;

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
