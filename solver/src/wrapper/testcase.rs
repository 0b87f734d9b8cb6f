//! libsolv testcases (`testsolv` files): read one into a fresh pool, solve, and compare with the
//! expected result. Used to check this wrapper against libsolv's own test suite.

use std::ffi::CString;
use std::path::Path;

use super::file::CFile;
use super::owned;
use super::pool::Pool;
use super::queue::Queue;
use super::solver::Solver;
use crate::ffi;

/// Outcome of one testcase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestcaseOutcome {
    /// The result equals the expected one.
    Pass,
    /// It differs (libsolv's diff).
    Fail(String),
    /// The file has no result section to compare.
    NoResult,
    /// testcase_read rejected the file.
    Unreadable,
}

fn take_cstring(p: *mut std::os::raw::c_char) -> Option<String> {
    // SAFETY: p is NULL or a malloc'ed NUL-terminated string from libsolv that we own.
    let s = unsafe { owned(p) };
    if !p.is_null() {
        // SAFETY: allocated by libsolv with malloc; freed once.
        unsafe { ffi::kiln_free(p.cast()) };
    }
    s
}

/// Run one testcase file as `testsolv` does (without its -r/-l modes).
pub fn run(path: &Path) -> std::io::Result<TestcaseOutcome> {
    let pool = Pool::new_bare().map_err(std::io::Error::other)?;
    let f = CFile::open(path, c"r")?;
    let name = CString::new(path.display().to_string()).unwrap_or_default();
    let mut job = Queue::new();
    let mut result: *mut std::os::raw::c_char = std::ptr::null_mut();
    let mut resultflags = 0;
    // SAFETY: live pool, open stream, valid name, queue and out-pointers.
    let raw = unsafe {
        ffi::testcase_read(
            pool.as_ptr(),
            f.as_ptr(),
            name.as_ptr(),
            job.as_mut_ptr(),
            &mut result,
            &mut resultflags,
        )
    };
    drop(f);
    let expected = take_cstring(result);
    let Some(mut solver) = Solver::from_raw(raw) else {
        return Ok(TestcaseOutcome::Unreadable);
    };
    let Some(expected) = expected else {
        return Ok(TestcaseOutcome::NoResult);
    };
    solver.solve(&mut job);
    // SAFETY: a live solver that has solved; the result string is ours to free.
    let got = take_cstring(unsafe { ffi::testcase_solverresult(solver_ptr(&solver), resultflags) })
        .unwrap_or_default();
    if got == expected {
        return Ok(TestcaseOutcome::Pass);
    }
    let (Ok(a), Ok(b)) = (CString::new(expected.clone()), CString::new(got.clone())) else {
        return Ok(TestcaseOutcome::Fail(format!(
            "expected:\n{expected}\ngot:\n{got}"
        )));
    };
    // SAFETY: valid strings; the diff is ours to free.
    let diff = take_cstring(unsafe { ffi::testcase_resultdiff(a.as_ptr(), b.as_ptr()) });
    // libsolv's diff ignores ordering and whitespace details that plain equality does not.
    match diff {
        Some(d) if !d.trim().is_empty() => Ok(TestcaseOutcome::Fail(d)),
        _ => Ok(TestcaseOutcome::Pass),
    }
}

fn solver_ptr(s: &Solver<'_>) -> *mut ffi::Solver {
    s.as_raw()
}
