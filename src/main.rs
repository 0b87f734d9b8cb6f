//! The `kiln` binary: parse arguments, set up logging, run, map the outcome to an exit code
//! (0 ok, 1 bad input, 2 environment/internal failure, 130 interrupted). Run through a link
//! named `livecd-creator` or `livemedia-creator` (argv[0]), it takes that tool's command line
//! (`cli::compat`).

mod cli;

fn main() {
    // The inner kiln of a rootless build unshares its user namespace first, single-threaded.
    if let Err(e) = kiln::userns::enter_if_inner() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    // The scriptlet helper must start before anything spawns a thread (it unshares namespaces).
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(kiln::install::scriptlet::HELPER_ARG))
    {
        std::process::exit(kiln::install::scriptlet::helper_main());
    }
    if std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new(kiln::pidns::GUARD_ARG)) {
        std::process::exit(kiln::pidns::guard_main());
    }
    let mut args = std::env::args_os();
    if args.nth(1).as_deref() == Some(std::ffi::OsStr::new(kiln::install::scriptlet::SHELL_ARG)) {
        let root = args
            .next()
            .map(std::path::PathBuf::from)
            .unwrap_or_default();
        std::process::exit(kiln::install::scriptlet::shell_main(&root));
    }
    let code = cli::main();
    std::process::exit(code);
}
