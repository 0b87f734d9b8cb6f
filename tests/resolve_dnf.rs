//! Acceptance: for the step-2 fixture kickstarts, the NEVRA set `kiln resolve` prints equals the
//! set dnf itself would install into an empty root for the same arch (tests/oracle/dnf-resolve.py).

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use kiln::kickstart::sections::GroupInclude;
use kiln::kickstart::{parse_file, ParseOptions};

fn kiln_set(ks: &Path, arch: &str, cache: &Path) -> BTreeSet<String> {
    let out = Command::new(common::kiln())
        .args(["resolve", "--json", "--arch", arch, "--ks"])
        .arg(ks)
        .arg("--cache")
        .arg(cache)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kiln resolve failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let e = p["epoch"].as_u64().unwrap();
            let evr = if e == 0 {
                format!(
                    "{}-{}",
                    p["version"].as_str().unwrap(),
                    p["release"].as_str().unwrap()
                )
            } else {
                format!(
                    "{e}:{}-{}",
                    p["version"].as_str().unwrap(),
                    p["release"].as_str().unwrap()
                )
            };
            format!(
                "{}-{evr}.{}",
                p["name"].as_str().unwrap(),
                p["arch"].as_str().unwrap()
            )
        })
        .collect()
}

fn dnf_set(ks: &Path, arch: &str) -> BTreeSet<String> {
    let k = parse_file(ks.to_str().unwrap(), &ParseOptions::default()).unwrap();
    let p = &k.packages;
    let repos: Vec<serde_json::Value> = k
        .command::<kiln::kickstart::commands::repo::Repo>()
        .unwrap()
        .repos
        .iter()
        .map(|r| {
            serde_json::json!({"name": r.name, "baseurl": r.baseurl, "cost": r.cost.unwrap_or(1000),
                "includepkgs": r.includepkgs, "excludepkgs": r.excludepkgs})
        })
        .collect();
    let mut groups: Vec<(String, &str)> = Vec::new();
    if !p.nocore {
        groups.push(("core".into(), "default"));
    }
    for g in &p.groups {
        let how = match g.include {
            GroupInclude::Required => "required",
            GroupInclude::Default => "default",
            GroupInclude::All => "all",
        };
        groups.push((g.name.clone(), how));
    }
    let req = serde_json::json!({
        "arch": arch, "repos": repos, "packages": p.packages, "groups": groups,
        "environment": p.environment, "excludes": p.excluded,
        "exclude_weakdeps": p.exclude_weakdeps, "multilib": p.multilib,
        "ignore_missing": p.ignore_missing,
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/dnf-resolve.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(req.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "dnf oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn compare(name: &str, arch: &str) {
    let Some(fx) = common::fixtures() else { return };
    compare_in(&fx, name, arch);
}

fn compare_in(fx: &Path, name: &str, arch: &str) {
    if !common::have_tool("/usr/bin/dnf") {
        return;
    }
    let ks = fx.join(format!("ks/{name}.ks"));
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cache-dnfcmp-{name}"));
    let ours = kiln_set(&ks, arch, &cache);
    let theirs = dnf_set(&ks, arch);
    let only_kiln: Vec<_> = ours.difference(&theirs).collect();
    let only_dnf: Vec<_> = theirs.difference(&ours).collect();
    assert!(
        only_kiln.is_empty() && only_dnf.is_empty(),
        "{name}: kiln and dnf differ\n  only kiln: {only_kiln:?}\n  only dnf:  {only_dnf:?}"
    );
    assert!(!ours.is_empty());
    eprintln!("{name} ({arch}): {} packages, same as dnf", ours.len());
}

#[test]
fn synthetic_same_as_dnf() {
    compare("synthetic", "x86_64");
}

#[test]
fn live_x86_64_same_as_dnf() {
    compare("live-x86_64", "x86_64");
}

#[test]
fn live_aarch64_same_as_dnf() {
    compare("live-aarch64", "aarch64");
}

#[test]
fn live_ppc64le_same_as_dnf() {
    compare("live-ppc64le", "ppc64le");
}

#[test]
fn live_s390x_same_as_dnf() {
    compare("live-s390x", "s390x");
}

/// Debian 13's riscv64 packages (`dnf --forcearch riscv64`).
#[test]
fn live_riscv64_same_as_dnf() {
    compare("live-riscv64", "riscv64");
}

/// The `--large` desktop set (about 1,000 packages) is not built in normal CI: this runs only
/// when `KILN_FIXTURES_LARGE` (or else `KILN_FIXTURES`) is an OUT of `build-repos --large`.
#[test]
fn desktop_x86_64_same_as_dnf() {
    let fx = std::env::var_os("KILN_FIXTURES_LARGE")
        .or_else(|| std::env::var_os("KILN_FIXTURES"))
        .map(std::path::PathBuf::from)
        .filter(|p| p.join("ks/desktop-x86_64.ks").is_file());
    let Some(fx) = fx else {
        eprintln!(
            "SKIP: desktop-x86_64 set not built (set KILN_FIXTURES_LARGE=OUT of fixtures/build-repos --large)"
        );
        return;
    };
    compare_in(&fx, "desktop-x86_64", "x86_64");
}
