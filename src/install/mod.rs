//! The installer: RPM files -> a root directory that rpm itself cannot tell from an rpm-made
//! install (files, owners, caps, the rpmdb, scriptlets and triggers in rpm's order).
//!
//! Knows nothing of images, boot loaders or kickstart syntax beyond the options it is given.
//!
//! RPM's formats (headers, payloads, cpio, versions, macro files, and the header and payload
//! digests checked for every package before any payload is used) are [`crate::rpmfile`]'s.
//!
//! - [`rootfs`]: path-safe operations beneath the root (`openat2(RESOLVE_IN_ROOT)`).
//! - [`unpack`]: one package's files written beneath the root; file conflict checks.
//! - [`rpmdb`]: the sqlite rpmdb writer.
//! - [`relocate`]: `--prefix`/`--relocate` of relocatable packages.
//! - [`installed`]: the packages a root already has (appending a transaction).
//! - [`lua`]: the embedded Lua for `-p <lua>` scriptlets (runs in an already chrooted process).
//! - [`scriptlet`]: running scriptlets in the root, with a time limit, their output streamed.
//! - `sandbox`: what a scriptlet's process goes through before it runs (namespaces, pivot_root,
//!   capabilities, seccomp).
//! - [`transaction`]: the ordered transaction tying it all together.

pub mod error;
pub mod installed;
pub mod lua;
pub mod relocate;
pub mod rootfs;
pub mod rpmdb;
pub(crate) mod sandbox;
pub mod scriptlet;
pub mod transaction;
pub mod unpack;

pub use error::InstallError;
