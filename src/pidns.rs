//! Children that die with kiln. On an interrupt kiln ends its children itself
//! ([`crate::cancel`]); when kiln is killed outright (SIGKILL, the OOM killer) nothing of it
//! runs any more, so the kernel has to do it.
//!
//! A helper (the scriptlet helper, or `kiln __guard PROG ARGS...` for programs run on the
//! host) first asks for SIGKILL when its parent dies, then puts what it runs in a new PID
//! namespace: it starts itself again as that namespace's init, which also dies with its parent
//! and runs the program. When the init ends, the kernel kills everything left in the namespace,
//! daemons and double-forked children included. So kiln killed → helper killed → init killed
//! → nothing it started survives, and a chrooted scriptlet's private mounts go with it.
//!
//! On an interrupt kiln signals the helper's process group with SIGTERM: the helper ignores it
//! and waits, the init (a namespace's init gets no signal it has no handler for) waits, and the
//! program gets it with its grace period; SIGKILL after that ends them all.

use std::process::Command;

/// The first argument that turns the kiln binary into the guard for a host program.
pub const GUARD_ARG: &str = "__guard";

/// Set in the helper's second process, the namespace's init.
const INIT_ENV: &str = "KILN_PIDNS_INIT";

/// Set by kiln on the helpers it starts: the pid the helper must still have as its parent once
/// it has asked for the parent-death signal (else kiln died before, and no signal would come).
pub const PARENT_ENV: &str = "KILN_PARENT_PID";

/// Where a helper is after [`enter`].
#[derive(Debug, PartialEq, Eq)]
pub enum Role {
    /// In the new namespace as its init: do the work.
    Init,
    /// The outer process: the init ended with this exit status; exit with it.
    Done(i32),
}

/// Why a helper could not set itself up to die with kiln.
#[derive(Debug, thiserror::Error)]
pub enum PidnsError {
    /// `PR_SET_PDEATHSIG` was refused.
    #[error("cannot ask for the parent-death signal: {0}")]
    DeathSignal(rustix::io::Errno),
    /// kiln died before the helper asked for the signal: none would ever come.
    #[error("kiln exited before its helper started")]
    ParentGone,
    /// The helper's own binary could not be found to start the namespace's init.
    #[error("cannot find the kiln binary: {0}")]
    CurrentExe(std::io::Error),
    /// The namespace's init could not be started.
    #[error("cannot start the namespace's init: {0}")]
    StartInit(std::io::Error),
}

/// Call first thing in a helper, before any thread starts. Returns [`Role::Init`] in the
/// process that must go on with the work.
pub fn enter() -> Result<Role, PidnsError> {
    use rustix::process::{set_parent_process_death_signal, Signal};
    set_parent_process_death_signal(Some(Signal::KILL)).map_err(PidnsError::DeathSignal)?;
    if std::env::var_os(INIT_ENV).is_some() {
        // Single-threaded here, and the programs it runs must not see it.
        std::env::remove_var(INIT_ENV);
        return Ok(Role::Init);
    }
    if let Some(want) = std::env::var(PARENT_ENV)
        .ok()
        .and_then(|s| s.parse::<i32>().ok())
    {
        let ppid = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get());
        if ppid != want {
            return Err(PidnsError::ParentGone);
        }
    }
    // rustix deprecates the safe `unshare` because CLONE_FILES/CLONE_FS can invalidate fds other
    // threads hold; a new PID namespace for the children of this single thread cannot.
    #[allow(deprecated)]
    if rustix::thread::unshare(rustix::thread::UnshareFlags::NEWPID).is_err() {
        // Not root (iso-to-pxeboot needs no privileges): run the work here, still dying with
        // kiln; what it starts itself is then not covered.
        return Ok(Role::Init);
    }
    // SIGTERM/SIGINT/SIGHUP: the program inside has its own; this process waits to report.
    let _ = ctrlc::set_handler(|| {});
    let exe = std::env::current_exe().map_err(PidnsError::CurrentExe)?;
    let status = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(INIT_ENV, "1")
        .status()
        .map_err(PidnsError::StartInit)?;
    Ok(Role::Done(exit_code(&status)))
}

/// `kiln __guard PROG ARGS...`: run PROG on the host so that it cannot outlive kiln; exits with
/// its status (125 when the guard itself failed, 127 when PROG could not be started).
pub fn guard_main() -> i32 {
    match enter() {
        Err(e) => {
            eprintln!("kiln-guard: {e}");
            125
        }
        Ok(Role::Done(code)) => code,
        Ok(Role::Init) => {
            let mut args = std::env::args_os().skip(2);
            let Some(prog) = args.next() else {
                eprintln!("kiln-guard: no program given");
                return 125;
            };
            match Command::new(&prog).args(args).status() {
                Ok(s) => exit_code(&s),
                Err(e) => {
                    eprintln!("kiln-guard: cannot run `{}`: {e}", prog.to_string_lossy());
                    127
                }
            }
        }
    }
}

/// A command that runs `prog` under `kiln` (the binary at `exe`) as [`guard_main`] does.
pub fn guarded(exe: &std::path::Path, prog: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(exe);
    c.arg(GUARD_ARG)
        .arg(prog)
        .env(PARENT_ENV, std::process::id().to_string());
    c
}

/// The kiln binary that guards host tools, once the program has said it is kiln.
static GUARD_EXE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Called by the kiln binary at start: from now on [`wrap`] runs host tools under
/// `exe __guard` (a library user's binary knows nothing of `__guard`, so it stays off there).
pub fn enable_guard(exe: std::path::PathBuf) {
    let _ = GUARD_EXE.set(exe);
}

/// `cmd` run under the guard when [`enable_guard`] was called, else `cmd` itself: program,
/// arguments, environment changes and working directory carry over (stdio is the caller's).
pub fn wrap(cmd: Command) -> Command {
    let Some(exe) = GUARD_EXE.get() else {
        return cmd;
    };
    let mut g = guarded(exe, cmd.get_program());
    g.args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => g.env(k, v),
            None => g.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        g.current_dir(d);
    }
    g
}

/// The exit status a shell would report: 128 + the signal for a killed process.
pub fn exit_code(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        _ => 255,
    }
}
