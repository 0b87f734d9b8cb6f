//! The SELinux fixture (`fixtures/build-repos`' `selinux-x86_64` repo: Debian 12's refpolicy,
//! policycoreutils, selinux-utils, with the policy store built as Fedora's package ships it)
//! built by `kiln build --make-iso` from `ks/selinux-x86_64.ks`, checked against the reference
//! labeller and booted:
//!
//! - every path of kiln's root image carries the `security.selinux` label that the target's own
//!   policy gives it by the real `setfiles` (policycoreutils), run on an unlabelled copy of the
//!   same tree; and `setfiles` on a root that `dnf --installroot` made of the same packages
//!   agrees with kiln's image path for path;
//! - the image boots in qemu (TCG) with `selinux=1 security=selinux`, SELinux enforcing, and the
//!   fixture's boot check (kiln-selinux-check) finds nothing for `restorecon -n -v -R /usr /etc
//!   /var` to change.
//!
//! One build, shared by both tests and kept for reruns (`common::build_live_shared`). Needs
//! root (dnf's install, mount, setfiles writing xattrs), the fixtures, dnf, setfiles, xorriso,
//! unsquashfs and qemu-system-x86.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{run_ok, Built};

const KS: &str = "ks/selinux-x86_64.ks";
const LABEL: &str = "KILN-SELINUX";
/// The policy the fixture's /etc/selinux/config names.
const FILE_CONTEXTS: &str = "etc/selinux/default/contexts/files/file_contexts";

fn fixtures() -> Option<PathBuf> {
    let fx = common::fixtures()?;
    if fx.join(KS).is_file() {
        return Some(fx);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{} missing: rebuild the fixtures (fixtures/build-repos)",
            fx.join(KS).display()
        );
    }
    eprintln!(
        "SKIP: {} missing (fixtures built before the SELinux set)",
        fx.join(KS).display()
    );
    None
}

/// The SELinux fixture's ISO, built once for both tests (and for reruns).
fn shared_build() -> Option<&'static (Built, serde_json::Value)> {
    static B: OnceLock<Option<(Built, serde_json::Value)>> = OnceLock::new();
    B.get_or_init(|| {
        let fx = fixtures()?;
        let (built, report, _) = common::build_live_shared(
            "selinux-x86_64",
            &fx.join(KS),
            LABEL,
            &[],
            &[("SOURCE_DATE_EPOCH", common::LIVE_EPOCH)],
        );
        Some((built, report))
    })
    .as_ref()
}

/// The `security.selinux` value of `path` (not following a symlink), without the trailing NUL
/// libselinux writes.
fn label(path: &Path) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    let n = rustix::fs::lgetxattr(path, "security.selinux", &mut buf[..]).ok()?;
    buf.truncate(n);
    while buf.last() == Some(&0) {
        buf.pop();
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// Every path beneath `root` ("/" for the root itself) with its label, if any.
fn labels(root: &Path) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let full = root.join(&rel);
        out.insert(format!("/{}", rel.display()), label(&full));
        let md = std::fs::symlink_metadata(&full).unwrap();
        if md.is_dir() {
            for e in std::fs::read_dir(&full).unwrap() {
                stack.push(rel.join(e.unwrap().file_name()));
            }
        }
    }
    out
}

/// Real `setfiles` (policycoreutils) relabels the tree at `root` with the policy's
/// file_contexts in that root (its .homedirs, .subs and .subs_dist beside it are read too), as
/// Anaconda's and livecd-creator's relabel does: `-r` matches paths relative to the root.
fn setfiles(root: &Path) {
    run_ok(
        Command::new("setfiles")
            .args(["-F", "-r"])
            .arg(root)
            .arg(root.join(FILE_CONTEXTS))
            .arg(root),
    );
}

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A read-only squashfs mount, unmounted when dropped.
struct Mounted(PathBuf);
impl Mounted {
    fn squashfs(image: &Path, at: &Path) -> Mounted {
        std::fs::create_dir_all(at).unwrap();
        run_ok(
            Command::new("mount")
                .args(["-t", "squashfs", "-o", "loop,ro"])
                .arg(image)
                .arg(at),
        );
        Mounted(at.to_owned())
    }
}
impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Paths whose labels differ between `ours` and `theirs` among `paths`, as printable lines.
fn differing<'a>(
    paths: impl Iterator<Item = &'a String>,
    ours: &BTreeMap<String, Option<String>>,
    theirs: &BTreeMap<String, Option<String>>,
) -> Vec<String> {
    paths
        .filter(|p| ours.get(*p) != theirs.get(*p))
        .map(|p| format!("{p}: kiln {:?}, setfiles {:?}", ours[p], theirs[p]))
        .collect()
}

fn count_labelled(m: &BTreeMap<String, Option<String>>) -> usize {
    m.values().filter(|l| l.is_some()).count()
}

/// The labels of the root image in `iso`, as the kernel's squashfs reads them (extracted into
/// `work`, mounted there and unmounted again).
fn image_labels(iso: &Path, work: &Path) -> BTreeMap<String, Option<String>> {
    let sq = work.join("squashfs.img");
    run_ok(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(iso)
            .args(["-extract", "/LiveOS/squashfs.img"])
            .arg(&sq),
    );
    let _m = Mounted::squashfs(&sq, &work.join("mnt"));
    labels(&work.join("mnt"))
}

#[test]
fn labels_agree_with_setfiles() {
    // The labels are read back from a loop mount of the image: real root only.
    if !common::require(common::is_root(), "root (a loop mount of the root image)") {
        return;
    }
    let Some((b, report)) = shared_build() else {
        return;
    };
    for tool in [
        "/usr/sbin/setfiles",
        "/usr/bin/dnf",
        "/usr/bin/xorriso",
        "/usr/bin/unsquashfs",
    ] {
        if !common::have_tool(tool) {
            return;
        }
    }
    let fx = fixtures().unwrap();
    let work = tmp("selinux-labels");
    let sq = work.join("squashfs.img");

    // kiln's labels, as the kernel's squashfs reads them.
    let kiln = image_labels(&b.iso, &work);

    // setfiles on kiln's own tree, unlabelled (unsquashfs without the xattrs): every path.
    let copy = work.join("copy");
    run_ok(
        Command::new("unsquashfs")
            .args(["-no-xattrs", "-no-progress", "-d"])
            .arg(&copy)
            .arg(&sq),
    );
    assert!(
        labels(&copy).values().all(Option::is_none),
        "unsquashfs -no-xattrs left labels"
    );
    setfiles(&copy);
    let on_copy = labels(&copy);
    let _ = std::fs::remove_dir_all(&copy);
    let _ = std::fs::remove_file(&sq);
    assert_eq!(
        kiln.keys().collect::<Vec<_>>(),
        on_copy.keys().collect::<Vec<_>>(),
        "unsquashfs extracted other paths than the mount shows"
    );
    let diff_copy = differing(kiln.keys(), &kiln, &on_copy);
    eprintln!(
        "setfiles on an unlabelled copy of kiln's image: {} of {} paths labelled; kiln's image \
         carries {} labels; {} of {} paths agree",
        count_labelled(&on_copy),
        kiln.len(),
        count_labelled(&kiln),
        kiln.len() - diff_copy.len(),
        kiln.len()
    );

    // The peer: dnf installs the same packages into an empty root, setfiles labels it.
    let nevras: Vec<String> = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    let root = work.join("dnf-root");
    let mut dnf = Command::new("dnf");
    dnf.arg("-q")
        .arg(format!("--installroot={}", root.display()))
        .args(["--releasever=1", "--disablerepo=*", "--nogpgcheck", "-y"])
        .args([
            "--setopt=install_weak_deps=False",
            "--setopt=metadata_expire=0",
        ])
        .arg("--setopt=cachedir=/var/cache/dnf");
    for repo in ["live-x86_64", "selinux-x86_64"] {
        dnf.arg(format!(
            "--repofrompath={repo},file://{}",
            fx.join(repo).display()
        ))
        .arg(format!("--enablerepo={repo}"));
    }
    run_ok(dnf.arg("install").args(&nevras));
    setfiles(&root);
    let peer = labels(&root);
    let _ = std::fs::remove_dir_all(&root);
    let common_paths: Vec<&String> = kiln.keys().filter(|p| peer.contains_key(*p)).collect();
    let diff_peer = differing(common_paths.iter().copied(), &kiln, &peer);
    eprintln!(
        "setfiles labelled {} paths of dnf's root ({} paths); kiln's image carries {} labels \
         ({} paths); {} paths in both, {} differ",
        count_labelled(&peer),
        peer.len(),
        count_labelled(&kiln),
        kiln.len(),
        common_paths.len(),
        diff_peer.len()
    );

    // Most of the image is labelled: a policy that labels nothing cannot pass for agreement.
    assert!(
        count_labelled(&kiln) * 10 > kiln.len() * 9,
        "kiln's image has {} labels for {} paths",
        count_labelled(&kiln),
        kiln.len()
    );
    assert!(
        diff_copy.is_empty(),
        "{} paths of kiln's image differ from setfiles on the same tree:\n{}",
        diff_copy.len(),
        diff_copy
            .iter()
            .take(50)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        diff_peer.is_empty(),
        "{} paths differ from setfiles on dnf's root:\n{}",
        diff_peer.len(),
        diff_peer
            .iter()
            .take(50)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The value of the serial console line starting with `key ` (the last one).
fn console_value<'a>(serial: &'a str, key: &str) -> Option<&'a str> {
    serial
        .lines()
        .rev()
        .find_map(|l| l.split(&format!("{key} ")).nth(1))
        .map(str::trim)
}

#[test]
fn boots_enforcing_with_nothing_to_relabel() {
    let Some((b, _)) = shared_build() else {
        return;
    };
    if !common::have_tool("/usr/bin/qemu-system-x86_64") {
        return;
    }
    let log = b.work.join("serial-selinux-bios-cdrom.log");
    let _ = std::fs::remove_file(&log);
    // Not common::boot_fixture's `KILN-BOOT-OK`: when systemd logs to the console (journald is
    // denied here, see the AVC denials printed below) its "Starting kiln-boot-ok.service - Print
    // KILN-BOOT-OK ..." line matches that too, before the service has printed anything.
    let out = Command::new(common::kiln())
        .args(["boot-test", "--accel", "tcg", "--timeout", "1500"])
        .args(["--firmware", "bios", "--as", "cdrom"])
        .args(["--expect", "^KILN-RPM-COUNT [0-9]+"])
        .arg("--serial-log")
        .arg(&log)
        .arg(&b.iso)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "boot failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let serial = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    assert!(
        serial.lines().any(|l| l.trim() == "KILN-BOOT-OK"),
        "no KILN-BOOT-OK"
    );
    assert_eq!(
        console_value(&serial, "KILN-RPM-COUNT").and_then(|n| n.parse::<usize>().ok()),
        Some(b.packages),
        "the booted system's rpm -qa count differs from the build's transaction"
    );
    assert!(
        serial.contains("KILN-POST kiln fixture live image built"),
        "no %post marker on the serial console"
    );
    eprintln!("selinux bios/cdrom: KILN-BOOT-OK, {} packages", b.packages);
    let enforce = console_value(&serial, "KILN-SELINUX-ENFORCE");
    let changes = console_value(&serial, "KILN-RESTORECON-CHANGES");
    let made_at_boot = console_value(&serial, "KILN-RESTORECON-CHANGES-MADE-AT-BOOT");
    let restorecon: Vec<&str> = serial
        .lines()
        .filter(|l| l.contains("KILN-RESTORECON"))
        .collect();
    eprintln!(
        "booted with selinux=1 security=selinux: getenforce {enforce:?}; restorecon -n -v -R \
         /usr /etc /var: {changes:?} changes to paths of the image, {made_at_boot:?} to paths \
         made at boot (serial log {})",
        log.display()
    );
    for l in serial
        .lines()
        .filter(|l| l.contains("KILN-SESTATUS ") || l.contains("KILN-RESTORECON"))
    {
        eprintln!("  {}", l.trim());
    }
    // The kernel prints AVC denials on the console (no auditd): grouped by what was denied.
    let mut denials: BTreeMap<String, usize> = BTreeMap::new();
    for l in serial.lines().filter(|l| l.contains("avc:  denied")) {
        let what: Vec<&str> = l
            .split_whitespace()
            .filter(|w| {
                w.starts_with("comm=")
                    || w.starts_with("scontext=")
                    || w.starts_with("tcontext=")
                    || w.starts_with("tclass=")
                    || w.starts_with("name=")
            })
            .collect();
        let perm = l.split('{').nth(1).and_then(|r| r.split('}').next());
        *denials
            .entry(format!("{{{}}} {}", perm.unwrap_or("?"), what.join(" ")))
            .or_default() += 1;
    }
    eprintln!(
        "AVC denials on the console: {}",
        denials.values().sum::<usize>()
    );
    for (what, n) in &denials {
        eprintln!("  {n:4} {what}");
    }
    assert_eq!(enforce, Some("Enforcing"), "SELinux is not enforcing");
    assert!(
        serial
            .lines()
            .any(|l| l.contains("KILN-SESTATUS SELinux status:")
                && l.trim_end().ends_with("enabled")),
        "sestatus does not say enabled"
    );
    assert_eq!(
        changes,
        Some("0"),
        "restorecon would relabel paths of the image:\n{}",
        restorecon.join("\n")
    );
}

/// Cross-arch: `kiln build --arch aarch64` of `ks/selinux-aarch64.ks` (target code through
/// qemu-user; the labels are computed natively either way) gives every path the aarch64 and
/// the x86_64 image share the same label. Built, not booted.
#[test]
fn aarch64_labels_match_x86_64() {
    // The labels are read back from a loop mount of the image: real root only.
    if !common::require(common::is_root(), "root (a loop mount of the root image)") {
        return;
    }
    let Some((b, _)) = shared_build() else {
        return;
    };
    let fx = fixtures().unwrap();
    let ks = fx.join("ks/selinux-aarch64.ks");
    if !ks.is_file() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{} missing", ks.display());
        }
        eprintln!("SKIP: {} missing", ks.display());
        return;
    }
    if !common::have_tool("/usr/bin/qemu-aarch64-static") {
        return;
    }
    let (a64, _, _) = common::build_live_shared(
        "selinux-aarch64",
        &ks,
        "KILN-SELINUX-A64",
        &["--arch", "aarch64"],
        &[("SOURCE_DATE_EPOCH", common::LIVE_EPOCH)],
    );
    let work = tmp("selinux-cross-arch");
    std::fs::create_dir_all(work.join("x86_64")).unwrap();
    std::fs::create_dir_all(work.join("aarch64")).unwrap();
    let x86 = image_labels(&b.iso, &work.join("x86_64"));
    let arm = image_labels(&a64.iso, &work.join("aarch64"));
    let _ = std::fs::remove_dir_all(&work);
    let both: Vec<&String> = x86.keys().filter(|p| arm.contains_key(*p)).collect();
    let differ: Vec<String> = both
        .iter()
        .filter(|p| x86[**p] != arm[**p])
        .map(|p| format!("{p}: x86_64 {:?}, aarch64 {:?}", x86[*p], arm[*p]))
        .collect();
    eprintln!(
        "x86_64 image {} paths, aarch64 image {} paths; {} in both, {} of them with the same \
         label ({} labelled)",
        x86.len(),
        arm.len(),
        both.len(),
        both.len() - differ.len(),
        both.iter().filter(|p| arm[**p].is_some()).count()
    );
    assert!(
        count_labelled(&arm) * 10 > arm.len() * 9,
        "the aarch64 image has {} labels for {} paths",
        count_labelled(&arm),
        arm.len()
    );
    assert!(
        differ.is_empty(),
        "{} shared paths labelled differently:\n{}",
        differ.len(),
        differ
            .iter()
            .take(50)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
