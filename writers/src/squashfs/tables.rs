//! The tables after the data: uid/gid ids and xattr sets (numbered as the inodes are
//! written), then the inode, directory, fragment, export, id and xattr tables emitted in the
//! order the kernel checks them.

use std::collections::HashMap;
use std::io::Write;

use super::compress::Codec;
use super::error::SquashfsError;
use super::inode::NONE32;
use super::inode_table::InodeTables;
use super::metadata::{lookup_table, MetadataWriter};
use crate::tree::Xattr;

/// A table start the superblock records as absent.
const NOT_SET: u64 = u64::MAX;

/// The uids and gids in use, each stored once, in first-use order.
#[derive(Default)]
pub(super) struct IdTable {
    ids: Vec<u32>,
    index: HashMap<u32, u16>,
}

impl IdTable {
    /// The index of `v`, adding it when new.
    pub fn index(&mut self, v: u32) -> Result<u16, SquashfsError> {
        if let Some(&i) = self.index.get(&v) {
            return Ok(i);
        }
        // The id count is a u16 in the superblock.
        let i = u16::try_from(self.ids.len())
            .ok()
            .filter(|&i| i < u16::MAX)
            .ok_or_else(|| SquashfsError::Limit("more than 65535 uids/gids".into()))?;
        self.ids.push(v);
        self.index.insert(v, i);
        Ok(i)
    }

    /// How many ids there are (below 65535, as [`IdTable::index`] ensures).
    pub fn len(&self) -> u16 {
        self.ids.len() as u16
    }
}

/// The distinct xattr sets, each stored once: the key/value metadata area and the id entries
/// (position, count, size) that point into it.
pub(super) struct XattrTable<'c> {
    enabled: bool,
    kv: MetadataWriter<'c>,
    ids: Vec<u8>,
    sets: HashMap<Vec<Xattr>, u32>,
}

/// The squashfs name-space type and the name without its prefix, or `None` if unsupported.
fn xattr_prefix(name: &[u8]) -> Option<(u16, &[u8])> {
    for (p, t) in [(&b"user."[..], 0u16), (b"trusted.", 1), (b"security.", 2)] {
        if let Some(rest) = name.strip_prefix(p) {
            return Some((t, rest));
        }
    }
    None
}

impl<'c> XattrTable<'c> {
    /// An empty table; when not `enabled`, every node gets no xattrs.
    pub fn new(codec: &'c Codec, block_size: u32, enabled: bool) -> Self {
        XattrTable {
            enabled,
            kv: MetadataWriter::new(codec, block_size, false),
            ids: Vec::new(),
            sets: HashMap::new(),
        }
    }

    /// The index of the set of `xs` that squashfs can store, adding it when new; [`NONE32`]
    /// when nothing is left to store.
    pub fn index(&mut self, xs: &[Xattr]) -> Result<u32, SquashfsError> {
        let kept: Vec<Xattr> = xs
            .iter()
            .filter(|x| xattr_prefix(&x.name).is_some_and(|(_, rest)| !rest.is_empty()))
            .cloned()
            .collect();
        if !self.enabled || kept.is_empty() {
            return Ok(NONE32);
        }
        if let Some(&i) = self.sets.get(&kept) {
            return Ok(i);
        }
        let (block, off) = self.kv.pos();
        let mut size = 0u32;
        let mut rec = Vec::new();
        for x in &kept {
            let (t, rest) = xattr_prefix(&x.name).expect("filtered above");
            rec.extend_from_slice(&t.to_le_bytes());
            rec.extend_from_slice(&(rest.len() as u16).to_le_bytes());
            rec.extend_from_slice(rest);
            rec.extend_from_slice(&(x.value.len() as u32).to_le_bytes());
            rec.extend_from_slice(&x.value);
            // squashfs-tools counts name (with prefix) + value, what listxattr/getxattr need.
            size += (x.name.len() + 1 + x.value.len()) as u32;
        }
        self.kv.write(&rec)?;
        let i = self.sets.len() as u32;
        self.ids
            .extend_from_slice(&((block << 16) | off as u64).to_le_bytes());
        self.ids
            .extend_from_slice(&(kept.len() as u32).to_le_bytes());
        self.ids.extend_from_slice(&size.to_le_bytes());
        self.sets.insert(kept, i);
        Ok(i)
    }
}

/// Where each table starts ([`NOT_SET`] for one not written).
pub(super) struct TableStarts {
    pub inode_table: u64,
    pub dir_table: u64,
    pub frag_table: u64,
    pub export_table: u64,
    pub id_table: u64,
    pub xattr_table: u64,
    /// Whether any xattr set was stored.
    pub has_xattrs: bool,
}

/// Where the tables go and how they are compressed.
pub(super) struct TableWriter<'a, W: Write> {
    pub out: &'a mut W,
    /// The image position of the next byte.
    pub pos: u64,
    pub codec: &'a Codec,
    pub block_size: u32,
}

impl<W: Write> TableWriter<'_, W> {
    /// Append `bytes`, returning where they start.
    fn emit(&mut self, bytes: &[u8]) -> Result<u64, SquashfsError> {
        let at = self.pos;
        self.out.write_all(bytes).map_err(SquashfsError::Write)?;
        self.pos += bytes.len() as u64;
        Ok(at)
    }

    /// A lookup table of `bytes`: its metadata blocks, then the positions of those blocks;
    /// returns where the positions start.
    fn lookup(&mut self, bytes: &[u8]) -> Result<u64, SquashfsError> {
        let (t, idx) = lookup_table(self.codec, self.block_size, false, bytes, self.pos)?;
        self.emit(&t)?;
        Ok(idx)
    }

    /// Write every table after the data, in the order the kernel checks them.
    pub fn write_all(
        &mut self,
        inodes: InodeTables<'_>,
        fragments: &[(u64, u32)],
        ids: &IdTable,
        xattrs: XattrTable<'_>,
    ) -> Result<TableStarts, SquashfsError> {
        let inode_table = self.emit(&inodes.inodes.finish()?)?;
        let dir_table = self.emit(&inodes.dirs.finish()?)?;
        let mut frag_bytes = Vec::with_capacity(fragments.len() * 16);
        for (start, field) in fragments {
            frag_bytes.extend_from_slice(&start.to_le_bytes());
            frag_bytes.extend_from_slice(&field.to_le_bytes());
            frag_bytes.extend_from_slice(&0u32.to_le_bytes());
        }
        let frag_table = self.lookup(&frag_bytes)?;
        let export_table = match &inodes.export {
            Some(refs) => {
                let bytes: Vec<u8> = refs.iter().flat_map(|r| r.to_le_bytes()).collect();
                self.lookup(&bytes)?
            }
            None => NOT_SET,
        };
        let id_bytes: Vec<u8> = ids.ids.iter().flat_map(|i| i.to_le_bytes()).collect();
        let id_table = self.lookup(&id_bytes)?;
        let has_xattrs = !xattrs.sets.is_empty();
        let xattr_table = if has_xattrs {
            self.xattr_table(xattrs)?
        } else {
            NOT_SET
        };
        Ok(TableStarts {
            inode_table,
            dir_table,
            frag_table,
            export_table,
            id_table,
            xattr_table,
            has_xattrs,
        })
    }

    /// The xattr key/value area, then the id table with its 16-byte header between the
    /// metadata blocks and their positions; returns where the header starts.
    fn xattr_table(&mut self, xattrs: XattrTable<'_>) -> Result<u64, SquashfsError> {
        let kv_start = self.emit(&xattrs.kv.finish()?)?;
        let (t, idx) = lookup_table(self.codec, self.block_size, false, &xattrs.ids, self.pos)?;
        // The id-block positions follow a 16-byte header; re-split `t` around it.
        let blocks_len = (idx - self.pos) as usize;
        self.emit(&t[..blocks_len])?;
        let mut hdr = Vec::with_capacity(16);
        hdr.extend_from_slice(&kv_start.to_le_bytes());
        hdr.extend_from_slice(&(xattrs.sets.len() as u32).to_le_bytes());
        hdr.extend_from_slice(&0u32.to_le_bytes());
        let start = self.emit(&hdr)?;
        self.emit(&t[blocks_len..])?;
        Ok(start)
    }
}
