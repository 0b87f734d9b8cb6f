//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The third-party corpus (`KILN_CORPUS`, default `../shared/corpus` beside the repository).
/// Missing corpus: panic under `CI=true`, otherwise `None` with a printed reason.
pub fn corpus() -> Option<PathBuf> {
    let p = std::env::var_os("KILN_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
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

/// The kiln binary built for these tests.
pub fn kiln() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kiln"))
}

/// A venv with pykickstart 3.78 (`KILN_PYKS` or one created under the target dir).
/// Missing python/pip: panic under CI, otherwise None.
pub fn pykickstart_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KILN_PYKS") {
        let p = PathBuf::from(p);
        if p.join("ksflatten").exists() {
            return Some(p);
        }
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyks-3.78");
    let bin = venv.join("bin");
    if bin.join("ksflatten").exists() {
        return Some(bin);
    }
    let ok = std::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
        && std::process::Command::new(bin.join("pip"))
            .args(["install", "-q", "pykickstart==3.78"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if ok {
        return Some(bin);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("could not install pykickstart 3.78 into {}", venv.display());
    }
    eprintln!("SKIP: pykickstart 3.78 unavailable");
    None
}
