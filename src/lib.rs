//! kiln: build bootable live media (live ISO, PXE/netroot trees, disk images) from a Fedora-style
//! kickstart without Anaconda, virt-install or any VM.
//!
//! The build is a pipeline whose steps hand plain data to the next (DESIGN.md §1.2), run in
//! order by [`creator`]: [`kickstart`] parses the kickstart; [`resolve`] turns `%packages` into
//! a transaction (libsolv, through kiln-solver); [`repo`] fetches the metadata and the packages
//! and checks their signatures; [`install`] unpacks them into the root with an rpmdb and runs
//! their scriptlets; [`configure`] applies the kickstart's system settings, `%pre` and `%post`;
//! [`boot`] makes the kernel, initramfs, boot loaders and menus; [`media`] writes the images
//! (through kiln-writers); [`manifest`] records what went in, for build farms.
//!
//! Beside the pipeline: [`arch`] (per-architecture facts), [`emulation`] (qemu-user for a
//! foreign arch), [`cancel`] (interrupts and child processes), [`pidns`] (children that die
//! with kiln), [`stale`] (what killed builds left), [`reproducible`] (run-specific files reset
//! for `SOURCE_DATE_EPOCH`), [`progress`] (the reporting traits the CLI draws), [`error`] (the
//! one I/O error shape) and [`diff`] (which files of two ISOs differ). The CLI is the binary's
//! own (`src/cli`).
#![forbid(unsafe_code)]

pub mod arch;
pub mod attrs;
pub mod bench;
pub mod boot;
pub mod boottest;
pub mod cancel;
pub mod configure;
pub mod creator;
pub mod diff;
pub mod emulation;
pub mod error;
pub mod fsutil;
pub mod install;
pub use kiln_kickstart as kickstart;
pub mod manifest;
pub mod media;
pub mod pidns;
pub mod progress;
pub mod repo;
pub mod reproducible;
pub mod resolve;
pub use kiln_rpmfile as rpmfile;
pub mod stale;
pub mod userns;

/// Helpers the modules' unit tests share.
#[cfg(test)]
pub(crate) mod test_support {
    /// Whether the test runs as root. Run by an ordinary user outside CI, a test whose subject
    /// needs root (chown to root, setcap, modes root alone may bypass) prints `skipped` and
    /// returns, as the integration tests' `common::require` does; under `CI=true` it fails.
    pub fn root_or_skip(what: &str) -> bool {
        if rustix::process::geteuid().is_root() {
            return true;
        }
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("cannot run under CI: root: {what}");
        }
        eprintln!("skipped: root: {what}");
        false
    }
}
