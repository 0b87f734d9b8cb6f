//! Errors of resolution; every item names its kickstart line when it has one.

use crate::kickstart::Origin;
use crate::repo::RepoError;

/// A requested package, group or environment that does not exist.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MissingItem {
    /// "package `foo`", "group `@bar`".
    pub what: String,
    /// Its kickstart line.
    pub origin: Option<Origin>,
}

/// One reason a request cannot be satisfied, readable.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProblemReport {
    /// libsolv's summary.
    pub summary: String,
    /// Every rule involved, as sentences.
    pub details: Vec<String>,
    /// libsolv's proposed solutions.
    pub solutions: Vec<Vec<String>>,
    /// The request items involved ("package `foo`").
    pub requested: Vec<String>,
    /// Their kickstart lines.
    pub origins: Vec<Origin>,
}

/// Why resolution failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A repository could not be loaded.
    #[error("{}", match .name { Some(n) => format!("cannot load repository `{n}`"), None => "invalid repository configuration".to_string() })]
    Repo {
        /// Repo id.
        name: Option<String>,
        /// Its kickstart line.
        origin: Option<Origin>,
        /// What failed while loading it.
        #[source]
        source: RepoError,
    },
    /// The solver could not be set up.
    #[error("cannot set up the solver")]
    Solver(#[source] kiln_solver::LoadError),
    /// Requested items that exist nowhere.
    #[error("{} requested item(s) not found in any repository", .0.len())]
    Missing(Vec<MissingItem>),
    /// No solution.
    #[error("the package set cannot be installed ({} problem(s))", .0.len())]
    Unsolvable(Vec<ProblemReport>),
    /// A solver failure that is kiln's fault.
    #[error("internal solver failure: {0}")]
    Internal(String),
}

impl ResolveError {
    /// 1 for bad input (missing, unsolvable, bad repo lines), 2 for environment failures.
    pub fn exit_code(&self) -> i32 {
        match self {
            ResolveError::Missing(_) | ResolveError::Unsolvable(_) => 1,
            ResolveError::Repo {
                source:
                    RepoError::BadRepoArg(_)
                    | RepoError::NoRepos
                    | RepoError::BadUrl { .. }
                    | RepoError::NoReleasever { .. },
                ..
            } => 1,
            ResolveError::Repo {
                source: RepoError::Interrupted,
                ..
            } => 130,
            _ => 2,
        }
    }
}
