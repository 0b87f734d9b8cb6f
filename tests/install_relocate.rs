//! Relocatable packages: `kiln install-rpms --prefix/--relocate` against `rpm -i --root
//! --prefix/--relocate` (fixtures/fidelity/kf-db-reloc*.spec): trees, `rpm -qa --xml` (the
//! relocated BASENAMES/DIRNAMES, ORIG*, INSTPREFIXES), `rpm -qf`, `rpm -Va`, and the
//! `RPM_INSTALL_PREFIX*` the scriptlets see; the refusals are rpm's.

mod common;
mod kfdb;

use std::path::{Path, PathBuf};

use kfdb::{assert_same, busybox, kiln_i, ok, ready, rpm, rpm_i, scratch};

const DBPATH: &str = "/var/lib/rpm";

/// Both roots get busybox first (a /bin/sh; a transaction of its own, since a relocation
/// applies to every package of a transaction and busybox is not relocatable), then `pkgs`
/// with `args`.
fn compare(name: &str, fx: &Path, pkgs: &[PathBuf], args: &[&str]) -> (PathBuf, PathBuf) {
    let dir = scratch(name);
    let (r, k) = (dir.join("rpm"), dir.join("kiln"));
    ok("rpm -i busybox", &rpm_i(&r, DBPATH, &[busybox(fx)], &[]));
    ok("rpm -i", &rpm_i(&r, DBPATH, pkgs, args));
    ok(
        "kiln busybox",
        &kiln_i(&k, Some(DBPATH), &[busybox(fx)], &[]),
    );
    ok("kiln", &kiln_i(&k, Some(DBPATH), pkgs, args));
    for log in ["kf-reloc.log", "kf-reloc2.log"] {
        assert_eq!(
            std::fs::read_to_string(k.join(log)).ok(),
            std::fs::read_to_string(r.join(log)).ok(),
            "{name}: {log}"
        );
    }
    assert_same(&r, &k, DBPATH);
    (r, k)
}

#[test]
fn not_relocated_records_prefixes() {
    let Some(fx) = ready() else { return };
    let (r, _) = compare("plain", &fx, &[rpm("kf-db-reloc2-1.0")], &[]);
    let log = std::fs::read_to_string(r.join("kf-reloc2.log")).unwrap();
    assert!(
        log.contains("[/opt/kf-reloc2] [/opt/kf-reloc2] [/etc/kf-reloc2]"),
        "{log}"
    );
}

#[test]
fn prefix_matches_rpm() {
    let Some(fx) = ready() else { return };
    let (r, _) = compare(
        "prefix",
        &fx,
        &[rpm("kf-db-reloc-1.0")],
        &["--prefix", "/usr/local/kf"],
    );
    assert!(r.join("usr/local/kf/bin/tool").is_file());
    let log = std::fs::read_to_string(r.join("kf-reloc.log")).unwrap();
    assert!(log.contains("[/usr/local/kf] [/usr/local/kf] []"), "{log}");
}

/// rpm 4.18 crashes on a prefix right under `/` (`rpm -i --prefix /kfx`: segfault), so there
/// is no oracle: kiln installs it, and rpm reads kiln's database back consistently.
#[test]
fn prefix_right_under_the_root_reads_back_in_rpm() {
    let Some(fx) = ready() else { return };
    let dir = scratch("prefix-top");
    let k = dir.join("kiln");
    ok(
        "kiln busybox",
        &kiln_i(&k, Some(DBPATH), &[busybox(&fx)], &[]),
    );
    ok(
        "kiln",
        &kiln_i(
            &k,
            Some(DBPATH),
            &[rpm("kf-db-reloc-1.0")],
            &["--prefix", "/kfx/"],
        ),
    );
    assert!(k.join("kfx/bin/tool").is_file());
    let q = |args: &[&str]| kfdb::rpm_q(&k, DBPATH, args);
    assert_eq!(
        q(&["-qf", "/kfx", "/kfx/bin/tool", "/kfx/etc/reloc.conf"]).1,
        "kf-db-reloc-1.0-1.noarch\n".repeat(3)
    );
    assert_eq!(q(&["-V", "kf-db-reloc"]), (true, String::new()));
    assert_eq!(
        q(&[
            "-q",
            "--qf",
            "[%{INSTPREFIXES}]|[%{ORIGDIRNAMES} ]",
            "kf-db-reloc"
        ])
        .1,
        "/kfx|/opt/ /opt/kf-reloc/ /opt/kf-reloc/bin/ /opt/kf-reloc/etc/ /opt/kf-reloc/share/ "
    );
    let log = std::fs::read_to_string(k.join("kf-reloc.log")).unwrap();
    assert!(log.contains("post 1 [/kfx] [/kfx] []"), "{log}");
}

#[test]
fn relocate_matches_rpm() {
    let Some(fx) = ready() else { return };
    compare(
        "relocate",
        &fx,
        &[rpm("kf-db-reloc-1.0")],
        &["--relocate", "/opt/kf-reloc=/srv/kf"],
    );
}

#[test]
fn relocate_two_prefixes_matches_rpm() {
    let Some(fx) = ready() else { return };
    compare(
        "relocate-two",
        &fx,
        &[rpm("kf-db-reloc2-1.0")],
        &[
            "--relocate",
            "/etc/kf-reloc2=/srv/b/etc",
            "--relocate",
            "/opt/kf-reloc2=/srv/a",
        ],
    );
}

#[test]
fn relocate_one_of_two_prefixes_matches_rpm() {
    let Some(fx) = ready() else { return };
    compare(
        "relocate-one-of-two",
        &fx,
        &[rpm("kf-db-reloc2-1.0")],
        &["--relocate", "/etc/kf-reloc2=/etc/elsewhere"],
    );
}

/// rpm's refusals, word for word, and nothing written.
#[test]
fn refusals_match_rpm() {
    if ready().is_none() {
        return;
    }
    let dir = scratch("refusals");
    for (pkg, args, says) in [
        (
            "kf-db-reloc2-1.0",
            vec!["--prefix", "/x"],
            "package kf-db-reloc2 is not relocatable",
        ),
        (
            "kf-db-clash-1.0",
            vec!["--prefix", "/x"],
            "package kf-db-clash is not relocatable",
        ),
        (
            "kf-db-reloc-1.0",
            vec!["--relocate", "/opt=/x"],
            "path /opt in package kf-db-reloc-1.0-1.noarch is not relocatable",
        ),
        (
            "kf-db-clash-1.0",
            vec!["--relocate", "/opt/kf-db=/x"],
            "path /opt/kf-db in package kf-db-clash-1.0-1.noarch is not relocatable",
        ),
    ] {
        let (r, k) = (dir.join("rpm"), dir.join("kiln"));
        let o = rpm_i(&r, DBPATH, &[rpm(pkg)], &args);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "rpm: {err}");
        let o = kiln_i(&k, Some(DBPATH), &[rpm(pkg)], &args);
        assert_eq!(o.status.code(), Some(1), "{pkg} {args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "kiln: {err}");
        assert!(!k.exists(), "kiln left a root behind");
    }
}
