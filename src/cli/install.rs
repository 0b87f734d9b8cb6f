//! `kiln install`: resolve, download, install into a root directory.

use std::time::Instant;

use kiln::install::relocate::{RelocateError, Relocation};
use kiln::install::scriptlet::ScriptRunner;
use kiln::install::transaction::{self, InstallOptions};
use kiln::repo;

use super::args::{InstallArgs, InstallRpmsArgs};
use super::report::{DownloadBar, InstallBar};
use super::resolve::{cause_chain, host_arch, resolve_from};
use super::settings::source_date_epoch_u32;
use super::{EXIT_BAD_INPUT, EXIT_ENV, EXIT_OK};

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

/// Refuse a non-empty root before any work: it holds someone else's files.
fn check_root(root: &std::path::Path) -> Option<i32> {
    match std::fs::read_dir(root) {
        Ok(mut d) => {
            if d.next().is_some() {
                eprintln!(
                    "error: the root `{}` is not empty\nhint: give a new or empty directory",
                    root.display()
                );
                return Some(EXIT_BAD_INPUT);
            }
            None
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            eprintln!("error: cannot read the root `{}`: {e}", root.display());
            Some(EXIT_ENV)
        }
    }
}

/// The one warning of `--nodigest` (rpm says nothing; kiln's default is rpm's check).
pub(super) fn warn_nodigest() {
    eprintln!(
        "warning: --nodigest: the packages' header and payload digests are not checked; a \
         corrupted or altered package may be installed"
    );
}

/// Whether `root` is missing or an empty directory: only such a root is removed again when
/// the install fails (a root that had files, e.g. an earlier install, is the user's).
fn root_is_new(root: &std::path::Path) -> bool {
    match std::fs::read_dir(root) {
        Ok(mut d) => d.next().is_none(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// `kiln install-rpms`: into a new root, or appended to a root that has packages already (its
/// rpmdb gets a second transaction, as `rpm -i --root` does).
pub fn run_rpms(a: &InstallRpmsArgs) -> anyhow::Result<i32> {
    let install_time = match source_date_epoch_u32(None) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let relocations = match relocations(a) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let opts = InstallOptions {
        exclude_docs: a.excludedocs,
        inst_langs: a.inst_langs.as_deref().map(transaction::split_inst_langs),
        no_scripts: a.noscripts,
        strict_scriptlets: a.strict_scriptlets,
        dbpath: a.dbpath.clone(),
        install_time,
        arch: a.arch.clone().unwrap_or_else(host_arch),
        no_digest: a.nodigest,
        // Arbitrary files, no cache to keep records in: each is hashed.
        digest_records: None,
        relocations,
    };
    install_files(
        &a.rpms,
        &a.root,
        &opts,
        (a.nocleanup, a.json, a.script_timeout),
        &[],
    )
}

/// `--prefix` first (rpm's CLI puts it first), then each `--relocate`.
fn relocations(a: &InstallRpmsArgs) -> Result<Vec<Relocation>, RelocateError> {
    let mut v = Vec::new();
    if let Some(p) = &a.prefix {
        v.push(Relocation::prefix(p)?);
    }
    for r in &a.relocate {
        v.push(Relocation::parse_relocate(r)?);
    }
    Ok(v)
}

/// Install `paths` and print the report; shared by both commands.
fn install_files(
    paths: &[std::path::PathBuf],
    root: &std::path::Path,
    opts: &InstallOptions,
    (nocleanup, json, script_timeout): (bool, bool, u64),
    before: &[(&str, std::time::Duration)],
) -> anyhow::Result<i32> {
    let started = Instant::now();
    if opts.no_digest {
        warn_nodigest();
    }
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let runner = match ScriptRunner::current() {
        Ok(r) => r.with_timeout(Some(std::time::Duration::from_secs(script_timeout))),
        Err(e) => {
            eprintln!("error: cannot find the kiln binary for scriptlets: {e}");
            return Ok(EXIT_ENV);
        }
    };
    // A foreign arch's scriptlets run through qemu-user; undone when this returns.
    let _binfmt = match kiln::arch::info(&opts.arch).map(kiln::emulation::Binfmt::ensure) {
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return Ok(EXIT_ENV);
        }
        Some(Ok(g)) => g,
        None => None,
    };
    let mut guard = RootGuard {
        path: root.to_path_buf(),
        armed: !nocleanup && root_is_new(root),
    };
    let report = match transaction::install(paths, root, opts, &runner, &InstallBar::new(tty)) {
        Ok(rep) => rep,
        Err(e) => {
            eprintln!("error: {}", cause_chain(&e));
            if !guard.armed {
                eprintln!(
                    "note: the partly installed root is kept in `{}`",
                    root.display()
                );
            }
            return Ok(e.exit_code());
        }
    };
    guard.armed = false;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    eprintln!(
        "{} packages installed into {} ({} scriptlets run, {} unpacked in parallel runs; rpmdb at {})",
        report.packages.len(),
        root.display(),
        report.scriptlets.len(),
        report.parallel_unpacked,
        report.dbpath
    );
    eprintln!("{:<18} {:>9}", "stage", "seconds");
    let row = |n: &str, d: std::time::Duration| eprintln!("{n:<18} {:>9.2}", d.as_secs_f64());
    let mut total = started.elapsed();
    for (n, d) in before {
        row(n, *d);
        total += *d;
    }
    row("install", started.elapsed());
    for (n, d) in &report.timings {
        row(&format!("  {n}"), *d);
    }
    row("total", total);
    Ok(EXIT_OK)
}

/// `kiln install`.
pub fn run(a: &InstallArgs, color: bool) -> anyhow::Result<i32> {
    let started = Instant::now();
    if let Some(code) = check_root(&a.root) {
        return Ok(code);
    }
    let install_time = match source_date_epoch_u32(None) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let (resolution, cache, ks) = match resolve_from(&a.resolve, color) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let t_resolve = started.elapsed();
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let t0 = Instant::now();
    let gpg = match super::resolve::gpg_options(&a.resolve) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let fetched = match repo::fetch_verified(
        &resolution.plan,
        &resolution.repos,
        &cache,
        &gpg,
        a.jobs,
        &DownloadBar::new(tty),
    ) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}", cause_chain(&e));
            return Ok(super::resolve::repo_exit(&e));
        }
    };
    let t_download = t0.elapsed();
    let opts = InstallOptions {
        exclude_docs: a.excludedocs || ks.packages.exclude_docs,
        inst_langs: a
            .inst_langs
            .as_deref()
            .or(ks.packages.inst_langs.as_deref())
            .map(transaction::split_inst_langs),
        no_scripts: a.noscripts,
        strict_scriptlets: a.strict_scriptlets,
        dbpath: a.dbpath.clone(),
        install_time,
        arch: a.resolve.arch.clone().unwrap_or_else(host_arch),
        no_digest: a.nodigest,
        digest_records: Some(fetched.records),
        relocations: Vec::new(),
    };
    let paths: Vec<_> = fetched.local.iter().map(|l| l.path.clone()).collect();
    install_files(
        &paths,
        &a.root,
        &opts,
        (a.nocleanup, a.resolve.json, a.script_timeout),
        &[("resolve", t_resolve), ("download", t_download)],
    )
}
