//! Parallel, verified package downloads: a bounded pool of worker threads takes packages largest
//! first (so the long transfers start early), tries each mirror in turn, checks the checksum from
//! primary and renames into the cache. Packages of `file://` repos are verified in place.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::fetch::{file_path, join_url, Fetcher};
use super::verified::Verified;
use super::{Cache, RepoError};
use crate::progress::DownloadReporter;
use crate::rpmfile::repodata::Checksum;

/// Where one package can be had (built by `resolve/` from the solver's result).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PackageLocation {
    /// `name-[e:]v-r.arch`, for messages.
    pub nevra: String,
    /// Repo id.
    pub repo: String,
    /// Base URLs (mirrors) of the repo, in preference order.
    pub bases: Vec<String>,
    /// `location href`.
    pub href: String,
    /// Checksum from primary.
    pub checksum: Option<Checksum>,
    /// Size in bytes.
    pub size: u64,
}

/// A package file on local disk, verified.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LocalPackage {
    /// NEVRA.
    pub nevra: String,
    /// The file.
    pub path: PathBuf,
    /// Whether it was transferred now (false: cache hit or file:// repo).
    pub downloaded: bool,
}

impl PackageLocation {
    /// The file in the cache this package is stored as.
    pub fn cache_path(&self, cache: &Cache) -> PathBuf {
        let base = self.bases.first().map(String::as_str).unwrap_or("");
        let file = self.href.rsplit('/').next().unwrap_or(&self.href);
        cache.packages_dir(&self.repo, base).join(file)
    }

    /// The file itself when the repo is local.
    pub fn local_path(&self) -> Option<PathBuf> {
        self.bases
            .first()
            .and_then(|b| file_path(b))
            .map(|p| p.join(&self.href))
    }
}

/// Packages that passed every check before any of them is installed.
#[derive(Debug, Clone)]
pub struct VerifiedPackages {
    /// The package files, in the plan's order.
    pub local: Vec<LocalPackage>,
    /// The digests checked on the way (and by earlier runs, for unchanged files): the install
    /// does not compute them again.
    pub records: std::sync::Arc<Verified>,
}

/// The packages of `plan` from `repos`, downloaded into `cache` (or found there or in a local
/// repository) with their checksums from primary verified, then their signatures checked under
/// `gpg`: what `kiln build` and `kiln install` do before installing.
pub fn fetch_verified(
    plan: &[PackageLocation],
    repos: &[super::RepoSpec],
    cache: &Cache,
    gpg: &super::GpgOptions,
    jobs: usize,
    reporter: &dyn DownloadReporter,
) -> Result<VerifiedPackages, RepoError> {
    let fetcher = Fetcher::new(None)?;
    // One set of records for the whole run: the download's checksums and the signature and
    // digest checks all land in it, so no save can drop another's.
    let records = std::sync::Arc::new(Verified::load(cache));
    let local = download(plan, cache, &fetcher, &records, jobs, reporter)?;
    // Signatures before any payload is used.
    super::gpg::check_packages(gpg, repos, plan, &local, &fetcher, Some(records.as_ref()))?;
    Ok(VerifiedPackages { local, records })
}

/// Fetch (or find) every package; returns them in the input order.
pub fn download(
    pkgs: &[PackageLocation],
    cache: &Cache,
    fetcher: &Fetcher,
    verified: &Verified,
    jobs: usize,
    reporter: &dyn DownloadReporter,
) -> Result<Vec<LocalPackage>, RepoError> {
    let mut out: Vec<Option<LocalPackage>> = vec![None; pkgs.len()];
    let mut todo = Vec::new();
    // Checksums of files already on disk (file:// repos, cache hits), on all cores: for a
    // large set that is seconds of hashing otherwise done one file after another.
    // Files unchanged since an earlier build verified them are not hashed again.
    let check = |p: &PackageLocation, path: &Path| match &p.checksum {
        Some(c) => verified.verify(path, c),
        None => Ok(()),
    };
    let present: Vec<Option<PathBuf>> = {
        use rayon::prelude::*;
        let r = pkgs
            .par_iter()
            .map(|p| {
                if let Some(local) = p.local_path() {
                    return Some(check(p, &local).map(|_| local));
                }
                let dest = p.cache_path(cache);
                (dest.is_file() && check(p, &dest).is_ok()).then_some(Ok(dest))
            })
            .collect::<Vec<_>>();
        verified.save();
        r.into_iter()
            .map(|r| r.transpose())
            .collect::<Result<_, _>>()?
    };
    for (i, p) in pkgs.iter().enumerate() {
        if let Some(path) = &present[i] {
            out[i] = Some(LocalPackage {
                nevra: p.nevra.clone(),
                path: path.clone(),
                downloaded: false,
            });
            continue;
        }
        if cache.cache_only {
            return Err(RepoError::NotCached {
                what: p.nevra.clone(),
                cache: cache.root.display().to_string(),
            });
        }
        todo.push(i);
    }
    // Partial downloads of builds that were killed (an interrupted one removes its own).
    let dirs: std::collections::BTreeSet<PathBuf> = todo
        .iter()
        .filter_map(|&i| pkgs[i].cache_path(cache).parent().map(Path::to_path_buf))
        .collect();
    for d in &dirs {
        crate::stale::sweep_partial_files(d);
    }
    // Largest first: the long transfers overlap with many small ones instead of trailing alone.
    todo.sort_by(|&a, &b| pkgs[b].size.cmp(&pkgs[a].size));
    let total: u64 = todo.iter().map(|&i| pkgs[i].size).sum();
    if !todo.is_empty() {
        tracing::debug!("downloading {} packages ({total} bytes)", todo.len());
    }
    reporter.start(todo.len(), total);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<(usize, Result<LocalPackage, RepoError>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, 32).min(todo.len().max(1)) {
            s.spawn(|| loop {
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = todo.get(k) else { break };
                let p = &pkgs[i];
                let dest = p.cache_path(cache);
                let mut last = None;
                for base in &p.bases {
                    let url = join_url(base, &p.href);
                    match fetcher
                        .fetch_to(&url, &dest, p.checksum.as_ref(), &|n| reporter.advance(n))
                    {
                        Ok(()) => {
                            last = None;
                            break;
                        }
                        Err(RepoError::Interrupted) => {
                            last = Some(RepoError::Interrupted);
                            break;
                        }
                        Err(e) => {
                            tracing::warn!("{e}");
                            last = Some(e);
                        }
                    }
                }
                let r = match last {
                    None => {
                        reporter.done(&p.nevra);
                        Ok(LocalPackage {
                            nevra: p.nevra.clone(),
                            path: dest,
                            downloaded: true,
                        })
                    }
                    Some(e) => {
                        failed.store(true, Ordering::Relaxed);
                        Err(e)
                    }
                };
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((i, r));
            });
        }
    });
    reporter.finish();
    for (i, r) in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        out[i] = Some(r?);
    }
    out.into_iter()
        .enumerate()
        .map(|(i, o)| {
            o.ok_or_else(|| RepoError::NotCached {
                what: pkgs[i].nevra.clone(),
                cache: cache.root.display().to_string(),
            })
        })
        .collect()
}
