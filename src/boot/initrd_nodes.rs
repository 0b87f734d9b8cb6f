//! The device nodes of a rootless build's initramfs.
//!
//! dracut makes /dev/console, /dev/null & co. with mknod(1) in its staging tree. In a user
//! namespace the kernel refuses device nodes, so the sandbox's mknod stand-in
//! ([`crate::attrs::MKNOD_STAND_IN`]) leaves an empty file with the node's permission bits and
//! logs the node. dracut's cpio (newc, uncompressed: kiln compresses it itself) then holds a
//! regular file of size 0 where a root build's holds the node. Each such header is rewritten in
//! place: the file type in `c_mode` and `c_rdevmajor`/`c_rdevminor`. Every other field (inode
//! number, owner, mtime, size 0, name) is what a root build's archive has, so the initramfs
//! is byte for byte the root build's.

use std::path::Path;

use crate::attrs::{Device, MknodRecord};
use crate::error::IoError;

/// newc's header: the magic and 13 fields of 8 hex digits.
const HEADER: usize = 110;

/// The node records of dracut's staging tree (`/var/tmp/dracut.XXXXXX/initramfs/NAME`) as
/// archive names (`dev/console`).
pub(crate) fn staged_nodes(records: &[MknodRecord]) -> Vec<(String, Device, u32)> {
    records
        .iter()
        .filter_map(|r| {
            let p = r.path.to_str()?;
            let rest = p.strip_prefix("/var/tmp/dracut.")?;
            let (_, name) = rest.split_once("/initramfs/")?;
            Some((name.to_owned(), r.device, r.mode))
        })
        .collect()
}

fn field(h: &[u8], i: usize) -> Option<u32> {
    let at = 6 + 8 * i;
    u32::from_str_radix(std::str::from_utf8(h.get(at..at + 8)?).ok()?, 16).ok()
}

/// The marker line of [`crate::attrs::MKNOD_STAND_IN`]: dracut copied the stand-in (bound over
/// the root's mknod for the run) into the archive in place of the program.
const STAND_IN_MARK: &[u8] = b"\n# kiln's stand-in for mknod(1) in a rootless build";

/// What the archive's entries were changed into.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Rewritten {
    /// Placeholders made device nodes.
    pub nodes: usize,
    /// Copies of the stand-in given back the root's real program.
    pub programs: usize,
}

/// Rewrite the uncompressed (possibly concatenated) newc archive `img` made by dracut in a
/// user namespace: the placeholders named in `nodes` become device entries, and a copy of
/// the mknod stand-in becomes the root's own program at that path (its bytes, mode and
/// mtime from `root`), as dracut copies it in a root build. GNU cpio's layout is kept: every
/// header and its name padded to 4 bytes, each archive padded with zeros to 512 after its
/// trailer.
pub(crate) fn rewrite(
    img: &Path,
    root: &Path,
    nodes: &[(String, Device, u32)],
) -> Result<Rewritten, IoError> {
    let bytes = std::fs::read(img).map_err(IoError::at("read", img))?;
    let mut out = Vec::with_capacity(bytes.len() + 4096);
    let mut done = Rewritten::default();
    let mut at = 0usize;
    // Where the current archive starts, in the input and in the output.
    let (mut in_start, mut out_start) = (0usize, 0usize);
    let pad4 = |v: &mut Vec<u8>| v.resize((v.len() + 3) & !3, 0);
    while at < bytes.len() {
        let Some(h) = bytes.get(at..at + HEADER) else {
            out.extend_from_slice(&bytes[at..]);
            break;
        };
        if &h[..6] != b"070701" && &h[..6] != b"070702" {
            // Not newc: kept as it is.
            out.extend_from_slice(&bytes[at..]);
            break;
        }
        let fields: Option<Vec<u32>> = (0..13).map(|i| field(h, i)).collect();
        let Some(mut fields) = fields else {
            out.extend_from_slice(&bytes[at..]);
            break;
        };
        let namesize = fields[11] as usize;
        let name_at = at + HEADER;
        let data_at = (name_at + namesize + 3) & !3;
        let size = fields[6] as usize;
        let (Some(name_bytes), Some(data)) = (
            bytes.get(name_at..name_at + namesize),
            bytes.get(data_at..data_at + size),
        ) else {
            out.extend_from_slice(&bytes[at..]);
            break;
        };
        let name = String::from_utf8_lossy(&name_bytes[..namesize.saturating_sub(1)]);
        let name = name.trim_start_matches("./").to_owned();
        let mut data: std::borrow::Cow<'_, [u8]> = data.into();
        let regular = fields[1] & 0o170000 == 0o100000;
        if regular && size == 0 {
            if let Some((_, device, perm)) = nodes.iter().find(|(n, _, _)| *n == name) {
                let (kind, major, minor) = match *device {
                    Device::Char { major, minor } => (0o020000, major, minor),
                    Device::Block { major, minor } => (0o060000, major, minor),
                };
                fields[1] = kind | (perm & 0o7777);
                fields[9] = major;
                fields[10] = minor;
                done.nodes += 1;
            }
        } else if regular
            && data.starts_with(b"#!")
            && data
                .windows(STAND_IN_MARK.len())
                .any(|w| w == STAND_IN_MARK)
        {
            use std::os::unix::fs::MetadataExt;
            let real = crate::fsutil::in_root(root, &format!("/{name}"), false);
            let md = std::fs::symlink_metadata(&real).map_err(IoError::at("stat", &real))?;
            data = std::fs::read(&real)
                .map_err(IoError::at("read", &real))?
                .into();
            fields[1] = 0o100000 | (md.mode() & 0o7777);
            fields[5] = md.mtime() as u32;
            fields[6] = data.len() as u32;
            done.programs += 1;
        }
        out.extend_from_slice(&h[..6]);
        for v in &fields {
            out.extend_from_slice(format!("{v:08X}").as_bytes());
        }
        out.extend_from_slice(name_bytes);
        pad4(&mut out);
        out.extend_from_slice(&data);
        pad4(&mut out);
        at = (data_at + size + 3) & !3;
        if name == "TRAILER!!!" {
            let zeros = bytes[at.min(bytes.len())..]
                .iter()
                .take_while(|b| **b == 0)
                .count();
            at += zeros;
            if (at - in_start) % 512 == 0 {
                // GNU cpio's blocks: the archive ends on a multiple of 512 bytes.
                let len = out.len() - out_start;
                out.resize(out_start + len.div_ceil(512) * 512, 0);
            } else {
                out.resize(out.len() + zeros, 0);
            }
            (in_start, out_start) = (at, out.len());
        }
    }
    if done != Rewritten::default() {
        crate::fsutil::write_atomic(img, &out, crate::fsutil::NewFile::root(0o644))
            .map_err(IoError::at("write", img))?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn cpio_of(tree: &Path, img: &Path) {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "cd {} && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible > {}",
                tree.display(),
                img.display()
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// GNU cpio makes the archives (one with real device nodes would need root): dracut's
    /// archive of a rootless build (the stand-in copied in as usr/bin/mknod, a placeholder at
    /// dev/console) rewritten must equal the archive of the same tree with the real mknod,
    /// rewritten too, byte for byte (sizes, padding, cpio's 512-byte blocks); and cpio lists
    /// dev/console as the character device 5,1.
    #[test]
    fn the_archive_becomes_a_root_builds() {
        if Command::new("cpio").arg("--version").output().is_err() {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "no cpio");
            eprintln!("skipped: no cpio");
            return;
        }
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        let real = vec![0x7fu8; 1237];
        std::fs::write(root.join("usr/bin/mknod"), &real).unwrap();
        std::fs::set_permissions(root.join("usr/bin/mknod"), PermissionsExt::from_mode(0o755))
            .unwrap();
        let touch = |p: &Path| {
            assert!(Command::new("touch")
                .args(["-h", "-d", "@1663687647"])
                .arg(p)
                .status()
                .unwrap()
                .success())
        };
        touch(&root.join("usr/bin/mknod"));
        let tree = |name: &str, mknod: &[u8]| {
            let t = dir.path().join(name);
            std::fs::create_dir_all(t.join("dev")).unwrap();
            std::fs::create_dir_all(t.join("usr/bin")).unwrap();
            std::fs::write(t.join("dev/console"), b"").unwrap();
            std::fs::set_permissions(t.join("dev/console"), PermissionsExt::from_mode(0o600))
                .unwrap();
            std::fs::write(t.join("usr/bin/mknod"), mknod).unwrap();
            std::fs::set_permissions(t.join("usr/bin/mknod"), PermissionsExt::from_mode(0o755))
                .unwrap();
            touch(&t.join("usr/bin/mknod"));
            std::fs::write(t.join("init"), b"#!/bin/sh\nexec /sbin/init\n").unwrap();
            for p in ["", "dev", "usr", "usr/bin", "init", "dev/console"] {
                touch(&t.join(p));
            }
            t
        };
        let stand_in = crate::attrs::mknod_stand_in("/usr/bin/sh");
        let (rootless, rooted) = (dir.path().join("a.cpio"), dir.path().join("b.cpio"));
        cpio_of(&tree("a", stand_in.as_bytes()), &rootless);
        cpio_of(&tree("b", &real), &rooted);
        let records = vec![MknodRecord {
            device: Device::Char { major: 5, minor: 1 },
            mode: 0o600,
            path: "/var/tmp/dracut.AbC123/initramfs/dev/console".into(),
        }];
        let nodes = staged_nodes(&records);
        assert_eq!(
            nodes,
            vec![("dev/console".to_owned(), records[0].device, 0o600)]
        );
        let done = rewrite(&rootless, &root, &nodes).unwrap();
        assert_eq!(
            done,
            Rewritten {
                nodes: 1,
                programs: 1
            }
        );
        let done = rewrite(&rooted, &root, &nodes).unwrap();
        assert_eq!(
            done,
            Rewritten {
                nodes: 1,
                programs: 0
            }
        );
        assert!(
            std::fs::read(&rootless).unwrap() == std::fs::read(&rooted).unwrap(),
            "the rewritten archives differ"
        );
        let listing = Command::new("sh")
            .arg("-c")
            .arg(format!("cpio -itv --quiet < {}", rootless.display()))
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout);
        let console = listing
            .lines()
            .find(|l| l.ends_with("dev/console"))
            .unwrap();
        assert!(console.starts_with("crw-------"), "{console}");
        let words: Vec<&str> = console.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "5,").expect(console);
        assert_eq!(words[at + 1], "1", "{console}");
    }
}
