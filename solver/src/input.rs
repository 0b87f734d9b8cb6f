//! Repository data into the pool: rpm-md primary (+ filelists) XML, or a `.solv` cache of it.

use std::path::PathBuf;

use crate::ffi;
use crate::wrapper::pool::Pool;
use crate::wrapper::repo::RepoDataError;

/// A `.solv` cache file for one repository. The caller keys the path by the repomd checksum (and
/// whether filelists are included), so a stale cache is never read for new metadata.
#[derive(Debug, Clone)]
pub struct SolvCache {
    /// The cache file.
    pub path: PathBuf,
}

/// One repository's verified local metadata.
#[derive(Debug, Clone)]
pub struct RepoSource {
    /// Repo id (shows in results and problems).
    pub name: String,
    /// primary.xml(.gz|.xz|.zst).
    pub primary: PathBuf,
    /// filelists.xml(.gz|...), for file dependencies outside primary's file subset.
    pub filelists: Option<PathBuf>,
    /// dnf priority: lower wins (default 99).
    pub priority: i32,
    /// dnf cost: among equal versions, lower wins (default 1000).
    pub cost: i32,
    /// Only these name globs come from this repo (empty: all).
    pub includepkgs: Vec<String>,
    /// These name globs never come from this repo.
    pub excludepkgs: Vec<String>,
    /// Read/write the `.solv` cache here.
    pub solv_cache: Option<SolvCache>,
}

impl RepoSource {
    /// A source with dnf's defaults for everything but the files.
    pub fn new(name: impl Into<String>, primary: impl Into<PathBuf>) -> RepoSource {
        RepoSource {
            name: name.into(),
            primary: primary.into(),
            filelists: None,
            priority: 99,
            cost: 1000,
            includepkgs: Vec::new(),
            excludepkgs: Vec::new(),
            solv_cache: None,
        }
    }
}

/// What the solver remembers about a loaded repo (no pool borrow, so `Solver` owns both).
#[derive(Debug, Clone)]
pub(crate) struct LoadedRepo {
    /// Identity of the libsolv repo (compared, never dereferenced here).
    pub raw: usize,
    pub range: std::ops::Range<ffi::Id>,
    pub count: usize,
    pub includepkgs: Vec<String>,
    pub excludepkgs: Vec<String>,
}

pub(crate) fn load(pool: &Pool, src: &RepoSource) -> Result<(LoadedRepo, bool), RepoDataError> {
    let mut repo = pool.create_repo(&src.name);
    let mut hit = false;
    if let Some(c) = src.solv_cache.as_ref().filter(|c| c.path.is_file()) {
        match repo.add_solv(&c.path) {
            Ok(()) => hit = true,
            Err(e) => {
                // A corrupt cache only costs time: drop what was read and parse the XML.
                tracing::warn!("ignoring unreadable solv cache: {e}");
                repo.free();
                repo = pool.create_repo(&src.name);
            }
        }
    }
    if !hit {
        // The XML goes through the cache when there is one: parsed in a scratch pool, written
        // as the .solv, and that file loaded here, so this pool is exactly the one a later
        // build reading the cache gets. Parsed here directly, the pool's strings would get
        // other ids, and libsolv's transaction order breaks ties by id: a SOURCE_DATE_EPOCH
        // build with an empty cache installed in another order than one with a warm cache.
        let via_cache = src.solv_cache.as_ref().is_some_and(|c| {
            cache_from_xml(src, &c.path).is_ok() && repo.add_solv(&c.path).is_ok()
        });
        if !via_cache {
            if src.solv_cache.is_some() {
                // Drop whatever a failed load left.
                repo.free();
                repo = pool.create_repo(&src.name);
            }
            add_xml(&repo, src)?;
        }
    }
    repo.set_priority(src.priority, src.cost);
    let range = repo.solvable_range();
    let count = range.clone().filter(|&p| repo.contains(p)).count();
    tracing::debug!(repo = %src.name, packages = count, solv_cache_hit = hit, "loaded");
    Ok((
        LoadedRepo {
            raw: repo_identity(pool, &range),
            range,
            count,
            includepkgs: src.includepkgs.clone(),
            excludepkgs: src.excludepkgs.clone(),
        },
        hit,
    ))
}

fn repo_identity(pool: &Pool, range: &std::ops::Range<ffi::Id>) -> usize {
    range
        .clone()
        .find_map(|p| pool.solvable(p))
        .map(|s| s.repo as usize)
        .unwrap_or(0)
}

fn add_xml(repo: &crate::wrapper::repo::Repo<'_>, src: &RepoSource) -> Result<(), RepoDataError> {
    repo.add_rpmmd(&src.primary, false)?;
    if let Some(f) = &src.filelists {
        repo.add_rpmmd(f, true)?;
    }
    repo.internalize();
    Ok(())
}

/// Parse the repo's XML in a pool of its own and write it as the `.solv` cache at `path`
/// (beside the target and renamed, so readers never see half a file).
fn cache_from_xml(src: &RepoSource, path: &std::path::Path) -> Result<(), RepoDataError> {
    let scratch = Pool::new("noarch").map_err(|e| {
        RepoDataError::io("parse", &src.primary)(std::io::Error::other(e.to_string()))
    })?;
    let repo = scratch.create_repo(&src.name);
    add_xml(&repo, src)?;
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let r = repo
        .write_solv(&tmp)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(RepoDataError::io("write", path)));
    if let Err(e) = &r {
        let _ = std::fs::remove_file(&tmp);
        tracing::warn!("cannot write solv cache: {e}");
    }
    r
}

/// Build the file provides and the whatprovides index once all repos are in.
pub(crate) fn prepare(pool: &Pool) {
    pool.add_fileprovides();
    pool.create_whatprovides();
}
