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
pub fn sl(target: &[u8], out: &mut Vec<u8>) {
    // Component records: (flags, bytes); a component longer than 248 is split with CONTINUE.
    let mut comps: Vec<(u8, &[u8])> = Vec::new();
    let mut rest = target;
    if let Some(r) = rest.strip_prefix(b"/") {
        comps.push((0x08, &[]));
        rest = r;
    }
    if !rest.is_empty() {
        for part in rest.split(|&c| c == b'/') {
            match part {
                b"." => comps.push((0x02, &[])),
                b".." => comps.push((0x04, &[])),
                b"" => comps.push((0, &[])),
                p => {
                    let pieces: Vec<&[u8]> = p.chunks(248).collect();
                    for (i, piece) in pieces.iter().enumerate() {
                        comps.push((u8::from(i + 1 < pieces.len()), piece));
                    }
                }
            }
        }
    }
    // Pack component records into SL fields of at most 255 bytes.
    let mut fields: Vec<Vec<u8>> = vec![Vec::new()];
    for (flags, bytes) in comps {
        let rec = 2 + bytes.len();
        if 5 + fields.last().map_or(0, Vec::len) + rec > 255 {
            fields.push(Vec::new());
        }
        let f = fields.last_mut().expect("one field at least");
        f.push(flags);
        f.push(bytes.len() as u8);
        f.extend_from_slice(bytes);
    }
    let n = fields.len();
    for (i, f) in fields.into_iter().enumerate() {
        out.extend_from_slice(&[b'S', b'L', (5 + f.len()) as u8, 1, u8::from(i + 1 < n)]);
        out.extend_from_slice(&f);
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
        assert_eq!(&v[5..], &[8, 0, 0, 3, b'u', b's', b'r', 4, 0, 0, 3, b'l', b'i', b'b']);
        let mut v = Vec::new();
        let long = vec![b'x'; 600];
        sl(&long, &mut v);
        let ends = field_ends(&v);
        assert_eq!(ends.len(), 3);
        assert_eq!(*ends.last().unwrap(), v.len());
    }

    #[test]
    fn er_fits_a_field() {
        let mut v = Vec::new();
        er(&mut v);
        assert_eq!(v.len(), usize::from(v[2]));
    }
}
