//! `kiln install`: resolve, download, install into a root directory.

use std::time::Instant;

use kiln::install::scriptlet::ScriptRunner;
use kiln::install::transaction::{self, InstallOptions};
use kiln::repo;

use super::args::InstallArgs;
use super::report::{DownloadBar, InstallBar};
use super::resolve::{cause_chain, host_arch, resolve_from};
use super::{EXIT_BAD_INPUT, EXIT_ENV, EXIT_INTERRUPTED, EXIT_OK};

/// Removes a root this run created, unless disarmed (success or `--nocleanup`).
struct RootGuard {
    path: std::path::PathBuf,
    armed: bool,
}

impl Drop for RootGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// `kiln install`.
pub fn run(a: &InstallArgs, color: bool) -> anyhow::Result<i32> {
    let started = Instant::now();
    // Refuse before any work: a non-empty root is someone else's files.
    match std::fs::read_dir(&a.root) {
        Ok(mut d) => {
            if d.next().is_some() {
                eprintln!(
                    "error: the root `{}` is not empty\nhint: give a new or empty directory",
                    a.root.display()
                );
                return Ok(EXIT_BAD_INPUT);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            eprintln!("error: cannot read the root `{}`: {e}", a.root.display());
            return Ok(EXIT_ENV);
        }
    }
    let ks = match kiln::kickstart::parse_file(
        &a.resolve.ks,
        &kiln::kickstart::ParseOptions::default(),
    ) {
        Ok(k) => k,
        Err(e) => {
            super::diagnostics::print_error(&e, color);
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let (r, cache) = match resolve_from(&a.resolve, color) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let t_resolve = started.elapsed();
    let fetcher = match repo::Fetcher::new(None) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}", cause_chain(&e));
            return Ok(EXIT_ENV);
        }
    };
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let t0 = Instant::now();
    let local = match repo::download(&r.plan, &cache, &fetcher, a.jobs, &DownloadBar::new(tty)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {}", cause_chain(&e));
            return Ok(match e {
                repo::RepoError::Interrupted => EXIT_INTERRUPTED,
                _ => EXIT_ENV,
            });
        }
    };
    let t_download = t0.elapsed();
    let runner = match ScriptRunner::current() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot find the kiln binary for scriptlets: {e}");
            return Ok(EXIT_ENV);
        }
    };
    let inst_langs = a
        .inst_langs
        .clone()
        .or_else(|| ks.packages.inst_langs.clone())
        .map(|l| {
            l.split(':')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        });
    let opts = InstallOptions {
        exclude_docs: a.excludedocs || ks.packages.exclude_docs,
        inst_langs,
        no_scripts: a.noscripts,
        strict_scriptlets: a.strict_scriptlets,
        dbpath: a.dbpath.clone(),
        install_time: std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|s| s.trim().parse().ok()),
        arch: a.resolve.arch.clone().unwrap_or_else(host_arch),
    };
    let mut guard = RootGuard {
        path: a.root.clone(),
        armed: !a.nocleanup,
    };
    let paths: Vec<_> = local.iter().map(|l| l.path.clone()).collect();
    let t0 = Instant::now();
    let report = match transaction::install(&paths, &a.root, &opts, &runner, &InstallBar::new(tty))
    {
        Ok(rep) => rep,
        Err(e) => {
            eprintln!("error: {}", cause_chain(&e));
            if a.nocleanup {
                eprintln!("note: the partly installed root is kept in `{}`", a.root.display());
            }
            return Ok(e.exit_code());
        }
    };
    let t_install = t0.elapsed();
    guard.armed = false;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if a.resolve.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    eprintln!(
        "{} packages installed into {} ({} scriptlets run, {} unpacked in parallel runs; rpmdb at {})",
        report.packages.len(),
        a.root.display(),
        report.scriptlets.len(),
        report.parallel_unpacked,
        report.dbpath
    );
    eprintln!("{:<16} {:>9}", "stage", "seconds");
    let row = |n: &str, d: std::time::Duration| eprintln!("{n:<16} {:>9.2}", d.as_secs_f64());
    row("resolve", t_resolve);
    row("download", t_download);
    for (n, d) in &report.timings {
        row(&format!("  {n}"), *d);
    }
    row("install", t_install);
    row("total", started.elapsed());
    Ok(EXIT_OK)
}
