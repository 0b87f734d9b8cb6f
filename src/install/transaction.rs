//! The install transaction: rpm's order of events, kiln's parallelism.
//!
//! rpm (psm.c, transaction.c) installs a fresh set like this: every `%pretrans` first; then per
//! package in transaction order `%triggerprein`, `%pre`, the files, the rpmdb entry, file
//! triggers of priority >= 10000, `%post`, `%triggerin` (others' set off by it, then its own
//! set off by installed packages), the remaining file triggers; at the end every `%posttrans`
//! and then the `%transfiletriggerin` scripts with all matching paths.
//!
//! File triggers as rpm 4.18 runs them (lib/rpmtriggers.c; `tests/install_triggers.rs` checks
//! each point against rpm): `$1` is 0 and there is no `$2`; a prefix matches paths as a plain
//! string, against every file in the header (ghosts and directories too); the input is the
//! matching paths one a line (stdin, or `rpm.next_file()` in Lua). Around a package's `%post`
//! come first the triggers its files set off (its own included), by priority then install
//! order, fed its files; then its own triggers fed the files of the packages installed before
//! it. `%transfiletriggerin` runs package by package, each trigger once, fed every installed
//! file under its prefixes. rpm also runs the triggers of packages installed before the
//! transaction; kiln's transactions start from an empty root, so there are none.
//!
//! Parallelism without changing what any scriptlet can observe: a run of consecutive packages
//! for which no scriptlet fires at install time is unpacked at once on all cores; a package with
//! events is unpacked alone, between its `%pre` and `%post`. Packages shipping /etc/passwd or
//! /etc/group close a run, because later packages resolve owners against them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use tracing::debug;

use super::installed;
use super::relocate::{self, HeaderRelocation};
use super::rootfs::Root;
use super::rpmdb::{self, InstallInfo, RpmDb};
use super::scriptlet::{ScriptRunner, ScriptSpec};
use super::unpack::{self, Owners, UnpackOptions};
use super::InstallError;
use crate::error::IoError;
use crate::progress::InstallReporter;
use crate::rpmfile::header::{FileTriggerKind, RpmFile, ScriptKind, Scriptlet, TriggerKind};
use crate::rpmfile::tags::{RPMFILE_CONFIG, RPMFILE_GHOST};
use crate::rpmfile::Evr;

/// rpm runs file triggers with a priority at or above this before `%post`, the rest after.
const TRIGGER_PRIORITY_BOUND: u32 = 10000;

/// `%_install_langs` / `%packages --instLangs` as rpm reads it: colon-separated language
/// names, empty entries dropped.
pub fn split_inst_langs(list: &str) -> Vec<String> {
    list.split(':')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Options of an install.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// `%packages --excludedocs`.
    pub exclude_docs: bool,
    /// `%packages --instLangs`: the languages to keep (`None`: all).
    pub inst_langs: Option<Vec<String>>,
    /// Run no scriptlets or triggers at all (`rpm --noscripts --notriggers`).
    pub no_scripts: bool,
    /// A failing `%post`, `%posttrans` or trigger fails the install (rpm only warns).
    pub strict_scriptlets: bool,
    /// The rpmdb directory inside the root; `None`: the target's own `%_dbpath`.
    pub dbpath: Option<String>,
    /// INSTALLTIME/INSTALLTID (`SOURCE_DATE_EPOCH` for reproducible builds); `None`: now.
    pub install_time: Option<u32>,
    /// Target arch, for the macros Lua scriptlets may expand.
    pub arch: String,
    /// Skip the header and payload digest checks (rpm's `--nodigest`; the caller warns).
    pub no_digest: bool,
    /// Package files whose digests are known good (the cache's verified records); `None`:
    /// every package is hashed.
    pub digest_records: Option<std::sync::Arc<dyn crate::rpmfile::digest::DigestRecords>>,
    /// `--prefix`/`--relocate`, applied to every package (rpm's semantics).
    pub relocations: Vec<relocate::Relocation>,
}

/// One scriptlet that ran.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScriptRecord {
    /// rpm's name for it (`%post(bash-5.2-1.x86_64)`).
    pub name: String,
    /// Exit status.
    pub status: i32,
    /// Wall time in milliseconds.
    pub ms: u128,
}

/// What an install did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct InstallReport {
    /// Installed NEVRAs, in transaction order.
    pub packages: Vec<String>,
    /// Where the rpmdb is, inside the root.
    pub dbpath: String,
    /// Every scriptlet and trigger run, in order.
    pub scriptlets: Vec<ScriptRecord>,
    /// Warnings (failed `%post`, unknown owners, ...).
    pub warnings: Vec<String>,
    /// Phase timings (name, duration).
    #[serde(skip)]
    pub timings: Vec<(String, Duration)>,
    /// Packages unpacked in parallel runs vs alone.
    pub parallel_unpacked: usize,
}

/// Per-package facts the transaction needs besides the header.
struct Pkg {
    rpm: RpmFile,
    nevra: String,
    /// rpm's NEVRA for script names: `name-version-release.arch` (no epoch).
    sname: String,
    /// Installed (non-ghost, state normal) paths, filled after unpack.
    files: Vec<String>,
    installed_size: u64,
    /// The files it leaves to other packages of the transaction (see
    /// [`unpack::shared_files`]).
    shared: unpack::Sharing,
    /// What `--prefix`/`--relocate` changed (`None`: not asked for).
    relocation: Option<HeaderRelocation>,
    /// Its scriptlets' `RPM_INSTALL_PREFIX*` (see [`install_prefixes`]).
    install_prefixes: Vec<String>,
}

/// An unpack failure of package `nevra` as the install reports it (an interrupt stays one).
fn unpack_error(nevra: &str) -> impl FnOnce(unpack::UnpackError) -> InstallError + '_ {
    move |e| match e {
        unpack::UnpackError::Interrupted => InstallError::Interrupted,
        source => InstallError::Unpack {
            nevra: nevra.to_string(),
            source,
        },
    }
}

/// Where a package's prefixes are installed, for its scriptlets' `RPM_INSTALL_PREFIX*`: the
/// relocated prefixes, else those its stored header records (`INSTPREFIXES`), else its
/// `PREFIXES`.
fn install_prefixes(rpm: &RpmFile, relocation: Option<&HeaderRelocation>) -> Vec<String> {
    if let Some(r) = relocation {
        return r.inst_prefixes.clone();
    }
    let inst = crate::rpmfile::header::Header::parse(&rpm.hdr_blob)
        .ok()
        .and_then(|h| h.strings(rpm::IndexTag::RPMTAG_INSTPREFIXES).ok().flatten());
    inst.unwrap_or_else(|| relocate::prefixes(rpm))
}

fn script_name(kind: &str, sname: &str) -> String {
    format!("%{kind}({sname})")
}

fn script_of(rpm: &RpmFile, kind: ScriptKind) -> Option<&Scriptlet> {
    rpm.info.script(kind)
}

/// Install `paths` (in transaction order) into `root`.
pub fn install(
    paths: &[PathBuf],
    root: &Path,
    opts: &InstallOptions,
    runner: &ScriptRunner,
    reporter: &dyn InstallReporter,
) -> Result<InstallReport, InstallError> {
    let mut report = InstallReport::default();
    // Every package's digests before any payload is used, as rpm does.
    if !opts.no_digest {
        let t0 = Instant::now();
        crate::rpmfile::digest::verify_all(paths, opts.digest_records.as_deref())?;
        report.timings.push(("digests".into(), t0.elapsed()));
    }
    raise_open_file_limit();
    let t0 = Instant::now();
    let rpms: Vec<RpmFile> = paths
        .par_iter()
        .map(|p| {
            RpmFile::open(p).map_err(|source| InstallError::Read {
                path: p.display().to_string(),
                source,
            })
        })
        .collect::<Result<_, _>>()?;
    let mut pkgs: Vec<Pkg> = rpms
        .into_iter()
        .map(|mut rpm| {
            let relocation = relocate::relocate(&mut rpm, &opts.relocations)?;
            let i = &rpm.info;
            let evr = match i.epoch {
                Some(e) if e > 0 => format!("{e}:{}-{}", i.version, i.release),
                _ => format!("{}-{}", i.version, i.release),
            };
            Ok(Pkg {
                nevra: format!("{}-{evr}.{}", i.name, i.arch),
                sname: format!("{}-{}-{}.{}", i.name, i.version, i.release, i.arch),
                installed_size: i.files.iter().map(|f| f.size).sum(),
                files: Vec::new(),
                shared: Default::default(),
                install_prefixes: install_prefixes(&rpm, relocation.as_ref()),
                rpm,
                relocation,
            })
        })
        .collect::<Result<_, InstallError>>()?;
    // Until the target's macros are on disk its %_dbpath is unknown: start at the default or
    // the caller's choice, move afterwards if the target says otherwise. A root that has an
    // rpmdb there gets this transaction appended, as `rpm -i --root` does.
    let initial_dbpath = opts
        .dbpath
        .clone()
        .unwrap_or_else(|| rpmdb::target_dbpath(root));
    let installed = installed::load(root, &initial_dbpath, opts.dbpath.is_some())?;
    report.timings.push(("read headers".into(), t0.elapsed()));

    let t0 = Instant::now();
    let keep = {
        let refs: Vec<&RpmFile> = pkgs.iter().map(|p| &p.rpm).collect();
        unpack::check_conflicts(&refs).map_err(InstallError::Conflict)?;
        installed::check(&installed, &refs)?;
        installed::kept_configs(root, &installed, &refs)
    };
    for f in pkgs.iter_mut().flat_map(|p| p.rpm.info.files.iter_mut()) {
        f.keep_on_disk = keep.contains(&f.path) && f.flags & RPMFILE_CONFIG != 0;
    }
    report.timings.push(("file conflicts".into(), t0.elapsed()));
    // Installed packages go first in the list: triggers and `$1` counts see them as the
    // packages before the new ones; nothing is unpacked or recorded for them.
    let first_new = installed.len();
    pkgs.splice(
        0..0,
        installed.into_iter().map(|i| {
            let info = &i.rpm.info;
            Pkg {
                nevra: info.nevra(),
                sname: format!(
                    "{}-{}-{}.{}",
                    info.name, info.version, info.release, info.arch
                ),
                installed_size: 0,
                files: i.present_files().map(|f| f.path.clone()).collect(),
                shared: Default::default(),
                install_prefixes: install_prefixes(&i.rpm, None),
                rpm: i.rpm,
                relocation: None,
            }
        }),
    );

    std::fs::create_dir_all(root).map_err(IoError::at("create the root", root))?;
    let rootfs = Root::open(root).map_err(IoError::at("open the root", root))?;
    let owners = Owners::new(&rootfs).map_err(IoError::at("read the users and groups of", root))?;
    let uopts = UnpackOptions {
        exclude_docs: opts.exclude_docs,
        inst_langs: opts.inst_langs.clone(),
        // The payload digest vouches for every file; without it, each file is checked.
        verify_file_digests: opts.no_digest,
    };
    {
        // Among this transaction's packages only: an installed package's files are not
        // written again, so nothing is left to them (append decisions are `keep_on_disk`).
        let refs: Vec<&RpmFile> = pkgs[first_new..].iter().map(|p| &p.rpm).collect();
        // rpm's %_prefer_color: ELF64 on the arches whose transaction colour is 3.
        let prefer = if opts.arch.contains("64") || opts.arch == "s390x" {
            2
        } else {
            0
        };
        let shared = unpack::shared_files(&refs, &uopts, prefer);
        for (p, s) in pkgs[first_new..].iter_mut().zip(shared) {
            p.shared = s;
        }
    }
    let now = opts.install_time.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(0)
    });
    let mut db = RpmDb::open_append(root, &initial_dbpath)?;

    let total: u64 = pkgs.iter().map(|p| p.installed_size).sum();
    reporter.start(pkgs.len() - first_new, total);
    let mut tx = Tx {
        root,
        opts,
        runner,
        reporter,
        report: &mut report,
        script_time: Duration::ZERO,
        db_time: Duration::ZERO,
        serial: (0, Duration::ZERO),
        runs: (0, Duration::ZERO),
        first_new,
    };
    let result = tx.run(&mut pkgs, &rootfs, &owners, &uopts, &mut db, now);
    reporter.finish();
    debug!(
        serial_packages = tx.serial.0,
        serial_unpack_ms = tx.serial.1.as_millis() as u64,
        parallel_runs = tx.runs.0,
        parallel_unpack_ms = tx.runs.1.as_millis() as u64,
        "unpack phases"
    );
    // Owners, device nodes and xattrs a user namespace refused (none as root) go beside the
    // root for the writers, also after a failed install (its root may still be kept).
    let recorded = crate::attrs::flush_refused(root);
    result?;
    let recorded = recorded?;
    if recorded > 0 {
        debug!(
            recorded,
            "attributes the user namespace refused kept in the root's sidecar"
        );
    }
    let (st, ut, dt) = (tx.script_time, tx.serial.1 + tx.runs.1, tx.db_time);
    let t0 = Instant::now();
    db.finish()?;
    let final_dbpath = match &opts.dbpath {
        Some(d) => d.clone(),
        None => rpmdb::target_dbpath(root),
    };
    if final_dbpath != initial_dbpath {
        move_db(root, &initial_dbpath, &final_dbpath)?;
    }
    report.dbpath = final_dbpath;
    report.timings.push(("unpack".into(), ut));
    report.timings.push(("scriptlets".into(), st));
    report.timings.push(("rpmdb".into(), dt + t0.elapsed()));
    report.packages = pkgs[first_new..].iter().map(|p| p.nevra.clone()).collect();
    Ok(report)
}

/// Each parallel unpack keeps a few directories open; with many cores the usual soft limit
/// of 1024 open files is too low. The hard limit is the caller's to give.
fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut l = getrlimit(Resource::Nofile);
    if l.current < l.maximum {
        l.current = l.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, l) {
            debug!("open-file limit not raised: {e}");
        }
    }
}

fn move_db(root: &Path, from: &str, to: &str) -> Result<(), InstallError> {
    // Resolved beneath the root: the target's macros may point anywhere.
    Ok(rpmdb::move_db(root, from, to)?)
}

struct Tx<'a> {
    root: &'a Path,
    opts: &'a InstallOptions,
    runner: &'a ScriptRunner,
    reporter: &'a dyn InstallReporter,
    report: &'a mut InstallReport,
    script_time: Duration,
    db_time: Duration,
    /// Packages unpacked one at a time (they set off scriptlets or triggers), and their time;
    /// with `runs` the unpack stage's time.
    serial: (usize, Duration),
    /// Runs of packages unpacked side by side, and their time.
    runs: (usize, Duration),
    /// Packages before this index were installed before this transaction.
    first_new: usize,
}

impl Tx<'_> {
    fn interrupted(&self) -> Result<(), InstallError> {
        if crate::cancel::interrupted() {
            return Err(InstallError::Interrupted);
        }
        Ok(())
    }

    fn run(
        &mut self,
        pkgs: &mut [Pkg],
        rootfs: &Root,
        owners: &Owners,
        uopts: &UnpackOptions,
        db: &mut RpmDb,
        now: u32,
    ) -> Result<(), InstallError> {
        let scripts = !self.opts.no_scripts;
        let first_new = self.first_new;
        if scripts {
            for p in pkgs[first_new..].iter() {
                if let Some(s) = script_of(&p.rpm, ScriptKind::PreTrans) {
                    let name = script_name("pretrans", &p.sname);
                    let arg1 = instances(&pkgs[..first_new], &p.rpm.info.name) + 1;
                    self.run_critical(s, &name, Some(arg1), None, None, &p.install_prefixes)?;
                }
            }
        }
        // Which packages fire something at install time, given the packages before them.
        let events = if scripts {
            install_events(pkgs)
        } else {
            vec![false; pkgs.len()]
        };
        let mut i = first_new;
        while i < pkgs.len() {
            self.interrupted()?;
            if events[i] {
                // The packages before it are in the database its %pre and triggers may query.
                self.publish(db)?;
                self.install_one(pkgs, i, rootfs, owners, uopts, db, now)?;
                i += 1;
                continue;
            }
            // A run of event-free packages, closed after one that ships passwd/group, and
            // before one with paths beneath a symlink of the run or one rewriting a shared file.
            let mut j = i;
            let mut links = unpack::RunLinks::default();
            while j < pkgs.len() && !events[j] {
                if links.reaches(&pkgs[j].rpm) || (j > i && pkgs[j].shared.rewrites) {
                    break;
                }
                links.add(&pkgs[j].rpm);
                j += 1;
                if ships_ids(&pkgs[j - 1].rpm) {
                    break;
                }
            }
            self.unpack_run(pkgs, i..j, rootfs, owners, uopts, db, now)?;
            i = j;
        }
        if scripts {
            self.publish(db)?;
            for p in pkgs[first_new..].iter() {
                self.interrupted()?;
                if let Some(s) = script_of(&p.rpm, ScriptKind::PostTrans) {
                    let name = script_name("posttrans", &p.sname);
                    let arg1 = instances(pkgs, &p.rpm.info.name);
                    self.run_noncritical(s, &name, Some(arg1), None, None, &p.install_prefixes)?;
                }
            }
            self.trans_file_triggers(pkgs, first_new)?;
        }
        Ok(())
    }

    fn unpack_run(
        &mut self,
        pkgs: &mut [Pkg],
        range: std::ops::Range<usize>,
        rootfs: &Root,
        owners: &Owners,
        uopts: &UnpackOptions,
        db: &mut RpmDb,
        now: u32,
    ) -> Result<(), InstallError> {
        let t0 = Instant::now();
        let reporter = self.reporter;
        owners.freeze();
        let results: Result<Vec<_>, _> = pkgs[range.clone()]
            .par_iter()
            .map(|p| {
                if crate::cancel::interrupted() {
                    return Err(InstallError::Interrupted);
                }
                let r = unpack::unpack_sharing(&p.rpm, rootfs, owners, uopts, &p.shared)
                    .map_err(unpack_error(&p.nevra))?;
                reporter.installed(&p.nevra, p.installed_size);
                Ok(r)
            })
            .collect();
        owners.thaw();
        let results = results?;
        self.runs.0 += 1;
        self.runs.1 += t0.elapsed();
        if range.len() > 1 {
            self.report.parallel_unpacked += range.len();
        }
        for (k, r) in range.clone().zip(results) {
            self.report.warnings.extend(r.warnings.iter().cloned());
            self.record(&mut pkgs[k], &r.file_states, db, now)?;
        }
        // Packages unpacked side by side set shared directories' mtimes in a racy order;
        // reproducible builds replay them in transaction order, as a serial install would.
        // A directory left to an earlier package (rpm's FA_SKIP) is not replayed. Without a
        // reproducible time, only directories that several packages of the run set.
        if range.len() > 1 {
            for p in &pkgs[range] {
                let installed: std::collections::HashSet<&str> =
                    p.files.iter().map(String::as_str).collect();
                for (i, f) in p.rpm.info.files.iter().enumerate() {
                    let i = i as u32;
                    let replay = if self.opts.install_time.is_some() {
                        p.shared.skip.binary_search(&i).is_err()
                    } else {
                        p.shared.dir_rewrites.binary_search(&i).is_ok()
                    };
                    if replay
                        && f.mode & 0o170000 == 0o040000
                        && installed.contains(f.path.as_str())
                    {
                        let _ = rootfs.utimes(&f.path, f.mtime);
                    }
                }
            }
        }
        Ok(())
    }

    fn install_one(
        &mut self,
        pkgs: &mut [Pkg],
        i: usize,
        rootfs: &Root,
        owners: &Owners,
        uopts: &UnpackOptions,
        db: &mut RpmDb,
        now: u32,
    ) -> Result<(), InstallError> {
        // %triggerprein: others' set off by this package, then its own set off by installed ones.
        self.package_triggers(pkgs, i, TriggerKind::PreIn, false)?;
        let arg1 = instances(&pkgs[..=i], &pkgs[i].rpm.info.name);
        if let Some(s) = script_of(&pkgs[i].rpm, ScriptKind::Pre) {
            let (name, prefixes) = (
                script_name("pre", &pkgs[i].sname),
                pkgs[i].install_prefixes.clone(),
            );
            self.run_critical(s, &name, Some(arg1), None, None, &prefixes)?;
        }
        let t0 = Instant::now();
        let p = &pkgs[i];
        let r = unpack::unpack_sharing(&p.rpm, rootfs, owners, uopts, &p.shared)
            .map_err(unpack_error(&p.nevra))?;
        self.serial.0 += 1;
        self.serial.1 += t0.elapsed();
        self.reporter
            .installed(&pkgs[i].nevra, pkgs[i].installed_size);
        self.report.warnings.extend(r.warnings.iter().cloned());
        self.record(&mut pkgs[i], &r.file_states, db, now)?;
        // rpm has committed the header before %post: `rpm -q` there finds the package.
        self.publish(db)?;
        self.file_triggers(pkgs, i, true)?;
        if let Some(s) = script_of(&pkgs[i].rpm, ScriptKind::Post) {
            let (name, prefixes) = (
                script_name("post", &pkgs[i].sname),
                pkgs[i].install_prefixes.clone(),
            );
            self.run_noncritical(s, &name, Some(arg1), None, None, &prefixes)?;
        }
        self.package_triggers(pkgs, i, TriggerKind::In, true)?;
        self.file_triggers(pkgs, i, false)?;
        Ok(())
    }

    fn publish(&mut self, db: &mut RpmDb) -> Result<(), InstallError> {
        let t0 = Instant::now();
        db.publish()?;
        self.db_time += t0.elapsed();
        Ok(())
    }

    /// The rpmdb entry and the list of paths now on disk.
    fn record(
        &mut self,
        p: &mut Pkg,
        states: &[u8],
        db: &mut RpmDb,
        now: u32,
    ) -> Result<(), InstallError> {
        let t0 = Instant::now();
        p.files = p
            .rpm
            .info
            .files
            .iter()
            .zip(states.iter().copied().chain(std::iter::repeat(0)))
            .filter(|(f, st)| *st == 0 && f.flags & RPMFILE_GHOST == 0)
            .map(|(f, _)| f.path.clone())
            .collect();
        let info = InstallInfo {
            install_time: now,
            install_tid: now,
            // rpm's %_transaction_color: 3 on the 64-bit arches, 0 elsewhere.
            install_color: if self.opts.arch.contains("64") || self.opts.arch == "s390x" {
                3
            } else {
                0
            },
            file_states: states.to_vec(),
            relocation: p.relocation.clone(),
        };
        db.add(&p.rpm.sig_blob, &p.rpm.hdr_blob, &info)?;
        self.db_time += t0.elapsed();
        Ok(())
    }

    /// `%trigger*` of kind `kind` at package `i`: first the installed packages' triggers set
    /// off by it, then its own triggers set off by installed packages.
    fn package_triggers(
        &mut self,
        pkgs: &[Pkg],
        i: usize,
        kind: TriggerKind,
        installed_self: bool,
    ) -> Result<(), InstallError> {
        let label = match kind {
            TriggerKind::PreIn => "triggerprein",
            TriggerKind::In => "triggerin",
            TriggerKind::Un => "triggerun",
            TriggerKind::PostUn => "triggerpostun",
        };
        // Installed: the packages before i, plus i itself once its files are in.
        let upto = if installed_self { i + 1 } else { i };
        let src = &pkgs[i];
        // $1: instances of the trigger's package, $2: of the package setting it off.
        let count = |name: &str| Some(instances(&pkgs[..upto], name));
        for t in pkgs[..upto].iter() {
            for trig in t.rpm.info.triggers.iter().filter(|t| t.kind == kind) {
                if trig.conditions.iter().any(|c| dep_matches(c, src)) {
                    let name = script_name(label, &t.sname);
                    let (a1, a2) = (count(&t.rpm.info.name), count(&src.rpm.info.name));
                    let prefixes = t.install_prefixes.clone();
                    self.run_noncritical(&trig.script, &name, a1, a2, None, &prefixes)?;
                }
            }
        }
        for trig in src.rpm.info.triggers.iter().filter(|t| t.kind == kind) {
            for s in pkgs[..i].iter() {
                if trig.conditions.iter().any(|c| dep_matches(c, s)) {
                    let name = script_name(label, &src.sname);
                    let (a1, a2) = (count(&src.rpm.info.name), count(&s.rpm.info.name));
                    let prefixes = src.install_prefixes.clone();
                    self.run_noncritical(&trig.script, &name, a1, a2, None, &prefixes)?;
                    break;
                }
            }
        }
        Ok(())
    }

    /// `%filetriggerin` of one priority class around package `i`'s `%post` (`upper`: the
    /// priorities from 10000 up, before it), as rpm 4.18's psm does it: first every installed
    /// package's triggers (package `i`'s own included) that `i`'s files set off, by priority
    /// then install order, each fed the files of `i` under its prefixes; then `i`'s own
    /// triggers, by priority, each fed the files of the packages installed before `i`.
    fn file_triggers(&mut self, pkgs: &[Pkg], i: usize, upper: bool) -> Result<(), InstallError> {
        let in_class = |prio: i32| (prio as u32 >= TRIGGER_PRIORITY_BOUND) == upper;
        let mut set_off: Vec<Fired> = Vec::new();
        for (ti, t) in pkgs[..=i].iter().enumerate() {
            for (k, ft) in t.rpm.info.file_triggers.iter().enumerate() {
                if ft.kind == FileTriggerKind::In && in_class(ft.priority) {
                    let input = package_matches(&ft.prefixes, &pkgs[i]);
                    if !input.is_empty() {
                        set_off.push((ft.priority as u32, ti, k, input));
                    }
                }
            }
        }
        let mut own: Vec<Fired> = Vec::new();
        for (k, ft) in pkgs[i].rpm.info.file_triggers.iter().enumerate() {
            if ft.kind == FileTriggerKind::In && in_class(ft.priority) {
                let input = db_matches(&ft.prefixes, &pkgs[..i]);
                if !input.is_empty() {
                    own.push((ft.priority as u32, i, k, input));
                }
            }
        }
        self.run_file_triggers(pkgs, "filetriggerin", set_off)?;
        self.run_file_triggers(pkgs, "filetriggerin", own)
    }

    /// Runs file triggers by priority, then install order, then order in the header.
    fn run_file_triggers(
        &mut self,
        pkgs: &[Pkg],
        label: &str,
        mut fired: Vec<Fired>,
    ) -> Result<(), InstallError> {
        fired.sort_by_key(|(prio, ti, k, _)| (std::cmp::Reverse(*prio), *ti, *k));
        for (_, ti, k, input) in fired {
            self.interrupted()?;
            let t = &pkgs[ti];
            let ft = &t.rpm.info.file_triggers[k];
            let name = script_name(label, &t.sname);
            let prefixes = t.install_prefixes.clone();
            self.run_noncritical(
                &ft.script,
                &name,
                Some(0),
                None,
                Some(lines(input)),
                &prefixes,
            )?;
        }
        Ok(())
    }

    /// `%transfiletriggerin`, after every `%posttrans`, as rpm 4.18 runs them (`pkgs` before
    /// `first_new` were installed before this transaction): first the triggers of those older
    /// packages that this transaction's files set off, by priority then install order, each fed
    /// this transaction's files under its prefixes; then, package by package in transaction
    /// order, each new package's triggers by priority, each once, fed every installed file under
    /// its prefixes (its own package's and later packages' included).
    fn trans_file_triggers(&mut self, pkgs: &[Pkg], first_new: usize) -> Result<(), InstallError> {
        let first_new = first_new.min(pkgs.len());
        let mut older: Vec<Fired> = Vec::new();
        for (ti, t) in pkgs[..first_new].iter().enumerate() {
            for (k, ft) in t.rpm.info.file_triggers.iter().enumerate() {
                if ft.kind == FileTriggerKind::TransIn {
                    let input = db_matches(&ft.prefixes, &pkgs[first_new..]);
                    if !input.is_empty() {
                        older.push((ft.priority as u32, ti, k, input));
                    }
                }
            }
        }
        self.run_file_triggers(pkgs, "transfiletriggerin", older)?;
        for ti in first_new..pkgs.len() {
            let mut own: Vec<Fired> = Vec::new();
            for (k, ft) in pkgs[ti].rpm.info.file_triggers.iter().enumerate() {
                if ft.kind == FileTriggerKind::TransIn {
                    let input = db_matches(&ft.prefixes, pkgs);
                    if !input.is_empty() {
                        own.push((ft.priority as u32, ti, k, input));
                    }
                }
            }
            self.run_file_triggers(pkgs, "transfiletriggerin", own)?;
        }
        Ok(())
    }

    fn spec(
        &self,
        s: &Scriptlet,
        name: &str,
        arg1: Option<i32>,
        arg2: Option<i32>,
        input: Option<String>,
        prefixes: &[String],
    ) -> ScriptSpec {
        ScriptSpec {
            name: name.to_string(),
            root: self.root.to_path_buf(),
            prog: s.prog.clone(),
            body: s.body.clone(),
            arg1,
            arg2,
            input,
            macros: macros(&self.opts.arch),
            install_prefixes: prefixes.to_vec(),
            // Package scriptlets never have network, whatever `%post` gets.
            host_network: false,
        }
    }

    fn run_script(
        &mut self,
        s: &Scriptlet,
        name: &str,
        arg1: Option<i32>,
        arg2: Option<i32>,
        input: Option<String>,
        prefixes: &[String],
    ) -> Result<super::scriptlet::ScriptOutcome, InstallError> {
        self.interrupted()?;
        self.reporter.scriptlet(name);
        let spec = self.spec(s, name, arg1, arg2, input, prefixes);
        let t0 = Instant::now();
        let reporter = self.reporter;
        let out = match self
            .runner
            .run_with_output(&spec, &mut |line| reporter.scriptlet_output(name, line))
        {
            Err(super::scriptlet::ScriptError::Interrupted { .. }) => {
                return Err(InstallError::Interrupted)
            }
            r => r?,
        };
        let dt = t0.elapsed();
        self.script_time += dt;
        self.report.scriptlets.push(ScriptRecord {
            name: name.to_string(),
            status: out.status,
            ms: dt.as_millis(),
        });
        Ok(out)
    }

    /// `%pretrans`/`%pre`: a failure fails the install, naming the package.
    fn run_critical(
        &mut self,
        s: &Scriptlet,
        name: &str,
        arg1: Option<i32>,
        arg2: Option<i32>,
        input: Option<String>,
        prefixes: &[String],
    ) -> Result<(), InstallError> {
        let out = self.run_script(s, name, arg1, arg2, input, prefixes)?;
        if !out.success() {
            return Err(InstallError::Scriptlet {
                name: name.to_string(),
                status: out.status,
                output: tail(&out.output),
            });
        }
        Ok(())
    }

    /// `%post` and the rest: rpm warns; `--strict-scriptlets` fails.
    fn run_noncritical(
        &mut self,
        s: &Scriptlet,
        name: &str,
        arg1: Option<i32>,
        arg2: Option<i32>,
        input: Option<String>,
        prefixes: &[String],
    ) -> Result<(), InstallError> {
        let out = self.run_script(s, name, arg1, arg2, input, prefixes)?;
        if !out.success() {
            if self.opts.strict_scriptlets {
                return Err(InstallError::Scriptlet {
                    name: name.to_string(),
                    status: out.status,
                    output: tail(&out.output),
                });
            }
            let w = format!("{name} scriptlet failed, exit status {}", out.status);
            tracing::warn!("{w}");
            self.report.warnings.push(w);
        }
        Ok(())
    }
}

/// How many packages named `name` are in `pkgs` (rpm's `$1`/`$2`: instances installed).
fn instances(pkgs: &[Pkg], name: &str) -> i32 {
    pkgs.iter().filter(|p| p.rpm.info.name == name).count() as i32
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// Whether a package ships the files owners are resolved against.
fn ships_ids(rpm: &RpmFile) -> bool {
    rpm.info
        .files
        .iter()
        .any(|f| f.path == "/etc/passwd" || f.path == "/etc/group")
}

/// A file trigger that fires: its priority (compared unsigned, as rpm does), the index of its
/// package, its index among the package's file triggers, and its input paths.
type Fired = (u32, usize, usize, Vec<String>);

/// The files of `p` a file trigger on `prefixes` sees (rpm's `rpmfilesFindPrefix` per prefix,
/// in the trigger's prefix order): every path in the header, ghosts and directories included,
/// that starts with the prefix as a plain string (`/opt/kf` matches `/opt/kf` itself and
/// `/opt/kfx`; `/opt/kf/` matches neither).
fn package_matches(prefixes: &[String], p: &Pkg) -> Vec<String> {
    let mut out = Vec::new();
    for pre in prefixes {
        out.extend(
            p.rpm
                .info
                .files
                .iter()
                .filter(|f| f.path.starts_with(pre.as_str()))
                .map(|f| f.path.clone()),
        );
    }
    out
}

/// The installed files a package's own file trigger sees (rpm walks its database): per
/// prefix, the packages with a directory name (the path up to its last `/`) under it, in
/// install order, each with its paths under the prefix.
fn db_matches(prefixes: &[String], installed: &[Pkg]) -> Vec<String> {
    let mut out = Vec::new();
    for pre in prefixes {
        for p in installed {
            let listed = p.rpm.info.files.iter().any(|f| {
                let dir = f.path.rfind('/').map_or("", |k| &f.path[..=k]);
                dir.starts_with(pre.as_str())
            });
            if listed {
                out.extend(package_matches(std::slice::from_ref(pre), p));
            }
        }
    }
    out
}

/// The input of a file trigger: its paths, one a line.
fn lines(paths: Vec<String>) -> String {
    let mut s = String::new();
    for p in paths {
        s.push_str(&p);
        s.push('\n');
    }
    s
}

/// For each package: does any scriptlet or trigger fire when it is installed (given the
/// packages before it)? Uses header file lists, so it is known before anything is unpacked.
fn install_events(pkgs: &[Pkg]) -> Vec<bool> {
    let mut out = Vec::with_capacity(pkgs.len());
    // File triggers (non-trans, install) of packages seen so far.
    let mut ftrig: Vec<&str> = Vec::new();
    let mut trig_names: HashMap<&str, ()> = HashMap::new();
    let mut names_so_far: Vec<&Pkg> = Vec::new();
    for p in pkgs {
        let info = &p.rpm.info;
        let own_scripts = info
            .scripts
            .iter()
            .any(|s| matches!(s.kind, Some(ScriptKind::Pre | ScriptKind::Post)));
        let own_ftrig = info
            .file_triggers
            .iter()
            .any(|t| t.kind == FileTriggerKind::In);
        for t in info
            .file_triggers
            .iter()
            .filter(|t| t.kind == FileTriggerKind::In)
        {
            ftrig.extend(t.prefixes.iter().map(String::as_str));
        }
        for t in &info.triggers {
            for c in &t.conditions {
                trig_names.insert(c.name.as_str(), ());
            }
        }
        let set_off_ftrig = info
            .files
            .iter()
            .any(|f| ftrig.iter().any(|pre| f.path.starts_with(pre)));
        let set_off_trig = trig_names.contains_key(info.name.as_str())
            || info
                .provides
                .iter()
                .any(|d| trig_names.contains_key(d.name.as_str()));
        let own_trig_fires = info.triggers.iter().any(|t| {
            t.conditions
                .iter()
                .any(|c| names_so_far.iter().any(|s| dep_matches(c, s)))
        });
        out.push(own_scripts || own_ftrig || set_off_ftrig || set_off_trig || own_trig_fires);
        names_so_far.push(p);
    }
    out
}

/// Whether a trigger condition matches a package (by name or provides, with version range).
fn dep_matches(c: &crate::rpmfile::header::Dep, p: &Pkg) -> bool {
    let info = &p.rpm.info;
    let evr = match info.epoch {
        Some(e) => format!("{e}:{}-{}", info.version, info.release),
        None => format!("{}-{}", info.version, info.release),
    };
    if c.name == info.name && range_matches(c.flags, &c.version, &evr) {
        return true;
    }
    info.provides.iter().any(|d| {
        d.name == c.name
            && (c.version.is_empty()
                || d.version.is_empty()
                || range_matches(c.flags, &c.version, &d.version))
    })
}

/// `RPMSENSE_LESS|GREATER|EQUAL` against an EVR.
fn range_matches(flags: u32, want: &str, have: &str) -> bool {
    const LESS: u32 = 1 << 1;
    const GREATER: u32 = 1 << 2;
    const EQUAL: u32 = 1 << 3;
    if want.is_empty() || flags & (LESS | GREATER | EQUAL) == 0 {
        return true;
    }
    let parse = |text: &str| Evr::parse(text).unwrap_or_default();
    let ord = parse(have).range_cmp(&parse(want));
    (flags & LESS != 0 && ord.is_lt())
        || (flags & GREATER != 0 && ord.is_gt())
        || (flags & EQUAL != 0 && ord.is_eq())
}

/// The macros a Lua scriptlet may expand: the usual directories for the target arch.
fn macros(arch: &str) -> Vec<(String, String)> {
    let lib = match arch {
        "x86_64" | "aarch64" | "ppc64le" | "s390x" | "riscv64" => "lib64",
        _ => "lib",
    };
    // Only configuration macros: at install time rpm defines no name/version/release.
    [
        ("_arch", arch.to_string()),
        ("_prefix", "/usr".into()),
        ("_exec_prefix", "/usr".into()),
        ("_bindir", "/usr/bin".into()),
        ("_sbindir", "/usr/sbin".into()),
        ("_libexecdir", "/usr/libexec".into()),
        ("_datadir", "/usr/share".into()),
        ("_sysconfdir", "/etc".into()),
        ("_localstatedir", "/var".into()),
        ("_sharedstatedir", "/var/lib".into()),
        ("_rundir", "/run".into()),
        ("_libdir", format!("/usr/{lib}")),
        ("_lib", lib.to_string()),
        ("_includedir", "/usr/include".into()),
        ("_mandir", "/usr/share/man".into()),
        ("_infodir", "/usr/share/info".into()),
        ("_docdir", "/usr/share/doc".into()),
        ("_unitdir", "/usr/lib/systemd/system".into()),
        ("_tmppath", "/var/tmp".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
