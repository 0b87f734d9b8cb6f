//! Rootless builds (step 17): the fixture live ISO built by an ordinary user, created here with
//! subordinate ids and no sudo rights, against the same kickstart built as root.
//!
//! The kickstart is the live-x86_64 fixture plus the fidelity repository's kf-unpack-caps and
//! kf-unpack-nodes (file capabilities, device nodes, set-id bits, an owner no package creates),
//! so the image has what a user namespace refuses. With the same `SOURCE_DATE_EPOCH` the two
//! ISOs must be the same bytes (dracut's /dev nodes in the initramfs included: the sandbox's
//! mknod stand-in and the initramfs patch), and the rootless one boots BIOS and UEFI.
//! Needs root (it creates the user); CI runs it so.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run_ok, Built};

/// The test kickstart: the live fixture with the fidelity packages added.
fn kickstart(fx: &Path, work: &Path) -> PathBuf {
    let base = std::fs::read_to_string(fx.join("ks/live-x86_64.ks")).unwrap();
    let mut ks = String::new();
    for line in base.lines() {
        ks.push_str(line);
        ks.push('\n');
        if line.starts_with("repo --name=live-x86_64") {
            ks.push_str(&format!(
                "repo --name=fidelity --baseurl=file://{}\n",
                fx.join("fidelity").display()
            ));
        }
        if line == "@live" {
            ks.push_str("kf-unpack-caps\nkf-unpack-nodes\n");
        }
    }
    let path = work.join("rootless.ks");
    std::fs::write(&path, ks).unwrap();
    path
}

/// `kiln build` of `ks` into `work` as `who` (`None`: as the test, root), with the shared
/// builds' options and `SOURCE_DATE_EPOCH`.
fn build(ks: &Path, work: &Path, who: Option<(u32, u32)>) -> Built {
    let env = [("SOURCE_DATE_EPOCH", common::LIVE_EPOCH)];
    common::build_live_as(ks, "KILN-LIVE", work, &[], &env, who).0
}

/// The ISO's LiveOS/squashfs.img, extracted by xorriso to `to`.
fn root_image(iso: &Path, to: &Path) -> PathBuf {
    let _ = std::fs::remove_file(to);
    run_ok(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(iso)
            .args(["-extract", "/LiveOS/squashfs.img"])
            .arg(to),
    );
    to.to_owned()
}

fn sha256(p: &Path) -> String {
    run_ok(Command::new("sha256sum").arg(p))
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// The image's /opt/kfcaps, /opt/kfnodes and set-id programs as reference tools see them:
/// `unsquashfs -lln` (type, mode, owner, device numbers) and, extracted by unsquashfs with its
/// xattrs, `getfattr` of every file's `security.capability`.
fn attributes(iso: &Path, scratch: &Path) -> (Vec<String>, String) {
    let sq = root_image(iso, &scratch.join("squashfs.img"));
    let listing: Vec<String> = run_ok(Command::new("unsquashfs").arg("-lln").arg(&sq))
        .lines()
        .filter(|l| {
            let mode = l.split_whitespace().next().unwrap_or("");
            l.contains("/opt/kf") || mode.contains(['s', 'S'])
        })
        .map(str::to_owned)
        .collect();
    let caps = xattrs(&sq, scratch, "opt", "security.capability");
    let _ = std::fs::remove_file(&sq);
    (listing, caps)
}

#[test]
fn rootless_build_matches_root_build_and_boots() {
    let Some(fx) = common::fixtures() else { return };
    if !common::require(common::is_root(), "root, to create the unprivileged user")
        || !common::require(
            common::have("newuidmap") && common::have("setpriv") && common::have("getfattr"),
            "newuidmap (uidmap), setpriv (util-linux), getfattr (attr)",
        )
    {
        return;
    }
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rootless");
    let _ = std::fs::remove_dir_all(&base);
    let user_work = base.join("user");
    let root_work = base.join("root");
    let ids = common::rootless_user();
    common::own_dir(&user_work, ids);
    std::fs::create_dir_all(&root_work).unwrap();
    let ks = kickstart(&fx, &base);

    let t0 = std::time::Instant::now();
    let mine = build(&ks, &user_work, Some(ids));
    eprintln!(
        "rootless build: {:.1} s, {} packages",
        t0.elapsed().as_secs_f64(),
        mine.packages
    );
    let t0 = std::time::Instant::now();
    let theirs = build(&ks, &root_work, None);
    eprintln!("root build: {:.1} s", t0.elapsed().as_secs_f64());
    assert_eq!(mine.packages, theirs.packages);

    // The ISO is the user's; nothing of the build is left in its work directory.
    let md = std::fs::metadata(&mine.iso).unwrap();
    assert_eq!(
        (
            std::os::unix::fs::MetadataExt::uid(&md),
            std::os::unix::fs::MetadataExt::gid(&md)
        ),
        ids
    );
    let left: Vec<String> = std::fs::read_dir(&user_work)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("kiln-build") || n.ends_with(".kiln-attrs"))
        .collect();
    assert!(left.is_empty(), "left in the work directory: {left:?}");

    assert_same_image(&theirs.iso, &mine.iso);

    // Capabilities, set-id bits, device nodes and owners as the root build has them.
    let (root_list, root_caps) = attributes(&theirs.iso, &root_work);
    let (user_list, user_caps) = attributes(&mine.iso, &base);
    assert!(
        root_list
            .iter()
            .any(|l| l.starts_with('c') && l.contains("10,200")),
        "{root_list:?}"
    );
    assert!(
        root_list.iter().any(|l| l.starts_with("-rws")),
        "{root_list:?}"
    );
    assert!(
        root_caps.contains("/opt/kfcaps/raw 0x01000002"),
        "{root_caps}"
    );
    assert_eq!(user_list, root_list, "unsquashfs -lln differs");
    assert_eq!(user_caps, root_caps, "security.capability differs");

    // The rootless ISO boots, booted by the user too (boot-test needs no privilege).
    for firmware in ["bios", "uefi"] {
        let _slot = common::BootSlot::take();
        let t0 = std::time::Instant::now();
        common::boot_fixture_with(
            Some(ids),
            &format!("rootless {firmware}/cdrom"),
            &mine.iso,
            firmware,
            "cdrom",
            900,
            &user_work.join(format!("serial-{firmware}.log")),
            mine.packages,
            &[],
        );
        eprintln!(
            "rootless {firmware} boot: {:.1} s",
            t0.elapsed().as_secs_f64()
        );
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// `name` of every path under `dir` of the squashfs image `sq`, as "path value" lines (sorted:
/// readdir order is the extraction's): extracted with its xattrs by unsquashfs, read by
/// getfattr, which leaves out files without the attribute.
fn xattrs(sq: &Path, scratch: &Path, dir: &str, name: &str) -> String {
    let x = scratch.join("x");
    let _ = std::fs::remove_dir_all(&x);
    run_ok(
        Command::new("unsquashfs")
            .args(["-no-progress", "-xattrs", "-d"])
            .arg(&x)
            .arg(sq)
            .arg(dir),
    );
    let dump = run_ok(
        Command::new("getfattr")
            .args(["-R", "-h", "--absolute-names", "-d", "-e", "hex", "-m"])
            .arg(format!("^{}$", name.replace('.', "\\.")))
            .arg(x.join(dir)),
    );
    let prefix = x.display().to_string();
    let mut pairs = Vec::new();
    let mut file = String::new();
    for line in dump.lines() {
        if let Some(f) = line.strip_prefix("# file: ") {
            file = f.replacen(&prefix, "", 1);
        } else if let Some(v) = line.strip_prefix(&format!("{name}=")) {
            pairs.push(format!("{file} {v}"));
        }
    }
    pairs.sort();
    let _ = std::fs::remove_dir_all(&x);
    pairs.join("\n")
}

/// The root build `a` and the rootless `b` are the same bytes; if not, `kiln diff` says
/// where.
fn assert_same_image(a: &Path, b: &Path) {
    let (ha, hb) = (sha256(a), sha256(b));
    eprintln!("sha256 root     {ha}\nsha256 rootless {hb}");
    if ha != hb {
        let out = Command::new(common::kiln())
            .arg("diff")
            .arg(a)
            .arg(b)
            .output()
            .unwrap();
        panic!(
            "the rootless ISO differs from the root build's:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// The SELinux fixture built by the ordinary user against its root build (the one
/// selinux_image checks against setfiles and boots enforcing): the same image but for dracut's
/// nodes, so the same `security.selinux` labels; those of /etc compared explicitly.
#[test]
fn rootless_selinux_labels_match_root_build() {
    let Some(fx) = common::fixtures() else { return };
    let ks = fx.join("ks/selinux-x86_64.ks");
    if !common::require(ks.is_file(), "the SELinux fixture (fixtures/build-repos)")
        || !common::require(common::is_root(), "root, to create the unprivileged user")
        || !common::require(
            common::have("newuidmap") && common::have("setpriv") && common::have("getfattr"),
            "newuidmap (uidmap), setpriv (util-linux), getfattr (attr)",
        )
    {
        return;
    }
    let env = [("SOURCE_DATE_EPOCH", common::LIVE_EPOCH)];
    let (theirs, _, _) =
        common::build_live_shared("selinux-x86_64", &ks, "KILN-SELINUX", &[], &env);
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rootless-selinux");
    let ids = common::rootless_user();
    let t0 = std::time::Instant::now();
    let (mine, _, _) = common::build_live_as(&ks, "KILN-SELINUX", &work, &[], &env, Some(ids));
    eprintln!(
        "rootless SELinux build: {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert_same_image(&theirs.iso, &mine.iso);
    let labels = |iso: &Path, name: &str| {
        let sq = root_image(iso, &work.join(format!("{name}.img")));
        let l = xattrs(&sq, &work, "etc", "security.selinux");
        let _ = std::fs::remove_file(&sq);
        l
    };
    let (root_labels, user_labels) = (labels(&theirs.iso, "root"), labels(&mine.iso, "user"));
    let labelled = root_labels.lines().count();
    eprintln!("/etc: {labelled} labelled paths in both images");
    assert!(labelled > 50, "{root_labels}");
    assert_eq!(user_labels, root_labels, "security.selinux of /etc differs");
    let _ = std::fs::remove_dir_all(&work);
}

/// `kiln unshare`: the ordinary user's commands run as root of the namespace a rootless kiln
/// builds in, so what a rootless install left owned by the user's subordinate ids can be
/// removed by its user (and by nothing else it has).
#[test]
fn unshare_removes_what_subordinate_ids_own() {
    if !common::require(common::is_root(), "root, to create the unprivileged user")
        || !common::require(
            common::have("newuidmap") && common::have("setpriv"),
            "newuidmap (uidmap), setpriv (util-linux)",
        )
    {
        return;
    }
    let ids = common::rootless_user();
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rootless-unshare");
    common::own_dir(&work, ids);
    let as_user = |args: &[&str]| {
        let mut c = common::as_user(ids, &common::kiln());
        c.arg("unshare").args(args).current_dir(&work);
        c.output().unwrap()
    };
    let out = as_user(&["id", "-u"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    let out = as_user(&["sh", "-c", "mkdir -p d/e && touch d/e/f && chown -R 1:1 d"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Outside the namespace, id 1 is the first subordinate id.
    let sub_start: u32 = std::fs::read_to_string("/etc/subuid")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{}:", common::ROOTLESS_USER)))
        .and_then(|r| r.split(':').next()?.parse().ok())
        .unwrap();
    let md = std::fs::metadata(work.join("d/e/f")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&md), sub_start);
    // The user alone cannot remove it; through kiln unshare it can.
    let plain = common::as_user(ids, Path::new("/bin/rm"))
        .args(["-rf", "d"])
        .current_dir(&work)
        .output()
        .unwrap();
    assert!(!plain.status.success() && work.join("d/e/f").exists());
    let out = as_user(&["rm", "-rf", "d"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!work.join("d").exists());
    let _ = std::fs::remove_dir_all(&work);
}

/// `--fs-image`/`--disk-image` loop-mount the image they reuse, which a user namespace may not:
/// an ordinary user's build refuses them at once (exit 2, the option named) and makes neither
/// the result directory nor a work directory.
#[test]
fn image_reuse_is_refused_to_an_ordinary_user_before_any_work() {
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rootless-reuse");
    let _ = std::fs::remove_dir_all(&work);
    // As root, the test's own unprivileged user runs kiln; as anyone else, the test itself.
    let user = if common::is_root() {
        if !common::require(common::have("setpriv"), "setpriv (util-linux)") {
            return;
        }
        let ids = common::rootless_user();
        common::own_dir(&work, ids);
        Some(ids)
    } else {
        std::fs::create_dir_all(&work).unwrap();
        None
    };
    let kiln = || match user {
        Some(ids) => common::as_user(ids, &common::kiln()),
        None => Command::new(common::kiln()),
    };
    let image = work.join("disk.raw");
    std::fs::write(&image, vec![0u8; 1 << 20]).unwrap();
    let ks = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/live-minimal.ks");
    for flag in ["--fs-image", "--disk-image"] {
        let out = kiln()
            .args(["build", "--make-tar", "--ks"])
            .arg(&ks)
            .arg(flag)
            .arg(&image)
            .arg("--resultdir")
            .arg(work.join("out"))
            .arg("--tmpdir")
            .arg(&work)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}: {stderr}");
        assert!(
            stderr.contains(flag) && stderr.contains("needs root"),
            "{flag}: {stderr}"
        );
        let mut left: Vec<String> = std::fs::read_dir(&work)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["disk.raw"], "{flag} left work behind");
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// README's main job as an ordinary user: `examples/live-minimal.ks` as shipped (its repo is
/// the fixture set under /var/cache/kiln/fixtures; `--repo` names KILN_FIXTURES' copy) builds
/// rootless, and the user's `kiln boot-test` of the ISO sees the marker on the serial console
/// and the example's `%post` line. (The example once put tty0 last on the kernel command line,
/// so the marker went to the screen and boot-test never saw it.)
#[test]
fn readme_example_builds_and_boots_as_an_ordinary_user() {
    let Some(fx) = common::fixtures() else { return };
    if !common::require(common::is_root(), "root, to create the unprivileged user")
        || !common::require(
            common::have("newuidmap") && common::have("setpriv"),
            "newuidmap (uidmap), setpriv (util-linux)",
        )
    {
        return;
    }
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme-example");
    let _ = std::fs::remove_dir_all(&work);
    let ids = common::rootless_user();
    let ks = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/live-minimal.ks");
    let repo = format!("live,file://{}", fx.join("live-x86_64").display());
    let t0 = std::time::Instant::now();
    let built = common::build_live_as(
        &ks,
        "KILN-EXAMPLE",
        &work,
        &["--repo", &repo],
        &[],
        Some(ids),
    )
    .0;
    eprintln!(
        "example build as {}: {:.1} s, {} packages",
        common::ROOTLESS_USER,
        t0.elapsed().as_secs_f64(),
        built.packages
    );
    let _slot = common::BootSlot::take();
    let log = work.join("serial.log");
    let out = common::as_user(ids, &common::kiln())
        .args(["boot-test", "--accel", "tcg", "--timeout", "900"])
        .args(["--expect", "(^|login: )KILN-BOOT-OK", "--serial-log"])
        .arg(&log)
        .arg(&built.iso)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "boot-test of the example failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let serial = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    assert!(
        serial.contains("KILN-POST kiln example built"),
        "no line of the example's %post on the serial console"
    );
    let _ = std::fs::remove_dir_all(&work);
}
