//! `FsTree`: the format-neutral file tree every writer consumes.
//!
//! A tree is a flat arena of nodes (the root is node 0) whose directories keep their children
//! sorted by name bytes, so every writer walks it in one deterministic order. Ownership, modes,
//! times and xattrs are plain values, not read from disk at write time: a caller that knows them
//! from elsewhere (package headers) builds images without root. Hardlinks are explicit nodes
//! pointing at the node that owns the data, so writers can share one inode.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::error::IoError;

/// Index of a node in an [`FsTree`]; the root is [`FsTree::ROOT`].
pub type NodeId = usize;

/// Errors building or editing a tree.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// A filesystem call on the source directory failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The parent of a path to insert is missing or not a directory.
    #[error("parent of `{}` is missing or not a directory", path.display())]
    NoParent {
        /// The path being inserted.
        path: PathBuf,
    },
    /// The path is already in the tree.
    #[error("`{}` is already in the tree", path.display())]
    Exists {
        /// The path being inserted.
        path: PathBuf,
    },
    /// The path is empty, absolute with `..`, or otherwise not a plain relative path.
    #[error("`{}` is not a plain path inside the tree", path.display())]
    BadPath {
        /// The offending path.
        path: PathBuf,
    },
    /// A hardlink points at a directory, another hardlink or a missing node.
    #[error("hardlink `{}` must point at an existing non-directory node", path.display())]
    BadHardlink {
        /// The hardlink's path.
        path: PathBuf,
    },
    /// The source is not something a filesystem image can hold (e.g. a door or whiteout).
    #[error("`{}` has an unsupported file type", path.display())]
    Unsupported {
        /// The offending path.
        path: PathBuf,
    },
}

/// Where a regular file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// Read from this file on disk when the image is written.
    Path(PathBuf),
    /// These bytes.
    Bytes(Arc<[u8]>),
}

/// Why [`DataSource::read_exact_at`] could not fill the buffer.
#[derive(Debug)]
pub enum SourceReadError {
    /// Opening or reading the source file failed (or it is shorter than it was).
    Io(IoError),
    /// In-memory bytes shorter than the range asked for.
    ShortBytes,
}

impl DataSource {
    /// Fill `buf` with the source's bytes from `off`; `file` keeps a path source's file open
    /// between calls (the writers read each file block by block).
    pub fn read_exact_at(
        &self,
        file: &mut Option<std::fs::File>,
        off: u64,
        buf: &mut [u8],
    ) -> Result<(), SourceReadError> {
        use std::os::unix::fs::FileExt;
        match self {
            DataSource::Bytes(b) => {
                let end = off as usize + buf.len();
                let Some(part) = b.get(off as usize..end) else {
                    return Err(SourceReadError::ShortBytes);
                };
                buf.copy_from_slice(part);
            }
            DataSource::Path(p) => {
                let err = IoError::at("read", p);
                if file.is_none() {
                    *file = Some(std::fs::File::open(p).map_err(|e| SourceReadError::Io(err(e)))?);
                }
                file.as_ref()
                    .expect("opened above")
                    .read_exact_at(buf, off)
                    .map_err(|e| SourceReadError::Io(err(e)))?;
            }
        }
        Ok(())
    }
}

/// One extended attribute, its full name (`security.selinux`, `user.foo`) and value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Xattr {
    /// Full name including the namespace prefix.
    pub name: Vec<u8>,
    /// Raw value.
    pub value: Vec<u8>,
}

/// What kind of entry a node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory; its children are kept by the tree.
    Dir,
    /// A regular file of `size` bytes.
    File {
        /// Length in bytes.
        size: u64,
        /// Where the bytes come from.
        data: DataSource,
    },
    /// A symbolic link with this target.
    Symlink(OsString),
    /// Another name for the node given (never a directory or another hardlink).
    Hardlink(NodeId),
    /// A character device.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
    /// A unix socket.
    Socket,
}

/// Ownership, permissions, time and xattrs of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits including setuid/setgid/sticky (`0o7777`); the type lives in [`Kind`].
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Extended attributes, sorted by name.
    pub xattrs: Vec<Xattr>,
}

impl Default for Meta {
    fn default() -> Self {
        Meta {
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: 0,
            xattrs: Vec::new(),
        }
    }
}

/// One entry of the tree.
#[derive(Debug, Clone)]
pub struct Node {
    /// The last path component (empty for the root).
    pub name: OsString,
    /// The parent directory (the root is its own parent).
    pub parent: NodeId,
    /// Ownership, mode, time, xattrs.
    pub meta: Meta,
    /// The entry type and its payload.
    pub kind: Kind,
    children: Vec<NodeId>,
}

/// Options for [`FsTree::from_dir`].
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Read extended attributes (`llistxattr`/`lgetxattr`).
    pub xattrs: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions { xattrs: true }
    }
}

/// A format-neutral file tree.
#[derive(Debug, Clone)]
pub struct FsTree {
    nodes: Vec<Node>,
}

impl FsTree {
    /// The root's id.
    pub const ROOT: NodeId = 0;

    /// A tree holding only a root directory with these attributes.
    pub fn new(root: Meta) -> Self {
        FsTree {
            nodes: vec![Node {
                name: OsString::new(),
                parent: 0,
                meta: root,
                kind: Kind::Dir,
                children: Vec::new(),
            }],
        }
    }

    /// Number of nodes, root included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a tree has at least its root.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// Mutable access to a node's attributes (the kind and links stay fixed).
    pub fn meta_mut(&mut self, id: NodeId) -> &mut Meta {
        &mut self.nodes[id].meta
    }

    /// Replace what a non-directory node is (a placeholder file becoming the device node an
    /// unprivileged build could not create). Directories and hardlinks keep their kind: their
    /// children or link owners depend on it.
    pub fn set_kind(&mut self, id: NodeId, kind: Kind) -> Result<(), TreeError> {
        let node = &self.nodes[id];
        if matches!(node.kind, Kind::Dir | Kind::Hardlink(_))
            || matches!(kind, Kind::Dir | Kind::Hardlink(_))
        {
            return Err(TreeError::Unsupported {
                path: self.path(id),
            });
        }
        self.nodes[id].kind = kind;
        Ok(())
    }

    /// Children of a directory, sorted by name bytes (empty for non-directories).
    pub fn children(&self, id: NodeId) -> &[NodeId] {
        &self.nodes[id].children
    }

    /// All node ids in depth-first pre-order, children in name order.
    pub fn walk(&self) -> Vec<NodeId> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack = vec![Self::ROOT];
        while let Some(id) = stack.pop() {
            out.push(id);
            stack.extend(self.nodes[id].children.iter().rev());
        }
        out
    }

    /// The path of a node relative to the root (empty for the root).
    pub fn path(&self, mut id: NodeId) -> PathBuf {
        let mut parts = Vec::new();
        while id != Self::ROOT {
            parts.push(self.nodes[id].name.as_os_str());
            id = self.nodes[id].parent;
        }
        parts.iter().rev().collect()
    }

    /// Find a node by its relative path (`""` or `"/"` is the root).
    pub fn lookup(&self, path: &Path) -> Option<NodeId> {
        let mut id = Self::ROOT;
        for c in path.components() {
            match c {
                Component::RootDir | Component::CurDir => {}
                Component::Normal(name) => id = self.child(id, name)?,
                _ => return None,
            }
        }
        Some(id)
    }

    fn child(&self, dir: NodeId, name: &OsStr) -> Option<NodeId> {
        let ch = &self.nodes[dir].children;
        ch.binary_search_by(|&c| self.nodes[c].name.as_bytes().cmp(name.as_bytes()))
            .ok()
            .map(|i| ch[i])
    }

    /// Add an entry at `path` (relative; its parent directory must exist).
    pub fn insert(&mut self, path: &Path, meta: Meta, kind: Kind) -> Result<NodeId, TreeError> {
        let bad = || TreeError::BadPath {
            path: path.to_owned(),
        };
        let name = path.file_name().ok_or_else(bad)?;
        if path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)))
        {
            return Err(bad());
        }
        let parent = path
            .parent()
            .and_then(|p| self.lookup(p))
            .filter(|&p| self.nodes[p].kind == Kind::Dir)
            .ok_or_else(|| TreeError::NoParent {
                path: path.to_owned(),
            })?;
        if let Kind::Hardlink(t) = kind {
            let ok = self
                .nodes
                .get(t)
                .is_some_and(|n| !matches!(n.kind, Kind::Dir | Kind::Hardlink(_)));
            if !ok {
                return Err(TreeError::BadHardlink {
                    path: path.to_owned(),
                });
            }
        }
        let ch = &self.nodes[parent].children;
        let pos = match ch.binary_search_by(|&c| self.nodes[c].name.as_bytes().cmp(name.as_bytes()))
        {
            Ok(_) => {
                return Err(TreeError::Exists {
                    path: path.to_owned(),
                })
            }
            Err(p) => p,
        };
        let id = self.nodes.len();
        self.nodes.push(Node {
            name: name.to_owned(),
            parent,
            meta,
            kind,
            children: Vec::new(),
        });
        self.nodes[parent].children.insert(pos, id);
        Ok(id)
    }

    /// Build a tree from a directory on disk with `lstat` (symlinks are not followed) and,
    /// if asked, its xattrs. Files with several links become one node plus hardlinks, the
    /// first in name order owning the data. Mount points are not special-cased.
    pub fn from_dir(dir: &Path, opts: &ScanOptions) -> Result<FsTree, TreeError> {
        let md = std::fs::symlink_metadata(dir).map_err(IoError::at("stat", dir))?;
        let mut tree = FsTree::new(meta_of(dir, &md, opts)?);
        // (dev, ino) of multiply-linked non-directories seen so far.
        let mut links: std::collections::HashMap<(u64, u64), NodeId> = Default::default();
        let mut stack = vec![(Self::ROOT, dir.to_owned())];
        while let Some((parent, src)) = stack.pop() {
            let mut names = Vec::new();
            let list_err = IoError::at("list directory", &src);
            for e in std::fs::read_dir(&src).map_err(&list_err)? {
                names.push(e.map_err(&list_err)?.file_name());
            }
            names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            let mut subdirs = Vec::new();
            for name in names {
                let p = src.join(&name);
                let md = std::fs::symlink_metadata(&p).map_err(IoError::at("stat", &p))?;
                let meta = meta_of(&p, &md, opts)?;
                let ft = md.file_type();
                let key = (md.dev(), md.ino());
                let kind = if ft.is_dir() {
                    Kind::Dir
                } else if let Some(&first) = links.get(&key) {
                    Kind::Hardlink(first)
                } else if ft.is_file() {
                    Kind::File {
                        size: md.len(),
                        data: DataSource::Path(p.clone()),
                    }
                } else if ft.is_symlink() {
                    Kind::Symlink(
                        std::fs::read_link(&p)
                            .map_err(IoError::at("read link", &p))?
                            .into_os_string(),
                    )
                } else if ft.is_char_device() || ft.is_block_device() {
                    let (major, minor) = split_dev(md.rdev());
                    if ft.is_char_device() {
                        Kind::CharDevice { major, minor }
                    } else {
                        Kind::BlockDevice { major, minor }
                    }
                } else if ft.is_fifo() {
                    Kind::Fifo
                } else if ft.is_socket() {
                    Kind::Socket
                } else {
                    return Err(TreeError::Unsupported { path: p });
                };
                // Push in sorted order: the parent is known, so no path lookup is needed.
                let id = tree.nodes.len();
                tree.nodes.push(Node {
                    name: name.clone(),
                    parent,
                    meta,
                    kind,
                    children: Vec::new(),
                });
                tree.nodes[parent].children.push(id);
                if ft.is_dir() {
                    subdirs.push((id, p));
                } else if md.nlink() > 1 && !links.contains_key(&key) {
                    links.insert(key, id);
                }
            }
            // Reverse so the stack visits subdirectories in name order (stable link owners).
            stack.extend(subdirs.into_iter().rev());
        }
        Ok(tree)
    }
}

/// Split a Linux `dev_t` (glibc encoding) into major and minor.
pub fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

fn meta_of(path: &Path, md: &std::fs::Metadata, opts: &ScanOptions) -> Result<Meta, TreeError> {
    let mut xattrs = Vec::new();
    if opts.xattrs {
        let err = IoError::at("read xattrs of", path);
        let names = match xattr::list(path) {
            Ok(n) => n,
            // Filesystems without xattr support (some tmpfs setups) simply have none.
            Err(e) if e.raw_os_error() == Some(95) => return Ok(plain_meta(md, xattrs)),
            Err(e) => return Err(err(e).into()),
        };
        for name in names {
            if let Some(value) = xattr::get(path, &name).map_err(&err)? {
                xattrs.push(Xattr {
                    name: name.as_bytes().to_vec(),
                    value,
                });
            }
        }
        xattrs.sort();
    }
    Ok(plain_meta(md, xattrs))
}

fn plain_meta(md: &std::fs::Metadata, xattrs: Vec<Xattr>) -> Meta {
    Meta {
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        mtime: md.mtime(),
        xattrs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_lookup_and_sorted_walk() {
        let mut t = FsTree::new(Meta::default());
        let d = t
            .insert(Path::new("b"), Meta::default(), Kind::Dir)
            .unwrap();
        let f = t
            .insert(
                Path::new("b/z"),
                Meta::default(),
                Kind::File {
                    size: 1,
                    data: DataSource::Bytes(Arc::from(&b"x"[..])),
                },
            )
            .unwrap();
        t.insert(Path::new("a"), Meta::default(), Kind::Fifo)
            .unwrap();
        t.insert(Path::new("b/h"), Meta::default(), Kind::Hardlink(f))
            .unwrap();
        assert_eq!(t.lookup(Path::new("/b/z")), Some(f));
        assert_eq!(t.path(f), PathBuf::from("b/z"));
        let names: Vec<_> = t.walk().iter().map(|&i| t.path(i)).collect();
        assert_eq!(
            names,
            ["", "a", "b", "b/h", "b/z"].map(PathBuf::from).to_vec()
        );
        assert!(matches!(
            t.insert(Path::new("b/z"), Meta::default(), Kind::Fifo),
            Err(TreeError::Exists { .. })
        ));
        assert!(matches!(
            t.insert(Path::new("x/y"), Meta::default(), Kind::Fifo),
            Err(TreeError::NoParent { .. })
        ));
        assert!(matches!(
            t.insert(Path::new("b/l"), Meta::default(), Kind::Hardlink(d)),
            Err(TreeError::BadHardlink { .. })
        ));
    }

    #[test]
    fn dev_split_matches_glibc() {
        // makedev(259, 300) with glibc's encoding.
        let (ma, mi) = (259u64, 300u64);
        let dev = ((ma & 0xfff) << 8) | ((ma & !0xfff) << 32) | (mi & 0xff) | ((mi & !0xff) << 12);
        assert_eq!(split_dev(dev), (259, 300));
    }
}
