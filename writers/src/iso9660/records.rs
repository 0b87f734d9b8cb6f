//! Directory records and path tables of both trees (primary with Rock Ridge, and Joliet):
//! which entries each directory lists under which name, how long its extent is, and the
//! bytes of its records once the layout has placed everything.

use std::collections::{HashSet, VecDeque};
use std::os::unix::ffi::OsStrExt;

use super::rock_ridge::{split_susp, RockRidge};
use super::{file_size, names, owner, susp, IsoError, BLOCK, MAX_EXTENT};
use crate::datetime::{civil, from_civil};
use crate::tree::{FsTree, Kind, NodeId};

/// 7-byte directory record date (ECMA-119 §9.1.5), UTC.
pub(super) fn rec_date(t: i64) -> [u8; 7] {
    let t = t.clamp(from_civil(1900, 1, 1), from_civil(2155, 12, 31));
    let c = civil(t);
    [
        (c.year - 1900) as u8,
        c.month as u8,
        c.day as u8,
        c.hour as u8,
        c.minute as u8,
        c.second as u8,
        0,
    ]
}

/// Base length of a directory record with a name of `n` bytes.
pub(super) fn base_len(n: usize) -> usize {
    33 + n + usize::from(n & 1 == 0)
}

/// Length of a record with a name of `name_len` bytes, `in_rec` bytes of system use fields
/// and, if `ce`, a continuation field.
fn rec_len(name_len: usize, in_rec: usize, ce: bool) -> usize {
    let n = base_len(name_len) + in_rec + if ce { susp::CE_LEN } else { 0 };
    n + n % 2
}

/// Append a directory record.
pub(super) fn record(
    extent: u32,
    size: u32,
    flags: u8,
    date: &[u8; 7],
    name: &[u8],
    susp: &[u8],
    out: &mut Vec<u8>,
) {
    let start = out.len();
    let len = {
        let n = base_len(name.len()) + susp.len();
        n + n % 2
    };
    out.push(len as u8);
    out.push(0);
    susp::both32(extent, out);
    susp::both32(size, out);
    out.extend_from_slice(date);
    out.push(flags);
    out.extend_from_slice(&[0, 0, 1, 0, 0, 1]);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    if name.len() & 1 == 0 {
        out.push(0);
    }
    out.extend_from_slice(susp);
    out.resize(start + len, 0);
}

/// A child entry of a directory in one of the two trees.
pub(super) struct Child {
    pub(super) node: NodeId,
    pub(super) name: Vec<u8>,
    /// Rock Ridge fields (primary tree only).
    pub(super) rr: SystemUse,
}

/// The system use fields of one record: all of them, how many bytes stay in the record, and
/// the continuation area that holds the rest.
#[derive(Default)]
pub(super) struct SystemUse {
    pub(super) fields: Vec<u8>,
    pub(super) in_rec: usize,
    /// Continuation area index, if some fields spill.
    pub(super) ce: Option<usize>,
}

/// One directory of one tree. Its `.` record carries Rock Ridge fields (SP and ER too on the
/// root) that may spill into a continuation area; its `..` record's fields always fit. The
/// layout fills in `lba` and `size`; `ces` are its continuation areas (indices into the list
/// of all), placed right after its extent.
pub(super) struct DirPlan {
    pub(super) node: NodeId,
    /// Index of the parent in the same list (the root is its own parent).
    pub(super) parent: usize,
    pub(super) dot: SystemUse,
    pub(super) dotdot_susp: Vec<u8>,
    /// The entries, in record order.
    pub(super) children: Vec<Child>,
    pub(super) lba: u32,
    pub(super) size: u32,
    pub(super) ces: std::ops::Range<usize>,
}

/// The directories of both trees in path-table order (breadth first, sorted names), and the
/// Rock Ridge continuation areas of the primary one.
pub(super) struct Directories {
    pub(super) iso: Vec<DirPlan>,
    /// Empty without Joliet.
    pub(super) joliet: Vec<DirPlan>,
    pub(super) ce_areas: Vec<Vec<u8>>,
}

/// Plan the directories of the primary tree (its names `untranslated`, or level 2 d-characters)
/// and, if `joliet`, of the Joliet tree.
pub(super) fn plan(
    tree: &FsTree,
    rr: &RockRidge,
    joliet: bool,
    untranslated: bool,
) -> Result<Directories, IsoError> {
    let mut ce_areas = Vec::new();
    let iso = plan_tree(tree, rr, false, untranslated, &mut ce_areas)?;
    let joliet = if joliet {
        plan_tree(tree, rr, true, false, &mut ce_areas)?
    } else {
        Vec::new()
    };
    // dotdot fields may exceed a record only if a parent's fields were huge: they never are
    // (PX + TF + SL/PN of a directory), but guard against surprises.
    if iso.iter().any(|d| d.dotdot_susp.len() > 200) {
        return Err(IsoError::Unsupported("directory fields too long".into()));
    }
    Ok(Directories {
        iso,
        joliet,
        ce_areas,
    })
}

/// The fields of a record with a name of `name_len` bytes, those that do not fit stored as a
/// continuation area.
fn spill(name_len: usize, fields: Vec<u8>, ce_areas: &mut Vec<Vec<u8>>) -> SystemUse {
    let (in_rec, spills) = split_susp(name_len, &fields);
    let mut ce = None;
    if spills {
        ce_areas.push(fields[in_rec..].to_vec());
        ce = Some(ce_areas.len() - 1);
    }
    SystemUse { fields, in_rec, ce }
}

fn plan_tree(
    tree: &FsTree,
    rr: &RockRidge,
    joliet: bool,
    untranslated: bool,
    ce_areas: &mut Vec<Vec<u8>>,
) -> Result<Vec<DirPlan>, IsoError> {
    let mut dirs: Vec<DirPlan> = Vec::new();
    let mut queue = VecDeque::from([(FsTree::ROOT, 0usize)]);
    while let Some((id, parent)) = queue.pop_front() {
        let ce_first = ce_areas.len();
        let children = children(tree, rr, id, joliet, untranslated, ce_areas);
        let (mut dot, mut dotdot_susp) = (SystemUse::default(), Vec::new());
        if !joliet {
            let mut dot_susp = Vec::new();
            if id == FsTree::ROOT {
                susp::sp(&mut dot_susp);
            }
            dot_susp.extend(rr.fields(tree, id, b""));
            if id == FsTree::ROOT {
                susp::er(&mut dot_susp);
            }
            dot = spill(1, dot_susp, ce_areas);
            dotdot_susp = rr.fields(tree, tree.node(id).parent, b"");
        }
        let me = dirs.len();
        for ch in &children {
            if tree.node(ch.node).kind == Kind::Dir {
                queue.push_back((ch.node, me));
            }
        }
        dirs.push(DirPlan {
            node: id,
            parent,
            dot,
            dotdot_susp,
            children,
            lba: 0,
            size: 0,
            ces: ce_first..ce_areas.len(),
        });
    }
    if dirs.len() > 0xFFFF {
        return Err(IsoError::Unsupported(format!(
            "{} directories do not fit a path table (65535 at most)",
            dirs.len()
        )));
    }
    Ok(dirs)
}

/// The entries of directory `id` in record order, with their names in this tree (Joliet lists
/// only directories and regular files) and, in the primary tree, their Rock Ridge fields.
fn children(
    tree: &FsTree,
    rr: &RockRidge,
    id: NodeId,
    joliet: bool,
    untranslated: bool,
    ce_areas: &mut Vec<Vec<u8>>,
) -> Vec<Child> {
    let mut used = HashSet::new();
    let mut children = Vec::new();
    for &c in tree.children(id) {
        let k = &tree.node(owner(tree, c)).kind;
        let is_dir = *k == Kind::Dir;
        let raw = tree.node(c).name.as_bytes();
        let name = if joliet {
            if !is_dir && !matches!(k, Kind::File { .. }) {
                continue;
            }
            names::joliet_name(raw, &mut used)
        } else if untranslated {
            names::untranslated_name(raw, &mut used)
        } else {
            names::iso_name(raw, is_dir, &mut used)
        };
        let mut ch = Child {
            node: c,
            name,
            rr: SystemUse::default(),
        };
        if !joliet {
            ch.rr = spill(ch.name.len(), rr.fields(tree, c, raw), ce_areas);
        }
        children.push(ch);
    }
    if joliet {
        children.sort_by(|a, b| a.name.cmp(&b.name));
    } else {
        children.sort_by(|a, b| names::iso_order(&a.name, &b.name));
    }
    children
}

/// How many records (extents) a node takes: files past [`MAX_EXTENT`] take several.
pub(super) fn parts(tree: &FsTree, id: NodeId) -> u64 {
    let s = file_size(tree, id);
    if tree.node(owner(tree, id)).kind != Kind::Dir && s > MAX_EXTENT {
        s.div_ceil(MAX_EXTENT)
    } else {
        1
    }
}

/// Size of a directory's extent: records never cross a block.
pub(super) fn dir_size(tree: &FsTree, d: &DirPlan, joliet: bool) -> u64 {
    let mut used = 0u64;
    let mut add = |len: usize| {
        let len = len as u64;
        if used % BLOCK + len > BLOCK {
            used = used.div_ceil(BLOCK) * BLOCK;
        }
        used += len;
    };
    if joliet {
        add(34);
        add(34);
    } else {
        add(rec_len(1, d.dot.in_rec, d.dot.ce.is_some()));
        add(rec_len(1, d.dotdot_susp.len(), false));
    }
    for c in &d.children {
        let len = rec_len(c.name.len(), c.rr.in_rec, c.rr.ce.is_some());
        for _ in 0..parts(tree, c.node) {
            add(len);
        }
    }
    used.div_ceil(BLOCK) * BLOCK
}

/// The name a directory has in its parent's listing (the root's is a single 0 byte).
fn path_table_name(dirs: &[DirPlan], i: usize) -> Vec<u8> {
    if i == 0 {
        return vec![0];
    }
    let d = &dirs[i];
    dirs[d.parent]
        .children
        .iter()
        .find(|c| c.node == d.node)
        .map(|c| c.name.clone())
        .unwrap_or_default()
}

/// A path table, little-endian (type L) or big-endian (type M).
pub(super) fn path_table(dirs: &[DirPlan], big_endian: bool) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let name = path_table_name(dirs, i);
        v.push(name.len() as u8);
        v.push(0);
        if big_endian {
            v.extend_from_slice(&d.lba.to_be_bytes());
            v.extend_from_slice(&(d.parent as u16 + 1).to_be_bytes());
        } else {
            v.extend_from_slice(&d.lba.to_le_bytes());
            v.extend_from_slice(&(d.parent as u16 + 1).to_le_bytes());
        }
        v.extend_from_slice(&name);
        if name.len() % 2 == 1 {
            v.push(0);
        }
    }
    v
}

/// Bytes of a path table of `dirs`.
pub(super) fn path_table_size(dirs: &[DirPlan]) -> u64 {
    let mut n = 0u64;
    for (i, d) in dirs.iter().enumerate() {
        let len = if i == 0 {
            1
        } else {
            dirs[d.parent]
                .children
                .iter()
                .find(|c| c.node == d.node)
                .map_or(0, |c| c.name.len())
        };
        n += 8 + len as u64 + (len as u64 % 2);
    }
    n
}

/// Where the layout placed what a directory's records point at.
pub(super) struct Placement<'a> {
    /// (block, size) of every directory's extent in this tree, by node.
    pub(super) extents: &'a [(u32, u32)],
    /// First block of every file's data, by node.
    pub(super) data_lba: &'a [u32],
    /// (block, offset, length) of every continuation area.
    pub(super) ce_loc: &'a [(u32, u32, u32)],
    pub(super) ce_areas: &'a [Vec<u8>],
}

/// Append `rec` to a directory's bytes, starting a new block if it would cross one.
fn put(rec: &[u8], buf: &mut Vec<u8>) {
    let used = buf.len() as u64 % BLOCK;
    if used + rec.len() as u64 > BLOCK {
        buf.resize(
            (buf.len() as u64).div_ceil(BLOCK) as usize * BLOCK as usize,
            0,
        );
    }
    buf.extend_from_slice(rec);
}

/// The fields that stay in the record, then the `CE` field pointing at the rest, if any.
fn record_fields(su: &SystemUse, at: &Placement<'_>) -> Vec<u8> {
    let mut out = su.fields[..su.in_rec].to_vec();
    if let Some(ci) = su.ce {
        let (b, o, l) = at.ce_loc[ci];
        susp::ce(b, o, l, &mut out);
    }
    out
}

/// The bytes of directory `d`: its extent (`.`, `..`, the children) followed by its
/// continuation areas.
pub(super) fn directory_bytes(
    tree: &FsTree,
    rr: &RockRidge,
    d: &DirPlan,
    at: &Placement<'_>,
) -> Vec<u8> {
    let date_of = |id: NodeId| rec_date(rr.clamp(tree.node(owner(tree, id)).meta.mtime));
    let mut buf: Vec<u8> = Vec::with_capacity(d.size as usize);
    let mut rec = Vec::with_capacity(256);
    let me = at.extents[d.node];
    let pnode = tree.node(d.node).parent;
    let parent = at.extents[pnode];
    let fields = record_fields(&d.dot, at);
    record(me.0, me.1, 2, &date_of(d.node), &[0], &fields, &mut rec);
    put(&rec, &mut buf);
    rec.clear();
    record(
        parent.0,
        parent.1,
        2,
        &date_of(pnode),
        &[1],
        &d.dotdot_susp,
        &mut rec,
    );
    put(&rec, &mut buf);
    for c in &d.children {
        let o = owner(tree, c.node);
        let fields = record_fields(&c.rr, at);
        let date = date_of(c.node);
        match &tree.node(o).kind {
            Kind::Dir => {
                rec.clear();
                let e = at.extents[o];
                record(e.0, e.1, 2, &date, &c.name, &fields, &mut rec);
                put(&rec, &mut buf);
            }
            Kind::File { size, .. } => {
                let k = parts(tree, c.node);
                for i in 0..k {
                    let start = u64::from(at.data_lba[o]) + i * MAX_EXTENT / BLOCK;
                    let len = (size - i * MAX_EXTENT).min(MAX_EXTENT);
                    let flags = if i + 1 < k { 0x80 } else { 0 };
                    let start = if *size == 0 { 0 } else { start as u32 };
                    rec.clear();
                    record(start, len as u32, flags, &date, &c.name, &fields, &mut rec);
                    put(&rec, &mut buf);
                }
            }
            _ => {
                rec.clear();
                record(0, 0, 0, &date, &c.name, &fields, &mut rec);
                put(&rec, &mut buf);
            }
        }
    }
    buf.resize(d.size as usize, 0);
    for i in d.ces.clone() {
        let (b, o, _) = at.ce_loc[i];
        let offset = (u64::from(b) - u64::from(d.lba)) * BLOCK + u64::from(o);
        buf.resize(offset as usize, 0);
        buf.extend_from_slice(&at.ce_areas[i]);
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rec_date(1_700_000_000), [123, 11, 14, 22, 13, 20, 0]);
    }
}
