//! `kiln build --make-iso`: the whole pipeline, with a stage timing table at the end.
//!
//! [`run`] is the sequence: settings ([`super::settings::build`]) → creator → progress
//! reporters → the build → the summary (timings, warnings, artifacts) and the result event.

use std::time::Instant;

use kiln::creator::{BuildError, BuildReport, Creator, Reporters, Stage};
use kiln::install::scriptlet::ScriptRunner;
use kiln::progress::{DownloadReporter, InstallReporter};

use super::args::BuildArgs;
use super::events::{Events, JsonProgress};
use super::report::{DownloadBar, InstallBar};
use super::resolve::cause_chain;
use super::{settings, EXIT_ENV, EXIT_INTERRUPTED, EXIT_OK};

/// `kiln build`.
pub fn run(a: &BuildArgs, color: bool) -> anyhow::Result<i32> {
    let started = Instant::now();
    let build = match settings::build(a, color) {
        Ok(b) => b,
        Err(code) => return Ok(code),
    };
    let runner = match script_runner(a.script_timeout) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    if a.nodigest {
        super::install::warn_nodigest();
    }
    let events = match open_events(a.json_progress.as_deref()) {
        Ok(e) => e,
        Err(code) => return Ok(code),
    };
    let progress = Progress::new(events.as_ref());
    let stage = |st: Stage, done: bool, secs: f64| progress.stage(st, done, secs);
    let mut creator = match Creator::new(build.settings, runner, progress.reporters(&stage)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {}", cause_chain(&e));
            return Ok(e.exit_code());
        }
    };
    let result = creator.create(build.shell_before);
    let report = creator.report().clone();
    if kiln::cancel::interrupted() && result.is_err() {
        return Ok(interrupted(creator, &report, a.nocleanup, events.as_ref()));
    }
    print_timings(&report, started);
    match result {
        Ok(done) => finish(a, &done, events.as_ref()),
        Err(e) => Ok(failed(&e, events.as_ref())),
    }
}

/// The scriptlet helper (this binary), with `--script-timeout`.
fn script_runner(timeout_secs: u64) -> Result<ScriptRunner, i32> {
    match ScriptRunner::current() {
        Ok(r) => Ok(r.with_timeout(Some(std::time::Duration::from_secs(timeout_secs)))),
        Err(e) => {
            eprintln!("error: cannot find the kiln binary for scriptlets: {e}");
            Err(EXIT_ENV)
        }
    }
}

/// `--json-progress`: stdout (`-`) or a Unix socket.
fn open_events(target: Option<&str>) -> Result<Option<Events>, i32> {
    let Some(target) = target else {
        return Ok(None);
    };
    match Events::open(target) {
        Ok(e) => Ok(Some(e)),
        Err(e) => {
            eprintln!("error: cannot send progress to `{target}`: {e}");
            Err(EXIT_ENV)
        }
    }
}

/// Where progress goes: JSON events with `--json-progress`, else bars on a terminal; stage
/// starts are printed (`kiln: install ...`) either way.
struct Progress<'a> {
    events: Option<&'a Events>,
    bars: (DownloadBar, InstallBar),
    json: Option<(JsonProgress<'a>, JsonProgress<'a>)>,
}

impl<'a> Progress<'a> {
    fn new(events: Option<&'a Events>) -> Self {
        let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
        Progress {
            events,
            bars: (DownloadBar::new(tty), InstallBar::new(tty)),
            json: events.map(|e| {
                (
                    JsonProgress::new(e, "download"),
                    JsonProgress::new(e, "install"),
                )
            }),
        }
    }

    fn reporters<'r>(&'r self, stage: &'r (dyn Fn(Stage, bool, f64) + Sync)) -> Reporters<'r> {
        let (download, install): (&dyn DownloadReporter, &dyn InstallReporter) = match &self.json {
            Some((download, install)) => (download, install),
            None => (&self.bars.0, &self.bars.1),
        };
        Reporters {
            download,
            install,
            stage,
        }
    }

    /// A stage started or ended (after `secs`).
    fn stage(&self, st: Stage, done: bool, secs: f64) {
        if let Some(ev) = self.events {
            let mut v = serde_json::json!({
                "event": "stage",
                "stage": st.name(),
                "state": if done { "end" } else { "start" },
            });
            if done {
                v["seconds"] = secs.into();
            }
            ev.send(v);
        }
        if done {
            // The summary table has the times: this line is for the log.
            tracing::info!(target: "kiln::stage", "stage {} done in {secs:.1} s", st.name());
        } else {
            eprintln!("kiln: {} ...", st.name());
        }
    }
}

/// After an interrupt: say where it stopped, clean up (dropping the creator) and exit 130.
fn interrupted(
    creator: Creator<'_>,
    report: &BuildReport,
    nocleanup: bool,
    events: Option<&Events>,
) -> i32 {
    let stage = report
        .stages
        .last()
        .map(|(n, _)| n.as_str())
        .unwrap_or("prepare");
    // Said before the cleanup: removing a large root can take a while on a busy disk.
    eprintln!(
        "kiln: interrupted during the {stage} stage{}",
        if nocleanup {
            ""
        } else {
            "; removing the work directory and partial results"
        }
    );
    if let Some(ev) = events {
        ev.send(serde_json::json!({
            "event": "result",
            "ok": false,
            "exit_code": EXIT_INTERRUPTED,
            "error": format!("interrupted during the {stage} stage"),
        }));
    }
    // Removes the work directory (or says where it is kept, with --nocleanup).
    drop(creator);
    EXIT_INTERRUPTED
}

/// The stage timing table and the time spent in target code.
fn print_timings(report: &BuildReport, started: Instant) {
    eprintln!("\n{:<12} {:>9}", "stage", "seconds");
    for (n, s) in &report.stages {
        eprintln!("{n:<12} {s:>9.1}");
    }
    eprintln!("{:<12} {:>9.1}", "total", started.elapsed().as_secs_f64());
    // Target programs (scriptlets, %post, dracut, grub-mkimage), apart: for a foreign arch
    // the only part of the build that runs emulated.
    if let Some(how) = &report.emulation {
        eprintln!(
            "under emulation: {:.1} s of target code, through {how}",
            report.target_code_secs
        );
    } else {
        eprintln!("target code: {:.1} s (native)", report.target_code_secs);
    }
}

/// A finished build: its log, warnings, report and artifacts.
fn finish(a: &BuildArgs, done: &BuildReport, events: Option<&Events>) -> anyhow::Result<i32> {
    // The log beside the manifest that names it.
    let log = a.resultdir.join(kiln::manifest::LOG);
    if let Err(e) = std::fs::write(&log, super::console::captured_log()) {
        eprintln!("warning: cannot write `{}`: {e}", log.display());
    }
    for w in &done.warnings {
        eprintln!("warning: {w}");
    }
    if let (Some(ev), Some(used)) = (events, &done.block_cache) {
        let mut v = serde_json::json!({"event": "block_cache"});
        if let (Some(obj), Ok(serde_json::Value::Object(figures))) =
            (v.as_object_mut(), serde_json::to_value(used))
        {
            obj.extend(figures);
        }
        ev.send(v);
    }
    if let Some(ev) = events {
        ev.send(serde_json::json!({
            "event": "result",
            "ok": true,
            "exit_code": EXIT_OK,
            "artifacts": done.artifacts,
        }));
    }
    // On a stdout that carries events the report is one more line.
    if a.resolve.json && a.json_progress.as_deref() == Some("-") {
        println!("{}", serde_json::json!({"event": "report", "report": done}));
    } else if a.resolve.json {
        println!("{}", serde_json::to_string_pretty(done)?);
    }
    for art in &done.artifacts {
        eprintln!(
            "{} {} ({:.1} MiB)",
            art.kind,
            art.path.display(),
            art.size as f64 / (1u64 << 20) as f64
        );
    }
    eprintln!("{} packages installed", done.packages.len());
    if let Some(used) = &done.block_cache {
        eprintln!("root image: {}", used.line());
    }
    Ok(EXIT_OK)
}

/// A failed build: the error and its exit code.
fn failed(e: &BuildError, events: Option<&Events>) -> i32 {
    eprintln!("error: {}", cause_chain(e));
    if let Some(ev) = events {
        ev.send(serde_json::json!({
            "event": "result",
            "ok": false,
            "exit_code": e.exit_code(),
            "error": cause_chain(e),
        }));
    }
    e.exit_code()
}
