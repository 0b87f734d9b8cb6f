//! Package signatures (Step 9): the fixture's signed synthetic repository verifies with its
//! published key; a tampered payload, a corrupted signature, a package signed by an unknown key
//! and an unsigned package each fail with an error naming the package, before any payload is
//! used (the install root stays empty); `rpm -K` with the same key agrees on every file; a repomd
//! record without a checksum is refused.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("signatures")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn key(fx: &Path) -> PathBuf {
    fx.join("synthetic/RPM-GPG-KEY-kiln-test")
}

/// A kickstart over repository `repo` installing `pkgs`.
fn ks(dir: &Path, repo: &Path, pkgs: &str) -> PathBuf {
    let p = dir.join("t.ks");
    std::fs::write(
        &p,
        format!(
            "repo --name=r --baseurl=file://{}\n%packages --nocore\n{pkgs}\n%end\n",
            repo.display()
        ),
    )
    .unwrap();
    p
}

fn kiln(dir: &Path, args: &[&str]) -> Output {
    Command::new(common::kiln())
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// `kiln download` of `ks` into `cache` with `extra` options.
fn download(d: &Path, ks: &Path, cache: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "download",
        "--ks",
        ks.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    kiln(d, &args)
}

/// rpm's own verdict: `rpm -K` with only `key` imported into a private database.
fn rpm_k(dir: &Path, key: &Path, rpm: &Path) -> (bool, String) {
    let db = dir.join("rpmdb");
    if !db.is_dir() {
        std::fs::create_dir_all(&db).unwrap();
        common::run_ok(
            Command::new("rpm")
                .arg("--dbpath")
                .arg(&db)
                .arg("--import")
                .arg(key),
        );
    }
    let o = Command::new("rpm")
        .arg("--dbpath")
        .arg(&db)
        .arg("-Kv")
        .arg(rpm)
        .output()
        .unwrap();
    (
        o.status.success() && !String::from_utf8_lossy(&o.stdout).contains("NOKEY"),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// A repository: the synthetic packages except those whose file name starts with one of `drop`,
/// plus `extra` files.
fn repo_with(dir: &Path, fx: &Path, drop: &[&str], extra: &[&Path]) -> PathBuf {
    let r = dir.join("repo");
    std::fs::create_dir_all(r.join("Packages")).unwrap();
    for e in std::fs::read_dir(fx.join("synthetic/Packages")).unwrap() {
        let e = e.unwrap();
        let n = e.file_name().to_string_lossy().into_owned();
        if !drop.iter().any(|d| n.starts_with(d)) {
            std::fs::copy(e.path(), r.join("Packages").join(&n)).unwrap();
        }
    }
    for x in extra {
        std::fs::copy(x, r.join("Packages").join(x.file_name().unwrap())).unwrap();
    }
    common::run_ok(
        Command::new("createrepo_c")
            .args(["-q", "--no-database"])
            .arg(&r),
    );
    r
}

#[test]
fn signed_repository_verifies_and_rpm_agrees() {
    let Some(fx) = common::fixtures() else { return };
    if !common::have_tool("/usr/bin/rpm") {
        return;
    }
    let d = tmp("good");
    let k = key(&fx);
    let repo = fx.join("synthetic");
    let ks = ks(&d, &repo, "kt-multi\nkt-oldname\nkt-caret");
    let cache = d.join("cache");
    let o = download(&d, &ks, &cache, &["--gpgkey", k.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let files: Vec<PathBuf> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split('\t').nth(1).map(PathBuf::from))
        .collect();
    assert!(files.len() >= 3, "{files:?}");
    for f in &files {
        let (ok, out) = rpm_k(&d, &k, f);
        assert!(ok, "rpm -K rejects what kiln accepted: {out}");
    }
    // The same through --gpgcheck with the key given per repository.
    let o = download(
        &d,
        &ks,
        &cache,
        &[
            "--gpgcheck",
            "--repo",
            &format!("r,file://{},gpgkey={}", repo.display(), k.display()),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // --gpgcheck with no key for the repository is refused, naming it.
    let o = download(&d, &ks, &cache, &["--gpgcheck"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("repository `r` has no key"),
        "{}",
        stderr(&o)
    );
    // A key file that is not a key.
    let o = download(&d, &ks, &cache, &["--gpgkey", ks.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not a usable OpenPGP public key"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn tampered_and_untrusted_packages_fail_before_install() {
    let Some(fx) = common::fixtures() else { return };
    if !common::have_tool("/usr/bin/rpm") || !common::have_tool("/usr/bin/rpmsign") {
        return;
    }
    let k = key(&fx);
    let broken = fx.join("synthetic-broken/Packages");
    let d0 = tmp("unsigned-src");
    // An unsigned copy of a signed package: rpmsign --delsign.
    let unsigned = d0.join("kt-unsigned-1.0-1.noarch.rpm");
    let src = std::fs::read_dir(fx.join("synthetic/Packages"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("kt-oldname-")
        })
        .unwrap();
    std::fs::copy(&src, &unsigned).unwrap();
    common::run_ok(Command::new("rpmsign").arg("--delsign").arg(&unsigned));
    // kt-newname obsoletes kt-oldname: both go, or the request would resolve to kt-newname.
    let oldname: &[&str] = &["kt-oldname-", "kt-newname-"];
    let cases: [(&str, &[&str], PathBuf, &str, &str); 4] = [
        (
            "bad-payload",
            &["kt-multi-"],
            broken.join("kt-bad-payload-1.0-1.noarch.rpm"),
            "kt-multi",
            "payload does not match the signed header",
        ),
        (
            "bad-signature",
            oldname,
            broken.join("kt-bad-signature-1.0-1.noarch.rpm"),
            "kt-oldname",
            "BAD",
        ),
        (
            "unknown-key",
            &["kt-caret-"],
            broken.join("kt-unknown-key-1.0-1.noarch.rpm"),
            "kt-caret",
            "not a trusted key (NOKEY)",
        ),
        (
            "unsigned",
            oldname,
            unsigned.clone(),
            "kt-oldname",
            "not signed",
        ),
    ];
    for (name, drop, file, pkg, why) in &cases {
        let d = tmp(name);
        let repo = repo_with(&d, &fx, drop, &[file]);
        let ks = ks(&d, &repo, pkg);
        let root = d.join("root");
        std::fs::create_dir_all(&root).unwrap();
        let o = kiln(
            &d,
            &[
                "install",
                "--ks",
                ks.to_str().unwrap(),
                "--cache",
                d.join("cache").to_str().unwrap(),
                "--root",
                root.to_str().unwrap(),
                "--gpgkey",
                k.to_str().unwrap(),
            ],
        );
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {e}");
        assert!(
            e.contains(&format!("package {pkg}-")) && e.contains("signature verification"),
            "{name}: the error must name the package: {e}"
        );
        assert!(e.contains(why), "{name}: expected `{why}` in: {e}");
        // Nothing of any package was written: the check comes before the install.
        let left: Vec<_> = std::fs::read_dir(&root).unwrap().collect();
        assert!(left.is_empty(), "{name}: the root is not empty: {left:?}");
        // rpm -K rejects it too, except the unsigned one, which rpm -K only digests
        // (dnf's gpgcheck refuses it, as kiln does).
        let (ok, out) = rpm_k(&d, &k, file);
        if *name == "unsigned" {
            assert!(!out.contains("Signature"), "{out}");
        } else {
            assert!(!ok, "{name}: rpm -K accepts it: {out}");
        }
        // --nogpgcheck lets the signature-only failures through (livecd-creator's flag).
        if matches!(*name, "unknown-key" | "unsigned") {
            let o = download(
                &d,
                &ks,
                &d.join("cache"),
                &["--gpgkey", k.to_str().unwrap(), "--nogpgcheck"],
            );
            assert!(o.status.success(), "{name}: {}", stderr(&o));
        }
    }
}

#[test]
fn build_with_a_tampered_package_fails_before_install() {
    let Some(fx) = common::fixtures() else { return };
    let d = tmp("build");
    let k = key(&fx);
    let file = fx.join("synthetic-broken/Packages/kt-bad-payload-1.0-1.noarch.rpm");
    let repo = repo_with(&d, &fx, &["kt-multi-"], &[&file]);
    let ks = ks(&d, &repo, "kt-multi");
    let tmpdir = d.join("tmp");
    let out = d.join("out");
    std::fs::create_dir_all(&tmpdir).unwrap();
    let o = kiln(
        &d,
        &[
            "build",
            "--ks",
            ks.to_str().unwrap(),
            "--cache",
            d.join("cache").to_str().unwrap(),
            "--tmpdir",
            tmpdir.to_str().unwrap(),
            "--resultdir",
            out.to_str().unwrap(),
            "--gpgkey",
            k.to_str().unwrap(),
            "--make-iso",
        ],
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("package kt-multi-1.0-1.noarch") && e.contains("payload"),
        "{e}"
    );
    // No scriptlet ran and nothing is left: the work directory is gone, no image was made.
    assert!(!e.contains("scriptlet"), "{e}");
    let left: Vec<_> = std::fs::read_dir(&tmpdir).unwrap().collect();
    assert!(left.is_empty(), "work dirs left: {left:?}");
    let made: Vec<_> = std::fs::read_dir(&out)
        .map(|r| r.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(
        !made.iter().any(|n| n.to_string_lossy().ends_with(".iso")),
        "{made:?}"
    );
}

#[test]
fn repomd_record_without_checksum_is_refused() {
    let Some(fx) = common::fixtures() else { return };
    let d = tmp("nochecksum");
    let repo = repo_with(&d, &fx, &[], &[]);
    let repomd = repo.join("repodata/repomd.xml");
    let x = std::fs::read_to_string(&repomd).unwrap();
    // Drop the primary record's <checksum> element.
    let start = x.find("<data type=\"primary\">").unwrap();
    let cs = start + x[start..].find("<checksum").unwrap();
    let ce = cs + x[cs..].find("</checksum>").unwrap() + "</checksum>".len();
    std::fs::write(&repomd, format!("{}{}", &x[..cs], &x[ce..])).unwrap();
    let ks = ks(&d, &repo, "kt-multi");
    let o = kiln(
        &d,
        &[
            "resolve",
            "--ks",
            ks.to_str().unwrap(),
            "--cache",
            d.join("cache").to_str().unwrap(),
        ],
    );
    let e = stderr(&o);
    assert!(!o.status.success(), "{e}");
    assert!(
        e.contains("`primary` record has no checksum") && e.contains("repomd.xml"),
        "{e}"
    );
}
