//! Metadata blocks (spec "Metadata blocks"): 8 KiB chunks, each stored behind a 16-bit header
//! whose bit 15 marks an uncompressed chunk, and the lookup tables built from them.

use super::compress::Codec;
use super::error::SquashfsError;

/// Uncompressed size of a full metadata block.
pub const METADATA_SIZE: usize = 8192;

/// Builds one metadata area (inode table, directory table, xattr data) in memory.
///
/// A position is `(start of the block's header relative to the area, offset in the
/// uncompressed block)`: the two halves of a squashfs inode or directory reference.
pub struct MetadataWriter<'c> {
    codec: &'c Codec,
    block_size: u32,
    uncompressed: bool,
    out: Vec<u8>,
    cur: Vec<u8>,
}

impl<'c> MetadataWriter<'c> {
    /// An empty area compressed with `codec` (or stored raw when `uncompressed`).
    pub fn new(codec: &'c Codec, block_size: u32, uncompressed: bool) -> Self {
        MetadataWriter {
            codec,
            block_size,
            uncompressed,
            out: Vec::new(),
            cur: Vec::with_capacity(METADATA_SIZE),
        }
    }

    /// Where the next byte goes: (block start, offset in block).
    pub fn pos(&self) -> (u64, u16) {
        (self.out.len() as u64, self.cur.len() as u16)
    }

    /// Append bytes, flushing full blocks.
    pub fn write(&mut self, mut data: &[u8]) -> Result<(), SquashfsError> {
        while !data.is_empty() {
            let n = (METADATA_SIZE - self.cur.len()).min(data.len());
            self.cur.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.cur.len() == METADATA_SIZE {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SquashfsError> {
        if self.cur.is_empty() {
            return Ok(());
        }
        let packed = if self.uncompressed {
            None
        } else {
            self.codec.compress(&self.cur, self.block_size)?
        };
        match packed {
            Some(c) => {
                self.out.extend_from_slice(&(c.len() as u16).to_le_bytes());
                self.out.extend_from_slice(&c);
            }
            None => {
                self.out
                    .extend_from_slice(&(self.cur.len() as u16 | 0x8000).to_le_bytes());
                self.out.extend_from_slice(&self.cur);
            }
        }
        self.cur.clear();
        Ok(())
    }

    /// Flush the last partial block and return the area's bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, SquashfsError> {
        self.flush()?;
        Ok(self.out)
    }
}

/// Encode a lookup table (ids, fragments, export, xattr ids): `data` split into metadata
/// blocks, followed by the list of their absolute positions. `at` is where the bytes will be
/// written; returns (bytes, absolute position of the position list).
pub fn lookup_table(
    codec: &Codec,
    block_size: u32,
    uncompressed: bool,
    data: &[u8],
    at: u64,
) -> Result<(Vec<u8>, u64), SquashfsError> {
    let mut out = Vec::new();
    let mut index = Vec::new();
    for chunk in data.chunks(METADATA_SIZE) {
        index.push(at + out.len() as u64);
        let mut w = MetadataWriter::new(codec, block_size, uncompressed);
        w.write(chunk)?;
        out.extend_from_slice(&w.finish()?);
    }
    let index_pos = at + out.len() as u64;
    for p in index {
        out.extend_from_slice(&p.to_le_bytes());
    }
    Ok((out, index_pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_split_at_8k_and_positions_follow() {
        let codec = Codec::Zstd { level: 3 };
        let mut w = MetadataWriter::new(&codec, 131072, true);
        w.write(&[7u8; 8190]).unwrap();
        assert_eq!(w.pos(), (0, 8190));
        w.write(&[1u8; 4]).unwrap();
        assert_eq!(w.pos(), (8194, 2));
        let out = w.finish().unwrap();
        assert_eq!(&out[..2], &(8192u16 | 0x8000).to_le_bytes());
        assert_eq!(out.len(), 8194 + 2 + 2);
    }
}
