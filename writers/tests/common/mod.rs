//! Helpers shared by the writer tests.
// Each test binary uses some of these.
#![allow(dead_code)]

use std::process::Command;
use std::sync::Arc;

use kiln_writers::tree::{DataSource, Kind, Meta};

/// Deterministic pseudo-random bytes (xorshift), so no test data is checked in; no codec can
/// shrink them. Seeds that differ only in the lowest bit give the same bytes.
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Attributes with no xattrs.
pub fn meta(mode: u32, uid: u32, gid: u32, mtime: i64) -> Meta {
    Meta {
        mode,
        uid,
        gid,
        mtime,
        xattrs: Vec::new(),
    }
}

/// A regular file holding `v`.
pub fn bytes(v: Vec<u8>) -> Kind {
    Kind::File {
        size: v.len() as u64,
        data: DataSource::Bytes(Arc::from(v)),
    }
}

/// Whether this run is CI (`CI=true`), where a missing tool or privilege fails instead of
/// skipping. scripts/test.sh sets `CI=false` for an ordinary user.
pub fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Whether `name` is on PATH: a reference tool the test reads its output back with. Missing,
/// it fails under [`ci`] and is otherwise skipped.
pub fn tool(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(!ci(), "CI is set but `{name}` is missing");
        eprintln!("skipping the {name} check: not installed");
    }
    found
}
