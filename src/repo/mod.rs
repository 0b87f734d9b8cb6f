//! Repositories: which ones (kickstart `url`/`repo` or `--repo`), fetching and verifying their
//! metadata (repomd.xml, primary, filelists, comps) into a versioned cache, and downloading
//! packages. Knows nothing of libsolv: `resolve/` turns [`RepoMetadata`] into solver input.

pub mod cache;
pub mod download;
pub mod error;
pub mod fetch;
pub mod gpg;
pub mod spec;
pub mod verified;

use std::io::Read;
use std::path::{Path, PathBuf};

pub use crate::rpmfile::repodata::{Checksum, Comps};
pub use cache::Cache;
pub use download::{download, fetch_verified, LocalPackage, PackageLocation, VerifiedPackages};
pub use error::RepoError;
pub use fetch::Fetcher;
pub use gpg::{GpgOptions, SignaturePolicy};
pub use spec::{parse_repo_arg, parse_repo_arg_keys, repo_specs, RepoSpec, Source};

use crate::error::IoError;
use crate::rpmfile::repodata::{self as xml, RepomdRecord};
use fetch::{file_path, join_url, verify_file};

/// One repository's verified metadata, on local disk.
#[derive(Debug, Clone)]
pub struct RepoMetadata {
    /// The spec it came from.
    pub spec: RepoSpec,
    /// Base URLs to fetch packages from (mirrors in preference order).
    pub bases: Vec<String>,
    /// sha256 of repomd.xml (keys the `.solv` cache).
    pub repomd_sha256: String,
    /// primary.xml(.gz...).
    pub primary: PathBuf,
    /// filelists.xml(.gz...), when present.
    pub filelists: Option<PathBuf>,
    /// comps, when the repo has a group record.
    pub comps: Option<Comps>,
}

/// Options for loading.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Also fetch filelists (dnf 4 does; needed for file dependencies outside primary's subset).
    pub filelists: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { filelists: true }
    }
}

fn source_key(s: &Source) -> &str {
    match s {
        Source::BaseUrl(u) | Source::Mirrorlist(u) | Source::Metalink(u) => u,
    }
}

/// Base URLs and acceptable repomd hashes for a spec.
/// The mirrors of list `list` kiln follows: http:// and https://, and file:// only when the list
/// itself is local (a server must not make kiln read the build host's files). Others are
/// skipped with a warning; none left is an error naming the first one refused.
fn usable_mirrors<'a>(
    list: &str,
    entries: impl Iterator<Item = &'a str>,
) -> Result<Vec<String>, RepoError> {
    let local = list.starts_with("file://");
    let mut ok = Vec::new();
    let mut refused = Vec::new();
    for e in entries {
        let web = e.starts_with("http://") || e.starts_with("https://");
        if web || (local && e.starts_with("file://")) {
            ok.push(e.to_string());
        } else {
            refused.push(e.to_string());
        }
    }
    for r in &refused {
        tracing::warn!("mirror list `{list}`: skipping `{r}` (not an http:// or https:// URL)");
    }
    if ok.is_empty() {
        return Err(match refused.into_iter().next() {
            Some(mirror) => RepoError::BadMirror {
                list: list.to_string(),
                mirror,
            },
            None => RepoError::NoMirrors(list.to_string()),
        });
    }
    Ok(ok)
}

fn mirrors(spec: &RepoSpec, fetcher: &Fetcher) -> Result<(Vec<String>, Vec<Checksum>), RepoError> {
    let from_metalink =
        |url: &str, text: &str| -> Result<(Vec<String>, Vec<Checksum>), RepoError> {
            let m = xml::parse_metalink(text).map_err(|message| RepoError::Parse {
                what: "metalink",
                file: url.to_string(),
                message: message.to_string(),
            })?;
            let bases: Vec<String> = usable_mirrors(url, m.urls.iter().map(String::as_str))?
                .into_iter()
                .map(|u| {
                    u.trim_end_matches("repomd.xml")
                        .trim_end_matches('/')
                        .trim_end_matches("repodata")
                        .to_string()
                })
                .collect();
            Ok((bases, m.hashes))
        };
    match &spec.source {
        Source::BaseUrl(u) => Ok((vec![u.clone()], Vec::new())),
        Source::Metalink(u) => from_metalink(u, &fetcher.get_text(u)?),
        Source::Mirrorlist(u) => {
            let text = fetcher.get_text(u)?;
            // dnf accepts a metalink given as --mirrorlist.
            if text.trim_start().starts_with("<?xml") || text.contains("<metalink") {
                return from_metalink(u, &text);
            }
            let lines = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'));
            Ok((usable_mirrors(u, lines)?, Vec::new()))
        }
    }
}

fn parse_repomd_file(path: &Path, label: &str) -> Result<Vec<RepomdRecord>, RepoError> {
    let text = std::fs::read_to_string(path).map_err(IoError::at("read", path))?;
    xml::parse_repomd(&text).map_err(|message| RepoError::Parse {
        what: "repomd.xml",
        file: label.to_string(),
        message: message.to_string(),
    })
}

/// Metadata locations must stay inside the repository: no absolute paths, no `..`, no URL of
/// their own (a hostile repomd.xml must not make kiln read another file or host).
fn check_href(href: &str, repomd: &str) -> Result<(), RepoError> {
    let escapes = href.starts_with('/')
        || href.contains("://")
        || href.contains('\\')
        || href.split('/').any(|c| c == "..");
    if escapes {
        return Err(RepoError::OutsideRepo {
            repomd: repomd.to_string(),
            href: href.to_string(),
        });
    }
    Ok(())
}

fn wanted<'a>(records: &'a [RepomdRecord], opts: &LoadOptions) -> Vec<&'a RepomdRecord> {
    let mut out: Vec<&RepomdRecord> = Vec::new();
    for kind in ["primary", "filelists", "group", "group_gz"] {
        if kind == "filelists" && !opts.filelists {
            continue;
        }
        if kind == "group_gz" && out.iter().any(|r| r.kind == "group") {
            continue;
        }
        if let Some(r) = records.iter().find(|r| r.kind == kind) {
            out.push(r);
        }
    }
    out
}

fn read_comps(path: &Path) -> Result<Comps, RepoError> {
    let raw = std::fs::read(path).map_err(IoError::at("read", path))?;
    let text = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_string(&mut s)
            .map_err(IoError::at("decompress", path))?;
        s
    } else {
        String::from_utf8_lossy(&raw).into_owned()
    };
    xml::parse_comps(&text).map_err(|message| RepoError::Parse {
        what: "comps",
        file: path.display().to_string(),
        message: message.to_string(),
    })
}

/// A repomd.xml record's checksum: metadata without one cannot be verified, so it is refused.
fn require_checksum<'r>(r: &'r RepomdRecord, repomd: &str) -> Result<&'r Checksum, RepoError> {
    r.checksum.as_ref().ok_or_else(|| RepoError::NoChecksum {
        repomd: repomd.to_string(),
        kind: r.kind.clone(),
    })
}

/// Fetch (or find in the cache) and verify one repository's metadata.
pub fn load(spec: &RepoSpec, cache: &Cache, opts: &LoadOptions) -> Result<RepoMetadata, RepoError> {
    let fetcher = Fetcher::new(spec.proxy.as_deref())?;
    let dir = cache.repodata_dir(&spec.name, source_key(&spec.source));
    let local_base = match &spec.source {
        Source::BaseUrl(u) => file_path(u),
        _ => None,
    };
    let (bases, repomd_path, files) = if let Some(base) = local_base {
        // A local repo is used in place, but still verified against its repomd.xml.
        let repomd = base.join("repodata/repomd.xml");
        let records = parse_repomd_file(&repomd, &repomd.display().to_string())?;
        let mut files = Vec::new();
        for r in wanted(&records, opts) {
            check_href(&r.href, &repomd.display().to_string())?;
            let p = base.join(&r.href);
            verify_file(
                &p,
                require_checksum(r, &repomd.display().to_string())?,
                &p.display().to_string(),
            )?;
            files.push((r.kind.clone(), p));
        }
        (vec![source_key(&spec.source).to_string()], repomd, files)
    } else {
        let _lock = cache::DirLock::acquire(&dir)?;
        crate::stale::sweep_partial_files(&dir);
        let bases_file = dir.join("bases.txt");
        let repomd = dir.join("repomd.xml");
        let bases = if cache.cache_only {
            if !repomd.is_file() {
                return Err(RepoError::NotCached {
                    what: format!("repomd.xml of `{}`", spec.name),
                    cache: cache.root.display().to_string(),
                });
            }
            std::fs::read_to_string(&bases_file)
                .map(|t| t.lines().map(str::to_string).collect())
                .unwrap_or_default()
        } else {
            let (bases, hashes) = mirrors(spec, &fetcher)?;
            let mut ok = None;
            let mut last_err = None;
            for b in &bases {
                let url = join_url(b, "repodata/repomd.xml");
                let tmp = dir.join(format!(".repomd.xml.part{}", std::process::id()));
                match fetcher.fetch_to(&url, &tmp, None, &|_| {}) {
                    Ok(()) => {
                        // The metalink's hashes are the trust anchor for mirrors.
                        if !hashes.is_empty() {
                            let matches = hashes.iter().any(|h| {
                                fetch::file_digest(&tmp, &h.kind).is_ok_and(|d| d == h.hex)
                            });
                            if !matches {
                                let _ = std::fs::remove_file(&tmp);
                                last_err = Some(RepoError::Metalink {
                                    url,
                                    metalink: source_key(&spec.source).to_string(),
                                });
                                continue;
                            }
                        }
                        std::fs::rename(&tmp, &repomd)
                            .map_err(IoError::at("rename into", &repomd))?;
                        ok = Some(b.clone());
                        break;
                    }
                    Err(e) => last_err = Some(e),
                }
            }
            if ok.is_none() {
                return Err(last_err.unwrap_or_else(|| RepoError::NoMirrors(spec.name.clone())));
            }
            // The mirror that answered goes first for packages too.
            let first = ok.unwrap_or_default();
            let mut ordered = vec![first.clone()];
            ordered.extend(bases.into_iter().filter(|b| *b != first));
            let tmp = dir.join(format!(".bases.part{}", std::process::id()));
            std::fs::write(&tmp, ordered.join("\n")).map_err(IoError::at("write", &tmp))?;
            std::fs::rename(&tmp, &bases_file).map_err(IoError::at("rename into", &bases_file))?;
            ordered
        };
        let records = parse_repomd_file(&repomd, &repomd.display().to_string())?;
        let mut files = Vec::new();
        for r in wanted(&records, opts) {
            check_href(&r.href, &repomd.display().to_string())?;
            require_checksum(r, &repomd.display().to_string())?;
            let name = r.href.rsplit('/').next().unwrap_or(&r.href).to_string();
            let dest = dir.join(&name);
            let fresh = dest.is_file()
                && r.checksum
                    .as_ref()
                    .is_none_or(|c| verify_file(&dest, c, &name).is_ok());
            if !fresh {
                if cache.cache_only {
                    return Err(RepoError::NotCached {
                        what: name,
                        cache: cache.root.display().to_string(),
                    });
                }
                let mut last = None;
                for b in &bases {
                    match fetcher.fetch_to(
                        &join_url(b, &r.href),
                        &dest,
                        r.checksum.as_ref(),
                        &|_| {},
                    ) {
                        Ok(()) => {
                            last = None;
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                if let Some(e) = last {
                    return Err(e);
                }
            }
            files.push((r.kind.clone(), dest));
        }
        (bases, repomd, files)
    };
    let primary = files
        .iter()
        .find(|(k, _)| k == "primary")
        .map(|(_, p)| p.clone())
        .ok_or_else(|| RepoError::NoPrimary {
            file: repomd_path.display().to_string(),
        })?;
    let filelists = files
        .iter()
        .find(|(k, _)| k == "filelists")
        .map(|(_, p)| p.clone());
    let comps = match files.iter().find(|(k, _)| k.starts_with("group")) {
        Some((_, p)) => Some(read_comps(p)?),
        None => None,
    };
    Ok(RepoMetadata {
        spec: spec.clone(),
        bases,
        repomd_sha256: fetch::file_digest(&repomd_path, "sha256")?,
        primary,
        filelists,
        comps,
    })
}

#[cfg(test)]
mod href_tests {
    use super::{check_href, usable_mirrors, RepoError};

    #[test]
    fn remote_mirror_lists_name_only_web_mirrors() {
        let list = ["file:///etc", "ftp://h/r", "https://m/r", "gopher://x"];
        assert_eq!(
            usable_mirrors("http://list.example/ml", list.into_iter()).unwrap(),
            vec!["https://m/r".to_string()]
        );
        assert_eq!(
            usable_mirrors("file:///srv/ml", list.into_iter()).unwrap(),
            vec!["file:///etc".to_string(), "https://m/r".to_string()]
        );
        let e =
            usable_mirrors("https://l/ml", ["file:///etc/x", "ftp://h"].into_iter()).unwrap_err();
        assert!(
            matches!(&e, RepoError::BadMirror { mirror, .. } if mirror == "file:///etc/x"),
            "{e}"
        );
    }

    #[test]
    fn metadata_locations_stay_in_the_repository() {
        for ok in ["repodata/abc-primary.xml.gz", "repodata/x..y.xml"] {
            assert!(check_href(ok, "repomd.xml").is_ok(), "{ok}");
        }
        for bad in [
            "../../etc/passwd",
            "repodata/../../x",
            "/etc/passwd",
            "file:///etc/passwd",
            "http://elsewhere.example/primary.xml.gz",
        ] {
            let e = check_href(bad, "repomd.xml").unwrap_err().to_string();
            assert!(
                e.contains("outside the repository") && e.contains(bad),
                "{e}"
            );
        }
    }
}
