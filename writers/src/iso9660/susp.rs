//! System Use Sharing Protocol (IEEE P1281) and Rock Ridge (RRIP 1.12, P1282) fields.
//!
//! Each function appends one or more complete fields; the caller decides what stays in the
//! directory record and what goes to a continuation area (`CE`).

/// Both-endian 32-bit value (ECMA-119 §7.3.3).
pub fn both32(v: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(&v.to_le_bytes());
    out.extend_from_slice(&v.to_be_bytes());
}

/// `SP`: SUSP is in use, no bytes skipped (only in the root's `.` record).
pub fn sp(out: &mut Vec<u8>) {
    out.extend_from_slice(&[b'S', b'P', 7, 1, 0xBE, 0xEF, 0]);
}

/// `ER`: the extension in use is RRIP 1.12 (only in the root's `.` record).
pub fn er(out: &mut Vec<u8>) {
    const ID: &[u8] = b"RRIP_1991A";
    const DES: &[u8] =
        b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
    const SRC: &[u8] = b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.";
    out.extend_from_slice(&[
        b'E',
        b'R',
        (8 + ID.len() + DES.len() + SRC.len()) as u8,
        1,
        ID.len() as u8,
        DES.len() as u8,
        SRC.len() as u8,
        1,
    ]);
    out.extend_from_slice(ID);
    out.extend_from_slice(DES);
    out.extend_from_slice(SRC);
}

/// `CE`: the rest of the fields are at `block`, `offset`, `len`.
pub fn ce(block: u32, offset: u32, len: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(&[b'C', b'E', 28, 1]);
    both32(block, out);
    both32(offset, out);
    both32(len, out);
}

/// Length of a `CE` field.
pub const CE_LEN: usize = 28;

/// `PX`: mode (with type bits), link count, owner, group, serial number.
pub fn px(mode: u32, nlink: u32, uid: u32, gid: u32, ino: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(&[b'P', b'X', 44, 1]);
    for v in [mode, nlink, uid, gid, ino] {
        both32(v, out);
    }
}

/// `PN`: device number.
pub fn pn(major: u32, minor: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(&[b'P', b'N', 20, 1]);
    both32(major, out);
    both32(minor, out);
}

/// `TF`: modification, access and attribute-change times, all `t` (7-byte form).
pub fn tf(t: &[u8; 7], out: &mut Vec<u8>) {
    out.extend_from_slice(&[b'T', b'F', 5 + 21, 1, 0x0E]);
    for _ in 0..3 {
        out.extend_from_slice(t);
    }
}

/// `NM`: the name, split over several fields (`CONTINUE`) when long.
pub fn nm(name: &[u8], out: &mut Vec<u8>) {
    let chunks: Vec<&[u8]> = name.chunks(200).collect();
    for (i, c) in chunks.iter().enumerate() {
        let flags = u8::from(i + 1 < chunks.len());
        out.extend_from_slice(&[b'N', b'M', (5 + c.len()) as u8, 1, flags]);
        out.extend_from_slice(c);
    }
}

/// `SL`: a symlink target as component records, split over several fields when long.
///
/// A field always ends inside a component (its record flagged `CONTINUE`), never between two:
/// libarchive joins the components of consecutive `SL` fields without a `/`.
pub fn sl(target: &[u8], out: &mut Vec<u8>) {
    let mut comps: Vec<(u8, &[u8])> = Vec::new();
    let mut rest = target;
    if let Some(r) = rest.strip_prefix(b"/") {
        comps.push((0x08, &[]));
        rest = r;
    }
    if !rest.is_empty() {
        for part in rest.split(|&c| c == b'/') {
            comps.push(match part {
                b"." => (0x02, &[]),
                b".." => (0x04, &[]),
                p => (0, p),
            });
        }
    }
    // Content of one field is at most 250 bytes (255 less the 5-byte header).
    const ROOM: usize = 250;
    let used = |f: &Vec<(u8, Vec<u8>)>| f.iter().map(|(_, b)| 2 + b.len()).sum::<usize>();
    let mut fields: Vec<Vec<(u8, Vec<u8>)>> = vec![Vec::new()];
    for (flags, bytes) in comps {
        let mut rest = bytes.to_vec();
        loop {
            let f = fields.last_mut().expect("one field at least");
            let room = ROOM - used(f);
            if 2 + rest.len() <= room {
                f.push((flags, rest));
                break;
            }
            if room >= 3 && !rest.is_empty() {
                let take = room - 2;
                f.push((flags | 1, rest[..take].to_vec()));
                rest = rest[take..].to_vec();
                fields.push(Vec::new());
                continue;
            }
            // Too little room here: end the field inside the previous component instead.
            let carry = match f.last_mut() {
                Some((fl, b)) if b.len() >= 2 && *fl & 1 == 0 => {
                    let last = b.pop().expect("two bytes");
                    let orig = *fl;
                    *fl |= 1;
                    vec![(orig, vec![last])]
                }
                _ => Vec::new(),
            };
            fields.push(carry);
        }
    }
    let n = fields.len();
    for (i, f) in fields.into_iter().enumerate() {
        out.extend_from_slice(&[b'S', b'L', (5 + used(&f)) as u8, 1, u8::from(i + 1 < n)]);
        for (fl, b) in f {
            out.push(fl);
            out.push(b.len() as u8);
            out.extend_from_slice(&b);
        }
    }
}

/// Split a run of fields into whole fields: the boundaries of `buf`.
pub fn field_ends(buf: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = 0;
    while at + 3 <= buf.len() {
        let len = usize::from(buf[at + 2]).max(1);
        at += len;
        ends.push(at.min(buf.len()));
    }
    ends
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sl_components() {
        let mut v = Vec::new();
        sl(b"/usr/../lib", &mut v);
        assert_eq!(&v[..5], &[b'S', b'L', 5 + 2 + 5 + 2 + 5, 1, 0]);
        assert_eq!(
            &v[5..],
            &[8, 0, 0, 3, b'u', b's', b'r', 4, 0, 0, 3, b'l', b'i', b'b']
        );
        let mut v = Vec::new();
        let long = vec![b'x'; 600];
        sl(&long, &mut v);
        let ends = field_ends(&v);
        assert_eq!(ends.len(), 3);
        assert_eq!(*ends.last().unwrap(), v.len());
        // Every field but the last ends in a continued component.
        let mut v = Vec::new();
        let t: Vec<u8> = (0..40).flat_map(|_| b"/abcdefg".to_vec()).collect();
        sl(&t, &mut v);
        let mut start = 0;
        let ends = field_ends(&v);
        assert_eq!(ends.len(), 2);
        let f = &v[start..ends[0]];
        let mut at = 5;
        let mut last_flags = 0;
        while at < f.len() {
            last_flags = f[at];
            at += 2 + usize::from(f[at + 1]);
        }
        assert_eq!(last_flags & 1, 1);
        start = ends[0];
        assert!(v[start + 5] & 1 == 0);
    }

    #[test]
    fn er_fits_a_field() {
        let mut v = Vec::new();
        er(&mut v);
        assert_eq!(v.len(), usize::from(v[2]));
    }
}
