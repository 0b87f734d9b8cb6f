//! The EROFS writer against the Linux kernel and erofs-utils: images of a tree with every kind of
//! entry are mounted (`mount -t erofs -o loop,ro`) and compared attribute by attribute with the
//! tree; `fsck.erofs --extract` (Debian's erofs-utils) extracts the same tree and `dump.erofs`
//! reads the superblock. Needs root (loop mounts); without root the tests skip unless `CI` is
//! set, in which case they fail.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bytes, meta, noise, tool};
use kiln_writers::erofs::{self, Compression, Options};
use kiln_writers::tree::{split_dev, DataSource, FsTree, Kind, Meta, Xattr};

const T0: i64 = 1_700_000_000;

/// True when the test can mount; false (skip) only without root and without `CI=true`
/// (scripts/test.sh sets `CI=false` for an ordinary user).
fn can_mount() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    assert!(
        !common::ci(),
        "CI is set but the erofs tests need root to loop-mount"
    );
    eprintln!("skipping: not root (loop mounts need root)");
    false
}

/// A read-only loop mount, unmounted on drop (also when an assertion fails).
struct Mounted(PathBuf);

impl Mounted {
    fn new(img: &Path, dir: &Path) -> Mounted {
        std::fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "erofs", "-o", "loop,ro"])
            .arg(img)
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount -t erofs {} failed", img.display());
        Mounted(dir.to_owned())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn x(name: &str, value: &[u8]) -> Xattr {
    Xattr {
        name: name.as_bytes().to_vec(),
        value: value.to_vec(),
    }
}

fn with_xattrs(mut m: Meta, xs: Vec<Xattr>) -> Meta {
    m.xattrs = xs;
    m.xattrs.sort();
    m
}

/// Compressible text of `n` bytes (a ratio lz4 and lzma both reach).
fn text(seed: u64, n: usize) -> Vec<u8> {
    let words = [
        "erofs ", "kernel ", "cluster ", "block ", "inode ", "the ", "a ", "data\n",
    ];
    let r = noise(seed, n);
    let mut v = Vec::with_capacity(n + 16);
    let mut i = 0;
    while v.len() < n {
        v.extend_from_slice(words[(r[i % n] % 8) as usize].as_bytes());
        i += 1;
    }
    v.truncate(n);
    v
}

fn ins(t: &mut FsTree, p: &str, m: Meta, k: Kind) -> usize {
    t.insert(Path::new(p), m, k).unwrap()
}

/// A tree with every kind of entry and the awkward sizes; `scratch` holds its sparse file.
fn sample_tree(scratch: &Path) -> FsTree {
    let label = x("security.selinux", b"system_u:object_r:usr_t:s0\0");
    let mut t = FsTree::new(with_xattrs(meta(0o755, 0, 0, T0), vec![label.clone()]));
    let file = |mode, mtime| with_xattrs(meta(mode, 0, 0, mtime), vec![label.clone()]);
    ins(&mut t, "empty", file(0o644, T0), bytes(Vec::new()));
    ins(&mut t, "small", file(0o644, T0 + 1), bytes(noise(1, 100)));
    ins(&mut t, "block", file(0o644, T0), bytes(noise(3, 4096)));
    ins(&mut t, "two_blocks", file(0o600, T0), bytes(text(5, 8192)));
    ins(&mut t, "odd", file(0o644, T0 - 5), bytes(text(7, 10_000)));
    ins(&mut t, "odd_copy", file(0o644, T0), bytes(text(7, 10_000)));
    let mut mixed = text(9, 900_000);
    mixed.extend(noise(11, 300_000));
    mixed.extend(text(13, 400_001));
    ins(&mut t, "mixed", file(0o755, T0), bytes(mixed.clone()));
    ins(&mut t, "mixed_copy", file(0o755, T0), bytes(mixed));
    ins(&mut t, "random", file(0o644, T0), bytes(noise(15, 300_000)));
    ins(&mut t, "zeros", file(0o644, T0), bytes(vec![0; 5 << 20]));
    // All-zero blocks (holes when stored uncompressed) in the middle, and as the tail.
    let mut holey = noise(23, 4096);
    holey.extend(vec![0; 4096]);
    holey.extend(noise(25, 4096));
    holey.extend(vec![0; 50]);
    ins(&mut t, "holey", file(0o644, T0), bytes(holey));
    let mut holey_tail = vec![0; 4096];
    holey_tail.extend(noise(27, 1000));
    ins(&mut t, "holey_tail", file(0o644, T0), bytes(holey_tail));
    // A sparse file on disk: a hole, 10 bytes of data, a hole to the end.
    let sparse = scratch.join("sparse");
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::create(&sparse).unwrap();
        f.set_len(3 << 20).unwrap();
        f.write_all_at(b"not a hole", 1 << 20).unwrap();
    }
    ins(
        &mut t,
        "sparse",
        file(0o644, T0),
        Kind::File {
            size: 3 << 20,
            data: DataSource::Path(sparse),
        },
    );
    // Owners beyond 16 bits, setuid, a capability, user and trusted xattrs.
    let cap = {
        let mut v = vec![0u8; 20];
        v[0..4].copy_from_slice(&0x0200_0001u32.to_le_bytes());
        v[4] = 0x20; // CAP_NET_BIND_SERVICE... any bits will do
        v
    };
    ins(
        &mut t,
        "owned",
        with_xattrs(
            meta(0o4755, 70_000, 80_000, T0 + 100),
            vec![
                label.clone(),
                x("security.capability", &cap),
                x("user.comment", b"hello"),
                x("trusted.overlay.opaque", b"y"),
            ],
        ),
        bytes(text(17, 20_000)),
    );
    ins(
        &mut t,
        "sl_short",
        file(0o777, T0),
        Kind::Symlink("small".into()),
    );
    let long: String = "d/".repeat(1500) + "x";
    ins(
        &mut t,
        "sl_long",
        file(0o777, T0),
        Kind::Symlink(long.into()),
    );
    let longest: String = "e".repeat(4095);
    ins(
        &mut t,
        "sl_4095",
        file(0o777, T0),
        Kind::Symlink(longest.into()),
    );
    ins(&mut t, "dev", meta(0o755, 0, 0, T0), Kind::Dir);
    ins(
        &mut t,
        "dev/chr",
        file(0o620, T0),
        Kind::CharDevice {
            major: 4,
            minor: 64,
        },
    );
    ins(
        &mut t,
        "dev/blk",
        file(0o660, T0),
        Kind::BlockDevice {
            major: 259,
            minor: 70_000,
        },
    );
    let fifo = ins(&mut t, "dev/fifo", file(0o644, T0), Kind::Fifo);
    ins(&mut t, "dev/sock", file(0o755, T0), Kind::Socket);
    ins(&mut t, "hl", meta(0o1777, 0, 0, T0 + 7), Kind::Dir);
    let a = ins(&mut t, "hl/a", file(0o644, T0), bytes(text(19, 50_000)));
    ins(&mut t, "hl/b", file(0o644, T0), Kind::Hardlink(a));
    ins(&mut t, "hl/c", file(0o644, T0), Kind::Hardlink(a));
    ins(&mut t, "hl/fifo2", file(0o644, T0), Kind::Hardlink(fifo));
    let mut p = String::from("deep");
    ins(&mut t, &p, meta(0o755, 0, 0, T0), Kind::Dir);
    for i in 0..24 {
        p.push_str(&format!("/d{i}"));
        ins(&mut t, &p, meta(0o750, 1000, 1000, T0 + i), Kind::Dir);
    }
    ins(
        &mut t,
        &(p + "/leaf"),
        file(0o644, T0),
        bytes(text(21, 5000)),
    );
    // A directory of many long names (several dirent blocks), all sharing the label.
    ins(&mut t, "many", meta(0o755, 0, 0, T0), Kind::Dir);
    for i in 0..2500 {
        let name = format!("many/{i:05}-{}", "n".repeat(40 + i % 60));
        let data = if i % 3 == 0 {
            noise(i as u64, i % 5000)
        } else {
            text(i as u64, i * 7)
        };
        ins(&mut t, &name, file(0o644, T0), bytes(data));
    }
    t
}

fn source_bytes(d: &DataSource) -> Vec<u8> {
    match d {
        DataSource::Bytes(b) => b.to_vec(),
        DataSource::Path(p) => std::fs::read(p).unwrap(),
    }
}

/// What to check of an extracted or mounted tree.
#[derive(Clone, Copy)]
struct Check {
    xattrs: bool,
    mtime: bool,
    hardlinks: bool,
    /// Setuid/setgid bits: fsck.erofs 1.5 chowns after chmod, which clears them.
    setid: bool,
}

/// Compare the tree under `root` with `t`, entry by entry.
fn compare(t: &FsTree, root: &Path, c: Check) {
    let mut inode_of: BTreeMap<usize, u64> = BTreeMap::new();
    for id in t.walk() {
        let n = t.node(id);
        let path = root.join(t.path(id));
        let md =
            std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let ft = md.file_type();
        let (kind, owner) = match &n.kind {
            Kind::Hardlink(target) => {
                if c.hardlinks {
                    assert_eq!(
                        md.ino(),
                        inode_of[target],
                        "{}: hardlink inode",
                        path.display()
                    );
                }
                (&t.node(*target).kind, &t.node(*target).meta)
            }
            k => (k, &n.meta),
        };
        inode_of.insert(id, md.ino());
        let what = path.display();
        let mask = if c.setid { 0o7777 } else { 0o1777 };
        assert_eq!(md.mode() & mask, owner.mode & mask, "{what}: mode");
        assert_eq!(
            (md.uid(), md.gid()),
            (owner.uid, owner.gid),
            "{what}: owner"
        );
        if c.mtime {
            assert_eq!(md.mtime(), owner.mtime, "{what}: mtime");
        }
        match kind {
            Kind::Dir => {
                assert!(ft.is_dir(), "{what}: type");
                let mut names: Vec<OsString> = std::fs::read_dir(&path)
                    .unwrap()
                    .map(|e| e.unwrap().file_name())
                    .collect();
                names.sort();
                let mut want: Vec<OsString> = t
                    .children(id)
                    .iter()
                    .map(|&c| t.node(c).name.clone())
                    .collect();
                want.sort();
                assert_eq!(names, want, "{what}: entries");
                if c.hardlinks {
                    let subdirs = t
                        .children(id)
                        .iter()
                        .filter(|&&c| t.node(c).kind == Kind::Dir)
                        .count() as u64;
                    assert_eq!(md.nlink(), 2 + subdirs, "{what}: nlink");
                }
            }
            Kind::File { size, data } => {
                assert!(ft.is_file(), "{what}: type");
                assert_eq!(md.size(), *size, "{what}: size");
                let got = std::fs::read(&path).unwrap();
                assert!(got == source_bytes(data), "{what}: content differs");
            }
            Kind::Symlink(target) => {
                assert!(ft.is_symlink(), "{what}: type");
                assert_eq!(
                    std::fs::read_link(&path).unwrap().as_os_str(),
                    target.as_os_str(),
                    "{what}: target"
                );
            }
            Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => {
                let block = matches!(kind, Kind::BlockDevice { .. });
                assert!(
                    if block {
                        ft.is_block_device()
                    } else {
                        ft.is_char_device()
                    },
                    "{what}: type"
                );
                assert_eq!(split_dev(md.rdev()), (*major, *minor), "{what}: rdev");
            }
            Kind::Fifo => assert!(ft.is_fifo(), "{what}: type"),
            Kind::Socket => assert!(ft.is_socket(), "{what}: type"),
            Kind::Hardlink(_) => unreachable!(),
        }
        if c.xattrs {
            let mut got: Vec<Xattr> = xattr::list(&path)
                .unwrap()
                .map(|name| Xattr {
                    value: xattr::get(&path, &name).unwrap().unwrap(),
                    name: name.as_bytes().to_vec(),
                })
                .collect();
            got.sort();
            assert_eq!(got, owner.xattrs, "{what}: xattrs");
        }
    }
}

fn options(compression: Option<&str>, pcluster: u32) -> Options {
    Options {
        compression: compression.map(|c| Compression::parse(c).unwrap()),
        pcluster_size: pcluster,
        mkfs_time: T0 as u64,
        volume_name: "kiln-test".into(),
        uuid: Some(*b"0123456789abcdef"),
        ..Options::default()
    }
}

/// Write the sample tree, mount and compare it; read it with dump.erofs and extract it with
/// fsck.erofs when `fsck`.
fn round_trip(compression: Option<&str>, pcluster: u32, fsck: bool) {
    if !can_mount() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = sample_tree(dir.path());
    let img = dir.path().join("img.erofs");
    let opts = options(compression, pcluster);
    let start = std::time::Instant::now();
    let s = erofs::write(&t, std::fs::File::create(&img).unwrap(), &opts).unwrap();
    eprintln!(
        "{compression:?} -C{pcluster}: {} bytes, {} inodes, {} files, {} duplicates, {} compressed + {} plain pclusters, {:?}",
        s.bytes,
        s.inodes,
        s.files,
        s.duplicates,
        s.compressed_pclusters,
        s.plain_pclusters,
        start.elapsed()
    );
    assert_eq!(std::fs::metadata(&img).unwrap().len(), s.bytes);
    assert_eq!(s.duplicates, 2);
    if compression.is_some() {
        assert!(s.compressed_pclusters > 0 && s.plain_pclusters > 0);
    }
    {
        let m = Mounted::new(&img, &dir.path().join("mnt"));
        compare(
            &t,
            &m.0,
            Check {
                xattrs: true,
                mtime: true,
                hardlinks: true,
                setid: true,
            },
        );
    }
    // libblkid (util-linux) reads the volume name and UUID from the superblock.
    if tool("blkid") {
        let o = Command::new("blkid").arg("-p").arg(&img).output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains(r#"LABEL="kiln-test""#)
                && text.contains(r#"UUID="30313233-3435-3637-3839-616263646566""#)
                && text.contains(r#"TYPE="erofs""#),
            "blkid: {text}"
        );
    }
    // Debian's erofs-utils 1.5 reads lz4 and lz4hc images only.
    if fsck && tool("dump.erofs") {
        let o = Command::new("dump.erofs").arg(&img).output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "dump.erofs: {text}");
        assert!(
            text.contains("30313233-3435-3637-3839-616263646566"),
            "dump.erofs: {text}"
        );
    }
    if fsck && tool("fsck.erofs") {
        let out = dir.path().join("extract");
        let o = Command::new("fsck.erofs")
            .arg(format!("--extract={}", out.display()))
            .arg(&img)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "fsck.erofs: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        compare(
            &t,
            &out,
            Check {
                xattrs: false,
                mtime: false,
                hardlinks: false,
                setid: false,
            },
        );
    }
}

#[test]
fn uncompressed_round_trip() {
    round_trip(None, 4096, true);
}

#[test]
fn lz4_round_trip() {
    round_trip(Some("lz4"), 4096, true);
}

#[test]
fn lz4hc_round_trip() {
    round_trip(Some("lz4hc,12"), 4096, true);
}

#[test]
fn lz4hc_big_pcluster_round_trip() {
    round_trip(Some("lz4hc"), 16384, true);
}

#[test]
fn lz4_64k_pcluster_round_trip() {
    round_trip(Some("lz4"), 65536, true);
}

#[test]
fn lzma_round_trip() {
    round_trip(Some("lzma,6"), 65536, false);
}

#[test]
fn lzma_4k_round_trip() {
    round_trip(Some("lzma,9"), 4096, false);
}

#[test]
fn deflate_round_trip() {
    round_trip(Some("deflate,9"), 16384, false);
}

#[test]
fn zstd_round_trip() {
    round_trip(Some("zstd,15"), 65536, false);
}

/// `all_root`, `xattrs: false`, `clamp_mtime` and `dedup: false` do what they say: the mounted
/// tree equals the sample tree with owners zeroed, xattrs dropped and mtimes clamped.
#[test]
fn options_all_root_no_xattrs_clamp_no_dedup() {
    if !can_mount() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = sample_tree(dir.path());
    let clamp = T0 + 3;
    let mut opts = options(Some("lz4hc"), 4096);
    opts.all_root = true;
    opts.xattrs = false;
    opts.clamp_mtime = Some(clamp);
    opts.dedup = false;
    let img = dir.path().join("img.erofs");
    let s = erofs::write(&t, std::fs::File::create(&img).unwrap(), &opts).unwrap();
    assert_eq!(s.duplicates, 0);
    let mut want = t.clone();
    for id in 0..want.len() {
        let m = want.meta_mut(id);
        m.uid = 0;
        m.gid = 0;
        m.xattrs.clear();
        m.mtime = m.mtime.min(clamp);
    }
    let m = Mounted::new(&img, &dir.path().join("mnt"));
    compare(
        &want,
        &m.0,
        Check {
            xattrs: true,
            mtime: true,
            hardlinks: true,
            setid: true,
        },
    );
}

/// Files of several 4 MiB segments: an incompressible first segment held back until a later
/// one compresses (then stored as plain pclusters), and a wholly incompressible file stored
/// uncompressed.
#[test]
fn multi_segment_files() {
    if !can_mount() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut t = FsTree::new(meta(0o755, 0, 0, T0));
    let mut a = noise(31, 4 << 20);
    a.extend(text(33, (5 << 20) + 123));
    ins(&mut t, "a", meta(0o644, 0, 0, T0), bytes(a));
    ins(
        &mut t,
        "b",
        meta(0o644, 0, 0, T0),
        bytes(noise(35, (9 << 20) + 5)),
    );
    let img = dir.path().join("img.erofs");
    let s = erofs::write(
        &t,
        std::fs::File::create(&img).unwrap(),
        &options(Some("lz4"), 16384),
    )
    .unwrap();
    eprintln!("{s:?}");
    // `a`: 4 MiB of plain pclusters, then compressed ones and the last partial block as a
    // plain one; `b` adds none.
    assert_eq!(s.plain_pclusters, 1025);
    assert!(s.compressed_pclusters > 0);
    assert!(s.bytes < (9 << 20) + (4 << 20) + (2 << 20));
    let m = Mounted::new(&img, &dir.path().join("mnt"));
    compare(
        &t,
        &m.0,
        Check {
            xattrs: true,
            mtime: true,
            hardlinks: true,
            setid: true,
        },
    );
}

/// Device numbers beyond 12-bit majors and 20-bit minors cannot be stored: an error, not a
/// silently different device.
#[test]
fn unencodable_device_numbers_are_refused() {
    for (major, minor) in [(4096, 0), (0, 1 << 20)] {
        let mut t = FsTree::new(meta(0o755, 0, 0, T0));
        ins(
            &mut t,
            "d",
            meta(0o600, 0, 0, T0),
            Kind::CharDevice { major, minor },
        );
        let r = erofs::write(&t, std::io::Cursor::new(Vec::new()), &options(None, 4096));
        assert!(matches!(r, Err(erofs::ErofsError::Limit(_))), "{r:?}");
    }
}

/// A cancel callback that says stop ends the write with `Cancelled`, on one thread or several.
#[test]
fn cancel_stops_the_write() {
    let dir = tempfile::tempdir().unwrap();
    let t = sample_tree(dir.path());
    for (threads, after) in [(1, 0), (2, 40), (2, 400)] {
        let asked = std::sync::atomic::AtomicUsize::new(0);
        let cancel = || asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= after;
        let mut opts = options(Some("lz4hc"), 16384);
        opts.threads = threads;
        let r = erofs::write_cancellable(&t, std::io::Cursor::new(Vec::new()), &opts, &cancel);
        assert!(matches!(r, Err(erofs::ErofsError::Cancelled)), "{r:?}");
    }
}

/// Two writes of the same tree (different thread counts, content-derived UUID) are identical.
#[test]
fn reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let t = sample_tree(dir.path());
    let mut images = Vec::new();
    for threads in [1, 3] {
        let mut opts = options(Some("lz4hc"), 16384);
        opts.uuid = None;
        opts.threads = threads;
        let mut v = std::io::Cursor::new(Vec::new());
        let s = erofs::write(&t, &mut v, &opts).unwrap();
        assert_ne!(s.uuid, [0; 16]);
        images.push(v.into_inner());
    }
    assert!(images[0] == images[1], "two writes differ");
}
