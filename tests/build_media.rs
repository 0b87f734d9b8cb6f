//! The other outputs of one `kiln build` of the live-x86_64 fixture: `--make-pxe-live`,
//! `--make-netroot`, `--make-disk --qcow2`, `--make-fsimage`, `--make-tar` and `--keep-image`
//! beside the ISO, plus `kiln iso-to-pxeboot` and `kiln iso-to-netroot` on the built ISO and a
//! `--disk-image` rebuild from the disk (no install). Checked by reference
//! tools (qemu-img check, sgdisk -v, fsck.fat -n, e2fsck -fn, debugfs, tar vs unsquashfs
//! listings, nbd-server + qemu-img compare) and booted with `kiln boot-test` under TCG: the PXE
//! tree from qemu's TFTP (BIOS pxelinux), the disk with UEFI (OVMF), and the netroot tree
//! with nbd-server on 127.0.0.1 when the fixture has dracut-network and nbd-client. Afterwards
//! no nbd-server, mount or loop device of the test is left.
//!
//! Needs root, the fixtures, qemu-system-x86, OVMF, qemu-utils, nbd-server, pxelinux,
//! gdisk, dosfstools, mtools, e2fsprogs, squashfs-tools, xorriso. One build, two or three
//! boots: several minutes under TCG.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run_ok, Built};

const LABEL: &str = "KILN-MEDIA";

/// The fixture repository has what netroot needs in the initramfs.
fn fixture_has_netroot(fx: &Path) -> bool {
    std::fs::read_dir(fx.join("live-x86_64/Packages"))
        .map(|rd| {
            let names: Vec<String> = rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            [
                "nbd-client-",
                "dracut-network-",
                "isc-dhcp-client-",
                "iputils-arping-",
            ]
            .iter()
            .all(|p| names.iter().any(|n| n.starts_with(p)))
        })
        .unwrap_or(false)
}

fn boot(b: &Built, what: &str, target: &Path, firmware: &str, attach: &str) {
    let log = b.work.join(format!("serial-{what}.log"));
    common::boot_fixture(what, target, firmware, attach, 1200, &log, b.packages);
}

/// `sgdisk -i N` of partition `n`: (first byte, length in bytes).
fn partition(disk: &Path, n: u32) -> (u64, u64) {
    let info = run_ok(Command::new("sgdisk").arg(format!("-i{n}")).arg(disk));
    let sector = |key: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no `{key}` in sgdisk -i{n}:\n{info}"))
    };
    let (first, last) = (sector("First sector: "), sector("Last sector: "));
    (first * 512, (last - first + 1) * 512)
}

/// Copy `len` bytes at `off` of `disk` into `out` (sparse: holes stay holes).
fn cut(disk: &Path, off: u64, len: u64, out: &Path) {
    const MIB: u64 = 1 << 20;
    assert!(
        off % MIB == 0 && len % MIB == 0,
        "partitions are MiB-aligned"
    );
    run_ok(
        Command::new("dd")
            .arg(format!("if={}", disk.display()))
            .arg(format!("of={}", out.display()))
            .args(["bs=1M", "conv=sparse", "status=none"])
            .arg(format!("skip={}", off / MIB))
            .arg(format!("count={}", len / MIB)),
    );
}

fn check_disk(b: &Built) {
    let out = b.work.join("out");
    let q = out.join(format!("{LABEL}-disk.qcow2"));
    let check = run_ok(Command::new("qemu-img").arg("check").arg(&q));
    assert!(check.contains("No errors were found"), "{check}");
    let raw = b.work.join("disk.raw");
    run_ok(
        Command::new("qemu-img")
            .args(["convert", "-O", "raw"])
            .arg(&q)
            .arg(&raw),
    );
    let v = run_ok(Command::new("sgdisk").arg("-v").arg(&raw));
    assert!(v.contains("No problems found"), "sgdisk -v: {v}");
    let (esp_off, esp_len) = partition(&raw, 1);
    let (root_off, root_len) = partition(&raw, 2);
    assert!(esp_off >= 1 << 20 && root_off >= esp_off + esp_len);
    let esp = b.work.join("esp.img");
    cut(&raw, esp_off, esp_len, &esp);
    run_ok(Command::new("fsck.fat").arg("-n").arg(&esp));
    let dir = run_ok(
        Command::new("mdir")
            .args(["-b", "-/", "-i"])
            .arg(&esp)
            .arg("::/"),
    );
    for f in [
        "::/EFI/BOOT/BOOTX64.EFI",
        "::/EFI/BOOT/grub.cfg",
        "::/vmlinuz",
        "::/initrd.img",
    ] {
        assert!(
            dir.lines().any(|l| l.trim() == f),
            "{f} not on the ESP:\n{dir}"
        );
    }
    let root = b.work.join("root.img");
    cut(&raw, root_off, root_len, &root);
    run_ok(Command::new("e2fsck").args(["-f", "-n"]).arg(&root));
    let marker = run_ok(
        Command::new("debugfs")
            .args(["-R", "cat /etc/kiln-fixture"])
            .arg(&root),
    );
    assert!(marker.contains("kiln fixture live image built"), "{marker}");
    // The root UUID the boot menu names is the file system's.
    let cfg = run_ok(
        Command::new("mtype")
            .arg("-i")
            .arg(&esp)
            .arg("::/EFI/BOOT/grub.cfg"),
    );
    let uuid = run_ok(
        Command::new("blkid")
            .args(["-s", "UUID", "-o", "value"])
            .arg(&root),
    );
    assert!(
        cfg.contains(&format!("root=UUID={}", uuid.trim())),
        "grub.cfg does not name the root's UUID {uuid}:\n{cfg}"
    );
    for f in [&esp, &root] {
        let _ = std::fs::remove_file(f);
    }
    // --disk-image: a second build from this disk's root (no install) holds the same paths.
    // Reading an existing image is a loop mount, which a rootless kiln cannot make.
    if !common::require(
        common::is_root(),
        "root (--disk-image reuse is a loop mount)",
    ) {
        let _ = std::fs::remove_file(&raw);
        return;
    }
    let reuse = b.work.join("reuse");
    let _ = std::fs::remove_dir_all(&reuse);
    let o = Command::new(common::kiln())
        .args([
            "build",
            "--make-tar",
            "--compression",
            "zstd",
            "-f",
            "REUSE",
        ])
        .arg("--ks")
        .arg(b.work.join("out").join(format!("{LABEL}.ks")))
        .arg("--disk-image")
        .arg(&raw)
        .arg("--resultdir")
        .arg(reuse.join("out"))
        .arg("--tmpdir")
        .arg(&reuse)
        .arg("--cache")
        .arg(reuse.join("cache"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = std::fs::remove_file(&raw);
    assert_eq!(
        tar_paths(&reuse.join("out/REUSE-root.tar.zst")),
        tar_paths(&b.work.join(format!("out/{LABEL}-root.tar.zst")))
    );
    let _ = std::fs::remove_dir_all(&reuse);
}

/// The paths in a zstd tar, without `./`.
fn tar_paths(tar: &Path) -> std::collections::BTreeSet<String> {
    run_ok(
        Command::new("tar")
            .args([
                "--quoting-style=literal",
                "--use-compress-program",
                "zstd -d",
                "-tf",
            ])
            .arg(tar),
    )
    .lines()
    .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
    .filter(|l| !l.is_empty() && l != ".")
    .collect()
}

fn check_fsimage_and_tar(b: &Built) {
    let out = b.work.join("out");
    let img = out.join(format!("{LABEL}-rootfs.img"));
    run_ok(Command::new("e2fsck").args(["-f", "-n"]).arg(&img));
    let sq = out.join("squashfs.img");
    common::assert_post_marker(&sq);
    // The tar holds the same paths as the root image (unsquashfs lists the root).
    let in_tar = tar_paths(&out.join(format!("{LABEL}-root.tar.zst")));
    let ls = run_ok(Command::new("unsquashfs").args(["-l", "-d", "R"]).arg(&sq));
    let in_sq: std::collections::BTreeSet<String> = ls
        .lines()
        .filter_map(|l| l.strip_prefix("R/"))
        .map(str::to_string)
        .collect();
    assert!(
        in_sq.len() > 1000,
        "unsquashfs listed {} paths",
        in_sq.len()
    );
    let only_tar: Vec<_> = in_tar.difference(&in_sq).take(10).collect();
    let only_sq: Vec<_> = in_sq.difference(&in_tar).take(10).collect();
    assert!(
        only_tar.is_empty() && only_sq.is_empty(),
        "tar and root image differ: only in tar {only_tar:?}, only in the image {only_sq:?}"
    );
}

fn check_pxe_tree(dir: &Path, kernel: &str, initrd: &str) {
    for f in [
        "pxelinux.0",
        "ldlinux.c32",
        "pxelinux.cfg/default",
        kernel,
        initrd,
    ] {
        assert!(dir.join(f).is_file(), "{f} missing from {}", dir.display());
    }
    let cfg = std::fs::read_to_string(dir.join("pxelinux.cfg/default")).unwrap();
    assert!(
        cfg.contains("SERIAL 0 115200") && cfg.contains("console=ttyS0"),
        "{cfg}"
    );
}

/// Serve the netroot tree's nbd.conf exports with Debian's nbd-server on a loopback port and
/// compare the export with the image file (qemu-img reads NBD itself).
fn check_netroot_export(tree: &Path) {
    let conf = std::fs::read_to_string(tree.join("images/nbd.conf")).unwrap();
    assert!(conf.contains(&format!("[{LABEL}]")), "{conf}");
    let port = 10899;
    let work = tree.join("check");
    std::fs::create_dir_all(&work).unwrap();
    let mine = conf.replace(
        "[generic]",
        &format!("[generic]\n  listenaddr = 127.0.0.1\n  port = {port}"),
    );
    std::fs::write(work.join("nbd.conf"), mine).unwrap();
    let pid_file = work.join("pid");
    run_ok(
        Command::new("nbd-server")
            .arg("-C")
            .arg(work.join("nbd.conf"))
            .arg("-p")
            .arg(&pid_file),
    );
    let mut pid = None;
    for _ in 0..100 {
        pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        if pid.is_some() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let cmp = Command::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "raw"])
        .arg(format!("nbd://127.0.0.1:{port}/{LABEL}"))
        .arg(tree.join(format!("images/{LABEL}/rootfs.img")))
        .output()
        .unwrap();
    if let Some(p) = pid {
        let _ = Command::new("kill").arg(p.to_string()).status();
        for _ in 0..50 {
            if !Path::new(&format!("/proc/{p}")).exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    assert!(
        cmp.status.success(),
        "the NBD export differs from the image: {}{}",
        String::from_utf8_lossy(&cmp.stdout),
        String::from_utf8_lossy(&cmp.stderr)
    );
}

fn leftovers(work: &Path) {
    let w = work.display().to_string();
    let nbd = Command::new("pgrep")
        .args(["-x", "nbd-server"])
        .output()
        .unwrap();
    assert!(
        nbd.stdout.is_empty(),
        "nbd-server still running: {}",
        String::from_utf8_lossy(&nbd.stdout)
    );
    let loops = run_ok(Command::new("losetup").arg("-a"));
    assert!(!loops.contains(&w), "loop devices left: {loops}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&w), "mounts left under {w}");
    let qemu = Command::new("pgrep").args(["-f", &w]).output().unwrap();
    assert!(
        qemu.stdout.is_empty(),
        "processes left using {w}: {}",
        String::from_utf8_lossy(&qemu.stdout)
    );
}

#[test]
fn one_build_many_outputs() {
    let Some(fx) = common::fixtures() else { return };
    for t in [
        "/usr/bin/qemu-system-x86_64",
        "/usr/bin/qemu-img",
        "/usr/bin/nbd-server",
        "/usr/lib/PXELINUX/pxelinux.0",
        "/usr/sbin/sgdisk",
        "/usr/bin/xorriso",
    ] {
        if !common::have_tool(t) {
            return;
        }
    }
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("build-media");
    // netroot needs dracut's network and nbd modules and nbd-client in the root: a kickstart
    // on top of the fixture's adds them when the fixture repository has them.
    let netroot = fixture_has_netroot(&fx);
    if !netroot {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the fixture lacks dracut-network/nbd-client (rebuild it with fixtures/build-repos)"
        );
        eprintln!("SKIP (netroot boot): the fixture has no dracut-network/nbd-client");
    }
    let base = fx.join("ks/live-x86_64.ks");
    let ks: PathBuf = if netroot {
        std::fs::create_dir_all(&work).unwrap();
        let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join("build-media.ks");
        std::fs::write(
            &p,
            format!(
                "%include {}\n%packages\ndracut-network\nnbd-client\nisc-dhcp-client\niputils-arping\n%end\n",
                base.display()
            ),
        )
        .unwrap();
        p
    } else {
        base
    };
    let t0 = std::time::Instant::now();
    let (b, report, _) = common::build_live(
        &ks,
        LABEL,
        &work,
        &[
            "--make-pxe-live",
            "--make-netroot",
            "--make-disk",
            "--qcow2",
            "--make-fsimage",
            "--make-tar",
            "--keep-image",
        ],
    );
    eprintln!("build: {:.0} s", t0.elapsed().as_secs_f64());
    let kinds: Vec<&str> = report["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["kind"].as_str())
        .collect();
    for k in [
        "iso",
        "squashfs",
        "pxe-live",
        "disk-qcow2",
        "fsimage",
        "tar",
    ] {
        assert!(kinds.contains(&k), "no {k} artifact: {kinds:?}");
    }
    let out = b.work.join("out");
    // --make-netroot's nbd.conf names the image where the build renamed it to.
    let bnr = std::fs::canonicalize(out.join(format!("{LABEL}-netroot"))).unwrap();
    let conf = std::fs::read_to_string(bnr.join("images/nbd.conf")).unwrap();
    let exported = bnr.join(format!("images/{LABEL}/rootfs.img"));
    assert!(
        conf.contains(&format!("exportname = {}", exported.display())) && exported.is_file(),
        "{conf}"
    );
    let pxe = out.join(format!("{LABEL}-pxe"));
    check_pxe_tree(&pxe, "vmlinuz", "initrd.img");
    for f in [
        "live-rootfs.squashfs.img",
        "live-rootfs.cpio",
        "PXE_CONFIG",
        "grub.cfg",
    ] {
        assert!(pxe.join(f).is_file(), "{f} missing from the PXE tree");
    }
    // The cpio carries the root image byte for byte (GNU cpio extracts it).
    let x = b.work.join("cpio-x");
    std::fs::create_dir_all(&x).unwrap();
    run_ok(
        Command::new("sh")
            .arg("-c")
            .arg("cpio -id --quiet < \"$1\"")
            .arg("sh")
            .arg(pxe.join("live-rootfs.cpio"))
            .current_dir(&x),
    );
    assert_eq!(
        std::fs::read(x.join("live-rootfs.squashfs.img")).unwrap(),
        std::fs::read(out.join("squashfs.img")).unwrap()
    );
    let _ = std::fs::remove_dir_all(&x);

    // iso-to-pxeboot and iso-to-netroot on the built ISO.
    let pxeboot = b.work.join("tftpboot");
    let _ = std::fs::remove_dir_all(&pxeboot);
    let o = common::kiln_in(
        &b.work,
        &[
            "iso-to-pxeboot",
            b.iso.to_str().unwrap(),
            pxeboot.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    check_pxe_tree(&pxeboot, "vmlinuz0", "initrd0.img");
    let cfg = std::fs::read_to_string(pxeboot.join("pxelinux.cfg/default")).unwrap();
    assert!(cfg.contains(&format!("root=live:/{LABEL}.iso")), "{cfg}");
    let iso_len = std::fs::metadata(&b.iso).unwrap().len();
    assert!(
        std::fs::metadata(pxeboot.join("initrd0.img"))
            .unwrap()
            .len()
            > iso_len
    );
    let _ = std::fs::remove_dir_all(&pxeboot);

    let nr = b.work.join("netroot");
    let _ = std::fs::remove_dir_all(&nr);
    let o = common::kiln_in(
        &b.work,
        &[
            "iso-to-netroot",
            b.iso.to_str().unwrap(),
            nr.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    check_pxe_tree(
        &nr.join("tftp"),
        &format!("{LABEL}/vmlinuz"),
        &format!("{LABEL}/initrd.img"),
    );
    let cfg = std::fs::read_to_string(nr.join("tftp/pxelinux.cfg/default")).unwrap();
    assert!(
        cfg.contains(&format!("netroot=nbd:10.0.2.2:{LABEL}")),
        "{cfg}"
    );
    check_netroot_export(&nr);
    // The export is an ext4 file system holding the root image (fedora-live-netroot's layout).
    let rootfs = nr.join(format!("images/{LABEL}/rootfs.img"));
    run_ok(Command::new("e2fsck").args(["-f", "-n"]).arg(&rootfs));
    let ls = run_ok(
        Command::new("debugfs")
            .args(["-R", "ls -l /LiveOS"])
            .arg(&rootfs),
    );
    assert!(ls.contains("squashfs.img"), "{ls}");

    // Boots: two guests at a time (TCG runs one per core), the structural checks between.
    std::thread::scope(|s| {
        let pxe_boot = s.spawn(|| boot(&b, "pxe-live", &pxe, "bios", "cdrom"));
        let disk_boot = s.spawn(|| {
            let q = out.join(format!("{LABEL}-disk.qcow2"));
            boot(&b, "disk-uefi", &q, "uefi", "hd")
        });
        check_disk(&b);
        check_fsimage_and_tar(&b);
        pxe_boot.join().unwrap();
        if netroot {
            boot(&b, "netroot", &nr, "bios", "cdrom");
        }
        disk_boot.join().unwrap();
    });
    leftovers(&b.work);
    eprintln!("total: {:.0} s", t0.elapsed().as_secs_f64());
}
