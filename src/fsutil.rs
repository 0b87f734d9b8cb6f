//! File operations beneath the root as a chroot would see them: symlinks met on the way are
//! resolved inside the root (an absolute link target means the root's `/`), files are replaced
//! atomically (temp file + rename) keeping the old file's mode and owner.

use std::collections::VecDeque;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Host path of `path` (absolute within the root), resolving symlinks inside the root. The last
/// component is followed only when `follow_last` (writers replace the link itself).
pub fn in_root(root: &Path, path: &str, follow_last: bool) -> PathBuf {
    let mut done: Vec<std::ffi::OsString> = Vec::new();
    let mut todo: VecDeque<std::ffi::OsString> = components(Path::new(path));
    let mut hops = 0;
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            done.pop();
            continue;
        }
        done.push(c);
        if todo.is_empty() && !follow_last {
            break;
        }
        let host = join(root, &done);
        let Ok(meta) = std::fs::symlink_metadata(&host) else {
            continue;
        };
        if !meta.file_type().is_symlink() || hops >= 40 {
            continue;
        }
        hops += 1;
        let Ok(target) = std::fs::read_link(&host) else {
            continue;
        };
        done.pop();
        if target.is_absolute() {
            done.clear();
        }
        let mut next = components(&target);
        next.extend(todo.drain(..));
        todo = next;
    }
    join(root, &done)
}

fn components(p: &Path) -> VecDeque<std::ffi::OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

fn join(root: &Path, parts: &[std::ffi::OsString]) -> PathBuf {
    let mut p = root.to_path_buf();
    for c in parts {
        p.push(c);
    }
    p
}

/// The file's text, `None` when it does not exist. A symlink at `path` is not followed (an
/// error): pass a path resolved with [`in_root`] (`follow_last`), never one that a link in the
/// root could send to a host file.
pub fn read_opt(path: &Path) -> std::io::Result<Option<String>> {
    use std::io::Read;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path);
    match f {
        Ok(mut f) => {
            let mut b = Vec::new();
            f.read_to_end(&mut b)?;
            Ok(Some(String::from_utf8_lossy(&b).into_owned()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Mode and owner of a new file.
#[derive(Debug, Clone, Copy)]
pub struct NewFile {
    /// Permission bits used when the file did not exist.
    pub mode: u32,
    /// Owner used when the file did not exist.
    pub uid: u32,
    /// Group used when the file did not exist.
    pub gid: u32,
}

impl NewFile {
    /// A root-owned file with `mode`.
    pub fn root(mode: u32) -> NewFile {
        NewFile {
            mode,
            uid: 0,
            gid: 0,
        }
    }
}

/// Where `prog` is on PATH (the usual system directories when PATH is unset).
pub fn which(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

/// Replace `path` atomically with `data`. An existing regular file keeps its mode and owner;
/// otherwise `new` applies. Parent directories are created (0755, root).
pub fn write_atomic(path: &Path, data: &[u8], new: NewFile) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir)?;
    let (mode, uid, gid) = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => (m.mode() & 0o7777, m.uid(), m.gid()),
        _ => (new.mode, new.uid, new.gid),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.kiln-{}", std::process::id()));
    // A stale temp file (or a link planted at its name) goes; the new one is created
    // exclusively, which never follows a symlink.
    let _ = std::fs::remove_file(&tmp);
    let res = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
        // After chown: chown clears set-id bits.
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Append `data` to `path` (created with `new` when missing). A symlink at `path` is refused,
/// not followed: pass a path resolved with [`in_root`] (`follow_last`).
pub fn append(path: &Path, data: &[u8], new: NewFile) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let existed = path.symlink_metadata().is_ok();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(new.mode)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    if !existed {
        std::os::unix::fs::fchown(&f, Some(new.uid), Some(new.gid))?;
        f.set_permissions(std::fs::Permissions::from_mode(new.mode))?;
    }
    f.write_all(data)
}

/// Replace `link` with a symlink to `target` (atomically: a temp link renamed over it).
pub fn symlink_atomic(target: &str, link: &Path) -> std::io::Result<()> {
    let dir = link.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir)?;
    let name = link
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.kiln-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    if let Err(e) = std::fs::rename(&tmp, link) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_links_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("usr/lib/systemd")).unwrap();
        std::os::unix::fs::symlink("usr/lib", r.join("lib")).unwrap();
        std::os::unix::fs::symlink("/etc-real", r.join("etc")).unwrap();
        std::os::unix::fs::symlink("../../../../x", r.join("usr/lib/up")).unwrap();
        assert_eq!(
            in_root(r, "/lib/systemd/a", false),
            r.join("usr/lib/systemd/a")
        );
        assert_eq!(
            in_root(r, "/etc/hostname", false),
            r.join("etc-real/hostname")
        );
        assert_eq!(in_root(r, "/etc", false), r.join("etc"));
        assert_eq!(in_root(r, "/etc", true), r.join("etc-real"));
        // `..` cannot climb above the root.
        assert_eq!(in_root(r, "/usr/lib/up/y", false), r.join("x/y"));
    }

    #[test]
    fn atomic_write_keeps_mode() {
        if !crate::test_support::root_or_skip("the file is written owned by root") {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("a/shadow");
        write_atomic(&p, b"x", NewFile::root(0o640)).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o640);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400)).unwrap();
        write_atomic(&p, b"y", NewFile::root(0o644)).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o400);
        assert_eq!(std::fs::read(&p).unwrap(), b"y");
    }
}
