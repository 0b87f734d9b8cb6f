//! An RPM payload as a stream: the compressed bytes after the main header, decompressed on the
//! fly (none, gzip, bzip2, xz, lzma, zstd) and capped at what the header declares, so a decompression
//! bomb fails instead of filling the disk or memory.
//!
//! Knows the header only through [`RpmFile`]; knows nothing of cpio or of the root.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

use crate::error::RpmFileError;
use crate::header::RpmFile;

/// cpio bytes per entry beyond its name and data: the 110-byte newc header and up to 3+3
/// bytes of padding.
const ENTRY_OVERHEAD: u64 = 110 + 6;

/// The most memory an xz or lzma payload may make the decoder take. rpm's densest preset
/// (`w9.xzdio`) needs 65 MiB; the formats allow a 4 GiB dictionary, which a hostile header can
/// claim in a few bytes (fuzzing found it). Past this the decoder fails with a memory-limit error.
pub const LZMA_MEMLIMIT: u64 = 512 << 20;

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
pub fn open(rpm: &RpmFile) -> Result<Capped<Box<dyn Read + Send>>, RpmFileError> {
    let path = &rpm.path;
    let io_err = |source| RpmFileError::io("read", path)(source);
    let mut f = File::open(path).map_err(RpmFileError::io("open", path))?;
    f.seek(SeekFrom::Start(rpm.payload_offset))
        .map_err(io_err)?;
    let mut raw = BufReader::with_capacity(128 * 1024, f);
    let format = rpm.info.payload_format.as_str();
    if !format.is_empty() && format != "cpio" && format != "drpm" {
        return Err(RpmFileError::Unsupported {
            pkg: rpm.nevra(),
            what: format!("payload format `{format}`"),
        });
    }
    let stream: Box<dyn Read + Send> = match rpm.info.payload_compressor.as_str() {
        // rpm reads these through zlib, which passes data without the gzip magic through
        // unchanged: that is how an uncompressed payload (`w0.ufdio`, which records no
        // PAYLOADCOMPRESSOR) is read.
        "gzip" | "" => {
            if raw.fill_buf().map_err(io_err)?.starts_with(&[0x1f, 0x8b]) {
                Box::new(flate2::read::MultiGzDecoder::new(raw))
            } else {
                Box::new(raw)
            }
        }
        "bzip2" => Box::new(bzip2::read::MultiBzDecoder::new(raw)),
        "xz" | "lzma" => {
            let s = if rpm.info.payload_compressor == "xz" {
                liblzma::stream::Stream::new_stream_decoder(
                    LZMA_MEMLIMIT,
                    liblzma::stream::CONCATENATED,
                )
            } else {
                liblzma::stream::Stream::new_lzma_decoder(LZMA_MEMLIMIT)
            }
            .map_err(|e| io_err(io::Error::other(e)))?;
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
            return Err(RpmFileError::Unsupported {
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
        // Once past the cap, stay failed: a caller may read again after the error (fuzzing
        // found the subtraction below overflowing on that second call).
        if self.read > self.limit {
            return Err(io::Error::new(io::ErrorKind::InvalidData, BOMB_MESSAGE));
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

    /// A header structure (magic, index, data) holding string tags.
    fn header(tags: &[(u32, &str)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, value) in tags {
            index.extend_from_slice(&tag.to_be_bytes());
            index.extend_from_slice(&6u32.to_be_bytes()); // STRING
            index.extend_from_slice(&(data.len() as u32).to_be_bytes());
            index.extend_from_slice(&1u32.to_be_bytes());
            data.extend_from_slice(value.as_bytes());
            data.push(0);
        }
        let mut h = vec![0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];
        h.extend_from_slice(&(tags.len() as u32).to_be_bytes());
        h.extend_from_slice(&(data.len() as u32).to_be_bytes());
        h.extend(index);
        h.extend(data);
        h
    }

    /// A package with no files whose payload is `payload`, compressed with `compressor`.
    fn rpm_with_payload(dir: &std::path::Path, compressor: &str, payload: &[u8]) -> RpmFile {
        let mut f = vec![0u8; 96];
        f[..4].copy_from_slice(&[0xed, 0xab, 0xee, 0xdb]);
        f.extend(header(&[])); // empty signature header: no padding needed
        f.extend(header(&[(1000, "hostile"), (1125, compressor)]));
        f.extend_from_slice(payload);
        let path = dir.join(format!("hostile-{compressor}.rpm"));
        std::fs::write(&path, f).unwrap();
        RpmFile::open(&path).unwrap()
    }

    #[test]
    fn lzma_payload_claiming_a_huge_dictionary_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // .lzma header: properties, a 4 GiB - 1 dictionary, unknown size.
        let mut lzma = vec![0x5d, 0xff, 0xff, 0xff, 0xff];
        lzma.extend_from_slice(&[0xff; 8]);
        lzma.extend_from_slice(&[0u8; 64]);
        let rpm = rpm_with_payload(dir.path(), "lzma", &lzma);
        let err = payload_error(&rpm);
        assert!(err.to_lowercase().contains("memory"), "{err}");
    }

    #[test]
    fn xz_payload_claiming_a_huge_dictionary_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // A real xz stream made with a 1.5 GiB dictionary (liblzma's largest), from 1 byte.
        let mut opts = liblzma::stream::LzmaOptions::new_preset(0).unwrap();
        opts.dict_size(1536 << 20);
        let mut filters = liblzma::stream::Filters::new();
        filters.lzma2(&opts);
        let enc =
            liblzma::stream::Stream::new_stream_encoder(&filters, liblzma::stream::Check::Crc64)
                .unwrap();
        let mut xz = Vec::new();
        liblzma::read::XzEncoder::new_stream(&b"x"[..], enc)
            .read_to_end(&mut xz)
            .unwrap();
        let rpm = rpm_with_payload(dir.path(), "xz", &xz);
        let err = payload_error(&rpm);
        assert!(err.to_lowercase().contains("memory"), "{err}");
    }

    fn payload_error(rpm: &RpmFile) -> String {
        let mut out = Vec::new();
        match open(rpm) {
            Err(e) => e.to_string(),
            Ok(mut s) => s.read_to_end(&mut out).unwrap_err().to_string(),
        }
    }

    #[test]
    fn header_claiming_more_than_the_file_holds_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = vec![0u8; 96];
        f[..4].copy_from_slice(&[0xed, 0xab, 0xee, 0xdb]);
        // A signature header claiming rpm's largest data store, then nothing.
        f.extend_from_slice(&[0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
        f.extend_from_slice(&0x0fff_ffffu32.to_be_bytes());
        let path = dir.path().join("short.rpm");
        std::fs::write(&path, f).unwrap();
        match RpmFile::open(&path) {
            Err(RpmFileError::Truncated { what, .. }) => assert_eq!(what, "signature header"),
            Err(e) => panic!("expected a truncation error, got {e}"),
            Ok(_) => panic!("a header past the end of the file opened"),
        }
    }

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

    #[test]
    fn capped_stream_stays_failed_when_read_again() {
        let data = vec![0u8; 1000];
        let mut capped = Capped::new(&data[..], 10);
        let mut buf = [0u8; 64];
        let first = capped.read(&mut buf).unwrap_err();
        assert_eq!(first.to_string(), BOMB_MESSAGE);
        for _ in 0..3 {
            let again = capped.read(&mut buf).unwrap_err();
            assert_eq!(again.to_string(), BOMB_MESSAGE);
        }
    }
}
