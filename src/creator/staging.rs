//! The results being written: a staging directory in the result directory, renamed into place
//! only when the whole build succeeded.

use std::path::{Path, PathBuf};

use super::BuildError;
use crate::error::IoError;

/// The results being written: `RESULTDIR/.kiln-partial-<pid>-<n>/`, removed when dropped
/// unless [`Staging::finish`]ed (or kept for `nocleanup`), together with the result directory
/// itself when the build made it and it is still empty.
pub(super) struct Staging {
    /// The staging directory.
    pub(super) dir: PathBuf,
    owner: crate::stale::OwnedDir,
    made_resultdir: Option<PathBuf>,
    keep: bool,
    done: bool,
}

impl Staging {
    pub(super) fn create(resultdir: &Path, keep: bool) -> Result<Staging, BuildError> {
        let made_resultdir = (!resultdir.exists()).then(|| resultdir.to_path_buf());
        std::fs::create_dir_all(resultdir).map_err(IoError::at("create", resultdir))?;
        crate::stale::sweep(resultdir, STAGING_PREFIX);
        let owner = crate::stale::create(resultdir, STAGING_PREFIX)
            .map_err(IoError::at("create in", resultdir))?;
        Ok(Staging {
            dir: owner.path.clone(),
            owner,
            made_resultdir,
            keep,
            done: false,
        })
    }

    /// Success: everything was moved out; remove the (empty) staging directory.
    pub(super) fn finish(mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        self.done = true;
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.keep {
            self.owner.keep();
            eprintln!(
                "note: the partial results are kept in `{}`",
                self.dir.display()
            );
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(d) = &self.made_resultdir {
            // Only when empty: anything else there is not ours.
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// The staging directories in the result directory.
const STAGING_PREFIX: &str = ".kiln-partial";
