//! Shared by the rpmdb/append/paths/relocation oracle tests: the `fixtures/fidelity/kf-db-*`
//! specs built with rpmbuild, installs with rpm and with kiln, and everything rpm can say about
//! the result (tree, `rpm -qa --xml`, `-qf`, `-Va`, `--what*`) for comparison.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::common;

/// Fixtures, rpm and rpmbuild, and root: `None` (SKIP) or a panic under CI when missing.
pub fn ready() -> Option<PathBuf> {
    if !rustix::process::geteuid().is_root() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("these tests need root");
        }
        eprintln!("SKIP: not root");
        return None;
    }
    if !common::have_tool("/usr/bin/rpm") || !common::have_tool("/usr/bin/rpmbuild") {
        return None;
    }
    common::fixtures()
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("kfdb-{}", env!("CARGO_CRATE_NAME")))
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The synthetic busybox (a /bin/sh for shell scriptlets, under rpm and kiln alike).
pub fn busybox(fx: &Path) -> PathBuf {
    common::rpm::busybox(fx)
}

/// Every `kf-db-*` spec built once per test binary (plus kf-db-multi 2.0); file name -> path.
pub fn rpms() -> &'static BTreeMap<String, PathBuf> {
    static BUILT: OnceLock<BTreeMap<String, PathBuf>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("kfdb-rpms-{}", env!("CARGO_CRATE_NAME")));
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).unwrap();
        let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fidelity");
        let mut jobs: Vec<(PathBuf, Vec<String>)> = Vec::new();
        for e in std::fs::read_dir(&specs).unwrap() {
            let p = e.unwrap().path();
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            if n.starts_with("kf-db-") && n.ends_with(".spec") {
                jobs.push((p.clone(), Vec::new()));
                if n == "kf-db-multi.spec" {
                    jobs.push((p, vec!["--define".into(), "kfver 2.0".into()]));
                }
            }
        }
        for (spec, extra) in jobs {
            let top = out.join(format!("top-{}", rand_suffix()));
            let o = common::rpm::rpmbuild(&top, Some(&out))
                .args(["--define", "_buildhost kiln-fixtures"])
                .args(&extra)
                .arg(&spec)
                .env("SOURCE_DATE_EPOCH", "1700000000")
                .output()
                .unwrap();
            common::rpm::assert_success(&o, &format!("rpmbuild {}", spec.display()));
            let _ = std::fs::remove_dir_all(&top);
        }
        std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "rpm"))
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
            .collect()
    })
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// One of the built packages by name prefix (`kf-db-base-1.0`).
pub fn rpm(name: &str) -> PathBuf {
    rpms()
        .iter()
        .find(|(n, _)| n.starts_with(name))
        .unwrap_or_else(|| panic!("no built package {name}"))
        .1
        .clone()
}

/// `rpm -i --root ROOT --dbpath DBPATH ...` as the tests' oracle runs it.
pub fn rpm_i(root: &Path, dbpath: &str, files: &[PathBuf], extra: &[&str]) -> Output {
    common::rpm::rpm_at(root, dbpath)
        .args(["-i", "--nodeps", "--nosignature", "--ignorearch"])
        .args(extra)
        .args(files)
        .output()
        .unwrap()
}

/// `kiln install-rpms --root ROOT [--dbpath DBPATH] ... FILES`.
pub fn kiln_i(root: &Path, dbpath: Option<&str>, files: &[PathBuf], extra: &[&str]) -> Output {
    let mut c = Command::new(common::kiln());
    c.arg("install-rpms").arg("--root").arg(root);
    if let Some(d) = dbpath {
        c.arg("--dbpath").arg(d);
    }
    c.args(extra).args(files).env("NO_COLOR", "1");
    c.output().unwrap()
}

/// Panics with the command's output unless it succeeded.
pub fn ok(what: &str, o: &Output) {
    assert!(
        o.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `rpm --root ROOT --dbpath DBPATH ARGS`: (exit success, stdout).
pub fn rpm_q(root: &Path, dbpath: &str, args: &[&str]) -> (bool, String) {
    let o = common::rpm::rpm_at(root, dbpath)
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// Every filesystem object beneath `root` (except under `skip`): type, mode, owner, size,
/// content digest, link target, and the mtime of non-directories.
pub fn tree(root: &Path, skip: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let rel = format!("/{}", p.strip_prefix(root).unwrap().display());
            if skip
                .iter()
                .any(|s| rel == *s || rel.starts_with(&format!("{s}/")))
            {
                continue;
            }
            let md = std::fs::symlink_metadata(&p).unwrap();
            let ft = md.file_type();
            let desc = if ft.is_symlink() {
                format!(
                    "l {:o} {}:{} -> {} {}",
                    md.mode() & 0o7777,
                    md.uid(),
                    md.gid(),
                    std::fs::read_link(&p).unwrap().display(),
                    md.mtime()
                )
            } else if ft.is_dir() {
                stack.push(p.clone());
                format!("d {:o} {}:{}", md.mode() & 0o7777, md.uid(), md.gid())
            } else if ft.is_file() {
                let data = std::fs::read(&p).unwrap();
                // The scriptlets' logs (/kf-*.log) are written when they run.
                let scriptlet_made = rel.starts_with("/kf-") && rel.ends_with(".log");
                format!(
                    "f {:o} {}:{} {} {:x} {}",
                    md.mode() & 0o7777,
                    md.uid(),
                    md.gid(),
                    md.size(),
                    Sha256::digest(&data),
                    if scriptlet_made { 0 } else { md.mtime() }
                )
            } else {
                format!("o {:o} {}", md.mode(), md.rdev())
            };
            out.insert(rel, desc);
        }
    }
    out
}

/// Lines that differ between two trees, for a readable failure.
pub fn tree_diff(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    common::differing(a, b)
        .into_iter()
        .map(|(k, x, y)| match (x, y) {
            (Some(x), Some(y)) => format!("{k}: rpm {x} / kiln {y}"),
            (Some(x), None) => format!("only in rpm's: {k} {x}"),
            (None, y) => format!("only in kiln's: {k} {}", y.unwrap()),
        })
        .collect()
}

/// `rpm -qa --xml` without the tags that name the moment of the install.
pub fn qa_xml(root: &Path, dbpath: &str) -> String {
    let (ok, xml) = rpm_q(root, dbpath, &["-qa", "--xml"]);
    assert!(ok, "rpm -qa --xml on {}", root.display());
    let mut out = String::new();
    let mut skipping = false;
    for l in xml.lines() {
        let t = l.trim();
        if t == "<rpmTag name=\"Installtime\">" || t == "<rpmTag name=\"Installtid\">" {
            skipping = true;
        }
        if !skipping {
            out.push_str(l);
            out.push('\n');
        }
        if skipping && t == "</rpmTag>" {
            skipping = false;
        }
    }
    out
}

/// What rpm answers about a root: every tag of every header, `-qf` of every path in the
/// tree, `-Va`, the file states, and the dependency indexes.
pub fn answers(root: &Path, dbpath: &str, paths: &[String]) -> Vec<(String, String)> {
    let mut v = vec![("rpm -qa --xml".to_string(), qa_xml(root, dbpath))];
    let q = |args: &[&str]| {
        let (ok, out) = rpm_q(root, dbpath, args);
        (format!("rpm {} (ok {ok})", args.join(" ")), out)
    };
    v.push(q(&[
        "-qa",
        "--qf",
        "%{DBINSTANCE} %{NEVRA} [%{FILESTATES} ][%{INSTPREFIXES} ]\\n",
    ]));
    v.push(q(&["-Va"]));
    v.push(q(&["-qa", "--dump"]));
    let (_, provides) = rpm_q(root, dbpath, &["-qa", "--qf", "[%{PROVIDENAME}\\n]"]);
    let mut names: Vec<&str> = provides.lines().collect();
    names.sort();
    names.dedup();
    let mut args = vec!["-q", "--whatprovides"];
    args.extend(names.iter().copied());
    v.push(q(&args));
    let mut args = vec!["-q", "--whatrequires"];
    args.extend(names.iter().copied());
    v.push(q(&args));
    let mut args = vec!["-qf"];
    args.extend(paths.iter().map(String::as_str));
    v.push(q(&args));
    v
}

/// Asserts that kiln's root answers every question as rpm's does.
pub fn assert_same(rpm_root: &Path, kiln_root: &Path, dbpath: &str) {
    let skip = [dbpath];
    let a = tree(rpm_root, &skip);
    let b = tree(kiln_root, &skip);
    let d = tree_diff(&a, &b);
    assert!(d.is_empty(), "trees differ:\n{}", d.join("\n"));
    let paths: Vec<String> = a.keys().cloned().collect();
    let x = answers(rpm_root, dbpath, &paths);
    let y = answers(kiln_root, dbpath, &paths);
    for ((what, want), (_, got)) in x.iter().zip(&y) {
        if want != got {
            let dl: Vec<String> = want
                .lines()
                .zip(got.lines())
                .filter(|(a, b)| a != b)
                .take(10)
                .map(|(a, b)| format!("rpm:  {a}\nkiln: {b}"))
                .collect();
            panic!(
                "{what} differs ({} vs {} lines):\n{}",
                want.lines().count(),
                got.lines().count(),
                dl.join("\n")
            );
        }
    }
}
