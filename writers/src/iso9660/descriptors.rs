//! Volume descriptors: the primary (ISO 9660 names, Rock Ridge) and the Joliet supplementary
//! descriptor, and the set terminator. The El Torito boot record is in `eltorito`.

use super::layout::Layout;
use super::records::{rec_date, record};
use super::rock_ridge::RockRidge;
use super::{susp, IsoOptions, APPDATA_OFFSET, APPDATA_SIZE, BLOCK};
use crate::datetime::{civil, from_civil};
use crate::tree::FsTree;

/// 17-byte volume descriptor date (ECMA-119 §8.4.26.1), UTC.
fn vd_date(t: i64) -> [u8; 17] {
    let t = t.clamp(from_civil(1, 1, 1), from_civil(9999, 12, 31));
    let c = civil(t);
    let s = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}00",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    );
    let mut d = [0u8; 17];
    d[..16].copy_from_slice(s.as_bytes());
    d
}

fn padded(s: &str, n: usize) -> Vec<u8> {
    let mut v = s.as_bytes()[..s.len().min(n)].to_vec();
    v.resize(n, b' ');
    v
}

fn padded_ucs2(s: &str, n: usize) -> Vec<u8> {
    let mut v: Vec<u8> = s
        .encode_utf16()
        .take(n / 2)
        .flat_map(|u| u.to_be_bytes())
        .collect();
    while v.len() < n {
        v.extend_from_slice(&[0, b' ']);
    }
    v.truncate(n);
    v
}

/// The primary volume descriptor (`joliet` false) or Joliet's supplementary one (`joliet`
/// true), with the application-use area blank for implantisomd5.
pub(super) fn volume_descriptor(
    tree: &FsTree,
    opts: &IsoOptions,
    rr: &RockRidge,
    layout: &Layout,
    vol_time: i64,
    joliet: bool,
) -> Vec<u8> {
    let mut v = vec![if joliet { 2 } else { 1 }];
    v.extend_from_slice(b"CD001\x01\x00");
    let text = |s: &str, n: usize| {
        if joliet {
            padded_ucs2(s, n)
        } else {
            padded(s, n)
        }
    };
    v.extend(text(&opts.system_id, 32));
    v.extend(text(&opts.volume_id, 32));
    v.extend_from_slice(&[0; 8]);
    susp::both32(layout.volume_blocks as u32, &mut v);
    let mut esc = [0u8; 32];
    if joliet {
        esc[..3].copy_from_slice(b"%/E");
    }
    v.extend_from_slice(&esc);
    v.extend_from_slice(&[1, 0, 0, 1, 1, 0, 0, 1, 0, 8, 8, 0]);
    let (tables, root) = if joliet {
        (layout.joliet_tables, layout.jol_extent[FsTree::ROOT])
    } else {
        (layout.iso_tables, layout.dir_extent[FsTree::ROOT])
    };
    susp::both32(tables.size as u32, &mut v);
    v.extend_from_slice(&(tables.l as u32).to_le_bytes());
    v.extend_from_slice(&[0; 4]);
    v.extend_from_slice(&(tables.m as u32).to_be_bytes());
    v.extend_from_slice(&[0; 4]);
    let root_date = rec_date(rr.clamp(tree.node(FsTree::ROOT).meta.mtime));
    record(root.0, root.1, 2, &root_date, &[0], &[], &mut v);
    v.extend(text("", 128));
    v.extend(text(&opts.publisher, 128));
    v.extend(text(&opts.preparer, 128));
    v.extend(text(&opts.application, 128));
    for _ in 0..3 {
        v.extend(text("", 37));
    }
    let d = vd_date(vol_time);
    v.extend_from_slice(&d);
    v.extend_from_slice(&d);
    let mut zero = [b'0'; 17];
    zero[16] = 0;
    v.extend_from_slice(&zero);
    v.extend_from_slice(&zero);
    v.push(1);
    v.push(0);
    debug_assert_eq!(v.len(), APPDATA_OFFSET);
    v.extend_from_slice(&[b' '; APPDATA_SIZE]);
    v.resize(BLOCK as usize, 0);
    v
}

/// The volume descriptor set terminator.
pub(super) fn terminator() -> Vec<u8> {
    let mut term = vec![255u8, b'C', b'D', b'0', b'0', b'1', 1];
    term.resize(BLOCK as usize, 0);
    term
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(&vd_date(1_700_000_000)[..16], b"2023111422132000");
    }
}
