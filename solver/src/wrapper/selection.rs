//! Selections: libsolv's matching of a user string (name, glob, name.arch, provides, file) to
//! (how, what) job pairs.

use std::ffi::CString;

use super::pool::Pool;
use super::queue::Queue;
use crate::ffi;

/// The flags dnf effectively uses for a package spec: name, then provides, then file list; globs,
/// `name.arch` and `name-version-release` forms.
pub fn default_flags(spec: &str) -> i32 {
    let mut f = ffi::SELECTION_NAME
        | ffi::SELECTION_PROVIDES
        | ffi::SELECTION_GLOB
        | ffi::SELECTION_DOTARCH
        | ffi::SELECTION_CANON
        | ffi::SELECTION_REL;
    if spec.starts_with('/') {
        f |= ffi::SELECTION_FILELIST;
    }
    f
}

/// Select by `spec`; returns the (how, what) pairs (empty when nothing matches).
pub fn select(pool: &Pool, spec: &str, flags: i32) -> Queue {
    let mut q = Queue::new();
    let Ok(c) = CString::new(spec) else { return q };
    // SAFETY: live pool (whatprovides must exist, which callers ensure), valid string and queue.
    unsafe { ffi::selection_make(pool.as_ptr(), q.as_mut_ptr(), c.as_ptr(), flags) };
    q
}

/// The solvables a selection covers.
pub fn solvables(pool: &Pool, sel: &mut Queue) -> Vec<ffi::Id> {
    let mut out = Queue::new();
    // SAFETY: live pool and two valid queues.
    unsafe { ffi::selection_solvables(pool.as_ptr(), sel.as_mut_ptr(), out.as_mut_ptr()) };
    out.as_slice().to_vec()
}

/// Solvables whose `keyname` dependencies (e.g. SOLVABLE_OBSOLETES) match any of `ids`.
pub fn matching_deps(pool: &Pool, ids: &[ffi::Id], keyname: i32) -> Vec<ffi::Id> {
    let mut list = Queue::new();
    for &p in ids {
        list.push(p);
    }
    let mut sel = Queue::new();
    // SAFETY: live pool with whatprovides; valid queues; marker 0 = all deps of that key.
    unsafe {
        ffi::selection_make_matchsolvablelist(
            pool.as_ptr(),
            sel.as_mut_ptr(),
            list.as_mut_ptr(),
            0,
            keyname,
            0,
        )
    };
    solvables(pool, &mut sel)
}
