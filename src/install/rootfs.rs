//! Path-safe filesystem operations beneath an install root.
//!
//! Every path is resolved from the root's directory fd with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: `..` and symlinks (absolute or relative)
//! planted by an earlier package are clamped to the root, as if chrooted. Only the parent
//! directory is resolved that way; the final component is handled by `*at` calls that do not
//! follow it, so a symlink at the target path is replaced, never written through.
//!
//! Knows nothing of RPM; paths are absolute within the root (`/usr/bin/x`).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{
    AtFlags, Dev, FileType, Gid, Mode, OFlags, ResolveFlags, Timespec, Timestamps, Uid, XattrFlags,
};

/// Owner, permissions and mtime to give a new filesystem object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits (`07777`); type bits are ignored.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time (seconds).
    pub mtime: u32,
    /// `security.capability` value, if any (see [`encode_caps`]).
    pub caps: Option<Vec<u8>>,
}

/// A device or FIFO kind for [`Root::mknod`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// Character device.
    Char,
    /// Block device.
    Block,
    /// FIFO.
    Fifo,
}

/// Data of another length than the header declares (inside an `io::Error` of
/// [`Root::write_file_in`]).
#[derive(Debug, thiserror::Error)]
#[error("{got} bytes of data, the header declares {want}")]
pub struct SizeMismatch {
    /// Bytes the data had.
    pub got: u64,
    /// Bytes expected.
    pub want: u64,
}

/// An install root: an open directory fd plus its path (for messages).
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn resolve() -> ResolveFlags {
    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS
}

/// Splits `/a/b/c` into (`a/b`, `c`); `None` for the root itself or a path whose last
/// component is `.` or `..`.
fn split(path: &str) -> Option<(&str, &str)> {
    let p = path.trim_end_matches('/');
    let p = p.trim_start_matches('/');
    if p.is_empty() {
        return None;
    }
    let (dir, name) = match p.rfind('/') {
        Some(i) => (&p[..i], &p[i + 1..]),
        None => ("", p),
    };
    if name == "." || name == ".." || name.is_empty() {
        return None;
    }
    Some((dir, name))
}

fn rel(path: &str) -> &str {
    let p = path.trim_start_matches('/');
    if p.is_empty() {
        "."
    } else {
        p
    }
}

fn invalid(path: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("`{path}` has no final name"),
    )
}

impl Root {
    /// Opens `path` (which must be a directory) as a root.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Root> {
        let path = path.as_ref();
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// A second handle on the same root.
    pub fn try_clone(&self) -> io::Result<Root> {
        Ok(Root {
            fd: self.fd.try_clone()?,
            path: self.path.clone(),
        })
    }

    /// The root's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens a directory beneath the root (symlinks followed, clamped to the root).
    pub fn open_dir(&self, path: &str) -> io::Result<OwnedFd> {
        Ok(rustix::fs::openat2(
            &self.fd,
            rel(path),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            resolve(),
        )?)
    }

    fn parent(&self, path: &str) -> io::Result<(OwnedFd, String)> {
        let (dir, name) = split(path).ok_or_else(|| invalid(path))?;
        Ok((self.open_dir(dir)?, name.to_owned()))
    }

    /// `lstat` of a path (the last component not followed).
    pub fn lstat(&self, path: &str) -> io::Result<rustix::fs::Stat> {
        match split(path) {
            None => Ok(rustix::fs::fstat(&self.fd)?),
            Some(_) => {
                let (dir, name) = self.parent(path)?;
                Ok(rustix::fs::statat(
                    &dir,
                    name.as_str(),
                    AtFlags::SYMLINK_NOFOLLOW,
                )?)
            }
        }
    }

    /// Creates `path` and any missing parents (mode 0755, owned by the caller). Existing
    /// symlinks to directories inside the root are followed, so a package directory `/bin`
    /// meets `/bin -> usr/bin` and keeps the link. Returns whether the last component was
    /// created here.
    pub fn mkdir_p(&self, path: &str, mode: u32) -> io::Result<bool> {
        match self.open_dir(path) {
            Ok(_) => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let Some((dir, name)) = split(path) else {
            return Ok(false);
        };
        let parent = match self.open_dir(dir) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.mkdir_p(dir, 0o755)?;
                self.open_dir(dir)?
            }
            Err(e) => return Err(e),
        };
        match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(mode & 0o7777)) {
            Ok(()) => Ok(true),
            // Another thread (or a dangling symlink) got there first: the caller's later
            // open says which.
            Err(rustix::io::Errno::EXIST) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Makes sure a directory exists at `path` with `meta`. An existing directory gets the
    /// new metadata; an existing symlink that resolves to a directory is kept untouched.
    /// The root itself (`/`, owned by packages like Fedora's `filesystem`) gets the metadata,
    /// as rpm gives it to any directory that already exists.
    pub fn ensure_dir(&self, path: &str, meta: &Meta) -> io::Result<()> {
        match split(path) {
            Some((dir, _)) => {
                self.mkdir_p(dir, 0o755)?;
            }
            None => {
                let fd = rustix::fs::openat(
                    &self.fd,
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                return apply_fd(&fd, meta);
            }
        }
        let st = self.lstat(path);
        match st {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                // rpm keeps a symlink where a package has a directory (merged /usr) when it
                // points at a directory; anything else is replaced.
                if self.open_dir(path).is_ok() {
                    return Ok(());
                }
                self.remove(path)?;
            }
            Ok(st) if FileType::from_raw_mode(st.st_mode) != FileType::Directory => {
                self.remove(path)?;
            }
            _ => {}
        }
        self.mkdir_p(path, meta.mode)?;
        let (parent, name) = self.parent(path)?;
        let fd = rustix::fs::openat(
            &parent,
            name.as_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        apply_fd(&fd, meta)
    }

    /// [`Root::ensure_dir`] for the entry `name` of `parent` (from [`Root::dir`]) at `path`:
    /// a directory that is already there or can be made in place costs one open; anything
    /// else (a symlink, a file in the way) takes the general path. Returns the directory,
    /// opened, for the entries that go in it.
    pub fn ensure_dir_in(
        &self,
        parent: &OwnedFd,
        path: &str,
        name: &str,
        meta: &Meta,
    ) -> io::Result<OwnedFd> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let open = || rustix::fs::openat(parent, name, flags, Mode::empty());
        let fd = match open() {
            Ok(fd) => Some(fd),
            Err(rustix::io::Errno::NOENT) => {
                match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(meta.mode & 0o777)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => open().ok(),
                    Err(e) => return Err(e.into()),
                }
            }
            Err(_) => None,
        };
        match fd {
            Some(fd) => {
                apply_fd(&fd, meta)?;
                Ok(fd)
            }
            None => {
                self.ensure_dir(path, meta)?;
                self.open_dir(path)
            }
        }
    }

    fn remove(&self, path: &str) -> io::Result<()> {
        let (parent, name) = self.parent(path)?;
        match rustix::fs::unlinkat(&parent, name.as_str(), AtFlags::empty()) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::ISDIR) => Ok(rustix::fs::unlinkat(
                &parent,
                name.as_str(),
                AtFlags::REMOVEDIR,
            )?),
            Err(e) => Err(e.into()),
        }
    }

    fn tmp_name(name: &str) -> String {
        // rpm's own temporary names carry a `;` suffix; ours are just as unlikely in packages.
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let short: String = name.chars().take(64).collect();
        format!(".{short};kiln{:x}.{n:x}", std::process::id())
    }

    /// Writes a regular file: owner, mode, caps and mtime set once the data is in. Parents must
    /// exist. Returns the number of bytes written. See [`Root::write_file_in`].
    pub fn write_file(&self, path: &str, meta: &Meta, data: &mut dyn Read) -> io::Result<u64> {
        let (parent, name) = self.parent(path)?;
        let mut buf = vec![0u8; 64 * 1024];
        Self::write_file_in(&parent, &name, meta, data, &mut buf, None)
    }

    /// Opens the directory `path` beneath the root (symlinks followed, clamped to the root),
    /// creating it and its parents (0755) when missing. The handle is for the `*_in` calls:
    /// one path resolution for all the entries a package puts in one directory.
    pub fn dir(&self, path: &str) -> io::Result<OwnedFd> {
        match self.open_dir(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.mkdir_p(path, 0o755)?;
                self.open_dir(path)
            }
            r => r,
        }
    }

    /// Writes the regular file `name` in the directory `parent` (from [`Root::dir`]), copying
    /// through `buf`. A new name is created in place; an existing entry of any type (a
    /// symlink included) is replaced atomically: the data goes to a temporary name that is
    /// renamed over it, so the old entry is never written through. A failed write removes what
    /// it created.
    ///
    /// With `expect`, data of another length is an error (a [`SizeMismatch`] inside the
    /// `io::Error`) and nothing is left under the name.
    pub fn write_file_in(
        parent: &OwnedFd,
        name: &str,
        meta: &Meta,
        data: &mut dyn Read,
        buf: &mut [u8],
        expect: Option<u64>,
    ) -> io::Result<u64> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        // The final permission bits at once (the umask may take some; `apply_fd` puts them
        // back). Set-id and sticky bits only after the owner is set, as chown clears them.
        let mode = Mode::from_raw_mode(meta.mode & 0o777);
        // Most files are new: creating them in place saves the rename, which on ext4 costs as
        // much as the create.
        let (fd, tmp) = match rustix::fs::openat(parent, name, flags, mode) {
            Ok(fd) => (fd, None),
            Err(rustix::io::Errno::EXIST) => {
                let tmp = Self::tmp_name(name);
                (
                    rustix::fs::openat(parent, tmp.as_str(), flags, mode)?,
                    Some(tmp),
                )
            }
            Err(e) => return Err(e.into()),
        };
        let mut file = File::from(fd);
        let result = (|| {
            let n = copy_buffered(data, &mut file, buf)?;
            if let Some(want) = expect.filter(|&w| w != n) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    SizeMismatch { got: n, want },
                ));
            }
            apply_fd(&file, meta)?;
            if let Some(tmp) = &tmp {
                rustix::fs::renameat(parent, tmp.as_str(), parent, name)?;
            }
            Ok(n)
        })();
        if result.is_err() {
            let made = tmp.as_deref().unwrap_or(name);
            // Only our own inode: a package unpacked beside this one may have renamed its
            // identical copy over the name meanwhile.
            let ours = rustix::fs::fstat(&file).ok();
            let there = rustix::fs::statat(parent, made, AtFlags::SYMLINK_NOFOLLOW).ok();
            if let (Some(a), Some(b)) = (ours, there) {
                if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino) {
                    let _ = rustix::fs::unlinkat(parent, made, AtFlags::empty());
                }
            }
        }
        result
    }

    /// Creates (or replaces) a symlink `path -> target`, owned and timed by `meta`.
    pub fn symlink(&self, path: &str, target: &str, meta: &Meta) -> io::Result<()> {
        let (parent, name) = self.parent(path)?;
        Self::symlink_in(&parent, &name, target, meta)
    }

    /// Creates (or replaces) the symlink `name -> target` in `parent` (from [`Root::dir`]).
    /// A new name is created in place; an existing entry is replaced by a rename.
    pub fn symlink_in(parent: &OwnedFd, name: &str, target: &str, meta: &Meta) -> io::Result<()> {
        let tmp = match rustix::fs::symlinkat(target, parent, name) {
            Ok(()) => None,
            Err(rustix::io::Errno::EXIST) => {
                let tmp = Self::tmp_name(name);
                rustix::fs::symlinkat(target, parent, tmp.as_str())?;
                Some(tmp)
            }
            Err(e) => return Err(e.into()),
        };
        let made = tmp.as_deref().unwrap_or(name);
        let result = (|| {
            set_meta_at(parent, made, meta, false)?;
            if let Some(tmp) = &tmp {
                rustix::fs::renameat(parent, tmp.as_str(), parent, name)?;
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = rustix::fs::unlinkat(parent, made, AtFlags::empty());
        }
        result
    }

    /// Makes `path` a hard link to `existing` (both beneath the root; `existing` itself is
    /// not followed if it is a symlink).
    pub fn hardlink(&self, existing: &str, path: &str) -> io::Result<()> {
        let (old_parent, old_name) = self.parent(existing)?;
        let (parent, name) = self.parent(path)?;
        let tmp = Self::tmp_name(&name);
        rustix::fs::linkat(
            &old_parent,
            old_name.as_str(),
            &parent,
            tmp.as_str(),
            AtFlags::empty(),
        )?;
        if let Err(e) = rustix::fs::renameat(&parent, tmp.as_str(), &parent, name.as_str()) {
            let _ = rustix::fs::unlinkat(&parent, tmp.as_str(), AtFlags::empty());
            return Err(e.into());
        }
        Ok(())
    }

    /// Creates (or replaces) a device node or FIFO.
    pub fn mknod(
        &self,
        path: &str,
        kind: NodeKind,
        major: u32,
        minor: u32,
        meta: &Meta,
    ) -> io::Result<()> {
        let (parent, name) = self.parent(path)?;
        let tmp = Self::tmp_name(&name);
        let ft = match kind {
            NodeKind::Char => FileType::CharacterDevice,
            NodeKind::Block => FileType::BlockDevice,
            NodeKind::Fifo => FileType::Fifo,
        };
        let dev: Dev = rustix::fs::makedev(major, minor);
        let mut placeholder = false;
        match rustix::fs::mknodat(&parent, tmp.as_str(), ft, Mode::from_raw_mode(0o600), dev) {
            // No device nodes in a user namespace: an empty file of mode 0 holds the place,
            // the node itself goes to the sidecar.
            Err(rustix::io::Errno::PERM)
                if kind != NodeKind::Fifo && crate::userns::in_user_namespace() =>
            {
                let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
                let fd = rustix::fs::openat(&parent, tmp.as_str(), flags, Mode::empty())?;
                let st = rustix::fs::fstat(&fd)?;
                let device = match kind {
                    NodeKind::Block => crate::attrs::Device::Block { major, minor },
                    _ => crate::attrs::Device::Char { major, minor },
                };
                crate::attrs::refuse_device(st.st_dev, st.st_ino, device, meta.mode);
                placeholder = true;
            }
            r => r?,
        }
        let result = (|| {
            set_meta_at(&parent, &tmp, meta, !placeholder)?;
            rustix::fs::renameat(&parent, tmp.as_str(), &parent, name.as_str())?;
            Ok(())
        })();
        if result.is_err() {
            let _ = rustix::fs::unlinkat(&parent, tmp.as_str(), AtFlags::empty());
        }
        result
    }

    /// `lchown`.
    pub fn chown(&self, path: &str, uid: u32, gid: u32) -> io::Result<()> {
        let (parent, name) = self.parent(path)?;
        Ok(rustix::fs::chownat(
            &parent,
            name.as_str(),
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )?)
    }

    /// `chmod` of a non-symlink (a symlink at `path` is an error, never followed).
    pub fn chmod(&self, path: &str, mode: u32) -> io::Result<()> {
        let (parent, name) = self.parent(path)?;
        let fd = rustix::fs::openat(
            &parent,
            name.as_str(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let st = rustix::fs::fstat(&fd)?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{path}` is a symlink"),
            ));
        }
        // fchmod does not take O_PATH fds; the entry is pinned, so its name is safe to use.
        Ok(rustix::fs::chmodat(
            &parent,
            name.as_str(),
            Mode::from_raw_mode(mode & 0o7777),
            AtFlags::empty(),
        )?)
    }

    /// Sets the mtime (and atime) of `path` without following a final symlink.
    pub fn utimes(&self, path: &str, mtime: u32) -> io::Result<()> {
        let (parent, name) = self.parent(path)?;
        Ok(rustix::fs::utimensat(
            &parent,
            name.as_str(),
            &times(mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )?)
    }

    /// Sets `security.capability` on a regular file.
    pub fn set_caps(&self, path: &str, value: &[u8]) -> io::Result<()> {
        let (parent, name) = self.parent(path)?;
        let fd = rustix::fs::openat(
            &parent,
            name.as_str(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(rustix::fs::fsetxattr(
            &fd,
            "security.capability",
            value,
            XattrFlags::empty(),
        )?)
    }

    /// Reads a whole file beneath the root (symlinks clamped to the root).
    pub fn read_file(&self, path: &str) -> io::Result<Vec<u8>> {
        let fd = rustix::fs::openat2(
            &self.fd,
            rel(path),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
            resolve(),
        )?;
        let mut out = Vec::new();
        File::from(fd).read_to_end(&mut out)?;
        Ok(out)
    }

    /// `stat` of a file beneath the root, symlinks followed (clamped to the root).
    pub fn stat(&self, path: &str) -> io::Result<rustix::fs::Stat> {
        let fd = rustix::fs::openat2(
            &self.fd,
            rel(path),
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            resolve(),
        )?;
        Ok(rustix::fs::fstat(&fd)?)
    }
}

/// `io::copy` through a caller's buffer: std's 8 KiB one costs a write call per 8 KiB, 400,000
/// of them for a desktop install.
fn copy_buffered(data: &mut dyn Read, out: &mut File, buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        // Fill the buffer (decoders hand out small pieces) before each write.
        let mut filled = 0;
        while filled < buf.len() {
            match data.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if filled == 0 {
            return Ok(total);
        }
        out.write_all(&buf[..filled])?;
        total += filled as u64;
        if filled < buf.len() {
            return Ok(total);
        }
    }
}

fn times(mtime: u32) -> Timestamps {
    let t = Timespec {
        tv_sec: i64::from(mtime),
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Owner first (it clears set-id bits and caps), then mode, caps, mtime. Only what differs
/// from the entry's current state is changed: each change dirties the inode, and a new file
/// mostly has its owner (the caller, root) and its mode (created with it) already.
fn apply_fd(fd: impl AsFd, meta: &Meta) -> io::Result<()> {
    let fd = fd.as_fd();
    let st = rustix::fs::fstat(fd)?;
    let chown = st.st_uid != meta.uid || st.st_gid != meta.gid;
    if chown {
        let r = rustix::fs::fchown(
            fd,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
        );
        refusable(r, &st, |dev, ino| {
            crate::attrs::refuse_owner(dev, ino, meta.uid, meta.gid)
        })?;
    }
    if chown || st.st_mode & 0o7777 != meta.mode & 0o7777 {
        rustix::fs::fchmod(fd, Mode::from_raw_mode(meta.mode & 0o7777))?;
    }
    if let Some(caps) = &meta.caps {
        let r = rustix::fs::fsetxattr(fd, "security.capability", caps, XattrFlags::empty());
        refusable(r, &st, |dev, ino| {
            crate::attrs::refuse_xattr(dev, ino, "security.capability", caps)
        })?;
    }
    if st.st_mtime != i64::from(meta.mtime) || st.st_mtime_nsec != 0 {
        rustix::fs::futimens(fd, &times(meta.mtime))?;
    }
    Ok(())
}

/// In a user namespace, an owner outside its id map (EINVAL) or an xattr the kernel keeps
/// to the host's root (EPERM) is recorded for the writers ([`crate::attrs`]) instead of
/// failing the install; as root these errors stay errors.
fn refusable(
    r: rustix::io::Result<()>,
    st: &rustix::fs::Stat,
    record: impl FnOnce(u64, u64),
) -> io::Result<()> {
    match r {
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::PERM)
            if crate::userns::in_user_namespace() =>
        {
            record(st.st_dev, st.st_ino);
            Ok(())
        }
        r => Ok(r?),
    }
}

/// Metadata on a just-created entry named `name` in `dir` (symlink or node); as
/// [`apply_fd`], only what differs is changed.
fn set_meta_at(dir: &OwnedFd, name: &str, meta: &Meta, chmod: bool) -> io::Result<()> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    let chown = st.st_uid != meta.uid || st.st_gid != meta.gid;
    if chown {
        let r = rustix::fs::chownat(
            dir,
            name,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        );
        refusable(r, &st, |dev, ino| {
            crate::attrs::refuse_owner(dev, ino, meta.uid, meta.gid)
        })?;
    }
    if chmod && (chown || st.st_mode & 0o7777 != meta.mode & 0o7777) {
        rustix::fs::chmodat(
            dir,
            name,
            Mode::from_raw_mode(meta.mode & 0o7777),
            AtFlags::empty(),
        )?;
    }
    if st.st_mtime != i64::from(meta.mtime) || st.st_mtime_nsec != 0 {
        rustix::fs::utimensat(dir, name, &times(meta.mtime), AtFlags::SYMLINK_NOFOLLOW)?;
    }
    Ok(())
}

/// Capability names in bit order (linux/capability.h).
const CAP_NAMES: &[&str] = &[
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

/// A capability text that is not understood.
#[derive(Debug, thiserror::Error)]
#[error("bad capability text `{text}`: {reason}")]
pub struct CapsError {
    /// The text.
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

/// Parses libcap's text form (`cap_net_raw=ep`, `cap_net_admin,cap_net_raw+ep`,
/// `= cap_sys_admin+eip cap_chown-e`) into (effective, permitted, inheritable) bit sets.
pub fn parse_caps(text: &str) -> Result<(u64, u64, u64), CapsError> {
    let err = |reason: String| CapsError {
        text: text.to_owned(),
        reason,
    };
    let all: u64 = (1u64 << CAP_NAMES.len()) - 1;
    let (mut e, mut p, mut i) = (0u64, 0u64, 0u64);
    for clause in text.split_whitespace() {
        let op_at = clause
            .find(['=', '+', '-'])
            .ok_or_else(|| err(format!("clause `{clause}` has no operator")))?;
        let (names, mut ops) = clause.split_at(op_at);
        let mut set = 0u64;
        if names.is_empty() || names.eq_ignore_ascii_case("all") {
            set = all;
        } else {
            for n in names.split(',') {
                let lower = n.to_ascii_lowercase();
                let bare = lower.strip_prefix("cap_").unwrap_or(&lower);
                let bit = match CAP_NAMES.iter().position(|&c| c == bare) {
                    Some(b) => b as u32,
                    None => bare
                        .parse::<u32>()
                        .ok()
                        .filter(|&b| b < 64)
                        .ok_or_else(|| err(format!("unknown capability `{n}`")))?,
                };
                set |= 1u64 << bit;
            }
        }
        while !ops.is_empty() {
            let op = ops.as_bytes()[0];
            let rest = &ops[1..];
            let end = rest.find(['=', '+', '-']).unwrap_or(rest.len());
            let flags = &rest[..end];
            ops = &rest[end..];
            if op == b'=' {
                e &= !set;
                p &= !set;
                i &= !set;
            } else if flags.is_empty() {
                return Err(err(format!("operator without flags in `{clause}`")));
            }
            for f in flags.chars() {
                let target = match f {
                    'e' => &mut e,
                    'p' => &mut p,
                    'i' => &mut i,
                    _ => return Err(err(format!("unknown flag `{f}`"))),
                };
                if op == b'-' {
                    *target &= !set;
                } else {
                    *target |= set;
                }
            }
        }
    }
    Ok((e, p, i))
}

/// Encodes cap text as a `security.capability` value: `struct vfs_cap_data` revision 2
/// (magic_etc with the effective flag, then {permitted, inheritable} for the low and high 32
/// bits, all little endian). `None` for empty text; a text that names no capability (`=`,
/// what rpm records for `%caps(=)` and `%caps()`) is an all-zero set, which rpm writes too.
pub fn encode_caps(text: &str) -> Result<Option<Vec<u8>>, CapsError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let (e, p, i) = parse_caps(text)?;
    const VFS_CAP_REVISION_2: u32 = 0x0200_0000;
    const VFS_CAP_FLAGS_EFFECTIVE: u32 = 0x0000_0001;
    let magic = VFS_CAP_REVISION_2 | if e != 0 { VFS_CAP_FLAGS_EFFECTIVE } else { 0 };
    let mut out = Vec::with_capacity(20);
    out.extend_from_slice(&magic.to_le_bytes());
    out.extend_from_slice(&(p as u32).to_le_bytes());
    out.extend_from_slice(&(i as u32).to_le_bytes());
    out.extend_from_slice(&((p >> 32) as u32).to_le_bytes());
    out.extend_from_slice(&((i >> 32) as u32).to_le_bytes());
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn have(tool: &str) -> bool {
        Path::new(tool).exists()
    }

    #[test]
    fn caps_encoding_matches_setcap() {
        if !crate::test_support::root_or_skip("setcap, the oracle, needs CAP_SETFCAP") {
            return;
        }
        // setcap (libcap) writes the xattr; our encoding must equal what the kernel stores.
        if !have("/usr/sbin/setcap") && !have("/sbin/setcap") {
            eprintln!("SKIP: setcap not installed (libcap2-bin)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        for text in [
            "cap_net_raw=ep",
            "cap_net_admin,cap_net_raw+ep",
            "cap_net_bind_service=ei",
            "cap_sys_admin,cap_chown=p",
            "cap_bpf,cap_perfmon+ep",
            "cap_setuid,cap_setgid=eip",
            "cap_kill=p cap_chown+i",
        ] {
            std::fs::write(&f, b"x").unwrap();
            let st = Command::new("setcap").arg(text).arg(&f).status().unwrap();
            assert!(st.success(), "setcap {text}");
            let mut buf = vec![0u8; 64];
            let n = rustix::fs::getxattr(&f, "security.capability", &mut buf[..]).unwrap();
            buf.truncate(n);
            assert_eq!(encode_caps(text).unwrap().unwrap(), buf, "{text}");
            // And getcap reads back our value as the same set.
            rustix::fs::setxattr(
                &f,
                "security.capability",
                &encode_caps(text).unwrap().unwrap(),
                XattrFlags::empty(),
            )
            .unwrap();
            let out = Command::new("getcap").arg(&f).output().unwrap();
            let shown = String::from_utf8_lossy(&out.stdout);
            // `PATH clause [clause...]`; the temp path has no spaces.
            let shown = shown
                .split_whitespace()
                .skip(1)
                .collect::<Vec<_>>()
                .join(" ");
            assert_eq!(
                parse_caps(&shown).unwrap(),
                parse_caps(text).unwrap(),
                "{text} vs getcap {shown}"
            );
        }
    }

    #[test]
    fn caps_text_errors() {
        assert!(parse_caps("cap_nonsense=ep").is_err());
        assert!(parse_caps("cap_chown").is_err());
        assert!(parse_caps("cap_chown=x").is_err());
        assert_eq!(encode_caps("").unwrap(), None);
        // `%caps(=)`: rpm (libcap's cap_set_file) writes revision 2 with nothing set.
        let zero = encode_caps("=").unwrap().unwrap();
        assert_eq!(
            zero,
            [&0x0200_0000u32.to_le_bytes()[..], &[0u8; 16]].concat()
        );
    }

    #[test]
    fn entries_made_in_place_or_replaced() {
        if !crate::test_support::root_or_skip("entries are chowned to their packages' owners") {
            return;
        }
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        let p = |rel: &str| dir.path().join(rel);
        let meta = |mode: u32, mtime: u32| Meta {
            mode,
            uid: 1234,
            gid: 5678,
            mtime,
            caps: None,
        };
        let d = root.dir("/a/b").unwrap();
        // The data goes through a buffer smaller than it.
        let mut buf = [0u8; 3];
        let mut write = |name: &str, meta: Meta, data: &[u8], expect: Option<u64>| {
            Root::write_file_in(&d, name, &meta, &mut &data[..], &mut buf, expect)
        };
        // New: created in place, owner, set-id mode (after the chown) and mtime as asked.
        let n = write("f", meta(0o4755, 1000), b"hello", None).unwrap();
        assert_eq!(n, 5);
        let m = std::fs::symlink_metadata(p("a/b/f")).unwrap();
        assert_eq!(std::fs::read(p("a/b/f")).unwrap(), b"hello");
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o4755, 1234, 5678));
        assert_eq!(m.mtime(), 1000);
        // Existing: replaced by a new inode, so another link to the old one keeps its data.
        std::fs::hard_link(p("a/b/f"), p("a/other")).unwrap();
        write("f", meta(0o644, 2000), b"new", None).unwrap();
        // Short data: an error, and neither the new name nor the old file disturbed.
        let e = write("g", meta(0o644, 1), b"ab", Some(3)).unwrap_err();
        assert!(e.get_ref().is_some_and(|x| x.is::<SizeMismatch>()), "{e}");
        assert!(!p("a/b/g").exists());
        write("f", meta(0o644, 1), b"ab", Some(3)).unwrap_err();
        assert_eq!(std::fs::read(p("a/b/f")).unwrap(), b"new");
        assert_eq!(std::fs::read(p("a/b/f")).unwrap(), b"new");
        assert_eq!(std::fs::read(p("a/other")).unwrap(), b"hello");
        let m = std::fs::symlink_metadata(p("a/b/f")).unwrap();
        assert_eq!((m.mode() & 0o7777, m.mtime()), (0o644, 2000));
        // Symlinks: made in place, and over a file.
        Root::symlink_in(&d, "l", "f", &meta(0o777, 3000)).unwrap();
        Root::symlink_in(&d, "f", "l", &meta(0o777, 3000)).unwrap();
        assert_eq!(std::fs::read_link(p("a/b/f")).unwrap(), Path::new("l"));
        let m = std::fs::symlink_metadata(p("a/b/l")).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mtime()), (1234, 5678, 3000));
        // Directories: made in place with a set-gid mode; a symlink to a directory is kept;
        // a file in the way is replaced.
        let top = root.dir("/").unwrap();
        root.ensure_dir_in(&top, "/new", "new", &meta(0o2750, 4000))
            .unwrap();
        let m = std::fs::symlink_metadata(p("new")).unwrap();
        assert!(m.is_dir());
        assert_eq!(
            (m.mode() & 0o7777, m.uid(), m.mtime()),
            (0o2750, 1234, 4000)
        );
        std::os::unix::fs::symlink("a", p("link")).unwrap();
        let via = root
            .ensure_dir_in(&top, "/link", "link", &meta(0o755, 5000))
            .unwrap();
        assert!(std::fs::symlink_metadata(p("link")).unwrap().is_symlink());
        assert_eq!(
            rustix::fs::fstat(&via).unwrap().st_ino,
            std::fs::metadata(p("a")).unwrap().ino()
        );
        std::fs::write(p("file"), b"x").unwrap();
        root.ensure_dir_in(&top, "/file", "file", &meta(0o755, 6000))
            .unwrap();
        assert!(std::fs::symlink_metadata(p("file")).unwrap().is_dir());
        // Nothing temporary left behind.
        let names: Vec<_> = std::fs::read_dir(p("a/b"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(";kiln")), "{names:?}");
    }

    #[test]
    fn symlinks_cannot_leave_the_root() {
        if !crate::test_support::root_or_skip("entries are chowned to their packages' owners") {
            return;
        }
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        // A planted absolute symlink to the real outside dir, and a relative climb.
        std::os::unix::fs::symlink(outside.path(), dir.path().join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../../../..", dir.path().join("up")).unwrap();
        let meta = Meta {
            mode: 0o644,
            ..Meta::default()
        };
        let target = format!("{}/f", outside.path().display());
        // The link's target exists inside the root too, where IN_ROOT resolves it.
        std::fs::create_dir_all(dir.path().join(outside.path().strip_prefix("/").unwrap()))
            .unwrap();
        root.write_file("/abs/f", &meta, &mut &b"x"[..]).unwrap();
        root.write_file(&format!("/up{target}"), &meta, &mut &b"y"[..])
            .unwrap();
        assert!(!outside.path().join("f").exists());
        // Both landed inside the root, under the path the link resolves to there.
        assert_eq!(
            std::fs::read(dir.path().join(target.trim_start_matches('/'))).unwrap(),
            b"y"
        );
        // A symlink at the final component is replaced, not written through.
        std::os::unix::fs::symlink(outside.path().join("g"), dir.path().join("g")).unwrap();
        root.write_file("/g", &meta, &mut &b"z"[..]).unwrap();
        assert!(!outside.path().join("g").exists());
        assert_eq!(std::fs::read(dir.path().join("g")).unwrap(), b"z");
    }
}
