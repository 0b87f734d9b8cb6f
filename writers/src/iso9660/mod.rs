//! ISO 9660 writer: [`FsTree`] in, a bootable hybrid image out, in one sequential pass.
//!
//! kiln's own writer rather than a wrapper around hadris-iso: the faults measured in that
//! crate (PLATFORM.md: deep directories moved to `/rr_moved`, Joliet names cut at 64, the GRUB
//! hybrid MBR address, the zeroed application-use area) sit in its layout code, and a writer
//! that plans everything first can stream file data once and hash it on the way
//! (implantisomd5) without reading the image back.
//!
//! Layout, in 2048-byte blocks:
//! system area (MBR + primary GPT) | PVD | El Torito boot record | Joliet SVD | terminator |
//! path tables (L, M; Joliet L, M) | boot catalog | ISO directories, each followed by its
//! Rock Ridge continuation areas | Joliet directories |
//! file data | 16 blocks of padding || appended ESP | backup GPT.
//!
//! The primary tree carries Rock Ridge (PX, TF, NM, SL, PN; SP and ER on the root), no
//! directory relocation (deep trees stay where they are, as every reader accepts), level 2
//! identifiers and multi-extent files past 4 GiB. The Joliet tree holds directories and
//! regular files with names up to 103 UTF-16 units.

mod names;
pub mod read;
mod susp;

use std::collections::HashSet;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use md5::{Digest, Md5};

use crate::datetime::{civil, from_civil};
use crate::gpt::{self, Gpt, GptPartition};
use crate::tree::{DataSource, FsTree, Kind, Meta, NodeId};

const BLOCK: u64 = 2048;
/// Largest extent of a multi-extent file: the biggest block multiple below 4 GiB.
const MAX_EXTENT: u64 = 0xFFFF_F800;
/// Blocks of zeros after the data (checkisomd5 skips the last 15).
const PAD_BLOCKS: u64 = 16;
/// implantisomd5: where the application-use area sits in the PVD, and its size.
const APPDATA_OFFSET: usize = 883;
const APPDATA_SIZE: usize = 512;

/// Errors writing an ISO image.
#[derive(Debug, thiserror::Error)]
pub enum IsoError {
    /// An option is invalid (volume id too long, boot file missing, ...).
    #[error("{0}")]
    BadOption(String),
    /// A source file could not be read.
    #[error("cannot read `{}`", path.display())]
    Read {
        /// The source path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A source file shrank while being read.
    #[error("`{}` changed size while being read", path.display())]
    Changed {
        /// The source path.
        path: PathBuf,
    },
    /// The tree cannot be represented (too many directories for the path table, ...).
    #[error("{0}")]
    Unsupported(String),
    /// Writing the image failed.
    #[error("cannot write the image")]
    Write(#[source] std::io::Error),
}

/// The BIOS El Torito entry (no emulation), like xorriso's `-b FILE -no-emul-boot`.
#[derive(Debug, Clone)]
pub struct BiosBoot {
    /// The boot image, a path inside the tree (`isolinux/isolinux.bin`, `images/eltorito.img`).
    pub path: PathBuf,
    /// 512-byte sectors the BIOS loads (`-boot-load-size`, 4 for GRUB and ISOLINUX).
    pub load_size: u16,
    /// Patch the boot info table into the image (`-boot-info-table`).
    pub boot_info_table: bool,
    /// Patch GRUB's own boot info at byte 2548 (`--grub2-boot-info`).
    pub grub2_boot_info: bool,
}

/// Which kind of hybrid MBR boot code a template is, which decides how it is patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MbrStyle {
    /// GRUB's `boot_hybrid.img` (`--grub2-mbr`).
    Grub2,
    /// SYSLINUX's `isohdpfx.bin` (`-isohybrid-mbr`).
    Isohybrid,
}

impl MbrStyle {
    /// Guess from the template's bytes: GRUB's code carries the string `GRUB`.
    pub fn detect(template: &[u8]) -> MbrStyle {
        if template.windows(4).any(|w| w == b"GRUB") {
            MbrStyle::Grub2
        } else {
            MbrStyle::Isohybrid
        }
    }
}

/// The hybrid layout that lets the image boot from a USB stick.
#[derive(Debug, Clone)]
pub struct Hybrid {
    /// MBR boot code (432 to 512 bytes); empty for media without BIOS boot (UEFI-only arches):
    /// the boot code area stays zeroed and only the partition tables are written.
    pub mbr_template: Vec<u8>,
    /// How to patch it.
    pub style: MbrStyle,
    /// Write a GPT (protective MBR, ISO partition, appended ESP) instead of an MBR table.
    pub gpt: bool,
    /// Append the EFI boot image as a partition (`-append_partition 2 0xef`).
    pub append_efi: bool,
}

/// How to write the image.
#[derive(Debug, Clone)]
pub struct IsoOptions {
    /// Volume id (`-V`), at most 32 bytes.
    pub volume_id: String,
    /// System id.
    pub system_id: String,
    /// Publisher (`-publisher`).
    pub publisher: String,
    /// Application (`-A`).
    pub application: String,
    /// Data preparer (`-p`).
    pub preparer: String,
    /// Write a Joliet tree.
    pub joliet: bool,
    /// BIOS boot entry.
    pub bios_boot: Option<BiosBoot>,
    /// UEFI boot entry: a FAT image, a path inside the tree (`images/efiboot.img`).
    pub efi_boot: Option<PathBuf>,
    /// Where the boot catalog appears in the tree (`-c`), when booting.
    pub boot_catalog: PathBuf,
    /// Hybrid MBR/GPT.
    pub hybrid: Option<Hybrid>,
    /// Implant an implantisomd5-compatible checksum.
    pub implant_md5: bool,
    /// Volume dates and the clamp for file times; `None` means now, unclamped.
    pub source_date_epoch: Option<i64>,
}

impl Default for IsoOptions {
    fn default() -> Self {
        IsoOptions {
            volume_id: "CDROM".into(),
            system_id: "LINUX".into(),
            publisher: String::new(),
            application: String::new(),
            preparer: String::new(),
            joliet: true,
            bios_boot: None,
            efi_boot: None,
            boot_catalog: PathBuf::from("boot.cat"),
            hybrid: None,
            implant_md5: false,
            source_date_epoch: None,
        }
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct IsoReport {
    /// Bytes written, appended partitions and backup GPT included.
    pub bytes: u64,
    /// Blocks of the ISO 9660 volume (its volume space size).
    pub volume_blocks: u64,
    /// Regular files with data.
    pub files: usize,
    /// Directories.
    pub dirs: usize,
    /// Block of the BIOS boot image.
    pub bios_boot_lba: Option<u32>,
    /// Block of the EFI boot image.
    pub efi_boot_lba: Option<u32>,
    /// The implanted checksum (hex).
    pub md5: Option<String>,
}

/// 7-byte directory record date (ECMA-119 §9.1.5), UTC.
fn rec_date(t: i64) -> [u8; 7] {
    let t = t.clamp(from_civil(1900, 1, 1), from_civil(2155, 12, 31));
    let c = civil(t);
    [
        (c.year - 1900) as u8,
        c.month as u8,
        c.day as u8,
        c.hour as u8,
        c.minute as u8,
        c.second as u8,
        0,
    ]
}

/// 17-byte volume descriptor date (ECMA-119 §8.4.26.1), UTC.
fn vd_date(t: i64) -> [u8; 17] {
    let t = t.clamp(from_civil(1, 1, 1), from_civil(9999, 12, 31));
    let c = civil(t);
    let s = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}00",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    );
    let mut d = [0u8; 17];
    d[..16].copy_from_slice(s.as_bytes());
    d
}

/// Where a node's bytes come from, following hardlinks.
fn owner(tree: &FsTree, id: NodeId) -> NodeId {
    match tree.node(id).kind {
        Kind::Hardlink(t) => t,
        _ => id,
    }
}

fn file_size(tree: &FsTree, id: NodeId) -> u64 {
    match tree.node(owner(tree, id)).kind {
        Kind::File { size, .. } => size,
        _ => 0,
    }
}

/// A child entry of a directory in one of the two trees.
struct Child {
    node: NodeId,
    name: Vec<u8>,
    /// Rock Ridge fields (primary tree only) and how many of their bytes stay in the record.
    susp: Vec<u8>,
    in_rec: usize,
    /// Continuation area index, if some fields spill.
    ce: Option<usize>,
}

/// Rock Ridge fields of a node (`name` empty for `.`/`..`).
fn rr_fields(tree: &FsTree, id: NodeId, name: &[u8], st: &State) -> Vec<u8> {
    let node = tree.node(id);
    let o = owner(tree, id);
    let meta: &Meta = &tree.node(o).meta;
    let mut v = Vec::new();
    let kind_bits = match &tree.node(o).kind {
        Kind::Dir => 0o040000,
        Kind::File { .. } | Kind::Hardlink(_) => 0o100000,
        Kind::Symlink(_) => 0o120000,
        Kind::CharDevice { .. } => 0o020000,
        Kind::BlockDevice { .. } => 0o060000,
        Kind::Fifo => 0o010000,
        Kind::Socket => 0o140000,
    };
    susp::px(
        kind_bits | (meta.mode & 0o7777),
        st.nlink[o],
        meta.uid,
        meta.gid,
        o as u32 + 1,
        &mut v,
    );
    susp::tf(&rec_date(st.clamp(meta.mtime)), &mut v);
    match &tree.node(o).kind {
        Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => {
            susp::pn(*major, *minor, &mut v)
        }
        Kind::Symlink(t) => susp::sl(t.as_bytes(), &mut v),
        _ => {}
    }
    if !name.is_empty() {
        susp::nm(name, &mut v);
    }
    let _ = node;
    v
}

/// Base length of a directory record with a name of `n` bytes.
fn base_len(n: usize) -> usize {
    33 + n + usize::from(n & 1 == 0)
}

/// Decide how much of `susp` stays in a record with a name of `name_len` bytes.
fn split_susp(name_len: usize, susp: &[u8]) -> (usize, bool) {
    let avail = 254 - base_len(name_len);
    if susp.len() <= avail {
        return (susp.len(), false);
    }
    let mut keep = 0;
    for end in susp::field_ends(susp) {
        if end + susp::CE_LEN > avail {
            break;
        }
        keep = end;
    }
    (keep, true)
}

fn rec_len(name_len: usize, in_rec: usize, ce: bool) -> usize {
    let n = base_len(name_len) + in_rec + if ce { susp::CE_LEN } else { 0 };
    n + n % 2
}

/// Writer state shared by the passes.
struct State {
    nlink: Vec<u32>,
    clamp_to: Option<i64>,
}

impl State {
    fn clamp(&self, t: i64) -> i64 {
        self.clamp_to.map_or(t, |c| t.min(c))
    }
}

/// One directory of one tree.
struct DirPlan {
    node: NodeId,
    parent: usize,
    dot_susp: Vec<u8>,
    dot_in_rec: usize,
    dot_ce: Option<usize>,
    dotdot_susp: Vec<u8>,
    children: Vec<Child>,
    lba: u32,
    size: u32,
    /// This directory's continuation areas (indices into the list of all).
    ces: std::ops::Range<usize>,
    /// Blocks they take right after the directory's extent.
    ce_blocks: u64,
}

/// The output, counting position and hashing what implantisomd5 would hash.
struct Sink<W: Write + Seek> {
    out: BufWriter<W>,
    pos: u64,
    md5: Option<Md5Run>,
}

/// implantisomd5's computation: MD5 of the first `total` bytes, read in 32 KiB chunks, with a
/// 3-hex-digit fragment sum taken whenever a chunk's start crosses into the next twenty-first.
struct Md5Run {
    ctx: Md5,
    total: u64,
    hashed: u64,
    prev_frag: u64,
    frags: String,
}

const MD5_CHUNK: u64 = 32 * 1024;
const FRAGMENTS: u64 = 20;

impl Md5Run {
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() && self.hashed < self.total {
            let chunk_start = self.hashed / MD5_CHUNK * MD5_CHUNK;
            let chunk_end = (chunk_start + MD5_CHUNK).min(self.total);
            let n = (data.len() as u64).min(chunk_end - self.hashed) as usize;
            self.ctx.update(&data[..n]);
            self.hashed += n as u64;
            data = &data[n..];
            if self.hashed == chunk_end {
                let frag = chunk_start * (FRAGMENTS + 1) / self.total;
                if frag != self.prev_frag {
                    let d = self.ctx.clone().finalize();
                    for b in d.iter().take(3) {
                        let hex = format!("{b:x}");
                        self.frags.push_str(&hex[..1]);
                    }
                    self.prev_frag = frag;
                }
            }
        }
    }
}

static ZEROS: [u8; 65536] = [0; 65536];

impl<W: Write + Seek> Sink<W> {
    fn write(&mut self, b: &[u8]) -> Result<(), IsoError> {
        if let Some(m) = &mut self.md5 {
            m.feed(b);
        }
        self.out.write_all(b).map_err(IsoError::Write)?;
        self.pos += b.len() as u64;
        Ok(())
    }

    fn zeros(&mut self, mut n: u64) -> Result<(), IsoError> {
        while n > 0 {
            let k = n.min(ZEROS.len() as u64) as usize;
            self.write(&ZEROS[..k])?;
            n -= k as u64;
        }
        Ok(())
    }

    /// Zeros that need not be written: the output is seeked over (a hole in a file).
    fn hole(&mut self, n: u64) -> Result<(), IsoError> {
        if let Some(m) = &mut self.md5 {
            let mut left = n;
            while left > 0 && m.hashed < m.total {
                let k = left.min(ZEROS.len() as u64) as usize;
                m.feed(&ZEROS[..k]);
                left -= k as u64;
            }
        }
        self.out
            .seek(SeekFrom::Current(n as i64))
            .map_err(IsoError::Write)?;
        self.pos += n;
        Ok(())
    }

    fn pad_block(&mut self) -> Result<(), IsoError> {
        let r = self.pos % BLOCK;
        if r != 0 {
            self.zeros(BLOCK - r)?;
        }
        Ok(())
    }

    fn expect(&self, lba: u64, what: &str) -> Result<(), IsoError> {
        if self.pos != lba * BLOCK {
            return Err(IsoError::Unsupported(format!(
                "internal layout error at {what}: at byte {} instead of block {lba}",
                self.pos
            )));
        }
        Ok(())
    }
}

/// Copy `size` bytes of a source into the sink, skipping holes of sparse files.
fn copy_source<W: Write + Seek>(
    sink: &mut Sink<W>,
    data: &DataSource,
    size: u64,
    buf: &mut [u8],
) -> Result<(), IsoError> {
    let path = match data {
        DataSource::Bytes(b) => {
            if (b.len() as u64) < size {
                return Err(IsoError::Unsupported(
                    "in-memory file shorter than its size".into(),
                ));
            }
            return sink.write(&b[..size as usize]);
        }
        DataSource::Path(p) => p,
    };
    let err = |source| IsoError::Read {
        path: path.clone(),
        source,
    };
    let f = std::fs::File::open(path).map_err(err)?;
    let mut off = 0u64;
    while off < size {
        let data_at = match rustix::fs::seek(&f, rustix::fs::SeekFrom::Data(off)) {
            Ok(d) => d.min(size),
            Err(rustix::io::Errno::NXIO) => size,
            Err(_) => off,
        };
        if data_at > off {
            sink.hole(data_at - off)?;
            off = data_at;
            continue;
        }
        let hole_at = match rustix::fs::seek(&f, rustix::fs::SeekFrom::Hole(off)) {
            Ok(h) => h.clamp(off + 1, size),
            Err(_) => size,
        };
        while off < hole_at {
            let n = (hole_at - off).min(buf.len() as u64) as usize;
            let got = f.read_at(&mut buf[..n], off).map_err(err)?;
            if got == 0 {
                return Err(IsoError::Changed { path: path.clone() });
            }
            sink.write(&buf[..got])?;
            off += got as u64;
        }
    }
    Ok(())
}

fn read_all(data: &DataSource, size: u64) -> Result<Vec<u8>, IsoError> {
    match data {
        DataSource::Bytes(b) => Ok(b[..(size as usize).min(b.len())].to_vec()),
        DataSource::Path(p) => {
            let v = std::fs::read(p).map_err(|source| IsoError::Read {
                path: p.clone(),
                source,
            })?;
            if (v.len() as u64) < size {
                return Err(IsoError::Changed { path: p.clone() });
            }
            Ok(v[..size as usize].to_vec())
        }
    }
}

fn padded(s: &str, n: usize) -> Vec<u8> {
    let mut v = s.as_bytes()[..s.len().min(n)].to_vec();
    v.resize(n, b' ');
    v
}

fn padded_ucs2(s: &str, n: usize) -> Vec<u8> {
    let mut v: Vec<u8> = s
        .encode_utf16()
        .take(n / 2)
        .flat_map(|u| u.to_be_bytes())
        .collect();
    while v.len() < n {
        v.extend_from_slice(&[0, b' ']);
    }
    v.truncate(n);
    v
}

/// A directory record.
fn record(
    extent: u32,
    size: u32,
    flags: u8,
    date: &[u8; 7],
    name: &[u8],
    susp: &[u8],
    out: &mut Vec<u8>,
) {
    let start = out.len();
    let len = {
        let n = base_len(name.len()) + susp.len();
        n + n % 2
    };
    out.push(len as u8);
    out.push(0);
    susp::both32(extent, out);
    susp::both32(size, out);
    out.extend_from_slice(date);
    out.push(flags);
    out.extend_from_slice(&[0, 0, 1, 0, 0, 1]);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    if name.len() & 1 == 0 {
        out.push(0);
    }
    out.extend_from_slice(susp);
    out.resize(start + len, 0);
}

/// Write `tree` as an ISO image to `out` (at its position 0).
pub fn write_iso<W: Write + Seek>(
    tree: &FsTree,
    opts: &IsoOptions,
    out: W,
) -> Result<IsoReport, IsoError> {
    write_iso_with_progress(tree, opts, out, &mut |_, _| {})
}

/// [`write_iso`], calling `progress(bytes_done, bytes_total)` as file data is written.
pub fn write_iso_with_progress<W: Write + Seek>(
    tree: &FsTree,
    opts: &IsoOptions,
    out: W,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<IsoReport, IsoError> {
    let bad = |m: String| Err(IsoError::BadOption(m));
    if opts.volume_id.len() > 32 || !opts.volume_id.bytes().all(|c| (0x20..0x7f).contains(&c)) {
        return bad(format!(
            "volume id `{}` must be at most 32 printable ASCII characters",
            opts.volume_id
        ));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let vol_time = opts.source_date_epoch.unwrap_or(now);

    // The boot catalog becomes a visible file, like xorriso's `-c`.
    let booting = opts.bios_boot.is_some() || opts.efi_boot.is_some();
    let mut owned;
    let mut tree = tree;
    let mut catalog_node = None;
    if booting {
        owned = tree.clone();
        let meta = Meta {
            mode: 0o444,
            mtime: vol_time,
            ..Meta::default()
        };
        let kind = Kind::File {
            size: BLOCK,
            data: DataSource::Bytes(Arc::from(vec![0u8; BLOCK as usize])),
        };
        let id = match owned.lookup(&opts.boot_catalog) {
            Some(_) => {
                return bad(format!(
                    "boot catalog path `{}` already exists in the tree",
                    opts.boot_catalog.display()
                ))
            }
            None => owned.insert(&opts.boot_catalog, meta, kind).map_err(|e| {
                IsoError::BadOption(format!(
                    "boot catalog `{}`: {e}",
                    opts.boot_catalog.display()
                ))
            })?,
        };
        catalog_node = Some(id);
        tree = &owned;
    }
    let find_file = |p: &Path, what: &str| -> Result<NodeId, IsoError> {
        let id = tree
            .lookup(p)
            .map(|id| owner(tree, id))
            .filter(|&id| matches!(tree.node(id).kind, Kind::File { .. }))
            .ok_or_else(|| {
                IsoError::BadOption(format!(
                    "{what} `{}` is not a regular file in the tree",
                    p.display()
                ))
            })?;
        Ok(id)
    };
    let bios_node = match &opts.bios_boot {
        Some(b) => Some(find_file(&b.path, "BIOS boot image")?),
        None => None,
    };
    let efi_node = match &opts.efi_boot {
        Some(p) => Some(find_file(p, "EFI boot image")?),
        None => None,
    };
    if let Some(h) = &opts.hybrid {
        let code = !h.mbr_template.is_empty();
        if code && !(432..=512).contains(&h.mbr_template.len()) {
            return bad(format!(
                "hybrid MBR template is {} bytes, expected 432 to 512",
                h.mbr_template.len()
            ));
        }
        if code && bios_node.is_none() {
            return bad("hybrid MBR boot code needs a BIOS boot image".into());
        }
        if !code && efi_node.is_none() {
            return bad("a hybrid image without MBR boot code needs an EFI boot image".into());
        }
        if h.append_efi && efi_node.is_none() {
            return bad("appending the EFI partition needs an EFI boot image".into());
        }
    }

    // Link counts.
    let n = tree.len();
    let mut st = State {
        nlink: vec![0; n],
        clamp_to: opts.source_date_epoch,
    };
    for id in tree.walk() {
        let node = tree.node(id);
        if node.kind == Kind::Dir {
            st.nlink[id] += 2;
            if id != FsTree::ROOT {
                st.nlink[node.parent] += 1;
            }
        } else {
            st.nlink[owner(tree, id)] += 1;
        }
    }

    // Directories of both trees in path-table order (breadth first, sorted names).
    let mut ce_areas: Vec<Vec<u8>> = Vec::new();
    let mut plan_tree = |joliet: bool| -> Result<Vec<DirPlan>, IsoError> {
        let mut dirs: Vec<DirPlan> = Vec::new();
        let mut queue = std::collections::VecDeque::from([(FsTree::ROOT, 0usize)]);
        while let Some((id, parent)) = queue.pop_front() {
            let ce_first = ce_areas.len();
            let mut used = HashSet::new();
            let mut children = Vec::new();
            for &c in tree.children(id) {
                let k = &tree.node(owner(tree, c)).kind;
                let is_dir = *k == Kind::Dir;
                let raw = tree.node(c).name.as_bytes();
                let name = if joliet {
                    if !is_dir && !matches!(k, Kind::File { .. }) {
                        continue;
                    }
                    names::joliet_name(raw, &mut used)
                } else {
                    names::iso_name(raw, is_dir, &mut used)
                };
                let mut ch = Child {
                    node: c,
                    name,
                    susp: Vec::new(),
                    in_rec: 0,
                    ce: None,
                };
                if !joliet {
                    ch.susp = rr_fields(tree, c, raw, &st);
                    let (keep, spill) = split_susp(ch.name.len(), &ch.susp);
                    ch.in_rec = keep;
                    if spill {
                        ce_areas.push(ch.susp[keep..].to_vec());
                        ch.ce = Some(ce_areas.len() - 1);
                    }
                }
                children.push(ch);
            }
            if joliet {
                children.sort_by(|a, b| a.name.cmp(&b.name));
            } else {
                children.sort_by(|a, b| names::iso_order(&a.name, &b.name));
            }
            let (mut dot_susp, mut dotdot_susp) = (Vec::new(), Vec::new());
            let (mut dot_in_rec, mut dot_ce) = (0, None);
            if !joliet {
                if id == FsTree::ROOT {
                    susp::sp(&mut dot_susp);
                }
                dot_susp.extend(rr_fields(tree, id, b"", &st));
                if id == FsTree::ROOT {
                    susp::er(&mut dot_susp);
                }
                let (keep, spill) = split_susp(1, &dot_susp);
                dot_in_rec = keep;
                if spill {
                    ce_areas.push(dot_susp[keep..].to_vec());
                    dot_ce = Some(ce_areas.len() - 1);
                }
                let pid = tree.node(id).parent;
                dotdot_susp = rr_fields(tree, pid, b"", &st);
            }
            let me = dirs.len();
            for ch in &children {
                if tree.node(ch.node).kind == Kind::Dir {
                    queue.push_back((ch.node, me));
                }
            }
            dirs.push(DirPlan {
                node: id,
                parent,
                dot_susp,
                dot_in_rec,
                dot_ce,
                dotdot_susp,
                children,
                lba: 0,
                size: 0,
                ces: ce_first..ce_areas.len(),
                ce_blocks: 0,
            });
        }
        if dirs.len() > 0xFFFF {
            return Err(IsoError::Unsupported(format!(
                "{} directories do not fit a path table (65535 at most)",
                dirs.len()
            )));
        }
        Ok(dirs)
    };
    let mut iso_dirs = plan_tree(false)?;
    let mut jol_dirs = if opts.joliet {
        plan_tree(true)?
    } else {
        Vec::new()
    };

    // Sizes of directory extents: records never cross a block.
    let parts = |id: NodeId| -> u64 {
        let s = file_size(tree, id);
        if tree.node(owner(tree, id)).kind != Kind::Dir && s > MAX_EXTENT {
            s.div_ceil(MAX_EXTENT)
        } else {
            1
        }
    };
    let dir_size = |d: &DirPlan, joliet: bool| -> u64 {
        let mut used = 0u64;
        let mut add = |len: usize| {
            let len = len as u64;
            if used % BLOCK + len > BLOCK {
                used = used.div_ceil(BLOCK) * BLOCK;
            }
            used += len;
        };
        if joliet {
            add(34);
            add(34);
        } else {
            add(rec_len(1, d.dot_in_rec, d.dot_ce.is_some()));
            add(rec_len(1, d.dotdot_susp.len(), false));
        }
        for c in &d.children {
            let len = rec_len(c.name.len(), c.in_rec, c.ce.is_some());
            for _ in 0..parts(c.node) {
                add(len);
            }
        }
        used.div_ceil(BLOCK) * BLOCK
    };
    // dotdot fields may exceed a record only if a parent's fields were huge: they never are
    // (PX + TF + SL/PN of a directory), but guard against surprises.
    if iso_dirs.iter().any(|d| d.dotdot_susp.len() > 200) {
        return Err(IsoError::Unsupported("directory fields too long".into()));
    }

    // Path tables.
    let path_table = |dirs: &[DirPlan], joliet: bool, be: bool| -> Vec<u8> {
        let mut v = Vec::new();
        for (i, d) in dirs.iter().enumerate() {
            let name: Vec<u8> = if i == 0 {
                vec![0]
            } else {
                let p = &dirs[d.parent];
                p.children
                    .iter()
                    .find(|c| c.node == d.node)
                    .map(|c| c.name.clone())
                    .unwrap_or_default()
            };
            v.push(name.len() as u8);
            v.push(0);
            if be {
                v.extend_from_slice(&d.lba.to_be_bytes());
                v.extend_from_slice(&(d.parent as u16 + 1).to_be_bytes());
            } else {
                v.extend_from_slice(&d.lba.to_le_bytes());
                v.extend_from_slice(&(d.parent as u16 + 1).to_le_bytes());
            }
            v.extend_from_slice(&name);
            if name.len() % 2 == 1 {
                v.push(0);
            }
        }
        let _ = joliet;
        v
    };
    let pt_bytes = |dirs: &[DirPlan]| -> u64 {
        let mut n = 0u64;
        for (i, d) in dirs.iter().enumerate() {
            let len = if i == 0 {
                1
            } else {
                dirs[d.parent]
                    .children
                    .iter()
                    .find(|c| c.node == d.node)
                    .map_or(0, |c| c.name.len())
            };
            n += 8 + len as u64 + (len as u64 % 2);
        }
        n
    };

    // Block allocation.
    let mut lba: u64 = 16;
    let pvd_lba = lba;
    lba += 1;
    if booting {
        lba += 1;
    }
    let svd_lba = if opts.joliet {
        lba += 1;
        lba - 1
    } else {
        0
    };
    lba += 1; // terminator
    let iso_pt_size = pt_bytes(&iso_dirs);
    let jol_pt_size = pt_bytes(&jol_dirs);
    let iso_l = lba;
    lba += iso_pt_size.div_ceil(BLOCK);
    let iso_m = lba;
    lba += iso_pt_size.div_ceil(BLOCK);
    let (jol_l, jol_m) = if opts.joliet {
        let l = lba;
        lba += jol_pt_size.div_ceil(BLOCK);
        let m = lba;
        lba += jol_pt_size.div_ceil(BLOCK);
        (l, m)
    } else {
        (0, 0)
    };
    let catalog_lba = if booting {
        lba += 1;
        lba - 1
    } else {
        0
    };
    let mut dir_extent = vec![(0u32, 0u32); n];
    let mut jol_extent = vec![(0u32, 0u32); n];
    // Each directory's continuation areas follow its extent: libarchive only reads a CE
    // block when it comes right after the directory being read, as mkisofs lays them out.
    let mut ce_loc = vec![(0u32, 0u32, 0u32); ce_areas.len()];
    for d in iso_dirs.iter_mut() {
        let s = dir_size(d, false);
        d.lba = lba as u32;
        d.size = s as u32;
        dir_extent[d.node] = (d.lba, d.size);
        lba += s / BLOCK;
        let mut used = 0u64;
        for i in d.ces.clone() {
            let len = ce_areas[i].len() as u64;
            if used % BLOCK + len > BLOCK {
                used = used.div_ceil(BLOCK) * BLOCK;
            }
            ce_loc[i] = (
                (lba + used / BLOCK) as u32,
                (used % BLOCK) as u32,
                len as u32,
            );
            used += len;
        }
        d.ce_blocks = used.div_ceil(BLOCK);
        lba += d.ce_blocks;
    }
    for d in jol_dirs.iter_mut() {
        let s = dir_size(d, true);
        d.lba = lba as u32;
        d.size = s as u32;
        jol_extent[d.node] = (d.lba, d.size);
        lba += s / BLOCK;
    }
    // File data in tree order; hardlinks share their owner's extent.
    let mut data_lba = vec![0u32; n];
    let mut data_order = Vec::new();
    let mut total_data = 0u64;
    let mut files = 0usize;
    for id in tree.walk() {
        if let Kind::File { size, .. } = tree.node(id).kind {
            files += 1;
            if Some(id) == catalog_node {
                data_lba[id] = catalog_lba as u32;
                continue;
            }
            if size == 0 {
                continue;
            }
            data_lba[id] = lba as u32;
            lba += size.div_ceil(BLOCK);
            if lba > u64::from(u32::MAX) {
                return Err(IsoError::Unsupported(
                    "image larger than 8 TiB (32-bit block numbers)".into(),
                ));
            }
            total_data += size;
            data_order.push(id);
        }
    }
    lba += PAD_BLOCKS;
    // Whole 8 KiB so the partitions after it start on 16-sector boundaries (sgdisk's advice).
    lba = lba.div_ceil(4) * 4;
    let volume_blocks = lba;

    // Hybrid layout past the volume.
    let efi_size = efi_node.map_or(0, |id| file_size(tree, id));
    let (esp_start, esp_sectors, disk_sectors) = match &opts.hybrid {
        Some(h) => {
            let start = volume_blocks * 4;
            let sectors = if h.append_efi {
                efi_size.div_ceil(16 * gpt::SECTOR) * 16
            } else {
                0
            };
            let tail = if h.gpt { 64 } else { 0 };
            (start, sectors, start + sectors + tail)
        }
        None => (0, 0, volume_blocks * 4),
    };

    // Identity for GUIDs and the MBR signature: derived, so reproducible.
    let ident = {
        let mut h = Md5::new();
        h.update(opts.volume_id.as_bytes());
        h.update(vol_time.to_le_bytes());
        h.update(disk_sectors.to_le_bytes());
        h.update((files as u64).to_le_bytes());
        let d: [u8; 16] = h.finalize().into();
        d
    };
    let gpt_table = match &opts.hybrid {
        Some(h) if h.gpt => {
            let mut disk_guid = ident;
            disk_guid[7] = (disk_guid[7] & 0x0F) | 0x40;
            disk_guid[8] = (disk_guid[8] & 0x3F) | 0x80;
            let part_guid = |k: u8| {
                let mut g = disk_guid;
                g[15] = g[15].wrapping_add(k);
                g
            };
            let mut partitions = vec![GptPartition {
                type_guid: gpt::guid(gpt::BASIC_DATA_TYPE),
                guid: part_guid(1),
                first_lba: 64,
                last_lba: volume_blocks * 4 - 1,
                attributes: 0x1000_0000_0000_0001,
                name: "ISO9660".into(),
            }];
            if esp_sectors > 0 {
                partitions.push(GptPartition {
                    type_guid: gpt::guid(gpt::ESP_TYPE),
                    guid: part_guid(2),
                    first_lba: esp_start,
                    last_lba: esp_start + esp_sectors - 1,
                    attributes: 0,
                    name: "EFI System Partition".into(),
                });
            }
            Some(Gpt {
                disk_guid,
                disk_sectors,
                slots: 248,
                partitions,
            })
        }
        _ => None,
    };
    let bios_lba = bios_node.map(|id| data_lba[id]);
    let efi_lba = efi_node.map(|id| data_lba[id]);

    // System area.
    let mut system = vec![0u8; (16 * BLOCK) as usize];
    if let Some(h) = &opts.hybrid {
        let t = &h.mbr_template;
        let code = t.len().min(446);
        system[..code].copy_from_slice(&t[..code]);
        let boot512 = u64::from(bios_lba.unwrap_or(0)) * 4;
        match h.style {
            // No boot code: nothing points at a BIOS image; a disk signature for the table.
            _ if t.is_empty() => system[440..444].copy_from_slice(&ident[..4]),
            MbrStyle::Grub2 => system[432..440].copy_from_slice(&(boot512 + 4).to_le_bytes()),
            MbrStyle::Isohybrid => {
                system[432..436].copy_from_slice(&(boot512 as u32).to_le_bytes());
                system[436..440].fill(0);
                system[440..444].copy_from_slice(&ident[..4]);
                system[444..446].fill(0);
            }
        }
        let table = if gpt_table.is_some() {
            vec![gpt::mbr_entry(false, 0xEE, 1, disk_sectors - 1)]
        } else {
            let mut t = vec![gpt::mbr_entry(true, 0x17, 0, volume_blocks * 4)];
            if esp_sectors > 0 {
                t.push(gpt::mbr_entry(false, 0xEF, esp_start, esp_sectors));
            }
            t
        };
        gpt::set_mbr_table(&mut system[..512], &table);
        if let Some(g) = &gpt_table {
            let p = g.primary();
            system[512..512 + p.len()].copy_from_slice(&p);
        }
    }

    // Volume descriptors.
    let root_rec = |extent: (u32, u32), out: &mut Vec<u8>| {
        record(
            extent.0,
            extent.1,
            2,
            &rec_date(st.clamp(tree.node(FsTree::ROOT).meta.mtime)),
            &[0],
            &[],
            out,
        )
    };
    let vd = |kind: u8, joliet: bool| -> Vec<u8> {
        let mut v = vec![kind];
        v.extend_from_slice(b"CD001\x01\x00");
        let text = |s: &str, n: usize| {
            if joliet {
                padded_ucs2(s, n)
            } else {
                padded(s, n)
            }
        };
        v.extend(text(&opts.system_id, 32));
        v.extend(text(&opts.volume_id, 32));
        v.extend_from_slice(&[0; 8]);
        susp::both32(volume_blocks as u32, &mut v);
        let mut esc = [0u8; 32];
        if joliet {
            esc[..3].copy_from_slice(b"%/E");
        }
        v.extend_from_slice(&esc);
        v.extend_from_slice(&[1, 0, 0, 1, 1, 0, 0, 1, 0, 8, 8, 0]);
        let (pt, l, m, root) = if joliet {
            (jol_pt_size, jol_l, jol_m, jol_extent[FsTree::ROOT])
        } else {
            (iso_pt_size, iso_l, iso_m, dir_extent[FsTree::ROOT])
        };
        susp::both32(pt as u32, &mut v);
        v.extend_from_slice(&(l as u32).to_le_bytes());
        v.extend_from_slice(&[0; 4]);
        v.extend_from_slice(&(m as u32).to_be_bytes());
        v.extend_from_slice(&[0; 4]);
        root_rec(root, &mut v);
        v.extend(text("", 128));
        v.extend(text(&opts.publisher, 128));
        v.extend(text(&opts.preparer, 128));
        v.extend(text(&opts.application, 128));
        for _ in 0..3 {
            v.extend(text("", 37));
        }
        let d = vd_date(vol_time);
        v.extend_from_slice(&d);
        v.extend_from_slice(&d);
        let mut zero = [b'0'; 17];
        zero[16] = 0;
        v.extend_from_slice(&zero);
        v.extend_from_slice(&zero);
        v.push(1);
        v.push(0);
        debug_assert_eq!(v.len(), APPDATA_OFFSET);
        v.extend_from_slice(&[b' '; APPDATA_SIZE]);
        v.resize(BLOCK as usize, 0);
        v
    };

    // El Torito catalog.
    let mut catalog = vec![0u8; BLOCK as usize];
    if booting {
        let mut entries: Vec<(u8, u16, u32)> = Vec::new();
        if let (Some(b), Some(l)) = (&opts.bios_boot, bios_lba) {
            entries.push((0, b.load_size, l));
        }
        if let Some(l) = efi_lba {
            // Whole 2 KiB blocks, as xorriso counts.
            entries.push((0xEF, (efi_size.div_ceil(BLOCK) * 4).min(0xFFFF) as u16, l));
        }
        let c = &mut catalog;
        c[0] = 1;
        c[1] = entries[0].0;
        c[30] = 0x55;
        c[31] = 0xAA;
        let sum = (0..16).fold(0u16, |s, i| {
            s.wrapping_add(u16::from_le_bytes([c[2 * i], c[2 * i + 1]]))
        });
        c[28..30].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
        let entry = |c: &mut [u8], count: u16, l: u32| {
            c[0] = 0x88;
            c[6..8].copy_from_slice(&count.to_le_bytes());
            c[8..12].copy_from_slice(&l.to_le_bytes());
        };
        entry(&mut c[32..64], entries[0].1, entries[0].2);
        let mut at = 64;
        for (i, &(platform, count, l)) in entries.iter().enumerate().skip(1) {
            c[at] = if i + 1 == entries.len() { 0x91 } else { 0x90 };
            c[at + 1] = platform;
            c[at + 2..at + 4].copy_from_slice(&1u16.to_le_bytes());
            entry(&mut c[at + 32..at + 64], count, l);
            at += 64;
        }
    }

    // Write.
    let total_md5 = volume_blocks * BLOCK - 15 * BLOCK;
    let mut sink = Sink {
        out: BufWriter::with_capacity(1 << 20, out),
        pos: 0,
        md5: opts.implant_md5.then(|| Md5Run {
            ctx: Md5::new(),
            total: total_md5,
            hashed: 0,
            prev_frag: 0,
            frags: String::new(),
        }),
    };
    sink.write(&system)?;
    sink.expect(pvd_lba, "PVD")?;
    sink.write(&vd(1, false))?;
    if booting {
        let mut br = vec![0u8, b'C', b'D', b'0', b'0', b'1', 1];
        br.extend_from_slice(b"EL TORITO SPECIFICATION");
        br.resize(71, 0);
        br.extend_from_slice(&(catalog_lba as u32).to_le_bytes());
        br.resize(BLOCK as usize, 0);
        sink.write(&br)?;
    }
    if opts.joliet {
        sink.expect(svd_lba, "SVD")?;
        sink.write(&vd(2, true))?;
    }
    let mut term = vec![255u8, b'C', b'D', b'0', b'0', b'1', 1];
    term.resize(BLOCK as usize, 0);
    sink.write(&term)?;
    sink.expect(iso_l, "path tables")?;
    for (dirs, on) in [(&iso_dirs, true), (&jol_dirs, opts.joliet)] {
        if !on {
            continue;
        }
        for be in [false, true] {
            sink.write(&path_table(dirs, false, be))?;
            sink.pad_block()?;
        }
    }
    if booting {
        sink.expect(catalog_lba, "boot catalog")?;
        sink.write(&catalog)?;
    }
    let date_of = |id: NodeId| rec_date(st.clamp(tree.node(owner(tree, id)).meta.mtime));
    for (dirs, joliet) in [(&iso_dirs, false), (&jol_dirs, true)] {
        let extents = if joliet { &jol_extent } else { &dir_extent };
        for d in dirs.iter() {
            sink.expect(u64::from(d.lba), "directory")?;
            let mut buf: Vec<u8> = Vec::with_capacity(d.size as usize);
            let put = |rec: &[u8], buf: &mut Vec<u8>| {
                let used = buf.len() as u64 % BLOCK;
                if used + rec.len() as u64 > BLOCK {
                    buf.resize(
                        (buf.len() as u64).div_ceil(BLOCK) as usize * BLOCK as usize,
                        0,
                    );
                }
                buf.extend_from_slice(rec);
            };
            let mut rec = Vec::with_capacity(256);
            let me = extents[d.node];
            let parent = extents[tree.node(d.node).parent];
            let mut fields = d.dot_susp[..d.dot_in_rec].to_vec();
            if let Some(ci) = d.dot_ce {
                let (b, o, l) = ce_loc[ci];
                susp::ce(b, o, l, &mut fields);
            }
            record(me.0, me.1, 2, &date_of(d.node), &[0], &fields, &mut rec);
            put(&rec, &mut buf);
            rec.clear();
            let pnode = tree.node(d.node).parent;
            record(
                parent.0,
                parent.1,
                2,
                &date_of(pnode),
                &[1],
                &d.dotdot_susp,
                &mut rec,
            );
            put(&rec, &mut buf);
            for c in &d.children {
                let o = owner(tree, c.node);
                let mut fields = c.susp[..c.in_rec].to_vec();
                if let Some(ci) = c.ce {
                    let (b, off, l) = ce_loc[ci];
                    susp::ce(b, off, l, &mut fields);
                }
                let date = date_of(c.node);
                match &tree.node(o).kind {
                    Kind::Dir => {
                        rec.clear();
                        let e = extents[o];
                        record(e.0, e.1, 2, &date, &c.name, &fields, &mut rec);
                        put(&rec, &mut buf);
                    }
                    Kind::File { size, .. } => {
                        let k = parts(c.node);
                        for i in 0..k {
                            let start = u64::from(data_lba[o]) + i * MAX_EXTENT / BLOCK;
                            let len = (size - i * MAX_EXTENT).min(MAX_EXTENT);
                            let flags = if i + 1 < k { 0x80 } else { 0 };
                            let start = if *size == 0 { 0 } else { start as u32 };
                            rec.clear();
                            record(start, len as u32, flags, &date, &c.name, &fields, &mut rec);
                            put(&rec, &mut buf);
                        }
                    }
                    _ => {
                        rec.clear();
                        record(0, 0, 0, &date, &c.name, &fields, &mut rec);
                        put(&rec, &mut buf);
                    }
                }
            }
            buf.resize(d.size as usize, 0);
            for i in d.ces.clone() {
                let (b, o, _) = ce_loc[i];
                let at = (u64::from(b) - u64::from(d.lba)) * BLOCK + u64::from(o);
                buf.resize(at as usize, 0);
                buf.extend_from_slice(&ce_areas[i]);
            }
            sink.write(&buf)?;
            sink.pad_block()?;
        }
    }
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    for &id in &data_order {
        sink.expect(u64::from(data_lba[id]), "file data")?;
        let Kind::File { size, data } = &tree.node(id).kind else {
            unreachable!("data_order holds files")
        };
        if Some(id) == bios_node {
            let mut img = read_all(data, *size)?;
            patch_boot_image(&mut img, opts.bios_boot.as_ref(), data_lba[id])?;
            sink.write(&img)?;
        } else {
            copy_source(&mut sink, data, *size, &mut buf)?;
        }
        sink.pad_block()?;
        done += size;
        progress(done, total_data);
    }
    sink.zeros(volume_blocks * BLOCK - sink.pos)?;
    sink.expect(volume_blocks, "end of volume")?;
    if esp_sectors > 0 {
        let id = efi_node.expect("checked above");
        if let Kind::File { data, size } = &tree.node(id).kind {
            copy_source(&mut sink, data, *size, &mut buf)?;
        }
        sink.zeros((esp_start + esp_sectors) * gpt::SECTOR - sink.pos)?;
    }
    if let Some(g) = &gpt_table {
        let b = g.backup();
        let tail = disk_sectors * gpt::SECTOR - sink.pos - b.len() as u64;
        sink.zeros(tail)?;
        sink.write(&b)?;
    }
    let bytes = sink.pos;
    let md5 = match sink.md5.take() {
        Some(m) => {
            let frags = m.frags.clone();
            let sum: String = m
                .ctx
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let text = format!(
                "ISO MD5SUM = {sum};SKIPSECTORS = 15;RHLISOSTATUS=1;FRAGMENT SUMS = {frags};FRAGMENT COUNT = {FRAGMENTS};THIS IS NOT THE SAME AS RUNNING MD5SUM ON THIS ISO!!"
            );
            let mut app = [b' '; APPDATA_SIZE];
            app[..text.len()].copy_from_slice(text.as_bytes());
            let w = IsoError::Write;
            sink.out
                .seek(SeekFrom::Start(pvd_lba * BLOCK + APPDATA_OFFSET as u64))
                .map_err(w)?;
            sink.out.write_all(&app).map_err(w)?;
            sink.out.seek(SeekFrom::Start(bytes)).map_err(w)?;
            Some(sum)
        }
        None => None,
    };
    sink.out.flush().map_err(IsoError::Write)?;
    let report = IsoReport {
        bytes,
        volume_blocks,
        files,
        dirs: iso_dirs.len(),
        bios_boot_lba: bios_lba,
        efi_boot_lba: efi_lba,
        md5,
    };
    tracing::debug!(?report, "iso written");
    Ok(report)
}

/// Patch the boot info table (and GRUB's boot info) into a BIOS boot image.
fn patch_boot_image(img: &mut [u8], boot: Option<&BiosBoot>, lba: u32) -> Result<(), IsoError> {
    let Some(b) = boot else { return Ok(()) };
    if b.grub2_boot_info {
        if img.len() < 2556 {
            return Err(IsoError::BadOption(format!(
                "`{}` is too small for GRUB boot info",
                b.path.display()
            )));
        }
        img[2548..2556].copy_from_slice(&(u64::from(lba) * 4 + 5).to_le_bytes());
    }
    if b.boot_info_table {
        if img.len() < 64 {
            return Err(IsoError::BadOption(format!(
                "`{}` is too small for a boot info table",
                b.path.display()
            )));
        }
        let sum = img[64..].chunks(4).fold(0u32, |s, c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            s.wrapping_add(u32::from_le_bytes(w))
        });
        img[8..12].copy_from_slice(&16u32.to_le_bytes());
        img[12..16].copy_from_slice(&lba.to_le_bytes());
        let len = img.len() as u32;
        img[16..20].copy_from_slice(&len.to_le_bytes());
        img[20..24].copy_from_slice(&sum.to_le_bytes());
        img[24..64].fill(0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rec_date(1_700_000_000), [123, 11, 14, 22, 13, 20, 0]);
        assert_eq!(&vd_date(1_700_000_000)[..16], b"2023111422132000");
    }

    #[test]
    fn md5_fragments_match_chunking() {
        // Feeding in odd pieces gives the same result as one piece.
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
        let run = |pieces: &[usize]| {
            let mut m = Md5Run {
                ctx: Md5::new(),
                total: data.len() as u64,
                hashed: 0,
                prev_frag: 0,
                frags: String::new(),
            };
            let mut at = 0;
            for &p in pieces {
                m.feed(&data[at..at + p]);
                at += p;
            }
            m.feed(&data[at..]);
            (m.frags.clone(), m.ctx.finalize())
        };
        assert_eq!(run(&[]), run(&[1, 40_000, 7, 100_000]));
        assert_eq!(run(&[]).0.len(), 3 * 9);
    }
}
