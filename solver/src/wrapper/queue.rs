//! `Queue`: libsolv's growable `Id` array, used for jobs, selections and results.

use crate::ffi;

/// An owned libsolv queue, freed on drop.
pub struct Queue {
    raw: ffi::Queue,
}

impl Default for Queue {
    fn default() -> Self {
        Queue::new()
    }
}

impl Queue {
    /// An empty queue.
    pub fn new() -> Queue {
        let mut raw = ffi::Queue {
            elements: std::ptr::null_mut(),
            count: 0,
            alloc: std::ptr::null_mut(),
            left: 0,
        };
        // SAFETY: queue_init only writes the fields of the struct we pass.
        unsafe { ffi::queue_init(&mut raw) };
        Queue { raw }
    }

    /// Append one id.
    pub fn push(&mut self, id: ffi::Id) {
        // SAFETY: the queue was initialised by queue_init and is exclusively borrowed.
        unsafe { ffi::kiln_queue_push(&mut self.raw, id) }
    }

    /// Append a (how, what) pair.
    pub fn push2(&mut self, a: ffi::Id, b: ffi::Id) {
        // SAFETY: as in `push`.
        unsafe { ffi::kiln_queue_push2(&mut self.raw, a, b) }
    }

    /// Remove every element.
    pub fn clear(&mut self) {
        // SAFETY: as in `push`.
        unsafe { ffi::kiln_queue_empty(&mut self.raw) }
    }

    /// The elements.
    pub fn as_slice(&self) -> &[ffi::Id] {
        if self.raw.count <= 0 || self.raw.elements.is_null() {
            return &[];
        }
        // SAFETY: libsolv keeps `count` initialised ids at `elements`; the slice borrows self, so
        // no push (which may reallocate) can happen while it lives.
        unsafe { std::slice::from_raw_parts(self.raw.elements, self.raw.count as usize) }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut ffi::Queue {
        &mut self.raw
    }

    /// Copy a libsolv-owned queue (e.g. a transaction's steps).
    ///
    /// # Safety
    /// `q` must point at an initialised queue that stays valid during the call.
    pub(crate) unsafe fn copy_from_raw(q: *const ffi::Queue) -> Vec<ffi::Id> {
        // SAFETY: the caller guarantees `q` is valid; we read its fields and elements only.
        let q = unsafe { &*q };
        if q.count <= 0 || q.elements.is_null() {
            return Vec::new();
        }
        // SAFETY: `count` initialised ids live at `elements` (queue invariant).
        unsafe { std::slice::from_raw_parts(q.elements, q.count as usize) }.to_vec()
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: initialised by queue_init; freed exactly once here.
        unsafe { ffi::queue_free(&mut self.raw) }
    }
}
