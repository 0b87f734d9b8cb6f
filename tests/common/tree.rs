//! A directory tree as rpm would be compared with it: one [`Node`] per path beneath a root
//! (type, mode, owner, size, content sha256, symlink target, device, every xattr, mtime,
//! hardlink group), and the differences between two such trees.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// One filesystem object as both trees are compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: char,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub sha256: String,
    pub target: String,
    /// Not compared for directories with entries: writing their contents moves it.
    pub mtime: Option<i64>,
    pub rdev: u64,
    /// `security.capability`, kept apart from the other xattrs for older callers' messages.
    pub caps: Option<Vec<u8>>,
    /// Every other extended attribute (name, value), sorted.
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// The first path (in sorted order) of this inode's hardlink group, if nlink > 1.
    pub link_group: Option<String>,
}

fn xattrs(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut names = vec![0u8; 4096];
    let n = match rustix::fs::llistxattr(path, &mut names[..]) {
        Ok(n) => n,
        Err(_) => return Vec::new(),
    };
    let mut out: Vec<(String, Vec<u8>)> = names[..n]
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|name| {
            let name = String::from_utf8_lossy(name).into_owned();
            let mut buf = vec![0u8; 65536];
            let len = rustix::fs::lgetxattr(path, name.as_str(), &mut buf[..]).unwrap_or(0);
            buf.truncate(len);
            (name, buf)
        })
        .collect();
    out.sort();
    out
}

/// Every path beneath `root` (`/` is the root itself).
pub fn tree(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, String> = BTreeMap::new();
    let mut stack = vec![PathBuf::from("/")];
    while let Some(rel) = stack.pop() {
        let full = root.join(rel.strip_prefix("/").unwrap());
        let md = std::fs::symlink_metadata(&full).unwrap();
        let ft = md.file_type();
        let kind = if ft.is_dir() {
            'd'
        } else if ft.is_symlink() {
            'l'
        } else if ft.is_file() {
            'f'
        } else {
            use std::os::unix::fs::FileTypeExt;
            if ft.is_char_device() {
                'c'
            } else if ft.is_block_device() {
                'b'
            } else if ft.is_fifo() {
                'p'
            } else {
                's'
            }
        };
        let mut all = xattrs(&full);
        let caps = all
            .iter()
            .position(|(n, _)| n == "security.capability")
            .map(|i| all.remove(i).1);
        let mut node = Node {
            kind,
            mode: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
            size: if kind == 'f' || kind == 'l' {
                md.size()
            } else {
                0
            },
            sha256: String::new(),
            target: String::new(),
            mtime: Some(md.mtime()),
            rdev: md.rdev(),
            caps,
            xattrs: all,
            link_group: None,
        };
        match kind {
            'f' => {
                let mut h = Sha256::new();
                let mut f = std::fs::File::open(&full).unwrap();
                std::io::copy(&mut f, &mut h).unwrap();
                node.sha256 = format!("{:x}", h.finalize());
                if md.nlink() > 1 {
                    let key = rel.to_string_lossy().into_owned();
                    let first = inodes.entry(md.ino()).or_insert(key.clone());
                    if *first > key {
                        *first = key;
                    }
                }
            }
            'l' => {
                node.target = std::fs::read_link(&full)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            }
            'd' => {
                let mut empty = true;
                for e in std::fs::read_dir(&full).unwrap() {
                    stack.push(rel.join(e.unwrap().file_name()));
                    empty = false;
                }
                if !empty {
                    node.mtime = None;
                }
            }
            _ => {}
        }
        out.insert(rel.to_string_lossy().into_owned(), (node, md.ino()));
    }
    out.into_iter()
        .map(|(k, (mut n, ino))| {
            if n.kind == 'f' {
                n.link_group = inodes.get(&ino).cloned();
            }
            (k, n)
        })
        .collect()
}

/// Differences between rpm's tree `a` and kiln's tree `b`, one message per path.
pub fn diff(a: &BTreeMap<String, Node>, b: &BTreeMap<String, Node>) -> Vec<String> {
    crate::common::differing(a, b)
        .into_iter()
        .map(|(p, n, m)| match (n, m) {
            (Some(n), Some(m)) => format!("{p}: rpm {n:?}\n   kiln {m:?}"),
            (Some(_), None) => format!("only in rpm's tree: {p}"),
            (None, _) => format!("only in kiln's tree: {p}"),
        })
        .collect()
}
