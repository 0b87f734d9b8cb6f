//! The `kiln` binary: parse arguments, set up logging, run, map the outcome to an exit code
//! (0 ok, 1 bad input, 2 environment/internal failure, 130 interrupted). Run through a link
//! named `livecd-creator` or `livemedia-creator` (argv[0]), it takes that tool's command line
//! (`cli::compat`).

mod cli;

fn main() {
    with_sbin_on_path();
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

/// The tools kiln runs from the host (mkfs.ext4, debugfs, setcap, losetup, setfiles, ...) live
/// in the sbin directories, which Debian leaves off an ordinary user's PATH: add the missing
/// ones at the end, so the user's own come first. Called before any thread starts.
fn with_sbin_on_path() {
    let path = match std::env::var_os("PATH") {
        Some(p) if !p.is_empty() => p,
        _ => {
            std::env::set_var(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            );
            return;
        }
    };
    let mut dirs: Vec<std::path::PathBuf> = std::env::split_paths(&path).collect();
    let missing: Vec<&str> = ["/usr/local/sbin", "/usr/sbin", "/sbin"]
        .into_iter()
        .filter(|d| !dirs.iter().any(|p| p.as_os_str() == *d))
        .collect();
    if missing.is_empty() {
        return;
    }
    dirs.extend(missing.into_iter().map(std::path::PathBuf::from));
    if let Ok(joined) = std::env::join_paths(dirs) {
        std::env::set_var("PATH", joined);
    }
}
