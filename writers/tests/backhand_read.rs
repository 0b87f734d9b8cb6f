//! Round trip through an independent reader: trees built in memory are written with kiln's
//! squashfs writer and read back with backhand, for every codec. Needs no root.

mod common;
use common::{bytes, meta, noise};

use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use backhand::{FilesystemReader, InnerNode};
use kiln_writers::squashfs::{self, Codec};
use kiln_writers::tree::{DataSource, FsTree, Kind, Xattr};

fn sample_tree() -> FsTree {
    let mut t = FsTree::new(meta(0o755, 0, 0, 1_700_000_000));
    let p = Path::new;
    t.insert(p("etc"), meta(0o755, 0, 0, 1), Kind::Dir).unwrap();
    t.insert(p("etc/empty"), meta(0o644, 0, 0, 2), bytes(vec![]))
        .unwrap();
    let hello = t
        .insert(
            p("etc/hello"),
            meta(0o4755, 1000, 100, 3),
            bytes(b"hello\n".to_vec()),
        )
        .unwrap();
    t.insert(
        p("etc/hello-link"),
        meta(0o4755, 1000, 100, 3),
        Kind::Hardlink(hello),
    )
    .unwrap();
    t.insert(p("big"), meta(0o600, 5, 6, 4), bytes(noise(1, 1_000_003)))
        .unwrap();
    t.insert(
        p("big-copy"),
        meta(0o600, 5, 6, 4),
        bytes(noise(1, 1_000_003)),
    )
    .unwrap();
    let text: Vec<u8> = (0..200_000u32)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    t.insert(p("text"), meta(0o644, 0, 0, 5), bytes(text))
        .unwrap();
    let mut sparse = vec![0u8; 3 << 20];
    sparse.extend_from_slice(b"end");
    t.insert(p("sparse"), meta(0o644, 0, 0, 6), bytes(sparse))
        .unwrap();
    t.insert(
        p("link"),
        meta(0o777, 0, 0, 7),
        Kind::Symlink("etc/hello".into()),
    )
    .unwrap();
    t.insert(
        p("null"),
        meta(0o666, 0, 0, 8),
        Kind::CharDevice { major: 1, minor: 3 },
    )
    .unwrap();
    t.insert(
        p("disk"),
        meta(0o660, 0, 6, 9),
        Kind::BlockDevice {
            major: 259,
            minor: 300,
        },
    )
    .unwrap();
    t.insert(p("fifo"), meta(0o644, 0, 0, 10), Kind::Fifo)
        .unwrap();
    t.insert(p("sock"), meta(0o755, 0, 0, 11), Kind::Socket)
        .unwrap();
    let mut m = meta(0o755, 0, 0, 12);
    m.xattrs = vec![Xattr {
        name: b"security.selinux".to_vec(),
        value: b"system_u:object_r:etc_t:s0".to_vec(),
    }];
    t.insert(p("ünïcödé"), m, Kind::Dir).unwrap();
    for i in 0..2000 {
        t.insert(
            &Path::new("ünïcödé").join(format!("f{i:05}")),
            meta(0o644, i % 7, i % 3, i as i64),
            bytes(format!("file {i}\n").into_bytes()),
        )
        .unwrap();
    }
    t
}

#[derive(Debug, PartialEq)]
enum Got {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    Char(u32),
    Block(u32),
    Fifo,
    Socket,
}

fn expected(t: &FsTree) -> BTreeMap<PathBuf, (u16, u32, u32, u32, Got)> {
    let mut out = BTreeMap::new();
    for id in t.walk() {
        let n = t.node(id);
        let target = match n.kind {
            Kind::Hardlink(h) => t.node(h),
            _ => n,
        };
        let got = match &target.kind {
            Kind::Dir => Got::Dir,
            Kind::File {
                data: DataSource::Bytes(b),
                ..
            } => Got::File(b.to_vec()),
            Kind::Symlink(s) => Got::Symlink(s.to_str().unwrap().into()),
            Kind::CharDevice { major, minor } => Got::Char(enc(*major, *minor)),
            Kind::BlockDevice { major, minor } => Got::Block(enc(*major, *minor)),
            Kind::Fifo => Got::Fifo,
            Kind::Socket => Got::Socket,
            _ => unreachable!(),
        };
        let m = &target.meta;
        out.insert(
            Path::new("/").join(t.path(id)),
            (m.mode as u16, m.uid, m.gid, m.mtime as u32, got),
        );
    }
    out
}

fn enc(major: u32, minor: u32) -> u32 {
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

fn read_back(img: &Path) -> BTreeMap<PathBuf, (u16, u32, u32, u32, Got)> {
    let fs =
        FilesystemReader::from_reader(BufReader::new(std::fs::File::open(img).unwrap())).unwrap();
    let mut out = BTreeMap::new();
    for node in fs.files() {
        let got = match &node.inner {
            InnerNode::Dir(_) => Got::Dir,
            InnerNode::File(f) => {
                let mut v = Vec::new();
                fs.file(f).reader().read_to_end(&mut v).unwrap();
                Got::File(v)
            }
            InnerNode::Symlink(s) => Got::Symlink(s.link.to_str().unwrap().into()),
            InnerNode::CharacterDevice(d) => Got::Char(d.device_number),
            InnerNode::BlockDevice(d) => Got::Block(d.device_number),
            InnerNode::NamedPipe => Got::Fifo,
            InnerNode::Socket => Got::Socket,
        };
        let h = &node.header;
        out.insert(
            node.fullpath.clone(),
            (h.permissions, h.uid, h.gid, h.mtime, got),
        );
    }
    out
}

#[test]
fn backhand_reads_every_codec() {
    let tree = sample_tree();
    let want = expected(&tree);
    let dir = tempfile::tempdir().unwrap();
    let mut codecs: Vec<(&str, Codec)> = ["gzip", "xz", "zstd", "lz4"]
        .iter()
        .map(|n| (*n, Codec::by_name(n).unwrap()))
        .collect();
    let mut xz = Codec::by_name("xz").unwrap();
    xz.set_option("bcj=x86,arm").unwrap();
    xz.set_option("dict-size=64K").unwrap();
    codecs.push(("xz-bcj", xz));
    codecs.push(("lz4hc", Codec::Lz4 { hc: true }));
    codecs.push(("zstd19", Codec::Zstd { level: 19 }));
    for (name, codec) in codecs {
        for (bs, tail) in [(4096, false), (128 * 1024, true), (1 << 20, true)] {
            if name == "xz-bcj" && bs < 64 * 1024 {
                continue; // the dictionary may not exceed the block size
            }
            let img = dir.path().join(format!("{name}-{bs}.sqfs"));
            let opts = squashfs::Options {
                codec: codec.clone(),
                block_size: bs,
                tail_packing: tail,
                ..Default::default()
            };
            let f = std::fs::File::create(&img).unwrap();
            let s = squashfs::write(&tree, f, &opts).unwrap();
            assert_eq!(s.duplicates, 1, "big-copy is a duplicate");
            let got = read_back(&img);
            assert_eq!(got.len(), want.len(), "{name} {bs}");
            for (path, w) in &want {
                assert_eq!(got.get(path), Some(w), "{name} {bs}: {}", path.display());
            }
        }
    }
}

#[test]
fn two_runs_give_identical_bytes() {
    let tree = sample_tree();
    let dir = tempfile::tempdir().unwrap();
    let mut images = Vec::new();
    for threads in [1, 3] {
        let img = dir.path().join(format!("{threads}.sqfs"));
        let opts = squashfs::Options {
            codec: Codec::Zstd { level: 3 },
            threads,
            mkfs_time: 1_234_567,
            ..Default::default()
        };
        squashfs::write(&tree, std::fs::File::create(&img).unwrap(), &opts).unwrap();
        images.push(std::fs::read(&img).unwrap());
    }
    assert!(images[0] == images[1], "output depends on the thread count");
}

/// Found by the squashfs_roundtrip fuzz target: a major past 12 bits was shifted out and the
/// image silently held another device. The largest encodable numbers round-trip; larger ones
/// are refused.
#[test]
fn device_numbers_round_trip_or_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("dev.sqfs");
    let mut t = FsTree::new(meta(0o755, 0, 0, 0));
    let (major, minor) = (0xfff, 0xfffff);
    t.insert(
        Path::new("max"),
        meta(0o600, 0, 0, 0),
        Kind::BlockDevice { major, minor },
    )
    .unwrap();
    let opts = squashfs::Options::default();
    squashfs::write(&t, std::fs::File::create(&img).unwrap(), &opts).unwrap();
    let got = read_back(&img);
    assert_eq!(got[Path::new("/max")].4, Got::Block(enc(major, minor)));
    assert_eq!(enc(major, minor), u32::MAX);

    for (major, minor) in [(0x1000, 0), (0, 0x10_0000)] {
        let mut t = FsTree::new(meta(0o755, 0, 0, 0));
        t.insert(
            Path::new("big"),
            meta(0o600, 0, 0, 0),
            Kind::CharDevice { major, minor },
        )
        .unwrap();
        let r = squashfs::write(&t, std::fs::File::create(&img).unwrap(), &opts);
        assert!(
            matches!(r, Err(squashfs::SquashfsError::Limit(ref m)) if m.contains("`big`")),
            "{major}:{minor}: {r:?}"
        );
    }
}
