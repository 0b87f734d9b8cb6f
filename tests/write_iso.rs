//! `kiln write iso` and `kiln write efiboot` against the reference tools: images are read back
//! with xorriso, bsdtar, isoinfo, sgdisk, checkisomd5/implantisomd5, fsck.fat and mtools, and
//! booted in qemu (TCG; this machine's KVM cannot run firmware) with real GRUB, ISOLINUX and
//! OVMF. Expected values come from those tools and from the source tree on disk, and the
//! El Torito/system-area reports are compared with what `xorriso -as mkisofs` makes with
//! lorax's flags for the same tree.

mod common;

use common::{have, require};

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn kiln() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
}

fn tools(list: &[&str]) -> bool {
    let missing: Vec<_> = list.iter().filter(|t| !have(t)).collect();
    require(missing.is_empty(), &format!("missing tools {missing:?}"))
}

fn files(list: &[&str]) -> bool {
    let missing: Vec<_> = list.iter().filter(|f| !Path::new(f).exists()).collect();
    require(missing.is_empty(), &format!("missing files {missing:?}"))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn sh(script: &str, dir: &Path) -> String {
    run(Command::new("bash").args(["-euc", script]).current_dir(dir))
}

const EPOCH: &str = "1700000000";
const GRUB_CFG: &str = "serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\necho KILN-GRUB-OK\n";

/// Nested dirs deeper than 8, long UTF-8 names, symlinks, an empty file, many small files,
/// odd modes and times; `big` adds a sparse file over 4 GiB with data at both ends.
fn make_tree(root: &Path, big: bool) {
    fs::create_dir_all(root).unwrap();
    sh(
        r#"
        mkdir -p a/b/c/d/e/f/g/h/i/j/k/l 'ünï cödé/日本' many empty
        echo deep > a/b/c/d/e/f/g/h/i/j/k/l/deep.txt
        echo hello > readme.txt
        : > zero
        head -c 300000 /dev/urandom > rand.bin
        ln -s readme.txt link
        ln -s ../../readme.txt a/b/rel
        ln -s "/nonexistent/$(printf 'y%.0s' $(seq 1 300))" longlink
        long="$(printf 'ü%.0s' $(seq 1 40))-$(printf 'x%.0s' $(seq 1 40)).txt"
        echo long > "$long"
        echo ascii > "ascii-$(printf 'n%.0s' $(seq 1 90)).txt"
        echo long2 > "ünï cödé/日本/$(printf '名%.0s' $(seq 1 70))"
        echo same > README.TXT
        for i in $(seq 1 2000); do echo "$i" > many/file-$i.dat; done
        chmod 0640 readme.txt; chmod 0700 a/b; chmod 4755 rand.bin
        touch -h -d '2001-02-03 04:05:06 UTC' link
        touch -d '2020-01-02 03:04:05 UTC' readme.txt a/b/c
        "#,
        root,
    );
    if big {
        sh(
            r#"
            head -c 100000 /dev/urandom > big.img
            truncate -s 3G big.img
            printf middle >> big.img
            truncate -s 4500M big.img
            printf tail >> big.img
            "#,
            root,
        );
    }
}

/// What a tree looks like to a user: type, mode, size, content hash, symlink target, mtime.
fn snapshot(root: &Path, mtimes: bool, skip: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if skip.contains(&rel.as_str()) {
                continue;
            }
            let md = fs::symlink_metadata(&p).unwrap();
            let ft = md.file_type();
            let what = if ft.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else if ft.is_symlink() {
                format!("link->{}", fs::read_link(&p).unwrap().display())
            } else if ft.is_file() {
                let mut h = 0xcbf2_9ce4_8422_2325u64;
                let mut f = fs::File::open(&p).unwrap();
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = f.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    for &b in &buf[..n] {
                        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
                    }
                }
                format!("file {} {h:x}", md.len())
            } else if ft.is_fifo() {
                "fifo".into()
            } else {
                "other".into()
            };
            let mode = if ft.is_symlink() {
                String::new()
            } else {
                format!(" {:o}", md.mode() & 0o7777)
            };
            // Extractors do not restore symlink times (xorriso, bsdtar), nor directory times
            // once their content is written.
            let time = if mtimes && !ft.is_dir() && !ft.is_symlink() {
                // Images clamp times to SOURCE_DATE_EPOCH (reproducible-builds.org).
                format!(" @{}", md.mtime().min(EPOCH.parse().unwrap()))
            } else {
                String::new()
            };
            out.insert(rel, format!("{what}{mode}{time}"));
        }
    }
    out
}

/// `snapshot`'s entries with the set-id bits cleared from their modes (the last field that is
/// not a time; symlinks have none).
fn without_setid(tree: BTreeMap<String, String>) -> BTreeMap<String, String> {
    tree.into_iter()
        .map(|(path, entry)| {
            if entry.starts_with("link->") {
                return (path, entry);
            }
            let mut fields: Vec<String> = entry.split(' ').map(str::to_string).collect();
            if let Some(mode) = fields.iter_mut().rev().find(|f| !f.starts_with('@')) {
                if let Ok(bits) = u32::from_str_radix(mode, 8) {
                    *mode = format!("{:o}", bits & !0o6000);
                }
            }
            (path, fields.join(" "))
        })
        .collect()
}

fn assert_same(expected: &BTreeMap<String, String>, got: &BTreeMap<String, String>, what: &str) {
    for (k, v) in expected {
        assert_eq!(got.get(k), Some(v), "{what}: `{k}` differs");
    }
    for k in got.keys() {
        assert!(expected.contains_key(k), "{what}: unexpected `{k}`");
    }
}

fn write_iso(dir: &Path, out: &Path, extra: &[&str]) -> String {
    let mut cmd = kiln();
    cmd.args(["write", "iso"])
        .arg(dir)
        .arg(out)
        .args(["--volid", "KILN_TEST-1.0"])
        .args(extra)
        .env("SOURCE_DATE_EPOCH", EPOCH);
    run(&mut cmd)
}

#[test]
fn iso_tree_reads_back_identically() {
    if !tools(&["xorriso", "isoinfo", "bsdtar"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    make_tree(&src, true);
    let iso = tmp.path().join("t.iso");
    let t0 = Instant::now();
    write_iso(
        &src,
        &iso,
        &[
            "--appid",
            "kiln test",
            "--publisher",
            "kiln",
            "--preparer",
            "me",
        ],
    );
    eprintln!(
        "wrote {} bytes in {:?}",
        fs::metadata(&iso).unwrap().len(),
        t0.elapsed()
    );

    let d = run(Command::new("isoinfo").arg("-d").arg("-i").arg(&iso));
    assert!(d.contains("Volume id: KILN_TEST-1.0"), "{d}");
    assert!(d.contains("Rock Ridge signatures version 1 found"), "{d}");
    assert!(d.contains("Joliet with UCS level 3 found"), "{d}");
    assert!(d.contains("Application id: kiln test"), "{d}");
    assert!(d.contains("Publisher id: kiln"), "{d}");

    // Joliet keeps names past 64 characters (isoinfo prints them in ISO 8859-1).
    let j = Command::new("isoinfo")
        .args(["-J", "-j", "iso8859-1", "-l", "-i"])
        .arg(&iso)
        .output()
        .unwrap()
        .stdout;
    let mut long_l1 = vec![0xFCu8; 40];
    long_l1.extend_from_slice(format!("-{}.txt", "x".repeat(40)).as_bytes());
    assert!(
        j.windows(long_l1.len()).any(|w| w == long_l1),
        "Joliet listing lacks the 85-character name"
    );
    let r = run(Command::new("isoinfo").args(["-R", "-l", "-i"]).arg(&iso));
    assert!(
        r.contains("Directory listing of /a/b/c/d/e/f/g/h/i/j/k/l/"),
        "deep directory missing"
    );
    assert!(!r.contains("rr_moved"), "directories were relocated");

    // xorriso: full extraction (sparse so the 4.5 GiB file stays small on disk).
    let expected = snapshot(&src, true, &[]);
    let x = tmp.path().join("x");
    run(Command::new("xorriso")
        .args(["-osirrox", "on:sparse=1m", "-indev"])
        .arg(&iso)
        .args(["-extract", "/"])
        .arg(&x));
    assert_same(&expected, &snapshot(&x, true, &["boot.cat"]), "xorriso");
    let size = fs::metadata(x.join("big.img")).unwrap().len();
    assert!(size > 4 << 30, "multi-extent file is {size} bytes");
    fs::remove_dir_all(&x).unwrap();

    // bsdtar: everything but the big file extracted, the big file streamed and compared.
    let b = tmp.path().join("b");
    fs::create_dir(&b).unwrap();
    run(Command::new("bsdtar")
        .args(["--exclude", "big.img", "-xf"])
        .arg(&iso)
        .arg("-C")
        .arg(&b));
    // libarchive keeps set-id bits only where it also restores the owner, which an ordinary
    // user's bsdtar does not (xorriso above restores them for anyone).
    let setid_restored = common::is_root();
    let for_bsdtar = |tree: BTreeMap<String, String>| {
        if setid_restored {
            tree
        } else {
            without_setid(tree)
        }
    };
    assert_same(
        &for_bsdtar(snapshot(&src, true, &["big.img"])),
        &for_bsdtar(snapshot(&b, true, &[])),
        "bsdtar",
    );
    sh(
        &format!(
            "bsdtar -xOf '{}' big.img | cmp - '{}'",
            iso.display(),
            src.join("big.img").display()
        ),
        tmp.path(),
    );

    // A 100-character name read back through Joliet alone.
    let ascii = format!("ascii-{}.txt", "n".repeat(90));
    let got = Command::new("isoinfo")
        .args(["-J", "-i"])
        .arg(&iso)
        .args(["-x", &format!("/{ascii}")])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(got, b"ascii\n");
}

/// Reference images: the same tree through `xorriso -as mkisofs` with lorax's flags.
fn xorriso_report(iso: &Path) -> String {
    run(Command::new("xorriso").args(["-indev"]).arg(iso).args([
        "-report_el_torito",
        "plain",
        "-report_system_area",
        "plain",
    ]))
}

/// Lines starting with `key`, fields after the key, for comparing two reports.
fn report_rows(report: &str, key: &str) -> Vec<Vec<String>> {
    report
        .lines()
        .filter(|l| l.starts_with(key))
        .map(|l| {
            l.split_once(':')
                .map_or("", |x| x.1)
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
        .collect()
}

/// Boot `args` in qemu (TCG) until `needle` shows on the serial console or `secs` pass.
fn qemu_boot(args: &[&str], needle: &str, secs: u64) -> (bool, String) {
    let mut child = Command::new("qemu-system-x86_64")
        .args([
            "-accel", "tcg", "-m", "512", "-display", "none", "-serial", "stdio",
        ])
        .args([
            "-monitor",
            "none",
            "-no-reboot",
            "-nodefaults",
            "-vga",
            "none",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu");
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    let mut found = false;
    while Instant::now() < deadline {
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.extend(chunk);
            if String::from_utf8_lossy(&seen).contains(needle) {
                found = true;
                break;
            }
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    (found, String::from_utf8_lossy(&seen).into_owned())
}

fn make_efiboot(tmp: &Path, out: &Path) {
    let efi = tmp.join("efitree");
    fs::create_dir_all(efi.join("EFI/BOOT")).unwrap();
    fs::write(tmp.join("early.cfg"), GRUB_CFG).unwrap();
    sh(
        &format!(
            "grub-mkimage -O x86_64-efi -p /EFI/BOOT -c early.cfg -o '{}' echo serial terminal normal fat part_gpt iso9660",
            efi.join("EFI/BOOT/BOOTX64.EFI").display()
        ),
        tmp,
    );
    fs::write(efi.join("EFI/BOOT/grub.cfg"), GRUB_CFG).unwrap();
    run(kiln()
        .args(["write", "efiboot"])
        .arg(&efi)
        .arg(out)
        .env("SOURCE_DATE_EPOCH", EPOCH));
}

#[test]
fn grub_hybrid_iso_boots_and_matches_xorriso() {
    if !tools(&[
        "xorriso",
        "grub-mkimage",
        "sgdisk",
        "checkisomd5",
        "implantisomd5",
        "qemu-system-x86_64",
    ]) || !files(&[
        "/usr/lib/grub/i386-pc/boot_hybrid.img",
        "/usr/lib/grub/x86_64-efi/normal.mod",
    ]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    make_tree(&src, false);
    fs::create_dir_all(src.join("images")).unwrap();
    fs::write(tmp.path().join("early.cfg"), GRUB_CFG).unwrap();
    sh(
        "grub-mkimage -O i386-pc-eltorito -p /boot/grub -c early.cfg -o src/images/eltorito.img biosdisk iso9660 normal echo serial terminal",
        tmp.path(),
    );
    make_efiboot(tmp.path(), &src.join("images/efiboot.img"));
    let mbr = "/usr/lib/grub/i386-pc/boot_hybrid.img";
    let iso = tmp.path().join("kiln.iso");
    write_iso(
        &src,
        &iso,
        &[
            "--bios-boot",
            "images/eltorito.img",
            "--efi-boot",
            "images/efiboot.img",
            "--hybrid-mbr",
            mbr,
            "--implant-md5",
        ],
    );
    let ours = xorriso_report(&iso);
    let refiso = tmp.path().join("ref.iso");
    // xorriso 1.5.4 aborts (double free) on the full tree, so the reference holds the boot
    // files only: the reports compared below depend on nothing else.
    let reftree = tmp.path().join("reftree");
    fs::create_dir_all(&reftree).unwrap();
    sh("cp -a src/images reftree/", tmp.path());
    // lorax's grub2 x86 template (without -partition_offset, which kiln does not do).
    run(Command::new("xorriso")
        .args(["-as", "mkisofs", "-R", "-J", "-V", "KILN_TEST-1.0", "-o"])
        .arg(&refiso)
        .args(["--grub2-mbr", mbr, "-appended_part_as_gpt"])
        .args([
            "-append_partition",
            "2",
            "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
        ])
        .arg(src.join("images/efiboot.img"))
        .args(["-iso_mbr_part_type", "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"])
        .args([
            "-c",
            "boot.cat",
            "-b",
            "images/eltorito.img",
            "-no-emul-boot",
        ])
        .args([
            "-boot-load-size",
            "4",
            "-boot-info-table",
            "--grub2-boot-info",
        ])
        .args([
            "-eltorito-alt-boot",
            "-e",
            "images/efiboot.img",
            "-no-emul-boot",
        ])
        .arg(&reftree));
    let theirs = xorriso_report(&refiso);
    eprintln!("kiln:\n{ours}\nxorriso:\n{theirs}");
    // Same El Torito entries (platform, bootable, emulation, segment, load size), both
    // with GRUB's boot info patched in, and the same kind of system area.
    let entries = |r: &str| -> Vec<Vec<String>> {
        report_rows(r, "El Torito boot img")
            .into_iter()
            .map(|mut f| {
                f.pop(); // LBA differs by layout
                f
            })
            .collect()
    };
    assert_eq!(entries(&ours), entries(&theirs));
    assert_eq!(entries(&ours).len(), 2);
    assert!(
        ours.contains("El Torito img opts :   1  boot-info-table grub2-boot-info"),
        "{ours}"
    );
    assert!(
        ours.contains("System area summary: MBR protective-msdos-label grub2-mbr"),
        "{ours}"
    );
    assert!(
        ours.contains("El Torito img path :   2  /images/efiboot.img"),
        "{ours}"
    );
    // GPT: the ISO partition and an ESP of the same size as xorriso's appended one.
    let gpt_rows = |r: &str| report_rows(r, "GPT type GUID");
    assert!(gpt_rows(&ours).contains(&vec!["1".into(), "a2a0d0ebe5b9334487c068b6b72699c7".into()]));
    assert!(gpt_rows(&ours).contains(&vec!["2".into(), "28732ac11ff8d211ba4b00a0c93ec93b".into()]));
    let esp_size = |r: &str| {
        report_rows(r, "GPT start and size")
            .into_iter()
            .find(|f| f[0] == "2")
            .map(|f| f[2].clone())
    };
    assert_eq!(esp_size(&ours), esp_size(&theirs));

    // The appended ESP is the EFI image, byte for byte, where the GPT says.
    let sg = run(Command::new("sgdisk").arg("-v").arg(&iso));
    assert!(sg.contains("No problems found"), "{sg}");
    let info = run(Command::new("sgdisk").args(["-i", "2"]).arg(&iso));
    let first: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("First sector: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("first sector");
    let img = fs::read(&iso).unwrap();
    let efi = fs::read(src.join("images/efiboot.img")).unwrap();
    let at = first as usize * 512;
    assert_eq!(&img[at..at + efi.len()], &efi[..]);

    // Boot info table against xorriso's idea of where the boot image is.
    let lba_line = run(Command::new("xorriso").args(["-indev"]).arg(&iso).args([
        "-find",
        "/images/eltorito.img",
        "-exec",
        "report_lba",
    ]));
    let lba: u32 = lba_line
        .lines()
        .find(|l| l.starts_with("File data lba"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|f| f.split(',').nth(1))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no lba in {lba_line}"));
    let boot = &img[lba as usize * 2048..];
    assert_eq!(&boot[8..12], &16u32.to_le_bytes());
    assert_eq!(&boot[12..16], &lba.to_le_bytes());
    assert_eq!(
        u64::from_le_bytes(boot[2548..2556].try_into().unwrap()),
        u64::from(lba) * 4 + 5
    );
    assert_eq!(
        u64::from_le_bytes(img[432..440].try_into().unwrap()),
        u64::from(lba) * 4 + 4
    );

    let c = run(Command::new("checkisomd5").arg("--verbose").arg(&iso));
    assert!(c.contains("PASS"), "{c}");

    // implantisomd5 accepts an image written without a checksum, and checkisomd5 agrees.
    let plain = tmp.path().join("plain.iso");
    write_iso(
        &src,
        &plain,
        &[
            "--bios-boot",
            "images/eltorito.img",
            "--efi-boot",
            "images/efiboot.img",
            "--hybrid-mbr",
            mbr,
        ],
    );
    run(Command::new("implantisomd5").arg(&plain));
    let c = run(Command::new("checkisomd5").arg("--verbose").arg(&plain));
    assert!(c.contains("PASS"), "{c}");

    // Boot: as a CD-ROM and as a disk (the hybrid MBR), BIOS; and UEFI from the disk.
    let isos = iso.to_str().unwrap();
    let (ok, log) = qemu_boot(&["-cdrom", isos, "-boot", "d"], "KILN-GRUB-OK", 90);
    assert!(ok, "BIOS cdrom boot: {log}");
    let drive = format!("if=none,id=d0,format=raw,snapshot=on,file={isos}");
    let (ok, log) = qemu_boot(
        &["-drive", &drive, "-device", "ide-hd,drive=d0,bootindex=0"],
        "KILN-GRUB-OK",
        90,
    );
    assert!(ok, "BIOS disk boot: {log}");
    if Path::new("/usr/share/OVMF/OVMF_CODE.fd").exists() {
        let vars = tmp.path().join("vars.fd");
        fs::copy("/usr/share/OVMF/OVMF_VARS.fd", &vars).unwrap();
        let code = "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE.fd";
        let vars = format!("if=pflash,format=raw,file={}", vars.display());
        let (ok, log) = qemu_boot(
            &[
                "-drive",
                code,
                "-drive",
                &vars,
                "-drive",
                &drive,
                "-device",
                "ide-hd,drive=d0",
            ],
            "KILN-GRUB-OK",
            180,
        );
        assert!(ok, "UEFI disk boot: {log}");
        // Fresh variables: the disk boot above left a boot entry that OVMF would try first.
        let vars2 = tmp.path().join("vars2.fd");
        fs::copy("/usr/share/OVMF/OVMF_VARS.fd", &vars2).unwrap();
        let vars = format!("if=pflash,format=raw,file={}", vars2.display());
        let cd = format!("if=none,id=c0,format=raw,media=cdrom,readonly=on,file={isos}");
        let (ok, log) = qemu_boot(
            &[
                "-drive",
                code,
                "-drive",
                &vars,
                "-drive",
                &cd,
                "-device",
                "ide-cd,drive=c0",
            ],
            "KILN-GRUB-OK",
            180,
        );
        assert!(ok, "UEFI cdrom boot: {log}");
    }
}

#[test]
fn isolinux_hybrid_iso_boots() {
    if !tools(&["xorriso", "sgdisk", "qemu-system-x86_64"])
        || !files(&[
            "/usr/lib/ISOLINUX/isolinux.bin",
            "/usr/lib/ISOLINUX/isohdpfx.bin",
            "/usr/lib/syslinux/modules/bios/ldlinux.c32",
        ])
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    make_tree(&src, false);
    sh(
        "mkdir -p isolinux && cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 isolinux/ && printf 'SERIAL 0 115200\\nDEFAULT kiln\\nPROMPT 0\\nLABEL kiln\\n  KERNEL /kiln-isolinux-ok\\n' > isolinux/isolinux.cfg",
        &src,
    );
    let iso = tmp.path().join("kiln.iso");
    write_iso(
        &src,
        &iso,
        &[
            "--bios-boot",
            "isolinux/isolinux.bin",
            "--hybrid-mbr",
            "/usr/lib/ISOLINUX/isohdpfx.bin",
        ],
    );
    let r = xorriso_report(&iso);
    assert!(r.contains("El Torito cat path : /isolinux/boot.cat"), "{r}");
    assert!(
        r.contains("El Torito img opts :   1  boot-info-table isohybrid-suitable"),
        "{r}"
    );
    assert!(r.contains("System area summary: MBR"), "{r}");
    let sg = run(Command::new("sgdisk").arg("-v").arg(&iso));
    assert!(sg.contains("No problems found"), "{sg}");
    let isos = iso.to_str().unwrap();
    let (ok, log) = qemu_boot(
        &["-cdrom", isos, "-boot", "d"],
        "Loading /kiln-isolinux-ok",
        90,
    );
    assert!(ok, "BIOS cdrom boot: {log}");
    let drive = format!("if=none,id=d0,format=raw,snapshot=on,file={isos}");
    let (ok, log) = qemu_boot(
        &["-drive", &drive, "-device", "ide-hd,drive=d0,bootindex=0"],
        "Loading /kiln-isolinux-ok",
        90,
    );
    assert!(ok, "BIOS disk boot: {log}");
}

/// UEFI-only media (aarch64): no BIOS image, so no MBR boot code, but a protective MBR and a
/// GPT with the ISO partition and the EFI image as the EFI system partition.
#[test]
fn uefi_only_gpt_hybrid() {
    if !tools(&["xorriso", "sgdisk"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    make_tree(&src, false);
    let efi = tmp.path().join("efitree");
    fs::create_dir_all(efi.join("EFI/BOOT")).unwrap();
    fs::write(efi.join("EFI/BOOT/BOOTAA64.EFI"), vec![0x4du8; 300_000]).unwrap();
    fs::write(efi.join("EFI/BOOT/grub.cfg"), GRUB_CFG).unwrap();
    fs::create_dir_all(src.join("images")).unwrap();
    run(kiln()
        .args(["write", "efiboot"])
        .arg(&efi)
        .arg(src.join("images/efiboot.img"))
        .env("SOURCE_DATE_EPOCH", EPOCH));
    let iso = tmp.path().join("uefi.iso");
    write_iso(
        &src,
        &iso,
        &["--efi-boot", "images/efiboot.img", "--efi-gpt"],
    );
    let r = xorriso_report(&iso);
    eprintln!("{r}");
    assert!(r.contains("El Torito boot img :   1  UEFI"), "{r}");
    assert!(
        !r.lines()
            .any(|l| l.starts_with("El Torito boot img") && l.contains("BIOS")),
        "{r}"
    );
    let summary = r
        .lines()
        .find(|l| l.starts_with("System area summary:"))
        .unwrap_or_default();
    assert!(
        summary.contains("MBR protective-msdos-label") && summary.ends_with("GPT"),
        "{r}"
    );
    assert!(
        !summary.contains("grub2-mbr") && !summary.contains("isohybrid"),
        "{r}"
    );
    let gpt_rows = report_rows(&r, "GPT type GUID");
    assert!(gpt_rows.contains(&vec!["1".into(), "a2a0d0ebe5b9334487c068b6b72699c7".into()]));
    assert!(gpt_rows.contains(&vec!["2".into(), "28732ac11ff8d211ba4b00a0c93ec93b".into()]));
    let sg = run(Command::new("sgdisk").arg("-v").arg(&iso));
    assert!(sg.contains("No problems found"), "{sg}");
    let img = fs::read(&iso).unwrap();
    // No boot code: the first 440 bytes are zero; the protective entry is type 0xEE.
    assert!(
        img[..440].iter().all(|&b| b == 0),
        "MBR boot code is not zeroed"
    );
    assert_eq!(img[446 + 4], 0xEE);
    assert_eq!(&img[510..512], &[0x55, 0xAA]);
    // The ESP is the EFI image byte for byte, where the GPT says.
    let info = run(Command::new("sgdisk").args(["-i", "2"]).arg(&iso));
    let first: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("First sector: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("first sector");
    let esp = fs::read(src.join("images/efiboot.img")).unwrap();
    assert_eq!(&img[first * 512..first * 512 + esp.len()], &esp[..]);
    // A template-less hybrid without an EFI image is refused.
    let out = kiln()
        .args(["write", "iso"])
        .arg(&src)
        .arg(tmp.path().join("bad.iso"))
        .args(["--volid", "X", "--efi-gpt"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn efiboot_image_passes_fsck_and_mtools() {
    if !tools(&["fsck.fat", "mdir", "mcopy"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("efi");
    sh(
        r#"
        mkdir -p EFI/BOOT 'EFI/Long Directory Name' EFI/fedora
        head -c 1500000 /dev/urandom > EFI/BOOT/BOOTX64.EFI
        head -c 800000 /dev/urandom > EFI/BOOT/grubx64.efi
        echo 'set timeout=5' > EFI/BOOT/grub.cfg
        echo x > 'EFI/Long Directory Name/a file with a long name ünï.txt'
        for i in $(seq 1 40); do echo $i > EFI/fedora/font-$i.pf2; done
        : > EFI/empty
        ln -s grub.cfg EFI/BOOT/link
        touch -d '2021-05-06 07:08:10 UTC' EFI/BOOT/grub.cfg
        "#,
        &{
            fs::create_dir_all(&src).unwrap();
            src.clone()
        },
    );
    let img = tmp.path().join("efiboot.img");
    let again = tmp.path().join("again.img");
    for out in [&img, &again] {
        run(kiln()
            .args(["write", "efiboot"])
            .arg(&src)
            .arg(out)
            .env("SOURCE_DATE_EPOCH", EPOCH));
    }
    assert_eq!(
        fs::read(&img).unwrap(),
        fs::read(&again).unwrap(),
        "not reproducible"
    );
    let f = run(Command::new("fsck.fat").arg("-n").arg("-v").arg(&img));
    assert!(
        !f.contains("will be") && !f.contains("Free cluster summary wrong"),
        "{f}"
    );
    // Sized to content: within a few percent plus the fixed metadata.
    let len = fs::metadata(&img).unwrap().len();
    assert!(len < 2_300_000 + 200_000 && len > 2_300_000, "{len} bytes");
    // mtools converts long names to the locale's charset: UTF-8 whatever the caller's locale.
    let mtools = |prog: &str| {
        let mut c = Command::new(prog);
        c.env("LC_ALL", "C.UTF-8");
        c
    };
    let m = run(mtools("mdir").args(["-/", "-i"]).arg(&img).arg("::"));
    assert!(m.contains("a file with a long name ünï.txt"), "{m}");
    assert!(m.contains("BOOTX64  EFI"), "{m}");
    let out = tmp.path().join("out");
    run(mtools("mcopy")
        .args(["-s", "-m", "-n", "-i"])
        .arg(&img)
        .arg("::EFI")
        .arg(&out));
    assert_same(
        &snapshot(&src.join("EFI"), false, &["BOOT/link"])
            .into_iter()
            .map(|(k, v)| (k, v.rsplit_once(' ').unwrap().0.to_string()))
            .collect(),
        &snapshot(&out, false, &[])
            .into_iter()
            .map(|(k, v)| (k, v.rsplit_once(' ').unwrap().0.to_string()))
            .collect(),
        "mcopy",
    );
    // mtools shows the DOS time of grub.cfg (UTC, 2-second resolution).
    let m = run(mtools("mdir").args(["-i"]).arg(&img).arg("::EFI/BOOT"));
    assert!(m.contains("2021-05-06") && m.contains("7:08"), "{m}");
}

#[test]
fn same_epoch_same_bytes() {
    if !tools(&["grub-mkimage"]) || !files(&["/usr/lib/grub/i386-pc/boot_hybrid.img"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    make_tree(&src, false);
    fs::create_dir_all(src.join("images")).unwrap();
    fs::write(tmp.path().join("early.cfg"), GRUB_CFG).unwrap();
    sh(
        "grub-mkimage -O i386-pc-eltorito -p /boot/grub -c early.cfg -o src/images/eltorito.img biosdisk iso9660",
        tmp.path(),
    );
    make_efiboot(tmp.path(), &src.join("images/efiboot.img"));
    let args = [
        "--bios-boot",
        "images/eltorito.img",
        "--efi-boot",
        "images/efiboot.img",
        "--hybrid-mbr",
        "/usr/lib/grub/i386-pc/boot_hybrid.img",
        "--implant-md5",
    ];
    let a = tmp.path().join("a.iso");
    let b = tmp.path().join("b.iso");
    write_iso(&src, &a, &args);
    std::thread::sleep(Duration::from_millis(1100));
    write_iso(&src, &b, &args);
    assert!(
        fs::read(&a).unwrap() == fs::read(&b).unwrap(),
        "ISO bytes differ"
    );
    // Bad input is exit code 1 with a message naming the problem.
    let out = kiln()
        .args(["write", "iso"])
        .arg(&src)
        .arg(tmp.path().join("c.iso"))
        .args(["--volid", &"X".repeat(33)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("volume id"));
    let out = kiln()
        .args(["write", "iso"])
        .arg(&src)
        .arg(tmp.path().join("c.iso"))
        .args(["--volid", "X", "--bios-boot", "nope.img"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.img"));
    assert!(!tmp.path().join("c.iso").exists() && !tmp.path().join("c.iso.partial").exists());
}

/// `--chrp-boot-part --untranslated-names` against `xorriso -as mkisofs -U -chrp-boot-part`
/// (lorax's ppc64le flags) for the same tree: the same MBR (one active CHRP partition, type
/// 0x96, over the whole image) and the same primary-tree names, which Open Firmware reads.
#[test]
fn chrp_untranslated_matches_xorriso() {
    if !tools(&["xorriso", "isoinfo"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    for (path, text) in [
        ("ppc/bootinfo.txt", "<chrp-boot>\n</chrp-boot>\n"),
        ("boot/grub/powerpc-ieee1275/core.elf", "core"),
        ("boot/grub/grub.cfg", GRUB_CFG),
        ("images/Image.v1.tar.gz", "multi-dot"),
        ("README", "upper"),
    ] {
        let p = src.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    let ours = tmp.path().join("kiln.iso");
    write_iso(&src, &ours, &["--chrp-boot-part", "--untranslated-names"]);
    let theirs = tmp.path().join("xorriso.iso");
    run(Command::new("xorriso")
        .args(["-as", "mkisofs", "-U", "-R", "-J", "-chrp-boot-part"])
        .args(["-V", "KILN_TEST-1.0", "-o"])
        .arg(&theirs)
        .arg(&src));
    let (r_ours, r_theirs) = (xorriso_report(&ours), xorriso_report(&theirs));
    for r in [&r_ours, &r_theirs] {
        let summary = r
            .lines()
            .find(|l| l.starts_with("System area summary:"))
            .unwrap_or_default();
        assert!(summary.contains("MBR CHRP"), "{r}");
        // The partition covers the image: its 512-byte blocks are the image's size.
        let size = report_rows(r, "ISO image size/512 :");
        let parts = report_rows(r, "MBR partition      :");
        assert_eq!(parts.len(), 1, "{r}");
        assert_eq!(parts[0][..4], ["1", "0x80", "0x96", "0"], "{r}");
        assert_eq!(parts[0][4], size[0][0], "{r}");
    }
    let names = |iso: &Path| -> Vec<String> {
        let mut v: Vec<String> = run(Command::new("isoinfo").args(["-f", "-i"]).arg(iso))
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    let primary = names(&ours);
    assert_eq!(primary, names(&theirs));
    assert!(primary.contains(&"/boot/grub/powerpc-ieee1275/core.elf".to_string()));
    // Without the options the names are level 2 d-characters and no MBR is written.
    let plain = tmp.path().join("plain.iso");
    write_iso(&src, &plain, &[]);
    assert!(names(&plain).contains(&"/PPC/BOOTINFO.TXT;1".to_string()));
    let img = fs::read(&plain).unwrap();
    assert_eq!(&img[510..512], &[0, 0]);
    // A CHRP partition takes the whole MBR: no hybrid beside it.
    let out = kiln()
        .args(["write", "iso"])
        .arg(&src)
        .arg(tmp.path().join("bad.iso"))
        .args(["--volid", "X", "--chrp-boot-part", "--efi-gpt"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
