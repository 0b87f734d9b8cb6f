//! File triggers and per-package scriptlet context as rpm 4.18 runs them, kiln against rpm.
//!
//! The packages are the `fixtures/fidelity/kf-trig-*.spec` set (and `kf-lua-reloc.spec`),
//! built here with rpmbuild. Every trigger appends `package kind $# [$1] [$2]` and the paths it
//! was given (stdin for shell, `rpm.next_file()` for Lua) to a log in the root; the set is
//! installed in one transaction by `rpm -i --root` and by `kiln install-rpms`, and the two
//! logs must be identical, line by line. What the set covers (each checked against rpm):
//! - `$1` is 0 and there is no `$2` for `%filetriggerin` and `%transfiletriggerin`;
//! - a prefix matches as a plain string: `/opt/kf` sets off on `/opt/kf` itself and on
//!   `/opt/kfx/...`, `/opt/kf/` on neither; `%ghost` files and directories are included;
//! - a trigger with several prefixes gets its paths prefix by prefix;
//! - priorities: >= 10000 before `%post`, the rest after `%triggerin`; ties in install order;
//!   the triggers set off by a package's files (its own among them) run before its own
//!   triggers fed with the files of the packages installed before it;
//! - every later package sets `%filetriggerin` off again, with only its own files;
//! - `%transfiletriggerin` runs once per trigger after `%posttrans`, package by package, with
//!   every installed file under its prefixes (the trigger package's own included);
//! - `rpm.next_file()` starts over after it has returned nil once.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::rpm;

fn have_rpm() -> bool {
    rpm::have("rpmbuild", "rpm/rpmbuild")
}

/// Builds `fixtures/fidelity/<spec>` into `out`; returns the package file.
fn build(spec: &str, top: &Path, out: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fidelity");
    let o = rpm::rpmbuild(top, Some(out))
        .arg(src.join(spec))
        .output()
        .expect("run rpmbuild");
    rpm::assert_success(&o, &format!("rpmbuild {spec}"));
    let name = spec.trim_end_matches(".spec");
    out.join(format!("{name}-1.0-1.noarch.rpm"))
}

fn rpm_install(root: &Path, rpms: &[PathBuf]) {
    std::fs::create_dir_all(root).unwrap();
    rpm::assert_success(&rpm::rpm_i(root, &[], rpms), "rpm -i");
}

/// The names in `root`'s rpmdb in install order (rpm orders the transaction itself).
fn install_order(root: &Path) -> Vec<String> {
    let o = Command::new("rpm")
        .args([
            "-qa",
            "--dbpath",
            "/var/lib/rpm",
            "--qf",
            "%{DBINSTANCE} %{NAME}\\n",
        ])
        .arg("--root")
        .arg(root)
        .output()
        .unwrap();
    assert!(o.status.success());
    rpm::by_instance(&o.stdout)
}

fn kiln_install(root: &Path, rpms: &[PathBuf]) {
    let o = Command::new(common::kiln())
        .arg("install-rpms")
        .arg("--root")
        .arg(root)
        .args(rpms)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    rpm::assert_success(&o, "kiln install-rpms");
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Installs `specs` (after busybox, for /bin/sh) with rpm and with kiln; returns the two roots.
fn install_both(specs: &[&str], tmp: &Path) -> Option<(PathBuf, PathBuf)> {
    let fx = common::fixtures()?;
    let busybox = rpm::busybox(&fx);
    let out = tmp.join("rpms");
    let mut rpms = vec![busybox];
    for s in specs {
        rpms.push(build(s, &tmp.join("top"), &out));
    }
    let (a, b) = (tmp.join("root-rpm"), tmp.join("root-kiln"));
    rpm_install(&a, &rpms);
    // kiln installs in the given order: give it the order rpm chose.
    let order = install_order(&a);
    let by_name = |n: &str| {
        rpms.iter()
            .find(|p| {
                let f = p.file_name().unwrap().to_string_lossy();
                f.strip_prefix(n)
                    .is_some_and(|rest| rest.starts_with("-1."))
            })
            .cloned()
            .unwrap_or_else(|| panic!("{n} is not in the set"))
    };
    let ordered: Vec<PathBuf> = order.iter().map(|n| by_name(n)).collect();
    kiln_install(&b, &ordered);
    Some((a, b))
}

#[test]
fn file_triggers_match_rpm() {
    if !rpm::as_root(have_rpm()) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let specs = [
        "kf-trig-early.spec",
        "kf-trig-watch.spec",
        "kf-trig-watch2.spec",
        "kf-trig-late.spec",
        "kf-trig-last.spec",
    ];
    let Some((a, b)) = install_both(&specs, tmp.path()) else {
        return;
    };
    assert_eq!(
        install_order(&a),
        [
            "busybox",
            "kf-trig-early",
            "kf-trig-watch",
            "kf-trig-watch2",
            "kf-trig-late",
            "kf-trig-last"
        ],
        "rpm's transaction order"
    );
    let want = read(&a.join("kf-trig.log"));
    // The log exercises what the module header lists (so a silently empty run cannot pass).
    for needle in [
        "watch filetriggerin-noslash 1 [0] []\n  /opt/kf\n",
        "  /opt/kfx/e2\n",
        "  /opt/kf/early/ghost-e\n",
        "watch filetriggerin-lua-20000 2 [0] [nil] integer\n",
        "watch transfiletriggerin-noslash 1 [0] []\n",
        "watch2 transfiletriggerin-own 1 [0] []\n/opt/kf2\n/opt/kf2/w2\n",
        "watch2 filetriggerin-cycle /opt/kf/late/l1 /opt/kf/late/l2 nil /opt/kf/late/l1 ",
        "watch triggerin-late 2 [1] [1]\n",
    ] {
        assert!(want.contains(needle), "rpm's log lacks {needle:?}:\n{want}");
    }
    let got = read(&b.join("kf-trig.log"));
    if got != want {
        let diff: Vec<String> = want
            .lines()
            .zip(got.lines().chain(std::iter::repeat("<missing>")))
            .enumerate()
            .filter(|(_, (w, g))| w != g)
            .take(10)
            .map(|(i, (w, g))| format!("line {}: rpm {w:?} kiln {g:?}", i + 1))
            .collect();
        panic!(
            "trigger logs differ ({} vs {} lines):\n{}\n--- rpm:\n{want}\n--- kiln:\n{got}",
            want.lines().count(),
            got.lines().count(),
            diff.join("\n")
        );
    }
}

#[test]
fn install_prefixes_match_rpm() {
    if !rpm::as_root(have_rpm()) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let Some((a, b)) = install_both(&["kf-lua-reloc.spec"], tmp.path()) else {
        return;
    };
    let want = read(&a.join("kf-reloc.log"));
    // rpm 4.18: the Lua table is indexed from 1; the shell gets RPM_INSTALL_PREFIX and
    // RPM_INSTALL_PREFIX0..N; Lua's environment does not.
    for needle in [
        "pre lua table 2 [nil] [/opt/kf-reloc] [/etc/kf-reloc] integer\n",
        "pre lua env [nil] [nil]\n",
        "RPM_INSTALL_PREFIX1=/etc/kf-reloc\n",
        "posttrans lua [nil] [/opt/kf-reloc] next_file=nil\n",
    ] {
        assert!(want.contains(needle), "rpm's log lacks {needle:?}:\n{want}");
    }
    assert_eq!(read(&b.join("kf-reloc.log")), want, "kf-lua-reloc log");
}

/// The same set in two transactions: the second appends to the root and rpmdb of the first.
/// rpm then also runs the older packages' triggers: `%filetriggerin` as if they had been in
/// the transaction, and their `%transfiletriggerin` first, fed only the new packages' files.
#[test]
fn file_triggers_on_append_match_rpm() {
    if !rpm::as_root(have_rpm()) {
        return;
    }
    let Some(fx) = common::fixtures() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let busybox = rpm::busybox(&fx);
    let out = tmp.path().join("rpms");
    let top = tmp.path().join("top");
    let first: Vec<PathBuf> = std::iter::once(busybox)
        .chain(
            ["kf-trig-early.spec", "kf-trig-watch.spec"]
                .iter()
                .map(|s| build(s, &top, &out)),
        )
        .collect();
    let second: Vec<PathBuf> = [
        "kf-trig-watch2.spec",
        "kf-trig-late.spec",
        "kf-trig-last.spec",
    ]
    .iter()
    .map(|s| build(s, &top, &out))
    .collect();
    let (a, b) = (tmp.path().join("root-rpm"), tmp.path().join("root-kiln"));
    rpm_install(&a, &first);
    kiln_install(&b, &first);
    for r in [&a, &b] {
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(r.join("kf-trig.log"))
            .unwrap();
        std::io::Write::write_all(&mut log, b"=== second transaction\n").unwrap();
    }
    rpm_install(&a, &second);
    kiln_install(&b, &second);
    let want = read(&a.join("kf-trig.log"));
    assert!(
        want.contains("=== second transaction\nwatch filetriggerin-noslash 1 [0] []\n  /opt/kf2\n"),
        "{want}"
    );
    assert_eq!(
        read(&b.join("kf-trig.log")),
        want,
        "trigger logs (rpm's second)"
    );
}
