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
    /// It ran past its time limit: the group was killed.
    pub timed_out: bool,
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
    cmd: Command,
    mut on_line: Box<dyn FnMut(&str) + Send>,
    feed: Option<&[u8]>,
) -> Result<Finished, ChildError> {
    run_captured_limited(cmd, &mut *on_line, feed, None)
}

/// [`run_captured`] with `on_line` called on this thread (so it may borrow), and a time limit:
/// past `limit` the group gets SIGKILL and the result says `timed_out`.
pub fn run_captured_limited(
    mut cmd: Command,
    on_line: &mut dyn FnMut(&str),
    feed: Option<&[u8]>,
    limit: Option<Duration>,
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
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(ChildError::Spawn)?;
    // The Command holds the write ends: without dropping it the reader never sees EOF.
    drop(cmd);
    // The reader only moves lines to this thread, which hands them to `on_line`; it is left
    // behind (blocked) only when output is held open by something outside the group.
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut r = std::io::BufReader::new(std::fs::File::from(rd));
        loop {
            let mut line = Vec::new();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if lines_tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
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
    let mut output = Vec::new();
    let mut status: Option<ExitStatus> = None;
    let mut eof = false;
    // When the group was sent SIGTERM (interrupt) and SIGKILL (interrupt or time limit).
    let mut termed_at: Option<Instant> = None;
    let mut killed_at: Option<Instant> = None;
    let mut timed_out = false;
    // No wait right after a line (more may be queued), but the checks below run every time:
    // a script that floods its output still meets its time limit.
    let mut wait = POLL / 10;
    loop {
        if !eof {
            match lines_rx.recv_timeout(wait) {
                Ok(line) => {
                    let text = String::from_utf8_lossy(&line);
                    on_line(text.trim_end_matches('\n'));
                    output.extend_from_slice(&line);
                    wait = Duration::ZERO;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => wait = POLL / 10,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => eof = true,
            }
        } else {
            std::thread::sleep(POLL / 10);
        }
        if status.is_none() {
            status = child.try_wait().map_err(ChildError::Io)?;
            if status.is_some() && (termed_at.is_some() || killed_at.is_some()) {
                // The leader is gone; its group may not be.
                kill_group(&child, rustix::process::Signal::KILL);
            }
        }
        if status.is_some() && eof {
            break;
        }
        if killed_at.is_none() {
            if limit.is_some_and(|l| started.elapsed() > l) {
                tracing::debug!("time limit: killing process group {}", child.id());
                timed_out = true;
                kill_group(&child, rustix::process::Signal::KILL);
                killed_at = Some(Instant::now());
            } else if interrupted() {
                match termed_at {
                    None if status.is_none() => {
                        tracing::debug!("interrupted: ending process group {}", child.id());
                        kill_group(&child, rustix::process::Signal::TERM);
                        termed_at = Some(Instant::now());
                    }
                    Some(t) if t.elapsed() <= GRACE => {}
                    _ => {
                        kill_group(&child, rustix::process::Signal::KILL);
                        killed_at = Some(Instant::now());
                    }
                }
            }
        }
        // Killed, and still no end: output held open outside the group, or a leader that does
        // not die (should not happen): reap what can be reaped and give up on the rest.
        if let Some(t) = killed_at {
            if t.elapsed() > GRACE {
                let status = match status {
                    Some(s) => s,
                    None => child.wait().map_err(ChildError::Io)?,
                };
                return Ok(Finished {
                    status,
                    output,
                    interrupted: termed_at.is_some() || (!timed_out && interrupted()),
                    timed_out,
                });
            }
        }
    }
    let status = status.expect("loop ends only with a status");
    Ok(Finished {
        status,
        output,
        interrupted: termed_at.is_some() || (killed_at.is_some() && !timed_out),
        timed_out,
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
        assert!(!f.timed_out);
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

    #[test]
    fn time_limit_kills_the_group() {
        let mut cmd = Command::new("/bin/sh");
        // The background sleep keeps the pipe open: the whole group must go.
        cmd.args(["-c", "echo started; sleep 60 & sleep 60"]);
        let mut lines = Vec::new();
        let f = run_captured_limited(
            cmd,
            &mut |l| lines.push(l.to_string()),
            None,
            Some(Duration::from_millis(300)),
        )
        .unwrap();
        assert!(f.timed_out);
        assert!(!f.interrupted);
        assert!(!f.status.success());
        assert_eq!(lines, ["started"]);
    }
}
