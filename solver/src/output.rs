//! Request -> libsolv jobs -> owned results: packages in transaction order, or structured problems.

use std::collections::{BTreeSet, HashMap};

use crate::ffi;
use crate::input::LoadedRepo;
use crate::wrapper::pool::Pool;
use crate::wrapper::queue::Queue;
use crate::wrapper::selection;
use crate::wrapper::solver::{RawRule, Solver as RawSolver};
use crate::{Item, Missing, Request, SolveError, Strength};

/// One package of the solver's transaction, as plain data (the repo it comes from, where in it,
/// its checksum); kiln turns it into a `kiln::resolve::ResolvedPackage` with a download URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolvedPackage {
    /// Name.
    pub name: String,
    /// Epoch (0 when absent).
    pub epoch: u32,
    /// Version.
    pub version: String,
    /// Release.
    pub release: String,
    /// Arch.
    pub arch: String,
    /// Repo id it comes from.
    pub repo: String,
    /// `location href` relative to the repo base URL.
    pub location: String,
    /// Checksum type from primary (`sha256`, ...).
    pub checksum_type: Option<String>,
    /// Hex checksum from primary.
    pub checksum: Option<String>,
    /// Package file size in bytes.
    pub size: u64,
    /// Installed size in bytes.
    pub install_size: u64,
}

/// `name-[epoch:]version-release.arch` as dnf prints it (epoch 0 omitted).
pub fn format_nevra(name: &str, epoch: u32, version: &str, release: &str, arch: &str) -> String {
    if epoch == 0 {
        format!("{name}-{version}-{release}.{arch}")
    } else {
        format!("{name}-{epoch}:{version}-{release}.{arch}")
    }
}

impl SolvedPackage {
    /// `name-[epoch:]version-release.arch` as dnf prints it.
    pub fn nevra(&self) -> String {
        format_nevra(
            &self.name,
            self.epoch,
            &self.version,
            &self.release,
            &self.arch,
        )
    }
}

/// A solved request.
#[derive(Debug, Clone, Default)]
pub struct Solution {
    /// Packages in install (transaction) order.
    pub packages: Vec<SolvedPackage>,
    /// Required items that matched nothing (only with `ignore_missing`).
    pub missing: Vec<Missing>,
    /// If-available items that matched nothing.
    pub skipped: Vec<Missing>,
}

/// What kind of rule a problem involves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// Nothing provides a dependency of a package.
    NothingProvides,
    /// A package requires something whose providers cannot be installed.
    Requires,
    /// Two packages conflict.
    Conflicts,
    /// Only one version of a name can be installed.
    SameName,
    /// A package obsoletes another.
    Obsoletes,
    /// A package cannot be installed (arch, excluded).
    NotInstallable,
    /// A requested item (a job).
    Job,
    /// A requested provide is provided by nothing.
    JobNothingProvides,
    /// Anything else (libsolv's text says what).
    Other,
}

/// One rule in a problem.
#[derive(Debug, Clone)]
pub struct ProblemRule {
    /// Its kind.
    pub kind: RuleKind,
    /// libsolv's sentence.
    pub text: String,
    /// The package the rule is about (NEVRA).
    pub source: Option<String>,
    /// Its name.
    pub source_name: Option<String>,
    /// The other package (NEVRA), for conflicts/obsoletes.
    pub target: Option<String>,
    /// Its name.
    pub target_name: Option<String>,
    /// The dependency involved.
    pub dep: Option<String>,
    /// For job rules: the request item's tag.
    pub tag: Option<u32>,
}

/// One reason the request cannot be satisfied.
#[derive(Debug, Clone)]
pub struct Problem {
    /// libsolv's one-line summary.
    pub summary: String,
    /// Every rule involved.
    pub rules: Vec<ProblemRule>,
    /// libsolv's proposed solutions, each a list of steps.
    pub solutions: Vec<Vec<String>>,
    /// Tags of the request items involved (job rules, and items naming an involved package).
    pub tags: Vec<u32>,
}

fn rule_kind(k: i32) -> RuleKind {
    match k {
        x if x == ffi::SOLVER_RULE_PKG_NOTHING_PROVIDES_DEP => RuleKind::NothingProvides,
        x if x == ffi::SOLVER_RULE_PKG_REQUIRES => RuleKind::Requires,
        x if x == ffi::SOLVER_RULE_PKG_CONFLICTS || x == ffi::SOLVER_RULE_PKG_SELF_CONFLICT => {
            RuleKind::Conflicts
        }
        x if x == ffi::SOLVER_RULE_PKG_SAME_NAME => RuleKind::SameName,
        x if x == ffi::SOLVER_RULE_PKG_OBSOLETES
            || x == ffi::SOLVER_RULE_PKG_IMPLICIT_OBSOLETES
            || x == ffi::SOLVER_RULE_PKG_INSTALLED_OBSOLETES =>
        {
            RuleKind::Obsoletes
        }
        x if x == ffi::SOLVER_RULE_PKG_NOT_INSTALLABLE => RuleKind::NotInstallable,
        x if x == ffi::SOLVER_RULE_JOB_NOTHING_PROVIDES_DEP
            || x == ffi::SOLVER_RULE_JOB_UNKNOWN_PACKAGE =>
        {
            RuleKind::JobNothingProvides
        }
        x if x & ffi::SOLVER_RULE_TYPEMASK == ffi::SOLVER_RULE_JOB => RuleKind::Job,
        _ => RuleKind::Other,
    }
}

/// Split libsolv's `[epoch:]version-release`.
fn split_evr(evr: &str) -> (u32, String, String) {
    let (epoch, rest) = match evr.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (e.parse().unwrap_or(0), r)
        }
        _ => (0, evr),
    };
    match rest.rsplit_once('-') {
        Some((v, r)) => (epoch, v.to_string(), r.to_string()),
        None => (epoch, rest.to_string(), String::new()),
    }
}

fn package(pool: &Pool, p: ffi::Id) -> Option<SolvedPackage> {
    let s = pool.solvable(p)?;
    let (epoch, version, release) = split_evr(&pool.id2str(s.evr));
    let (checksum_type, checksum) = match pool.solvable_checksum(p) {
        Some((t, c)) => (Some(t), Some(c)),
        None => (None, None),
    };
    Some(SolvedPackage {
        name: pool.id2str(s.name),
        epoch,
        version,
        release,
        arch: pool.id2str(s.arch),
        repo: pool.solvable_repo_name(p),
        location: pool.solvable_location(p).unwrap_or_default(),
        checksum_type,
        checksum,
        size: pool.solvable_num(p, ffi::SOLVABLE_DOWNLOADSIZE),
        install_size: pool.solvable_num(p, ffi::SOLVABLE_INSTALLSIZE),
    })
}

fn name_flags() -> i32 {
    ffi::SELECTION_NAME | ffi::SELECTION_GLOB | ffi::SELECTION_DOTARCH | ffi::SELECTION_CANON
}

/// Hide what repo include/exclude lists and the request's exclusions rule out.
fn apply_excludes(pool: &Pool, repos: &[LoadedRepo], req: &Request) {
    pool.reset_disabled();
    // Selections need whatprovides; build it over everything first.
    pool.create_whatprovides();
    let matches = |pat: &str| -> Vec<ffi::Id> {
        let mut sel = selection::select(pool, pat, name_flags() | ffi::SELECTION_WITH_DISABLED);
        selection::solvables(pool, &mut sel)
    };
    let mut disable: BTreeSet<ffi::Id> = BTreeSet::new();
    for r in repos {
        let in_repo = |p: &ffi::Id| pool.solvable(*p).is_some_and(|s| s.repo as usize == r.raw);
        if !r.includepkgs.is_empty() {
            let keep: BTreeSet<ffi::Id> = r
                .includepkgs
                .iter()
                .flat_map(|g| matches(g))
                .filter(in_repo)
                .collect();
            disable.extend(r.range.clone().filter(|p| in_repo(p) && !keep.contains(p)));
        }
        for g in &r.excludepkgs {
            disable.extend(matches(g).into_iter().filter(in_repo));
        }
    }
    for (g, _) in &req.excludes {
        disable.extend(matches(g));
    }
    for p in &disable {
        pool.disable(*p);
    }
    if !disable.is_empty() {
        tracing::debug!(count = disable.len(), "packages excluded");
        pool.create_whatprovides();
    }
}

struct Jobs {
    queue: Queue,
    /// Tag of each (how, what) pair, by pair index.
    tags: Vec<u32>,
}

impl Jobs {
    fn push(&mut self, how: ffi::Id, what: ffi::Id, tag: u32) {
        self.queue.push2(how, what);
        self.tags.push(tag);
    }
}

/// Add the jobs for one item; false when it matched nothing.
fn add_item(pool: &Pool, jobs: &mut Jobs, item: &Item) -> bool {
    let mut sel = selection::select(pool, &item.spec, selection::default_flags(&item.spec));
    // Excluded and wrong-arch packages can still be selected by name; they do not count.
    if sel.is_empty()
        || !selection::solvables(pool, &mut sel)
            .into_iter()
            .any(|p| pool.installable(p))
    {
        return false;
    }
    let mut how_extra = ffi::SOLVER_INSTALL;
    if item.strength == Strength::IfAvailable {
        how_extra |= ffi::SOLVER_WEAK;
    }
    if item.all_arches {
        // dnf's multilib_policy=all: one job per compatible arch among the matches.
        let mut by_arch: HashMap<ffi::Id, Vec<ffi::Id>> = HashMap::new();
        for p in selection::solvables(pool, &mut sel) {
            if let Some(s) = pool.solvable(p).filter(|_| pool.installable(p)) {
                by_arch.entry(s.arch).or_default().push(p);
            }
        }
        if by_arch.len() > 1 {
            let mut arches: Vec<_> = by_arch.into_iter().collect();
            arches.sort_by_key(|(a, _)| *a);
            for (_, ids) in arches {
                let what = pool.one_of(&ids);
                jobs.push(ffi::SOLVER_SOLVABLE_ONE_OF | how_extra, what, item.tag);
            }
            return true;
        }
    }
    // As dnf (obsoletes=True): packages obsoleting a match are candidates too, and libsolv's
    // policy then prefers the obsoleter (a request for `oldname` installs `newname`).
    let matched: Vec<ffi::Id> = selection::solvables(pool, &mut sel)
        .into_iter()
        .filter(|&p| pool.installable(p))
        .collect();
    let obsoleters: Vec<ffi::Id> =
        selection::matching_deps(pool, &matched, ffi::SOLVABLE_OBSOLETES)
            .into_iter()
            .filter(|p| pool.installable(*p) && !matched.contains(p))
            .collect();
    if !obsoleters.is_empty() {
        let mut all = matched;
        all.extend(obsoleters);
        let what = pool.one_of(&all);
        jobs.push(ffi::SOLVER_SOLVABLE_ONE_OF | how_extra, what, item.tag);
        return true;
    }
    let pairs = sel.as_slice().to_vec();
    // (how, what) pairs, as libsolv's selection queue holds them.
    for (how, what) in pairs.iter().step_by(2).zip(pairs.iter().skip(1).step_by(2)) {
        jobs.push(how | how_extra, *what, item.tag);
    }
    true
}

fn nevra_of(pool: &Pool, p: ffi::Id) -> Option<(String, String)> {
    if p <= 0 {
        return None;
    }
    let s = pool.solvable(p)?;
    Some((pool.solvable_str(p), pool.id2str(s.name)))
}

fn problem_rule(pool: &Pool, r: &RawRule, tags: &[u32]) -> ProblemRule {
    let src = nevra_of(pool, r.source);
    let tgt = nevra_of(pool, r.target);
    ProblemRule {
        kind: rule_kind(r.kind),
        text: r.text.clone(),
        source: src.as_ref().map(|x| x.0.clone()),
        source_name: src.map(|x| x.1),
        target: tgt.as_ref().map(|x| x.0.clone()),
        target_name: tgt.map(|x| x.1),
        dep: (r.dep != 0).then(|| pool.dep2str(r.dep)),
        tag: r.job_index.and_then(|j| tags.get(j / 2).copied()),
    }
}

pub(crate) fn solve(
    pool: &Pool,
    repos: &[LoadedRepo],
    req: &Request,
) -> Result<crate::Solution, SolveError> {
    apply_excludes(pool, repos, req);
    let mut jobs = Jobs {
        queue: Queue::new(),
        tags: Vec::new(),
    };
    let mut missing = Vec::new();
    let mut skipped = Vec::new();
    let (conditional, plain): (Vec<&Item>, Vec<&Item>) =
        req.items.iter().partition(|i| i.if_installed.is_some());
    for item in plain {
        if !add_item(pool, &mut jobs, item) {
            let m = Missing {
                spec: item.spec.clone(),
                tag: item.tag,
            };
            match item.strength {
                Strength::Required => missing.push(m),
                Strength::IfAvailable => skipped.push(m),
            }
        }
    }
    if !missing.is_empty() && !req.ignore_missing {
        return Err(SolveError::Missing(missing));
    }
    let mut pending: Vec<&Item> = conditional;
    loop {
        let mut solver = RawSolver::new(pool);
        // libdnf's settings for installs.
        solver.set_flag(ffi::SOLVER_FLAG_BEST_OBEY_POLICY, true);
        solver.set_flag(ffi::SOLVER_FLAG_YUM_OBSOLETES, true);
        solver.set_flag(ffi::SOLVER_FLAG_ALLOW_VENDORCHANGE, true);
        if req.exclude_weakdeps {
            solver.set_flag(ffi::SOLVER_FLAG_IGNORE_RECOMMENDED, true);
        }
        let nproblems = solver.solve(&mut jobs.queue);
        if nproblems > 0 {
            let item_by_name: HashMap<&str, u32> =
                req.items.iter().map(|i| (i.spec.as_str(), i.tag)).collect();
            let problems = (1..=nproblems as ffi::Id)
                .map(|i| {
                    let rules: Vec<ProblemRule> = solver
                        .problem_rules(i)
                        .iter()
                        .map(|r| problem_rule(pool, r, &jobs.tags))
                        .collect();
                    let mut tags: BTreeSet<u32> = rules.iter().filter_map(|r| r.tag).collect();
                    for r in &rules {
                        for n in [&r.source_name, &r.target_name].into_iter().flatten() {
                            if let Some(t) = item_by_name.get(n.as_str()) {
                                tags.insert(*t);
                            }
                        }
                    }
                    Problem {
                        summary: solver.problem_str(i),
                        rules,
                        solutions: solver.solutions(i),
                        tags: tags.into_iter().collect(),
                    }
                })
                .collect();
            return Err(SolveError::Unsolvable(problems));
        }
        let mut trans = solver.transaction().ok_or(SolveError::NoTransaction)?;
        let installs = trans.installs();
        // Comps conditional packages: add those whose condition is now installed, then re-solve.
        let names: BTreeSet<String> = installs
            .iter()
            .filter_map(|&p| pool.solvable(p).map(|s| pool.id2str(s.name)))
            .collect();
        let (now, later): (Vec<&Item>, Vec<&Item>) = pending
            .into_iter()
            .partition(|i| i.if_installed.as_ref().is_some_and(|c| names.contains(c)));
        pending = later;
        let mut added = false;
        for item in now {
            let weak = Item {
                strength: Strength::IfAvailable,
                ..item.clone()
            };
            added |= add_item(pool, &mut jobs, &weak);
        }
        if added {
            continue;
        }
        trans.order();
        let packages = trans
            .installs()
            .into_iter()
            .filter_map(|p| package(pool, p))
            .collect();
        return Ok(crate::Solution {
            packages,
            missing,
            skipped,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::split_evr;

    #[test]
    fn evr_split() {
        assert_eq!(
            split_evr("1:2.3-4.fc41"),
            (1, "2.3".into(), "4.fc41".into())
        );
        assert_eq!(split_evr("2.3-4"), (0, "2.3".into(), "4".into()));
        assert_eq!(split_evr("2.3"), (0, "2.3".into(), String::new()));
    }
}
