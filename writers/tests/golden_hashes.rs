//! Byte-identical output: ISO, squashfs and FAT images of fixed trees with fixed times hash to
//! the values the writers gave before they were split into modules (commit a365ea4). A change
//! here means the bytes on disk changed; if that is intended, say why in the commit and update
//! the hash.
//!
//! Set `KILN_PRINT_HASHES=1` to print the current hashes instead of only comparing them.

mod common;
use common::{bytes, noise};

use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use kiln_writers::fat::{build_fat, FatOptions};
use kiln_writers::iso9660::{self, BiosBoot, Hybrid, IsoOptions, MbrStyle};
use kiln_writers::squashfs::{self, Bcj, Codec};
use kiln_writers::tree::{DataSource, FsTree, Kind, Meta, Xattr};

const EPOCH: i64 = 1_700_000_000;

/// Attributes owned by root.
fn meta(mode: u32, mtime: i64) -> Meta {
    common::meta(mode, 0, 0, mtime)
}

/// A tree holding `EFI/BOOT` and these files in it.
fn efi_tree(files: Vec<(&str, Vec<u8>)>) -> FsTree {
    let mut t = FsTree::new(meta(0o755, EPOCH));
    add(&mut t, "EFI", meta(0o755, EPOCH), Kind::Dir);
    add(&mut t, "EFI/BOOT", meta(0o755, EPOCH), Kind::Dir);
    for (name, data) in files {
        add(
            &mut t,
            &format!("EFI/BOOT/{name}"),
            meta(0o644, EPOCH),
            bytes(data),
        );
    }
    t
}

fn add(t: &mut FsTree, path: &str, m: Meta, kind: Kind) {
    t.insert(Path::new(path), m, kind).unwrap();
}

/// A tree with every kind of entry: a deep chain of directories, long names that push Rock
/// Ridge fields into continuation areas, a directory spanning several blocks, hardlinks,
/// symlinks, devices, a fifo and a socket, xattrs, owners, times past the clamp, files of
/// many sizes (fragments, tails, whole blocks, duplicates, zeros), and boot files.
fn sample_tree() -> FsTree {
    let mut t = FsTree::new(meta(0o755, EPOCH - 10));
    for d in [
        "boot", "EFI", "EFI/BOOT", "images", "isolinux", "many", "etc",
    ] {
        add(&mut t, d, meta(0o755, EPOCH - 100), Kind::Dir);
    }
    // Boot images: a 2 KiB-block BIOS image (room for GRUB's info at 2548) and a FAT ESP.
    let mut bios = noise(11, 8192);
    bios[..4].copy_from_slice(b"\xEB\x63\x90\x00");
    add(
        &mut t,
        "isolinux/isolinux.bin",
        meta(0o444, EPOCH),
        bytes(bios),
    );
    let esp_tree = efi_tree(vec![
        ("BOOTX64.EFI", noise(12, 70_000)),
        ("grub.cfg", b"set timeout=5\n".to_vec()),
    ]);
    let (esp, _) = build_fat(
        &esp_tree,
        &FatOptions {
            label: Some("ANACONDA".into()),
            serial: Some(0x1234_5678),
            clamp_mtime: Some(EPOCH),
            extra_bytes: 0,
        },
    )
    .unwrap();
    add(&mut t, "images/efiboot.img", meta(0o644, EPOCH), bytes(esp));
    add(
        &mut t,
        "EFI/BOOT/BOOTX64.EFI",
        meta(0o644, EPOCH),
        bytes(noise(12, 70_000)),
    );

    // Deep tree (deeper than ISO 9660's 8 levels), each level with a file.
    let mut path = String::from("deep");
    add(&mut t, &path, meta(0o755, EPOCH - 5), Kind::Dir);
    for level in 0..14 {
        path.push_str(&format!("/level{level:02}"));
        add(&mut t, &path, meta(0o750, EPOCH - 5), Kind::Dir);
        add(
            &mut t,
            &format!("{path}/file.txt"),
            meta(0o640, EPOCH - level),
            bytes(format!("level {level}\n").into_bytes()),
        );
    }

    // A directory spanning several blocks, with names long enough to spill Rock Ridge fields.
    for i in 0..180u32 {
        let name = format!(
            "many/{}-{i:03}.data",
            "x".repeat(20 + (i as usize * 7) % 200)
        );
        let mut m = meta(0o644, EPOCH + i64::from(i) - 90);
        m.uid = i % 5;
        m.gid = 100 + i % 3;
        add(
            &mut t,
            &name,
            m,
            bytes(noise(u64::from(i) * 2 + 100, (i as usize * 997) % 9000)),
        );
    }

    // Files for squashfs' data pass: zero-length, fragments, whole blocks, tails, duplicates,
    // all-zero (sparse) blocks, and one large file.
    let files: Vec<(&str, u32, i64, Vec<u8>)> = vec![
        ("etc/empty", 0o644, EPOCH, Vec::new()),
        ("etc/small", 0o644, EPOCH, b"hello\n".to_vec()),
        ("etc/dup-a", 0o644, EPOCH, noise(40, 200_000)),
        ("etc/dup-b", 0o600, EPOCH + 1, noise(40, 200_000)),
    ];
    for (path, mode, mtime, data) in files {
        add(&mut t, path, meta(mode, mtime), bytes(data));
    }
    let mut sparse = vec![0u8; 600_000];
    sparse[300_000..300_100].copy_from_slice(&noise(41, 100));
    add(&mut t, "etc/sparse", meta(0o644, EPOCH), bytes(sparse));
    let mut text = Vec::new();
    for i in 0..40_000 {
        text.extend_from_slice(format!("line {i} of a compressible file\n").as_bytes());
    }
    add(&mut t, "etc/text", meta(0o644, EPOCH), bytes(text));
    let big = noise(42, 3 << 20);
    add(&mut t, "etc/big", meta(0o644, EPOCH), bytes(big));

    // Xattrs (kept and dropped name spaces), owners, setuid.
    let mut m = meta(0o4755, EPOCH);
    m.uid = 1000;
    m.gid = 1000;
    m.xattrs = vec![
        Xattr {
            name: b"security.capability".to_vec(),
            value: vec![
                1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        },
        Xattr {
            name: b"security.selinux".to_vec(),
            value: b"system_u:object_r:bin_t:s0\0".to_vec(),
        },
        Xattr {
            name: b"system.posix_acl_access".to_vec(),
            value: vec![2, 0, 0, 0],
        },
        Xattr {
            name: b"user.comment".to_vec(),
            value: b"x".repeat(300),
        },
    ];
    add(&mut t, "etc/ping", m.clone(), bytes(noise(43, 5000)));
    m.mode = 0o755;
    add(&mut t, "etc/ping6", m, bytes(noise(44, 5000)));
    let mut dm = meta(0o755, EPOCH);
    dm.xattrs = vec![Xattr {
        name: b"security.selinux".to_vec(),
        value: b"system_u:object_r:etc_t:s0\0".to_vec(),
    }];
    add(&mut t, "etc/selinux", dm, Kind::Dir);

    // Hardlinks, symlinks, devices, fifo, socket.
    let target = t.lookup(Path::new("etc/dup-a")).unwrap();
    add(&mut t, "etc/link-a", meta(0, 0), Kind::Hardlink(target));
    add(&mut t, "boot/link-a", meta(0, 0), Kind::Hardlink(target));
    let long_target = format!("/{}", "component/".repeat(40));
    let special: Vec<(&str, u32, Kind)> = vec![
        ("etc/symlink", 0o777, Kind::Symlink("../etc/small".into())),
        ("etc/long-symlink", 0o777, Kind::Symlink(long_target.into())),
        ("etc/null", 0o666, Kind::CharDevice { major: 1, minor: 3 }),
        ("etc/sda", 0o660, Kind::BlockDevice { major: 8, minor: 0 }),
        (
            "etc/bigdev",
            0o660,
            Kind::BlockDevice {
                major: 259,
                minor: 70_000,
            },
        ),
        ("etc/fifo", 0o644, Kind::Fifo),
        ("etc/socket", 0o755, Kind::Socket),
    ];
    for (path, mode, kind) in special {
        add(&mut t, path, meta(mode, EPOCH), kind);
    }
    let joliet = "etc/unicode-ñame-日本語-with-a-rather-long-joliet-name-past-sixty-four-units.txt";
    add(
        &mut t,
        joliet,
        meta(0o644, EPOCH),
        bytes(b"joliet\n".to_vec()),
    );
    // A time past the clamp.
    let later = meta(0o644, EPOCH + 1_000_000);
    add(&mut t, "etc/future", later, bytes(b"later\n".to_vec()));
    t
}

fn sha256(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn sha256_file(f: &mut File) -> String {
    f.seek(SeekFrom::Start(0)).unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().iter().map(|x| format!("{x:02x}")).collect()
}

/// Compare `got` with the expected hashes, naming every mismatch.
fn check(got: &[(&str, String)], expected: &[(&str, &str)]) {
    if std::env::var_os("KILN_PRINT_HASHES").is_some() {
        for (name, hash) in got {
            println!("(\"{name}\", \"{hash}\"),");
        }
    }
    let mut bad = Vec::new();
    for (name, hash) in got {
        let want = expected.iter().find(|e| e.0 == *name).map(|e| e.1);
        if want != Some(hash.as_str()) {
            bad.push(format!("{name}: got {hash}, expected {want:?}"));
        }
    }
    assert!(bad.is_empty(), "images changed:\n{}", bad.join("\n"));
}

fn iso_options() -> IsoOptions {
    IsoOptions {
        volume_id: "Fedora-WS-Live-41".into(),
        publisher: "kiln".into(),
        application: "kiln golden test".into(),
        preparer: "kiln".into(),
        joliet: false,
        source_date_epoch: Some(EPOCH),
        ..IsoOptions::default()
    }
}

fn bios_boot(info: bool, grub: bool) -> BiosBoot {
    BiosBoot {
        path: PathBuf::from("isolinux/isolinux.bin"),
        load_size: 4,
        boot_info_table: info,
        grub2_boot_info: grub,
    }
}

fn iso(tree: &FsTree, opts: &IsoOptions) -> String {
    let mut out = Cursor::new(Vec::new());
    iso9660::write_iso(tree, opts, &mut out).unwrap();
    sha256(&out.into_inner())
}

const ISO_HASHES: &[(&str, &str)] = &[
    (
        "iso-plain",
        "b3fa1ee8da845e8f750760e690629ca9269e48cd3961534292c0aca719fbb9ba",
    ),
    (
        "iso-joliet",
        "f4844f6766a9d421742a6ffe64ecb939285edc381210b36db1ee4fb358f3377f",
    ),
    (
        "iso-eltorito",
        "e578a9a1ff0febe42ec357417409da6c5a47526840734e45c272818ae3bb05b4",
    ),
    (
        "iso-bios-only",
        "2055482fdcd6325e6a930b3477351aaaecbd31115fab10b7ff4a207137589a18",
    ),
    (
        "iso-hybrid-grub-gpt",
        "a27c42fc3dd90569aee462f33b3bfa873a511d233992360467b176383b8ab0c1",
    ),
    (
        "iso-hybrid-isohybrid-mbr",
        "1164480a88e1be0f0b2806e5ffdb6168c9e7884c98afad72dc06f25b343e1ec5",
    ),
    (
        "iso-hybrid-uefi-only",
        "e8c32f0141f6a19a5ffbd2bde23dec1c1c8d1e717534efd671437d8ba113445d",
    ),
    (
        "iso-multi-extent",
        "258dbc07b96ac88fcec47b1f4d9ec4797e71a4deb7790b720c61cbc5278f442d",
    ),
];

#[test]
fn iso_images_are_unchanged() {
    let tree = sample_tree();
    let mut got = Vec::new();
    let plain = iso_options();
    got.push(("iso-plain", iso(&tree, &plain)));
    let rr_joliet = IsoOptions {
        joliet: true,
        ..iso_options()
    };
    got.push(("iso-joliet", iso(&tree, &rr_joliet)));
    let eltorito = IsoOptions {
        joliet: true,
        bios_boot: Some(bios_boot(true, false)),
        efi_boot: Some(PathBuf::from("images/efiboot.img")),
        boot_catalog: PathBuf::from("isolinux/boot.cat"),
        ..iso_options()
    };
    got.push(("iso-eltorito", iso(&tree, &eltorito)));
    let bios_only = IsoOptions {
        bios_boot: Some(bios_boot(false, false)),
        ..iso_options()
    };
    got.push(("iso-bios-only", iso(&tree, &bios_only)));
    let mut template = noise(13, 432);
    template[100..104].copy_from_slice(b"GRUB");
    let grub_gpt = IsoOptions {
        joliet: true,
        bios_boot: Some(bios_boot(false, true)),
        efi_boot: Some(PathBuf::from("images/efiboot.img")),
        hybrid: Some(Hybrid {
            mbr_template: template.clone(),
            style: MbrStyle::detect(&template),
            gpt: true,
            append_efi: true,
        }),
        implant_md5: true,
        ..iso_options()
    };
    got.push(("iso-hybrid-grub-gpt", iso(&tree, &grub_gpt)));
    let isohdpfx = noise(14, 512);
    let isohybrid_mbr = IsoOptions {
        joliet: true,
        bios_boot: Some(bios_boot(true, false)),
        efi_boot: Some(PathBuf::from("images/efiboot.img")),
        hybrid: Some(Hybrid {
            mbr_template: isohdpfx,
            style: MbrStyle::Isohybrid,
            gpt: false,
            append_efi: true,
        }),
        implant_md5: true,
        ..iso_options()
    };
    got.push(("iso-hybrid-isohybrid-mbr", iso(&tree, &isohybrid_mbr)));
    let uefi_only = IsoOptions {
        efi_boot: Some(PathBuf::from("images/efiboot.img")),
        hybrid: Some(Hybrid {
            mbr_template: Vec::new(),
            style: MbrStyle::Grub2,
            gpt: true,
            append_efi: false,
        }),
        ..iso_options()
    };
    got.push(("iso-hybrid-uefi-only", iso(&tree, &uefi_only)));
    check(&got, ISO_HASHES);
}

/// A file past 4 GiB (multi-extent records), read from a sparse file on disk so the writer's
/// hole skipping runs too; the image goes to a (sparse) file.
#[test]
fn iso_with_a_multi_extent_file_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("huge");
    let size = (9u64 << 29) + 12_345; // 4.5 GiB and a bit
    {
        let mut f = File::create(&src).unwrap();
        f.write_all(&noise(50, 100_000)).unwrap();
        f.seek(SeekFrom::Start(0xFFFF_F800 - 50_000)).unwrap();
        f.write_all(&noise(51, 100_000)).unwrap();
        f.seek(SeekFrom::Start(size - 70_000)).unwrap();
        f.write_all(&noise(52, 70_000)).unwrap();
        f.set_len(size).unwrap();
    }
    let mut tree = FsTree::new(meta(0o755, EPOCH));
    add(&mut tree, "LiveOS", meta(0o755, EPOCH), Kind::Dir);
    add(
        &mut tree,
        "LiveOS/squashfs.img",
        meta(0o644, EPOCH),
        Kind::File {
            size,
            data: DataSource::Path(src),
        },
    );
    add(
        &mut tree,
        "README",
        meta(0o644, EPOCH),
        bytes(b"big\n".to_vec()),
    );
    let opts = IsoOptions {
        joliet: true,
        implant_md5: true,
        ..iso_options()
    };
    let mut out = tempfile::tempfile_in(dir.path()).unwrap();
    iso9660::write_iso(&tree, &opts, &mut out).unwrap();
    check(&[("iso-multi-extent", sha256_file(&mut out))], ISO_HASHES);
}

// Step 14 moved fragment block boundaries (content-defined, for the block store): every image
// with fragments changed; each new image was extracted with unsquashfs next to the one it
// replaced: the same listing (`-lln`) and the same file contents.
// Directories whose listing spans metadata blocks became extended inodes carrying a directory
// index (the kernel's lookups skipped a scan from the listing's start): those images changed
// again; write_squashfs's kernel round trip looks up each of 20,000 names in one directory.
const SQUASHFS_HASHES: &[(&str, &str)] = &[
    (
        "gzip",
        "0f6d0f7ee999c2c628653dc15082405c62e788c231451f9d417ae01e51aea9d1",
    ),
    (
        "gzip-window12",
        "e4c9383c0b9a706caa8968f16d82dfa29269826ec5e65b0eaa11583763ada1be",
    ),
    (
        "xz",
        "c27912e0cf5f0574370155e52cdbe335b5691d8a3a2240e37f36553344e12eb1",
    ),
    (
        "xz-bcj",
        "9417452905f26b4327ec19840a7219a4139bacdd2671a1faf62524fc69daba61",
    ),
    (
        "zstd",
        "803a8f94b88c53dc5e419fecca4efa5cec2cb8c26cbdf12bba8663125abe4529",
    ),
    (
        "lz4",
        "90144c76963550fe27029404069439023034474aefc7eb8db82cd797d324cd40",
    ),
    (
        "lz4-hc",
        "2042395720af169490ce572d389cd5b3da738598bcfdee811a26833000361b66",
    ),
    (
        "no-fragments-no-dedup-no-sparse-no-export",
        "9e9c92947f4ce8c7b07ac36373911b2e0a7cc968f91067fda958a9d2ab2fce0a",
    ),
    (
        "no-tail-packing-no-xattrs-all-root-4k",
        "6819eeef2a0faa481a212c9946bedb469692913b1b7c999518fd94564c783626",
    ),
    (
        "unclamped-1m-blocks",
        "62982ce951f7957a2025ba6c1b2825615631d49f4b63d820adc5d48b29fe108f",
    ),
];

fn squashfs_image(tree: &FsTree, opts: &squashfs::Options) -> String {
    let mut out = Cursor::new(Vec::new());
    squashfs::write(tree, &mut out, opts).unwrap();
    sha256(&out.into_inner())
}

#[test]
fn squashfs_images_are_unchanged() {
    let tree = sample_tree();
    let base = squashfs::Options {
        mkfs_time: EPOCH as u32,
        clamp_mtime: Some(EPOCH),
        threads: 2,
        ..squashfs::Options::default()
    };
    let mut got = Vec::new();
    let codecs: Vec<(&str, Codec)> = vec![
        ("gzip", Codec::by_name("gzip").unwrap()),
        (
            "gzip-window12",
            Codec::Gzip {
                level: 6,
                window: 12,
            },
        ),
        ("xz", Codec::by_name("xz").unwrap()),
        (
            "xz-bcj",
            Codec::Xz {
                dict_size: Some(1 << 16),
                filters: vec![Bcj::X86, Bcj::Arm],
                preset: 6,
                extreme: false,
            },
        ),
        ("zstd", Codec::by_name("zstd").unwrap()),
        ("lz4", Codec::by_name("lz4").unwrap()),
        ("lz4-hc", Codec::Lz4 { hc: true }),
    ];
    for (name, codec) in codecs {
        let opts = squashfs::Options {
            codec,
            ..base.clone()
        };
        got.push((name, squashfs_image(&tree, &opts)));
    }
    let zstd = || Codec::Zstd { level: 3 };
    let variants: Vec<(&str, squashfs::Options)> = vec![
        (
            "no-fragments-no-dedup-no-sparse-no-export",
            squashfs::Options {
                codec: zstd(),
                fragments: false,
                dedup: false,
                sparse: false,
                exportable: false,
                ..base.clone()
            },
        ),
        (
            "no-tail-packing-no-xattrs-all-root-4k",
            squashfs::Options {
                codec: zstd(),
                tail_packing: false,
                xattrs: false,
                all_root: true,
                block_size: 4096,
                ..base.clone()
            },
        ),
        (
            "unclamped-1m-blocks",
            squashfs::Options {
                codec: zstd(),
                clamp_mtime: None,
                block_size: 1 << 20,
                threads: 1,
                ..base.clone()
            },
        ),
    ];
    for (name, opts) in variants {
        got.push((name, squashfs_image(&tree, &opts)));
    }
    check(&got, SQUASHFS_HASHES);
}

const FAT_HASHES: &[(&str, &str)] = &[(
    "fat",
    "63ec98a1c50832e8b36ac2dbf2c2f2e92825325a1a676d0ba3234aa5455f7cff",
)];

#[test]
fn fat_image_is_unchanged() {
    let mut tree = efi_tree(vec![
        ("BOOTX64.EFI", noise(60, 900_000)),
        ("grubx64.efi", noise(61, 2_000_000)),
    ]);
    add(&mut tree, "EFI/BOOT/fonts", meta(0o755, EPOCH), Kind::Dir);
    for i in 0..30 {
        add(
            &mut tree,
            &format!("EFI/BOOT/fonts/Font Name Number {i}.pf2"),
            meta(0o644, EPOCH + i),
            bytes(noise(62 + i as u64 * 2, 3000)),
        );
    }
    let (img, _) = build_fat(
        &tree,
        &FatOptions {
            label: Some("efi".into()),
            serial: None,
            clamp_mtime: Some(EPOCH),
            extra_bytes: 100_000,
        },
    )
    .unwrap();
    check(&[("fat", sha256(&img))], FAT_HASHES);
}
