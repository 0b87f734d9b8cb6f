//! The command line: the only place for clap, tracing-subscriber and terminal output.

pub mod args;
mod bench;
mod boot_test;
mod build;
pub mod diagnostics;
mod diff;
mod events;
mod install;
mod ks;
mod netboot;
mod report;
mod resolve;
mod write;

use clap::Parser;

use args::{Args, ColorChoice, Command};

/// Exit code for success.
pub const EXIT_OK: i32 = 0;
/// Exit code for bad input (kickstart errors, unsatisfiable requests).
pub const EXIT_BAD_INPUT: i32 = 1;
/// Exit code for environment or internal failures.
pub const EXIT_ENV: i32 = 2;
/// Exit code after Ctrl-C.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Run the CLI and return the process exit code.
pub fn main() -> i32 {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_BAD_INPUT
            } else {
                EXIT_OK
            };
            let _ = e.print();
            return code;
        }
    };
    // Ctrl-C, SIGTERM, SIGHUP: every stage stops at its next check, child processes are ended
    // and everything made so far is removed (`kiln::cancel`); a second one exits at once.
    let _ = ctrlc::set_handler(|| {
        if kiln::cancel::interrupt() {
            std::process::exit(EXIT_INTERRUPTED);
        }
    });
    // Host tools (mkfs.ext4, xorriso, tar, ...) run under this binary's `__guard`.
    if let Ok(r) = kiln::install::scriptlet::ScriptRunner::current() {
        kiln::pidns::enable_guard(r.exe().to_path_buf());
    }
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let log_file = args.log_file.clone().or(match &args.command {
        Command::Build(b) => b.logfile.clone(),
        _ => None,
    });
    let capture = matches!(args.command, Command::Build(_));
    if let Err(e) = init_logging(args.verbose, log_file.as_deref(), color, capture) {
        eprintln!("error: {e:#}");
        return EXIT_ENV;
    }
    let r = match &args.command {
        Command::Ks(k) => ks::run(k, color),
        Command::Resolve(r) => resolve::run_resolve(r, color),
        Command::Download(d) => resolve::run_download(d, color),
        Command::Install(i) => install::run(i, color),
        Command::InstallRpms(i) => install::run_rpms(i),
        Command::BootTest(b) => boot_test::run(b),
        Command::IsoToPxeboot(a) => netboot::run_pxeboot(a),
        Command::IsoToNetroot(a) => netboot::run_netroot(a),
        Command::Build(b) => build::run(b, color),
        Command::Write(w) => write::run(w),
        Command::BenchCompress(b) => bench::run(b),
        Command::Diff(d) => diff::run(d),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_ENV
        }
    }
}

fn init_logging(
    verbose: u8,
    log_file: Option<&std::path::Path>,
    color: bool,
    capture: bool,
) -> anyhow::Result<()> {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "kiln=info",
        1 => "kiln=debug,kiln_solver=debug,kiln_writers=debug",
        _ => "kiln=trace,kiln_solver=trace,kiln_writers=trace",
    };
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let stderr_layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(verbose > 0);
    let file_layer = match log_file {
        Some(p) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| anyhow::anyhow!("cannot open log file `{}`: {e}", p.display()))?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::sync::Mutex::new(f))
                    .with_ansi(false)
                    .with_filter(EnvFilter::new(
                        "kiln=debug,kiln_solver=debug,kiln_writers=debug",
                    )),
            )
        }
        None => None,
    };
    // A build keeps its own log (debug level) for the result directory's build.log.
    let capture_layer = capture.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(|| CaptureWriter)
            .with_ansi(false)
            .with_filter(EnvFilter::new(
                "kiln=debug,kiln_solver=info,kiln_writers=debug",
            ))
    });
    tracing_subscriber::registry()
        .with(stderr_layer.with_filter(filter))
        .with(file_layer)
        .with(capture_layer)
        .try_init()?;
    Ok(())
}

/// The log lines captured for `build.log`.
static CAPTURED: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct CaptureWriter;

impl std::io::Write for CaptureWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        CAPTURED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the build logged so far.
pub(crate) fn captured_log() -> Vec<u8> {
    CAPTURED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}
