//! `Repo`: one repository's solvables inside a pool. The pool owns and frees it; the handle
//! borrows the pool so it cannot outlive it.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use super::file::CFile;
use super::pool::Pool;
use crate::ffi;

/// A repository inside `'p`'s pool.
pub struct Repo<'p> {
    raw: NonNull<ffi::Repo>,
    pool: &'p Pool,
    _p: PhantomData<&'p Pool>,
}

/// A failure to read or write repository data.
#[derive(Debug, thiserror::Error)]
pub enum RepoDataError {
    /// The file could not be opened, written or renamed into place.
    #[error("cannot {action} `{}`", path.display())]
    Io {
        /// What was being done ("open", "write").
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// libsolv rejected the data.
    #[error("cannot read `{path}`: {message}")]
    Parse {
        /// The file.
        path: String,
        /// libsolv's message.
        message: String,
    },
}

impl RepoDataError {
    /// A `map_err` adapter for a failed file call on `path`.
    pub(crate) fn io<'a>(
        action: &'static str,
        path: &'a Path,
    ) -> impl Fn(std::io::Error) -> Self + Copy + 'a {
        move |source| RepoDataError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl<'p> Repo<'p> {
    pub(crate) fn from_raw(pool: &'p Pool, raw: *mut ffi::Repo) -> Repo<'p> {
        // repo_create aborts on allocation failure rather than returning NULL.
        let raw = NonNull::new(raw).expect("repo_create returned NULL");
        Repo {
            raw,
            pool,
            _p: PhantomData,
        }
    }

    fn parse_err(&self, path: &Path) -> RepoDataError {
        RepoDataError::Parse {
            path: path.display().to_string(),
            message: self.pool.errstr(),
        }
    }

    /// Load rpm-md XML (primary, or filelists with `extend`), compressed or not.
    pub fn add_rpmmd(&self, path: &Path, extend: bool) -> Result<(), RepoDataError> {
        let f = CFile::open_decompressed(path).map_err(RepoDataError::io("open", path))?;
        let flags = ffi::REPO_NO_INTERNALIZE
            | if extend {
                ffi::REPO_EXTEND_SOLVABLES
            } else {
                0
            };
        // SAFETY: live repo and open stream; libsolv reads the stream to its end.
        let rc =
            unsafe { ffi::repo_add_rpmmd(self.raw.as_ptr(), f.as_ptr(), std::ptr::null(), flags) };
        if rc != 0 {
            return Err(self.parse_err(path));
        }
        Ok(())
    }

    /// Load a `.solv` file written by [`Repo::write_solv`].
    pub fn add_solv(&self, path: &Path) -> Result<(), RepoDataError> {
        let f = CFile::open(path, c"r").map_err(RepoDataError::io("open", path))?;
        // SAFETY: live repo and open stream.
        let rc = unsafe { ffi::repo_add_solv(self.raw.as_ptr(), f.as_ptr(), 0) };
        if rc != 0 {
            return Err(self.parse_err(path));
        }
        Ok(())
    }

    /// Write the repo as a `.solv` file (the caller renames it into place).
    pub fn write_solv(&self, path: &Path) -> Result<(), RepoDataError> {
        let werr = RepoDataError::io("write", path);
        let f = CFile::open(path, c"w").map_err(werr)?;
        // SAFETY: live, internalized repo and a stream open for writing.
        let rc = unsafe { ffi::repo_write(self.raw.as_ptr(), f.as_ptr()) };
        f.close().map_err(werr)?;
        if rc != 0 {
            return Err(werr(std::io::Error::other(self.pool.errstr())));
        }
        Ok(())
    }

    /// Make loaded data searchable (after the last `add_*` with REPO_NO_INTERNALIZE).
    pub fn internalize(&self) {
        // SAFETY: live repo.
        unsafe { ffi::repo_internalize(self.raw.as_ptr()) }
    }

    /// dnf's priority (lower number wins, so negated) and cost (lower wins, so negated).
    pub fn set_priority(&self, priority: i32, cost: i32) {
        // SAFETY: live repo; plain field writes.
        unsafe { ffi::kiln_repo_set_priority(self.raw.as_ptr(), -priority, -cost) }
    }

    /// The solvable ids of this repo (`start..end`; check each with [`Pool::solvable`]).
    pub fn solvable_range(&self) -> std::ops::Range<ffi::Id> {
        let (mut s, mut e) = (0, 0);
        // SAFETY: live repo; the shim only writes through the two pointers.
        unsafe { ffi::kiln_repo_bounds(self.raw.as_ptr(), &mut s, &mut e) };
        s..e
    }

    /// Whether `p` belongs to this repo.
    pub fn contains(&self, p: ffi::Id) -> bool {
        self.pool
            .solvable(p)
            .is_some_and(|s| s.repo == self.raw.as_ptr())
    }

    /// The libsolv repo id.
    pub fn id(&self) -> ffi::Id {
        // SAFETY: live repo.
        unsafe { ffi::kiln_repo_id(self.raw.as_ptr()) }
    }

    /// Drop all solvables of this repo from the pool (used when a .solv cache is unreadable).
    pub fn free(self) {
        // SAFETY: we consume the only handle; reuseids=0 keeps other ids stable.
        unsafe { ffi::repo_free(self.raw.as_ptr(), 0) }
    }
}
