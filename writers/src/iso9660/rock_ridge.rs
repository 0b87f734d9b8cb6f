//! Rock Ridge attributes of the primary tree: link counts, clamped times, the fields of each
//! node (PX, TF, PN, SL, NM), and how many of them fit in a directory record before the rest
//! spills into a continuation area (`CE`). The field encodings live in `susp`.

use std::os::unix::ffi::OsStrExt;

use super::records::{base_len, rec_date};
use super::{owner, susp};
use crate::tree::{FsTree, Kind, Meta, NodeId};

/// What the Rock Ridge fields need besides the tree: link counts and the time clamp.
pub(super) struct RockRidge {
    nlink: Vec<u32>,
    clamp_to: Option<i64>,
}

impl RockRidge {
    /// Count links of every node (directories: 2 plus their subdirectories; files: their
    /// names, hardlinks included) and remember the clamp for times.
    pub fn new(tree: &FsTree, clamp_to: Option<i64>) -> RockRidge {
        let mut nlink = vec![0; tree.len()];
        for id in tree.walk() {
            let node = tree.node(id);
            if node.kind == Kind::Dir {
                nlink[id] += 2;
                if id != FsTree::ROOT {
                    nlink[node.parent] += 1;
                }
            } else {
                nlink[owner(tree, id)] += 1;
            }
        }
        RockRidge { nlink, clamp_to }
    }

    /// `t`, no later than `SOURCE_DATE_EPOCH` when one is set.
    pub fn clamp(&self, t: i64) -> i64 {
        self.clamp_to.map_or(t, |c| t.min(c))
    }

    /// Rock Ridge fields of a node (`name` empty for `.`/`..`).
    pub fn fields(&self, tree: &FsTree, id: NodeId, name: &[u8]) -> Vec<u8> {
        let o = owner(tree, id);
        let meta: &Meta = &tree.node(o).meta;
        let mut v = Vec::new();
        let kind_bits = match &tree.node(o).kind {
            Kind::Dir => 0o040000,
            Kind::File { .. } | Kind::Hardlink(_) => 0o100000,
            Kind::Symlink(_) => 0o120000,
            Kind::CharDevice { .. } => 0o020000,
            Kind::BlockDevice { .. } => 0o060000,
            Kind::Fifo => 0o010000,
            Kind::Socket => 0o140000,
        };
        susp::px(
            kind_bits | (meta.mode & 0o7777),
            self.nlink[o],
            meta.uid,
            meta.gid,
            o as u32 + 1,
            &mut v,
        );
        susp::tf(&rec_date(self.clamp(meta.mtime)), &mut v);
        match &tree.node(o).kind {
            Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => {
                susp::pn(*major, *minor, &mut v)
            }
            Kind::Symlink(t) => susp::sl(t.as_bytes(), &mut v),
            _ => {}
        }
        if !name.is_empty() {
            susp::nm(name, &mut v);
        }
        v
    }
}

/// Decide how much of `susp` stays in a record with a name of `name_len` bytes, and whether
/// the rest spills into a continuation area.
pub(super) fn split_susp(name_len: usize, susp: &[u8]) -> (usize, bool) {
    let avail = 254 - base_len(name_len);
    if susp.len() <= avail {
        return (susp.len(), false);
    }
    let mut keep = 0;
    for end in susp::field_ends(susp) {
        if end + susp::CE_LEN > avail {
            break;
        }
        keep = end;
    }
    (keep, true)
}
