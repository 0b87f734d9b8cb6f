//! RAII wrappers over libsolv, one file per C type. Every wrapper owns a non-null pointer; children
//! (repos, solvers, transactions) borrow their parent so they cannot outlive it, and the pool is
//! `!Send` because libsolv is not thread-safe. Strings coming out of libsolv are copied at once:
//! libsolv reuses its temporary string space.

pub mod file;
pub mod pool;
pub mod queue;
pub mod repo;
pub mod selection;
pub mod solver;
pub mod testcase;
pub mod transaction;

use std::ffi::CStr;
use std::os::raw::c_char;

/// Copy a C string owned by libsolv (None for NULL).
///
/// # Safety
/// `p` must be NULL or point at a NUL-terminated string valid for the duration of the call.
pub(crate) unsafe fn owned(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        // SAFETY: non-null and NUL-terminated per this function's contract.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
}
