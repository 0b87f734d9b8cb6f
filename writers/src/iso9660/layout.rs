//! Block allocation of the ISO 9660 volume: volume descriptors, path tables, boot catalog,
//! directory extents with their continuation areas, and file data, in that order (see the
//! map in the parent module). Nothing is written here; the writing pass follows this plan.

use super::eltorito::BootFiles;
use super::records::{dir_size, path_table_size, Directories};
use super::{IsoError, IsoOptions, BLOCK, PAD_BLOCKS};
use crate::tree::{FsTree, Kind, NodeId};

/// Where one tree's path tables are.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PathTables {
    /// Bytes of one table.
    pub size: u64,
    /// Block of the little-endian (type L) table.
    pub l: u64,
    /// Block of the big-endian (type M) table.
    pub m: u64,
}

/// Where everything goes, in 2048-byte blocks.
pub(super) struct Layout {
    pub pvd_lba: u64,
    /// Joliet's supplementary volume descriptor (0 without Joliet).
    pub svd_lba: u64,
    pub iso_tables: PathTables,
    /// All zero without Joliet.
    pub joliet_tables: PathTables,
    /// The boot catalog (0 when not booting).
    pub catalog_lba: u64,
    /// (block, size) of every directory's extent in the primary tree, by node.
    pub dir_extent: Vec<(u32, u32)>,
    /// The same for the Joliet tree.
    pub jol_extent: Vec<(u32, u32)>,
    /// (block, offset, length) of every Rock Ridge continuation area.
    pub ce_loc: Vec<(u32, u32, u32)>,
    /// First block of every regular file's data, by node (0 for empty files).
    pub data_lba: Vec<u32>,
    /// Files whose data is written, in the order it is.
    pub data_order: Vec<NodeId>,
    /// Bytes of file data written.
    pub total_data: u64,
    /// Regular files, the boot catalog and empty files included.
    pub files: usize,
    /// Blocks of the volume (its volume space size).
    pub volume_blocks: u64,
}

impl Layout {
    /// The first data block of `node`, if there is a node.
    pub fn lba_of(&self, node: Option<NodeId>) -> Option<u32> {
        node.map(|id| self.data_lba[id])
    }
}

/// Place everything, filling in the blocks and sizes of the directories in `dirs`.
pub(super) fn allocate(
    tree: &FsTree,
    dirs: &mut Directories,
    boot: &BootFiles,
    opts: &IsoOptions,
) -> Result<Layout, IsoError> {
    let booting = super::eltorito::booting(opts);
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
    let iso_tables = place_path_tables(&mut lba, path_table_size(&dirs.iso));
    let joliet_tables = if opts.joliet {
        place_path_tables(&mut lba, path_table_size(&dirs.joliet))
    } else {
        PathTables::default()
    };
    let catalog_lba = if booting {
        lba += 1;
        lba - 1
    } else {
        0
    };
    let (dir_extent, jol_extent, ce_loc) = place_directories(tree, dirs, &mut lba);
    let data = place_file_data(tree, boot.catalog, catalog_lba, &mut lba)?;
    lba += PAD_BLOCKS;
    // Whole 8 KiB so the partitions after it start on 16-sector boundaries (sgdisk's advice).
    lba = lba.div_ceil(4) * 4;
    Ok(Layout {
        pvd_lba,
        svd_lba,
        iso_tables,
        joliet_tables,
        catalog_lba,
        dir_extent,
        jol_extent,
        ce_loc,
        data_lba: data.lba,
        data_order: data.order,
        total_data: data.total,
        files: data.files,
        volume_blocks: lba,
    })
}

/// Both path tables (L, then M) of `size` bytes each, from block `*lba` on.
fn place_path_tables(lba: &mut u64, size: u64) -> PathTables {
    let l = *lba;
    *lba += size.div_ceil(BLOCK);
    let m = *lba;
    *lba += size.div_ceil(BLOCK);
    PathTables { size, l, m }
}

type DirectoryPlacement = (Vec<(u32, u32)>, Vec<(u32, u32)>, Vec<(u32, u32, u32)>);

/// The primary tree's directories, each followed by its continuation areas, then the Joliet
/// tree's directories: (primary extents, Joliet extents, continuation area locations).
fn place_directories(tree: &FsTree, dirs: &mut Directories, lba: &mut u64) -> DirectoryPlacement {
    let n = tree.len();
    let mut dir_extent = vec![(0u32, 0u32); n];
    let mut jol_extent = vec![(0u32, 0u32); n];
    // Each directory's continuation areas follow its extent: libarchive only reads a CE
    // block when it comes right after the directory being read, as mkisofs lays them out.
    let mut ce_loc = vec![(0u32, 0u32, 0u32); dirs.ce_areas.len()];
    for d in dirs.iso.iter_mut() {
        let s = dir_size(tree, d, false);
        d.lba = *lba as u32;
        d.size = s as u32;
        dir_extent[d.node] = (d.lba, d.size);
        *lba += s / BLOCK;
        let mut used = 0u64;
        for i in d.ces.clone() {
            let len = dirs.ce_areas[i].len() as u64;
            if used % BLOCK + len > BLOCK {
                used = used.div_ceil(BLOCK) * BLOCK;
            }
            ce_loc[i] = (
                (*lba + used / BLOCK) as u32,
                (used % BLOCK) as u32,
                len as u32,
            );
            used += len;
        }
        *lba += used.div_ceil(BLOCK);
    }
    for d in dirs.joliet.iter_mut() {
        let s = dir_size(tree, d, true);
        d.lba = *lba as u32;
        d.size = s as u32;
        jol_extent[d.node] = (d.lba, d.size);
        *lba += s / BLOCK;
    }
    (dir_extent, jol_extent, ce_loc)
}

/// Where file data goes.
struct FileData {
    lba: Vec<u32>,
    order: Vec<NodeId>,
    total: u64,
    files: usize,
}

/// File data in tree order from block `*lba` on; hardlinks share their owner's extent and the
/// boot catalog's file is the catalog block itself.
fn place_file_data(
    tree: &FsTree,
    catalog_node: Option<NodeId>,
    catalog_lba: u64,
    lba: &mut u64,
) -> Result<FileData, IsoError> {
    let mut data = FileData {
        lba: vec![0u32; tree.len()],
        order: Vec::new(),
        total: 0,
        files: 0,
    };
    for id in tree.walk() {
        if let Kind::File { size, .. } = tree.node(id).kind {
            data.files += 1;
            if Some(id) == catalog_node {
                data.lba[id] = catalog_lba as u32;
                continue;
            }
            if size == 0 {
                continue;
            }
            data.lba[id] = *lba as u32;
            *lba += size.div_ceil(BLOCK);
            if *lba > u64::from(u32::MAX) {
                return Err(IsoError::Unsupported(
                    "image larger than 8 TiB (32-bit block numbers)".into(),
                ));
            }
            data.total += size;
            data.order.push(id);
        }
    }
    Ok(data)
}
