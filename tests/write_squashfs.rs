//! `kiln write squashfs` against the reference tools: the image is extracted with `unsquashfs`
//! and mounted by the kernel, and both trees are compared with the source (lstat fields,
//! content, symlink targets, device numbers, link counts and groups, and `getfattr` xattrs),
//! for every codec. Root is needed for device nodes, ownership and loop mounts: without it the
//! test fails under CI=true and is skipped with a printed reason elsewhere.

mod common;

use common::{have, is_root, require};

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

fn kiln() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sh(script: &str, dir: &Path) {
    run(Command::new("sh").args(["-euc", script]).current_dir(dir));
}

/// Every entry type, hardlinks, xattrs in three namespaces, UTF-8 names, an empty file, a
/// 5 GiB sparse file, duplicates, odd modes and owners, 20,000 small files.
fn make_fixture(root: &Path) {
    fs::create_dir_all(root).unwrap();
    sh(
        r#"
        mkdir -p d1/d2/d3 empty 'ünï cödé/日本' many
        echo hello > a.txt
        : > zero
        head -c 1000000 /dev/urandom > rand
        seq 1 300000 > seq.txt
        cp seq.txt seq-copy.txt
        ln a.txt d1/hard_a
        ln a.txt d1/d2/hard_a2
        ln -s a.txt link
        ln -s "/nonexistent/$(printf 'x%.0s' $(seq 1 200))" longlink
        mknod cdev c 1 3
        mknod bdev b 259 300
        mkfifo fifo
        python3 -c "import socket; socket.socket(socket.AF_UNIX).bind('sock')"
        truncate -s 5G sparse
        printf tail >> sparse
        head -c 300000 /dev/urandom > holey
        truncate -s 2M holey
        printf end >> holey
        echo x > 'ünï cödé/日本/語.txt'
        chmod 4755 rand; chmod 2711 d1; chmod 1777 empty; chmod 0 zero
        chown 1234:5678 seq.txt; chown -h 42:43 link; chown 7:8 fifo
        setfattr -n user.comment -v 'hello world' a.txt
        setfattr -n security.selinux -v 'system_u:object_r:bin_t:s0' rand
        setfattr -n security.capability -v 0sAQAAAgAgAAAAAAAAAAAAAAAAAAA= rand
        setfattr -n trusted.foo -v bar d1
        setfattr -h -n trusted.sym -v on link
        cd many
        i=0; while [ $i -lt 20000 ]; do echo $i > f$i; i=$((i+1)); done
        cd ..
        touch -h -d @1600000000 link
        touch -d @1500000000 d1/d2/d3 zero
        "#,
        root,
    );
}

#[derive(Debug, PartialEq)]
struct Entry {
    kind: &'static str,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    nlink: u64,
    size: u64,
    rdev: u64,
    target: Option<PathBuf>,
    /// First path (in sorted order) sharing this inode, for multiply-linked non-directories.
    link_of: Option<PathBuf>,
    xattrs: Vec<String>,
    /// Content digest of a regular file (see `content_digest`).
    digest: Option<[u8; 32]>,
}

/// `getfattr -R -h -d -m - -e hex`: path -> sorted `name=value` lines.
fn xattrs(root: &Path) -> BTreeMap<PathBuf, Vec<String>> {
    let out = Command::new("getfattr")
        .args(["-R", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names"])
        .arg(root)
        .output()
        .unwrap();
    let mut map: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    let mut cur = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(p) = line.strip_prefix("# file: ") {
            let rel = Path::new(p).strip_prefix(root).unwrap().to_owned();
            cur = Some(rel);
        } else if !line.is_empty() {
            map.entry(cur.clone().unwrap())
                .or_default()
                .push(line.to_owned());
        }
    }
    map.values_mut().for_each(|v| v.sort());
    map
}

const CHUNK: u64 = 1 << 20;
static ZEROS: [u8; CHUNK as usize] = [0; CHUNK as usize];

/// SHA-256 over (offset, bytes) of every non-zero aligned 1 MiB chunk, then the size: equal
/// for equal contents whether zeros are holes or written. Holes that SEEK_DATA reports (the
/// source and unsquashfs's sparse output) are never read, so the 5 GiB sparse file costs
/// nothing there; a squashfs mount has no SEEK_DATA and is read in full, once per codec.
fn content_digest(path: &Path) -> [u8; 32] {
    use rustix::fs::{seek, SeekFrom};
    use std::os::unix::fs::FileExt;
    let f = fs::File::open(path).unwrap();
    let size = f.metadata().unwrap().len();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK as usize];
    let mut off = 0;
    while off < size {
        let data = match seek(&f, SeekFrom::Data(off)) {
            Ok(d) => d,
            Err(e) if e == rustix::io::Errno::NXIO => break,
            Err(e) => panic!("SEEK_DATA {}: {e}", path.display()),
        };
        let hole = seek(&f, SeekFrom::Hole(data)).unwrap_or(size);
        // Whole chunks only, so both sides hash the same units; `off` stays chunk-aligned.
        let mut pos = data / CHUNK * CHUNK;
        let end = hole.div_ceil(CHUNK).saturating_mul(CHUNK).min(size);
        while pos < end {
            let n = (end - pos).min(CHUNK) as usize;
            f.read_exact_at(&mut buf[..n], pos).unwrap();
            // Slice equality is a memcmp even unoptimised; a byte loop would dominate.
            if buf[..n] != ZEROS[..n] {
                h.update(pos.to_le_bytes());
                h.update(&buf[..n]);
            }
            pos += n as u64;
            if pos % (256 * CHUNK) == 0 {
                // Do not fill the page cache with gigabytes of zeros.
                let _ = rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed);
            }
        }
        off = end;
    }
    let _ = rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed);
    h.update(size.to_le_bytes());
    h.finalize().into()
}

fn scan(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let xa = xattrs(root);
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, PathBuf> = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let p = root.join(&rel);
        let md = fs::symlink_metadata(&p).unwrap();
        let ft = md.file_type();
        let kind = if ft.is_dir() {
            let mut names: Vec<_> = fs::read_dir(&p)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            names.sort();
            stack.extend(names.into_iter().rev().map(|n| rel.join(n)));
            "dir"
        } else if ft.is_file() {
            "file"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_char_device() {
            "char"
        } else if ft.is_block_device() {
            "block"
        } else if ft.is_fifo() {
            "fifo"
        } else {
            "socket"
        };
        let link_of = (kind != "dir" && md.nlink() > 1)
            .then(|| inodes.entry(md.ino()).or_insert(rel.clone()).clone());
        out.insert(
            rel.clone(),
            Entry {
                kind,
                mode: md.mode(),
                uid: md.uid(),
                gid: md.gid(),
                mtime: md.mtime(),
                nlink: md.nlink(),
                size: if kind == "dir" { 0 } else { md.len() },
                rdev: md.rdev(),
                target: ft.is_symlink().then(|| fs::read_link(&p).unwrap()),
                link_of,
                xattrs: xa.get(&rel).cloned().unwrap_or_default(),
                digest: (kind == "file").then(|| content_digest(&p)),
            },
        );
    }
    out
}

/// Compare a tree read back from the image with the source's scan.
fn compare(want: &BTreeMap<PathBuf, Entry>, got: &Path, what: &str, skip_sockets: bool) {
    let mut have = scan(got);
    let want: BTreeMap<_, _> = want
        .iter()
        .filter(|(_, e)| !(skip_sockets && e.kind == "socket"))
        .collect();
    if skip_sockets {
        have.retain(|_, e| e.kind != "socket");
    }
    let wk: Vec<&PathBuf> = want.keys().copied().collect();
    let hk: Vec<_> = have.keys().collect();
    assert_eq!(wk, hk, "{what}: different paths");
    for (rel, w) in want {
        let h = &have[rel];
        // The extraction/mount point itself has no link count to compare with the source's.
        if rel.as_os_str().is_empty() {
            assert_eq!(
                (w.mode, w.uid, w.gid),
                (h.mode, h.uid, h.gid),
                "{what}: root"
            );
            continue;
        }
        assert_eq!(w, h, "{what}: {}", rel.display());
    }
}

struct Mount(PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// One codec: write, list, extract and compare, mount and compare.
fn round_trip(
    work: &Path,
    src: &Path,
    want: &BTreeMap<PathBuf, Entry>,
    codec: &str,
    opts: &[&str],
    bs: &str,
) {
    let img = work.join(format!("{codec}.sqfs"));
    let mut cmd = kiln();
    cmd.args(["write", "squashfs"]).arg(src).arg(&img);
    cmd.args(["--comp", codec, "--block-size", bs]);
    for o in opts {
        cmd.args(["--comp-opt", o]);
    }
    run(&mut cmd);

    let lls = Command::new("unsquashfs")
        .arg("-lls")
        .arg(&img)
        .output()
        .unwrap();
    assert!(lls.status.success(), "{codec}: unsquashfs -lls failed");
    let listing = String::from_utf8_lossy(&lls.stdout);
    assert!(listing.contains("squashfs-root/many/f19999"), "{codec}");
    assert!(listing.contains("squashfs-root/bdev"), "{codec}");

    let out = work.join(format!("{codec}.out"));
    run(Command::new("unsquashfs")
        .args(["-no-progress", "-d"])
        .arg(&out)
        .arg(&img));
    // unsquashfs does not create sockets; the kernel mount below checks them.
    compare(want, &out, &format!("{codec} unsquashfs"), true);

    let mnt = work.join(format!("{codec}.mnt"));
    fs::create_dir(&mnt).unwrap();
    run(Command::new("mount")
        .args(["-t", "squashfs", "-o", "loop,ro"])
        .arg(&img)
        .arg(&mnt));
    let guard = Mount(mnt.clone());
    compare(want, &mnt, &format!("{codec} mount"), false);
    drop(guard);
}

#[test]
fn squashfs_round_trips_through_unsquashfs_and_the_kernel() {
    if !require(is_root(), "needs root (mknod, chown, loop mounts)")
        || !require(
            have("unsquashfs") && have("getfattr") && have("setfattr"),
            "needs squashfs-tools and attr",
        )
    {
        return;
    }
    // Not under /tmp: xattrs in the user namespace need a filesystem that stores them.
    let work = tempfile::Builder::new()
        .prefix("kiln-sqfs-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let src = work.path().join("src");
    make_fixture(&src);
    // The source is scanned (and its contents hashed) once for all codecs.
    let want = scan(&src);
    // Two codecs at a time: the comparisons are single-threaded and mostly wait on syscalls.
    let codecs: [(&str, &[&str], &str); 4] = [
        ("gzip", &[], "128K"),
        ("xz", &["bcj=x86"], "1M"),
        ("zstd", &["level=19"], "4K"),
        ("lz4", &["hc"], "64K"),
    ];
    for pair in codecs.chunks(2) {
        std::thread::scope(|s| {
            for (codec, opts, bs) in pair {
                let (work, src, want) = (work.path(), &src, &want);
                s.spawn(move || round_trip(work, src, want, codec, opts, bs));
            }
        });
    }
}

#[test]
fn squashfs_is_reproducible_with_source_date_epoch() {
    if !require(have("unsquashfs"), "needs squashfs-tools") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    fs::create_dir_all(src.join("sub/deeper")).unwrap();
    for i in 0..500 {
        fs::write(src.join(format!("sub/f{i}")), format!("{i}").repeat(i)).unwrap();
    }
    fs::write(src.join("big"), vec![7u8; 3_000_000]).unwrap();
    std::os::unix::fs::symlink("big", src.join("link")).unwrap();
    let mut images = Vec::new();
    for n in 0..2 {
        let img = work.path().join(format!("{n}.sqfs"));
        run(kiln()
            .args(["write", "squashfs", "--comp", "zstd"])
            .arg(&src)
            .arg(&img)
            .env("SOURCE_DATE_EPOCH", "1700000000"));
        images.push(fs::read(&img).unwrap());
    }
    assert!(images[0] == images[1], "two runs differ");
    // The superblock time and every mtime are at most SOURCE_DATE_EPOCH.
    let s = Command::new("unsquashfs")
        .args(["-s"])
        .arg(work.path().join("0.sqfs"))
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&s.stdout);
    assert!(s.contains("Number of inodes 505"), "{s}");
    let lls = Command::new("unsquashfs")
        .arg("-lls")
        .arg(work.path().join("0.sqfs"))
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let lls = String::from_utf8_lossy(&lls.stdout);
    assert!(lls.contains("2023-11-14 22:13"), "{lls}");
}

#[test]
fn bad_options_exit_1() {
    let work = tempfile::tempdir().unwrap();
    for args in [
        vec!["--comp", "lzo"],
        vec!["--block-size", "3000"],
        vec!["--comp", "zstd", "--comp-opt", "level=40"],
        vec!["--comp", "xz", "--comp-opt", "bcj=mips"],
    ] {
        let st = kiln()
            .args(["write", "squashfs"])
            .arg(work.path())
            .arg(work.path().join("x.sqfs"))
            .args(&args)
            .status()
            .unwrap();
        assert_eq!(st.code(), Some(1), "{args:?}");
    }
}
