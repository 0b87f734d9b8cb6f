//! The command line: the only place for clap, tracing-subscriber and terminal output.

pub mod args;
mod bench;
mod boot_test;
mod build;
mod cache;
mod compat;
mod console;
pub mod diagnostics;
mod diff;
mod events;
mod install;
mod ks;
mod netboot;
mod report;
mod resolve;
mod settings;
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
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `livecd-creator ARGS` / `livemedia-creator ARGS` (a link of that name, or the first
    // argument) take those tools' command lines, not kiln's.
    if let Some((tool, rest)) = compat::invoked_as(&argv) {
        return compat::main(tool, rest);
    }
    let args = match Args::try_parse_from(argv) {
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
    run(args)
}

/// Commands that make or read a root's files as their owners: as an ordinary user they run in
/// a user namespace.
fn needs_namespace(command: &Command) -> bool {
    matches!(
        command,
        Command::Install(_)
            | Command::InstallRpms(_)
            | Command::Build(_)
            | Command::Write(_)
            | Command::BenchCompress(_)
            | Command::IsoToPxeboot(_)
            | Command::IsoToNetroot(_)
            | Command::Unshare(_)
    )
}

/// `kiln unshare`: the command, run in the namespace (as root there); as root on the host,
/// where there is no namespace to enter, it runs as it is.
fn unshare(a: &args::UnshareArgs) -> i32 {
    let (prog, rest) = match a.command.split_first() {
        Some((p, r)) => (p.clone(), r.to_vec()),
        None => (
            std::env::var_os("SHELL").unwrap_or_else(|| "/bin/sh".into()),
            Vec::new(),
        ),
    };
    match std::process::Command::new(&prog).args(rest).status() {
        Ok(st) => st.code().unwrap_or(EXIT_ENV),
        Err(e) => {
            eprintln!("error: cannot run `{}`: {e}", prog.to_string_lossy());
            EXIT_ENV
        }
    }
}

/// Run parsed arguments (the command line, or what a drop-in front end made of its tool's).
fn run(args: Args) -> i32 {
    match &args.command {
        Command::LivecdCreator(c) => return compat::main(compat::Tool::Livecd, c.args.clone()),
        Command::LivemediaCreator(c) => {
            return compat::main(compat::Tool::Livemedia, c.args.clone())
        }
        _ => {}
    }
    // Reusing an image is a loop mount, which no user namespace may make: say so before any
    // work directory exists, not as mount's error after the install stage.
    if let Command::Build(b) = &args.command {
        let reuse = [("--fs-image", &b.fs_image), ("--disk-image", &b.disk_image)];
        if let Some((flag, Some(img))) = reuse.iter().find(|(_, img)| img.is_some()) {
            if kiln::userns::unprivileged() || kiln::userns::in_user_namespace() {
                eprintln!(
                    "error: {flag} `{}`: reusing an image loop-mounts it, which needs root; \
                     an ordinary user's build installs from the kickstart instead",
                    img.display()
                );
                return EXIT_ENV;
            }
        }
    }
    // An ordinary user's build runs as root of a user namespace (kiln::userns): this process
    // starts the one that does the work and waits for it.
    if kiln::userns::unprivileged() && needs_namespace(&args.command) {
        let interactive = matches!(args.command, Command::Unshare(_));
        return match kiln::userns::run_inner(|inner| {
            let _ = ctrlc::set_handler(move || {
                // `kiln unshare`'s command gets the terminal's Ctrl-C itself.
                if !interactive {
                    let _ = rustix::process::kill_process(inner, rustix::process::Signal::TERM);
                }
            });
        }) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_ENV
            }
        };
    }
    if let Command::Unshare(a) = &args.command {
        // The command owns Ctrl-C (a shell at its prompt must not end kiln under it).
        let _ = ctrlc::set_handler(|| {});
        return unshare(a);
    }
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
    if let Err(e) = console::init(args.verbose, log_file.as_deref(), color, capture) {
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
        Command::Cache(c) => cache::run(c),
        Command::Unshare(a) => Ok(unshare(a)),
        Command::LivecdCreator(_) | Command::LivemediaCreator(_) => {
            unreachable!("handled before the console is set up")
        }
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_ENV
        }
    }
}
