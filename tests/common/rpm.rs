//! The host rpm and rpmbuild as the oracle tests run them.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Whether host `tool --version` runs (`what` names it in messages): panic under CI, otherwise
/// false with a printed reason.
pub fn have(tool: &str, what: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{what} not found");
        }
        eprintln!("SKIP: host {what} not available");
    }
    ok
}

/// Panics with `what` and the command's stderr unless it succeeded.
pub fn assert_success(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `rpmbuild -bb --quiet` with `_topdir TOP` (and, given `rpmdir`, `_rpmdir RPMDIR` with flat
/// `NAME-VERSION-RELEASE.ARCH.rpm` file names) and `_dbpath TOP/db`; the caller adds the spec.
pub fn rpmbuild(top: &Path, rpmdir: Option<&Path>) -> Command {
    let mut c = Command::new("rpmbuild");
    c.args(["-bb", "--quiet"])
        .arg("--define")
        .arg(format!("_topdir {}", top.display()));
    if let Some(out) = rpmdir {
        c.arg("--define")
            .arg(format!("_rpmdir {}", out.display()))
            .arg("--define")
            .arg("_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm");
    }
    c.arg("--define")
        .arg(format!("_dbpath {}/db", top.display()));
    c
}

/// `rpm -i --nodeps --nosignature EXTRA --dbpath /var/lib/rpm --root ROOT FILES`.
pub fn rpm_i<I, S>(root: &Path, extra: &[&str], files: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new("rpm")
        .args(["-i", "--nodeps", "--nosignature"])
        .args(extra)
        .args(["--dbpath", "/var/lib/rpm"])
        .arg("--root")
        .arg(root)
        .args(files)
        .output()
        .unwrap()
}

/// `rpm --root ROOT --dbpath DBPATH`; the caller adds the rest.
pub fn rpm_at(root: &Path, dbpath: &str) -> Command {
    let mut c = Command::new("rpm");
    c.arg("--root").arg(root).arg("--dbpath").arg(dbpath);
    c
}

/// The names of `rpm -qa --qf '%{DBINSTANCE} NAME\n'` output in header-instance order (the
/// order rpm installed the packages in).
pub fn by_instance(stdout: &[u8]) -> Vec<String> {
    let mut rows: Vec<(u64, String)> = String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| {
            let (n, name) = l.split_once(' ')?;
            Some((n.parse().ok()?, name.to_string()))
        })
        .collect();
    rows.sort();
    rows.into_iter().map(|(_, n)| n).collect()
}

/// Whether a test that installs into a root can run: the host rpm (`have_rpm`, from [`have`])
/// and root; false with a printed reason otherwise.
pub fn as_root(have_rpm: bool) -> bool {
    if !have_rpm || !rustix::process::geteuid().is_root() {
        eprintln!("SKIP: needs rpm and root");
        return false;
    }
    true
}

/// The synthetic busybox of the fixtures `fx` (a /bin/sh for shell scriptlets, under rpm and
/// kiln alike).
pub fn busybox(fx: &Path) -> PathBuf {
    fx.join("synthetic/Packages/busybox-1.35.0-1.kt.x86_64.rpm")
}
