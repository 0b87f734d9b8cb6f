//! `Pool`: the string/solvable store everything else hangs off. Created with RPM version
//! semantics (Debian's libsolv defaults to Debian's) and a target architecture policy.

use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int, c_void};
use std::ptr::NonNull;

use super::owned;
use super::repo::Repo;
use crate::ffi;

/// Basic ids of one solvable.
#[derive(Debug, Clone, Copy)]
pub struct SolvableIds {
    /// Name id.
    pub name: ffi::Id,
    /// Arch id.
    pub arch: ffi::Id,
    /// EVR id.
    pub evr: ffi::Id,
    /// Owning repo.
    pub repo: *mut ffi::Repo,
}

/// An owned libsolv pool. `!Send`/`!Sync`: libsolv is single-threaded.
pub struct Pool {
    raw: NonNull<ffi::Pool>,
    _not_send: PhantomData<*mut ()>,
}

/// Why a pool could not be created.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// pool_create returned NULL.
    #[error("libsolv could not allocate a pool")]
    Alloc,
    /// The linked libsolv was built without RPM version semantics.
    #[error("the linked libsolv cannot compare versions the RPM way (pool_setdisttype failed)")]
    NoRpmSemantics,
    /// An arch string with a NUL byte.
    #[error("invalid architecture `{0}`")]
    BadArch(String),
}

unsafe extern "C" fn debug_to_tracing(
    _pool: *mut ffi::Pool,
    _data: *mut c_void,
    kind: c_int,
    msg: *const c_char,
) {
    if msg.is_null() {
        return;
    }
    // SAFETY: libsolv passes a NUL-terminated message valid during the callback.
    let m = unsafe { CStr::from_ptr(msg) }.to_string_lossy();
    let m = m.trim_end();
    if kind & (ffi::SOLV_FATAL | ffi::SOLV_ERROR) != 0 {
        tracing::warn!(target: "kiln_solver::libsolv", "{m}");
    } else {
        tracing::trace!(target: "kiln_solver::libsolv", "{m}");
    }
}

impl Pool {
    /// A bare pool (libsolv's defaults), for testcases that configure it themselves.
    pub fn new_bare() -> Result<Pool, PoolError> {
        // SAFETY: pool_create has no preconditions.
        let raw = NonNull::new(unsafe { ffi::pool_create() }).ok_or(PoolError::Alloc)?;
        Ok(Pool {
            raw,
            _not_send: PhantomData,
        })
    }

    /// A pool with RPM semantics and `arch`'s policy (`aarch64` gives aarch64 + noarch).
    pub fn new(arch: &str) -> Result<Pool, PoolError> {
        let carch = CString::new(arch).map_err(|_| PoolError::BadArch(arch.into()))?;
        // SAFETY: pool_create has no preconditions.
        let raw = NonNull::new(unsafe { ffi::pool_create() }).ok_or(PoolError::Alloc)?;
        let pool = Pool {
            raw,
            _not_send: PhantomData,
        };
        // SAFETY: the pool is live; pool_setdisttype returns -1 when RPM support is absent.
        if unsafe { ffi::pool_setdisttype(pool.as_ptr(), ffi::DISTTYPE_RPM) } == -1 {
            return Err(PoolError::NoRpmSemantics);
        }
        // SAFETY: live pool, valid C string; the callback is a plain function that never unwinds.
        unsafe {
            ffi::pool_setarch(pool.as_ptr(), carch.as_ptr());
            ffi::pool_setdebugcallback(pool.as_ptr(), Some(debug_to_tracing), std::ptr::null_mut());
            ffi::pool_setdebuglevel(pool.as_ptr(), 0);
            // Like libdnf: excluded packages still show up in whatprovides so that problems can
            // name them, while the solver never installs them.
            ffi::pool_set_flag(pool.as_ptr(), ffi::POOL_FLAG_WHATPROVIDESWITHDISABLED, 1);
        }
        Ok(pool)
    }

    pub(crate) fn as_ptr(&self) -> *mut ffi::Pool {
        self.raw.as_ptr()
    }

    /// A new empty repository in this pool.
    pub fn create_repo(&self, name: &str) -> Repo<'_> {
        let c = CString::new(name.replace('\0', "")).unwrap_or_default();
        // SAFETY: live pool and valid string (libsolv copies it).
        let raw = unsafe { ffi::repo_create(self.as_ptr(), c.as_ptr()) };
        Repo::from_raw(self, raw)
    }

    /// Build the whatprovides index (after loading and after any change to what is considered).
    pub fn create_whatprovides(&self) {
        // SAFETY: live pool.
        unsafe { ffi::pool_createwhatprovides(self.as_ptr()) }
    }

    /// Add file provides needed by dependencies (call once filelists are loaded).
    pub fn add_fileprovides(&self) {
        // SAFETY: live pool.
        unsafe { ffi::pool_addfileprovides(self.as_ptr()) }
    }

    /// The string of an id.
    pub fn id2str(&self, id: ffi::Id) -> String {
        // SAFETY: live pool; the result points into the string pool and is copied at once.
        unsafe { owned(ffi::pool_id2str(self.as_ptr(), id)) }.unwrap_or_default()
    }

    /// A dependency (possibly a relation) as text.
    pub fn dep2str(&self, id: ffi::Id) -> String {
        // SAFETY: live pool; the result is in libsolv's temp space and copied at once.
        unsafe { owned(ffi::pool_dep2str(self.as_ptr(), id)) }.unwrap_or_default()
    }

    /// `name-evr.arch` of a solvable.
    pub fn solvable_str(&self, p: ffi::Id) -> String {
        if self.solvable(p).is_none() {
            return format!("<solvable {p}>");
        }
        // SAFETY: p is a valid solvable id (checked above); the text is copied at once.
        unsafe { owned(ffi::kiln_solvid2str(self.as_ptr(), p)) }.unwrap_or_default()
    }

    /// A job (how, what) as text.
    pub fn job_str(&self, how: ffi::Id, what: ffi::Id) -> String {
        // SAFETY: live pool; the text is copied at once.
        unsafe { owned(ffi::pool_job2str(self.as_ptr(), how, what, 0)) }.unwrap_or_default()
    }

    /// Number of solvable slots (ids run 2..n; 0 and 1 are reserved).
    pub fn nsolvables(&self) -> i32 {
        // SAFETY: live pool.
        unsafe { ffi::kiln_pool_nsolvables(self.as_ptr()) }
    }

    /// Ids of solvable `p`, or None if `p` is not a live solvable.
    pub fn solvable(&self, p: ffi::Id) -> Option<SolvableIds> {
        let mut s = SolvableIds {
            name: 0,
            arch: 0,
            evr: 0,
            repo: std::ptr::null_mut(),
        };
        // SAFETY: live pool; the shim bounds-checks p and writes only through our pointers.
        let ok = unsafe {
            ffi::kiln_solvable_ids(
                self.as_ptr(),
                p,
                &mut s.name,
                &mut s.arch,
                &mut s.evr,
                &mut s.repo,
            )
        };
        (ok != 0).then_some(s)
    }

    /// Whether the solver may install `p` (arch policy, not excluded).
    pub fn installable(&self, p: ffi::Id) -> bool {
        // SAFETY: p validated by `solvable` first.
        self.solvable(p).is_some()
            && unsafe { ffi::kiln_solvable_installable(self.as_ptr(), p) } != 0
    }

    /// Name of the repo a solvable came from.
    pub fn solvable_repo_name(&self, p: ffi::Id) -> String {
        match self.solvable(p) {
            Some(s) if !s.repo.is_null() => {
                // SAFETY: the repo pointer comes from a live solvable of this pool.
                unsafe { owned(ffi::kiln_repo_name(s.repo)) }.unwrap_or_default()
            }
            _ => String::new(),
        }
    }

    /// Package location (href) relative to the repo base.
    pub fn solvable_location(&self, p: ffi::Id) -> Option<String> {
        self.solvable(p)?;
        // SAFETY: valid solvable; the text is copied at once.
        unsafe { owned(ffi::kiln_solvable_location(self.as_ptr(), p)) }
    }

    /// (type, hex) checksum from primary.
    pub fn solvable_checksum(&self, p: ffi::Id) -> Option<(String, String)> {
        self.solvable(p)?;
        let mut kind: *const c_char = std::ptr::null();
        // SAFETY: valid solvable; both strings are copied at once.
        let sum = unsafe { owned(ffi::kiln_solvable_checksum(self.as_ptr(), p, &mut kind)) }?;
        // SAFETY: `kind` is NULL or a static string from solv_chksum_type2str.
        let kind = unsafe { owned(kind) }.unwrap_or_default();
        Some((kind, sum))
    }

    /// A numeric attribute (0 when absent).
    pub fn solvable_num(&self, p: ffi::Id, key: ffi::Id) -> u64 {
        if self.solvable(p).is_none() {
            return 0;
        }
        // SAFETY: valid solvable.
        unsafe { ffi::kiln_solvable_num(self.as_ptr(), p, key) }
    }

    /// Hide a solvable from the solver (size the map after all repos are loaded).
    pub fn disable(&self, p: ffi::Id) {
        // SAFETY: live pool; the shim bounds-checks p.
        unsafe { ffi::kiln_pool_disable(self.as_ptr(), p) }
    }

    /// Make every solvable visible again.
    pub fn reset_disabled(&self) {
        // SAFETY: live pool; frees only the map kiln_pool_disable allocated.
        unsafe { ffi::kiln_pool_reset_considered(self.as_ptr()) }
    }

    /// A whatprovides id standing for "one of these solvables" (for SOLVER_SOLVABLE_ONE_OF).
    pub fn one_of(&self, ids: &[ffi::Id]) -> ffi::Id {
        let mut q = super::queue::Queue::new();
        for &p in ids {
            q.push(p);
        }
        // SAFETY: live pool with whatprovides built; valid queue.
        unsafe { ffi::pool_queuetowhatprovides(self.as_ptr(), q.as_mut_ptr()) }
    }

    /// Whether hidden by [`Pool::disable`].
    pub fn is_disabled(&self, p: ffi::Id) -> bool {
        // SAFETY: live pool; the shim bounds-checks p.
        unsafe { ffi::kiln_pool_disabled(self.as_ptr(), p) != 0 }
    }

    /// rpm-style EVR comparison (-1, 0, 1).
    pub fn evrcmp(&self, a: &str, b: &str) -> std::cmp::Ordering {
        let (Ok(ca), Ok(cb)) = (CString::new(a), CString::new(b)) else {
            return a.cmp(b);
        };
        // SAFETY: live pool, valid strings; mode 0 = EVRCMP_COMPARE.
        let r = unsafe { ffi::pool_evrcmp_str(self.as_ptr(), ca.as_ptr(), cb.as_ptr(), 0) };
        r.cmp(&0)
    }

    /// An id for a string (created if new).
    pub fn str2id(&self, s: &str) -> ffi::Id {
        let Ok(c) = CString::new(s) else { return 0 };
        // SAFETY: live pool, valid string.
        unsafe { ffi::pool_str2id(self.as_ptr(), c.as_ptr(), 1) }
    }

    /// libsolv's last error message.
    pub fn errstr(&self) -> String {
        // SAFETY: live pool; the message is copied at once.
        unsafe { owned(ffi::pool_errstr(self.as_ptr())) }.unwrap_or_default()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // SAFETY: we own the pool; children borrow it so none is alive; freed once.
        unsafe { ffi::pool_free(self.raw.as_ptr()) }
    }
}
