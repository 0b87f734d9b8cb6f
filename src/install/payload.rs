//! An RPM payload as a stream: the compressed bytes after the main header, decompressed on the
//! fly (gzip, bzip2, xz, lzma, zstd) and capped at what the header declares, so a decompression
//! bomb fails instead of filling the disk or memory.
//!
//! Knows the header only through [`RpmFile`]; knows nothing of cpio or of the root.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};

use super::header::RpmFile;
use super::unpack::UnpackError;

/// cpio bytes per entry beyond its name and data: the 110-byte newc header and up to 3+3
/// bytes of padding.
const ENTRY_OVERHEAD: u64 = 110 + 6;

/// The message of the error a [`Capped`] stream returns past its limit.
pub const BOMB_MESSAGE: &str = "payload expands beyond the size its header declares";

/// The most decompressed bytes a well-formed payload of `rpm` can have: every file's data
/// (hardlinked data counts once in the archive, so this is an upper bound), every entry's
/// header and name, and the trailer.
pub fn max_payload_size(rpm: &RpmFile) -> u64 {
    let files = &rpm.info.files;
    let per_entry: u64 = files
        .iter()
        .map(|f| {
            f.size
                .saturating_add(ENTRY_OVERHEAD + f.path.len() as u64 + 2)
        })
        .fold(0u64, u64::saturating_add);
    per_entry.saturating_add(ENTRY_OVERHEAD + 16)
}

/// Opens the decompressed payload of `rpm`, capped at [`max_payload_size`].
pub fn open(rpm: &RpmFile) -> Result<Capped<Box<dyn Read + Send>>, UnpackError> {
    let path = &rpm.path;
    let io_err = |source| UnpackError::Read {
        path: path.clone(),
        source,
    };
    let mut f = File::open(path).map_err(|source| UnpackError::Open {
        path: path.clone(),
        source,
    })?;
    f.seek(SeekFrom::Start(rpm.payload_offset))
        .map_err(io_err)?;
    let raw = BufReader::with_capacity(128 * 1024, f);
    let format = rpm.info.payload_format.as_str();
    if !format.is_empty() && format != "cpio" && format != "drpm" {
        return Err(UnpackError::Unsupported {
            pkg: rpm.nevra(),
            what: format!("payload format `{format}`"),
        });
    }
    let stream: Box<dyn Read + Send> = match rpm.info.payload_compressor.as_str() {
        "gzip" | "" => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        "bzip2" => Box::new(bzip2::read::MultiBzDecoder::new(raw)),
        "xz" => Box::new(liblzma::read::XzDecoder::new_multi_decoder(raw)),
        "lzma" => {
            let s = liblzma::stream::Stream::new_lzma_decoder(u64::MAX).map_err(|e| {
                UnpackError::Read {
                    path: path.clone(),
                    source: io::Error::other(e),
                }
            })?;
            Box::new(liblzma::read::XzDecoder::new_stream(raw, s))
        }
        "zstd" => {
            let mut d = zstd::stream::read::Decoder::with_buffer(raw).map_err(io_err)?;
            // rpm may write long-distance zstd (`w19T0L.zstdio`); 2^27 is zstd's long-mode
            // default and caps what a hostile frame can make us allocate.
            d.window_log_max(27).map_err(io_err)?;
            Box::new(d)
        }
        "identity" | "none" => Box::new(raw),
        other => {
            return Err(UnpackError::Unsupported {
                pkg: rpm.nevra(),
                what: format!("payload compressor `{other}`"),
            })
        }
    };
    Ok(Capped {
        inner: stream,
        limit: max_payload_size(rpm),
        read: 0,
    })
}

/// A stream that fails once more than `limit` bytes come out of it.
pub struct Capped<R> {
    inner: R,
    limit: u64,
    read: u64,
}

impl<R> Capped<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, limit: u64) -> Self {
        Capped {
            inner,
            limit,
            read: 0,
        }
    }

    /// The cap.
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // Ask for one byte past the cap so overflowing shows up as data, not as EOF.
        let room = (self.limit - self.read).saturating_add(1);
        let k = buf.len().min(room.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..k])?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::new(io::ErrorKind::InvalidData, BOMB_MESSAGE));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_stream_fails_past_its_limit() {
        let data = vec![0u8; 1000];
        let mut ok = Vec::new();
        Capped::new(&data[..], 1000).read_to_end(&mut ok).unwrap();
        assert_eq!(ok.len(), 1000);
        let mut sink = Vec::new();
        let err = Capped::new(&data[..], 999)
            .read_to_end(&mut sink)
            .unwrap_err();
        assert_eq!(err.to_string(), BOMB_MESSAGE);
    }
}
