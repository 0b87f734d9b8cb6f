//! Error paths of `kiln resolve`: every message names the package and the kickstart line.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("reserr-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(fx: &Path, name: &str, packages: &str) -> (Output, String) {
    let d = tmp(name);
    let ks = d.join("t.ks");
    std::fs::write(
        &ks,
        format!(
            "repo --name=syn --baseurl=file://{}/synthetic\n%packages{packages}%end\n",
            fx.display()
        ),
    )
    .unwrap();
    let o = Command::new(common::kiln())
        .args(["resolve", "--arch", "x86_64", "--ks"])
        .arg(&ks)
        .arg("--cache")
        .arg(d.join("cache"))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    (o, e)
}

#[test]
fn missing_package_and_group_listed_with_lines() {
    let Some(fx) = common::fixtures() else { return };
    let (o, e) = run(
        &fx,
        "missing",
        "\n@core\nkt-files\nno-such-package\n@no-such-group\n",
    );
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("t.ks:5:1: error: package `no-such-package` not found"),
        "{e}"
    );
    assert!(
        e.contains("t.ks:6:1: error: group `@no-such-group` not found"),
        "{e}"
    );
    assert!(e.contains("2 requested item(s) not found"), "{e}");
}

#[test]
fn ignoremissing_turns_them_into_warnings() {
    let Some(fx) = common::fixtures() else { return };
    let (o, e) = run(
        &fx,
        "ignore",
        " --ignoremissing\nkt-files\nno-such-package\n@no-such-group\n",
    );
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(
        e.contains("warning: package `no-such-package` not found, ignored"),
        "{e}"
    );
    assert!(
        e.contains("warning: group `@no-such-group` not found, ignored"),
        "{e}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("kt-files-"));
}

#[test]
fn unsatisfiable_dependency_names_package_and_line() {
    let Some(fx) = common::fixtures() else { return };
    // kt-needs-virtual requires kt-virtual-mta >= 1.0, whose only provider is excluded.
    let (o, e) = run(&fx, "unsat", "\nkt-files\nkt-needs-virtual\n-kt-provider\n");
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("cannot be installed"), "{e}");
    assert!(e.contains("kt-needs-virtual"), "{e}");
    assert!(
        e.contains("kt-virtual-mta"),
        "the dependency must be named: {e}"
    );
    assert!(
        e.contains("t.ks:4:"),
        "the requesting line must be shown: {e}"
    );
}

#[test]
fn conflicting_packages_name_both_and_their_lines() {
    let Some(fx) = common::fixtures() else { return };
    let (o, e) = run(&fx, "conflict", "\nkt-files\nkt-conflicting\n");
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("conflicts with"), "{e}");
    assert!(
        e.contains("kt-conflicting") && e.contains("kt-files"),
        "{e}"
    );
    assert!(
        e.contains("t.ks:3:") && e.contains("t.ks:4:"),
        "both lines must be shown: {e}"
    );
    assert!(
        e.contains("solution 1:"),
        "libsolv's solutions are listed: {e}"
    );
}

#[test]
fn bad_repo_arg_and_missing_releasever_are_input_errors() {
    let Some(fx) = common::fixtures() else { return };
    let d = tmp("args");
    let ks = d.join("t.ks");
    std::fs::write(
        &ks,
        "repo --name=r --baseurl=http://127.0.0.1:9/$releasever\n%packages\nx\n%end\n",
    )
    .unwrap();
    let o = Command::new(common::kiln())
        .args(["resolve", "--ks"])
        .arg(&ks)
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("--releasever") && e.contains("t.ks:1"), "{e}");
    let o = Command::new(common::kiln())
        .args(["resolve", "--repo", "nocomma", "--ks"])
        .arg(&ks)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    // --repo replaces the kickstart's repos.
    let o = Command::new(common::kiln())
        .args(["resolve", "--arch", "x86_64", "--cache"])
        .arg(d.join("cache"))
        .arg("--repo")
        .arg(format!("syn,file://{}/synthetic", fx.display()))
        .arg("--ks")
        .arg(&ks)
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("package `x` not found"), "{e}");
}
