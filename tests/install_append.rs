//! A second `kiln install-rpms` into a root that has packages appends a transaction, as
//! `rpm -i --root` does: checked against rpm for every mix (kiln then kiln, rpm then kiln, kiln
//! then rpm) by the tree, `rpm -qa --xml`, `rpm -qf`, `rpm -Va`, the dependency indexes and the
//! scriptlets' log (`$1`/`$2` counting installed instances, triggers of installed packages);
//! conflicts with installed files and an installed NEVRA are refused as rpm refuses them,
//! leaving the root as it was.

mod common;
mod kfdb;

use std::path::{Path, PathBuf};

use kfdb::{assert_same, busybox, kiln_i, ok, ready, rpm, rpm_i, scratch, tree, tree_diff};

const DBPATH: &str = "/var/lib/rpm";

/// The layers, one transaction each: A (busybox for /bin/sh, kf-db-base, kf-db-multi 1.0),
/// B (kf-db-addon: shares files with and triggers on kf-db-base), C (kf-db-multi 2.0 beside
/// 1.0). B and C are one package each: rpm orders unrelated packages its own way, kiln
/// installs in the order given.
fn layers(fx: &Path) -> Vec<Vec<PathBuf>> {
    vec![
        vec![busybox(fx), rpm("kf-db-base-1.0"), rpm("kf-db-multi-1.0")],
        vec![rpm("kf-db-addon-1.0")],
        vec![rpm("kf-db-multi-2.0")],
    ]
}

fn oracle(dir: &Path, layers: &[Vec<PathBuf>]) -> PathBuf {
    let r = dir.join("rpm");
    for l in layers {
        ok("rpm -i", &rpm_i(&r, DBPATH, l, &[]));
    }
    r
}

fn log(root: &Path) -> String {
    std::fs::read_to_string(root.join("kf-db.log")).unwrap_or_default()
}

#[test]
fn kiln_then_kiln_matches_rpm() {
    let Some(fx) = ready() else { return };
    let dir = scratch("kiln-kiln");
    let l = layers(&fx);
    let want = oracle(&dir, &l);
    let k = dir.join("kiln");
    for x in &l {
        ok("kiln", &kiln_i(&k, Some(DBPATH), x, &[]));
    }
    assert_eq!(log(&k), log(&want), "scriptlet and trigger log");
    assert!(log(&want).contains("pre multi-2.0 2"), "{}", log(&want));
    assert_same(&want, &k, DBPATH);
}

#[test]
fn kiln_on_an_rpm_root_matches_rpm() {
    let Some(fx) = ready() else { return };
    let dir = scratch("rpm-kiln");
    let l = layers(&fx);
    let want = oracle(&dir, &l);
    let k = dir.join("kiln");
    ok("rpm -i A", &rpm_i(&k, DBPATH, &l[0], &[]));
    // The root has no rpm macros: its %_dbpath is kiln's default, not where rpm put the db.
    let o = kiln_i(&k, None, &l[1], &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("/var/lib/rpm") && err.contains("--dbpath"),
        "{err}"
    );
    ok("kiln B", &kiln_i(&k, Some(DBPATH), &l[1], &[]));
    ok("kiln C", &kiln_i(&k, Some(DBPATH), &l[2], &[]));
    assert_eq!(log(&k), log(&want), "scriptlet and trigger log");
    assert_same(&want, &k, DBPATH);
}

#[test]
fn rpm_on_a_kiln_root_matches_rpm() {
    let Some(fx) = ready() else { return };
    let dir = scratch("kiln-rpm");
    let l = layers(&fx);
    let want = oracle(&dir, &l);
    let k = dir.join("kiln");
    ok("kiln A", &kiln_i(&k, Some(DBPATH), &l[0], &[]));
    ok("rpm -i B", &rpm_i(&k, DBPATH, &l[1], &[]));
    ok("kiln C", &kiln_i(&k, Some(DBPATH), &l[2], &[]));
    assert_eq!(log(&k), log(&want), "scriptlet and trigger log");
    assert_same(&want, &k, DBPATH);
}

#[test]
fn default_dbpath_appends_where_the_first_install_wrote() {
    let Some(fx) = ready() else { return };
    let dir = scratch("default-dbpath");
    let l = layers(&fx);
    let k = dir.join("kiln");
    for x in &l {
        ok("kiln", &kiln_i(&k, None, x, &[]));
    }
    let (okq, out) = kfdb::rpm_q(
        &k,
        "/usr/lib/sysimage/rpm",
        &["-qa", "--qf", "%{NAME}-%{VERSION}\\n"],
    );
    assert!(okq);
    assert_eq!(
        out,
        "busybox-1.35.0\nkf-db-base-1.0\nkf-db-multi-1.0\nkf-db-addon-1.0\nkf-db-multi-2.0\n"
    );
}

/// What rpm refuses, kiln refuses, before anything changes in the root.
#[test]
fn conflicts_and_installed_packages_refused_as_rpm() {
    let Some(fx) = ready() else { return };
    let dir = scratch("refused");
    let a = layers(&fx).swap_remove(0);
    let (r, k) = (dir.join("rpm"), dir.join("kiln"));
    ok("rpm -i A", &rpm_i(&r, DBPATH, &a, &[]));
    ok("kiln A", &kiln_i(&k, Some(DBPATH), &a, &[]));
    // Any reader of the database writes its shared-memory index (rpm -q too).
    let shm = "/var/lib/rpm/rpmdb.sqlite-shm";
    let before = tree(&k, &[shm]);
    for (pkgs, rpm_says, kiln_says) in [
        (
            vec![rpm("kf-db-clash-1.0")],
            "file /opt/kf-db/base/file from install of kf-db-clash-1.0-1.noarch conflicts with \
             file from package kf-db-base-1.0-1.noarch",
            "/opt/kf-db/base/file",
        ),
        (
            vec![rpm("kf-db-base-1.0")],
            "package kf-db-base-1.0-1.noarch is already installed",
            "package kf-db-base-1.0-1.noarch is already installed",
        ),
    ] {
        let o = rpm_i(&r, DBPATH, &pkgs, &[]);
        assert!(!o.status.success());
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(rpm_says),
            "rpm: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o = kiln_i(&k, Some(DBPATH), &pkgs, &[]);
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(kiln_says), "kiln: {err}");
        let d = tree_diff(&before, &tree(&k, &[shm]));
        assert!(
            d.is_empty(),
            "a refused install changed the root:\n{}",
            d.join("\n")
        );
    }
}

/// A `%config` file an installed package shares (identical) with a new one: rpm keeps the
/// copy on disk when it was modified (`FA_SKIP`), and rewrites a shared non-config file.
#[test]
fn modified_shared_config_is_kept_as_rpm() {
    let Some(fx) = ready() else { return };
    let dir = scratch("config");
    let l = layers(&fx);
    let (r, k) = (dir.join("rpm"), dir.join("kiln"));
    ok("rpm -i A", &rpm_i(&r, DBPATH, &l[0], &[]));
    ok("kiln A", &kiln_i(&k, Some(DBPATH), &l[0], &[]));
    for root in [&r, &k] {
        std::fs::write(root.join("etc/kf-db.conf"), "modified\n").unwrap();
        std::fs::write(root.join("opt/kf-db/shared"), "modified too\n").unwrap();
    }
    ok("rpm -i B", &rpm_i(&r, DBPATH, &l[1], &[]));
    ok("kiln B", &kiln_i(&k, Some(DBPATH), &l[1], &[]));
    assert_eq!(
        std::fs::read_to_string(r.join("etc/kf-db.conf")).unwrap(),
        "modified\n"
    );
    assert_eq!(
        std::fs::read_to_string(r.join("opt/kf-db/shared")).unwrap(),
        "shared\n"
    );
    // The modified file's mtime is the test's own: equal content is what rpm -Va checks.
    let t = |root: &Path| {
        let mut t = tree(root, &[DBPATH]);
        t.remove("/etc/kf-db.conf");
        t
    };
    let d = tree_diff(&t(&r), &t(&k));
    assert!(d.is_empty(), "{}", d.join("\n"));
    assert_eq!(
        std::fs::read_to_string(k.join("etc/kf-db.conf")).unwrap(),
        "modified\n"
    );
    let paths: Vec<String> = t(&r).keys().cloned().collect();
    assert_eq!(
        kfdb::answers(&r, DBPATH, &paths),
        kfdb::answers(&k, DBPATH, &paths)
    );
}

/// A root whose rpmdb is not sqlite (an old bdb `Packages`) is refused with the reason, and
/// left as it was.
#[test]
fn non_sqlite_rpmdb_is_refused() {
    let Some(fx) = ready() else { return };
    let dir = scratch("bdb");
    let k = dir.join("kiln");
    std::fs::create_dir_all(k.join("var/lib/rpm")).unwrap();
    std::fs::write(k.join("var/lib/rpm/Packages"), b"\0\0\0\0bdb").unwrap();
    let before = tree(&k, &[]);
    let o = kiln_i(&k, Some(DBPATH), &[busybox(&fx)], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bdb") && err.contains("sqlite"), "{err}");
    assert!(tree_diff(&before, &tree(&k, &[])).is_empty());
}
