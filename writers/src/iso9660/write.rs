//! The writing pass: every byte of the image in one sequential pass through a [`Sink`] that
//! counts the position, checks it against the layout and hashes what implantisomd5 would,
//! so the checksum is implanted without reading the image back.

use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use md5::{Digest, Md5};

use super::eltorito::{self, BootFiles};
use super::hybrid::Disk;
use super::layout::Layout;
use super::records::{directory_bytes, path_table, Directories, Placement};
use super::rock_ridge::RockRidge;
use super::{IsoError, IsoOptions, APPDATA_OFFSET, APPDATA_SIZE, BLOCK};
use crate::error::IoError;
use crate::gpt;
use crate::tree::{DataSource, FsTree, Kind};

/// The blocks before the directories, built by the earlier steps.
pub(super) struct Head {
    /// The 16 blocks of the system area.
    pub system_area: Vec<u8>,
    pub primary: Vec<u8>,
    /// When booting.
    pub boot_record: Option<Vec<u8>>,
    /// With Joliet.
    pub joliet: Option<Vec<u8>>,
    pub terminator: Vec<u8>,
    /// When booting.
    pub catalog: Option<Vec<u8>>,
}

/// Everything the writing pass reads.
pub(super) struct Image<'a> {
    pub tree: &'a FsTree,
    pub opts: &'a IsoOptions,
    pub rock_ridge: &'a RockRidge,
    pub dirs: &'a Directories,
    pub layout: &'a Layout,
    pub boot: &'a BootFiles,
    pub disk: &'a Disk,
    pub head: Head,
}

/// What the pass wrote: the image's length and the implanted checksum (hex).
pub(super) struct Written {
    pub bytes: u64,
    pub md5: Option<String>,
}

/// Write the image to `out` (at its position 0), calling `progress(done, total)` after each
/// file's data.
pub(super) fn write_image<W: Write + Seek>(
    out: W,
    image: &Image<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Written, IsoError> {
    let layout = image.layout;
    let total_md5 = layout.volume_blocks * BLOCK - 15 * BLOCK;
    let mut sink = Sink {
        out: BufWriter::with_capacity(1 << 20, out),
        pos: 0,
        md5: image.opts.implant_md5.then(|| Md5Run {
            ctx: Md5::new(),
            total: total_md5,
            hashed: 0,
            prev_frag: 0,
            frags: String::new(),
        }),
    };
    let mut buf = vec![0u8; 1 << 20];
    write_head(&mut sink, image)?;
    write_directories(&mut sink, image)?;
    write_file_data(&mut sink, image, &mut buf, progress)?;
    write_tail(&mut sink, image, &mut buf)?;
    let bytes = sink.pos;
    let md5 = sink.implant_md5(layout.pvd_lba)?;
    sink.out.flush().map_err(IsoError::Write)?;
    Ok(Written { bytes, md5 })
}

/// System area, volume descriptors, path tables and boot catalog.
fn write_head<W: Write + Seek>(sink: &mut Sink<W>, image: &Image<'_>) -> Result<(), IsoError> {
    let (head, layout) = (&image.head, image.layout);
    sink.write(&head.system_area)?;
    sink.expect(layout.pvd_lba, "PVD")?;
    sink.write(&head.primary)?;
    if let Some(br) = &head.boot_record {
        sink.write(br)?;
    }
    if let Some(svd) = &head.joliet {
        sink.expect(layout.svd_lba, "SVD")?;
        sink.write(svd)?;
    }
    sink.write(&head.terminator)?;
    sink.expect(layout.iso_tables.l, "path tables")?;
    for (dirs, on) in [
        (&image.dirs.iso, true),
        (&image.dirs.joliet, image.opts.joliet),
    ] {
        if !on {
            continue;
        }
        for big_endian in [false, true] {
            sink.write(&path_table(dirs, big_endian))?;
            sink.pad_block()?;
        }
    }
    if let Some(catalog) = &head.catalog {
        sink.expect(layout.catalog_lba, "boot catalog")?;
        sink.write(catalog)?;
    }
    Ok(())
}

/// The directories of the primary tree (each with its continuation areas), then Joliet's.
fn write_directories<W: Write + Seek>(
    sink: &mut Sink<W>,
    image: &Image<'_>,
) -> Result<(), IsoError> {
    let layout = image.layout;
    let placement = |extents| Placement {
        extents,
        data_lba: &layout.data_lba,
        ce_loc: &layout.ce_loc,
        ce_areas: &image.dirs.ce_areas,
    };
    let trees = [
        (&image.dirs.iso, placement(&layout.dir_extent)),
        (&image.dirs.joliet, placement(&layout.jol_extent)),
    ];
    for (dirs, at) in trees {
        for d in dirs {
            sink.expect(u64::from(d.lba), "directory")?;
            sink.write(&directory_bytes(image.tree, image.rock_ridge, d, &at))?;
            sink.pad_block()?;
        }
    }
    Ok(())
}

/// File data in layout order, the BIOS boot image patched on the way.
fn write_file_data<W: Write + Seek>(
    sink: &mut Sink<W>,
    image: &Image<'_>,
    buf: &mut [u8],
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), IsoError> {
    let (tree, layout) = (image.tree, image.layout);
    let mut done = 0u64;
    for &id in &layout.data_order {
        sink.expect(u64::from(layout.data_lba[id]), "file data")?;
        let Kind::File { size, data } = &tree.node(id).kind else {
            unreachable!("data_order holds files")
        };
        if Some(id) == image.boot.bios {
            let mut img = read_all(data, *size)?;
            let bios = image.opts.bios_boot.as_ref();
            eltorito::patch_boot_image(&mut img, bios, layout.data_lba[id])?;
            sink.write(&img)?;
        } else {
            copy_source(sink, data, *size, buf)?;
        }
        sink.pad_block()?;
        done += size;
        progress(done, layout.total_data);
    }
    Ok(())
}

/// Padding to the end of the volume, then the appended ESP and the backup GPT.
fn write_tail<W: Write + Seek>(
    sink: &mut Sink<W>,
    image: &Image<'_>,
    buf: &mut [u8],
) -> Result<(), IsoError> {
    let (disk, volume_blocks) = (image.disk, image.layout.volume_blocks);
    sink.zeros(volume_blocks * BLOCK - sink.pos)?;
    sink.expect(volume_blocks, "end of volume")?;
    if disk.esp_sectors > 0 {
        let id = image.boot.efi.expect("checked by hybrid::validate");
        if let Kind::File { data, size } = &image.tree.node(id).kind {
            copy_source(sink, data, *size, buf)?;
        }
        sink.zeros((disk.esp_start + disk.esp_sectors) * gpt::SECTOR - sink.pos)?;
    }
    if let Some(g) = &disk.gpt {
        let b = g.backup();
        let tail = disk.disk_sectors * gpt::SECTOR - sink.pos - b.len() as u64;
        sink.zeros(tail)?;
        sink.write(&b)?;
    }
    Ok(())
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
    let err = IoError::at("read", path);
    let f = std::fs::File::open(path).map_err(&err)?;
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
            let got = f.read_at(&mut buf[..n], off).map_err(&err)?;
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
            let v = std::fs::read(p).map_err(IoError::at("read", p))?;
            if (v.len() as u64) < size {
                return Err(IsoError::Changed { path: p.clone() });
            }
            Ok(v[..size as usize].to_vec())
        }
    }
}

impl<W: Write + Seek> Sink<W> {
    /// Write implantisomd5's text into the PVD's application-use area and return the sum, when
    /// the checksum was computed; the output stays positioned at the end.
    fn implant_md5(&mut self, pvd_lba: u64) -> Result<Option<String>, IsoError> {
        let Some(m) = self.md5.take() else {
            return Ok(None);
        };
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
        self.out
            .seek(SeekFrom::Start(pvd_lba * BLOCK + APPDATA_OFFSET as u64))
            .map_err(w)?;
        self.out.write_all(&app).map_err(w)?;
        self.out.seek(SeekFrom::Start(self.pos)).map_err(w)?;
        Ok(Some(sum))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
