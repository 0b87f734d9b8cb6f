//! The image writers take a rootless root's sidecar (`ROOT.kiln-attrs`, [`kiln::attrs`]): the
//! owners, device nodes and xattrs the kernel refused an unprivileged build are in every image
//! of the root, read back with the reference tools, never with kiln's own readers.
//!
//! The root is fabricated as a rootless build leaves it: device nodes as empty mode-0
//! placeholders, owners and `security.*` xattrs only in the sidecar. Its twin (root only) has
//! the same files with real device nodes, owners and xattrs, as a root build leaves them.
//!
//! - `squashfs_lists_the_sidecar` (`unsquashfs -lln`), `erofs_dump_shows_the_sidecar`
//!   (`dump.erofs --path`): devices with their numbers, owners, modes, an xattr block.
//! - `kiln_write_takes_the_sidecar`: `kiln write squashfs|erofs ROOT` (the binary) after a
//!   rootless `kiln install --root ROOT`.
//! - `live_root_images_carry_the_sidecar`: the live root image of every `--rootfs-type`; the
//!   ext4 layouts' `LiveOS/rootfs.img` taken out with `unsquashfs`/`fsck.erofs --extract` and
//!   read with debugfs and `e2fsck -fn`.
//! - `ext4_images_carry_the_sidecar`: `mkfs.ext4 -d` then kiln's debugfs pass, whole image and
//!   at a disk's partition offset; `debugfs -R stat`/`ea_get` and `e2fsck -fn` (clean).
//! - `tar_carries_the_sidecar`: `--make-tar`'s archive, plain and gzip, listed by GNU tar
//!   (`tar -tvv --xattrs`) and its pax records read by Python's `tarfile` (xattr values).
//! - `images_equal_the_root_builds` (root): the squashfs and EROFS images of the rootless root
//!   are byte for byte those of its twin, their kernel mounts show the devices, owners and
//!   xattrs (`stat`, `getfattr`), GNU tar lists both archives alike, debugfs shows both ext4
//!   images' inodes alike.
//! - `refused_selinux_labels_go_to_the_sidecar` (root): `label_tree` in a user namespace where
//!   the kernel refuses the labels (EPERM: owners outside the namespace's map) records them in
//!   the sidecar, a device placeholder labelled as its device; as root they are on disk and no
//!   sidecar is written.
//!
//! The tests without "(root)" run as any user: an ordinary one runs them as root of a user
//! namespace (`unshare --map-root-user`), as a rootless kiln runs its writers.
//!
//! Needs squashfs-tools, erofs-utils, e2fsprogs, GNU tar, python3, attr (getfattr) and
//! util-linux (`unshare`, `mount`); a missing tool fails under `CI=true`.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{have, is_root, require};
use kiln::attrs::{AttrStore, Device};

const EPOCH: i64 = 1_700_000_000;
/// A v2 `security.capability`: cap_net_raw permitted (binary, with NULs).
const CAP: [u8; 20] = [
    1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];
const LABEL: &[u8] = b"system_u:object_r:ping_exec_t:s0\0";
const ROOT_LABEL: &[u8] = b"system_u:object_r:root_t:s0\0";
const LINK_LABEL: &[u8] = b"system_u:object_r:bin_t:s0\0";
const ODD: &str = "opt/a b/q\"x";

/// Whether this is root of the initial user namespace (device nodes, loop mounts).
fn real_root() -> bool {
    is_root()
        && std::fs::read_to_string("/proc/self/uid_map")
            .is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
}

/// Run the writers as a rootless kiln does: as root of a user namespace, which reads the
/// root's mode-0 files (placeholders, /etc/shadow) as an ordinary user cannot. True when the
/// caller goes on (it is root); otherwise the test `name` was run in a namespace (`unshare`).
fn as_namespace_root(name: &str) -> bool {
    if is_root() {
        return true;
    }
    if tools(&["unshare"]) {
        run(Command::new("unshare")
            .args(["--user", "--map-root-user"])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", name, "--test-threads=1"]));
    }
    false
}

fn tools(list: &[&str]) -> bool {
    require(
        list.iter().all(|t| have(t)),
        &format!("needs {}", list.join(", ")),
    )
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// The files of both roots; `real`: device nodes, owners and xattrs on disk (a root build),
/// else placeholders and the sidecar (a rootless build).
fn populate(root: &Path, real: bool) {
    for d in ["dev", "usr/bin", "var/lib/chrony", "srv", "opt/a b", "etc"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let files: [(&str, &str, u32); 5] = [
        ("usr/bin/ping", "ping\n", 0o755),
        ("usr/bin/hl1", "linked\n", 0o4755),
        ("srv/big", "big\n", 0o644),
        (ODD, "odd\n", 0o640),
        ("etc/shadow", "root:!::0:99999:7:::\n", 0),
    ];
    for (p, text, mode) in files {
        std::fs::write(root.join(p), text).unwrap();
        std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    std::fs::hard_link(root.join("usr/bin/hl1"), root.join("usr/bin/hl2")).unwrap();
    std::os::unix::fs::symlink("ping", root.join("usr/bin/link")).unwrap();
    let owners: [(&str, u32, u32); 7] = [
        ("usr/bin/link", 0, 4243),
        ("dev/console", 0, 5),
        ("dev/sda", 0, 6),
        ("usr/bin/hl1", 0, 4242),
        ("var/lib/chrony", 995, 993),
        ("srv/big", 3_000_000, 3_000_001),
        (ODD, 0, 4242),
    ];
    if real {
        run(Command::new("mknod")
            .args(["-m", "600"])
            .arg(root.join("dev/console"))
            .args(["c", "5", "1"]));
        run(Command::new("mknod")
            .args(["-m", "660"])
            .arg(root.join("dev/sda"))
            .args(["b", "8", "0"]));
        for (p, uid, gid) in owners {
            std::os::unix::fs::lchown(root.join(p), Some(uid), Some(gid)).unwrap();
        }
        run(Command::new("setfattr")
            .args([
                "-n",
                "security.selinux",
                "-v",
                &format!("0x{}", hex(ROOT_LABEL)),
            ])
            .arg(root));
        // A symlink's own label, not its target's.
        run(Command::new("setfattr")
            .args([
                "-h",
                "-n",
                "security.selinux",
                "-v",
                &format!("0x{}", hex(LINK_LABEL)),
            ])
            .arg(root.join("usr/bin/link")));
        // A hard-linked file's label (GNU tar writes it with the first name only).
        run(Command::new("setfattr")
            .args([
                "-n",
                "security.selinux",
                "-v",
                &format!("0x{}", hex(ROOT_LABEL)),
            ])
            .arg(root.join("usr/bin/hl1")));
        for (name, value) in [
            ("security.capability", &CAP[..]),
            ("security.selinux", LABEL),
        ] {
            run(Command::new("setfattr")
                .args(["-n", name, "-v", &format!("0x{}", hex(value))])
                .arg(root.join("usr/bin/ping")));
        }
        // chown clears the setuid bit.
        std::fs::set_permissions(
            root.join("usr/bin/hl1"),
            std::fs::Permissions::from_mode(0o4755),
        )
        .unwrap();
    } else {
        for p in ["dev/console", "dev/sda"] {
            std::fs::write(root.join(p), b"").unwrap();
            std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(0o0)).unwrap();
        }
        let mut store = AttrStore::default();
        let abs = |p: &str| PathBuf::from("/").join(p);
        store.set_device(
            &abs("dev/console"),
            Device::Char { major: 5, minor: 1 },
            0o600,
        );
        store.set_device(&abs("dev/sda"), Device::Block { major: 8, minor: 0 }, 0o660);
        for (p, uid, gid) in owners {
            store.set_owner(&abs(p), uid, gid);
        }
        store.set_xattr(&abs("usr/bin/ping"), "security.capability", &CAP);
        store.set_xattr(&abs("usr/bin/ping"), "security.selinux", LABEL);
        store.set_xattr(Path::new("/"), "security.selinux", ROOT_LABEL);
        store.set_xattr(&abs("usr/bin/hl2"), "security.selinux", ROOT_LABEL);
        store.set_xattr(&abs("usr/bin/link"), "security.selinux", LINK_LABEL);
        // Removed after it was recorded: skipped.
        store.set_xattr(&abs("gone"), "security.selinux", b"x\0");
        store.save(root).unwrap();
    }
    // The same times in both roots (directories last touched by the files above).
    run(Command::new("find").arg(root).args([
        "-exec",
        "touch",
        "-h",
        "-d",
        &format!("@{EPOCH}"),
        "{}",
        "+",
    ]));
}

/// A rootless root (`DIR/root` and `DIR/root.kiln-attrs`), and its twin when `twin`.
fn roots(twin: bool) -> (tempfile::TempDir, PathBuf, Option<PathBuf>) {
    let dir = scratch();
    let root = dir.path().join("root");
    populate(&root, false);
    let twin = twin.then(|| {
        let t = dir.path().join("twin");
        populate(&t, true);
        t
    });
    (dir, root, twin)
}

/// `unsquashfs -lln` lines by path (`r/dev/console`): the whitespace-split fields.
fn unsquashfs_list(img: &Path) -> BTreeMap<String, Vec<String>> {
    let out = run(Command::new("unsquashfs")
        .args(["-lln", "-d", "r"])
        .arg(img));
    out.lines()
        .filter_map(|l| {
            let f: Vec<String> = l.split_whitespace().map(str::to_owned).collect();
            let name = l.find(" r/").map(|i| l[i + 1..].to_owned())?;
            Some((name, f))
        })
        .collect()
}

#[test]
fn squashfs_lists_the_sidecar() {
    if !as_namespace_root("squashfs_lists_the_sidecar") {
        return;
    }
    if !tools(&["unsquashfs"]) {
        return;
    }
    let (dir, root, _) = roots(false);
    let img = dir.path().join("root.sqfs");
    kiln::media::write_squashfs_dir(&root, &img, true, &Default::default()).unwrap();
    let list = unsquashfs_list(&img);
    let get = |p: &str| {
        list.get(&format!("r/{p}"))
            .unwrap_or_else(|| panic!("r/{p} not in {list:#?}"))
            .clone()
    };
    let console = get("dev/console");
    assert_eq!(
        &console[..4],
        ["crw-------", "0/5", "5,", "1"],
        "{console:?}"
    );
    let sda = get("dev/sda");
    assert_eq!(&sda[..4], ["brw-rw----", "0/6", "8,", "0"], "{sda:?}");
    assert_eq!(get("usr/bin/hl1")[1], "0/4242");
    // The other name of the hard-linked file is the same inode.
    assert_eq!(get("usr/bin/hl2")[1], "0/4242");
    assert_eq!(get("usr/bin/hl2")[0], "-rwsr-xr-x");
    assert_eq!(get("var/lib/chrony")[..2], ["drwxr-xr-x", "995/993"]);
    assert_eq!(get("srv/big")[1], "3000000/3000001");
    // The name with a space is split by the listing; its owner field comes first.
    let odd = list
        .iter()
        .find(|(k, _)| k.ends_with("q\"x"))
        .expect("the odd name")
        .1;
    assert_eq!(odd[..2], ["-rw-r-----", "0/4242"]);
    assert_eq!(get("etc/shadow")[0], "----------");
}

/// The devices' lines of an image's `unsquashfs -lln`.
fn squashfs_devices(img: &Path) -> Vec<Vec<String>> {
    let list = unsquashfs_list(img);
    ["r/dev/console", "r/dev/sda"]
        .iter()
        .map(|p| list.get(*p).map_or_else(Vec::new, |f| f[..4].to_vec()))
        .collect()
}

const DEVICES: [[&str; 4]; 2] = [
    ["crw-------", "0/5", "5,", "1"],
    ["brw-rw----", "0/6", "8,", "0"],
];

#[test]
fn kiln_write_takes_the_sidecar() {
    if !as_namespace_root("kiln_write_takes_the_sidecar") {
        return;
    }
    if !tools(&["unsquashfs", "dump.erofs"]) {
        return;
    }
    let (dir, root, _) = roots(false);
    let sq = dir.path().join("cli.sqfs");
    let er = dir.path().join("cli.erofs");
    for (kind, img) in [("squashfs", &sq), ("erofs", &er)] {
        run(Command::new(env!("CARGO_BIN_EXE_kiln"))
            .env("NO_COLOR", "1")
            .args(["write", kind])
            .arg(&root)
            .arg(img));
    }
    assert_eq!(squashfs_devices(&sq), DEVICES);
    let console = run(Command::new("dump.erofs")
        .arg("--path=/dev/console")
        .arg(&er));
    assert!(
        console.contains("char dev") && console.contains("Gid: 5"),
        "{console}"
    );
}

/// The live root image of each `--rootfs-type` (the ext4 layouts through `mkfs.ext4 -d` and
/// kiln's debugfs pass inside the squashfs or EROFS image).
#[test]
fn live_root_images_carry_the_sidecar() {
    if !as_namespace_root("live_root_images_carry_the_sidecar") {
        return;
    }
    if !tools(&[
        "unsquashfs",
        "dump.erofs",
        "fsck.erofs",
        "debugfs",
        "e2fsck",
    ]) {
        return;
    }
    use kiln::media::live::RootImage;
    use kiln::media::RootfsType;
    let (dir, root, _) = roots(false);
    for rootfs_type in RootfsType::ALL {
        let base = dir.path().join(rootfs_type.name());
        let (media, work) = (base.join("iso"), base.join("work"));
        std::fs::create_dir_all(&work).unwrap();
        let image = RootImage {
            squashfs: Default::default(),
            rootfs_type,
            erofs: Default::default(),
            rootfs_size_mb: 64,
            label: "kiln-live".into(),
            source_date_epoch: Some(EPOCH),
        };
        let written = image.write(&root, &media, &work).unwrap();
        let ext4 = match rootfs_type {
            RootfsType::Squashfs => {
                assert_eq!(squashfs_devices(&written.path), DEVICES);
                continue;
            }
            RootfsType::Erofs => {
                let console = run(Command::new("dump.erofs")
                    .arg("--path=/dev/console")
                    .arg(&written.path));
                assert!(console.contains("char dev"), "{console}");
                assert!(
                    console.contains("Uid: 0   Gid: 5  Access: 0600"),
                    "{console}"
                );
                continue;
            }
            RootfsType::SquashfsExt4 => {
                let x = base.join("x");
                run(Command::new("unsquashfs")
                    .arg("-d")
                    .arg(&x)
                    .arg(&written.path)
                    .arg("LiveOS/rootfs.img"));
                x.join("LiveOS/rootfs.img")
            }
            RootfsType::ErofsExt4 => {
                let x = base.join("x");
                run(Command::new("fsck.erofs")
                    .arg(format!("--extract={}", x.display()))
                    .arg(&written.path));
                x.join("LiveOS/rootfs.img")
            }
        };
        let ext4 = ext4.display().to_string();
        run(Command::new("e2fsck").args(["-fn", &ext4]));
        let console = debugfs(&ext4, "stat /dev/console");
        assert!(
            console.contains("Type: character special    Mode:  0600")
                && console.contains("Group:     5")
                && console.contains("Device major/minor number: 05:01"),
            "{}: {console}",
            rootfs_type.name()
        );
        assert_eq!(
            ea_get(&ext4, "/usr/bin/ping", "security.capability", &base),
            CAP
        );
    }
}

#[test]
fn erofs_dump_shows_the_sidecar() {
    if !as_namespace_root("erofs_dump_shows_the_sidecar") {
        return;
    }
    if !tools(&["dump.erofs", "fsck.erofs"]) {
        return;
    }
    let (dir, root, _) = roots(false);
    let img = dir.path().join("root.erofs");
    let opts = kiln::media::ErofsOptions {
        mkfs_time: EPOCH as u64,
        ..Default::default()
    };
    kiln::media::write_erofs_dir(&root, &img, &opts).unwrap();
    run(Command::new("fsck.erofs").arg(&img));
    let dump = |p: &str| {
        run(Command::new("dump.erofs")
            .arg(format!("--path={p}"))
            .arg(&img))
    };
    let console = dump("/dev/console");
    assert!(console.contains("char dev"), "{console}");
    assert!(
        console.contains("Uid: 0   Gid: 5  Access: 0600/rw-------"),
        "{console}"
    );
    let sda = dump("/dev/sda");
    assert!(sda.contains("block dev"), "{sda}");
    assert!(sda.contains("Uid: 0   Gid: 6  Access: 0660"), "{sda}");
    let chrony = dump("/var/lib/chrony");
    assert!(chrony.contains("Uid: 995   Gid: 993"), "{chrony}");
    let big = dump("/srv/big");
    assert!(big.contains("Uid: 3000000   Gid: 3000001"), "{big}");
    // (dump.erofs 1.5 prints the permission bits without setuid: the kernel mount of
    // `images_equal_the_root_builds` checks those.)
    let hl2 = dump("/usr/bin/hl2");
    assert!(hl2.contains("Uid: 0   Gid: 4242  Access: "), "{hl2}");
    let ping = dump("/usr/bin/ping");
    let xattr_size = ping
        .split("Xattr size: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("{ping}"));
    assert!(xattr_size > 0, "{ping}");
    // The device numbers: fsck.erofs (root) makes the nodes it reads.
    if real_root() {
        let out = dir.path().join("x");
        run(Command::new("fsck.erofs")
            .arg(format!("--extract={}", out.display()))
            .arg("--preserve")
            .arg(&img));
        let st = run(Command::new("stat")
            .args(["-c", "%F %t:%T %a %u:%g"])
            .arg(out.join("dev/console"))
            .arg(out.join("dev/sda")));
        assert_eq!(
            st,
            "character special file 5:1 600 0:5\nblock special file 8:0 660 0:6\n"
        );
    }
}

/// `debugfs -R CMD IMG` (stdout).
fn debugfs(img: &str, cmd: &str) -> String {
    run(Command::new("debugfs").args(["-R", cmd, img]))
}

/// What `debugfs stat` says of a path, without what differs between any two images (inode
/// number, checksum, ctime and crtime: mkfs' clock; atime) or between mkfs' placement and
/// debugfs' (the block of xattrs that do not fit in the inode, `File ACL`, which moves the
/// data blocks allocated after it: `EXTENTS`).
fn inode_summary(img: &str, path: &str) -> String {
    debugfs(img, &format!("stat \"{path}\""))
        .lines()
        // Where mkfs and debugfs put file data differs once debugfs allocated a block.
        .take_while(|l| !l.starts_with("EXTENTS:"))
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("Inode checksum")
                || t.starts_with("ctime")
                || t.starts_with("crtime")
                || t.starts_with("atime")
                || t.starts_with("File ACL"))
        })
        .map(|l| match l.find("Type:") {
            // The inode number leads the line of the type and mode.
            Some(i) if l.starts_with("Inode:") => l[i..].to_owned(),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ea_get(img: &str, path: &str, name: &str, scratch: &Path) -> Vec<u8> {
    let out = scratch.join("ea");
    let _ = std::fs::remove_file(&out);
    debugfs(
        img,
        &format!("ea_get -f {} \"{path}\" {name}", out.display()),
    );
    std::fs::read(&out).unwrap_or_default()
}

#[test]
fn ext4_images_carry_the_sidecar() {
    if !as_namespace_root("ext4_images_carry_the_sidecar") {
        return;
    }
    if !tools(&["mkfs.ext4", "debugfs", "e2fsck"]) {
        return;
    }
    let (dir, root, _) = roots(false);
    for offset in [0u64, 1 << 20] {
        let img = dir.path().join(format!("root-{offset}.img"));
        kiln::media::disk::mkfs_ext4(&root, &img, offset, 64 << 20, "kiln", None, Some(EPOCH))
            .unwrap();
        let spec = if offset == 0 {
            img.display().to_string()
        } else {
            format!("{}?offset={offset}", img.display())
        };
        run(Command::new("e2fsck").args(["-fn", &spec]));
        let console = debugfs(&spec, "stat /dev/console");
        for want in [
            "Type: character special    Mode:  0600",
            "User:     0   Group:     5",
            "Device major/minor number: 05:01",
            "mtime: 0x6553f100",
        ] {
            assert!(console.contains(want), "{want} in {console}");
        }
        let sda = debugfs(&spec, "stat /dev/sda");
        for want in [
            "Type: block special    Mode:  0660",
            "Group:     6",
            "Device major/minor number: 08:00",
        ] {
            assert!(sda.contains(want), "{want} in {sda}");
        }
        let owners = [
            ("/usr/bin/hl2", "User:     0   Group:  4242", "Mode:  04755"),
            (
                "/var/lib/chrony",
                "User:   995   Group:   993",
                "Mode:  0755",
            ),
            ("/srv/big", "User: 3000000   Group: 3000001", "Mode:  0644"),
            ("/opt/a b/q\"x", "Group:  4242", "Mode:  0640"),
        ];
        for (path, owner, mode) in owners {
            let quoted = path.replace('"', "\"\"");
            let st = debugfs(&spec, &format!("stat \"{quoted}\""));
            assert!(st.contains(owner) && st.contains(mode), "{path}: {st}");
        }
        assert_eq!(
            ea_get(&spec, "/usr/bin/ping", "security.capability", dir.path()),
            CAP
        );
        // The symlink itself, not its target.
        let link = debugfs(&spec, "stat /usr/bin/link");
        assert!(
            link.contains("Type: symlink") && link.contains("Group:  4243"),
            "{link}"
        );
        assert_eq!(
            ea_get(&spec, "/usr/bin/link", "security.selinux", dir.path()),
            LINK_LABEL
        );
        assert_eq!(
            ea_get(&spec, "/usr/bin/ping", "security.selinux", dir.path()),
            LABEL
        );
    }
}

/// `tar -tvv --xattrs` of an archive: the member lines and the xattr lines under them.
fn tar_list(archive: &Path) -> String {
    run(Command::new("tar")
        .args([
            "-tvv",
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=*",
            "-f",
        ])
        .arg(archive))
}

/// Python's tarfile (a reader independent of GNU tar): `name type uid gid mode major minor
/// xattr=hex...` per member.
fn tarfile_list(archive: &Path) -> String {
    let script = r#"
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    for m in t.getmembers():
        xs = sorted((k[len("SCHILY.xattr."):], v.encode("utf-8", "surrogateescape").hex())
                    for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr."))
        print(m.name, m.type.decode(), m.uid, m.gid, oct(m.mode), m.devmajor, m.devminor,
              " ".join(f"{k}={v}" for k, v in xs))
"#;
    run(Command::new("python3").arg("-c").arg(script).arg(archive))
}

#[test]
fn tar_carries_the_sidecar() {
    if !as_namespace_root("tar_carries_the_sidecar") {
        return;
    }
    if !tools(&["tar", "python3", "gzip"]) {
        return;
    }
    let (dir, root, _) = roots(false);
    let plain = dir.path().join("root.tar");
    let gz = dir.path().join("root.tar.gz");
    kiln::media::disk::make_tar(&root, &plain, "").unwrap();
    kiln::media::disk::make_tar(&root, &gz, "gzip").unwrap();
    // GNU tar's record length, as it writes archives itself.
    assert_eq!(std::fs::metadata(&plain).unwrap().len() % 10240, 0);
    // (Not the same bytes: GNU tar's pax records hold the atimes its first run changed.)
    let list = tar_list(&plain);
    assert_eq!(list, tar_list(&gz));
    let line = |name: &str| {
        list.lines()
            .find(|l| l.ends_with(&format!(" ./{name}")))
            .unwrap_or_else(|| panic!("{name} in {list}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(&line("dev/console")[..3], ["crw-------", "0/5", "5,1"]);
    assert_eq!(&line("dev/sda")[..3], ["brw-rw----", "0/6", "8,0"]);
    // The hard-linked file: its first name in GNU tar's (directory) order with the data, the
    // other a link to it, both with the owner recorded for one of them.
    let hl: Vec<&str> = list.lines().filter(|l| l.contains("/usr/bin/hl")).collect();
    assert_eq!(hl.len(), 2, "{list}");
    let fields = |l: &str| l.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    // The first name carries the label (`*`), the link only the owner and mode.
    assert_eq!(fields(hl[0]), "-rwsr-xr-x* 0/4242", "{list}");
    assert_eq!(fields(hl[1]), "hrwsr-xr-x 0/4242", "{list}");
    assert!(hl[1].contains(" link to "), "{list}");
    assert_eq!(&line("var/lib/chrony/")[..2], ["drwxr-xr-x", "995/993"]);
    assert_eq!(line("srv/big")[1], "3000000/3000001");
    let ping_at = list
        .lines()
        .position(|l| l.ends_with(" ./usr/bin/ping"))
        .unwrap();
    let xattrs: Vec<&str> = list.lines().skip(ping_at + 1).take(2).collect();
    assert_eq!(
        xattrs,
        [
            "  x: 20 security.capability",
            &format!("  x: {} security.selinux", LABEL.len())
        ],
        "{list}"
    );
    let py = tarfile_list(&plain);
    let member = |name: &str| {
        py.lines()
            .find(|l| l.starts_with(&format!("./{name} ")))
            .unwrap_or_else(|| panic!("{name} in {py}"))
            .to_owned()
    };
    assert_eq!(
        member("dev/console").trim(),
        "./dev/console 3 0 5 0o600 5 1"
    );
    assert_eq!(member("dev/sda").trim(), "./dev/sda 4 0 6 0o660 8 0");
    assert_eq!(
        member("usr/bin/ping").trim(),
        format!(
            "./usr/bin/ping 0 0 0 0o755 0 0 security.capability={} security.selinux={}",
            hex(&CAP),
            hex(LABEL)
        )
    );
    assert!(member("srv/big").starts_with("./srv/big 0 3000000 3000001 "));
    assert!(member(ODD).starts_with(&format!("./{ODD} 0 0 4242 0o640")));
}

/// Runs `sh -c script` in a private mount namespace (no mount outlives it).
fn in_mount_ns(script: &str, args: &[&Path]) -> String {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-ec",
        script,
        "sh",
    ]);
    cmd.args(args);
    run(&mut cmd)
}

/// The devices, owners and ping's xattrs of a mounted image, as the kernel shows them.
fn mounted_view(img: &Path, fstype: &str, mnt: &Path) -> String {
    std::fs::create_dir_all(mnt).unwrap();
    in_mount_ns(
        &format!(
            "mount -t {fstype} -o loop,ro \"$1\" \"$2\"; cd \"$2\"; \
             stat -c '%n %F %t:%T %a %u:%g' dev/console dev/sda usr/bin/hl1 usr/bin/hl2 usr/bin/link \
             var/lib/chrony srv/big 'opt/a b/q\"x' etc/shadow; \
             getfattr -h -d -m - -e hex usr/bin/ping usr/bin/link .; cd /"
        ),
        &[img, mnt],
    )
}

#[test]
fn images_equal_the_root_builds() {
    if !require(
        real_root(),
        "needs root (device nodes, owners, loop mounts)",
    ) || !tools(&[
        "unsquashfs",
        "mkfs.ext4",
        "debugfs",
        "tar",
        "getfattr",
        "setfattr",
        "unshare",
    ]) {
        return;
    }
    let (dir, root, twin) = roots(true);
    let twin = twin.unwrap();
    let d = dir.path();
    // Squashfs: the same bytes, and the kernel reads the sidecar's attributes back.
    let (sq, sq_twin) = (d.join("root.sqfs"), d.join("twin.sqfs"));
    let sq_opts = kiln::media::SquashfsOptions {
        mkfs_time: EPOCH as u32,
        ..Default::default()
    };
    kiln::media::write_squashfs_dir(&root, &sq, true, &sq_opts).unwrap();
    kiln::media::write_squashfs_dir(&twin, &sq_twin, true, &sq_opts).unwrap();
    let view = mounted_view(&sq, "squashfs", &d.join("mnt"));
    let expected_view = format!(
        "dev/console character special file 5:1 600 0:5\n\
         dev/sda block special file 8:0 660 0:6\n\
         usr/bin/hl1 regular file 0:0 4755 0:4242\n\
         usr/bin/hl2 regular file 0:0 4755 0:4242\n\
         usr/bin/link symbolic link 0:0 777 0:4243\n\
         var/lib/chrony directory 0:0 755 995:993\n\
         srv/big regular file 0:0 644 3000000:3000001\n\
         opt/a b/q\"x regular file 0:0 640 0:4242\n\
         etc/shadow regular file 0:0 0 0:0\n\
         # file: usr/bin/ping\n\
         security.capability=0x{}\n\
         security.selinux=0x{}\n\n\
         # file: usr/bin/link\n\
         security.selinux=0x{}\n\n\
         # file: .\n\
         security.selinux=0x{}\n\n",
        hex(&CAP),
        hex(LABEL),
        hex(LINK_LABEL),
        hex(ROOT_LABEL)
    );
    assert_eq!(view, expected_view);
    assert_eq!(view, mounted_view(&sq_twin, "squashfs", &d.join("mnt")));
    assert!(
        std::fs::read(&sq).unwrap() == std::fs::read(&sq_twin).unwrap(),
        "the squashfs images differ"
    );
    // EROFS: the same.
    let (er, er_twin) = (d.join("root.erofs"), d.join("twin.erofs"));
    let er_opts = kiln::media::ErofsOptions {
        mkfs_time: EPOCH as u64,
        uuid: Some([7; 16]),
        ..Default::default()
    };
    kiln::media::write_erofs_dir(&root, &er, &er_opts).unwrap();
    kiln::media::write_erofs_dir(&twin, &er_twin, &er_opts).unwrap();
    assert_eq!(mounted_view(&er, "erofs", &d.join("mnt")), expected_view);
    assert!(
        std::fs::read(&er).unwrap() == std::fs::read(&er_twin).unwrap(),
        "the EROFS images differ"
    );
    // ext4: debugfs shows the same inodes (but for mkfs' clock and inode numbers).
    let (e4, e4_twin) = (d.join("root.img"), d.join("twin.img"));
    for (r, img) in [(&root, &e4), (&twin, &e4_twin)] {
        kiln::media::disk::mkfs_ext4(r, img, 0, 64 << 20, "kiln", None, Some(EPOCH)).unwrap();
    }
    let (e4, e4_twin) = (e4.display().to_string(), e4_twin.display().to_string());
    for path in [
        "/",
        "/dev/console",
        "/dev/sda",
        "/usr/bin/ping",
        "/usr/bin/hl1",
        "/usr/bin/hl2",
        "/usr/bin/link",
        "/var/lib/chrony",
        "/srv/big",
        "/opt/a b/q\"\"x",
        "/etc/shadow",
    ] {
        assert_eq!(
            inode_summary(&e4, path),
            inode_summary(&e4_twin, path),
            "{path}"
        );
    }
    // tar: GNU tar lists both archives alike.
    let (t, t_twin) = (d.join("root.tar"), d.join("twin.tar"));
    kiln::media::disk::make_tar(&root, &t, "").unwrap();
    kiln::media::disk::make_tar(&twin, &t_twin, "").unwrap();
    assert!(!AttrStore::sidecar(&twin).exists());
    assert_eq!(tar_list(&t), tar_list(&t_twin));
}

/// The file contexts of the labelling test: devices by type, everything else one label.
const FILE_CONTEXTS: &str = "\
/.*\tsystem_u:object_r:default_t:s0
/dev(/.*)?\tsystem_u:object_r:device_t:s0
/dev/console\t-c\tsystem_u:object_r:console_device_t:s0
/usr/bin/ping\t--\tsystem_u:object_r:ping_exec_t:s0
";

const CHILD_ENV: &str = "KILN_TEST_LABEL_ROOT";

/// The part of `refused_selinux_labels_go_to_the_sidecar` inside the user namespace.
#[test]
#[ignore = "run by refused_selinux_labels_go_to_the_sidecar"]
fn label_in_user_namespace() {
    let Some(root) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let root = PathBuf::from(root);
    let fc = fc_of(&root);
    kiln::configure::selinux_label::label_tree(&root, &fc).unwrap();
}

fn fc_of(root: &Path) -> kiln::configure::selinux_label::FileContexts {
    let file = root.with_extension("fc");
    std::fs::write(&file, FILE_CONTEXTS).unwrap();
    kiln::configure::selinux_label::FileContexts::from_file(&file).unwrap()
}

fn label_on_disk(path: &Path) -> Option<Vec<u8>> {
    let out = Command::new("getfattr")
        .args(["-h", "--only-values", "-n", "security.selinux"])
        .arg(path)
        .output()
        .unwrap();
    out.status.success().then_some(out.stdout)
}

#[test]
fn refused_selinux_labels_go_to_the_sidecar() {
    if !require(
        real_root(),
        "needs root (owners outside the namespace's map)",
    ) || !tools(&["unshare", "getfattr"])
    {
        return;
    }
    let (dir, root, _) = roots(false);
    // As root: the labels on disk, no sidecar beyond the build's.
    let copy = dir.path().join("copy");
    run(Command::new("cp").arg("-a").arg(&root).arg(&copy));
    kiln::configure::selinux_label::label_tree(&copy, &fc_of(&copy)).unwrap();
    assert!(!AttrStore::sidecar(&copy).exists());
    assert_eq!(
        label_on_disk(&copy.join("usr/bin/ping")).as_deref(),
        Some(LABEL)
    );
    // In a user namespace mapping only root: files owned by 1234 cannot take xattrs there.
    run(Command::new("chown").args(["-hR", "1234:1234"]).arg(&root));
    let before = AttrStore::load(&root).unwrap();
    run(Command::new("unshare")
        .args(["--user", "--map-root-user"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "label_in_user_namespace",
            "--ignored",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &root));
    assert_eq!(label_on_disk(&root.join("usr/bin/ping")), None);
    let after = AttrStore::load(&root).unwrap();
    let label = |p: &str| {
        after
            .get(Path::new(p))
            .and_then(|a| a.xattrs.get("security.selinux"))
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    assert_eq!(
        label("/usr/bin/ping").as_deref(),
        Some("system_u:object_r:ping_exec_t:s0\0")
    );
    // The placeholder is labelled as the character device it stands for.
    assert_eq!(
        label("/dev/console").as_deref(),
        Some("system_u:object_r:console_device_t:s0\0")
    );
    assert_eq!(
        label("/dev/sda").as_deref(),
        Some("system_u:object_r:device_t:s0\0")
    );
    assert_eq!(
        label("/").as_deref(),
        Some("system_u:object_r:default_t:s0\0")
    );
    // What the build recorded before is kept.
    let console = after.get(Path::new("/dev/console")).unwrap();
    assert_eq!(
        console.device,
        before.get(Path::new("/dev/console")).unwrap().device
    );
    assert_eq!(
        after.get(Path::new("/usr/bin/ping")).unwrap().xattrs["security.capability"],
        CAP
    );
}
