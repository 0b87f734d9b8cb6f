//! Resolution: the only user of `kiln_solver`. Turns `%packages` (with comps groups and
//! environments from the repositories) into a solver request whose items carry tags that map back
//! to kickstart lines, runs it, and turns the result into a plan of [`PackageLocation`]s for
//! `repo::download`. Missing items and unsolvable requests become errors that name those lines.

pub mod error;

use std::collections::BTreeMap;
use std::time::Instant;

use kiln_solver::{Item, RepoSource, Request, SolvCache, SolveError, Strength};

use crate::kickstart::sections::GroupInclude;
use crate::kickstart::{Kickstart, Origin};
use crate::repo::{self, Cache, Checksum, Comps, PackageLocation, RepoMetadata, RepoSpec};
use crate::rpmfile::repodata::ReqType;

pub use error::{MissingItem, ProblemReport, ResolveError};

/// Options of a resolution.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    /// Target arch (`x86_64`, `aarch64`, ...).
    pub arch: String,
    /// `$releasever`.
    pub releasever: Option<String>,
    /// `--repo NAME,URL` pairs replacing the kickstart's repos.
    pub cli_repos: Vec<(String, String)>,
    /// The cache.
    pub cache: Cache,
    /// Load filelists (needed for file dependencies outside primary's subset).
    pub filelists: bool,
}

/// One package of the resolution, in transaction order: the solver's
/// [`kiln_solver::SolvedPackage`] with the URL it is downloaded from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ResolvedPackage {
    /// Name.
    pub name: String,
    /// Epoch.
    pub epoch: u32,
    /// Version.
    pub version: String,
    /// Release.
    pub release: String,
    /// Arch.
    pub arch: String,
    /// Repo id.
    pub repo: String,
    /// `location href` within the repo.
    pub location: String,
    /// Full URL on the first mirror.
    pub url: String,
    /// Checksum as `type:hex`.
    pub checksum: Option<String>,
    /// File size.
    pub size: u64,
    /// Installed size.
    pub install_size: u64,
}

impl ResolvedPackage {
    /// `name-[e:]v-r.arch`.
    pub fn nevra(&self) -> String {
        kiln_solver::format_nevra(
            &self.name,
            self.epoch,
            &self.version,
            &self.release,
            &self.arch,
        )
    }
}

/// The result of [`resolve`].
#[derive(Debug, Clone)]
pub struct Resolution {
    /// Packages in install order.
    pub packages: Vec<ResolvedPackage>,
    /// Where each can be downloaded (same order).
    pub plan: Vec<PackageLocation>,
    /// Warnings (ignored missing items).
    pub warnings: Vec<String>,
    /// Repositories used.
    pub repos: Vec<RepoSpec>,
    /// How many repos were loaded from the `.solv` cache.
    pub solv_cache_hits: usize,
    /// Milliseconds spent loading metadata into the solver and solving.
    pub solve_ms: u128,
}

/// What a tag stands for.
#[derive(Debug, Clone)]
struct TagInfo {
    what: String,
    origin: Option<Origin>,
}

/// `%packages` -> request (+ tag table, + missing groups).
fn build_request(
    ks: &Kickstart,
    comps: &Comps,
    basearch: &str,
) -> (Request, Vec<TagInfo>, Vec<MissingItem>) {
    let p = &ks.packages;
    let mut tags: Vec<TagInfo> = Vec::new();
    let mut items = Vec::new();
    let mut missing = Vec::new();
    let mut tag = |what: String, origin: Option<Origin>| -> u32 {
        tags.push(TagInfo { what, origin });
        (tags.len() - 1) as u32
    };
    let header = p.header_origins.first().cloned();
    // Groups: implicit @core, the environment's groups, then the listed ones.
    let mut groups: Vec<(String, GroupInclude, Option<Origin>)> = Vec::new();
    if !p.nocore {
        groups.push(("core".into(), GroupInclude::Default, header.clone()));
    }
    if let Some(env) = &p.environment {
        match comps.environment(env) {
            Some(e) => {
                for g in &e.groups {
                    groups.push((
                        g.clone(),
                        GroupInclude::Default,
                        p.environment_origin.clone(),
                    ));
                }
            }
            None => missing.push(MissingItem {
                what: format!("environment `@^{env}`"),
                origin: p.environment_origin.clone(),
            }),
        }
    }
    for g in &p.groups {
        groups.push((g.name.clone(), g.include, g.origin.clone()));
    }
    let excluded_groups: Vec<&str> = p.excluded_groups.iter().map(|g| g.name.as_str()).collect();
    let mut excluded_names: Vec<String> = Vec::new();
    for g in &excluded_groups {
        if let Some(grp) = comps.group(g) {
            excluded_names.extend(grp.packages.iter().map(|x| x.name.clone()));
        }
    }
    let mut seen_group = BTreeMap::new();
    for (name, include, origin) in groups {
        if excluded_groups.contains(&name.as_str()) {
            continue;
        }
        let Some(grp) = comps.group(&name) else {
            // The implicit @core of a repo without comps is not an error (dnf behaves the same).
            if !(name == "core" && comps.groups.is_empty() && origin == header) {
                missing.push(MissingItem {
                    what: format!("group `@{name}`"),
                    origin,
                });
            }
            continue;
        };
        // A group listed twice keeps its widest inclusion.
        let e = seen_group
            .entry(grp.id.clone())
            .or_insert((include, origin.clone()));
        if include > e.0 {
            *e = (include, origin);
        }
    }
    for (gid, (include, origin)) in seen_group {
        let Some(grp) = comps.group(&gid) else {
            continue;
        };
        let t = tag(format!("group `@{gid}`"), origin);
        for pkg in &grp.packages {
            let take = match pkg.kind {
                ReqType::Mandatory | ReqType::Conditional => true,
                ReqType::Default => include >= GroupInclude::Default,
                ReqType::Optional => include >= GroupInclude::All,
            };
            let arch_ok = pkg
                .arches
                .as_ref()
                .is_none_or(|a| a.iter().any(|x| x == basearch));
            if !take || !arch_ok || excluded_names.contains(&pkg.name) {
                continue;
            }
            items.push(Item {
                spec: pkg.name.clone(),
                tag: t,
                strength: Strength::IfAvailable,
                if_installed: pkg
                    .requires
                    .clone()
                    .filter(|_| pkg.kind == ReqType::Conditional),
                all_arches: p.multilib,
            });
        }
    }
    for name in &p.packages {
        let t = tag(format!("package `{name}`"), p.origins.get(name).cloned());
        items.push(Item {
            spec: name.clone(),
            tag: t,
            strength: Strength::Required,
            if_installed: None,
            all_arches: p.multilib,
        });
    }
    let excludes = p
        .excluded
        .iter()
        .map(|n| {
            let t = tag(format!("exclusion `-{n}`"), p.origins.get(n).cloned());
            (n.clone(), t)
        })
        .collect();
    let req = Request {
        items,
        excludes,
        exclude_weakdeps: p.exclude_weakdeps,
        ignore_missing: p.ignore_missing,
    };
    (req, tags, missing)
}

fn report(p: &kiln_solver::Problem, tags: &[TagInfo]) -> ProblemReport {
    let mut details: Vec<String> = Vec::new();
    for r in &p.rules {
        if !r.text.is_empty() && !details.contains(&r.text) {
            details.push(r.text.clone());
        }
    }
    let mut origins = Vec::new();
    let mut requested = Vec::new();
    for t in &p.tags {
        if let Some(info) = tags.get(*t as usize) {
            requested.push(info.what.clone());
            if let Some(o) = &info.origin {
                if !origins.contains(o) {
                    origins.push(o.clone());
                }
            }
        }
    }
    ProblemReport {
        summary: p.summary.clone(),
        details,
        solutions: p.solutions.clone(),
        requested,
        origins,
    }
}

/// Load every repository (network/cache), then solve `%packages`.
pub fn resolve(ks: &Kickstart, opts: &ResolveOptions) -> Result<Resolution, ResolveError> {
    let specs = repo::repo_specs(ks, &opts.cli_repos, opts.releasever.as_deref(), &opts.arch)
        .map_err(|source| ResolveError::Repo {
            name: None,
            origin: match &source {
                repo::RepoError::BadUrl { origin, .. }
                | repo::RepoError::NoReleasever { origin, .. } => origin.clone(),
                _ => None,
            },
            source,
        })?;
    let load_opts = repo::LoadOptions {
        filelists: opts.filelists,
    };
    let mut metas: Vec<RepoMetadata> = Vec::new();
    for s in &specs {
        let m = repo::load(s, &opts.cache, &load_opts).map_err(|source| ResolveError::Repo {
            name: Some(s.name.clone()),
            origin: s.origin.clone(),
            source,
        })?;
        metas.push(m);
    }
    resolve_loaded(ks, &metas, opts)
}

/// Solve `%packages` against already loaded repositories.
pub fn resolve_loaded(
    ks: &Kickstart,
    metas: &[RepoMetadata],
    opts: &ResolveOptions,
) -> Result<Resolution, ResolveError> {
    let t0 = Instant::now();
    let mut comps = Comps::default();
    for m in metas {
        if let Some(c) = &m.comps {
            comps.merge(c.clone());
        }
    }
    let basearch = repo::spec::basearch(&opts.arch).to_string();
    let (req, tags, missing_groups) = build_request(ks, &comps, &basearch);
    let mut solver = kiln_solver::Solver::new(&opts.arch).map_err(ResolveError::Solver)?;
    let mut hits = 0;
    for m in metas {
        let src = RepoSource {
            name: m.spec.name.clone(),
            primary: m.primary.clone(),
            filelists: m.filelists.clone(),
            priority: 99,
            cost: m.spec.cost,
            includepkgs: m.spec.includepkgs.clone(),
            excludepkgs: m.spec.excludepkgs.clone(),
            solv_cache: Some(SolvCache {
                path: opts
                    .cache
                    .solv_path(&m.repomd_sha256, m.filelists.is_some()),
            }),
        };
        if solver.add_repo(&src).map_err(ResolveError::Solver)? {
            hits += 1;
        }
    }
    let mut warnings = Vec::new();
    let ignore = ks.packages.ignore_missing;
    let describe = |ms: &[kiln_solver::Missing]| -> Vec<MissingItem> {
        ms.iter()
            .map(|m| {
                let info = tags.get(m.tag as usize);
                MissingItem {
                    what: format!("package `{}`", m.spec),
                    origin: info.and_then(|i| i.origin.clone()),
                }
            })
            .collect()
    };
    if !missing_groups.is_empty() && !ignore {
        // Report missing packages too, so the user sees everything in one run.
        let mut all = missing_groups.clone();
        if let Err(SolveError::Missing(m)) = solver.solve(&req) {
            all.extend(describe(&m));
        }
        return Err(ResolveError::Missing(all));
    }
    let sol = match solver.solve(&req) {
        Ok(s) => s,
        Err(SolveError::Missing(m)) => return Err(ResolveError::Missing(describe(&m))),
        Err(SolveError::Unsolvable(ps)) => {
            return Err(ResolveError::Unsolvable(
                ps.iter().map(|p| report(p, &tags)).collect(),
            ))
        }
        Err(e) => return Err(ResolveError::Internal(e.to_string())),
    };
    for m in missing_groups.iter().chain(describe(&sol.missing).iter()) {
        let at = m
            .origin
            .as_ref()
            .map(|o| format!(" ({o})"))
            .unwrap_or_default();
        warnings.push(format!(
            "{} not found, ignored (--ignoremissing){at}",
            m.what
        ));
    }
    let by_repo: BTreeMap<&str, &RepoMetadata> =
        metas.iter().map(|m| (m.spec.name.as_str(), m)).collect();
    let mut packages = Vec::new();
    let mut plan = Vec::new();
    for p in sol.packages {
        let bases = by_repo
            .get(p.repo.as_str())
            .map(|m| m.bases.clone())
            .unwrap_or_default();
        let checksum = match (&p.checksum_type, &p.checksum) {
            (Some(k), Some(h)) => Some(Checksum {
                kind: k.clone(),
                hex: h.clone(),
            }),
            _ => None,
        };
        let rp = ResolvedPackage {
            url: bases
                .first()
                .map(|b| repo::fetch::join_url(b, &p.location))
                .unwrap_or_default(),
            checksum: checksum.as_ref().map(|c| format!("{}:{}", c.kind, c.hex)),
            name: p.name,
            epoch: p.epoch,
            version: p.version,
            release: p.release,
            arch: p.arch,
            repo: p.repo,
            location: p.location,
            size: p.size,
            install_size: p.install_size,
        };
        plan.push(PackageLocation {
            nevra: rp.nevra(),
            repo: rp.repo.clone(),
            bases,
            href: rp.location.clone(),
            checksum,
            size: rp.size,
        });
        packages.push(rp);
    }
    Ok(Resolution {
        packages,
        plan,
        warnings,
        repos: metas.iter().map(|m| m.spec.clone()).collect(),
        solv_cache_hits: hits,
        solve_ms: t0.elapsed().as_millis(),
    })
}
