//! kiln-solver: a safe API over the system libsolv (RPM flavour).
//!
//! Owns every `unsafe` block of the workspace (DESIGN.md §1.3 rule 6): the hand-declared
//! bindings in [`ffi`] and the RAII wrappers in [`wrapper`]. It knows nothing of images, kickstart
//! syntax or downloads; its outputs are plain owned data. Callers tag each request item with an
//! opaque `u32` and get those tags back in missing-item lists and problems.
#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod ffi;
mod input;
mod output;
pub mod wrapper;

pub use input::{RepoSource, SolvCache};
pub use output::{format_nevra, Problem, ProblemRule, RuleKind, Solution, SolvedPackage};
pub use wrapper::pool::PoolError;
pub use wrapper::repo::RepoDataError;
pub use wrapper::testcase::{run as run_testcase, TestcaseOutcome};

/// How strongly an item is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strength {
    /// Must be installed; missing is an error (unless ignored), unsolvable is a problem.
    Required,
    /// Installed when it exists and can be installed (comps default/optional packages).
    IfAvailable,
}

/// One thing to install.
#[derive(Debug, Clone)]
pub struct Item {
    /// Name, glob, `name.arch`, `name-version-release`, provide or absolute file path.
    pub spec: String,
    /// Caller's tag (kiln maps it to a kickstart line).
    pub tag: u32,
    /// Required or if-available.
    pub strength: Strength,
    /// Only when this package name ends up in the transaction (comps conditional packages).
    pub if_installed: Option<String>,
    /// Install every compatible arch of the matches, not just the best (dnf's multilib "all").
    pub all_arches: bool,
}

/// A request: what to install, what to hide.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Items to install.
    pub items: Vec<Item>,
    /// Name globs never to install (kickstart `-pkg`); the tag names where it came from.
    pub excludes: Vec<(String, u32)>,
    /// Do not pull in weak dependencies (Recommends/Supplements).
    pub exclude_weakdeps: bool,
    /// Treat missing required items as warnings (kickstart `--ignoremissing`).
    pub ignore_missing: bool,
}

/// A request item that matched nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The spec as given.
    pub spec: String,
    /// Its tag.
    pub tag: u32,
}

/// Why solving failed.
#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    /// Items that match no package in any repository.
    #[error("{} requested package(s) not found", .0.len())]
    Missing(Vec<Missing>),
    /// No solution: libsolv's problems.
    #[error("the request cannot be satisfied ({} problem(s))", .0.len())]
    Unsolvable(Vec<Problem>),
    /// libsolv gave no transaction after a successful solve (internal failure).
    #[error("libsolv produced no transaction")]
    NoTransaction,
}

/// Why setting up or loading failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Pool creation.
    #[error("cannot create the libsolv pool")]
    Pool(#[from] PoolError),
    /// Repository data.
    #[error("cannot load repository `{repo}`")]
    Repo {
        /// Repo name.
        repo: String,
        /// What was wrong with its data.
        #[source]
        source: RepoDataError,
    },
}

/// A pool with repositories, ready to answer requests. Not `Send`: keep it on one thread.
pub struct Solver {
    pool: wrapper::pool::Pool,
    repos: Vec<input::LoadedRepo>,
    prepared: bool,
}

impl Solver {
    /// An empty solver for the target `arch` (e.g. `x86_64`, `aarch64`).
    pub fn new(arch: &str) -> Result<Solver, LoadError> {
        Ok(Solver {
            pool: wrapper::pool::Pool::new(arch)?,
            repos: Vec::new(),
            prepared: false,
        })
    }

    /// Add a repository; returns whether its `.solv` cache was used.
    pub fn add_repo(&mut self, src: &RepoSource) -> Result<bool, LoadError> {
        self.prepared = false;
        let (loaded, hit) = input::load(&self.pool, src).map_err(|source| LoadError::Repo {
            repo: src.name.clone(),
            source,
        })?;
        self.repos.push(loaded);
        Ok(hit)
    }

    /// Number of packages loaded (all arches).
    pub fn package_count(&self) -> usize {
        self.repos.iter().map(|r| r.count).sum()
    }

    /// Solve a request. The pool can be reused for further requests.
    pub fn solve(&mut self, req: &Request) -> Result<Solution, SolveError> {
        if !self.prepared {
            input::prepare(&self.pool);
            self.prepared = true;
        }
        output::solve(&self.pool, &self.repos, req)
    }

    /// Compare two EVR strings the rpm way.
    pub fn evrcmp(&self, a: &str, b: &str) -> std::cmp::Ordering {
        self.pool.evrcmp(a, b)
    }
}
