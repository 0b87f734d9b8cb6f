//! The packages an existing root already has (appending a transaction, as `rpm -i --root` does
//! into a root with an rpmdb): read from its rpmdb, checked against the new packages the way
//! rpm checks them before anything is written ("already installed", file conflicts).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::rootfs::Root;
use super::rpmdb::{self, RpmDbError, DEFAULT_DBPATH};
use super::unpack::{self, UnpackError};
use super::InstallError;
use crate::rpmfile::header::{FileInfo, PackageInfo, RpmFile};
use crate::rpmfile::tags::{RPMFILE_CONFIG, RPMFILE_GHOST, RPMFILE_STATE_NORMAL};

/// An installed package: its stored header as an [`RpmFile`] (no payload, no signature blob;
/// `path` names the database) and the paths it has on disk.
#[derive(Debug, Clone)]
pub struct Installed {
    /// Header number in the rpmdb.
    pub hnum: u32,
    /// Its facts (the stored header, relocations applied).
    pub rpm: RpmFile,
    /// `FILESTATES`, per file.
    pub file_states: Vec<u8>,
}

impl Installed {
    /// Paths of its files that are on disk as it installed them (state normal, not `%ghost`).
    pub fn present_files(&self) -> impl Iterator<Item = &crate::rpmfile::header::FileInfo> {
        self.rpm
            .info
            .files
            .iter()
            .zip(self.file_states.iter().copied().chain(std::iter::repeat(0)))
            .filter(|(f, st)| *st == RPMFILE_STATE_NORMAL && f.flags & RPMFILE_GHOST == 0)
            .map(|(f, _)| f)
    }
}

/// The packages installed in the rpmdb at `root` + `dbpath`, in header-number order (empty for
/// a new root). When the caller did not choose the dbpath (`explicit` false) and there is no
/// database there but one at another usual place, that is an error: appending would leave
/// two databases, each missing half of the packages.
pub fn load(root: &Path, dbpath: &str, explicit: bool) -> Result<Vec<Installed>, InstallError> {
    if !root.exists() {
        return Ok(Vec::new());
    }
    if rpmdb::existing_backend(root, dbpath).is_none() && !explicit {
        for other in [DEFAULT_DBPATH, "/var/lib/rpm"] {
            if other != dbpath && rpmdb::existing_backend(root, other).is_some() {
                return Err(RpmDbError::BadInstallInfo {
                    package: root.display().to_string(),
                    reason: format!(
                        "the root has an rpmdb in `{other}` but its %_dbpath is `{dbpath}`; \
                         pass --dbpath {other} to add to it"
                    ),
                }
                .into());
            }
        }
    }
    let db_file = root
        .join(dbpath.trim_start_matches('/'))
        .join(rpmdb::DB_FILE);
    rpmdb::installed_packages(root, dbpath)?
        .into_iter()
        .map(|p| {
            let info = PackageInfo::from_blob(&p.blob).map_err(|reason| RpmDbError::BadHeader {
                which: "installed",
                package: format!("header #{} of {}", p.hnum, db_file.display()),
                reason,
            })?;
            Ok(Installed {
                hnum: p.hnum,
                rpm: RpmFile {
                    path: db_file.clone(),
                    sig_blob: Vec::new(),
                    hdr_blob: p.blob,
                    payload_offset: 0,
                    info,
                },
                file_states: p.file_states,
            })
        })
        .collect()
}

/// rpm's checks of new packages against installed ones: the same NEVRA installed already is
/// refused ("package X is already installed"), and a file on disk from an installed package
/// that differs from the new package's is a conflict (ghosts never conflict, identical shared
/// files and directories are fine, ELF32/ELF64 of multilib pairs do not conflict).
pub fn check(installed: &[Installed], new: &[&RpmFile]) -> Result<(), InstallError> {
    for n in new {
        let key = nevra_key(&n.info);
        if installed.iter().any(|i| nevra_key(&i.rpm.info) == key) {
            return Err(InstallError::AlreadyInstalled { nevra: n.nevra() });
        }
    }
    let on_disk = files_on_disk(installed);
    for n in new {
        for f in &n.info.files {
            if f.flags & RPMFILE_GHOST != 0 {
                continue;
            }
            let Some(&(k, old)) = on_disk.get(f.path.as_str()) else {
                continue;
            };
            if old.color != 0 && f.color != 0 && old.color != f.color {
                continue;
            }
            let owner = &installed[k].rpm;
            if let Some(reason) =
                unpack::differs(old, owner.info.digest_algo, f, n.info.digest_algo)
            {
                return Err(InstallError::Conflict(UnpackError::Conflict {
                    path: f.path.clone(),
                    a: owner.nevra(),
                    b: n.nevra(),
                    reason,
                }));
            }
        }
    }
    Ok(())
}

/// The files the installed packages have on disk, by path: the index of the (first) package
/// that has it, and its entry.
fn files_on_disk(installed: &[Installed]) -> HashMap<&str, (usize, &FileInfo)> {
    let mut on_disk = HashMap::new();
    for (k, i) in installed.iter().enumerate() {
        for f in i.present_files() {
            on_disk.entry(f.path.as_str()).or_insert((k, f));
        }
    }
    on_disk
}

fn nevra_key(i: &PackageInfo) -> (&str, u32, &str, &str, &str) {
    (
        &i.name,
        i.epoch.unwrap_or(0),
        &i.version,
        &i.release,
        &i.arch,
    )
}

/// `%config` files of the new packages that stay as they are on disk, as rpm decides
/// (`rpmfilesDecideFate` giving `FA_SKIP`): an installed package has the same file with the
/// same digest as the new one (so the package did not change it), and the copy on disk was
/// modified since. An unmodified or missing copy is written as usual.
pub fn kept_configs(root: &Path, installed: &[Installed], new: &[&RpmFile]) -> HashSet<String> {
    const SHA256: u32 = 8;
    if installed.is_empty() {
        return HashSet::new();
    }
    let Ok(root) = Root::open(root) else {
        return HashSet::new();
    };
    let on_disk = files_on_disk(installed);
    let mut keep = HashSet::new();
    for n in new {
        for f in &n.info.files {
            if f.flags & RPMFILE_CONFIG == 0 || f.mode & 0o170000 != 0o100000 {
                continue;
            }
            let Some(&(k, old)) = on_disk.get(f.path.as_str()) else {
                continue;
            };
            let old_algo = installed[k].rpm.info.digest_algo;
            // Only SHA-256 digests are computed here (what rpmbuild writes since 4.14).
            if old_algo != SHA256 || n.info.digest_algo != SHA256 || old.digest != f.digest {
                continue;
            }
            let Ok(st) = root.lstat(&f.path) else {
                continue;
            };
            if st.st_mode & 0o170000 != 0o100000 {
                continue;
            }
            let Ok(data) = root.read_file(&f.path) else {
                continue;
            };
            let disk = format!("{:x}", Sha256::digest(&data));
            if !disk.eq_ignore_ascii_case(&old.digest) {
                keep.insert(f.path.clone());
            }
        }
    }
    keep
}
