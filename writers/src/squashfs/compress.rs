//! The block compressors squashfs supports, behind one type, and their on-disk option records.
//!
//! Every block is compressed on its own (squashfs decompresses blocks independently), and a
//! block whose compressed form is not smaller is stored raw by the caller.

use std::cell::RefCell;

use super::error::SquashfsError;

/// An xz branch/call/jump filter, tried per block as mksquashfs does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bcj {
    /// x86 and x86-64.
    X86,
    /// PowerPC (big endian).
    PowerPc,
    /// Itanium.
    Ia64,
    /// 32-bit ARM.
    Arm,
    /// ARM Thumb.
    ArmThumb,
    /// SPARC.
    Sparc,
    /// ARM64 (needs liblzma >= 5.4 to read and a kernel with `XZ_DEC_ARM64` to mount).
    Arm64,
}

impl Bcj {
    /// The bit for this filter in the xz option record (squashfs-tools `xz_wrapper.h`).
    fn flag(self) -> u32 {
        match self {
            Bcj::X86 => 0x1,
            Bcj::PowerPc => 0x2,
            Bcj::Ia64 => 0x4,
            Bcj::Arm => 0x8,
            Bcj::ArmThumb => 0x10,
            Bcj::Sparc => 0x20,
            Bcj::Arm64 => 0x40,
        }
    }

    /// The name mksquashfs gives this filter.
    pub fn name(self) -> &'static str {
        match self {
            Bcj::X86 => "x86",
            Bcj::PowerPc => "powerpc",
            Bcj::Ia64 => "ia64",
            Bcj::Arm => "arm",
            Bcj::ArmThumb => "armthumb",
            Bcj::Sparc => "sparc",
            Bcj::Arm64 => "arm64",
        }
    }

    /// Parse a filter name as mksquashfs spells it (`x86`, `arm64`, ...).
    pub fn parse(s: &str) -> Option<Bcj> {
        Some(match s {
            "x86" => Bcj::X86,
            "powerpc" => Bcj::PowerPc,
            "ia64" => Bcj::Ia64,
            "arm" => Bcj::Arm,
            "armthumb" => Bcj::ArmThumb,
            "sparc" => Bcj::Sparc,
            "arm64" => Bcj::Arm64,
            _ => return None,
        })
    }
}

/// A compressor and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Codec {
    /// zlib streams (squashfs id 1).
    Gzip {
        /// 1..=9 (mksquashfs default 9).
        level: u32,
        /// Window bits 8..=15 (default 15).
        window: u16,
    },
    /// xz streams with CRC32 check (squashfs id 4).
    Xz {
        /// Dictionary size; `None` means the block size. Must be 2^n or 2^n + 2^(n-1).
        dict_size: Option<u32>,
        /// BCJ filters to try in addition to plain LZMA2; the smallest result wins.
        filters: Vec<Bcj>,
        /// liblzma preset 0..=9 (mksquashfs uses 6).
        preset: u32,
        /// The preset's extreme variant (`-e`).
        extreme: bool,
    },
    /// zstd frames (squashfs id 6).
    Zstd {
        /// 1..=22 (mksquashfs default 15).
        level: i32,
    },
    /// LZ4 raw blocks, legacy format (squashfs id 5).
    Lz4 {
        /// Use the LZ4HC compressor.
        hc: bool,
    },
}

impl Default for Codec {
    fn default() -> Self {
        Codec::Xz {
            dict_size: None,
            filters: Vec::new(),
            preset: 6,
            extreme: false,
        }
    }
}

impl Codec {
    /// Default settings for a codec named as mksquashfs names it (`gzip`, `xz`, `zstd`, `lz4`).
    pub fn by_name(name: &str) -> Option<Codec> {
        Some(match name {
            "gzip" => Codec::Gzip {
                level: 9,
                window: 15,
            },
            "xz" => Codec::default(),
            "zstd" => Codec::Zstd { level: 15 },
            "lz4" => Codec::Lz4 { hc: false },
            _ => return None,
        })
    }

    /// Apply one mksquashfs-style option (`level=N`, `dict-size=N`, `Xbcj=x86,arm`, `hc`,
    /// `window=N`, `preset=N`, `extreme`).
    pub fn set_option(&mut self, opt: &str) -> Result<(), SquashfsError> {
        let bad = || SquashfsError::BadOption(opt.to_owned());
        let (key, val) = opt.split_once('=').unwrap_or((opt, ""));
        let num = || val.parse::<u32>().map_err(|_| bad());
        match (self, key) {
            (Codec::Gzip { level, .. }, "level") => *level = num()?,
            (Codec::Gzip { window, .. }, "window") => *window = num()? as u16,
            (Codec::Zstd { level }, "level") => *level = num()? as i32,
            (Codec::Lz4 { hc }, "hc") => *hc = true,
            (Codec::Xz { dict_size, .. }, "dict-size") => *dict_size = Some(parse_size(val)?),
            (Codec::Xz { filters, .. }, "bcj") => {
                for f in val.split(',') {
                    filters.push(Bcj::parse(f).ok_or_else(bad)?);
                }
            }
            (Codec::Xz { preset, .. }, "preset") => *preset = num()?,
            (Codec::Xz { extreme, .. }, "extreme") => *extreme = true,
            _ => return Err(bad()),
        }
        Ok(())
    }

    /// The compressor id in the superblock.
    pub fn id(&self) -> u16 {
        match self {
            Codec::Gzip { .. } => 1,
            Codec::Xz { .. } => 4,
            Codec::Lz4 { .. } => 5,
            Codec::Zstd { .. } => 6,
        }
    }

    /// Check the settings against what the readers (kernel, squashfs-tools) accept.
    pub fn validate(&self, block_size: u32) -> Result<(), SquashfsError> {
        let bad = |m: String| Err(SquashfsError::BadOption(m));
        match self {
            Codec::Gzip { level, window } => {
                if !(1..=9).contains(level) {
                    return bad(format!("gzip level {level} is not in 1..=9"));
                }
                if !(9..=15).contains(window) {
                    return bad(format!("gzip window {window} is not in 9..=15"));
                }
            }
            Codec::Xz {
                dict_size, preset, ..
            } => {
                if *preset > 9 {
                    return bad(format!("xz preset {preset} is not in 0..=9"));
                }
                if let Some(d) = dict_size {
                    let n = 31 - d.leading_zeros();
                    let ok = *d >= 8192
                        && *d <= block_size
                        && (*d == 1 << n || (n > 0 && *d == (1 << n) | (1 << (n - 1))));
                    if !ok {
                        return bad(format!(
                            "xz dict-size {d} must be 2^n or 2^n+2^(n-1), 8K..block size"
                        ));
                    }
                }
            }
            Codec::Zstd { level } => {
                if !(1..=22).contains(level) {
                    return bad(format!("zstd level {level} is not in 1..=22"));
                }
            }
            Codec::Lz4 { .. } => {}
        }
        Ok(())
    }

    /// The compressor options record, when one is needed (non-default settings; always for lz4,
    /// whose readers check the format version).
    pub fn options_record(&self, block_size: u32) -> Option<Vec<u8>> {
        let mut v = Vec::new();
        match self {
            Codec::Gzip { level, window } => {
                if *level == 9 && *window == 15 {
                    return None;
                }
                v.extend_from_slice(&level.to_le_bytes());
                v.extend_from_slice(&window.to_le_bytes());
                v.extend_from_slice(&0u16.to_le_bytes()); // strategies: default only
            }
            Codec::Xz {
                dict_size, filters, ..
            } => {
                let dict = dict_size.unwrap_or(block_size);
                let flags = filters.iter().fold(0, |a, f| a | f.flag());
                if dict == block_size && flags == 0 {
                    return None;
                }
                v.extend_from_slice(&dict.to_le_bytes());
                v.extend_from_slice(&flags.to_le_bytes());
            }
            Codec::Zstd { level } => {
                if *level == 15 {
                    return None;
                }
                v.extend_from_slice(&(*level as u32).to_le_bytes());
            }
            Codec::Lz4 { hc } => {
                v.extend_from_slice(&1u32.to_le_bytes()); // LZ4_LEGACY
                v.extend_from_slice(&u32::from(*hc).to_le_bytes());
            }
        }
        Some(v)
    }

    /// Compress one block. Returns `None` when the result would not be smaller than the input,
    /// so the caller stores it raw.
    pub fn compress(
        &self,
        input: &[u8],
        block_size: u32,
    ) -> Result<Option<Vec<u8>>, SquashfsError> {
        // Already-compressed data (packed modules, firmware, images, archives) is stored raw
        // anyway; a zstd -1 pass (hundreds of MB/s) tells so before a slow codec spends seconds
        // on it. Measured on 193 MiB of such files: 49 MiB skipped, xz would have saved 0.04%.
        if self.is_slow() && incompressible(input)? {
            return Ok(None);
        }
        let out = match self {
            Codec::Gzip { level, window } => gzip(input, *level, *window)?,
            Codec::Xz {
                dict_size,
                filters,
                preset,
                extreme,
            } => {
                let dict = dict_size.unwrap_or(block_size);
                let p = *preset
                    | if *extreme {
                        liblzma::stream::PRESET_EXTREME
                    } else {
                        0
                    };
                let mut best = xz(input, dict, p, None)?;
                for f in filters {
                    let c = xz(input, dict, p, Some(*f))?;
                    if c.len() < best.len() {
                        best = c;
                    }
                }
                best
            }
            Codec::Zstd { level } => zstd_block(input, *level)?,
            Codec::Lz4 { hc } => lz4_block(input, *hc)?,
        };
        Ok((out.len() < input.len()).then_some(out))
    }
}

/// The revision of how this writer turns a block into stored bytes (the zstd probe, the
/// raw-or-compressed rule, the BCJ choice): part of every store namespace, raised whenever
/// that changes, so entries of an older writer are never used.
const STORE_REVISION: u32 = 1;
/// Crate versions of libraries that cannot report their version at run time, as Cargo.lock
/// pins them (a unit test keeps them in step with it).
pub(crate) const LIBLZMA_SYS_VERSION: &str = "0.4.9";
pub(crate) const ZLIB_RS_VERSION: &str = "0.6.8";

impl Codec {
    /// The store namespace of blocks written with these settings: every setting that changes
    /// the compressed bytes, the block size, the versions of the libraries involved, and the
    /// SHA-256 (first 8 bytes) of what this codec makes of a fixed sample, which catches a
    /// library whose output changed without its version saying so (e.g. a system liblzma
    /// linked instead of the bundled one).
    pub fn store_params(&self, block_size: u32) -> String {
        let mut s = format!("squashfs-block v{STORE_REVISION} ");
        match self {
            Codec::Gzip { level, window } => s.push_str(&format!(
                "gzip level={level} window={window} zlib-rs={ZLIB_RS_VERSION}"
            )),
            Codec::Xz {
                dict_size,
                filters,
                preset,
                extreme,
            } => {
                let names: Vec<&str> = filters.iter().map(|f| f.name()).collect();
                s.push_str(&format!(
                    "xz preset={preset} extreme={} dict={} bcj={} liblzma-sys={LIBLZMA_SYS_VERSION}",
                    u8::from(*extreme),
                    dict_size.unwrap_or(block_size),
                    if names.is_empty() { "none".to_string() } else { names.join(",") },
                ))
            }
            Codec::Zstd { level } => s.push_str(&format!("zstd level={level}")),
            Codec::Lz4 { hc } => s.push_str(&format!(
                "lz4 hc={} liblz4={}",
                u8::from(*hc),
                lz4::version()
            )),
        }
        // zstd compresses zstd blocks and, for the slow codecs, probes every block first.
        if self.is_slow() || matches!(self, Codec::Zstd { .. }) {
            s.push_str(&format!(" zstd={}", zstd::zstd_safe::version_number()));
        }
        s.push_str(&format!(
            " bs={block_size} sample={}",
            self.sample_digest(block_size)
        ));
        s
    }

    /// Hex of the first 8 bytes of the SHA-256 of this codec's output for a fixed sample
    /// (text-like, so every stage of the codec takes part), or `error` when it fails.
    fn sample_digest(&self, block_size: u32) -> String {
        use sha2::{Digest, Sha256};
        let words: [&[u8]; 8] = [
            b"squashfs ",
            b"/usr/lib64/",
            b"block ",
            b"\x7fELF",
            b"kiln\n",
            b"0123",
            b"xz ",
            b"fragment ",
        ];
        let sample = crate::blockstore::sample_input(&words, 16 << 10);
        match self.compress(&sample, block_size) {
            Ok(c) => {
                let d = Sha256::digest(c.as_deref().unwrap_or(b"raw"));
                d[..8].iter().map(|b| format!("{b:02x}")).collect()
            }
            Err(_) => "error".into(),
        }
    }

    /// Codecs that take far longer than the zstd -1 probe on a block (and than hashing it:
    /// worth compressing ahead of time).
    pub fn is_slow(&self) -> bool {
        match self {
            Codec::Gzip { .. } | Codec::Xz { .. } => true,
            Codec::Zstd { level } => *level > 3,
            Codec::Lz4 { .. } => false,
        }
    }
}

thread_local! {
    static PROBE: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

/// Whether zstd -1 saves less than 1/512 of the block: then no codec gains anything worth a
/// slow pass (the stored-raw decision mksquashfs makes after compressing, made before).
fn incompressible(input: &[u8]) -> Result<bool, SquashfsError> {
    let err = |e: std::io::Error| codec_err("zstd", e.to_string());
    PROBE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Compressor::new(1).map_err(err)?);
        }
        let c = slot.as_mut().expect("set above");
        let out = c.compress(input).map_err(err)?;
        Ok(out.len() >= input.len() - input.len() / 512)
    })
}

/// CPU time this thread has used, in nanoseconds: what compressing costs, however busy the
/// machine (wall time would count the waits of an oversubscribed one).
pub(crate) fn thread_cpu_nanos() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Parse `128K`, `1M`, `65536`.
pub fn parse_size(s: &str) -> Result<u32, SquashfsError> {
    let bad = || SquashfsError::BadOption(format!("size `{s}`"));
    let (num, mul) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1024),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    num.parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(bad)
}

fn codec_err(codec: &'static str, msg: String) -> SquashfsError {
    SquashfsError::Compress { codec, msg }
}

fn gzip(input: &[u8], level: u32, window: u16) -> Result<Vec<u8>, SquashfsError> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    let mut c = Compress::new_with_window_bits(Compression::new(level), true, window as u8);
    let mut out = Vec::with_capacity(input.len() + 64);
    loop {
        let st = c
            .compress_vec(
                &input[c.total_in() as usize..],
                &mut out,
                FlushCompress::Finish,
            )
            .map_err(|e| codec_err("gzip", e.to_string()))?;
        match st {
            Status::StreamEnd => return Ok(out),
            _ if out.len() >= input.len() + 64 => return Ok(out), // incompressible: stored raw
            _ => out.reserve(4096),
        }
    }
}

fn xz(input: &[u8], dict: u32, preset: u32, bcj: Option<Bcj>) -> Result<Vec<u8>, SquashfsError> {
    use liblzma::stream::{Action, Check, Filters, LzmaOptions, Status, Stream};
    let err = |e: liblzma::stream::Error| codec_err("xz", e.to_string());
    let mut opts = LzmaOptions::new_preset(preset).map_err(err)?;
    opts.dict_size(dict);
    let mut f = Filters::new();
    match bcj {
        None => &mut f,
        Some(Bcj::X86) => f.x86(),
        Some(Bcj::PowerPc) => f.powerpc(),
        Some(Bcj::Ia64) => f.ia64(),
        Some(Bcj::Arm) => f.arm(),
        Some(Bcj::ArmThumb) => f.arm_thumb(),
        Some(Bcj::Sparc) => f.sparc(),
        Some(Bcj::Arm64) => f.arm64(),
    };
    f.lzma2(&opts);
    let mut s = Stream::new_stream_encoder(&f, Check::Crc32).map_err(err)?;
    let mut out = Vec::with_capacity(input.len() + 128);
    loop {
        let consumed = s.total_in() as usize;
        match s
            .process_vec(&input[consumed..], &mut out, Action::Finish)
            .map_err(err)?
        {
            Status::StreamEnd => return Ok(out),
            _ => out.reserve(out.capacity().max(4096)),
        }
    }
}

thread_local! {
    // Contexts are costly to set up at high levels; keep one per worker thread.
    static ZSTD: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
}

fn zstd_block(input: &[u8], level: i32) -> Result<Vec<u8>, SquashfsError> {
    let err = |e: std::io::Error| codec_err("zstd", e.to_string());
    ZSTD.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level).map_err(err)?));
        }
        let (_, c) = slot.as_mut().expect("set above");
        c.compress(input).map_err(err)
    })
}

fn lz4_block(input: &[u8], hc: bool) -> Result<Vec<u8>, SquashfsError> {
    use lz4::block::CompressionMode;
    let mode = if hc {
        CompressionMode::HIGHCOMPRESSION(12)
    } else {
        CompressionMode::DEFAULT
    };
    lz4::block::compress(input, Some(mode), false).map_err(|e| codec_err("lz4", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_shrinks_text() {
        let data: Vec<u8> = b"squashfs block "
            .iter()
            .cycle()
            .take(100_000)
            .copied()
            .collect();
        for name in ["gzip", "xz", "zstd", "lz4"] {
            let c = Codec::by_name(name).unwrap();
            let out = c.compress(&data, 131072).unwrap().unwrap();
            assert!(out.len() < 2000, "{name}: {}", out.len());
        }
        let mut c = Codec::by_name("xz").unwrap();
        c.set_option("bcj=x86,arm").unwrap();
        assert!(c.compress(&data, 131072).unwrap().is_some());
    }

    #[test]
    fn probe_skips_only_what_xz_cannot_shrink() {
        // Pseudo-random bytes from a xorshift: what packed payloads look like to a compressor.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..131072)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(incompressible(&noise).unwrap());
        // liblzma itself agrees: it cannot make that block smaller.
        assert!(xz(&noise, 131072, 6, None).unwrap().len() >= noise.len());
        for name in ["gzip", "xz", "zstd"] {
            let c = Codec::by_name(name).unwrap();
            assert!(c.compress(&noise, 131072).unwrap().is_none(), "{name}");
        }
        // Only 16 byte values: no repeats to find, but entropy coding halves it.
        let nibbles: Vec<u8> = noise.iter().map(|b| b & 0x0f).collect();
        assert!(!incompressible(&nibbles).unwrap());
        let out = Codec::default()
            .compress(&nibbles, 131072)
            .unwrap()
            .unwrap();
        assert!(out.len() < nibbles.len() * 6 / 10, "{}", out.len());
    }

    /// The version a Cargo.lock of this workspace pins for `name` (the first one listed).
    pub(crate) fn locked_version(name: &str) -> String {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
            .expect("the workspace's Cargo.lock");
        let at = lock
            .find(&format!("name = \"{name}\"\nversion = \""))
            .unwrap_or_else(|| panic!("{name} is not in Cargo.lock"));
        let rest = &lock[at..];
        let v = rest.split('\n').nth(1).unwrap();
        v.trim_start_matches("version = \"")
            .trim_end_matches('"')
            .to_string()
    }

    #[test]
    fn store_params_name_every_setting_and_the_locked_versions() {
        assert_eq!(locked_version("liblzma-sys"), LIBLZMA_SYS_VERSION);
        assert_eq!(locked_version("zlib-rs"), ZLIB_RS_VERSION);
        let bs = 131072;
        let mut all = vec![
            Codec::by_name("gzip").unwrap(),
            Codec::Gzip {
                level: 9,
                window: 12,
            },
            Codec::Gzip {
                level: 6,
                window: 15,
            },
            Codec::default(),
            Codec::Xz {
                dict_size: Some(65536),
                filters: vec![],
                preset: 6,
                extreme: false,
            },
            Codec::Xz {
                dict_size: None,
                filters: vec![Bcj::X86],
                preset: 6,
                extreme: false,
            },
            Codec::Xz {
                dict_size: None,
                filters: vec![Bcj::X86, Bcj::Arm],
                preset: 6,
                extreme: false,
            },
            Codec::Xz {
                dict_size: None,
                filters: vec![Bcj::Arm, Bcj::X86],
                preset: 6,
                extreme: false,
            },
            Codec::Xz {
                dict_size: None,
                filters: vec![],
                preset: 9,
                extreme: false,
            },
            Codec::Xz {
                dict_size: None,
                filters: vec![],
                preset: 6,
                extreme: true,
            },
            Codec::by_name("zstd").unwrap(),
            Codec::Zstd { level: 3 },
            Codec::by_name("lz4").unwrap(),
            Codec::Lz4 { hc: true },
        ]
        .into_iter()
        .map(|c| c.store_params(bs))
        .collect::<Vec<_>>();
        all.push(Codec::default().store_params(bs * 2));
        for p in &all {
            eprintln!("{p}");
        }
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "{all:#?}");
        // Stable for the same settings.
        assert_eq!(
            Codec::default().store_params(bs),
            Codec::default().store_params(bs)
        );
    }

    #[test]
    fn dict_size_rules() {
        let mut c = Codec::default();
        c.set_option("dict-size=96K").unwrap();
        assert!(c.validate(131072).is_ok());
        c.set_option("dict-size=100K").unwrap();
        assert!(c.validate(131072).is_err());
        assert_eq!(parse_size("1M").unwrap(), 1 << 20);
    }
}
