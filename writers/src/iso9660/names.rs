//! File identifiers: ISO 9660 level 2 names (d-characters, at most 30/31 bytes) and Joliet
//! names (UCS-2 big-endian, up to 103 units like xorriso's `-joliet-long`), made unique per
//! directory, and the ECMA-119 §9.3 record order.

use std::cmp::Ordering;
use std::collections::HashSet;

/// Longest Joliet name in UTF-16 units (xorriso's `-joliet-long`; the record limit is 110).
pub const JOLIET_MAX: usize = 103;
const ISO_FILE_MAX: usize = 30;
const ISO_DIR_MAX: usize = 31;

fn d_char(c: u8) -> u8 {
    let c = c.to_ascii_uppercase();
    if c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_' {
        c
    } else {
        b'_'
    }
}

/// The ISO 9660 identifier (with `;1` for files) for `name`, unique among `used`.
pub fn iso_name(name: &[u8], is_dir: bool, used: &mut HashSet<Vec<u8>>) -> Vec<u8> {
    let (base, ext): (Vec<u8>, Vec<u8>) = if is_dir {
        (name.iter().map(|&c| d_char(c)).collect(), Vec::new())
    } else {
        match name.iter().rposition(|&c| c == b'.') {
            Some(p) if p > 0 => (
                name[..p].iter().map(|&c| d_char(c)).collect(),
                name[p + 1..].iter().take(8).map(|&c| d_char(c)).collect(),
            ),
            _ => (name.iter().map(|&c| d_char(c)).collect(), Vec::new()),
        }
    };
    let limit = if is_dir {
        ISO_DIR_MAX
    } else {
        ISO_FILE_MAX - 1 - ext.len()
    };
    let compose = |base: &[u8]| -> Vec<u8> {
        let mut v = base.to_vec();
        if !is_dir {
            v.push(b'.');
            v.extend_from_slice(&ext);
            v.extend_from_slice(b";1");
        }
        v
    };
    let mut first = base[..base.len().min(limit)].to_vec();
    if first.is_empty() {
        first.push(b'_');
    }
    let cand = compose(&first);
    if used.insert(key(&cand)) {
        return cand;
    }
    for n in 1u32.. {
        let tail = n.to_string();
        let keep = base.len().min(limit - tail.len());
        let mut b = base[..keep].to_vec();
        b.extend_from_slice(tail.as_bytes());
        let cand = compose(&b);
        if used.insert(key(&cand)) {
            return cand;
        }
    }
    unreachable!()
}

/// Longest untranslated identifier (mkisofs' `-l`, which its `-U` implies).
const UNTRANSLATED_MAX: usize = 31;

/// The identifier for `name` as mkisofs' `-U` (lorax's ppc64le media) and xorriso's
/// `-untranslated_names` write it: the name's own bytes, no version, cut at 31 bytes, unique
/// among `used`. Open Firmware reads these names, not Rock Ridge's, and looks files up by
/// their real names (`\ppc\bootinfo.txt`). A `;` would read as a version: it becomes `_`.
pub fn untranslated_name(name: &[u8], used: &mut HashSet<Vec<u8>>) -> Vec<u8> {
    let base: Vec<u8> = name
        .iter()
        .map(|&c| if c == b';' { b'_' } else { c })
        .collect();
    let cand = base[..base.len().min(UNTRANSLATED_MAX)].to_vec();
    if !cand.is_empty() && used.insert(cand.clone()) {
        return cand;
    }
    for n in 1u32.. {
        let tail = n.to_string();
        let mut b = base[..base.len().min(UNTRANSLATED_MAX - tail.len())].to_vec();
        b.extend_from_slice(tail.as_bytes());
        if used.insert(b.clone()) {
            return b;
        }
    }
    unreachable!()
}

/// Identifiers compare without their version.
fn key(id: &[u8]) -> Vec<u8> {
    match id.iter().position(|&c| c == b';') {
        Some(p) => id[..p].to_vec(),
        None => id.to_vec(),
    }
}

/// The Joliet identifier (UCS-2BE bytes) for `name`, unique among `used`.
pub fn joliet_name(name: &[u8], used: &mut HashSet<Vec<u8>>) -> Vec<u8> {
    let units: Vec<u16> = String::from_utf8_lossy(name)
        .encode_utf16()
        .map(|u| match u {
            0..=0x1F | 0x2A | 0x2F | 0x3A | 0x3B | 0x3F | 0x5C => u16::from(b'_'),
            u => u,
        })
        .collect();
    let cut = |units: &[u16], max: usize| -> Vec<u16> {
        let mut n = units.len().min(max);
        // Never split a surrogate pair.
        if n < units.len() && n > 0 && (0xD800..0xDC00).contains(&units[n - 1]) {
            n -= 1;
        }
        units[..n].to_vec()
    };
    let be = |u: &[u16]| u.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
    let cand = be(&cut(&units, JOLIET_MAX));
    if used.insert(cand.clone()) {
        return cand;
    }
    for n in 1u32.. {
        let tail: Vec<u16> = format!("_{n}").encode_utf16().collect();
        let mut u = cut(&units, JOLIET_MAX - tail.len());
        u.extend(tail);
        let cand = be(&u);
        if used.insert(cand.clone()) {
            return cand;
        }
    }
    unreachable!()
}

/// ECMA-119 §9.3 order: name part, then extension, each padded with spaces.
pub fn iso_order(a: &[u8], b: &[u8]) -> Ordering {
    fn split(id: &[u8]) -> (&[u8], &[u8]) {
        let id = &id[..id.iter().position(|&c| c == b';').unwrap_or(id.len())];
        match id.iter().position(|&c| c == b'.') {
            Some(p) => (&id[..p], &id[p + 1..]),
            None => (id, &[]),
        }
    }
    fn padded(a: &[u8], b: &[u8]) -> Ordering {
        let n = a.len().max(b.len());
        (0..n)
            .map(|i| (*a.get(i).unwrap_or(&b' '), *b.get(i).unwrap_or(&b' ')))
            .find(|(x, y)| x != y)
            .map_or(Ordering::Equal, |(x, y)| x.cmp(&y))
    }
    let (an, ae) = split(a);
    let (bn, be) = split(b);
    padded(an, bn).then_with(|| padded(ae, be))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_names_are_unique_d_chars() {
        let mut used = HashSet::new();
        assert_eq!(iso_name(b"readme.txt", false, &mut used), b"README.TXT;1");
        assert_eq!(iso_name(b"README.txt", false, &mut used), b"README1.TXT;1");
        assert_eq!(iso_name(b"Makefile", false, &mut used), b"MAKEFILE.;1");
        assert_eq!(iso_name(b"my-dir.d", true, &mut used), b"MY_DIR_D");
        let long = iso_name(&[b'x'; 80], false, &mut used);
        assert_eq!(long.len(), 32);
    }

    #[test]
    fn untranslated_names_keep_their_bytes() {
        let mut used = HashSet::new();
        assert_eq!(
            untranslated_name(b"powerpc-ieee1275", &mut used),
            b"powerpc-ieee1275"
        );
        assert_eq!(
            untranslated_name(b"bootinfo.txt", &mut used),
            b"bootinfo.txt"
        );
        assert_eq!(untranslated_name(b"a;1", &mut used), b"a_1");
        let long = untranslated_name(&[b'x'; 40], &mut used);
        assert_eq!(long.len(), 31);
        let again = untranslated_name(&[b'x'; 40], &mut used);
        assert_eq!((again.len(), &again[30..]), (31, &b"1"[..]));
    }

    #[test]
    fn joliet_keeps_long_names() {
        let mut used = HashSet::new();
        let name = "é".repeat(90);
        let j = joliet_name(name.as_bytes(), &mut used);
        assert_eq!(j.len(), 180);
        let j2 = joliet_name(name.as_bytes(), &mut used);
        assert_ne!(j, j2);
        assert_eq!(
            joliet_name(b"a:b", &mut used),
            vec![0, b'a', 0, b'_', 0, b'b']
        );
    }

    #[test]
    fn order_pads_with_spaces() {
        assert_eq!(iso_order(b"A.B;1", b"AB.;1"), Ordering::Less);
        assert_eq!(iso_order(b"A", b"A_"), Ordering::Less);
    }
}
