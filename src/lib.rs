//! kiln: build bootable live media (live ISO, PXE/netroot trees, disk images) from a Fedora-style
//! kickstart without Anaconda, virt-install or any VM.
//!
//! Stages, each a module whose result is plain data for the next (DESIGN.md §1.2):
//! [`kickstart`] reads the kickstart. Resolving, installing, configuring and writing media arrive
//! with the later steps.
#![forbid(unsafe_code)]

pub mod arch;
pub mod boot;
pub mod cancel;
pub mod configure;
pub mod creator;
pub mod diff;
pub mod emulation;
pub mod error;
pub mod install;
pub mod kickstart;
pub mod manifest;
pub mod media;
pub mod pidns;
pub mod progress;
pub mod repo;
pub mod reproducible;
pub mod resolve;
pub use kiln_rpmfile as rpmfile;
pub mod stale;
