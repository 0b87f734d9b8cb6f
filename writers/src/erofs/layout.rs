//! Placement of inodes in the metadata area, which fixes their nids.
//!
//! The metadata area is addressed from block 0 (`meta_blkaddr` = 0), so an inode's nid is its
//! byte position in the image / 32. It is block 0's free space after the superblock (the root
//! goes there: `root_nid` is 16 bits) followed by the blocks after all data. An inode with inline
//! data must sit with that data inside one block (the kernel refuses inline data that crosses a
//! block boundary); when it does not fit in the rest of the current block, the gap left behind
//! becomes a hole that later, smaller inodes fill, best fit first. The placement depends only on
//! the order and sizes of the items, so it is the same in every run.

use std::collections::BTreeSet;

use super::superblock::BLOCK;

/// Inode slots are 32 bytes (the nid unit).
pub const SLOT: u64 = 32;

/// The metadata space being filled.
pub struct MetaSpace {
    /// Free gaps as (length, virtual start), smallest first.
    holes: BTreeSet<(u64, u64)>,
    /// Virtual end of the used space.
    end: u64,
    /// Image byte offset of virtual block 1.
    meta_start: u64,
}

impl MetaSpace {
    /// Block 0 is used up to `block0_used` (superblock and compression configs); virtual block 1
    /// onwards lands at image block `meta_start_blk`.
    pub fn new(block0_used: u64, meta_start_blk: u64) -> MetaSpace {
        let first = block0_used.div_ceil(SLOT) * SLOT;
        let mut holes = BTreeSet::new();
        if first < BLOCK {
            holes.insert((BLOCK - first, first));
        }
        MetaSpace {
            holes,
            end: BLOCK,
            meta_start: meta_start_blk * BLOCK,
        }
    }

    /// Room for `len` bytes; items up to a block never cross a block boundary. Returns the
    /// virtual offset.
    pub fn place(&mut self, len: u64) -> u64 {
        let len = len.div_ceil(SLOT) * SLOT;
        if len > BLOCK {
            let at = self.end;
            self.end += len;
            return at;
        }
        if let Some(&(free, start)) = self.holes.range((len, 0)..).next() {
            self.holes.remove(&(free, start));
            if free > len {
                self.holes.insert((free - len, start + len));
            }
            return start;
        }
        let room = BLOCK - self.end % BLOCK;
        if room < len {
            if room < BLOCK {
                self.holes.insert((room, self.end));
            }
            self.end += room;
        }
        let at = self.end;
        self.end += len;
        at
    }

    /// The virtual space used, rounded up to whole blocks.
    pub fn len(&self) -> u64 {
        self.end.div_ceil(BLOCK) * BLOCK
    }

    /// Image byte position of a virtual offset.
    pub fn image_pos(&self, v: u64) -> u64 {
        if v < BLOCK {
            v
        } else {
            self.meta_start + v - BLOCK
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_block0_then_appends_and_reuses_gaps() {
        let mut m = MetaSpace::new(1152, 10);
        assert_eq!(m.place(64), 1152);
        // Does not fit the rest of block 0 (4096 - 1216 = 2880): goes to block 1.
        assert_eq!(m.place(3000), 4096);
        // Best fit: the gap in block 0 holds 2000.
        assert_eq!(m.place(2000), 1216);
        // 880 left there; 1000 goes to the open end of block 1 (1088 left).
        assert_eq!(m.place(1000), 4096 + 3008);
        // 2000 fits nowhere: block 2, leaving block 1's last 64 bytes as a gap.
        assert_eq!(m.place(2000), 8192);
        assert_eq!(m.place(64), 4096 + 4032);
        assert_eq!(m.place(800), 3232);
        assert_eq!(m.image_pos(8192), 10 * 4096 + 4096);
        // Big items just append.
        let at = m.place(10_000);
        assert_eq!(at % 32, 0);
        assert!(at >= 8192 + 2000);
    }
}
