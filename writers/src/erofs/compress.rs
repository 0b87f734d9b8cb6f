//! EROFS compression algorithms and their fixed-output compressors.
//!
//! SCAFFOLD (step 13): the names and parsing are fixed; the compressors are being filled in.

use super::error::ErofsError;

/// An EROFS compression algorithm (the on-disk algorithm ids are 0 lz4, 1 lzma, 2 deflate,
/// 3 zstd; lz4hc is lz4 on disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// LZ4 (fast).
    Lz4,
    /// LZ4HC: lz4 on disk, higher ratio.
    Lz4hc,
    /// MicroLZMA.
    Lzma,
    /// Raw deflate.
    Deflate,
    /// Zstandard.
    Zstd,
}

impl Algorithm {
    /// Every algorithm, in the order `--help` lists them.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Lz4,
        Algorithm::Lz4hc,
        Algorithm::Lzma,
        Algorithm::Deflate,
        Algorithm::Zstd,
    ];

    /// The name mkfs.erofs `-z` takes.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Lz4 => "lz4",
            Algorithm::Lz4hc => "lz4hc",
            Algorithm::Lzma => "lzma",
            Algorithm::Deflate => "deflate",
            Algorithm::Zstd => "zstd",
        }
    }

    /// The target kernel's config option that must be `y` (or `m`) for it to read this algorithm.
    pub fn kernel_option(self) -> &'static str {
        match self {
            Algorithm::Lz4 | Algorithm::Lz4hc => "CONFIG_EROFS_FS_ZIP",
            Algorithm::Lzma => "CONFIG_EROFS_FS_ZIP_LZMA",
            Algorithm::Deflate => "CONFIG_EROFS_FS_ZIP_DEFLATE",
            Algorithm::Zstd => "CONFIG_EROFS_FS_ZIP_ZSTD",
        }
    }

    /// Valid levels (inclusive) and the default one, as mkfs.erofs has them.
    pub fn levels(self) -> (i32, i32, i32) {
        match self {
            Algorithm::Lz4 => (0, 0, 0),
            Algorithm::Lz4hc => (1, 12, 9),
            Algorithm::Lzma => (0, 9, 6),
            Algorithm::Deflate => (0, 9, 1),
            Algorithm::Zstd => (1, 22, 3),
        }
    }
}

/// An algorithm and its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Compression {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Its level (checked against [`Algorithm::levels`]).
    pub level: i32,
}

impl Default for Compression {
    fn default() -> Self {
        Compression {
            algorithm: Algorithm::Lz4hc,
            level: 9,
        }
    }
}

impl Compression {
    /// Parse mkfs.erofs' `-z` syntax: `ALG` or `ALG,LEVEL` (`lz4hc,12`, `lzma,9`, `zstd`).
    pub fn parse(s: &str) -> Result<Compression, ErofsError> {
        let (name, level) = match s.split_once(',') {
            Some((n, l)) => (n, Some(l)),
            None => (s, None),
        };
        let algorithm = Algorithm::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                ErofsError::BadOption(format!(
                    "unknown algorithm `{name}` (known: lz4, lz4hc, lzma, deflate, zstd)"
                ))
            })?;
        let (lo, hi, default) = algorithm.levels();
        let level = match level {
            None => default,
            Some(l) => {
                let v: i32 = l.strip_prefix("level=").unwrap_or(l).parse().map_err(|_| {
                    ErofsError::BadOption(format!("`{l}` is not a compression level"))
                })?;
                if v < lo || v > hi {
                    return Err(ErofsError::BadOption(format!(
                        "{} level {v} is outside {lo}..={hi}",
                        algorithm.name()
                    )));
                }
                v
            }
        };
        Ok(Compression { algorithm, level })
    }
}
