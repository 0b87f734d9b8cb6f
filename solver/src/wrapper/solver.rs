//! `Solver`: runs a job queue against the pool and explains failures.

use std::marker::PhantomData;
use std::ptr::NonNull;

use super::owned;
use super::pool::Pool;
use super::queue::Queue;
use super::transaction::Transaction;
use crate::ffi;

/// A solver borrowing its pool.
pub struct Solver<'p> {
    raw: NonNull<ffi::Solver>,
    _p: PhantomData<&'p Pool>,
}

/// One rule taking part in a problem, as libsolv describes it.
#[derive(Debug, Clone)]
pub struct RawRule {
    /// `SolverRuleinfo` value.
    pub kind: i32,
    /// Source solvable (0 if none).
    pub source: ffi::Id,
    /// Target solvable (0 if none).
    pub target: ffi::Id,
    /// Dependency id (0 if none).
    pub dep: ffi::Id,
    /// Index into the job queue for job rules.
    pub job_index: Option<usize>,
    /// libsolv's sentence for the rule.
    pub text: String,
}

impl<'p> Solver<'p> {
    /// A solver for `pool` (whatprovides must be built).
    pub fn new(pool: &'p Pool) -> Solver<'p> {
        // SAFETY: live pool; solver_create aborts rather than return NULL on OOM.
        let raw = unsafe { ffi::solver_create(pool.as_ptr()) };
        Solver {
            raw: NonNull::new(raw).expect("solver_create returned NULL"),
            _p: PhantomData,
        }
    }

    pub(crate) fn from_raw(raw: *mut ffi::Solver) -> Option<Solver<'p>> {
        NonNull::new(raw).map(|raw| Solver {
            raw,
            _p: PhantomData,
        })
    }

    pub(crate) fn as_raw(&self) -> *mut ffi::Solver {
        self.raw.as_ptr()
    }

    fn ptr(&self) -> *mut ffi::Solver {
        self.raw.as_ptr()
    }

    /// Set a `SOLVER_FLAG_*`.
    pub fn set_flag(&mut self, flag: i32, on: bool) {
        // SAFETY: live solver.
        unsafe { ffi::solver_set_flag(self.ptr(), flag, on as i32) };
    }

    /// Solve; returns the number of problems (0 = solved).
    pub fn solve(&mut self, jobs: &mut Queue) -> usize {
        // SAFETY: live solver and a valid job queue (libsolv may append to it).
        unsafe { ffi::solver_solve(self.ptr(), jobs.as_mut_ptr()) as usize }
    }

    /// The transaction after a successful solve.
    pub fn transaction(&self) -> Option<Transaction<'_>> {
        // SAFETY: live solver that has solved.
        Transaction::from_raw(unsafe { ffi::solver_create_transaction(self.ptr()) })
    }

    /// libsolv's one-line summary of problem `problem` (1-based).
    pub fn problem_str(&self, problem: ffi::Id) -> String {
        // SAFETY: live solver; problem ids are 1..=count; text copied at once.
        unsafe { owned(ffi::solver_problem2str(self.ptr(), problem)) }.unwrap_or_default()
    }

    /// Every rule involved in problem `problem` (1-based).
    pub fn problem_rules(&self, problem: ffi::Id) -> Vec<RawRule> {
        let mut q = Queue::new();
        // SAFETY: live solver, valid queue.
        unsafe { ffi::solver_findallproblemrules(self.ptr(), problem, q.as_mut_ptr()) };
        q.as_slice()
            .iter()
            .map(|&rid| {
                let (mut s, mut t, mut d) = (0, 0, 0);
                // SAFETY: rid comes from libsolv for this solver; outputs are plain ints.
                let kind = unsafe { ffi::solver_ruleinfo(self.ptr(), rid, &mut s, &mut t, &mut d) };
                let job_index = if kind & ffi::SOLVER_RULE_TYPEMASK == ffi::SOLVER_RULE_JOB {
                    // SAFETY: a job rule of this solver.
                    let j = unsafe { ffi::solver_rule2jobidx(self.ptr(), rid) };
                    (j >= 0).then_some(j as usize)
                } else {
                    None
                };
                // SAFETY: values from solver_ruleinfo; text copied at once.
                let text =
                    unsafe { owned(ffi::solver_problemruleinfo2str(self.ptr(), kind, s, t, d)) }
                        .unwrap_or_default();
                RawRule {
                    kind,
                    source: s,
                    target: t,
                    dep: d,
                    job_index,
                    text,
                }
            })
            .collect()
    }

    /// libsolv's proposed solutions for a problem: each a list of sentences.
    pub fn solutions(&self, problem: ffi::Id) -> Vec<Vec<String>> {
        // SAFETY: live solver.
        let n = unsafe { ffi::solver_solution_count(self.ptr(), problem) } as ffi::Id;
        (1..=n)
            .map(|sol| {
                let mut out = Vec::new();
                let mut el = 0;
                loop {
                    let (mut p, mut rp) = (0, 0);
                    // SAFETY: iterating elements of a valid (problem, solution) pair.
                    el = unsafe {
                        ffi::solver_next_solutionelement(
                            self.ptr(),
                            problem,
                            sol,
                            el,
                            &mut p,
                            &mut rp,
                        )
                    };
                    if el == 0 {
                        break;
                    }
                    // SAFETY: (p, rp) from libsolv; text copied at once.
                    let text = unsafe { owned(ffi::solver_solutionelement2str(self.ptr(), p, rp)) };
                    out.extend(text);
                }
                out
            })
            .collect()
    }
}

impl Drop for Solver<'_> {
    fn drop(&mut self) {
        // SAFETY: owned, freed once; transactions borrow the solver so none is alive.
        unsafe { ffi::solver_free(self.raw.as_ptr()) }
    }
}
