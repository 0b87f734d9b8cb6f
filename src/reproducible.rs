//! Run-specific files that make two builds of the same kickstart differ although nothing
//! that matters changed; reset before the root is packed when `SOURCE_DATE_EPOCH` is set.
//! Dates are handled elsewhere (mtimes clamped by the image writers, INSTALLTIME from the
//! epoch, dracut `--reproducible`).

use std::path::Path;

/// Caches and state that a boot recreates: removed.
const REMOVE: &[&str] = &[
    // ldconfig's aux cache records inode numbers and ctimes of the libraries it scanned.
    "var/cache/ldconfig/aux-cache",
    // Random seeds must never be shared between machines anyway.
    "var/lib/systemd/random-seed",
    "var/lib/random-seed",
    "var/lib/urandom/random-seed",
];

/// Files whose content identifies one machine: emptied (systemd treats an empty
/// /etc/machine-id as "generate one at boot").
const EMPTY: &[&str] = &["etc/machine-id"];

/// Reset the run-specific files of `root` whose rpmdb lives in `dbpath` (a path inside the
/// root); returns what was changed, for the log.
pub fn reset_run_specific(root: &Path, dbpath: &str) -> Vec<String> {
    let mut done = Vec::new();
    // Every path resolved beneath the root (a package may have made /etc or /var a link to a
    // host directory); the last component is never followed.
    let at = |p: &str| crate::fsutil::in_root(root, &format!("/{p}"), false);
    for p in REMOVE {
        let f = at(p);
        if f.symlink_metadata().is_ok_and(|m| m.is_file()) && std::fs::remove_file(&f).is_ok() {
            done.push(format!("removed /{p}"));
        }
    }
    for p in EMPTY {
        let f = at(p);
        if f.symlink_metadata()
            .is_ok_and(|m| m.is_file() && m.len() > 0)
            && std::fs::write(&f, b"").is_ok()
        {
            done.push(format!("emptied /{p}"));
        }
    }
    // /var/lib/dbus/machine-id as a copy of its own (not the usual symlink).
    let dbus = at("var/lib/dbus/machine-id");
    if dbus.symlink_metadata().is_ok_and(|m| m.is_file()) && std::fs::remove_file(&dbus).is_ok() {
        done.push("removed /var/lib/dbus/machine-id".into());
    }
    // SQLite's WAL index is shared memory of the last process that had the database open;
    // with an empty WAL both files are recreated on the next open.
    let db = crate::fsutil::in_root(root, dbpath, true);
    let wal = db.join("rpmdb.sqlite-wal");
    let shm = db.join("rpmdb.sqlite-shm");
    let wal_empty = wal.metadata().map(|m| m.len() == 0).unwrap_or(true);
    if wal_empty && shm.is_file() {
        let _ = std::fs::remove_file(&wal);
        if std::fs::remove_file(&shm).is_ok() {
            done.push(format!(
                "removed {}/rpmdb.sqlite-shm",
                dbpath.trim_end_matches('/')
            ));
        }
    }
    done
}
