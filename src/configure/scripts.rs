//! `%pre` and `%post` as livecd-creator and Anaconda run them: `%pre` on the build host before
//! anything, `%post` in the root (or on the host with `--nochroot`, with `INSTALL_ROOT` and
//! `LIVE_ROOT` set), `--interpreter`, `--log` and `--erroronfail` honoured.
//!
//! Chroot `%post` has the host's network, as livecd-creator's chroot has (package scriptlets
//! never do): the sandbox keeps the host's network namespace for it, and the host's
//! `/etc/resolv.conf` is put in the root for the script, as Anaconda copies it into the
//! target, then the root's own (file, link or none) is put back. [`PostNetwork::None`] keeps
//! `%post` in a network namespace of its own, as scriptlets.

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

/// The network chroot `%post` gets (`kiln build --post-network`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PostNetwork {
    /// The host's network and name servers (livecd-creator's behaviour).
    #[default]
    Host,
    /// None: a network namespace of its own with only a loopback that is down.
    None,
}

impl PostNetwork {
    /// From its `--post-network` name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "host" => Some(PostNetwork::Host),
            "none" => Some(PostNetwork::None),
            _ => None,
        }
    }
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
    /// The network chroot `%post` gets.
    pub post_network: PostNetwork,
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
    let host_network = env.post_network == PostNetwork::Host;
    let spec = ScriptSpec {
        name: format!("{} ({})", section(s), s.origin),
        root: root.to_path_buf(),
        prog: vec![interpreter(s)],
        body: Some(s.body.clone()),
        host_network,
        ..Default::default()
    };
    let resolv = if host_network {
        Some(
            HostResolvConf::put(root).map_err(|e| ConfigureError::Write {
                command: section(s),
                origin: s.origin.clone(),
                path: e.path,
                source: e.source,
            })?,
        )
    } else {
        None
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
    let out = runner.run_with_output(&spec, &mut on_line);
    if let Some(resolv) = resolv {
        resolv.restore().map_err(|e| ConfigureError::Write {
            command: section(s),
            origin: s.origin.clone(),
            path: e.path,
            source: e.source,
        })?;
    }
    let out = out.map_err(|e| match e {
        crate::install::scriptlet::ScriptError::Interrupted { .. } => ConfigureError::Interrupted {
            section: section(s),
            origin: s.origin.clone(),
        },
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

/// The host's `/etc/resolv.conf` standing in for the root's while a chroot `%post` runs with
/// the host's network; [`HostResolvConf::restore`] puts the root's back.
struct HostResolvConf {
    /// The root's `/etc/resolv.conf` (host path; the name itself, never followed).
    path: PathBuf,
    /// Where the root's own entry (file or link, untouched) waits, when it had one.
    aside: Option<PathBuf>,
    /// What kiln put there; `None` when the host has no resolv.conf (nothing was changed).
    put: Option<Vec<u8>>,
}

impl HostResolvConf {
    /// Move the root's entry aside (a rename keeps it as it was: inode, mode, times, xattrs,
    /// or the link) and write the host's name servers in its place.
    fn put(root: &Path) -> Result<Self, crate::error::IoError> {
        use crate::error::IoError;
        let path = fsutil::in_root(root, "/etc/resolv.conf", false);
        // The host's as its resolver reads it (through systemd-resolved's link, say).
        let Ok(host) = std::fs::read("/etc/resolv.conf") else {
            return Ok(HostResolvConf {
                path,
                aside: None,
                put: None,
            });
        };
        let aside = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {
                tracing::warn!(
                    "{} is a directory: %post runs without the host's name servers",
                    path.display()
                );
                return Ok(HostResolvConf {
                    path,
                    aside: None,
                    put: None,
                });
            }
            Ok(_) => {
                let aside = path.with_file_name(".resolv.conf.kiln-root");
                std::fs::rename(&path, &aside).map_err(IoError::at("move aside", &path))?;
                Some(aside)
            }
            Err(_) => None,
        };
        let done = HostResolvConf {
            path,
            aside,
            put: Some(host),
        };
        if let Err(e) = fsutil::write_atomic(
            &done.path,
            done.put.as_deref().unwrap_or_default(),
            NewFile::root(0o644),
        ) {
            if let Some(aside) = &done.aside {
                let _ = std::fs::rename(aside, &done.path);
            }
            return Err(IoError::new("write", done.path, e));
        }
        Ok(done)
    }

    /// The root's entry back, unless the script replaced the host's file with its own (then
    /// the script's stays, as it would in the installed system).
    fn restore(self) -> Result<(), crate::error::IoError> {
        use crate::error::IoError;
        let Some(put) = &self.put else {
            return Ok(());
        };
        let ours = std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.is_file())
            && std::fs::read(&self.path).is_ok_and(|now| &now == put);
        if !ours {
            tracing::info!(
                "%post replaced /etc/resolv.conf: the script's is kept, not the packages'"
            );
            if let Some(aside) = &self.aside {
                std::fs::remove_file(aside).map_err(IoError::at("remove", aside))?;
            }
            return Ok(());
        }
        match &self.aside {
            Some(aside) => {
                std::fs::rename(aside, &self.path).map_err(IoError::at("move back", aside))
            }
            None => std::fs::remove_file(&self.path).map_err(IoError::at("remove", &self.path)),
        }
    }
}
