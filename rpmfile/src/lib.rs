//! What kiln knows of RPM's formats, and nothing of kiln's pipeline: a leaf crate that the
//! installer, the repository code, `kiln diff` and the manifest use, and that the fuzz targets
//! build on their own.
//!
//! - [`header`]: an RPM file's lead, signature and main header (raw blobs for the rpmdb, and
//!   the parsed facts: files, scriptlets, triggers, file triggers, dependencies).
//! - [`payload`], [`cpio`]: the streamed payload (decompression capped at the declared size,
//!   and the cpio reader).
//! - [`digest`]: the header and payload digests every package is checked against.
//! - [`vercmp`], [`evr`]: rpm's version comparison and `[epoch:]version[-release]` values.
//! - [`macros`]: rpm macro files and `%define` definitions as rpm reads them.
//! - [`repodata`]: repomd.xml, comps and metalink documents.
//! - [`tags`]: RPM's numbers (tags, data types, dependency and file flags, file states).
//! - [`error`]: the errors of reading an RPM file.
#![forbid(unsafe_code)]

pub mod cpio;
pub mod digest;
pub mod error;
pub mod evr;
pub mod header;
pub mod macros;
pub mod payload;
pub mod repodata;
pub mod tags;
pub mod vercmp;

pub use error::{HeaderError, RpmFileError};
pub use evr::Evr;
pub use header::RpmFile;
pub use vercmp::rpmvercmp;
