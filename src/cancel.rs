//! Interrupts: one process-wide flag that the CLI's signal handler sets and every stage polls,
//! and the one way kiln runs child processes so that an interrupt ends them too.
//!
//! Children run in their own process group, so a terminal's Ctrl-C reaches only kiln; kiln
//! then ends the whole group (the child and whatever it started) with SIGTERM, and SIGKILL
//! after a grace period. Knows nothing of signals or stages: the CLI decides what sets the
//! flag, the callers decide what an interrupted child means.

use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The flag (`repo::fetch::INTERRUPTED` is this same static, kept for older callers).
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// How often a waiting caller looks at the flag.
pub const POLL: Duration = Duration::from_millis(100);

/// Between SIGTERM and SIGKILL: enough for a script to run its traps, short enough for a user.
const GRACE: Duration = Duration::from_secs(3);

/// Whether an interrupt was requested.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// Request an interrupt; returns whether one was already requested.
pub fn interrupt() -> bool {
    INTERRUPTED.swap(true, Ordering::SeqCst)
}

/// A child's end: exit status, combined output, and whether kiln ended it for an interrupt.
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub status: ExitStatus,
    /// stdout and stderr as they interleaved.
    pub output: Vec<u8>,
    /// The flag was set while it ran: the group was sent SIGTERM (and SIGKILL if needed).
    pub interrupted: bool,
}

/// Why a child could not be run (its own failure is a [`Finished`] status).
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// `spawn` failed.
    #[error("cannot start the process")]
    Spawn(#[source] std::io::Error),
    /// The pipe, its stdin or waiting failed.
    #[error("cannot talk to the process")]
    Io(#[source] std::io::Error),
}

/// Run `cmd` in a new process group with stdout and stderr into one pipe (so their
/// interleaving is kept, as a terminal shows it); `on_line` sees each line as it arrives and
/// `feed` may write the child's stdin (set `cmd.stdin(Stdio::piped())` for that). Returns when
/// the child has exited and its output is read; when the flag is set meanwhile, the group is
/// ended first.
pub fn run_captured(
    mut cmd: Command,
    mut on_line: Box<dyn FnMut(&str) + Send>,
    feed: Option<&[u8]>,
) -> Result<Finished, ChildError> {
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| ChildError::Io(e.into()))?;
    let wr2 = wr.try_clone().map_err(ChildError::Io)?;
    cmd.stdout(Stdio::from(wr))
        .stderr(Stdio::from(wr2))
        .process_group(0);
    if feed.is_none() {
        cmd.stdin(Stdio::null());
    }
    let mut child = cmd.spawn().map_err(ChildError::Spawn)?;
    // The Command holds the write ends: without dropping it the reader never sees EOF.
    drop(cmd);
    let reader = std::thread::spawn(move || {
        let mut r = std::io::BufReader::new(std::fs::File::from(rd));
        let mut all = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    on_line(text.trim_end_matches('\n'));
                    all.extend_from_slice(&line);
                }
            }
        }
        all
    });
    if let Some(bytes) = feed {
        let r = child
            .stdin
            .take()
            .map(|mut w| w.write_all(bytes))
            .unwrap_or(Ok(()));
        if let Err(e) = r {
            // A child that died before reading its input: end the group, report the pipe.
            kill_group(&child, rustix::process::Signal::KILL);
            let _ = child.wait();
            return Err(ChildError::Io(e));
        }
    }
    let (status, mut ended) = wait_group(&mut child).map_err(ChildError::Io)?;
    // Whatever the child left running still writes to the pipe: wait for EOF, but end the
    // group on an interrupt and give up on output held open outside it.
    let mut killed_at = None;
    while !reader.is_finished() {
        if interrupted() {
            ended = true;
            match killed_at {
                None => {
                    kill_group(&child, rustix::process::Signal::KILL);
                    killed_at = Some(Instant::now());
                }
                Some(t) if t.elapsed() > GRACE => {
                    return Ok(Finished {
                        status,
                        output: Vec::new(),
                        interrupted: ended,
                    })
                }
                Some(_) => {}
            }
        }
        std::thread::sleep(POLL / 10);
    }
    let output = reader.join().unwrap_or_default();
    Ok(Finished {
        status,
        output,
        interrupted: ended,
    })
}

/// Wait for `child`, the leader of its own process group (`process_group(0)`), polling the
/// flag; on an interrupt the group gets SIGTERM, then SIGKILL after a grace period. Returns
/// the status and whether the group was ended for an interrupt.
pub fn wait_group(child: &mut Child) -> std::io::Result<(ExitStatus, bool)> {
    let mut termed_at: Option<Instant> = None;
    loop {
        if let Some(status) = child.try_wait()? {
            if termed_at.is_some() {
                // The leader is gone; its group may not be.
                kill_group(child, rustix::process::Signal::KILL);
            }
            return Ok((status, termed_at.is_some()));
        }
        if interrupted() {
            match termed_at {
                None => {
                    tracing::debug!("interrupted: ending process group {}", child.id());
                    kill_group(child, rustix::process::Signal::TERM);
                    termed_at = Some(Instant::now());
                }
                Some(t) if t.elapsed() > GRACE => {
                    kill_group(child, rustix::process::Signal::KILL);
                    let status = child.wait()?;
                    return Ok((status, true));
                }
                Some(_) => {}
            }
        }
        std::thread::sleep(if termed_at.is_some() { POLL / 10 } else { POLL });
    }
}

fn kill_group(child: &Child, sig: rustix::process::Signal) {
    // ESRCH: the group is already gone.
    let _ = rustix::process::kill_process_group(rustix::process::Pid::from_child(child), sig);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_interleaves_and_streams() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "echo one; echo two >&2; echo three"]);
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let l2 = lines.clone();
        let f = run_captured(
            cmd,
            Box::new(move |l| l2.lock().unwrap().push(l.to_string())),
            None,
        )
        .unwrap();
        assert!(f.status.success());
        assert!(!f.interrupted);
        assert_eq!(String::from_utf8_lossy(&f.output), "one\ntwo\nthree\n");
        assert_eq!(*lines.lock().unwrap(), ["one", "two", "three"]);
    }

    #[test]
    fn stdin_is_fed() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "cat"]).stdin(Stdio::piped());
        let f = run_captured(cmd, Box::new(|_| {}), Some(b"fed\n")).unwrap();
        assert_eq!(f.output, b"fed\n");
    }
}
