//! Drop-in front ends: livecd-creator's and livemedia-creator's command lines, as Koji's
//! LiveCDTask and LiveMediaTask (and people's scripts) run them. Each front end parses its
//! tool's options with the tool's names and meanings ([`livecd`], [`livemedia`]) and makes a
//! [`Plan`]: the `kiln build` command line they amount to, plus what the tool does around a
//! build that kiln's own command does not (its file names, its log directory). The build is
//! kiln's normal one (`cli::run`); nothing of the pipeline is repeated here.
//!
//! `KILN_COMPAT_DRY_RUN=1` prints the plan as JSON instead of building: what a given tool
//! command line means to kiln.

mod livecd;
mod livemedia;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

use super::{EXIT_BAD_INPUT, EXIT_ENV, EXIT_OK};

/// Which tool's command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// livecd-tools' livecd-creator.
    Livecd,
    /// lorax's livemedia-creator.
    Livemedia,
}

impl Tool {
    /// The tool's program name.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Livecd => "livecd-creator",
            Tool::Livemedia => "livemedia-creator",
        }
    }

    fn from_name(name: &std::ffi::OsStr) -> Option<Tool> {
        [Tool::Livecd, Tool::Livemedia]
            .into_iter()
            .find(|t| name == t.name())
    }
}

/// The front end `argv` asks for, with the tool's arguments: kiln run through a link named
/// after the tool (`argv[0]`), or `kiln livecd-creator ARGS`.
pub fn invoked_as(argv: &[OsString]) -> Option<(Tool, Vec<OsString>)> {
    let program = argv.first().map(Path::new).and_then(Path::file_name);
    if let Some(tool) = program.and_then(Tool::from_name) {
        return Some((tool, argv[1..].to_vec()));
    }
    let tool = Tool::from_name(argv.get(1)?)?;
    Some((tool, argv[2..].to_vec()))
}

/// What a tool's command line amounts to.
#[derive(Debug, Default)]
pub struct Plan {
    /// `kiln build ...` (from `kiln` on): the build kiln runs.
    pub argv: Vec<OsString>,
    /// The build's result directory.
    pub resultdir: PathBuf,
    /// Files kiln names otherwise than the tool: (kiln's name, the tool's), relative to
    /// `resultdir`, moved after the build (manifest and SBOM follow).
    pub renames: Vec<(String, String)>,
    /// Directories the tool makes before it starts (a log file's).
    pub dirs: Vec<PathBuf>,
    /// Said before the build: options that mean nothing or something else to kiln.
    pub notes: Vec<String>,
    /// Stop the build after this long (livemedia-creator's `--timeout`).
    pub timeout: Option<Duration>,
    /// Environment for the build (livemedia-creator's `--proxy`).
    pub env: Vec<(String, String)>,
    /// A file the build reads, removed after it (livecd-creator's `--dracut-conf-args`).
    pub scratch: Option<tempfile::NamedTempFile>,
}

impl Plan {
    /// A `kiln build` command line to extend.
    fn build() -> Plan {
        Plan {
            argv: vec!["kiln".into(), "build".into()],
            ..Plan::default()
        }
    }

    /// Add `flag`.
    fn flag(&mut self, flag: &str) {
        self.argv.push(flag.into());
    }

    /// Add `flag VALUE`.
    fn opt(&mut self, flag: &str, value: impl Into<OsString>) {
        self.argv.push(flag.into());
        self.argv.push(value.into());
    }

    /// The plan as JSON (`KILN_COMPAT_DRY_RUN`).
    fn to_json(&self) -> serde_json::Value {
        let text = |p: &OsString| p.to_string_lossy().into_owned();
        serde_json::json!({
            "kiln": self.argv.iter().map(text).collect::<Vec<_>>(),
            "resultdir": self.resultdir,
            "renames": self.renames,
            "dirs": self.dirs,
            "notes": self.notes,
            "timeout_seconds": self.timeout.map(|t| t.as_secs()),
            "env": self.env,
        })
    }
}

/// Run `tool` with its command line `args`: parse, translate, build, put the files where the
/// tool leaves them. Returns the exit code.
pub fn main(tool: Tool, args: Vec<OsString>) -> i32 {
    let argv = std::iter::once(OsString::from(tool.name())).chain(args);
    let plan = match tool {
        Tool::Livecd => livecd::Args::try_parse_from(argv)
            .map_err(usage)
            .and_then(|a| livecd::plan(&a).map_err(refused)),
        Tool::Livemedia => livemedia::Args::try_parse_from(argv)
            .map_err(usage)
            .and_then(|a| livemedia::plan(&a).map_err(refused)),
    };
    let plan = match plan {
        Ok(p) => p,
        Err(code) => return code,
    };
    if std::env::var_os("KILN_COMPAT_DRY_RUN").is_some_and(|v| v != "0" && !v.is_empty()) {
        println!("{}", plan.to_json());
        return EXIT_OK;
    }
    run(tool, plan)
}

/// clap's verdict on the command line: its message, and `--help` is a success.
fn usage(e: clap::Error) -> i32 {
    let _ = e.print();
    if e.use_stderr() {
        EXIT_BAD_INPUT
    } else {
        EXIT_OK
    }
}

/// An option kiln cannot honour: said, bad input.
fn refused(message: String) -> i32 {
    eprintln!("error: {message}");
    EXIT_BAD_INPUT
}

/// Build as planned.
fn run(tool: Tool, plan: Plan) -> i32 {
    for note in &plan.notes {
        eprintln!("{}: {note}", tool.name());
    }
    for dir in &plan.dirs {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("error: cannot create `{}`: {e}", dir.display());
            return EXIT_ENV;
        }
    }
    for (key, value) in &plan.env {
        // Before the build starts any thread.
        std::env::set_var(key, value);
    }
    let args = match super::args::Args::try_parse_from(&plan.argv) {
        Ok(a) => a,
        // A translation kiln's parser refuses is this front end's fault, not the user's.
        Err(e) => {
            eprintln!(
                "error: {} made a kiln command line kiln refuses: {e}",
                tool.name()
            );
            return EXIT_ENV;
        }
    };
    if let Some(limit) = plan.timeout {
        // As livemedia-creator cancels its installer: the build stops as on Ctrl-C.
        std::thread::spawn(move || {
            std::thread::sleep(limit);
            eprintln!(
                "{}: --timeout: stopping the build after {} minutes",
                tool.name(),
                limit.as_secs() / 60
            );
            kiln::cancel::interrupt();
        });
    }
    let code = super::run(args);
    drop(plan.scratch);
    if code != EXIT_OK {
        return code;
    }
    for (from, to) in &plan.renames {
        if let Err(e) = kiln::manifest::rename_image(&plan.resultdir, from, to) {
            eprintln!("error: cannot rename `{from}` to `{to}`: {e}");
            return EXIT_ENV;
        }
        eprintln!("{}: {}", tool.name(), plan.resultdir.join(to).display());
    }
    EXIT_OK
}

/// The squashfs compressors kiln writes; mksquashfs' others are refused by name.
fn compressor(option: &str, name: &str) -> Result<String, String> {
    match name {
        "xz" | "zstd" | "gzip" | "lz4" => Ok(name.to_string()),
        _ => Err(format!(
            "{option} `{name}`: kiln writes squashfs with xz, zstd, gzip or lz4 (zstd is the \
             fastest to build and boot; xz the smallest)"
        )),
    }
}

/// The date stamp livecd-creator puts in default names (`YYYYMMDDHHMM`): of
/// `SOURCE_DATE_EPOCH` when set (reproducible names), else of now, in UTC.
fn date_stamp() -> String {
    let secs = super::settings::source_date_epoch(None)
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
    // `2023-11-14T22:13:20Z` → `202311142213`
    let digits: String = kiln::manifest::rfc3339(secs)
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    digits[..12].to_string()
}

/// A name from the kickstart's file name as livecd-tools' `build_name` makes it: the file's
/// stem without `prefix`, then `prefix` + stem + `-` + `suffix`; over `max_len`, the prefix
/// goes and the stem is cut (the suffix stays whole).
fn build_name(ks: &str, prefix: &str, suffix: &str, max_len: Option<usize>) -> String {
    let base = ks.rsplit('/').next().unwrap_or(ks);
    let stem = base.rfind('.').map_or(base, |i| &base[..i]);
    let stem = stem.strip_prefix(prefix).unwrap_or(stem);
    let name = format!("{prefix}{stem}-{suffix}");
    match max_len {
        Some(max) if name.len() > max => {
            let keep = max.saturating_sub(suffix.len() + 1);
            let cut: String = stem.chars().take(keep).collect();
            format!("{cut}-{suffix}")
        }
        _ => name,
    }
}

/// The directory of a log file, made before the run (Koji's LiveMediaTask names a log in a
/// directory that does not exist yet).
fn log_dir(log: &Path) -> Option<PathBuf> {
    log.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_livecd_tools_builds_them() {
        assert_eq!(
            build_name("/x/livecd-fedora.ks", "livecd-", "202601020304", None),
            "livecd-fedora-202601020304"
        );
        assert_eq!(
            build_name("live-x86_64.ks", "livecd-", "x86_64-202601020304", Some(32)),
            "live-x86_64-x86_64-202601020304"
        );
        assert_eq!(
            build_name(
                "fedora-live-workstation.ks",
                "livecd-",
                "x86_64-202601020304",
                Some(32)
            ),
            // Python's name[:12], dash included.
            "fedora-live--x86_64-202601020304"
        );
    }

    #[test]
    fn called_through_a_link_or_by_name() {
        let v = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            invoked_as(&v(&["/usr/bin/livecd-creator", "-c", "x.ks"])),
            Some((Tool::Livecd, v(&["-c", "x.ks"])))
        );
        assert_eq!(
            invoked_as(&v(&["kiln", "livemedia-creator", "--ks", "x.ks"])),
            Some((Tool::Livemedia, v(&["--ks", "x.ks"])))
        );
        assert_eq!(invoked_as(&v(&["kiln", "build"])), None);
    }
}
