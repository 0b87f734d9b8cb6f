//! kiln-writers: squashfs, EROFS, ISO9660 + El Torito + hybrid, FAT and GPT writers.
//!
//! Input is a format-neutral [`tree::FsTree`], output is bytes; this crate knows nothing of RPM,
//! kickstart, libsolv or chroots (DESIGN.md §1.3 rule 1). A failed read of a source file is
//! an [`error::IoError`] inside each writer's error enum.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod blockstore;
pub mod datetime;
pub mod erofs;
pub mod error;
pub mod fat;
pub mod gpt;
pub mod iso9660;
pub mod squashfs;
pub mod tree;
