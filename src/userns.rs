//! Rootless builds: kiln run by an ordinary user enters a user namespace in which it is root.
//!
//! The user's kiln (the *outer* process) starts itself again as the *inner* one, which
//! unshares a user namespace as its first act (the kernel wants a single-threaded caller) and
//! stops itself. The outer process then writes the inner one's id maps: through the distro's
//! setuid `newuidmap`/`newgidmap` with the user's subordinate ids from `/etc/subuid` and
//! `/etc/subgid` (root in the namespace is the user, ids 1.. are the subordinate range, so
//! packages can own files as their own users), or, without them, a single-id map (root only;
//! every other owner goes to the sidecar, [`crate::attrs`]). It continues the inner process,
//! forwards SIGTERM/SIGINT/SIGHUP to it and exits with its code. The inner process dies with
//! the outer one (SIGTERM on the parent's death, so it still cleans up after a SIGKILL of the
//! outer).
//!
//! In the namespace kiln has every capability over what the namespace owns: chroots, private
//! mount/PID/network namespaces, bind mounts, a new /proc, chown within the map. The kernel
//! still refuses device nodes, `security.*` xattrs other than file capabilities, and a sysfs
//! mount outside a network namespace the user namespace owns; the callers handle each.

use std::path::Path;
use std::process::Command;

use crate::fsutil::which;

/// Set in the inner process's environment (and removed at once): "unshare and wait".
pub const INNER_ENV: &str = "KILN_USERNS_INNER";

/// Why the namespace could not be had.
#[derive(Debug, thiserror::Error)]
pub enum UsernsError {
    /// The kernel refused an unprivileged user namespace.
    #[error(
        "this host does not let ordinary users create user namespaces ({reason}); kiln builds \
         without root inside one. The administrator can allow them once with:\n{hint}"
    )]
    Forbidden {
        /// What the kernel said.
        reason: std::io::Error,
        /// The settings to change, named.
        hint: String,
    },
    /// `newuidmap`/`newgidmap` or writing the maps failed.
    #[error("cannot map ids into the user namespace: {0}")]
    Map(String),
    /// Starting or waiting for the inner kiln failed.
    #[error("cannot run kiln in a user namespace: {0}")]
    Spawn(std::io::Error),
}

/// Whether this process runs as a user other than root.
pub fn unprivileged() -> bool {
    !rustix::process::geteuid().is_root()
}

/// Whether this process is in a user namespace other than the host's (its uid map is not the
/// identity over every id): root here cannot make devices or set `security.*` xattrs.
pub fn in_user_namespace() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => {
            let fields: Vec<&str> = map.split_whitespace().collect();
            fields != ["0", "0", "4294967295"]
        }
        Err(_) => false,
    }
}

/// The settings that forbid unprivileged user namespaces on this host, as lines to run as
/// root (only those present here are named).
pub fn forbidding_settings() -> String {
    forbidding_settings_in(Path::new("/proc/sys"))
}

fn forbidding_settings_in(proc_sys: &Path) -> String {
    let mut hint = Vec::new();
    let read = |p: &str| {
        let p = proc_sys.join(p.trim_start_matches("/proc/sys/"));
        std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned())
    };
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        hint.push("  sysctl -w kernel.unprivileged_userns_clone=1   # Debian's kernels".to_owned());
    }
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        hint.push("  sysctl -w user.max_user_namespaces=15000".to_owned());
    }
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        hint.push(
            "  sysctl -w kernel.apparmor_restrict_unprivileged_userns=0   # Ubuntu 23.10+ (or an \
             AppArmor profile with `userns,` for kiln)"
                .to_owned(),
        );
    }
    if hint.is_empty() {
        hint.push(
            "  (no known sysctl is set against it here: a seccomp or LSM policy of the container \
             or host refuses unshare(CLONE_NEWUSER))"
                .to_owned(),
        );
    }
    hint.join("\n")
}

/// The inner process's first act, before anything else (before threads): unshare the user
/// namespace and stop until the outer process has written the maps. Returns `false` when this
/// process is not an inner one.
pub fn enter_if_inner() -> Result<bool, UsernsError> {
    if std::env::var_os(INNER_ENV).is_none() {
        return Ok(false);
    }
    std::env::remove_var(INNER_ENV);
    let parent = rustix::process::getppid();
    // SIGTERM, not SIGKILL, so an interrupted build still removes what it started.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM));
    if rustix::process::getppid() != parent {
        std::process::exit(130);
    }
    // rustix deprecates the safe `unshare` because CLONE_FILES/CLONE_FS can invalidate fds
    // other threads hold; NEWUSER takes neither and this process has one thread.
    #[allow(deprecated)]
    rustix::thread::unshare(rustix::thread::UnshareFlags::NEWUSER).map_err(|e| {
        UsernsError::Forbidden {
            reason: e.into(),
            hint: forbidding_settings(),
        }
    })?;
    rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::STOP)
        .map_err(|e| UsernsError::Spawn(e.into()))?;
    // Continued: the maps are written, or the outer process failed and is about to kill us.
    if !rustix::process::getuid().is_root() {
        return Err(UsernsError::Map(
            "the outer kiln continued this one without an id map".into(),
        ));
    }
    Ok(true)
}

/// A subordinate id range of `user` (name or number) in `/etc/subuid`-style `file`.
fn subordinate(file: &Path, user: &str, uid: u32) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut f = line.trim().split(':');
        let (who, start, count) = (f.next()?, f.next()?, f.next()?);
        if who != user && who != uid.to_string() {
            return None;
        }
        let (start, count) = (start.parse().ok()?, count.parse::<u32>().ok()?);
        (count > 0).then_some((start, count))
    })
}

/// This user's login name from /etc/passwd (the subuid files may name either).
fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_owned())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

/// How the namespace's ids are mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdMap {
    /// Root is the user, 1..=count the subordinate range from `start`.
    Subordinate {
        /// First subordinate uid.
        uid_start: u32,
        /// First subordinate gid.
        gid_start: u32,
        /// Ids mapped besides root (the smaller of the two ranges).
        count: u32,
    },
    /// Root only.
    Single,
}

/// The map this user gets: subordinate ids when both files name a range and the distro's
/// helpers are installed, else a single id.
pub fn id_map() -> IdMap {
    let uid = rustix::process::getuid().as_raw();
    let name = user_name(uid);
    let helpers = ["newuidmap", "newgidmap"]
        .iter()
        .all(|h| which(h).is_some());
    match (
        helpers,
        subordinate(Path::new("/etc/subuid"), &name, uid),
        subordinate(Path::new("/etc/subgid"), &name, uid),
    ) {
        (true, Some((us, uc)), Some((gs, gc))) => IdMap::Subordinate {
            uid_start: us,
            gid_start: gs,
            count: uc.min(gc),
        },
        _ => IdMap::Single,
    }
}

fn write_maps(pid: u32, map: &IdMap) -> Result<(), UsernsError> {
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    match map {
        IdMap::Subordinate {
            uid_start,
            gid_start,
            count,
        } => {
            for (helper, own, start) in
                [("newuidmap", uid, uid_start), ("newgidmap", gid, gid_start)]
            {
                let out = Command::new(helper)
                    .args([
                        pid.to_string(),
                        "0".into(),
                        own.to_string(),
                        "1".into(),
                        "1".into(),
                        start.to_string(),
                        count.to_string(),
                    ])
                    .output()
                    .map_err(|e| UsernsError::Map(format!("cannot run {helper}: {e}")))?;
                if !out.status.success() {
                    return Err(UsernsError::Map(format!(
                        "{helper} {pid} 0 {own} 1 1 {start} {count}: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    )));
                }
            }
        }
        IdMap::Single => {
            let w = |file: &str, text: String| {
                let p = format!("/proc/{pid}/{file}");
                std::fs::write(&p, text).map_err(|e| UsernsError::Map(format!("{p}: {e}")))
            };
            w("uid_map", format!("0 {uid} 1\n"))?;
            // An unprivileged writer must give up setgroups before it may map a gid.
            w("setgroups", "deny\n".into())?;
            w("gid_map", format!("0 {gid} 1\n"))?;
        }
    }
    Ok(())
}

/// Run this kiln again, with the same arguments, as root of a new user namespace, and return
/// its exit code. Called by the outer process before it starts any work.
/// `forward` installs the outer process's signal handling, given the inner process's pid.
pub fn run_inner(forward: impl FnOnce(rustix::process::Pid)) -> Result<i32, UsernsError> {
    use rustix::process::{Pid, Signal, WaitOptions};
    let exe = std::env::current_exe().map_err(UsernsError::Spawn)?;
    let map = id_map();
    let mut child = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(INNER_ENV, "1")
        .spawn()
        .map_err(UsernsError::Spawn)?;
    let pid = Pid::from_child(&child);
    let kill = |sig| {
        let _ = rustix::process::kill_process(pid, sig);
    };
    // Wait for the inner process to stop itself (or to fail before it could).
    match rustix::process::waitpid(Some(pid), WaitOptions::UNTRACED) {
        Ok(Some((_, status))) if status.stopped() => {}
        Ok(_) => {
            // It exited: it printed why (namespaces forbidden).
            let status = child.wait().map_err(UsernsError::Spawn)?;
            return Ok(status.code().unwrap_or(2));
        }
        Err(e) => return Err(UsernsError::Spawn(e.into())),
    }
    if let Err(e) = write_maps(child.id(), &map) {
        kill(Signal::KILL);
        let _ = child.wait();
        return Err(e);
    }
    tracing::debug!(?map, "user namespace mapped");
    forward(pid);
    kill(Signal::CONT);
    let status = child.wait().map_err(UsernsError::Spawn)?;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal_number().unwrap_or(15)))
}

trait SignalNumber {
    fn signal_number(&self) -> Option<i32>;
}

impl SignalNumber for std::process::ExitStatus {
    fn signal_number(&self) -> Option<i32> {
        std::os::unix::process::ExitStatusExt::signal(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_in_the_way_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path();
        std::fs::create_dir_all(sys.join("kernel")).unwrap();
        std::fs::create_dir_all(sys.join("user")).unwrap();
        std::fs::write(sys.join("kernel/unprivileged_userns_clone"), "0\n").unwrap();
        std::fs::write(sys.join("user/max_user_namespaces"), "0\n").unwrap();
        std::fs::write(
            sys.join("kernel/apparmor_restrict_unprivileged_userns"),
            "1\n",
        )
        .unwrap();
        let hint = forbidding_settings_in(sys);
        assert!(
            hint.contains("kernel.unprivileged_userns_clone=1"),
            "{hint}"
        );
        assert!(hint.contains("user.max_user_namespaces=15000"), "{hint}");
        assert!(
            hint.contains("kernel.apparmor_restrict_unprivileged_userns=0"),
            "{hint}"
        );
        std::fs::write(sys.join("kernel/unprivileged_userns_clone"), "1\n").unwrap();
        std::fs::write(sys.join("user/max_user_namespaces"), "96367\n").unwrap();
        std::fs::write(
            sys.join("kernel/apparmor_restrict_unprivileged_userns"),
            "0\n",
        )
        .unwrap();
        assert!(forbidding_settings_in(sys).contains("no known sysctl"));
    }

    #[test]
    fn subordinate_ranges_by_name_or_uid() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("subuid");
        std::fs::write(&f, "alice:100000:65536\n1001:200000:1000\nbob:300000:0\n").unwrap();
        assert_eq!(subordinate(&f, "alice", 1000), Some((100000, 65536)));
        assert_eq!(subordinate(&f, "carol", 1001), Some((200000, 1000)));
        assert_eq!(subordinate(&f, "bob", 1002), None);
    }
}
