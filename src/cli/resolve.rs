//! `kiln resolve` and `kiln download`.

use std::io::Write;

use kiln::repo::{self, Cache};
use kiln::resolve::{self, Resolution, ResolveError};

use super::args::{DownloadArgs, ResolveArgs};
use super::diagnostics::print_at;
use super::report::DownloadBar;
use super::settings;
use super::{EXIT_BAD_INPUT, EXIT_ENV, EXIT_OK};

// cli/install.rs imports them from here.
pub(super) use super::settings::{gpg_options, host_arch};

pub(super) fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!(": {c}"));
        cur = c.source();
    }
    s
}

/// Print a resolution error with kickstart lines; returns the exit code.
fn print_resolve_error(e: &ResolveError, color: bool) -> i32 {
    match e {
        ResolveError::Missing(items) => {
            print_at("error", &e.to_string(), None, None, color);
            for m in items {
                print_at(
                    "error",
                    &format!("{} not found", m.what),
                    m.origin.as_ref(),
                    None,
                    color,
                );
            }
            eprintln!("hint: check the names against the repositories, or add `--ignoremissing` to `%packages` to skip them");
        }
        ResolveError::Unsolvable(problems) => {
            print_at("error", &e.to_string(), None, None, color);
            for (i, p) in problems.iter().enumerate() {
                eprintln!("\nproblem {}: {}", i + 1, p.summary);
                for d in &p.details {
                    eprintln!("  - {d}");
                }
                if !p.requested.is_empty() {
                    eprintln!("  requested by: {}", p.requested.join(", "));
                }
                for o in &p.origins {
                    print_at("note", "requested here", Some(o), None, color);
                }
                for (j, s) in p.solutions.iter().enumerate() {
                    eprintln!("  solution {}: {}", j + 1, s.join("; "));
                }
            }
        }
        ResolveError::Repo {
            origin: Some(o), ..
        } => print_at("error", &cause_chain(e), Some(o), None, color),
        _ => print_at("error", &cause_chain(e), None, None, color),
    }
    e.exit_code()
}

pub(super) fn resolve_from(
    a: &ResolveArgs,
    color: bool,
) -> Result<(Resolution, Cache, kiln::kickstart::Kickstart), i32> {
    let ks = settings::kickstart(a, color)?;
    let opts = settings::resolve_options(a, a.arch.clone().unwrap_or_else(host_arch))?;
    let cache = opts.cache.clone();
    match resolve::resolve(&ks, &opts) {
        Ok(r) => {
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
            Ok((r, cache, ks))
        }
        Err(e) => Err(print_resolve_error(&e, color)),
    }
}

fn human_size(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", b as f64 / 1024.0)
    }
}

/// `kiln resolve`.
pub fn run_resolve(a: &ResolveArgs, color: bool) -> anyhow::Result<i32> {
    let (r, _, _) = match resolve_from(a, color) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &r.packages)?;
        writeln!(out)?;
    } else {
        for p in &r.packages {
            writeln!(out, "{}\t{}\t{}", p.nevra(), p.repo, human_size(p.size))?;
        }
    }
    let total: u64 = r.packages.iter().map(|p| p.size).sum();
    eprintln!(
        "{} packages, {} to download; solved in {} ms ({} of {} repos from the solv cache)",
        r.packages.len(),
        human_size(total),
        r.solve_ms,
        r.solv_cache_hits,
        r.repos.len()
    );
    Ok(EXIT_OK)
}

/// Exit status for a repository error after resolution (download, signatures).
pub(super) fn repo_exit(e: &repo::RepoError) -> i32 {
    match e {
        repo::RepoError::Interrupted => super::EXIT_INTERRUPTED,
        repo::RepoError::Signature { .. }
        | repo::RepoError::GpgKey { .. }
        | repo::RepoError::BadRepoArg(_) => EXIT_BAD_INPUT,
        _ => EXIT_ENV,
    }
}

/// `kiln download`: resolve, then fetch and verify the packages (checksums, signatures).
pub fn run_download(a: &DownloadArgs, color: bool) -> anyhow::Result<i32> {
    let (r, cache, _) = match resolve_from(&a.resolve, color) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let bar = DownloadBar::new(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let gpg = match gpg_options(&a.resolve) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let checked = repo::fetch_verified(&r.plan, &r.repos, &cache, &gpg, a.jobs, &bar)
        .map(|fetched| fetched.local);
    match checked {
        Ok(local) => {
            let fetched = local.iter().filter(|l| l.downloaded).count();
            if a.resolve.json {
                println!("{}", serde_json::to_string_pretty(&local)?);
            } else {
                for l in &local {
                    println!("{}\t{}", l.nevra, l.path.display());
                }
            }
            eprintln!(
                "{} packages ready ({} downloaded, {} already local) in {}",
                local.len(),
                fetched,
                local.len() - fetched,
                cache.root.display()
            );
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: {}", cause_chain(&e));
            Ok(repo_exit(&e))
        }
    }
}
