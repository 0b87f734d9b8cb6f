//! Hand-declared bindings to the system libsolv/libsolvext (only what kiln uses) plus the C shim
//! in `csrc/shim.c`. Constants are generated at build time from the installed headers
//! (`build.rs`), so there is no bindgen and no bundled library.
#![allow(missing_docs, non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_uint, c_ulonglong, c_void};

include!(concat!(env!("OUT_DIR"), "/consts.rs"));

/// libsolv's `Id`.
pub type Id = c_int;

/// Opaque `Pool`.
#[repr(C)]
pub struct Pool {
    _p: [u8; 0],
}
/// Opaque `Repo`.
#[repr(C)]
pub struct Repo {
    _p: [u8; 0],
}
/// Opaque `Solver`.
#[repr(C)]
pub struct Solver {
    _p: [u8; 0],
}
/// Opaque `Transaction`.
#[repr(C)]
pub struct Transaction {
    _p: [u8; 0],
}
/// Opaque C `FILE`.
#[repr(C)]
pub struct FILE {
    _p: [u8; 0],
}

/// `Queue` (queue.h): layout checked against `sizeof(Queue)` below.
#[repr(C)]
pub struct Queue {
    pub elements: *mut Id,
    pub count: c_int,
    pub alloc: *mut Id,
    pub left: c_int,
}

const _: () = assert!(std::mem::size_of::<Queue>() == SIZEOF_QUEUE);

pub type DebugCallback =
    unsafe extern "C" fn(pool: *mut Pool, data: *mut c_void, kind: c_int, msg: *const c_char);

#[link(name = "solvext")]
#[link(name = "solv")]
extern "C" {
    pub fn pool_create() -> *mut Pool;
    pub fn pool_free(pool: *mut Pool);
    pub fn pool_setdisttype(pool: *mut Pool, disttype: c_int) -> c_int;
    pub fn pool_setarch(pool: *mut Pool, arch: *const c_char);
    pub fn pool_set_flag(pool: *mut Pool, flag: c_int, value: c_int) -> c_int;
    pub fn pool_setdebuglevel(pool: *mut Pool, level: c_int);
    pub fn pool_setdebugcallback(pool: *mut Pool, cb: Option<DebugCallback>, data: *mut c_void);
    pub fn pool_createwhatprovides(pool: *mut Pool);
    pub fn pool_queuetowhatprovides(pool: *mut Pool, q: *mut Queue) -> Id;
    pub fn pool_addfileprovides(pool: *mut Pool);
    pub fn pool_str2id(pool: *mut Pool, s: *const c_char, create: c_int) -> Id;
    pub fn pool_id2str(pool: *const Pool, id: Id) -> *const c_char;
    pub fn pool_dep2str(pool: *mut Pool, id: Id) -> *const c_char;
    pub fn pool_evrcmp_str(
        pool: *const Pool,
        a: *const c_char,
        b: *const c_char,
        mode: c_int,
    ) -> c_int;
    pub fn pool_job2str(pool: *mut Pool, how: Id, what: Id, flagmask: Id) -> *const c_char;

    pub fn repo_create(pool: *mut Pool, name: *const c_char) -> *mut Repo;
    pub fn repo_free(repo: *mut Repo, reuseids: c_int);
    pub fn repo_internalize(repo: *mut Repo);
    pub fn repo_add_solv(repo: *mut Repo, fp: *mut FILE, flags: c_int) -> c_int;
    pub fn repo_write(repo: *mut Repo, fp: *mut FILE) -> c_int;
    pub fn repo_add_rpmmd(
        repo: *mut Repo,
        fp: *mut FILE,
        language: *const c_char,
        flags: c_int,
    ) -> c_int;
    pub fn repo_add_repomdxml(repo: *mut Repo, fp: *mut FILE, flags: c_int) -> c_int;
    pub fn pool_errstr(pool: *mut Pool) -> *const c_char;

    pub fn solv_xfopen(path: *const c_char, mode: *const c_char) -> *mut FILE;

    pub fn queue_init(q: *mut Queue);
    pub fn queue_free(q: *mut Queue);

    pub fn selection_make(
        pool: *mut Pool,
        sel: *mut Queue,
        name: *const c_char,
        flags: c_int,
    ) -> c_int;
    pub fn selection_make_matchsolvablelist(
        pool: *mut Pool,
        sel: *mut Queue,
        solvids: *mut Queue,
        flags: c_int,
        keyname: c_int,
        marker: c_int,
    ) -> c_int;
    pub fn selection_solvables(pool: *mut Pool, sel: *mut Queue, pkgs: *mut Queue);

    pub fn solver_create(pool: *mut Pool) -> *mut Solver;
    pub fn solver_free(solv: *mut Solver);
    pub fn solver_set_flag(solv: *mut Solver, flag: c_int, value: c_int) -> c_int;
    pub fn solver_solve(solv: *mut Solver, job: *mut Queue) -> c_int;
    pub fn solver_create_transaction(solv: *mut Solver) -> *mut Transaction;
    pub fn solver_problem_count(solv: *mut Solver) -> c_uint;
    pub fn solver_findproblemrule(solv: *mut Solver, problem: Id) -> Id;
    pub fn solver_findallproblemrules(solv: *mut Solver, problem: Id, rules: *mut Queue);
    pub fn solver_ruleinfo(
        solv: *mut Solver,
        rid: Id,
        fromp: *mut Id,
        top: *mut Id,
        depp: *mut Id,
    ) -> c_int;
    pub fn solver_problemruleinfo2str(
        solv: *mut Solver,
        kind: c_int,
        source: Id,
        target: Id,
        dep: Id,
    ) -> *const c_char;
    pub fn solver_rule2jobidx(solv: *mut Solver, rid: Id) -> c_int;
    pub fn solver_problem2str(solv: *mut Solver, problem: Id) -> *const c_char;
    pub fn solver_solution_count(solv: *mut Solver, problem: Id) -> c_uint;
    pub fn solver_next_solutionelement(
        solv: *mut Solver,
        problem: Id,
        solution: Id,
        element: Id,
        p: *mut Id,
        rp: *mut Id,
    ) -> Id;
    pub fn solver_solutionelement2str(solv: *mut Solver, p: Id, rp: Id) -> *const c_char;

    pub fn transaction_free(t: *mut Transaction);
    pub fn transaction_order(t: *mut Transaction, flags: c_int);
    pub fn transaction_type(t: *mut Transaction, p: Id, mode: c_int) -> Id;

    pub fn testcase_read(
        pool: *mut Pool,
        fp: *mut FILE,
        testcase: *const c_char,
        job: *mut Queue,
        resultp: *mut *mut c_char,
        resultflagsp: *mut c_int,
    ) -> *mut Solver;
    pub fn testcase_solverresult(solv: *mut Solver, flags: c_int) -> *mut c_char;
    pub fn testcase_resultdiff(a: *const c_char, b: *const c_char) -> *mut c_char;
}

// csrc/shim.c
extern "C" {
    pub fn kiln_queue_push(q: *mut Queue, id: Id);
    pub fn kiln_queue_push2(q: *mut Queue, a: Id, b: Id);
    pub fn kiln_queue_empty(q: *mut Queue);
    pub fn kiln_pool_nsolvables(pool: *const Pool) -> c_int;
    pub fn kiln_solvable_ids(
        pool: *const Pool,
        p: Id,
        name: *mut Id,
        arch: *mut Id,
        evr: *mut Id,
        repo: *mut *mut Repo,
    ) -> c_int;
    pub fn kiln_solvable_installable(pool: *mut Pool, p: Id) -> c_int;
    pub fn kiln_solvable_location(pool: *mut Pool, p: Id) -> *const c_char;
    pub fn kiln_solvable_checksum(
        pool: *mut Pool,
        p: Id,
        kind: *mut *const c_char,
    ) -> *const c_char;
    pub fn kiln_solvable_num(pool: *mut Pool, p: Id, key: Id) -> c_ulonglong;
    pub fn kiln_repo_name(r: *const Repo) -> *const c_char;
    pub fn kiln_repo_id(r: *const Repo) -> Id;
    pub fn kiln_repo_bounds(r: *const Repo, start: *mut Id, end: *mut Id);
    pub fn kiln_repo_set_priority(r: *mut Repo, priority: c_int, subpriority: c_int);
    pub fn kiln_pool_disable(pool: *mut Pool, p: Id);
    pub fn kiln_pool_reset_considered(pool: *mut Pool);
    pub fn kiln_pool_disabled(pool: *const Pool, p: Id) -> c_int;
    pub fn kiln_transaction_steps(t: *const Transaction) -> *const Queue;
    pub fn kiln_fopen(path: *const c_char, mode: *const c_char) -> *mut FILE;
    pub fn kiln_fclose(f: *mut FILE) -> c_int;
    pub fn kiln_free(p: *mut c_void);
    pub fn kiln_solvid2str(pool: *mut Pool, p: Id) -> *const c_char;
}
