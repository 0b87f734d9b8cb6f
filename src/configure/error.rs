//! Errors of the configure stage: every variant names the kickstart command (or script section)
//! and the line it came from.

use std::path::PathBuf;

use crate::install::scriptlet::ScriptError;
use crate::kickstart::Origin;

/// A kickstart command or script that could not be applied to the root.
#[derive(Debug, thiserror::Error)]
pub enum ConfigureError {
    /// Reading a file of the root failed.
    #[error("`{command}` ({origin}): cannot read `{}`", path.display())]
    Read {
        /// Kickstart command.
        command: &'static str,
        /// Its line.
        origin: Origin,
        /// Host path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Writing (or linking, removing, chowning) a file of the root failed.
    #[error("`{command}` ({origin}): cannot write `{}`", path.display())]
    Write {
        /// Kickstart command.
        command: &'static str,
        /// Its line.
        origin: Origin,
        /// Host path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The time zone has no zoneinfo file in the root.
    #[error("`timezone` ({origin}): zone `{zone}` does not exist in the root (no `{}`)", path.display())]
    UnknownTimezone {
        /// Its line.
        origin: Origin,
        /// The zone asked for.
        zone: String,
        /// The zoneinfo path looked for.
        path: PathBuf,
    },
    /// A user named by the command does not exist in the root.
    #[error("`{command}` ({origin}): user `{user}` does not exist in the root")]
    UnknownUser {
        /// Kickstart command.
        command: &'static str,
        /// Its line.
        origin: Origin,
        /// User name.
        user: String,
    },
    /// A value the command gives cannot be applied (taken id, bad address, ...).
    #[error("`{command}` ({origin}): {message}")]
    Invalid {
        /// Kickstart command.
        command: &'static str,
        /// Its line.
        origin: Origin,
        /// What is wrong.
        message: String,
    },
    /// The chroot helper failed (not the script or tool it ran).
    #[error("`{command}` ({origin}): cannot run in the root")]
    Runner {
        /// Kickstart command or section.
        command: &'static str,
        /// Its line.
        origin: Origin,
        /// Why the helper could not run it.
        #[source]
        source: ScriptError,
    },
    /// A program run for a command (e.g. `firewall-offline-cmd`) failed.
    #[error("`{command}` ({origin}): `{program}` failed with exit status {status}: {output}")]
    ToolFailed {
        /// Kickstart command.
        command: &'static str,
        /// Its line.
        origin: Origin,
        /// The program.
        program: String,
        /// Exit status.
        status: i32,
        /// The last lines of its output.
        output: String,
    },
    /// A host script (%pre, %post --nochroot) could not be started.
    #[error("`{section}` ({origin}): cannot run `{interpreter}` on the host")]
    ScriptSpawn {
        /// `%pre` or `%post`.
        section: &'static str,
        /// The section's header line.
        origin: Origin,
        /// The interpreter.
        interpreter: String,
        /// Why it could not be started.
        #[source]
        source: std::io::Error,
    },
    /// A `%pre`/`%post` ran longer than `--script-timeout`: it was ended with all it started.
    #[error("`{section}` ({origin}) ran longer than the script timeout of {secs} s")]
    ScriptTimeout {
        /// `%pre` or `%post`.
        section: &'static str,
        /// The section's header line.
        origin: Origin,
        /// The limit.
        secs: u64,
    },
    /// A script with `--erroronfail` failed.
    #[error("`{section}` ({origin}) failed with exit status {status} (--erroronfail): {output}")]
    ScriptFailed {
        /// `%pre` or `%post`.
        section: &'static str,
        /// The section's header line.
        origin: Origin,
        /// Exit status.
        status: i32,
        /// The last lines of its output.
        output: String,
    },
    /// The root's SELinux labels could not be computed or written.
    #[error("labelling the root for SELinux failed")]
    Label(#[from] super::selinux_label::LabelError),
    /// A script or tool was stopped by an interrupt (Ctrl-C, SIGTERM).
    #[error("`{section}` ({origin}) was interrupted")]
    Interrupted {
        /// `%pre`, `%post` or the kickstart command.
        section: &'static str,
        /// Its line.
        origin: Origin,
    },
}

/// The last few lines of a program's output, for error messages.
pub(crate) fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(5);
    let t = lines[start..].join(" | ");
    if t.is_empty() {
        "no output".to_string()
    } else {
        t
    }
}
