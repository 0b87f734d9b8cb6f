//! Every path kiln derives from the target is resolved beneath the root, as a chrooted rpm
//! sees it: rpm macros a package ships that point `%_dbpath` out of the root (`..`, an absolute
//! symlink), and absolute symlinks to host paths planted where the configure stage writes
//! (`/etc/hostname`, `/etc/localtime`, `/etc/passwd`, `/etc/selinux`, `~/.ssh`...). A canary
//! directory on the host must stay exactly as it was, and the writes land inside the root.

mod common;
mod kfdb;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use kfdb::{busybox, kiln_i, ok, ready, rpm, rpm_q, scratch};

/// The host path the fixture specs aim at (`fixtures/fidelity/kf-db-escape.spec`,
/// `kf-db-dblink.spec`).
const CANARY: &str = "/tmp/kiln-escape-canary";

/// The tests of this file share the canary: one at a time.
static CANARY_LOCK: Mutex<()> = Mutex::new(());

/// A fresh canary with a host "secret" where the planted links point, and its listing.
fn canary() -> BTreeMap<String, String> {
    let _ = std::fs::remove_dir_all(CANARY);
    std::fs::create_dir_all(CANARY).unwrap();
    for f in [
        "marker",
        "etc-passwd",
        "etc-shadow",
        "etc-group",
        "etc-hostname",
    ] {
        std::fs::write(Path::new(CANARY).join(f), "HOST-SECRET\n").unwrap();
    }
    kfdb::tree(Path::new(CANARY), &[])
}

fn assert_canary_untouched(before: &BTreeMap<String, String>) {
    let after = kfdb::tree(Path::new(CANARY), &[]);
    let d = kfdb::tree_diff(before, &after);
    assert!(d.is_empty(), "the host canary changed:\n{}", d.join("\n"));
}

#[test]
fn dbpath_climbing_out_of_the_root_stays_inside() {
    let Some(fx) = ready() else { return };
    let _g = CANARY_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let before = canary();
    let dir = scratch("escape");
    let r = dir.join("root");
    ok("kiln", &kiln_i(&r, None, &[rpm("kf-db-escape-1.0")], &[]));
    assert_canary_untouched(&before);
    // A chrooted rpm reads `/../../tmp/x` as `/tmp/x`: that is where the database went.
    let inside = "/tmp/kiln-escape-canary/db";
    assert!(r.join(&inside[1..]).join("rpmdb.sqlite").is_file());
    assert_eq!(
        rpm_q(&r, inside, &["-qa", "--qf", "%{NAME}\\n"]),
        (true, "kf-db-escape\n".to_string())
    );
    // A second transaction finds it there.
    ok("kiln again", &kiln_i(&r, None, &[busybox(&fx)], &[]));
    assert_canary_untouched(&before);
    assert_eq!(
        rpm_q(&r, inside, &["-qa", "--qf", "%{NAME}\\n"]),
        (true, "kf-db-escape\nbusybox\n".to_string())
    );
}

#[test]
fn dbpath_through_an_absolute_symlink_stays_inside() {
    let Some(fx) = ready() else { return };
    let _g = CANARY_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let before = canary();
    let dir = scratch("dblink");
    let r = dir.join("root");
    ok(
        "kiln",
        &kiln_i(&r, None, &[busybox(&fx), rpm("kf-db-dblink-1.0")], &[]),
    );
    assert_canary_untouched(&before);
    // /var/lib/kfdb -> /tmp/kiln-escape-canary/link, resolved in the root.
    let inside = "/tmp/kiln-escape-canary/link";
    assert!(r.join(&inside[1..]).join("rpmdb.sqlite").is_file());
    assert_eq!(
        std::fs::read_link(r.join("var/lib/kfdb")).unwrap(),
        Path::new(inside)
    );
    assert_eq!(
        rpm_q(&r, inside, &["-qa", "--qf", "%{NAME}\\n"]),
        (true, "busybox\nkf-db-dblink\n".to_string())
    );
    ok(
        "kiln again",
        &kiln_i(&r, None, &[rpm("kf-db-base-1.0")], &[]),
    );
    assert_canary_untouched(&before);
    assert_eq!(
        rpm_q(&r, inside, &["-q", "kf-db-base"]),
        (true, "kf-db-base-1.0-1.noarch\n".to_string())
    );
}

/// The configure stage on a root whose /etc files are absolute links to host paths: each
/// write lands in the root (the link replaced, or followed inside the root as a chroot
/// would), nothing is read from the host.
#[test]
fn configure_writes_through_planted_links_stay_inside() {
    use kiln::configure::{self, ConfigureOptions};
    use kiln::install::scriptlet::ScriptRunner;
    let Some(fx) = ready() else { return };
    let _g = CANARY_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let before = canary();
    let dir = scratch("configure");
    let r = dir.join("root");
    ok(
        "kiln",
        &kiln_i(&r, None, &[busybox(&fx), rpm("kf-db-dblink-1.0")], &[]),
    );
    std::fs::create_dir_all(r.join("usr/share/zoneinfo/Europe")).unwrap();
    std::fs::write(r.join("usr/share/zoneinfo/Europe/Prague"), "TZif").unwrap();
    // The user's ~/.ssh is a link to a host directory too.
    std::fs::create_dir_all(r.join("home/kf")).unwrap();
    std::os::unix::fs::symlink(format!("{CANARY}/ssh"), r.join("home/kf/.ssh")).unwrap();
    let ks = kiln::kickstart::parse_str(
        "lang en_US.UTF-8\nkeyboard us\ntimezone Europe/Prague\n\
         user --name=kf --plaintext --password=kiln\n\
         network --hostname=kf-host\nselinux --permissive\n\
         sshkey --username=kf \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKiln kf@test\"\n",
        "paths.ks",
        &Default::default(),
    )
    .unwrap();
    let opts = ConfigureOptions {
        source_date_epoch: Some(1_700_000_000),
        runner: Some(ScriptRunner::new(common::kiln())),
        live_root: None,
        tmp_dir: None,
        ..Default::default()
    };
    configure::configure(&ks, &r, &opts).unwrap();
    assert_canary_untouched(&before);
    // What a chroot sees: the new content, no host secret.
    let read = |p: &str| {
        let host = kiln::fsutil::in_root(&r, p, true);
        std::fs::read_to_string(&host).unwrap_or_else(|e| panic!("{p} ({}): {e}", host.display()))
    };
    assert_eq!(read("/etc/hostname"), "kf-host\n");
    assert!(read("/etc/selinux/config").contains("SELINUX=permissive"));
    assert!(read("/etc/locale.conf").contains("en_US.UTF-8"));
    assert!(read("/home/kf/.ssh/authorized_keys").contains("kf@test"));
    for f in ["/etc/passwd", "/etc/shadow", "/etc/hostname"] {
        assert!(!read(f).contains("HOST-SECRET"), "{f} read from the host");
    }
    assert!(read("/etc/shadow").starts_with("kf:"));
    assert_eq!(
        std::fs::read_link(kiln::fsutil::in_root(&r, "/etc/localtime", false)).unwrap(),
        Path::new("../usr/share/zoneinfo/Europe/Prague")
    );
}
