//! A rootless root's sidecar ([`crate::attrs`]) laid over an ext4 image `mkfs.ext4 -d` made of
//! it. mkfs reads owners, modes and xattrs from the disk, where a rootless build could not put
//! them all; e2fsprogs' own `debugfs -w` then sets them in the image: owners and modes with
//! `set_inode_field`, device nodes by replacing their placeholders (`rm`, `mknod`), xattrs with
//! `ea_set -f` (values are binary). Only when the sidecar is non-empty: a root build's image is
//! mkfs' alone.

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::MediaError;
use crate::attrs::{AttrStore, AttrsError, Device};
use crate::error::IoError;

const S_IFMT: u32 = 0o170000;
const S_IFCHR: u32 = 0o020000;
const S_IFBLK: u32 = 0o060000;

/// Set what `root`'s sidecar holds in the ext4 file system `img` (at byte `offset`), which
/// `mkfs.ext4 -d root` just made; nothing when the sidecar is empty. `epoch` is mkfs'
/// `E2FSPROGS_FAKE_TIME` (the times of a replaced device inode).
pub fn apply(root: &Path, img: &Path, offset: u64, epoch: Option<i64>) -> Result<(), MediaError> {
    let store = AttrStore::load(root)?;
    if store.is_empty() {
        return Ok(());
    }
    let mut dir = img.as_os_str().to_owned();
    dir.push(".kiln-debugfs");
    let dir = PathBuf::from(dir);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(IoError::at("create", &dir))?;
    let result = script(&store, root, &dir).and_then(|(text, commands)| {
        let file = dir.join("script");
        std::fs::write(&file, text).map_err(IoError::at("write", &file))?;
        tracing::debug!(
            "`{}`: {commands} debugfs commands from the sidecar of `{}`",
            img.display(),
            root.display()
        );
        run(&file, img, offset, epoch)
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The debugfs script for `store` (value files written into `dir`) and its command count.
fn script(store: &AttrStore, root: &Path, dir: &Path) -> Result<(String, usize), MediaError> {
    let mut s = String::new();
    let mut n = 0;
    // One file per distinct value: labels repeat over thousands of paths.
    let mut values: std::collections::HashMap<&[u8], PathBuf> = Default::default();
    let mut cmd = |s: &mut String, line: String| {
        s.push_str(&line);
        s.push('\n');
        n += 1;
    };
    for (path, attrs) in store.iter() {
        let rel = path.strip_prefix("/").unwrap_or(path);
        let host = root.join(rel);
        let md = match std::fs::symlink_metadata(&host) {
            Ok(md) => md,
            // Removed after it was recorded, as `AttrStore::apply` skips it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(IoError::new("stat", &host, e).into()),
        };
        let target = quote(path)?;
        let mut file_type = md.mode() & S_IFMT;
        if let Some(dev) = attrs.device {
            if !md.is_file() || md.len() != 0 || md.nlink() != 1 {
                return Err(AttrsError::Mismatch {
                    path: path.to_owned(),
                    sidecar: AttrStore::sidecar(root),
                    reason: "recorded as a device node, but its placeholder was replaced",
                }
                .into());
            }
            let (parent, name) = match (path.parent(), path.file_name()) {
                (Some(p), Some(n)) => (p, Path::new(n)),
                _ => continue,
            };
            let (kind, major, minor) = match dev {
                Device::Char { major, minor } => {
                    file_type = S_IFCHR;
                    ('c', major, minor)
                }
                Device::Block { major, minor } => {
                    file_type = S_IFBLK;
                    ('b', major, minor)
                }
            };
            // mknod links its name into the current directory, taken literally.
            let name = quote(name)?;
            cmd(&mut s, format!("cd {}", quote(parent)?));
            cmd(&mut s, format!("rm {name}"));
            cmd(&mut s, format!("mknod {name} {kind} {major} {minor}"));
            cmd(&mut s, "cd /".to_string());
            // As mkfs.ext4 -d copies a node's times (whole seconds); ctime and crtime are
            // mkfs' own time for it too.
            for field in ["atime", "mtime"] {
                let secs = if field == "atime" {
                    md.atime()
                } else {
                    md.mtime()
                };
                cmd(&mut s, format!("set_inode_field {target} {field} @{secs}"));
            }
        }
        let fresh = attrs.device.is_some();
        if fresh || attrs.mode.is_some() {
            let perm = attrs.mode.unwrap_or(md.mode()) & 0o7777;
            cmd(
                &mut s,
                format!("set_inode_field {target} mode 0{:o}", file_type | perm),
            );
        }
        // A new inode belongs to 0:0: the placeholder's owners unless the sidecar has others.
        if fresh || attrs.uid.is_some() {
            let uid = attrs.uid.unwrap_or(md.uid());
            cmd(&mut s, format!("set_inode_field {target} uid {uid}"));
        }
        if fresh || attrs.gid.is_some() {
            let gid = attrs.gid.unwrap_or(md.gid());
            cmd(&mut s, format!("set_inode_field {target} gid {gid}"));
        }
        for (name, value) in &attrs.xattrs {
            let file = match values.get(value.as_slice()) {
                Some(file) => file.clone(),
                None => {
                    let file = dir.join(values.len().to_string());
                    std::fs::write(&file, value).map_err(IoError::at("write", &file))?;
                    values.insert(value, file.clone());
                    file
                }
            };
            cmd(
                &mut s,
                format!(
                    "ea_set -f {} {target} {}",
                    quote(&file)?,
                    quote(Path::new(name))?
                ),
            );
        }
    }
    Ok((s, n))
}

/// `path` as one debugfs argument: double-quoted, a quote doubled (its parser's escape).
fn quote(path: &Path) -> Result<String, MediaError> {
    let text = path.to_str().filter(|t| !t.contains(['\n', '\r']));
    let Some(text) = text else {
        return Err(MediaError::Tool {
            cmd: "debugfs".into(),
            output: format!(
                "`{}` cannot be named in a debugfs script (not UTF-8, or a line break)",
                path.display()
            ),
        });
    };
    let mut q = String::with_capacity(text.len() + 2);
    q.push('"');
    for c in text.chars() {
        if c == '"' {
            q.push('"');
        }
        q.push(c);
    }
    q.push('"');
    Ok(q)
}

/// `debugfs -w -f script IMG?offset=N`. debugfs exits 0 when a command fails and says so only
/// in its output: anything but its banner, the echoed commands and mknod's note is an error.
fn run(script: &Path, img: &Path, offset: u64, epoch: Option<i64>) -> Result<(), MediaError> {
    let mut target = img.as_os_str().to_owned();
    if offset > 0 {
        // unix_io's own syntax for a file system inside a larger file (a disk image).
        target.push(format!("?offset={offset}"));
    }
    let mut cmd = std::process::Command::new("debugfs");
    cmd.arg("-w").arg("-f").arg(script).arg(&target);
    if let Some(e) = epoch {
        cmd.env("E2FSPROGS_FAKE_TIME", e.to_string());
    }
    let what = format!(
        "debugfs -w -f {} {}",
        script.display(),
        Path::new(&target).display()
    );
    let on_line = Box::new(|line: &str| tracing::debug!(target: "kiln::debugfs", "{line}"));
    let done =
        crate::cancel::run_captured(crate::pidns::wrap(cmd), on_line, None).map_err(|e| {
            MediaError::Tool {
                cmd: what.clone(),
                output: format!("{e} (debugfs is in e2fsprogs)"),
            }
        })?;
    if done.interrupted {
        return Err(MediaError::Interrupted);
    }
    let output = String::from_utf8_lossy(&done.output);
    let mut errors = String::new();
    for line in output.lines() {
        let t = line.trim();
        let expected = t.is_empty()
            || t.starts_with("debugfs: ")
            || t.starts_with("debugfs 1.")
            || t.starts_with("Using EXT2FS Library")
            || t.starts_with("Allocated inode:");
        if !expected {
            let _ = writeln!(errors, "{line}");
        }
    }
    if !done.status.success() || !errors.is_empty() {
        return Err(MediaError::Tool {
            cmd: what,
            output: if errors.is_empty() {
                output.into_owned()
            } else {
                errors
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_double_a_quote() {
        assert_eq!(quote(Path::new("/a b/q\"x")).unwrap(), "\"/a b/q\"\"x\"");
        assert!(quote(Path::new("/a\nb")).is_err());
    }
}
