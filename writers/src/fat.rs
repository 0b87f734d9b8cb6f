//! FAT12/16 image writer for EFI boot images (`images/efiboot.img`): [`FsTree`] in, a
//! complete image out, sized to its content and built in memory.
//!
//! Layout: one boot sector, two FATs, a fixed root directory, then clusters. Files and
//! directories are allocated contiguously in tree order, so every chain is a straight run.
//! Names that are not already upper-case 8.3 get VFAT long-name entries and a `BASIS~N.EXT`
//! short name. Everything (serial number, dates) derives from the tree and the options, so
//! the same input gives the same bytes. Symlinks, devices, fifos and sockets have no FAT form
//! and are skipped; hardlinks become copies.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::datetime::{civil, from_civil};
use crate::error::IoError;
use crate::tree::{DataSource, FsTree, Kind, NodeId};

const SECTOR: usize = 512;
/// Root directory entries (mkfs.fat's default for hard disks; firmware expects a sane value).
const MIN_ROOT_ENTRIES: usize = 512;
const FAT12_MAX_CLUSTERS: usize = 4084;
const FAT16_MAX_CLUSTERS: usize = 65524;

/// Errors writing a FAT image.
#[derive(Debug, thiserror::Error)]
pub enum FatError {
    /// A source file could not be read.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A file changed size while being read.
    #[error("`{}` changed size while being read", path.display())]
    Changed {
        /// The source path.
        path: PathBuf,
    },
    /// The content does not fit a FAT16 file system.
    #[error("content too large for FAT16 ({0} bytes)")]
    TooLarge(u64),
    /// A name cannot be stored (longer than 255 UTF-16 units).
    #[error("name `{0}` is too long for FAT")]
    BadName(String),
    /// A bad option.
    #[error("{0}")]
    BadOption(String),
    /// Writing the image failed.
    #[error("cannot write the FAT image")]
    Write(#[source] std::io::Error),
}

/// How to write the image.
#[derive(Debug, Clone, Default)]
pub struct FatOptions {
    /// Volume label (at most 11 characters, upper-cased); none writes `NO NAME`.
    pub label: Option<String>,
    /// Volume serial number; none derives one from the content.
    pub serial: Option<u32>,
    /// Clamp every date to at most this (`SOURCE_DATE_EPOCH`).
    pub clamp_mtime: Option<i64>,
    /// Free space to leave, in bytes (rounded up to clusters).
    pub extra_bytes: u64,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct FatReport {
    /// Image length.
    pub bytes: u64,
    /// 12 or 16.
    pub fat_bits: u8,
    /// Data clusters.
    pub clusters: u32,
    /// Cluster size in bytes.
    pub cluster_size: u32,
    /// Files stored.
    pub files: usize,
    /// Entries skipped because FAT cannot hold them (symlinks, devices, ...).
    pub skipped: usize,
}

/// One directory entry to write.
struct Ent {
    node: NodeId,
    long: Option<Vec<u16>>,
    short: [u8; 11],
    is_dir: bool,
    size: u64,
    first_cluster: u32,
}

struct Dir {
    node: NodeId,
    parent: usize,
    ents: Vec<Ent>,
    first_cluster: u32,
    bytes: usize,
}

fn valid_short_char(c: u8) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || b"!#$%&'()-@^_`{}~".contains(&c)
}

/// The name as a plain upper-case 8.3 name, if it is one.
fn plain_short(name: &[u8]) -> Option<[u8; 11]> {
    let (base, ext) = match name.iter().position(|&c| c == b'.') {
        Some(p) => (&name[..p], &name[p + 1..]),
        None => (name, &b""[..]),
    };
    let ok = !base.is_empty()
        && base.len() <= 8
        && ext.len() <= 3
        && (ext.is_empty() != name.contains(&b'.'))
        && base.iter().chain(ext).all(|&c| valid_short_char(c));
    ok.then(|| pack_short(base, ext))
}

fn pack_short(base: &[u8], ext: &[u8]) -> [u8; 11] {
    let mut s = [b' '; 11];
    s[..base.len()].copy_from_slice(base);
    s[8..8 + ext.len()].copy_from_slice(ext);
    s
}

/// A `BASIS~N.EXT` short name not in `used` (Microsoft's FAT spec, "Basis-name generation").
fn mangled_short(name: &[u8], used: &HashSet<[u8; 11]>) -> [u8; 11] {
    let clean = |s: &[u8]| -> Vec<u8> {
        s.iter()
            .filter(|&&c| c != b' ' && c != b'.')
            .map(|&c| {
                let c = c.to_ascii_uppercase();
                if valid_short_char(c) {
                    c
                } else {
                    b'_'
                }
            })
            .collect()
    };
    let (base, ext) = match name.iter().rposition(|&c| c == b'.') {
        Some(p) if p > 0 => (clean(&name[..p]), clean(&name[p + 1..])),
        _ => (clean(name), Vec::new()),
    };
    let ext = &ext[..ext.len().min(3)];
    for n in 1..1_000_000u32 {
        let tail = format!("~{n}");
        let keep = base
            .len()
            .min(8 - tail.len())
            .max(usize::from(base.is_empty()));
        let mut b = base[..keep.min(base.len())].to_vec();
        if b.is_empty() {
            b.push(b'_');
        }
        b.extend_from_slice(tail.as_bytes());
        let s = pack_short(&b, ext);
        if !used.contains(&s) {
            return s;
        }
    }
    unreachable!("a directory cannot hold a million names")
}

fn lfn_checksum(short: &[u8; 11]) -> u8 {
    short
        .iter()
        .fold(0u8, |s, &c| s.rotate_right(1).wrapping_add(c))
}

/// DOS date and time (2-second resolution), clamped to 1980..2107.
fn dos_datetime(t: i64) -> (u16, u16) {
    let t = t.clamp(from_civil(1980, 1, 1), from_civil(2107, 12, 31) + 86_399);
    let c = civil(t);
    let date = ((c.year - 1980) as u16) << 9 | (c.month as u16) << 5 | c.day as u16;
    let time = (c.hour as u16) << 11 | (c.minute as u16) << 5 | (c.second / 2) as u16;
    (date, time)
}

fn dirent(short: &[u8; 11], attr: u8, cluster: u32, size: u32, mtime: i64, out: &mut Vec<u8>) {
    let (date, time) = dos_datetime(mtime);
    let mut e = [0u8; 32];
    e[..11].copy_from_slice(short);
    e[11] = attr;
    e[14..16].copy_from_slice(&time.to_le_bytes());
    e[16..18].copy_from_slice(&date.to_le_bytes());
    e[18..20].copy_from_slice(&date.to_le_bytes());
    e[20..22].copy_from_slice(&((cluster >> 16) as u16).to_le_bytes());
    e[22..24].copy_from_slice(&time.to_le_bytes());
    e[24..26].copy_from_slice(&date.to_le_bytes());
    e[26..28].copy_from_slice(&(cluster as u16).to_le_bytes());
    e[28..32].copy_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&e);
}

fn lfn_entries(long: &[u16], short: &[u8; 11], out: &mut Vec<u8>) {
    let sum = lfn_checksum(short);
    let n = long.len().div_ceil(13);
    for seq in (1..=n).rev() {
        let mut units = [0xFFFFu16; 13];
        let part = &long[(seq - 1) * 13..long.len().min(seq * 13)];
        units[..part.len()].copy_from_slice(part);
        if part.len() < 13 {
            units[part.len()] = 0;
        }
        let mut e = [0u8; 32];
        e[0] = seq as u8 | if seq == n { 0x40 } else { 0 };
        e[11] = 0x0F;
        e[13] = sum;
        let put =
            |e: &mut [u8; 32], at: usize, u: u16| e[at..at + 2].copy_from_slice(&u.to_le_bytes());
        for (i, &u) in units.iter().enumerate() {
            let at = match i {
                0..=4 => 1 + 2 * i,
                5..=10 => 14 + 2 * (i - 5),
                _ => 28 + 2 * (i - 11),
            };
            put(&mut e, at, u);
        }
        out.extend_from_slice(&e);
    }
}

fn clamp(t: i64, opts: &FatOptions) -> i64 {
    opts.clamp_mtime.map_or(t, |c| t.min(c))
}

/// Read a file's bytes from its source.
fn file_bytes(data: &DataSource, size: u64) -> Result<Vec<u8>, FatError> {
    match data {
        DataSource::Bytes(b) => Ok(b.to_vec()),
        DataSource::Path(p) => {
            let err = IoError::at("read", p);
            let f = std::fs::File::open(p).map_err(&err)?;
            let mut v = Vec::with_capacity(size as usize);
            f.take(size + 1).read_to_end(&mut v).map_err(&err)?;
            if v.len() as u64 != size {
                return Err(FatError::Changed { path: p.clone() });
            }
            Ok(v)
        }
    }
}

/// Build the FAT image of `tree` in memory.
pub fn build_fat(tree: &FsTree, opts: &FatOptions) -> Result<(Vec<u8>, FatReport), FatError> {
    let label = volume_label(opts)?;
    let plan = plan_dirs(tree, label.is_some())?;
    let mut dirs = plan.dirs;
    let geo = Geometry::choose(&dirs, opts)?;
    allocate_clusters(&mut dirs, geo.cluster_size);
    let mut img = vec![0u8; geo.total_sectors * SECTOR];
    let serial = opts.serial.unwrap_or_else(|| content_serial(tree, opts));
    img[..SECTOR].copy_from_slice(&boot_sector(&geo, serial, label));
    let fat = fat_table(&dirs, &geo);
    let fat_at = SECTOR;
    img[fat_at..fat_at + fat.len()].copy_from_slice(&fat);
    img[fat_at + fat.len()..fat_at + 2 * fat.len()].copy_from_slice(&fat);
    write_dirs_and_data(&mut img, tree, &dirs, &geo, opts, label)?;
    let report = FatReport {
        bytes: img.len() as u64,
        fat_bits: geo.fat_bits,
        clusters: geo.clusters as u32,
        cluster_size: geo.cluster_size as u32,
        files: plan.files,
        skipped: plan.skipped,
    };
    tracing::debug!(?report, "fat image built");
    Ok((img, report))
}

/// The volume label as a packed 11-byte name, upper-cased.
fn volume_label(opts: &FatOptions) -> Result<Option<[u8; 11]>, FatError> {
    let Some(l) = &opts.label else {
        return Ok(None);
    };
    let l = l.to_ascii_uppercase();
    if l.len() > 11 || !l.bytes().all(|c| c == b' ' || valid_short_char(c)) {
        return Err(FatError::BadOption(format!(
            "volume label `{l}` must be at most 11 letters, digits or _-"
        )));
    }
    Ok(Some(pack_short(l.as_bytes(), b"")))
}

/// The directories in tree order with their entries, and what was counted on the way.
struct DirPlan {
    dirs: Vec<Dir>,
    files: usize,
    skipped: usize,
}

/// Directories in tree order with their entries; names decided here.
fn plan_dirs(tree: &FsTree, has_label: bool) -> Result<DirPlan, FatError> {
    let mut plan = DirPlan {
        dirs: Vec::new(),
        files: 0,
        skipped: 0,
    };
    let mut dir_index = std::collections::HashMap::new();
    for id in tree.walk() {
        if tree.node(id).kind != Kind::Dir {
            continue;
        }
        let parent = if id == FsTree::ROOT {
            0
        } else {
            dir_index[&tree.node(id).parent]
        };
        dir_index.insert(id, plan.dirs.len());
        let ents = dir_entries(tree, id, &mut plan)?;
        let mut n = usize::from(id != FsTree::ROOT) * 2 + usize::from(has_label && id == 0);
        for e in &ents {
            n += 1 + e.long.as_ref().map_or(0, |l| l.len().div_ceil(13));
        }
        plan.dirs.push(Dir {
            node: id,
            parent,
            ents,
            first_cluster: 0,
            bytes: n * 32,
        });
    }
    Ok(plan)
}

/// The entries of directory `id` that FAT can hold, with their short (and long) names,
/// counting files and skipped entries in `plan`.
fn dir_entries(tree: &FsTree, id: NodeId, plan: &mut DirPlan) -> Result<Vec<Ent>, FatError> {
    let mut used = HashSet::new();
    let mut ents = Vec::new();
    for &c in tree.children(id) {
        let node = tree.node(c);
        let (is_dir, size) = match &node.kind {
            Kind::Dir => (true, 0),
            Kind::File { size, .. } => (false, *size),
            Kind::Hardlink(t) => match &tree.node(*t).kind {
                Kind::File { size, .. } => (false, *size),
                _ => {
                    plan.skipped += 1;
                    continue;
                }
            },
            _ => {
                tracing::debug!("fat: skipping `{}`: no FAT form", tree.path(c).display());
                plan.skipped += 1;
                continue;
            }
        };
        if size > u64::from(u32::MAX) {
            return Err(FatError::TooLarge(size));
        }
        let name = node.name.as_bytes();
        let (short, long) = match plain_short(name) {
            Some(s) if !used.contains(&s) => (s, None),
            _ => {
                let s = mangled_short(name, &used);
                let long: Vec<u16> = String::from_utf8_lossy(name).encode_utf16().collect();
                if long.len() > 255 {
                    return Err(FatError::BadName(
                        String::from_utf8_lossy(name).into_owned(),
                    ));
                }
                (s, Some(long))
            }
        };
        used.insert(short);
        plan.files += usize::from(!is_dir);
        ents.push(Ent {
            node: c,
            long,
            short,
            is_dir,
            size,
            first_cluster: 0,
        });
    }
    Ok(ents)
}

/// The file system's shape: cluster size and count, FAT width, where each region starts.
struct Geometry {
    cluster_size: usize,
    clusters: usize,
    fat_bits: u8,
    fat_sectors: usize,
    root_entries: usize,
    /// First sector of the cluster area.
    data_start: usize,
    sectors_per_cluster: usize,
    total_sectors: usize,
}

impl Geometry {
    /// The smallest cluster size (from 2 KiB) whose cluster count fits FAT16.
    fn choose(dirs: &[Dir], opts: &FatOptions) -> Result<Geometry, FatError> {
        let root_entries = (dirs[0].bytes / 32).div_ceil(16).max(MIN_ROOT_ENTRIES / 16) * 16;
        if root_entries > 0xFFF0 {
            return Err(FatError::TooLarge(dirs[0].bytes as u64));
        }
        let mut cs = 2048usize;
        let clusters = loop {
            let mut n = opts.extra_bytes.div_ceil(cs as u64);
            for d in &dirs[1..] {
                n += (d.bytes as u64).div_ceil(cs as u64);
            }
            for d in dirs {
                for e in d.ents.iter().filter(|e| !e.is_dir) {
                    n += e.size.div_ceil(cs as u64);
                }
            }
            let n = n.max(1) as usize;
            if n <= FAT16_MAX_CLUSTERS {
                break n;
            }
            if cs == 32768 {
                return Err(FatError::TooLarge(n as u64 * cs as u64));
            }
            cs *= 2;
        };
        let fat_bits: u8 = if clusters <= FAT12_MAX_CLUSTERS {
            12
        } else {
            16
        };
        let fat_bytes = if fat_bits == 12 {
            (clusters + 2) * 3 / 2 + 1
        } else {
            (clusters + 2) * 2
        };
        let fat_sectors = fat_bytes.div_ceil(SECTOR);
        let root_sectors = root_entries * 32 / SECTOR;
        let data_start = 1 + 2 * fat_sectors + root_sectors;
        let spc = cs / SECTOR;
        Ok(Geometry {
            cluster_size: cs,
            clusters,
            fat_bits,
            fat_sectors,
            root_entries,
            data_start,
            sectors_per_cluster: spc,
            total_sectors: data_start + clusters * spc,
        })
    }

    /// Byte offset of cluster `c`.
    fn cluster_at(&self, c: u32) -> usize {
        (self.data_start + (c as usize - 2) * self.sectors_per_cluster) * SECTOR
    }
}

/// Allocate clusters: directories first, then files, both in tree order.
fn allocate_clusters(dirs: &mut [Dir], cs: usize) {
    let mut next = 2u32;
    let mut alloc = |bytes: u64| -> u32 {
        if bytes == 0 {
            return 0;
        }
        let first = next;
        next += bytes.div_ceil(cs as u64) as u32;
        first
    };
    for d in dirs.iter_mut().skip(1) {
        d.first_cluster = alloc(d.bytes as u64);
    }
    for d in dirs.iter_mut() {
        for e in d.ents.iter_mut().filter(|e| !e.is_dir) {
            e.first_cluster = alloc(e.size);
        }
    }
    let dir_cluster: std::collections::HashMap<NodeId, u32> =
        dirs.iter().map(|d| (d.node, d.first_cluster)).collect();
    for d in dirs.iter_mut() {
        for e in d.ents.iter_mut().filter(|e| e.is_dir) {
            e.first_cluster = dir_cluster[&e.node];
        }
    }
}

/// The serial when none is given: FNV-1a over names and times.
fn content_serial(tree: &FsTree, opts: &FatOptions) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for id in tree.walk() {
        let n = tree.node(id);
        for &b in n
            .name
            .as_bytes()
            .iter()
            .chain(&clamp(n.meta.mtime, opts).to_le_bytes())
        {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// The boot sector with its BIOS parameter block.
fn boot_sector(geo: &Geometry, serial: u32, label: Option<[u8; 11]>) -> [u8; SECTOR] {
    let mut b = [0u8; SECTOR];
    b[..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
    b[3..11].copy_from_slice(b"KILN    ");
    b[11..13].copy_from_slice(&(SECTOR as u16).to_le_bytes());
    b[13] = geo.sectors_per_cluster as u8;
    b[14..16].copy_from_slice(&1u16.to_le_bytes());
    b[16] = 2;
    b[17..19].copy_from_slice(&(geo.root_entries as u16).to_le_bytes());
    if geo.total_sectors < 0x10000 {
        b[19..21].copy_from_slice(&(geo.total_sectors as u16).to_le_bytes());
    } else {
        b[32..36].copy_from_slice(&(geo.total_sectors as u32).to_le_bytes());
    }
    b[21] = 0xF8;
    b[22..24].copy_from_slice(&(geo.fat_sectors as u16).to_le_bytes());
    b[24..26].copy_from_slice(&32u16.to_le_bytes());
    b[26..28].copy_from_slice(&64u16.to_le_bytes());
    b[36] = 0x80;
    b[38] = 0x29;
    b[39..43].copy_from_slice(&serial.to_le_bytes());
    b[43..54].copy_from_slice(&label.unwrap_or(*b"NO NAME    "));
    b[54..62].copy_from_slice(if geo.fat_bits == 12 {
        b"FAT12   "
    } else {
        b"FAT16   "
    });
    // Not bootable: halt forever if a BIOS ever jumps here.
    b[62..65].copy_from_slice(&[0xF4, 0xEB, 0xFD]);
    b[510] = 0x55;
    b[511] = 0xAA;
    b
}

/// One FAT: entries 0 and 1 reserved, then a straight chain per directory and file.
fn fat_table(dirs: &[Dir], geo: &Geometry) -> Vec<u8> {
    let fat_bits = geo.fat_bits;
    let mut fat = vec![0u8; geo.fat_sectors * SECTOR];
    let set = |fat: &mut Vec<u8>, n: usize, v: u32| {
        if fat_bits == 16 {
            fat[n * 2..n * 2 + 2].copy_from_slice(&(v as u16).to_le_bytes());
        } else {
            let at = n * 3 / 2;
            let cur = u16::from_le_bytes([fat[at], fat[at + 1]]);
            let v = (v & 0xFFF) as u16;
            let new = if n & 1 == 0 {
                (cur & 0xF000) | v
            } else {
                (cur & 0x000F) | (v << 4)
            };
            fat[at..at + 2].copy_from_slice(&new.to_le_bytes());
        }
    };
    let eoc = if fat_bits == 12 { 0xFFF } else { 0xFFFF };
    set(&mut fat, 0, if fat_bits == 12 { 0xFF8 } else { 0xFFF8 });
    set(&mut fat, 1, eoc);
    let chain = |fat: &mut Vec<u8>, first: u32, bytes: u64| {
        if first == 0 {
            return;
        }
        let n = bytes.div_ceil(geo.cluster_size as u64) as u32;
        for c in first..first + n {
            set(
                fat,
                c as usize,
                if c + 1 == first + n { eoc } else { c + 1 },
            );
        }
    };
    for d in dirs {
        chain(&mut fat, d.first_cluster, d.bytes as u64);
        for e in d.ents.iter().filter(|e| !e.is_dir) {
            chain(&mut fat, e.first_cluster, e.size);
        }
    }
    fat
}

/// Every directory's entries (the root's in the fixed root area) and every file's data.
fn write_dirs_and_data(
    img: &mut [u8],
    tree: &FsTree,
    dirs: &[Dir],
    geo: &Geometry,
    opts: &FatOptions,
    label: Option<[u8; 11]>,
) -> Result<(), FatError> {
    let root_at = (1 + 2 * geo.fat_sectors) * SECTOR;
    for d in dirs {
        let mut buf = Vec::with_capacity(d.bytes);
        let mtime = clamp(tree.node(d.node).meta.mtime, opts);
        if d.node == FsTree::ROOT {
            if let Some(l) = &label {
                dirent(l, 0x08, 0, 0, mtime, &mut buf);
            }
        } else {
            let parent = &dirs[d.parent];
            let pmtime = clamp(tree.node(parent.node).meta.mtime, opts);
            dirent(b".          ", 0x10, d.first_cluster, 0, mtime, &mut buf);
            dirent(
                b"..         ",
                0x10,
                parent.first_cluster,
                0,
                pmtime,
                &mut buf,
            );
        }
        for e in &d.ents {
            entry_and_data(img, tree, e, geo, opts, &mut buf)?;
        }
        let at = if d.node == FsTree::ROOT {
            root_at
        } else {
            geo.cluster_at(d.first_cluster)
        };
        img[at..at + buf.len()].copy_from_slice(&buf);
    }
    Ok(())
}

/// Append entry `e` (its long-name entries first) to its directory's bytes and copy a file's
/// data into its clusters.
fn entry_and_data(
    img: &mut [u8],
    tree: &FsTree,
    e: &Ent,
    geo: &Geometry,
    opts: &FatOptions,
    buf: &mut Vec<u8>,
) -> Result<(), FatError> {
    if let Some(l) = &e.long {
        lfn_entries(l, &e.short, buf);
    }
    let node = tree.node(e.node);
    let attr = if e.is_dir {
        0x10
    } else if node.meta.mode & 0o222 == 0 {
        0x01
    } else {
        0x00
    };
    let size = if e.is_dir { 0 } else { e.size as u32 };
    dirent(
        &e.short,
        attr,
        e.first_cluster,
        size,
        clamp(node.meta.mtime, opts),
        buf,
    );
    if !e.is_dir && e.size > 0 {
        let owner = match node.kind {
            Kind::Hardlink(t) => t,
            _ => e.node,
        };
        let Kind::File { data, .. } = &tree.node(owner).kind else {
            unreachable!("only files get data")
        };
        let bytes = file_bytes(data, e.size)?;
        let at = geo.cluster_at(e.first_cluster);
        img[at..at + bytes.len()].copy_from_slice(&bytes);
    }
    Ok(())
}

/// Write the FAT image of `tree` to `out` (an EFI boot image when it holds `EFI/BOOT/*.EFI`).
pub fn write_efiboot<W: Write>(
    tree: &FsTree,
    opts: &FatOptions,
    out: &mut W,
) -> Result<FatReport, FatError> {
    let (img, report) = build_fat(tree, opts)?;
    out.write_all(&img).map_err(FatError::Write)?;
    out.flush().map_err(FatError::Write)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        assert_eq!(&plain_short(b"BOOTX64.EFI").unwrap(), b"BOOTX64 EFI");
        assert_eq!(&plain_short(b"EFI").unwrap(), b"EFI        ");
        assert!(plain_short(b"grub.cfg").is_none());
        assert!(plain_short(b"A.B.C").is_none());
        assert!(plain_short(b"TOOLONGNAME").is_none());
        let used = HashSet::new();
        assert_eq!(&mangled_short(b"grub.cfg", &used), b"GRUB~1  CFG");
        let used: HashSet<_> = [*b"GRUB~1  CFG"].into();
        assert_eq!(&mangled_short(b"grub.cfg", &used), b"GRUB~2  CFG");
        assert_eq!(&mangled_short(b".hidden", &HashSet::new()), b"HIDDEN~1   ");
    }

    #[test]
    fn lfn_checksum_known() {
        // From the FAT specification's example algorithm applied to "FOO     BAR".
        let mut s: u8 = 0;
        for &c in b"FOO     BAR" {
            s = (if s & 1 != 0 { 0x80u8 } else { 0 })
                .wrapping_add(s >> 1)
                .wrapping_add(c);
        }
        assert_eq!(lfn_checksum(b"FOO     BAR"), s);
    }
}
