//! `%pre` and `%post` as livecd-creator and Anaconda run them: `%pre` on the build host before
//! anything, `%post` in the root (or on the host with `--nochroot`, with `INSTALL_ROOT` and
//! `LIVE_ROOT` set), `--interpreter`, `--log` and `--erroronfail` honoured.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::{tail, ConfigureError};
use crate::fsutil::{self, NewFile};
use crate::install::scriptlet::{ScriptRunner, ScriptSpec};
use crate::kickstart::{Kickstart, Origin, Script, ScriptKind};

/// How one script ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScriptRun {
    /// `%pre` or `%post`.
    pub section: &'static str,
    /// The section's header line.
    pub origin: Origin,
    /// Ran on the host (`%pre`, `%post --nochroot`).
    pub on_host: bool,
    /// Exit status.
    pub status: i32,
    /// Combined stdout and stderr.
    pub output: String,
}

/// Where scripts run and what they see.
#[derive(Debug, Clone, Default)]
pub struct ScriptEnv {
    /// Runs chroot scripts (the kiln helper binary).
    pub runner: Option<ScriptRunner>,
    /// `LIVE_ROOT` for `--nochroot` scripts (the ISO staging directory).
    pub live_root: Option<PathBuf>,
    /// Scratch directory for host script files (the system temp dir when `None`).
    pub tmp_dir: Option<PathBuf>,
}

/// Run every `%pre` on the host, in file order.
pub fn run_pre(ks: &Kickstart, env: &ScriptEnv) -> Result<Vec<ScriptRun>, ConfigureError> {
    let mut runs = Vec::new();
    for s in ks.scripts.iter().filter(|s| s.kind == ScriptKind::Pre) {
        let run = run_on_host(s, &[], env)?;
        finish(s, &run, None)?;
        runs.push(run);
    }
    Ok(runs)
}

/// Run every `%post` against `root`, in file order.
pub fn run_post(
    ks: &Kickstart,
    root: &Path,
    env: &ScriptEnv,
) -> Result<Vec<ScriptRun>, ConfigureError> {
    let mut runs = Vec::new();
    for s in ks.scripts.iter().filter(|s| s.kind == ScriptKind::Post) {
        let run = if s.in_chroot {
            run_in_root(s, root, env)?
        } else {
            let mut vars = vec![("INSTALL_ROOT".to_string(), root.display().to_string())];
            if let Some(l) = &env.live_root {
                vars.push(("LIVE_ROOT".to_string(), l.display().to_string()));
            }
            run_on_host(s, &vars, env)?
        };
        finish(s, &run, Some(root))?;
        runs.push(run);
    }
    Ok(runs)
}

fn section(s: &Script) -> &'static str {
    s.kind.tag()
}

/// `--log`, then the verdict: `--erroronfail` turns a failure into an error.
fn finish(s: &Script, run: &ScriptRun, root: Option<&Path>) -> Result<(), ConfigureError> {
    if let Some(log) = &s.logfile {
        // Chroot scripts name a file inside the root; host scripts a host path.
        let path = match root {
            Some(r) if s.in_chroot && s.kind == ScriptKind::Post => fsutil::in_root(r, log, true),
            _ => PathBuf::from(log),
        };
        fsutil::append(&path, run.output.as_bytes(), NewFile::root(0o644)).map_err(|e| {
            ConfigureError::Write {
                command: section(s),
                origin: s.origin.clone(),
                path: path.clone(),
                source: e,
            }
        })?;
    }
    if run.status != 0 {
        if s.error_on_fail {
            return Err(ConfigureError::ScriptFailed {
                section: section(s),
                origin: s.origin.clone(),
                status: run.status,
                output: tail(&run.output),
            });
        }
        tracing::warn!(
            "{} ({}) failed with exit status {}; going on (no --erroronfail)",
            section(s),
            s.origin,
            run.status
        );
    }
    Ok(())
}

fn run_in_root(s: &Script, root: &Path, env: &ScriptEnv) -> Result<ScriptRun, ConfigureError> {
    let runner = match &env.runner {
        Some(r) => r.clone(),
        None => ScriptRunner::current().map_err(|e| ConfigureError::ScriptSpawn {
            section: section(s),
            origin: s.origin.clone(),
            interpreter: "kiln scriptlet helper".into(),
            source: e,
        })?,
    };
    let spec = ScriptSpec {
        name: format!("{} ({})", section(s), s.origin),
        root: root.to_path_buf(),
        prog: vec![interpreter(s)],
        body: Some(s.body.clone()),
        ..Default::default()
    };
    tracing::debug!(
        "running {} ({}) in {}",
        section(s),
        s.origin,
        root.display()
    );
    // On the console as livecd-creator shows it (its %post inherits the terminal).
    let label = spec.name.clone();
    let mut on_line = |line: &str| tracing::info!(target: "kiln::script", "{label}: {line}");
    let out = runner
        .run_with_output(&spec, &mut on_line)
        .map_err(|e| match e {
            crate::install::scriptlet::ScriptError::Interrupted { .. } => {
                ConfigureError::Interrupted {
                    section: section(s),
                    origin: s.origin.clone(),
                }
            }
            crate::install::scriptlet::ScriptError::Timeout { secs, .. } => {
                ConfigureError::ScriptTimeout {
                    section: section(s),
                    origin: s.origin.clone(),
                    secs,
                }
            }
            e => ConfigureError::Runner {
                command: section(s),
                origin: s.origin.clone(),
                source: e,
            },
        })?;
    Ok(ScriptRun {
        section: section(s),
        origin: s.origin.clone(),
        on_host: false,
        status: out.status,
        output: out.output,
    })
}

fn interpreter(s: &Script) -> String {
    if s.interpreter.is_empty() {
        "/bin/sh".to_string()
    } else {
        s.interpreter.clone()
    }
}

fn run_on_host(
    s: &Script,
    vars: &[(String, String)],
    env: &ScriptEnv,
) -> Result<ScriptRun, ConfigureError> {
    let spawn_err = |e: std::io::Error| ConfigureError::ScriptSpawn {
        section: section(s),
        origin: s.origin.clone(),
        interpreter: interpreter(s),
        source: e,
    };
    if crate::cancel::interrupted() {
        return Err(ConfigureError::Interrupted {
            section: section(s),
            origin: s.origin.clone(),
        });
    }
    let dir = env.tmp_dir.clone().unwrap_or_else(std::env::temp_dir);
    let file = TempScript::create(&dir, &s.body).map_err(spawn_err)?;
    // Under kiln's guard when there is a kiln binary to run it: then not even a SIGKILL of
    // kiln leaves the script (or what it started) running.
    let mut cmd = match &env.runner {
        Some(r) => crate::pidns::guarded(r.exe(), interpreter(s)),
        None => Command::new(interpreter(s)),
    };
    cmd.arg(&file.0);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    tracing::debug!("running {} ({}) on the host", section(s), s.origin);
    let label = format!("{} ({})", section(s), s.origin);
    let mut on_line = |line: &str| {
        tracing::info!(target: "kiln::script", "{label}: {line}");
    };
    // Its own process group, ended on an interrupt or past the runner's time limit (with
    // whatever the script started).
    let limit = env.runner.as_ref().and_then(ScriptRunner::timeout);
    let done = crate::cancel::run_captured_limited(cmd, &mut on_line, None, limit).map_err(
        |e| match e {
            crate::cancel::ChildError::Spawn(e) | crate::cancel::ChildError::Io(e) => spawn_err(e),
        },
    )?;
    if done.timed_out {
        return Err(ConfigureError::ScriptTimeout {
            section: section(s),
            origin: s.origin.clone(),
            secs: limit.map_or(0, |l| l.as_secs()),
        });
    }
    if done.interrupted {
        return Err(ConfigureError::Interrupted {
            section: section(s),
            origin: s.origin.clone(),
        });
    }
    let status = done.status;
    let output = String::from_utf8_lossy(&done.output).into_owned();
    // The guard could not start the interpreter: the same error as an unguarded spawn.
    if exit_code(&status) == 127 {
        if let Some(msg) = output
            .lines()
            .find_map(|l| l.strip_prefix("kiln-guard: cannot run "))
        {
            return Err(spawn_err(std::io::Error::other(msg.to_string())));
        }
    }
    Ok(ScriptRun {
        section: section(s),
        origin: s.origin.clone(),
        on_host: true,
        status: exit_code(&status),
        output,
    })
}

use crate::pidns::exit_code;

/// A script body in a host file, removed when dropped.
struct TempScript(PathBuf);

impl TempScript {
    fn create(dir: &Path, body: &str) -> std::io::Result<TempScript> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        loop {
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = dir.join(format!("ks-script-{}-{n}", std::process::id()));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o700)
                .open(&p)
            {
                Ok(mut f) => {
                    f.write_all(body.as_bytes())?;
                    return Ok(TempScript(p));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for TempScript {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
