//! kiln-solver: a safe API over the system libsolv (RPM flavour).
//!
//! Owns every `unsafe` block of the workspace (DESIGN.md §1.3 rule 6). It knows nothing of images,
//! kickstart syntax or downloads; its outputs are plain owned data. The libsolv binding itself
//! arrives with step 3; until then this crate only fixes the crate boundary and lints.
#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]
