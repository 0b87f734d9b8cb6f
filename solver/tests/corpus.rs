//! kiln-solver against real data: libsolv's own testcases (compared with the system `testsolv`),
//! and real repository metadata from dnf's test suite (compared with dnf itself).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kiln_solver::{
    Item, RepoSource, Request, SolvCache, SolveError, Solver, Strength, TestcaseOutcome,
};

fn corpus() -> Option<PathBuf> {
    let p = std::env::var_os("KILN_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    if p.is_dir() {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("corpus not found at {} (set KILN_CORPUS)", p.display());
    }
    eprintln!(
        "SKIP: corpus not found at {} (set KILN_CORPUS)",
        p.display()
    );
    None
}

fn need_tool(path: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{path} is required under CI");
    }
    eprintln!("SKIP: {path} not installed");
    false
}

fn dnf_repo(c: &Path) -> PathBuf {
    c.join("repodata/dnf/tests/modules/modules/_all/x86_64")
}

fn primary(repo: &Path) -> (PathBuf, PathBuf) {
    let mut p = None;
    let mut f = None;
    for e in std::fs::read_dir(repo.join("repodata")).unwrap() {
        let n = e.unwrap().path();
        let s = n.file_name().unwrap().to_string_lossy().to_string();
        if s.ends_with("-primary.xml.gz") {
            p = Some(n.clone());
        }
        if s.ends_with("-filelists.xml.gz") {
            f = Some(n.clone());
        }
    }
    (p.unwrap(), f.unwrap())
}

fn item(spec: &str, tag: u32) -> Item {
    Item {
        spec: spec.into(),
        tag,
        strength: Strength::Required,
        if_installed: None,
        all_arches: false,
    }
}

fn source(repo: &Path) -> RepoSource {
    let (p, f) = primary(repo);
    let mut s = RepoSource::new("corpus", p);
    s.filelists = Some(f);
    s
}

fn solve(
    arch: &str,
    src: &RepoSource,
    specs: &[&str],
) -> Result<kiln_solver::Solution, SolveError> {
    let mut s = Solver::new(arch).unwrap();
    s.add_repo(src).unwrap();
    let req = Request {
        items: specs
            .iter()
            .enumerate()
            .map(|(i, n)| item(n, i as u32))
            .collect(),
        ..Request::default()
    };
    s.solve(&req)
}

fn dnf_oracle(repo: &Path, arch: &str, specs: &[&str]) -> BTreeSet<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/oracle/dnf-resolve.py");
    let req = format!(
        r#"{{"arch":"{arch}","ignore_modules":true,"repos":[{{"name":"corpus","baseurl":"file://{}"}}],"packages":[{}]}}"#,
        repo.display(),
        specs
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(req.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "dnf oracle failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn libsolv_testcases_match_testsolv() {
    let Some(c) = corpus() else { return };
    if !need_tool("/usr/bin/testsolv") {
        return;
    }
    let mut files = Vec::new();
    let mut stack = vec![c.join("solver-testcases/libsolv/test/testcases")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "t") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() > 100, "expected libsolv's ~113 testcases");
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for f in &files {
        let ours = kiln_solver::run_testcase(f).unwrap();
        // testsolv exits 0 when every result in the file matches.
        let theirs = Command::new("/usr/bin/testsolv")
            .arg(f)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        match ours {
            TestcaseOutcome::Pass => {
                compared += 1;
                // Files with several `nextjob` sections: we check only the first, testsolv all.
                let multi = std::fs::read_to_string(f).unwrap().contains("nextjob");
                if !theirs && !multi {
                    mismatches.push(format!("{}: we pass, testsolv fails", f.display()));
                }
            }
            TestcaseOutcome::Fail(d) => {
                compared += 1;
                if theirs {
                    // Files with several `nextjob` sections: we check only the first, testsolv all.
                    let text = std::fs::read_to_string(f).unwrap();
                    if !text.contains("nextjob") {
                        mismatches.push(format!("{}: we fail, testsolv passes:\n{d}", f.display()));
                    }
                }
            }
            TestcaseOutcome::NoResult | TestcaseOutcome::Unreadable => {}
        }
    }
    eprintln!(
        "{compared} of {} testcases compared with testsolv",
        files.len()
    );
    assert!(compared > 80, "too few testcases had results: {compared}");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn dnf_repo_same_set_as_dnf() {
    let Some(c) = corpus() else { return };
    if !need_tool("/usr/bin/dnf") {
        return;
    }
    let repo = dnf_repo(&c);
    for specs in [
        &["bash"][..],
        &["bash", "httpd", "kernel"][..],
        &["glibc", "systemd", "m4", "dummy-nscd"][..],
        &["httpd-doc", "kernel-headers", "grub2"][..],
    ] {
        let sol = solve("x86_64", &source(&repo), specs).unwrap();
        let ours: BTreeSet<String> = sol.packages.iter().map(|p| p.nevra()).collect();
        let theirs = dnf_oracle(&repo, "x86_64", specs);
        assert_eq!(ours, theirs, "request {specs:?}");
    }
}

#[test]
fn result_has_location_checksum_and_order() {
    let Some(c) = corpus() else { return };
    let repo = dnf_repo(&c);
    let sol = solve("x86_64", &source(&repo), &["bash"]).unwrap();
    for p in &sol.packages {
        assert!(repo.join(&p.location).is_file(), "{} missing", p.location);
        assert_eq!(p.checksum_type.as_deref(), Some("sha256"));
        assert_eq!(p.checksum.as_ref().unwrap().len(), 64);
        assert_eq!(
            p.size,
            std::fs::metadata(repo.join(&p.location)).unwrap().len()
        );
        assert_eq!(p.repo, "corpus");
    }
    // filesystem requires basesystem... ordering puts requirements first where there is no cycle:
    // glibc-common is required by glibc, so it comes before bash which requires glibc.
    let pos = |n: &str| sol.packages.iter().position(|p| p.name == n).unwrap();
    assert!(pos("glibc") < pos("bash"));
}

#[test]
fn target_arch_policy() {
    let Some(c) = corpus() else { return };
    let repo = dnf_repo(&c);
    // An x86_64-only repo has nothing installable for aarch64 but noarch packages.
    match solve("aarch64", &source(&repo), &["bash"]) {
        Err(SolveError::Missing(m)) => assert_eq!(m[0].spec, "bash"),
        other => panic!("expected bash missing on aarch64, got {other:?}"),
    }
    let sol = solve("aarch64", &source(&repo), &["basesystem"]);
    // basesystem is noarch but requires filesystem (x86_64 only): unsolvable, naming both.
    match sol {
        Err(SolveError::Unsolvable(p)) => {
            let text = format!("{p:?}");
            assert!(text.contains("filesystem"), "{text}");
            assert_eq!(p[0].tags, vec![0]);
        }
        other => panic!("expected a problem, got {other:?}"),
    }
}

#[test]
fn missing_items_listed_with_tags() {
    let Some(c) = corpus() else { return };
    let repo = dnf_repo(&c);
    match solve(
        "x86_64",
        &source(&repo),
        &["bash", "nope", "also-nope*", "/no/such/file"],
    ) {
        Err(SolveError::Missing(m)) => {
            let got: Vec<(String, u32)> = m.into_iter().map(|m| (m.spec, m.tag)).collect();
            assert_eq!(
                got,
                vec![
                    ("nope".into(), 1),
                    ("also-nope*".into(), 2),
                    ("/no/such/file".into(), 3)
                ]
            );
        }
        other => panic!("expected missing, got {other:?}"),
    }
}

#[test]
fn globs_dotarch_provides_and_files() {
    let Some(c) = corpus() else { return };
    let repo = dnf_repo(&c);
    let sol = solve(
        "x86_64",
        &source(&repo),
        &["httpd-provides-name-v*", "bash.x86_64"],
    )
    .unwrap();
    let names: BTreeSet<&str> = sol.packages.iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains("httpd-provides-name-version-release"));
    assert!(names.contains("bash"));
    // File provides: one only in filelists (not in primary's subset), one in primary.
    let yum = c.join("repodata/libdnf/data/tests/hawkey/yum");
    for (file, pkg) in [("/usr/bin/ste", "mystery-devel"), ("/etc/rollup", "tour")] {
        let sol = solve("x86_64", &source(&yum), &[file]).unwrap();
        assert!(
            sol.packages.iter().any(|p| p.name == pkg),
            "{file} -> {pkg}"
        );
    }
}

#[test]
fn solv_cache_round_trip() {
    let Some(c) = corpus() else { return };
    let repo = dnf_repo(&c);
    let dir = tempfile_dir();
    let mut src = source(&repo);
    src.solv_cache = Some(SolvCache {
        path: dir.join("x.solv"),
    });
    let mut s1 = Solver::new("x86_64").unwrap();
    assert!(!s1.add_repo(&src).unwrap(), "first load cannot hit");
    assert!(dir.join("x.solv").is_file());
    let mut s2 = Solver::new("x86_64").unwrap();
    assert!(s2.add_repo(&src).unwrap(), "second load must use the cache");
    let req = Request {
        items: vec![item("bash", 0), item("kernel", 1)],
        ..Request::default()
    };
    let a = s1.solve(&req).unwrap().packages;
    let b = s2.solve(&req).unwrap().packages;
    assert_eq!(a, b);
    // A corrupt cache is ignored, not fatal.
    std::fs::write(dir.join("x.solv"), b"garbage").unwrap();
    let mut s3 = Solver::new("x86_64").unwrap();
    assert!(!s3.add_repo(&src).unwrap());
    assert_eq!(s3.solve(&req).unwrap().packages, a);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn excludes_and_repo_filters() {
    let Some(c) = corpus() else { return };
    let repo = dnf_repo(&c);
    // Excluding the newest httpd builds: dnf's `-pkg` hides matches from the solver.
    let mut s = Solver::new("x86_64").unwrap();
    let mut src = source(&repo);
    src.excludepkgs = vec!["kernel".into()];
    s.add_repo(&src).unwrap();
    let req = Request {
        items: vec![item("kernel", 7)],
        ..Request::default()
    };
    assert!(matches!(s.solve(&req), Err(SolveError::Missing(_))));
    let req = Request {
        items: vec![item("bash", 0)],
        excludes: vec![("glibc".into(), 9)],
        ..Request::default()
    };
    match s.solve(&req) {
        Err(SolveError::Unsolvable(p)) => assert!(format!("{p:?}").contains("glibc")),
        other => panic!("{other:?}"),
    }
    // includepkgs: only bash comes from this repo, so its dependencies are gone.
    let mut s = Solver::new("x86_64").unwrap();
    let mut src = source(&repo);
    src.includepkgs = vec!["bash".into()];
    s.add_repo(&src).unwrap();
    let req = Request {
        items: vec![item("bash", 0)],
        ..Request::default()
    };
    assert!(matches!(s.solve(&req), Err(SolveError::Unsolvable(_))));
}

#[test]
fn rpm_version_semantics() {
    let s = Solver::new("x86_64").unwrap();
    use std::cmp::Ordering::*;
    assert_eq!(s.evrcmp("1.0~rc1-1", "1.0-1"), Less);
    assert_eq!(s.evrcmp("1:1.0-1", "2.0-1"), Greater);
    assert_eq!(s.evrcmp("1.0^git1-1", "1.0-1"), Greater);
    assert_eq!(s.evrcmp("1.10-1", "1.9-1"), Greater);
}

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "kiln-solver-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
