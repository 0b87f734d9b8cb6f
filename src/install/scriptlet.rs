//! Running scriptlets as rpm does, inside the root, without leaving anything behind.
//!
//! Each scriptlet runs in a fresh kiln helper process (`kiln __scriptlet`, see [`helper_main`])
//! as the init of its own PID namespace, dying with kiln ([`crate::pidns`]): even when kiln
//! is killed nothing stays mounted or running, and the multithreaded parent never changes its
//! own root. The helper then enters the sandbox (`sandbox`: private namespaces, API
//! filesystems, `pivot_root` into the root, capabilities dropped, a seccomp filter) and runs
//! the interpreter (or embedded Lua). The helper is a host binary already loaded when it
//! pivots, so cross-arch roots work: target interpreters run through binfmt_misc entries with
//! the F flag, whose emulator was opened when it was registered.
//!
//! A scriptlet that runs longer than the runner's time limit is killed with its whole PID
//! namespace ([`ScriptError::Timeout`]); its output goes, line by line, to a caller's
//! callback as it comes (rpm prints scriptlet output; kiln's CLI does too) and to the log.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

/// The first argument that turns the kiln binary into the scriptlet helper.
pub const HELPER_ARG: &str = "__scriptlet";

/// The first argument that turns the kiln binary into an interactive shell in a root.
pub const SHELL_ARG: &str = "__shell";

/// Exit status the helper uses when it could not set the scriptlet up (not the script's fault).
const SETUP_FAILED: i32 = 125;

/// The environment scriptlets get: rpm's PATH, nothing from the host.
const SCRIPT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// What to run: everything the helper needs, sent as JSON on its stdin.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScriptSpec {
    /// rpm's name for it, e.g. `%post(bash-5.2-1.x86_64)`, used in logs and errors.
    pub name: String,
    /// The root directory (host path).
    pub root: PathBuf,
    /// Interpreter argv (`/bin/sh` when empty; `<lua>` for embedded Lua).
    pub prog: Vec<String>,
    /// The script body, when there is one.
    pub body: Option<String>,
    /// `$1` (instances of the package after the transaction), when passed.
    pub arg1: Option<i32>,
    /// `$2` (triggers: instances of the triggering package), when passed.
    pub arg2: Option<i32>,
    /// Standard input (file triggers get the matching paths); `/dev/null` when `None`.
    pub input: Option<String>,
    /// Macros for Lua's `rpm.expand`.
    pub macros: Vec<(String, String)>,
    /// The package's install prefixes (`INSTPREFIXES`, relocated when the install relocates):
    /// the Lua table `RPM_INSTALL_PREFIX`, or `RPM_INSTALL_PREFIX`, `RPM_INSTALL_PREFIX0`, ...
    /// for programs.
    #[serde(default)]
    pub install_prefixes: Vec<String>,
    /// Keep the host's network namespace (chroot `%post` under `--post-network host`); every
    /// other program run in a root gets a network namespace of its own.
    #[serde(default)]
    pub host_network: bool,
}

/// How a scriptlet ended.
#[derive(Debug, Clone)]
pub struct ScriptOutcome {
    /// Exit status (128 + signal when killed by one).
    pub status: i32,
    /// Combined stdout and stderr.
    pub output: String,
}

impl ScriptOutcome {
    /// Whether the scriptlet succeeded.
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// Errors of the scriptlet runner itself (a failing script is an [`ScriptOutcome`]).
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The helper process could not be started.
    #[error("failed to start the scriptlet helper `{exe}` for {name}")]
    Spawn {
        /// Helper binary.
        exe: String,
        /// Scriptlet.
        name: String,
        #[source]
        source: std::io::Error,
    },
    /// The helper could not prepare the chroot.
    #[error("failed to prepare the chroot for {name}: {message}")]
    Setup {
        /// Scriptlet.
        name: String,
        /// What the helper said.
        message: String,
    },
    /// Stopped by an interrupt (Ctrl-C, SIGTERM): the helper and its children were ended.
    #[error("{name} was interrupted")]
    Interrupted {
        /// Scriptlet.
        name: String,
    },
    /// It ran longer than the runner's time limit: it was killed, with everything it started.
    #[error("{name} ran longer than the script timeout of {secs} s")]
    Timeout {
        /// Scriptlet.
        name: String,
        /// The limit.
        secs: u64,
    },
    /// Talking to the helper failed.
    #[error("failed to talk to the scriptlet helper for {name}")]
    Pipe {
        /// Scriptlet.
        name: String,
        #[source]
        source: std::io::Error,
    },
}

/// Runs scriptlets through a helper binary.
#[derive(Debug, Clone)]
pub struct ScriptRunner {
    exe: PathBuf,
    /// Nanoseconds spent running target programs (not embedded Lua), shared by the clones:
    /// for a foreign arch this is the time under emulation, which the build reports apart.
    clock: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The time limit of one scriptlet (`None`: none).
    timeout: Option<std::time::Duration>,
}

/// The default limit of one scriptlet (`--script-timeout`): generous, so only a hang meets it.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1800);

impl ScriptRunner {
    /// A runner using `exe` as the helper (a binary whose `main` dispatches [`HELPER_ARG`] to
    /// [`helper_main`]).
    pub fn new(exe: PathBuf) -> Self {
        ScriptRunner {
            exe,
            clock: Default::default(),
            timeout: None,
        }
    }

    /// The same runner with a time limit for each scriptlet (`None` or zero: no limit).
    pub fn with_timeout(mut self, timeout: Option<std::time::Duration>) -> Self {
        self.timeout = timeout.filter(|t| !t.is_zero());
        self
    }

    /// The time limit of one scriptlet.
    pub fn timeout(&self) -> Option<std::time::Duration> {
        self.timeout
    }

    /// Time spent so far running target programs in roots (all clones of this runner).
    pub fn target_time(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.clock.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The kiln binary itself (`KILN_HELPER` overrides, for programs embedding the library).
    pub fn current() -> std::io::Result<Self> {
        if let Some(p) = std::env::var_os("KILN_HELPER") {
            return Ok(Self::new(PathBuf::from(p)));
        }
        Ok(Self::new(std::env::current_exe()?))
    }

    /// The helper binary.
    pub fn exe(&self) -> &Path {
        &self.exe
    }

    /// Run one scriptlet and wait for it. The helper runs in its own process group, which is
    /// ended (with the scriptlet and anything it started) when [`crate::cancel`]'s flag is set.
    pub fn run(&self, spec: &ScriptSpec) -> Result<ScriptOutcome, ScriptError> {
        self.run_with_output(spec, &mut |_| {})
    }

    /// [`Self::run`], handing each line of the scriptlet's output (stdout and stderr as they
    /// interleave) to `on_line` as it arrives, on this thread.
    pub fn run_with_output(
        &self,
        spec: &ScriptSpec,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<ScriptOutcome, ScriptError> {
        let started = std::time::Instant::now();
        let r = self.run_untimed(spec, on_line);
        if spec.prog.first().map(String::as_str) != Some("<lua>") {
            let ns = started.elapsed().as_nanos() as u64;
            self.clock
                .fetch_add(ns, std::sync::atomic::Ordering::Relaxed);
        }
        r
    }

    fn run_untimed(
        &self,
        spec: &ScriptSpec,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<ScriptOutcome, ScriptError> {
        if crate::cancel::interrupted() {
            return Err(ScriptError::Interrupted {
                name: spec.name.clone(),
            });
        }
        let mut cmd = Command::new(&self.exe);
        cmd.arg(HELPER_ARG)
            .stdin(Stdio::piped())
            .env(crate::pidns::PARENT_ENV, std::process::id().to_string());
        let json = serde_json::to_vec(spec).expect("script spec serialises");
        let name = &spec.name;
        let mut each_line = |line: &str| {
            tracing::debug!(target: "kiln::scriptlet", "{name}: {line}");
            on_line(line);
        };
        let done =
            crate::cancel::run_captured_limited(cmd, &mut each_line, Some(&json), self.timeout)
                .map_err(|e| match e {
                    crate::cancel::ChildError::Spawn(source) => ScriptError::Spawn {
                        exe: self.exe.display().to_string(),
                        name: spec.name.clone(),
                        source,
                    },
                    crate::cancel::ChildError::Io(source) => ScriptError::Pipe {
                        name: spec.name.clone(),
                        source,
                    },
                })?;
        if done.timed_out {
            return Err(ScriptError::Timeout {
                name: spec.name.clone(),
                secs: self.timeout.map_or(0, |t| t.as_secs()),
            });
        }
        if done.interrupted {
            return Err(ScriptError::Interrupted {
                name: spec.name.clone(),
            });
        }
        let output = String::from_utf8_lossy(&done.output).into_owned();
        let code = exit_code(&done.status);
        if code == SETUP_FAILED {
            if let Some(msg) = output
                .lines()
                .find_map(|l| l.strip_prefix("kiln-scriptlet-setup: "))
            {
                return Err(ScriptError::Setup {
                    name: spec.name.clone(),
                    message: msg.to_string(),
                });
            }
        }
        Ok(ScriptOutcome {
            status: code,
            output,
        })
    }
}

use crate::pidns::exit_code;

/// The helper's entry point: read a [`ScriptSpec`] from stdin, run it, return the exit status.
/// Call it from `main` before any thread is started (unsharing needs a single thread).
pub fn helper_main() -> i32 {
    match crate::pidns::enter() {
        Err(e) => return setup_failed(&e.to_string()),
        Ok(crate::pidns::Role::Done(code)) => return code,
        Ok(crate::pidns::Role::Init) => {}
    }
    let mut json = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut json) {
        return setup_failed(&format!("cannot read the script spec: {e}"));
    }
    let spec: ScriptSpec = match serde_json::from_slice(&json) {
        Ok(s) => s,
        Err(e) => return setup_failed(&format!("bad script spec: {e}")),
    };
    // Opened before the chroot: the root may have no /dev yet (e.g. %pretrans).
    let devnull = match std::fs::File::open("/dev/null") {
        Ok(f) => f,
        Err(e) => return setup_failed(&format!("cannot open /dev/null: {e}")),
    };
    let who = if spec.host_network {
        super::sandbox::Occupant::NetworkedScript
    } else {
        super::sandbox::Occupant::Script
    };
    if let Err(e) = super::sandbox::enter(&spec.root, who) {
        return setup_failed(&e.to_string());
    }
    if spec.prog.first().map(String::as_str) == Some("<lua>") {
        return run_lua_here(&spec);
    }
    run_program_here(&spec, devnull)
}

/// `kiln __shell ROOT`: an interactive shell in the root in the sandbox scriptlets get, with
/// the user's terminal (livecd-creator's `--shell`). Call it from `main` before any thread
/// starts.
pub fn shell_main(root: &Path) -> i32 {
    match crate::pidns::enter() {
        Err(e) => return setup_failed(&e.to_string()),
        Ok(crate::pidns::Role::Done(code)) => return code,
        Ok(crate::pidns::Role::Init) => {}
    }
    if let Err(e) = super::sandbox::enter(root, super::sandbox::Occupant::Shell) {
        return setup_failed(&e.to_string());
    }
    let shell = ["/bin/bash", "/bin/sh"]
        .into_iter()
        .find(|s| Path::new(s).exists())
        .unwrap_or("/bin/sh");
    match Command::new(shell)
        .env_clear()
        .env("PATH", SCRIPT_PATH)
        .env("HOME", "/root")
        .env(
            "TERM",
            std::env::var("TERM").unwrap_or_else(|_| "vt100".into()),
        )
        .env("PS1", "[kiln chroot \\w]# ")
        .status()
    {
        Ok(s) => exit_code(&s),
        Err(e) => {
            eprintln!("error: cannot run `{shell}` in the root: {e}");
            127
        }
    }
}

fn setup_failed(msg: &str) -> i32 {
    eprintln!("kiln-scriptlet-setup: {msg}");
    SETUP_FAILED
}

fn run_lua_here(spec: &ScriptSpec) -> i32 {
    // rpm's `arg` table: the program array (`<lua>`), then $1 and $2.
    let mut args = spec.prog.clone();
    args.extend(spec.arg1.map(|a| a.to_string()));
    args.extend(spec.arg2.map(|a| a.to_string()));
    // A file trigger's input is its matching paths, one a line: rpm.next_file() hands them out.
    let next_files: Option<Vec<String>> = spec
        .input
        .as_ref()
        .map(|i| i.lines().map(str::to_string).collect());
    let s = super::lua::LuaScriptlet {
        name: &spec.name,
        body: spec.body.as_deref().unwrap_or(""),
        args: &args,
        macros: &spec.macros,
        install_prefixes: &spec.install_prefixes,
        next_files: next_files.as_deref(),
    };
    let mut out = std::io::stdout();
    match super::lua::run_lua(&s, &mut out) {
        Ok(code) => code,
        Err(e) => {
            let mut msg = e.to_string();
            let mut cur = std::error::Error::source(&e);
            while let Some(c) = cur {
                msg.push_str(&format!(": {c}"));
                cur = c.source();
            }
            eprintln!("error: {msg}");
            1
        }
    }
}

fn run_program_here(spec: &ScriptSpec, devnull: std::fs::File) -> i32 {
    let mut argv: Vec<String> = if spec.prog.is_empty() {
        vec!["/bin/sh".to_string()]
    } else {
        spec.prog.clone()
    };
    // As rpm: the body goes to a temp file under /var/tmp and the arguments follow it; a
    // program-only scriptlet (`-p /sbin/ldconfig`) gets no arguments.
    let mut script_file = None;
    if let Some(body) = &spec.body {
        match write_temp_script(body) {
            Ok(p) => {
                argv.push(p.display().to_string());
                script_file = Some(p);
            }
            Err(e) => return setup_failed(&format!("cannot write the script to /var/tmp: {e}")),
        }
        argv.extend(spec.arg1.map(|a| a.to_string()));
        argv.extend(spec.arg2.map(|a| a.to_string()));
    }
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .env("PATH", SCRIPT_PATH)
        .env("HOME", "/root")
        .env("LANG", "C");
    // As rpm: RPM_INSTALL_PREFIX is the first prefix, RPM_INSTALL_PREFIXn each one.
    if let Some(first) = spec.install_prefixes.first() {
        cmd.env("RPM_INSTALL_PREFIX", first);
    }
    for (n, p) in spec.install_prefixes.iter().enumerate() {
        cmd.env(format!("RPM_INSTALL_PREFIX{n}"), p);
    }
    // Reproducible builds: tools in the root that honour it (dracut, gzip, ...) clamp dates.
    if let Some(e) = std::env::var_os("SOURCE_DATE_EPOCH") {
        cmd.env("SOURCE_DATE_EPOCH", e);
    }
    let stdin = match &spec.input {
        Some(_) => Stdio::piped(),
        None => Stdio::from(devnull),
    };
    cmd.stdin(stdin);
    let status = match cmd.spawn() {
        Ok(mut child) => {
            if let (Some(input), Some(mut w)) = (&spec.input, child.stdin.take()) {
                // A script that stops reading early is not an error (rpm ignores EPIPE too).
                let _ = w.write_all(input.as_bytes());
            }
            match child.wait() {
                Ok(s) => exit_code(&s),
                Err(e) => {
                    eprintln!("error: waiting for `{}` failed: {e}", argv[0]);
                    1
                }
            }
        }
        Err(e) => {
            eprintln!("error: cannot run `{}` in the root: {e}", argv[0]);
            127
        }
    };
    if let Some(p) = script_file {
        let _ = std::fs::remove_file(p);
    }
    status
}

fn write_temp_script(body: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = Path::new("/var/tmp");
    if !dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            // rpm makes a missing %_tmppath 0755.
            .mode(0o755)
            .create(dir)?;
    }
    let pid = std::process::id();
    for n in 0..1000u32 {
        let p = dir.join(format!("rpm-tmp.kiln{pid}x{n}"));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&p)
        {
            Ok(mut f) => {
                f.write_all(body.as_bytes())?;
                return Ok(p);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free temp file name"))
}
