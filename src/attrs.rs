//! What a rootless build could not put on disk, kept beside the root for the writers.
//!
//! In an unprivileged user namespace the kernel refuses device nodes, `security.*` and
//! `trusted.*` xattrs other than file capabilities, and owners outside the id map. Those
//! attributes go into the root's sidecar, `ROOT.kiln-attrs` (a JSON file next to the root
//! directory, never inside it, so no image picks it up). A device node is on disk as an empty
//! regular file of mode 0 (its placeholder) and in the sidecar as its type and numbers. The
//! image writers scan the root as usual and lay the sidecar over the scan
//! ([`AttrStore::apply`]), so the image is what a root build would have written.
//!
//! A root build never writes a sidecar: every call here is reached only after the kernel said
//! no, which it does not to root.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_writers::tree::{FsTree, Kind, Xattr};
use serde::{Deserialize, Serialize};

use crate::error::IoError;

/// A device node the root could not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Device {
    /// A character device.
    Char {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    Block {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
}

/// The attributes of one path that differ from what is on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathAttrs {
    /// Owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    /// Permission bits (`0o7777`), for a device whose placeholder has mode 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// The device node in place of the placeholder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Device>,
    /// Extended attributes by full name, their values in hex.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        with = "hex_values"
    )]
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// The sidecar of one root: root-absolute paths (`/dev/console`) to their attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttrStore {
    /// Format version.
    version: u32,
    /// By root-absolute path.
    paths: BTreeMap<PathBuf, PathAttrs>,
}

/// Why the sidecar could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum AttrsError {
    /// Reading or writing the file failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The file is not a sidecar kiln wrote.
    #[error("`{}` is not a kiln attribute file: {source}", path.display())]
    Parse {
        /// The sidecar.
        path: PathBuf,
        /// What serde said.
        source: serde_json::Error,
    },
    /// A path of the sidecar is not in the scanned tree in a form it can apply to.
    #[error("`{}` (in {}): {reason}", path.display(), sidecar.display())]
    Mismatch {
        /// The root-absolute path.
        path: PathBuf,
        /// The sidecar.
        sidecar: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
}

const VERSION: u32 = 1;

impl AttrStore {
    /// The sidecar file of `root`: `ROOT.kiln-attrs` beside it.
    pub fn sidecar(root: &Path) -> PathBuf {
        // `.`, `..` or `x/..` name no directory: beside the one they resolve to, never inside
        // it (`kiln write squashfs . out` must not read or pack a sidecar in the root).
        let resolved;
        let root = match root.file_name() {
            Some(_) => root,
            None => match std::fs::canonicalize(root) {
                Ok(p) => {
                    resolved = p;
                    &resolved
                }
                Err(_) => root,
            },
        };
        let mut name = root
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "root".into());
        name.push(".kiln-attrs");
        root.with_file_name(name)
    }

    /// The sidecar of `root`, or an empty store when it has none.
    pub fn load(root: &Path) -> Result<AttrStore, AttrsError> {
        let path = Self::sidecar(root);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| AttrsError::Parse {
                path: path.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AttrStore::default()),
            Err(e) => Err(IoError::at("read", &path)(e).into()),
        }
    }

    /// Write the store as `root`'s sidecar (through a temporary file and a rename); an empty
    /// store removes the sidecar.
    pub fn save(&self, root: &Path) -> Result<(), AttrsError> {
        let path = Self::sidecar(root);
        if self.paths.is_empty() {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(IoError::at("remove", &path)(e).into())
                }
                _ => Ok(()),
            };
        }
        let store = AttrStore {
            version: VERSION,
            paths: self.paths.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&store).expect("plain data serializes");
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".partial");
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, bytes).map_err(IoError::at("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(IoError::at("rename", &tmp))?;
        Ok(())
    }

    /// The store without its xattrs (for a writer told to leave xattrs out).
    pub fn without_xattrs(&self) -> AttrStore {
        let mut store = self.clone();
        for attrs in store.paths.values_mut() {
            attrs.xattrs.clear();
        }
        store
    }

    /// Nothing recorded.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// How many paths have attributes.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// The attributes of a root-absolute path.
    pub fn get(&self, path: &Path) -> Option<&PathAttrs> {
        self.paths.get(path)
    }

    /// Every path and its attributes, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&Path, &PathAttrs)> {
        self.paths.iter().map(|(p, a)| (p.as_path(), a))
    }

    fn entry(&mut self, path: &Path) -> &mut PathAttrs {
        self.paths.entry(path.to_owned()).or_default()
    }

    /// The owner of `path` (root-absolute).
    pub fn set_owner(&mut self, path: &Path, uid: u32, gid: u32) {
        let e = self.entry(path);
        e.uid = Some(uid);
        e.gid = Some(gid);
    }

    /// `path` is a device node with these permission bits; on disk it is a placeholder.
    pub fn set_device(&mut self, path: &Path, device: Device, mode: u32) {
        let e = self.entry(path);
        e.device = Some(device);
        e.mode = Some(mode & 0o7777);
    }

    /// An extended attribute of `path`.
    pub fn set_xattr(&mut self, path: &Path, name: &str, value: &[u8]) {
        self.entry(path)
            .xattrs
            .insert(name.to_owned(), value.to_vec());
    }

    /// `path` was replaced or removed: what was recorded for it no longer holds.
    pub fn forget(&mut self, path: &Path) {
        self.paths.remove(path);
    }

    /// Merge `other` in (its values win).
    pub fn merge(&mut self, other: AttrStore) {
        for (path, attrs) in other.paths {
            let e = self.entry(&path);
            if attrs.uid.is_some() {
                e.uid = attrs.uid;
            }
            if attrs.gid.is_some() {
                e.gid = attrs.gid;
            }
            if attrs.mode.is_some() {
                e.mode = attrs.mode;
            }
            if attrs.device.is_some() {
                e.device = attrs.device;
            }
            e.xattrs.extend(attrs.xattrs);
        }
    }

    /// Lay the store over a tree scanned from `root` (whose sidecar it is): owners, modes and
    /// xattrs replace the scanned ones, placeholders become their device nodes. Paths missing
    /// from the tree were removed after they were recorded and are skipped; a device whose
    /// placeholder is no longer an empty file is an error.
    pub fn apply(&self, tree: &mut FsTree, root: &Path) -> Result<(), AttrsError> {
        for (path, attrs) in &self.paths {
            let rel = path.strip_prefix("/").unwrap_or(path);
            let id = if rel.as_os_str().is_empty() {
                Some(FsTree::ROOT)
            } else {
                tree.lookup(rel)
            };
            let Some(id) = id else { continue };
            // Every name of a hard-linked file is one inode: the writers take the first
            // name's node, so that is where any name's attributes go.
            let id = match tree.node(id).kind {
                Kind::Hardlink(first) => first,
                _ => id,
            };
            if let Some(dev) = attrs.device {
                let is_placeholder = matches!(tree.node(id).kind, Kind::File { size: 0, .. });
                if !is_placeholder {
                    return Err(AttrsError::Mismatch {
                        path: path.clone(),
                        sidecar: Self::sidecar(root),
                        reason: "recorded as a device node, but its placeholder was replaced",
                    });
                }
                let kind = match dev {
                    Device::Char { major, minor } => Kind::CharDevice { major, minor },
                    Device::Block { major, minor } => Kind::BlockDevice { major, minor },
                };
                tree.set_kind(id, kind).map_err(|_| AttrsError::Mismatch {
                    path: path.clone(),
                    sidecar: Self::sidecar(root),
                    reason: "recorded as a device node, but it is a directory or hardlink",
                })?;
            }
            let meta = tree.meta_mut(id);
            if let Some(uid) = attrs.uid {
                meta.uid = uid;
            }
            if let Some(gid) = attrs.gid {
                meta.gid = gid;
            }
            if let Some(mode) = attrs.mode {
                meta.mode = mode & 0o7777;
            }
            for (name, value) in &attrs.xattrs {
                let name = name.as_bytes();
                match meta
                    .xattrs
                    .binary_search_by(|x| x.name.as_slice().cmp(name))
                {
                    Ok(i) => meta.xattrs[i].value = value.clone(),
                    Err(i) => meta.xattrs.insert(
                        i,
                        Xattr {
                            name: name.to_vec(),
                            value: value.clone(),
                        },
                    ),
                }
            }
        }
        Ok(())
    }
}

/// What the kernel refused during an install, by inode (`st_dev`, `st_ino`): the installer
/// writes through descriptors and temporary names, so the inode is what it knows; and a file
/// replaced later takes its record with it. [`flush_refused`] turns them into paths.
static REFUSED: std::sync::Mutex<BTreeMap<(u64, u64), PathAttrs>> =
    std::sync::Mutex::new(BTreeMap::new());

fn refused(dev: u64, ino: u64, f: impl FnOnce(&mut PathAttrs)) {
    let mut map = REFUSED.lock().unwrap_or_else(|e| e.into_inner());
    f(map.entry((dev, ino)).or_default());
}

/// The inode's owner could not be set (an id outside the namespace's map).
pub fn refuse_owner(dev: u64, ino: u64, uid: u32, gid: u32) {
    refused(dev, ino, |a| {
        a.uid = Some(uid);
        a.gid = Some(gid);
    });
}

/// The inode is a device node's placeholder.
pub fn refuse_device(dev: u64, ino: u64, device: Device, mode: u32) {
    refused(dev, ino, |a| {
        a.device = Some(device);
        a.mode = Some(mode & 0o7777);
    });
}

/// An xattr of the inode could not be set.
pub fn refuse_xattr(dev: u64, ino: u64, name: &str, value: &[u8]) {
    refused(dev, ino, |a| {
        a.xattrs.insert(name.to_owned(), value.to_vec());
    });
}

/// `lchown`; in a user namespace, an owner outside its id map (a single-id map) is kept for
/// the sidecar ([`flush_refused`]) instead of failing. As root, exactly `lchown`.
pub fn lchown(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    match std::os::unix::fs::lchown(path, Some(uid), Some(gid)) {
        Err(e)
            if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error())
                && crate::userns::in_user_namespace() =>
        {
            let md = std::fs::symlink_metadata(path)?;
            refuse_owner(md.dev(), md.ino(), uid, gid);
            Ok(())
        }
        r => r,
    }
}

/// Write what was refused for inodes beneath `root` into its sidecar (merged with what is
/// there) and forget them. Returns how many paths were added; free when nothing was refused.
pub fn flush_refused(root: &Path) -> Result<usize, AttrsError> {
    use std::os::unix::fs::MetadataExt;
    // Nodes scriptlets made through the sandbox's mknod(1) stand-in, whose placeholders are
    // still in the root (a tmpfs /dev of the sandbox took the others with it).
    for rec in take_mknod_log(root) {
        let Ok(rel) = rec.path.strip_prefix("/") else {
            continue;
        };
        if let Ok(md) = std::fs::symlink_metadata(root.join(rel)) {
            if md.is_file() && md.len() == 0 {
                refuse_device(md.dev(), md.ino(), rec.device, rec.mode);
            }
        }
    }
    let mut map = REFUSED.lock().unwrap_or_else(|e| e.into_inner());
    if map.is_empty() {
        return Ok(0);
    }
    let mut found = AttrStore::default();
    let mut stack = vec![(root.to_path_buf(), PathBuf::from("/"))];
    while let Some((dir, at)) = stack.pop() {
        let list_err = |e| IoError::at("list directory", &dir)(e);
        for e in std::fs::read_dir(&dir).map_err(list_err)? {
            let e = e.map_err(list_err)?;
            let md = e.metadata().map_err(IoError::at("stat", &e.path()))?;
            let path = at.join(e.file_name());
            if let Some(attrs) = map.get(&(md.dev(), md.ino())) {
                found.paths.insert(path.clone(), attrs.clone());
            }
            if md.is_dir() {
                stack.push((e.path(), path));
            }
        }
    }
    let root_md = std::fs::symlink_metadata(root).map_err(IoError::at("stat", root))?;
    if let Some(attrs) = map.get(&(root_md.dev(), root_md.ino())) {
        found.paths.insert(PathBuf::from("/"), attrs.clone());
    }
    // Records of this root's file system are done with (found, or their inode is gone).
    map.retain(|(dev, _), _| *dev != root_md.dev());
    drop(map);
    let added = found.len();
    if added > 0 {
        let mut store = AttrStore::load(root)?;
        store.merge(found);
        store.save(root)?;
    }
    Ok(added)
}

/// Where, in the root, the mknod stand-in of a user namespace's sandbox logs the nodes it
/// was asked for (see [`MKNOD_STAND_IN`]).
pub const MKNOD_LOG: &str = "var/tmp/.kiln-mknod.log";

/// In a user namespace the sandbox binds this script (run by the root's own shell, `@SH@`)
/// over the root's mknod(1) for the run ([`MKNOD_STAND_IN_PATH`]): the kernel refuses device
/// nodes there. It makes an empty file with the node's permission bits in its place and logs
/// `TYPE MAJOR MINOR MODE PATH` to [`MKNOD_LOG`]; FIFOs are made for real with mkfifo (a user
/// namespace may make them). kiln turns the log into the sidecar ([`flush_refused`]) or, for
/// dracut's staging tree, into the initramfs' device entries (where it also puts back the
/// real mknod that dracut copied in: the stand-in is what it found at /usr/bin/mknod).
pub const MKNOD_STAND_IN: &str = r#"#!@SH@
# kiln's stand-in for mknod(1) in a rootless build (the kernel refuses device nodes there)
mode=
while [ $# -gt 0 ]; do
    case $1 in
        -m) mode=$2; shift 2 ;;
        -m*) mode=${1#-m}; shift ;;
        --mode=*) mode=${1#--mode=}; shift ;;
        -Z|--context) shift ;;
        --context=*) shift ;;
        --) shift; break ;;
        -*) echo "mknod: unsupported option $1 (kiln's rootless stand-in)" >&2; exit 1 ;;
        *) break ;;
    esac
done
name=$1 type=$2 major=${3:-0} minor=${4:-0}
case $type in
    p) exec mkfifo ${mode:+-m "$mode"} -- "$name" ;;
    b|c|u) ;;
    *) echo "mknod: invalid device type '$type'" >&2; exit 1 ;;
esac
[ "$type" = u ] && type=c
if [ -e "$name" ] || [ -L "$name" ]; then echo "mknod: $name: File exists" >&2; exit 1; fi
[ -n "$mode" ] || mode=$(printf '%o' $((0666 & ~0$(umask))))
: > "$name" || exit 1
chmod "$mode" "$name" || exit 1
case $name in /*) path=$name ;; *) path=$(pwd)/$name ;; esac
printf '%s %s %s %s %s\n' "$type" "$major" "$minor" "$(stat -c %a "$name")" "$path" >> /@LOG@
"#;

/// Where the sandbox of a user namespace writes [`MKNOD_STAND_IN`] in the root (its private
/// `/run`, gone with the run) before binding it over mknod(1).
pub const MKNOD_STAND_IN_PATH: &str = "/run/.kiln-mknod";

/// [`MKNOD_STAND_IN`] as the sandbox writes it for a root whose shell is `sh`.
pub fn mknod_stand_in(sh: &str) -> String {
    MKNOD_STAND_IN
        .replace("@SH@", sh)
        .replace("@LOG@", MKNOD_LOG)
}

/// One node the mknod stand-in made a placeholder for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MknodRecord {
    /// The device.
    pub device: Device,
    /// Permission bits.
    pub mode: u32,
    /// Where, as the root's processes named it (absolute).
    pub path: PathBuf,
}

/// Read and remove the root's mknod log ([`MKNOD_LOG`]); malformed lines are skipped.
pub fn take_mknod_log(root: &Path) -> Vec<MknodRecord> {
    let log = root.join(MKNOD_LOG);
    let Ok(text) = std::fs::read_to_string(&log) else {
        return Vec::new();
    };
    let _ = std::fs::remove_file(&log);
    text.lines()
        .filter_map(|line| {
            let mut f = line.splitn(5, ' ');
            let (kind, major, minor, mode) = (f.next()?, f.next()?, f.next()?, f.next()?);
            let path = PathBuf::from(f.next()?);
            let (major, minor) = (major.parse().ok()?, minor.parse().ok()?);
            let device = match kind {
                "b" => Device::Block { major, minor },
                "c" => Device::Char { major, minor },
                _ => return None,
            };
            let mode = u32::from_str_radix(mode, 8).ok()?;
            path.is_absolute()
                .then_some(MknodRecord { device, mode, path })
        })
        .collect()
}

/// Xattr values as hex strings in the JSON (they are binary: capabilities, NUL-ended labels).
mod hex_values {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<String, Vec<u8>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(map.iter().map(|(k, v)| {
            let hex: String = v.iter().map(|b| format!("{b:02x}")).collect();
            (k, hex)
        }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Vec<u8>>, D::Error> {
        let raw = BTreeMap::<String, String>::deserialize(d)?;
        raw.into_iter()
            .map(|(k, hex)| {
                if hex.len() % 2 != 0 {
                    return Err(serde::de::Error::custom(format!("odd-length hex for {k}")));
                }
                let bytes = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
                    .collect::<Result<Vec<u8>, _>>()
                    .map_err(|e| serde::de::Error::custom(format!("{k}: {e}")))?;
                Ok((k, bytes))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_writers::tree::ScanOptions;

    #[test]
    fn sidecar_round_trips_and_lays_over_a_scan() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("dev")).unwrap();
        std::fs::write(root.join("dev/console"), b"").unwrap();
        std::fs::write(root.join("ping"), b"\x7fELF").unwrap();
        let mut store = AttrStore::default();
        store.set_device(
            Path::new("/dev/console"),
            Device::Char { major: 5, minor: 1 },
            0o600,
        );
        store.set_owner(Path::new("/ping"), 0, 4242);
        store.set_xattr(
            Path::new("/ping"),
            "security.selinux",
            b"system_u:object_r:ping_exec_t:s0\0",
        );
        store.set_xattr(Path::new("/gone"), "security.selinux", b"x\0");
        store.save(&root).unwrap();
        assert_eq!(
            AttrStore::sidecar(&root),
            dir.path().join("root.kiln-attrs")
        );
        assert_eq!(
            AttrStore::sidecar(&root.join("dev/..")),
            std::fs::canonicalize(dir.path())
                .unwrap()
                .join("root.kiln-attrs")
        );
        let loaded = AttrStore::load(&root).unwrap();
        assert_eq!(loaded, store_with_version(store));

        let mut tree = FsTree::from_dir(&root, &ScanOptions { xattrs: false }).unwrap();
        loaded.apply(&mut tree, &root).unwrap();
        let console = tree.lookup(Path::new("dev/console")).unwrap();
        assert_eq!(
            tree.node(console).kind,
            Kind::CharDevice { major: 5, minor: 1 }
        );
        assert_eq!(tree.node(console).meta.mode, 0o600);
        let ping = tree.node(tree.lookup(Path::new("ping")).unwrap());
        assert_eq!((ping.meta.gid, ping.meta.xattrs.len()), (4242, 1));
        assert_eq!(ping.meta.xattrs[0].name, b"security.selinux");
    }

    #[test]
    fn any_name_of_a_hard_link_sets_the_files_attributes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("a"), b"x").unwrap();
        std::fs::hard_link(root.join("a"), root.join("b")).unwrap();
        let mut store = AttrStore::default();
        store.set_owner(Path::new("/b"), 7, 8);
        let mut tree = FsTree::from_dir(&root, &ScanOptions::default()).unwrap();
        store.apply(&mut tree, &root).unwrap();
        let a = tree.node(tree.lookup(Path::new("a")).unwrap());
        assert!(matches!(a.kind, Kind::File { .. }));
        assert_eq!((a.meta.uid, a.meta.gid), (7, 8));
    }

    fn store_with_version(mut s: AttrStore) -> AttrStore {
        s.version = VERSION;
        s
    }

    #[test]
    fn a_replaced_placeholder_is_an_error_and_an_empty_store_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("r");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("null"), b"not empty").unwrap();
        let mut store = AttrStore::default();
        store.set_device(
            Path::new("/null"),
            Device::Char { major: 1, minor: 3 },
            0o666,
        );
        let mut tree = FsTree::from_dir(&root, &ScanOptions::default()).unwrap();
        let err = store.apply(&mut tree, &root).unwrap_err().to_string();
        assert!(
            err.contains("/null") && err.contains("placeholder"),
            "{err}"
        );
        store.save(&root).unwrap();
        store.forget(Path::new("/null"));
        store.save(&root).unwrap();
        assert!(!AttrStore::sidecar(&root).exists());
    }
}
