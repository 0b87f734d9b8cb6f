//! Repository metadata documents (repomd.xml, comps, metalink): parsed by
//! [`crate::rpmfile::repodata`], re-exported here for the repository code.

pub use crate::rpmfile::repodata::*;
