//! The compressor benchmark behind `kiln bench-compress`: one tree, written with several squashfs
//! and EROFS settings, each measured for size, compression wall and CPU time, and read-back speed.
//!
//! The input is a directory, a squashfs image or an ISO (its `LiveOS/squashfs.img`, else its
//! files), told apart by content. squashfs images are read back with backhand, EROFS images
//! through the kernel's erofs (a loop mount, so only as root): both independent readers, so the
//! decompression figure is also a check that every byte comes back. Where the kernel mount is
//! not possible (not root, no erofs in the kernel) the EROFS read-back figure is "n/a".

use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::media::erofs::ErofsCompression;
use crate::media::iso_read::{self, EntryKind, IsoReadError};
use crate::media::{
    Codec, DataSource, ErofsError, ErofsOptions, FsTree, Kind, Meta, SquashfsError, SquashfsOptions,
};

use crate::arch::ArchInfo;
use crate::error::IoError;
use crate::media::MediaError;

/// Block size for settings that fix none and when `--block-size` is not given (mksquashfs').
pub const DEFAULT_BLOCK_SIZE: u32 = 128 * 1024;

/// Physical cluster size of EROFS settings without `C=` (mkfs.erofs' default, one block).
pub const DEFAULT_PCLUSTER_SIZE: u32 = 4096;

/// Why a benchmark step failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A setting in the list cannot be parsed or is invalid.
    #[error("invalid setting `{setting}`: {msg}")]
    BadSetting {
        /// The setting as written.
        setting: String,
        /// What is wrong.
        msg: String,
    },
    /// The input is none of the three accepted kinds.
    #[error("`{}` is not a directory, squashfs image or ISO 9660 image", path.display())]
    UnknownInput {
        /// The input path.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Scanning the input directory failed.
    #[error(transparent)]
    Scan(#[from] MediaError),
    /// backhand could not read a squashfs image.
    #[error("cannot read squashfs image `{}`", path.display())]
    ReadSquashfs {
        /// The image.
        path: PathBuf,
        #[source]
        source: backhand::BackhandError,
    },
    /// An image's entries do not form a tree (a path twice, a missing parent).
    #[error("`{}` holds entries that do not form a tree", path.display())]
    Tree {
        /// The image.
        path: PathBuf,
        #[source]
        source: crate::media::TreeError,
    },
    /// The ISO could not be read.
    #[error("cannot read ISO image `{}`", path.display())]
    ReadIso {
        /// The image.
        path: PathBuf,
        #[source]
        source: IsoReadError,
    },
    /// The writer failed.
    #[error("cannot write `{}` with `{setting}`", path.display())]
    Write {
        /// The image.
        path: PathBuf,
        /// The setting.
        setting: String,
        #[source]
        source: SquashfsError,
    },
    /// The EROFS writer failed.
    #[error("cannot write `{}` with `{setting}`", path.display())]
    WriteErofs {
        /// The image.
        path: PathBuf,
        /// The setting.
        setting: String,
        #[source]
        source: ErofsError,
    },
    /// The kernel refused to mount an EROFS image (as root, with erofs in the kernel).
    #[error("cannot mount `{}` read-only with the kernel's erofs: {msg}", path.display())]
    Mount {
        /// The image.
        path: PathBuf,
        /// mount(8)'s message.
        msg: String,
    },
    /// The image read back holds a different number of bytes than the tree.
    #[error("`{}` read back {got} bytes of file data, the tree has {want}", path.display())]
    Mismatch {
        /// The image.
        path: PathBuf,
        /// Bytes read.
        got: u64,
        /// Bytes expected.
        want: u64,
    },
}

impl BenchError {
    /// The user's input is at fault (exit 1), not the environment.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            BenchError::BadSetting { .. } | BenchError::UnknownInput { .. }
        )
    }
}

/// One compressor setting to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// How it was written, with the block size appended when `--block-size` chose it.
    pub label: String,
    /// The image format and its compression.
    pub format: Format,
}

/// What a setting writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// A squashfs image.
    Squashfs {
        /// The compressor and its options.
        codec: Codec,
        /// The squashfs block size.
        block_size: u32,
    },
    /// An EROFS image.
    Erofs {
        /// The algorithm and level; `None` stores the data uncompressed.
        compression: Option<ErofsCompression>,
        /// The physical cluster size (mkfs.erofs `-C`).
        pcluster_size: u32,
    },
}

impl Format {
    /// `squashfs` or `erofs`.
    pub fn name(&self) -> &'static str {
        match self {
            Format::Squashfs { .. } => "squashfs",
            Format::Erofs { .. } => "erofs",
        }
    }

    /// The codec's mksquashfs name, the EROFS algorithm's mkfs.erofs name, or `none`.
    pub fn codec(&self) -> &'static str {
        match self {
            Format::Squashfs { codec, .. } => codec_name(codec),
            Format::Erofs {
                compression: Some(c),
                ..
            } => c.algorithm.name(),
            Format::Erofs { .. } => "none",
        }
    }

    /// The squashfs block size or the EROFS physical cluster size.
    pub fn block_size(&self) -> u32 {
        match self {
            Format::Squashfs { block_size, .. } => *block_size,
            Format::Erofs { pcluster_size, .. } => *pcluster_size,
        }
    }
}

/// The default list: the squashfs settings Fedora, lorax, kiwi and the NixOS squashfs study use
/// (xz at 128K and 1M, xz with the host's BCJ filter, zstd 3/15/19, gzip, lz4hc), and EROFS
/// with lz4hc (mkfs.erofs' usual choice) and lzma at 64K clusters (Fedora 42's live root).
pub fn default_settings(host: &ArchInfo) -> String {
    let mut s = vec!["xz", "xz:b=1M"];
    let bcj = host.xz_bcj.map(|f| format!("xz:bcj={f}:b=1M"));
    s.extend(bcj.as_deref());
    s.extend([
        "zstd:level=3",
        "zstd:level=15",
        "zstd:level=19",
        "gzip",
        "lz4:hc",
        "erofs:lz4hc",
        "erofs:lzma,C=64K",
    ]);
    s.join(",")
}

/// `128K`, `1M`, or bytes.
pub fn format_size(b: u32) -> String {
    if b % (1 << 20) == 0 {
        format!("{}M", b >> 20)
    } else if b % 1024 == 0 {
        format!("{}K", b >> 10)
    } else {
        b.to_string()
    }
}

/// Parse `CODEC[:OPT[:OPT]]` settings separated by commas. `b=SIZE` fixes the block size;
/// other options are mksquashfs' (`level=N`, `hc`, `bcj=x86` (`+` joins several filters),
/// `dict-size=N`, `window=N`, `preset=N`, `extreme`). Settings without `b=` are repeated for
/// each of `block_sizes` (or use 128K when it is empty).
///
/// `erofs[:ALG[,LEVEL]][,C=SIZE]` is an EROFS setting (`erofs:lz4hc,12`, `erofs:lzma,C=64K`,
/// `erofs:C=65536`, `erofs:none`): the comma-separated parts after it that are a level or `C=`
/// belong to it. Its algorithm defaults to lz4hc, its cluster size to 4K; `block_sizes` do not
/// apply to it.
pub fn parse_settings(list: &str, block_sizes: &[u32]) -> Result<Vec<Setting>, BenchError> {
    let mut out = Vec::new();
    for item in split_settings(list) {
        let item = item.as_str();
        let bad = |msg: String| BenchError::BadSetting {
            setting: item.to_owned(),
            msg,
        };
        if item == "erofs" || item.starts_with("erofs:") {
            out.push(parse_erofs(item).map_err(bad)?);
            continue;
        }
        let mut parts = item.split(':');
        let name = parts.next().unwrap_or_default();
        let mut codec = Codec::by_name(name)
            .ok_or_else(|| bad(format!("unknown codec `{name}` (gzip, xz, zstd, lz4)")))?;
        let mut fixed = None;
        for opt in parts {
            if let Some(v) = opt.strip_prefix("b=") {
                fixed = Some(crate::media::parse_size(v).map_err(|e| bad(e.to_string()))?);
            } else {
                codec
                    .set_option(&opt.replace('+', ","))
                    .map_err(|e| bad(e.to_string()))?;
            }
        }
        let sizes: Vec<(u32, bool)> = match (fixed, block_sizes) {
            (Some(b), _) => vec![(b, false)],
            (None, []) => vec![(DEFAULT_BLOCK_SIZE, false)],
            (None, l) => l.iter().map(|&b| (b, true)).collect(),
        };
        for (block_size, append) in sizes {
            if !(4096..=1 << 20).contains(&block_size) || !block_size.is_power_of_two() {
                return Err(bad(format!(
                    "block size {block_size} is not a power of two from 4K to 1M"
                )));
            }
            codec.validate(block_size).map_err(|e| bad(e.to_string()))?;
            let label = if append {
                format!("{item}:b={}", format_size(block_size))
            } else {
                item.to_owned()
            };
            out.push(Setting {
                label,
                format: Format::Squashfs {
                    codec: codec.clone(),
                    block_size,
                },
            });
        }
    }
    if out.is_empty() {
        return Err(BenchError::BadSetting {
            setting: list.to_owned(),
            msg: "no settings given".into(),
        });
    }
    Ok(out)
}

/// The list split at commas, except that a level or `C=` part after an EROFS setting stays
/// with it (`erofs:lz4hc,12,C=64K,xz` is two settings).
fn split_settings(list: &str) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    let mut in_erofs = false;
    for part in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let continues = in_erofs
            && (part.bytes().all(|b| b.is_ascii_digit())
                || part.starts_with("C=")
                || part.starts_with("level="));
        match items.last_mut() {
            Some(last) if continues => {
                last.push(',');
                last.push_str(part);
            }
            _ => {
                in_erofs = part == "erofs" || part.starts_with("erofs:");
                items.push(part.to_owned());
            }
        }
    }
    items
}

/// `erofs[:ALG[,LEVEL]][,C=SIZE]` (already joined by [`split_settings`]).
fn parse_erofs(item: &str) -> Result<Setting, String> {
    let rest = item.strip_prefix("erofs").unwrap_or(item);
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    let mut alg = Vec::new();
    let mut pcluster_size = DEFAULT_PCLUSTER_SIZE;
    for part in rest.split(',').filter(|p| !p.is_empty()) {
        if let Some(v) = part.strip_prefix("C=") {
            pcluster_size = crate::media::parse_size(v).map_err(|e| e.to_string())?;
            if pcluster_size == 0 || pcluster_size % 4096 != 0 {
                return Err(format!(
                    "cluster size {pcluster_size} is not a multiple of 4096"
                ));
            }
        } else {
            alg.push(part);
        }
    }
    let compression = match alg.join(",").as_str() {
        "" => Some(ErofsCompression::parse("lz4hc").map_err(|e| e.to_string())?),
        text => crate::media::erofs_compression(text).map_err(|e| e.to_string())?,
    };
    Ok(Setting {
        label: item.to_owned(),
        format: Format::Erofs {
            compression,
            pcluster_size,
        },
    })
}

/// A codec's mksquashfs name.
pub fn codec_name(c: &Codec) -> &'static str {
    match c {
        Codec::Gzip { .. } => "gzip",
        Codec::Xz { .. } => "xz",
        Codec::Zstd { .. } => "zstd",
        Codec::Lz4 { .. } => "lz4",
    }
}

/// What the input turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    /// A directory tree.
    Dir,
    /// A squashfs image.
    Squashfs,
    /// An ISO 9660 image.
    Iso,
}

/// Tell the input kind by content: `hsqs` at 0, `CD001` at 32769, or a directory.
pub fn detect(path: &Path) -> Result<InputKind, BenchError> {
    let io = |source| IoError::new("read", path, source);
    if std::fs::metadata(path).map_err(io)?.is_dir() {
        return Ok(InputKind::Dir);
    }
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut head = [0u8; 4];
    if f.read_exact(&mut head).is_ok() && &head == b"hsqs" {
        return Ok(InputKind::Squashfs);
    }
    let mut cd = [0u8; 5];
    let iso = f.seek(std::io::SeekFrom::Start(32769)).is_ok() && f.read_exact(&mut cd).is_ok();
    if iso && &cd == b"CD001" {
        return Ok(InputKind::Iso);
    }
    Err(BenchError::UnknownInput {
        path: path.to_owned(),
    })
}

/// The tree to compress and what it holds.
#[derive(Debug)]
pub struct Input {
    /// The tree.
    pub tree: FsTree,
    /// What the input path was.
    pub kind: InputKind,
    /// What inside it was used (`LiveOS/squashfs.img`, `files`, ...), for the report.
    pub source: String,
    /// Bytes of regular file data (each inode once): the "uncompressed" size.
    pub bytes: u64,
    /// File data bytes a reader sees, hardlinks counted per name.
    pub read_bytes: u64,
    /// Regular files.
    pub files: usize,
    // Extracted file data the tree points at; removed on drop.
    _scratch: Option<tempfile::TempDir>,
}

/// Load the input into a tree. Images are extracted into a temporary directory under `scratch`
/// (file data only; the tree keeps their ownership, modes and times).
pub fn load(path: &Path, scratch: &Path) -> Result<Input, BenchError> {
    let kind = detect(path)?;
    let (tree, source, dir) = match kind {
        InputKind::Dir => (
            crate::media::scan(path, true)?,
            "directory".to_owned(),
            None,
        ),
        InputKind::Squashfs => {
            let dir = tempdir(scratch)?;
            let tree = from_squashfs(path, dir.path())?;
            (tree, "squashfs image".to_owned(), Some(dir))
        }
        InputKind::Iso => {
            let dir = tempdir(scratch)?;
            let (tree, source) = from_iso(path, dir.path())?;
            (tree, source, Some(dir))
        }
    };
    let (mut bytes, mut read_bytes, mut files) = (0, 0, 0);
    for id in tree.walk() {
        match &tree.node(id).kind {
            Kind::File { size, .. } => {
                bytes += size;
                read_bytes += size;
                files += 1;
            }
            Kind::Hardlink(t) => {
                if let Kind::File { size, .. } = tree.node(*t).kind {
                    read_bytes += size;
                }
            }
            _ => {}
        }
    }
    Ok(Input {
        tree,
        kind,
        source,
        bytes,
        read_bytes,
        files,
        _scratch: dir,
    })
}

fn tempdir(parent: &Path) -> Result<tempfile::TempDir, BenchError> {
    tempfile::Builder::new()
        .prefix(".kiln-bench-")
        .tempdir_in(parent)
        .map_err(|source| IoError::new("create a directory in", parent, source).into())
}

fn create(path: &Path) -> Result<std::fs::File, BenchError> {
    Ok(std::fs::File::create(path).map_err(IoError::at("create", path))?)
}

/// A squashfs image as a tree whose file data is extracted under `data`. backhand shows neither
/// xattrs nor hardlinks, so the tree has none (hardlinked names become separate files).
fn from_squashfs(image: &Path, data: &Path) -> Result<FsTree, BenchError> {
    let rd = |source| BenchError::ReadSquashfs {
        path: image.to_owned(),
        source,
    };
    let f = std::fs::File::open(image).map_err(IoError::at("read", image))?;
    let fs = backhand::FilesystemReader::from_reader(BufReader::new(f)).map_err(rd)?;
    let mut tree = FsTree::new(Meta::default());
    let mut n = 0usize;
    // backhand lists nodes sorted by path, so parents come before their children.
    for node in fs.files() {
        let h = &node.header;
        let meta = Meta {
            mode: u32::from(h.permissions) & 0o7777,
            uid: h.uid,
            gid: h.gid,
            mtime: i64::from(h.mtime),
            xattrs: Vec::new(),
        };
        let rel = node.fullpath.strip_prefix("/").unwrap_or(&node.fullpath);
        if rel.as_os_str().is_empty() {
            *tree.meta_mut(FsTree::ROOT) = meta;
            continue;
        }
        let kind = match &node.inner {
            backhand::InnerNode::Dir(_) => Kind::Dir,
            backhand::InnerNode::File(file) => {
                n += 1;
                let out = data.join(n.to_string());
                let mut w = std::io::BufWriter::new(create(&out)?);
                let size = std::io::copy(&mut fs.file(file).reader(), &mut w)
                    .and_then(|s| std::io::Write::flush(&mut w).map(|_| s))
                    .map_err(IoError::at("write", &out))?;
                Kind::File {
                    size,
                    data: DataSource::Path(out),
                }
            }
            backhand::InnerNode::Symlink(s) => Kind::Symlink(s.link.clone().into_os_string()),
            backhand::InnerNode::CharacterDevice(d) => {
                let (major, minor) = decode_dev(d.device_number);
                Kind::CharDevice { major, minor }
            }
            backhand::InnerNode::BlockDevice(d) => {
                let (major, minor) = decode_dev(d.device_number);
                Kind::BlockDevice { major, minor }
            }
            backhand::InnerNode::NamedPipe => Kind::Fifo,
            backhand::InnerNode::Socket => Kind::Socket,
        };
        tree.insert(rel, meta, kind)
            .map_err(|source| BenchError::Tree {
                path: image.to_owned(),
                source,
            })?;
    }
    Ok(tree)
}

/// Linux's `new_decode_dev`, the inverse of what squashfs stores.
fn decode_dev(dev: u32) -> (u32, u32) {
    ((dev & 0xfff00) >> 8, (dev & 0xff) | ((dev >> 12) & 0xfff00))
}

/// An ISO's `LiveOS/squashfs.img` as a tree, else the ISO's own files and directories.
fn from_iso(image: &Path, data: &Path) -> Result<(FsTree, String), BenchError> {
    let rd = |source| BenchError::ReadIso {
        path: image.to_owned(),
        source,
    };
    let f = std::fs::File::open(image).map_err(IoError::at("read", image))?;
    let mut r = BufReader::new(f);
    let entries = iso_read::list(&mut r).map_err(rd)?;
    let live = Path::new("LiveOS/squashfs.img");
    if let Some(e) = entries
        .iter()
        .find(|e| e.path == live && e.kind == EntryKind::File)
    {
        let out = data.join("squashfs.img");
        let mut w = std::io::BufWriter::new(create(&out)?);
        iso_read::copy_file(&mut r, e, &mut w).map_err(rd)?;
        std::io::Write::flush(&mut w).map_err(IoError::at("write", &out))?;
        drop(w);
        let tree = from_squashfs(&out, data)?;
        return Ok((tree, "LiveOS/squashfs.img".into()));
    }
    let mut tree = FsTree::new(Meta::default());
    for (n, e) in entries.iter().enumerate() {
        let kind = match e.kind {
            EntryKind::Dir => Kind::Dir,
            EntryKind::File => {
                let out = data.join(n.to_string());
                let mut w = std::io::BufWriter::new(create(&out)?);
                let size = iso_read::copy_file(&mut r, e, &mut w).map_err(rd)?;
                std::io::Write::flush(&mut w).map_err(IoError::at("write", &out))?;
                Kind::File {
                    size,
                    data: DataSource::Path(out),
                }
            }
            // Symlinks and devices carry no data worth compressing.
            EntryKind::Other => continue,
        };
        let default = if e.kind == EntryKind::Dir {
            0o755
        } else {
            0o644
        };
        let meta = Meta {
            mode: e.mode.unwrap_or(default),
            ..Meta::default()
        };
        // A name the tree refuses (duplicate ISO names) is skipped, not fatal: it is a sample.
        if let Err(err) = tree.insert(&e.path, meta, kind) {
            tracing::debug!("skipping `{}` of the ISO: {err}", e.path.display());
        }
    }
    Ok((tree, "ISO files".into()))
}

/// Read every file once so the first setting does not pay for a cold page cache.
pub fn warm(tree: &FsTree) {
    let mut buf = vec![0u8; 1 << 20];
    for id in tree.walk() {
        if let Kind::File {
            data: DataSource::Path(p),
            ..
        } = &tree.node(id).kind
        {
            if let Ok(mut f) = std::fs::File::open(p) {
                while matches!(f.read(&mut buf), Ok(n) if n > 0) {}
            }
        }
    }
}

/// CPU time of this process (all threads), so the compression threads are counted too.
fn cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// What writing one image cost.
#[derive(Debug, Clone, Copy)]
pub struct Compressed {
    /// Image length.
    pub bytes: u64,
    /// Wall time of the write.
    pub wall: Duration,
    /// Process CPU time spent during the write.
    pub cpu: Duration,
}

/// Write `tree` with `setting` to `image`; `threads` 0 means one per core.
pub fn compress(
    tree: &FsTree,
    setting: &Setting,
    image: &Path,
    threads: usize,
) -> Result<Compressed, BenchError> {
    let file = create(image)?;
    let (cpu0, t0) = (cpu_time(), Instant::now());
    // Stops at kiln's interrupt; a half-written image is not a result.
    let written = match &setting.format {
        Format::Squashfs { codec, block_size } => {
            let opts = SquashfsOptions {
                codec: codec.clone(),
                block_size: *block_size,
                threads,
                ..Default::default()
            };
            crate::media::write_squashfs_tree(tree, file, &opts)
                .map(drop)
                .map_err(|source| BenchError::Write {
                    path: image.to_owned(),
                    setting: setting.label.clone(),
                    source,
                })
        }
        Format::Erofs {
            compression,
            pcluster_size,
        } => {
            let opts = ErofsOptions {
                compression: *compression,
                pcluster_size: *pcluster_size,
                threads,
                ..Default::default()
            };
            crate::media::write_erofs_tree(tree, file, &opts)
                .map(drop)
                .map_err(|source| BenchError::WriteErofs {
                    path: image.to_owned(),
                    setting: setting.label.clone(),
                    source,
                })
        }
    };
    if let Err(e) = written {
        let _ = std::fs::remove_file(image);
        return Err(e);
    }
    let (wall, cpu) = (t0.elapsed(), cpu_time().saturating_sub(cpu0));
    let bytes = std::fs::metadata(image)
        .map_err(IoError::at("read", image))?
        .len();
    Ok(Compressed { bytes, wall, cpu })
}

/// Read every file of `image` with backhand (one thread); returns the file bytes and the time.
pub fn read_back(image: &Path) -> Result<(u64, Duration), BenchError> {
    let rd = |source| BenchError::ReadSquashfs {
        path: image.to_owned(),
        source,
    };
    let t0 = Instant::now();
    let f = std::fs::File::open(image).map_err(IoError::at("read", image))?;
    let fs = backhand::FilesystemReader::from_reader(BufReader::new(f)).map_err(rd)?;
    let mut total = 0;
    for node in fs.files() {
        if let backhand::InnerNode::File(file) = &node.inner {
            total += std::io::copy(&mut fs.file(file).reader(), &mut std::io::sink()).map_err(
                |source| {
                    IoError::new(
                        "read",
                        image.join(node.fullpath.strip_prefix("/").unwrap_or(&node.fullpath)),
                        source,
                    )
                },
            )?;
        }
    }
    Ok((total, t0.elapsed()))
}

/// Whether this process can loop-mount an EROFS image: root, and erofs in the kernel.
fn can_mount_erofs() -> Result<(), &'static str> {
    if !rustix::process::geteuid().is_root() {
        return Err("not root");
    }
    // Root of a rootless kiln's user namespace may not mount a block device.
    if crate::userns::in_user_namespace() {
        return Err("in a user namespace (a rootless run)");
    }
    let known = std::fs::read_to_string("/proc/filesystems").is_ok_and(|t| {
        t.lines()
            .any(|l| l.split_whitespace().last() == Some("erofs"))
    });
    if !known {
        return Err("no erofs in the kernel");
    }
    Ok(())
}

/// A read-only mount of an image, unmounted (and its loop device released) on drop.
struct Mounted(PathBuf);

impl Mounted {
    fn erofs(image: &Path, dir: &Path) -> Result<Mounted, BenchError> {
        let mount = || {
            std::process::Command::new("mount")
                .args(["-t", "erofs", "-o", "loop,ro"])
                .arg(image)
                .arg(dir)
                .output()
                .map_err(|source| IoError::new("run mount for", image, source))
        };
        let mut out = mount()?;
        // Two loop mounts at once (another program's) can pick the same free loop device, and
        // the one that loses fails to set it up: try again, a few times.
        for _ in 0..3 {
            if out.status.success()
                || !String::from_utf8_lossy(&out.stderr).contains("failed to setup loop device")
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
            out = mount()?;
        }
        if !out.status.success() {
            return Err(BenchError::Mount {
                path: image.to_owned(),
                msg: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(Mounted(dir.to_owned()))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let ok = std::process::Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            tracing::warn!("cannot unmount `{}`", self.0.display());
        }
    }
}

/// Read every regular file of an EROFS image through the kernel (one thread, names in
/// directory order, hardlinks once per name); `None` where the kernel mount is not possible.
pub fn read_back_erofs(image: &Path) -> Result<Option<(u64, Duration)>, BenchError> {
    if let Err(why) = can_mount_erofs() {
        tracing::info!("EROFS read-back n/a: {why}");
        return Ok(None);
    }
    let parent = image.parent().unwrap_or(Path::new("."));
    let dir = tempfile::Builder::new()
        .prefix(".kiln-bench-mnt-")
        .tempdir_in(parent)
        .map_err(|source| IoError::new("create a directory in", parent, source))?;
    let mounted = Mounted::erofs(image, dir.path())?;
    // Reading only, as backhand's figure: setting up the loop device is not decompression.
    let t0 = Instant::now();
    let mut total = 0;
    let mut buf = vec![0u8; 1 << 20];
    let mut stack = vec![mounted.0.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(IoError::at("read", &d))? {
            let path = e.map_err(IoError::at("read", &d))?.path();
            let md = std::fs::symlink_metadata(&path).map_err(IoError::at("read", &path))?;
            if md.is_dir() {
                stack.push(path);
            } else if md.is_file() {
                let mut f = std::fs::File::open(&path).map_err(IoError::at("read", &path))?;
                loop {
                    match f.read(&mut buf).map_err(IoError::at("read", &path))? {
                        0 => break,
                        n => total += n as u64,
                    }
                }
            }
        }
    }
    let wall = t0.elapsed();
    drop(mounted);
    Ok(Some((total, wall)))
}

/// One line of the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// The setting as written.
    pub setting: String,
    /// Image format: `squashfs` or `erofs`.
    pub format: &'static str,
    /// Codec name (mksquashfs' or mkfs.erofs'; `none` for uncompressed EROFS).
    pub codec: &'static str,
    /// squashfs block size, or EROFS physical cluster size, in bytes.
    pub block_size: u32,
    /// Image file name inside the output directory.
    pub image: String,
    /// Image length in bytes.
    pub image_bytes: u64,
    /// File data in the tree.
    pub uncompressed_bytes: u64,
    /// `uncompressed_bytes / image_bytes`.
    pub ratio: f64,
    /// Compression wall time, seconds.
    pub compress_wall_s: f64,
    /// Compression CPU time (all threads), seconds.
    pub compress_cpu_s: f64,
    /// Wall time to read every file back, seconds; `None` (n/a) when the image could not be
    /// read back here (EROFS without root).
    pub decompress_wall_s: Option<f64>,
    /// Read-back throughput, 10^6 bytes of file data per second; `None` as above.
    pub decompress_mb_s: Option<f64>,
}

/// Compress with `setting`, read back and check, and build the row.
pub fn measure(
    input: &Input,
    setting: &Setting,
    image: &Path,
    threads: usize,
    phase: &mut dyn FnMut(&str),
) -> Result<Row, BenchError> {
    phase("compressing");
    let c = compress(&input.tree, setting, image, threads)?;
    phase("reading back");
    let read = match setting.format {
        Format::Squashfs { .. } => Some(read_back(image)?),
        Format::Erofs { .. } => read_back_erofs(image)?,
    };
    if let Some((got, _)) = read {
        if got != input.read_bytes {
            return Err(BenchError::Mismatch {
                path: image.to_owned(),
                got,
                want: input.read_bytes,
            });
        }
    }
    Ok(Row {
        setting: setting.label.clone(),
        format: setting.format.name(),
        codec: setting.format.codec(),
        block_size: setting.format.block_size(),
        image: image
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        image_bytes: c.bytes,
        uncompressed_bytes: input.bytes,
        ratio: input.bytes as f64 / c.bytes.max(1) as f64,
        compress_wall_s: c.wall.as_secs_f64(),
        compress_cpu_s: c.cpu.as_secs_f64(),
        decompress_wall_s: read.map(|(_, d)| d.as_secs_f64()),
        decompress_mb_s: read.map(|(got, d)| got as f64 / 1e6 / d.as_secs_f64().max(1e-9)),
    })
}

/// A file name for a setting's image: `03-xz_bcj=x86_b=1M.sqfs`, `09-erofs_lzma_C=64K.erofs`.
pub fn image_name(index: usize, setting: &Setting) -> String {
    let clean: String = setting
        .label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "=-+.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let ext = match setting.format {
        Format::Squashfs { .. } => "sqfs",
        Format::Erofs { .. } => "erofs",
    };
    format!("{:02}-{clean}.{ext}", index + 1)
}

/// The whole result, as the JSON report holds it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// The input path.
    pub input: PathBuf,
    /// What it was.
    pub kind: InputKind,
    /// What inside it was compressed.
    pub source: String,
    /// Regular files in the tree.
    pub files: usize,
    /// File data bytes.
    pub uncompressed_bytes: u64,
    /// Compression threads (0: one per core).
    pub threads: usize,
    /// Cores available.
    pub cores: usize,
    /// One row per setting, in the order given.
    pub results: Vec<Row>,
}

fn human(b: u64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.0} kB", b / 1e3)
    }
}

impl Report {
    /// A plain-text table.
    pub fn table(&self) -> String {
        let header = ["setting", "size", "ratio", "wall", "cpu", "read MB/s"];
        let mut rows: Vec<[String; 6]> = vec![header.map(String::from)];
        for r in &self.results {
            rows.push([
                r.setting.clone(),
                human(r.image_bytes),
                format!("{:.2}x", r.ratio),
                format!("{:.2}s", r.compress_wall_s),
                format!("{:.2}s", r.compress_cpu_s),
                r.decompress_mb_s
                    .map_or_else(|| "n/a".to_owned(), |v| format!("{v:.0}")),
            ]);
        }
        let mut w = [0usize; 6];
        for r in &rows {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let mut out = format!(
            "{} ({}, {} files, {})\n",
            self.input.display(),
            self.source,
            self.files,
            human(self.uncompressed_bytes)
        );
        for r in &rows {
            let mut line = format!("{:<w$}", r[0], w = w[0]);
            for i in 1..6 {
                line.push_str(&format!("  {:>w$}", r[i], w = w[i]));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// CSV with a header line; fields with commas or quotes are quoted, figures not measured
    /// are empty.
    pub fn csv(&self) -> String {
        let mut out = String::from(
            "setting,format,codec,block_size,image,image_bytes,uncompressed_bytes,ratio,\
             compress_wall_s,compress_cpu_s,decompress_wall_s,decompress_mb_s\n",
        );
        let opt = |v: Option<f64>, decimals: usize| {
            v.map(|v| format!("{v:.decimals$}")).unwrap_or_default()
        };
        let q = |s: &str| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_owned()
            }
        };
        for r in &self.results {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{:.4},{:.4},{:.4},{},{}\n",
                q(&r.setting),
                r.format,
                r.codec,
                r.block_size,
                q(&r.image),
                r.image_bytes,
                r.uncompressed_bytes,
                r.ratio,
                r.compress_wall_s,
                r.compress_cpu_s,
                opt(r.decompress_wall_s, 4),
                opt(r.decompress_mb_s, 2)
            ));
        }
        out
    }

    /// Pretty-printed JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plain data serializes")
    }

    /// An SVG scatter chart: image size against compression wall time, one labelled point per
    /// setting.
    pub fn svg(&self) -> String {
        let (w, h) = (800.0, 500.0);
        let (left, right, top, bottom) = (80.0, 40.0, 50.0, 60.0);
        let max_x = self
            .results
            .iter()
            .map(|r| r.compress_wall_s)
            .fold(0.0, f64::max);
        let max_y = self
            .results
            .iter()
            .map(|r| r.image_bytes as f64 / 1e6)
            .fold(0.0, f64::max);
        let (x_step, x_end) = axis(max_x);
        let (y_step, y_end) = axis(max_y);
        let px = |x: f64| left + x / x_end * (w - left - right);
        let py = |y: f64| h - bottom - y / y_end * (h - top - bottom);
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
             viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
             <rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n\
             <text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">image size \
             against compression time: {}</text>\n",
            w / 2.0,
            xml(&format!(
                "{} ({})",
                self.input
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                human(self.uncompressed_bytes)
            ))
        );
        let mut x = 0.0;
        while x <= x_end + x_step / 2.0 {
            s.push_str(&format!(
                "<line x1=\"{0:.1}\" y1=\"{1}\" x2=\"{0:.1}\" y2=\"{2}\" stroke=\"#ddd\"/>\n\
                 <text x=\"{0:.1}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
                px(x),
                top,
                h - bottom,
                h - bottom + 16.0,
                tick(x, x_step)
            ));
            x += x_step;
        }
        let mut y = 0.0;
        while y <= y_end + y_step / 2.0 {
            s.push_str(&format!(
                "<line x1=\"{0}\" y1=\"{1:.1}\" x2=\"{2}\" y2=\"{1:.1}\" stroke=\"#ddd\"/>\n\
                 <text x=\"{3}\" y=\"{4:.1}\" text-anchor=\"end\">{5}</text>\n",
                left,
                py(y),
                w - right,
                left - 6.0,
                py(y) + 4.0,
                tick(y, y_step)
            ));
            y += y_step;
        }
        s.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"black\"/>\n\
             <line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{b}\" stroke=\"black\"/>\n\
             <text x=\"{cx}\" y=\"{xl}\" text-anchor=\"middle\">compression wall time (s)</text>\n\
             <text x=\"20\" y=\"{cy}\" text-anchor=\"middle\" transform=\"rotate(-90 20 {cy})\">\
             image size (MB)</text>\n",
            b = h - bottom,
            r = w - right,
            cx = (left + w - right) / 2.0,
            xl = h - 18.0,
            cy = (top + h - bottom) / 2.0,
        ));
        for r in &self.results {
            let (x, y) = (px(r.compress_wall_s), py(r.image_bytes as f64 / 1e6));
            // Labels of points near the right edge go to their left, so they stay inside.
            let (tx, anchor) = if x > w * 0.7 {
                (x - 6.0, "end")
            } else {
                (x + 6.0, "start")
            };
            s.push_str(&format!(
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{}\"/>\n\
                 <text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>\n",
                colour(r.format),
                y - 6.0,
                xml(&r.setting)
            ));
        }
        // A legend only when both formats are plotted.
        if self
            .results
            .iter()
            .any(|r| r.format != self.results[0].format)
        {
            for (i, f) in ["squashfs", "erofs"].into_iter().enumerate() {
                let y = top + 14.0 + 18.0 * i as f64;
                s.push_str(&format!(
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/>\n\
                     <text x=\"{:.1}\" y=\"{:.1}\">{f}</text>\n",
                    w - right - 90.0,
                    y - 9.0,
                    colour(f),
                    w - right - 75.0,
                    y
                ));
            }
        }
        s.push_str("</svg>\n");
        s
    }
}

/// The chart colour of a format's points.
fn colour(format: &str) -> &'static str {
    if format == "erofs" {
        "#ff7f0e"
    } else {
        "#1f77b4"
    }
}

/// A "nice" tick step (1, 2 or 5 times a power of ten) and the axis end for data up to `max`.
fn axis(max: f64) -> (f64, f64) {
    let max = if max > 0.0 { max } else { 1.0 };
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    (step, (max / step).ceil() * step)
}

fn tick(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    format!("{v:.decimals$}")
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn squashfs(s: &Setting) -> (&Codec, u32) {
        match &s.format {
            Format::Squashfs { codec, block_size } => (codec, *block_size),
            other => panic!("{} is {other:?}", s.label),
        }
    }

    #[test]
    fn settings_syntax_and_block_sizes() {
        let s = parse_settings("xz:bcj=x86+arm:b=1M, zstd:level=19,lz4:hc", &[]).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(squashfs(&s[0]).1, 1 << 20);
        assert!(matches!(squashfs(&s[0]).0, Codec::Xz { filters, .. } if filters.len() == 2));
        assert_eq!(squashfs(&s[1]).0, &Codec::Zstd { level: 19 });
        assert_eq!(squashfs(&s[2]).0, &Codec::Lz4 { hc: true });
        assert_eq!(squashfs(&s[2]).1, DEFAULT_BLOCK_SIZE);

        let s = parse_settings("gzip,xz:b=256K", &[65536, 1 << 20]).unwrap();
        let labels: Vec<_> = s.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["gzip:b=64K", "gzip:b=1M", "xz:b=256K"]);

        for bad in ["brotli", "xz:level=3", "zstd:b=3M", "xz:dict-size=1M", ""] {
            assert!(parse_settings(bad, &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn erofs_settings_keep_their_level_and_cluster_size() {
        let s = parse_settings(
            "erofs:lz4hc,12,xz,erofs:lzma,C=65536,erofs,erofs:C=64K,erofs:zstd,level=5,erofs:none",
            &[1 << 20],
        )
        .unwrap();
        let labels: Vec<_> = s.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "erofs:lz4hc,12",
                "xz:b=1M",
                "erofs:lzma,C=65536",
                "erofs",
                "erofs:C=64K",
                "erofs:zstd,level=5",
                "erofs:none"
            ]
        );
        let erofs = |i: usize| match &s[i].format {
            Format::Erofs {
                compression,
                pcluster_size,
            } => (
                compression.map(|c| (c.algorithm.name(), c.level)),
                *pcluster_size,
            ),
            other => panic!("{other:?}"),
        };
        assert_eq!(erofs(0), (Some(("lz4hc", 12)), 4096));
        assert_eq!(erofs(2), (Some(("lzma", 6)), 65536));
        assert_eq!(erofs(3), (Some(("lz4hc", 9)), 4096));
        assert_eq!(erofs(4), (Some(("lz4hc", 9)), 65536));
        assert_eq!(erofs(5), (Some(("zstd", 5)), 4096));
        assert_eq!(erofs(6), (None, 4096));
        assert_eq!((s[6].format.codec(), s[6].format.name()), ("none", "erofs"));
        assert_eq!(image_name(2, &s[2]), "03-erofs_lzma_C=65536.erofs");

        for bad in [
            "erofs:brotli",
            "erofs:lz4hc,13",
            "erofs:C=1000",
            "erofs:lzma,C=x",
            "12",
        ] {
            assert!(parse_settings(bad, &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_list_parses_and_uses_the_arch_table() {
        for a in crate::arch::ARCHES {
            let s = parse_settings(&default_settings(a), &[]).unwrap();
            assert_eq!(s.len(), 9 + usize::from(a.xz_bcj.is_some()), "{}", a.name);
        }
    }

    #[test]
    fn device_numbers_decode_what_squashfs_encodes() {
        for (ma, mi) in [(8, 1), (259, 300), (4095, 0xfffff), (0, 0)] {
            let enc = (mi & 0xff) | (ma << 8) | ((mi & !0xff) << 12);
            assert_eq!(decode_dev(enc), (ma, mi));
        }
    }

    #[test]
    fn axis_steps_are_round() {
        assert_eq!(axis(9.3), (2.0, 10.0));
        assert_eq!(axis(0.42), (0.1, 0.5));
        assert_eq!(axis(0.0), (0.2, 1.0));
    }
}
