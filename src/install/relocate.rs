//! Relocatable packages (`rpm -i --prefix DIR`, `--relocate OLD=NEW`), as rpm 4.18 relocates
//! them (lib/relocation.c): only a package's `PREFIXES` may be relocated; `INSTPREFIXES`
//! records where each prefix went; a file whose path is a relocated prefix moves to the new
//! path, and every directory name under a prefix is rewritten. When anything moved, the header
//! keeps the original file list as `ORIGBASENAMES`/`ORIGDIRNAMES`/`ORIGDIRINDEXES` and its
//! `BASENAMES`/`DIRNAMES`/`DIRINDEXES` are replaced (stored after the immutable region, which
//! stays intact).
//!
//! The payload still names files by their original paths: [`crate::rpmfile::header::FileInfo::orig_path`]
//! keeps that name for the unpacker.

use rpm::IndexTag as T;

use crate::rpmfile::header::{Header, RpmFile};
use crate::rpmfile::HeaderError;

/// One relocation asked for on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relocation {
    /// The prefix to move; `None` for `--prefix` (the package's only prefix).
    pub old: Option<String>,
    /// Where to.
    pub new: String,
}

/// A relocation that cannot be applied, worded as rpm words it.
#[derive(Debug, thiserror::Error)]
pub enum RelocateError {
    /// `--prefix` on a package without exactly one prefix.
    #[error("package {name} is not relocatable")]
    NotRelocatable {
        /// Package name.
        name: String,
    },
    /// `--relocate OLD=NEW` where OLD is not one of the package's prefixes.
    #[error("path {old} in package {nevra} is not relocatable")]
    BadRelocate {
        /// The path asked for.
        old: String,
        /// The package.
        nevra: String,
    },
    /// A command-line argument of the wrong form.
    #[error("{0}")]
    BadArgument(String),
    /// The header's file list cannot be read.
    #[error("{nevra}: {reason}")]
    BadHeader {
        /// The package.
        nevra: String,
        /// What is wrong.
        reason: HeaderError,
    },
}

impl Relocation {
    /// `--relocate OLD=NEW`.
    pub fn parse_relocate(arg: &str) -> Result<Relocation, RelocateError> {
        let bad = |m: &str| RelocateError::BadArgument(format!("--relocate {arg}: {m}"));
        let (old, new) = arg
            .split_once('=')
            .ok_or_else(|| bad("relocations must contain a ="))?;
        if !old.starts_with('/') || !new.starts_with('/') {
            return Err(bad("relocations must have a / following the ="));
        }
        Ok(Relocation {
            old: Some(old.to_string()),
            new: new.to_string(),
        })
    }

    /// `--prefix DIR`.
    pub fn prefix(dir: &str) -> Result<Relocation, RelocateError> {
        if !dir.starts_with('/') {
            return Err(RelocateError::BadArgument(format!(
                "--prefix {dir}: arguments to --prefix must begin with a /"
            )));
        }
        Ok(Relocation {
            old: None,
            new: dir.to_string(),
        })
    }
}

/// What a relocation changes in the stored header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderRelocation {
    /// `INSTPREFIXES`: each prefix where it was installed.
    pub inst_prefixes: Vec<String>,
    /// The new file list, when any path moved (the original goes to the `ORIG*` tags).
    pub files: Option<RelocatedFiles>,
}

/// A relocated file list in the header's compressed form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelocatedFiles {
    /// `BASENAMES`.
    pub basenames: Vec<String>,
    /// `DIRNAMES`.
    pub dirnames: Vec<String>,
    /// `DIRINDEXES`.
    pub dirindexes: Vec<u32>,
}

/// A path without its trailing slashes (`/` stays `/`).
fn strip_trailing(p: &str) -> String {
    if p == "/" {
        return p.to_string();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/".to_string()
    } else {
        t.to_string()
    }
}

/// rpm's `rpmCleanPath` for the paths relocation builds: `//` and `/./` collapse, a trailing
/// slash goes.
fn clean_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for (i, c) in p.split('/').enumerate() {
        if i > 0 && (c.is_empty() || c == ".") {
            continue;
        }
        if i > 0 {
            out.push('/');
        }
        out.push_str(c);
    }
    if out.is_empty() && p.starts_with('/') {
        out.push('/');
    }
    out
}

/// The package's `PREFIXES`.
pub fn prefixes(rpm: &RpmFile) -> Vec<String> {
    Header::parse(&rpm.hdr_blob)
        .ok()
        .and_then(|h| h.strings(T::RPMTAG_PREFIXES).ok().flatten())
        .unwrap_or_default()
}

/// Apply `relocs` to `rpm` (its file paths change, each keeping its payload name in
/// `orig_path`); returns what the stored header must record, `None` when no relocation was
/// asked for (a relocatable package then records its prefixes as they are).
pub fn relocate(
    rpm: &mut RpmFile,
    relocs: &[Relocation],
) -> Result<Option<HeaderRelocation>, RelocateError> {
    if relocs.is_empty() {
        return Ok(None);
    }
    let valid = prefixes(rpm);
    let nevra = rpm.nevra();
    let mut list: Vec<(String, String)> = Vec::with_capacity(relocs.len());
    for r in relocs {
        let old = match &r.old {
            Some(o) => o.clone(),
            // rpm's CLI: --prefix means the package's one prefix.
            None if valid.len() == 1 => valid[0].clone(),
            None => {
                return Err(RelocateError::NotRelocatable {
                    name: rpm.info.name.clone(),
                })
            }
        };
        let old = strip_trailing(&old);
        if !valid.contains(&old) {
            return Err(RelocateError::BadRelocate { old, nevra });
        }
        list.push((old, strip_trailing(&r.new)));
    }
    // rpm sorts by old path (a stable bubble sort) and walks the list backwards, so the
    // longer /usr/local wins over /usr.
    list.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));

    let inst_prefixes: Vec<String> = valid
        .iter()
        .map(|p| {
            list.iter()
                .find(|(o, _)| o == p)
                .map_or_else(|| p.clone(), |(_, n)| n.clone())
        })
        .collect();

    let bad = |reason: HeaderError| RelocateError::BadHeader {
        nevra: nevra.clone(),
        reason,
    };
    let h = Header::parse(&rpm.hdr_blob).map_err(bad)?;
    let mut basenames = h
        .strings(T::RPMTAG_BASENAMES)
        .map_err(bad)?
        .unwrap_or_default();
    let mut dirnames = h
        .strings(T::RPMTAG_DIRNAMES)
        .map_err(bad)?
        .unwrap_or_default();
    let mut dirindexes = h
        .u32s(T::RPMTAG_DIRINDEXES)
        .map_err(bad)?
        .unwrap_or_default();
    if dirindexes.len() != basenames.len()
        || dirindexes.iter().any(|&d| d as usize >= dirnames.len())
        || basenames.len() != rpm.info.files.len()
    {
        return Err(bad("file list does not match its directory indexes".into()));
    }
    let old_len = |o: &str| if o == "/" { 0 } else { o.len() };
    let mut nrelocated = 0usize;

    // Whole paths equal to a relocated prefix (the prefix directory itself) move.
    for i in (0..basenames.len()).rev() {
        let fname = format!("{}{}", dirnames[dirindexes[i] as usize], basenames[i]);
        let fb = fname.as_bytes();
        let hit = list.iter().rev().find(|(o, _)| {
            let len = old_len(o);
            fb.len() >= len
                && (fb.get(len) == Some(&b'/') || fb.len() == len)
                && fb[..len] == o.as_bytes()[..len]
        });
        let Some((o, n)) = hit else { continue };
        if fb.len() != old_len(o) {
            continue;
        }
        nrelocated += 1;
        // The new path splits at its last slash, as rpmbuild splits paths (`/x` is `/` + `x`).
        // rpm 4.18 itself gives a path right under `/` an empty directory name and crashes
        // installing it (`rpm -i --prefix /x` is a segfault); kiln stores the usual form.
        let (dir, base) = match n.rfind('/') {
            Some(k) => (&n[..=k], &n[k + 1..]),
            None => ("", n.as_str()),
        };
        if basenames[i] != base {
            basenames[i] = base.to_string();
        }
        match dirnames.iter().position(|d| d == dir) {
            Some(j) => dirindexes[i] = j as u32,
            None => {
                dirnames.push(dir.to_string());
                dirindexes[i] = (dirnames.len() - 1) as u32;
            }
        }
    }
    // Then every directory under a relocated prefix (each relocation applies in turn).
    for d in dirnames.iter_mut().rev() {
        for (o, n) in list.iter().rev() {
            let len = old_len(o);
            if len > 0 && !d.as_bytes().starts_with(&o.as_bytes()[..len]) {
                continue;
            }
            if d.as_bytes().get(len) != Some(&b'/') {
                continue;
            }
            let mut t = clean_path(&format!("{n}{}", &d[len..]));
            t.push('/');
            *d = t;
            nrelocated += 1;
        }
    }
    if nrelocated == 0 {
        return Ok(Some(HeaderRelocation {
            inst_prefixes,
            files: None,
        }));
    }
    for (i, f) in rpm.info.files.iter_mut().enumerate() {
        let new_path = format!("{}{}", dirnames[dirindexes[i] as usize], basenames[i]);
        if new_path != f.path {
            f.orig_path = std::mem::replace(&mut f.path, new_path);
        }
    }
    Ok(Some(HeaderRelocation {
        inst_prefixes,
        files: Some(RelocatedFiles {
            basenames,
            dirnames,
            dirindexes,
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        assert_eq!(clean_path("/x//y/./z/"), "/x/y/z");
        assert_eq!(clean_path("/"), "/");
        assert_eq!(strip_trailing("/opt/"), "/opt");
        assert_eq!(strip_trailing("/"), "/");
    }

    #[test]
    fn arguments() {
        assert!(Relocation::parse_relocate("/a=/b").is_ok());
        assert!(Relocation::parse_relocate("/a").is_err());
        assert!(Relocation::parse_relocate("a=/b").is_err());
        assert!(Relocation::prefix("rel").is_err());
    }
}
