//! `Transaction`: the solver's result as install steps, ordered the way rpm orders them.

use std::marker::PhantomData;
use std::ptr::NonNull;

use super::queue::Queue;
use super::solver::Solver;
use crate::ffi;

/// A transaction borrowed from its solver's pool.
pub struct Transaction<'s> {
    raw: NonNull<ffi::Transaction>,
    _s: PhantomData<&'s Solver<'s>>,
}

impl<'s> Transaction<'s> {
    pub(crate) fn from_raw(raw: *mut ffi::Transaction) -> Option<Transaction<'s>> {
        NonNull::new(raw).map(|raw| Transaction {
            raw,
            _s: PhantomData,
        })
    }

    /// Order the steps (libsolv's `transaction_order`: prerequisites first, cycles broken as rpm).
    pub fn order(&mut self) {
        // SAFETY: live transaction, exclusively borrowed.
        unsafe { ffi::transaction_order(self.raw.as_ptr(), 0) }
    }

    /// Solvables to install, in step order.
    pub fn installs(&self) -> Vec<ffi::Id> {
        // SAFETY: live transaction; the steps queue is copied before any further call.
        let steps = unsafe { Queue::copy_from_raw(ffi::kiln_transaction_steps(self.raw.as_ptr())) };
        steps
            .into_iter()
            .filter(|&p| {
                // SAFETY: live transaction; p is one of its steps.
                let t = unsafe {
                    ffi::transaction_type(self.raw.as_ptr(), p, ffi::SOLVER_TRANSACTION_SHOW_ACTIVE)
                };
                t == ffi::SOLVER_TRANSACTION_INSTALL || t == ffi::SOLVER_TRANSACTION_MULTIINSTALL
            })
            .collect()
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe { ffi::transaction_free(self.raw.as_ptr()) }
    }
}
