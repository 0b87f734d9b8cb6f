//! Extended attributes: the name-prefix indexes, inline (ibody) xattrs and the shared xattr area
//! (`erofs_fs.h`, the kernel's `xattr.c`).
//!
//! A (name, value) pair that several inodes carry (the same SELinux label on thousands of files)
//! is stored once in the shared area and referenced by a 4-byte id from each inode; that is most
//! of what keeps a labelled tree's metadata small.

use std::collections::{BTreeMap, HashMap};

use super::error::ErofsError;
use crate::tree::Xattr;

/// Header of an inode's xattr body: name filter (unused: no COMPAT_XATTR_FILTER), shared count,
/// reserved.
pub const IBODY_HEADER: usize = 12;
/// An inode can reference at most this many shared xattrs (`h_shared_count` is a u8).
const MAX_SHARED_PER_INODE: usize = 255;

/// The kernel's short prefixes; the longest matching one wins (`system.posix_acl_*` are whole
/// names with an empty suffix).
const PREFIXES: [(&[u8], u8); 5] = [
    (b"user.", 1),
    (b"system.posix_acl_access", 2),
    (b"system.posix_acl_default", 3),
    (b"trusted.", 4),
    (b"security.", 6),
];

/// The prefix index and the rest of the name, or `None` for names the kernel cannot store
/// without long-prefix support (they are dropped, as the options document).
pub fn split_name(name: &[u8]) -> Option<(u8, &[u8])> {
    PREFIXES.iter().find_map(|(p, i)| {
        let rest = name.strip_prefix(*p)?;
        // `system.posix_acl_access` must match whole.
        if (*i == 2 || *i == 3) && !rest.is_empty() {
            return None;
        }
        Some((*i, rest))
    })
}

/// One entry (`erofs_xattr_entry` + name suffix + value), padded to 4 bytes.
pub fn entry_bytes(x: &Xattr) -> Result<Vec<u8>, ErofsError> {
    let (index, suffix) = split_name(&x.name).expect("filtered by `storable`");
    if suffix.len() > 255 || x.value.len() > 0xffff {
        return Err(ErofsError::Limit(format!(
            "xattr `{}` is too long",
            String::from_utf8_lossy(&x.name)
        )));
    }
    let mut e = Vec::with_capacity(4 + suffix.len() + x.value.len() + 3);
    e.push(suffix.len() as u8);
    e.push(index);
    e.extend_from_slice(&(x.value.len() as u16).to_le_bytes());
    e.extend_from_slice(suffix);
    e.extend_from_slice(&x.value);
    e.resize(e.len().div_ceil(4) * 4, 0);
    Ok(e)
}

/// The xattrs of `list` the image can hold.
pub fn storable(list: &[Xattr]) -> Vec<Xattr> {
    list.iter()
        .filter(|x| split_name(&x.name).is_some())
        .cloned()
        .collect()
}

/// The shared xattr area and the id of every pair in it.
#[derive(Default)]
pub struct Shared {
    ids: HashMap<Xattr, u32>,
    /// The area's bytes (a multiple of 4; ids are offsets / 4).
    pub area: Vec<u8>,
}

impl Shared {
    /// Share every pair that more than one inode carries. `lists` holds each inode's xattrs once
    /// (hardlinks are one inode). The area is sorted by name and value, so it does not depend on
    /// the order inodes come in.
    pub fn build<'a>(lists: impl Iterator<Item = &'a [Xattr]>) -> Result<Shared, ErofsError> {
        let mut counts: BTreeMap<&Xattr, u32> = BTreeMap::new();
        for list in lists {
            for x in list {
                *counts.entry(x).or_default() += 1;
            }
        }
        let mut s = Shared::default();
        for (x, n) in counts {
            if n < 2 {
                continue;
            }
            let id = (s.area.len() / 4) as u32;
            s.area.extend_from_slice(&entry_bytes(x)?);
            s.ids.insert(x.clone(), id);
        }
        Ok(s)
    }

    /// The inode's xattr body: header, shared ids, inline entries. Empty without xattrs.
    pub fn ibody(&self, list: &[Xattr]) -> Result<Vec<u8>, ErofsError> {
        if list.is_empty() {
            return Ok(Vec::new());
        }
        let mut shared = Vec::new();
        let mut inline = Vec::new();
        for x in list {
            match self.ids.get(x) {
                Some(&id) if shared.len() < MAX_SHARED_PER_INODE => shared.push(id),
                _ => inline.extend_from_slice(&entry_bytes(x)?),
            }
        }
        let mut b = vec![0u8; IBODY_HEADER];
        b[4] = shared.len() as u8;
        for id in shared {
            b.extend_from_slice(&id.to_le_bytes());
        }
        b.extend_from_slice(&inline);
        Ok(b)
    }
}

/// `i_xattr_icount` for a body of `len` bytes.
pub fn icount(len: usize) -> Result<u16, ErofsError> {
    if len == 0 {
        return Ok(0);
    }
    u16::try_from(1 + (len - IBODY_HEADER) / 4)
        .map_err(|_| ErofsError::Limit("an inode's xattrs exceed 256 KiB".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(n: &str, v: &str) -> Xattr {
        Xattr {
            name: n.as_bytes().to_vec(),
            value: v.as_bytes().to_vec(),
        }
    }

    #[test]
    fn prefixes() {
        assert_eq!(split_name(b"user.a"), Some((1, &b"a"[..])));
        assert_eq!(split_name(b"security.selinux"), Some((6, &b"selinux"[..])));
        assert_eq!(split_name(b"system.posix_acl_access"), Some((2, &b""[..])));
        assert_eq!(split_name(b"system.posix_acl_accessx"), None);
        assert_eq!(split_name(b"system.nfs4_acl"), None);
    }

    #[test]
    fn shared_only_when_repeated() {
        let a = [x("security.selinux", "l1"), x("user.k", "v")];
        let b = [x("security.selinux", "l1")];
        let s = Shared::build([&a[..], &b[..]].into_iter()).unwrap();
        // One shared entry: 4 + 7 + 2 = 13 -> 16 bytes.
        assert_eq!(s.area.len(), 16);
        let body = s.ibody(&a).unwrap();
        // Header, one id, one inline entry of 4 + 1 + 1 -> 8 bytes.
        assert_eq!(body.len(), 12 + 4 + 8);
        assert_eq!(body[4], 1);
        assert_eq!(icount(body.len()).unwrap(), 4);
    }
}
