//! Link the *system* libsolv + libsolvext (RPM flavour) and never a bundled copy: if pkg-config
//! cannot find them the build stops with an explanation (PLATFORM.md: libsolv-sys silently falls
//! back to a Debian-only build without the rpmmd/repomd readers, which we must not repeat).
//!
//! Also compiles `csrc/shim.c` (accessors for struct fields and `static inline` helpers) and
//! generates `consts.rs` by compiling and running a probe against the installed headers, so every
//! flag and known id kiln uses has the value of the library it links.

use std::path::PathBuf;
use std::process::Command;

const CONSTS: &[&str] = &[
    "DISTTYPE_RPM",
    "REPO_EXTEND_SOLVABLES",
    "REPO_NO_INTERNALIZE",
    "REPO_LOCALPOOL",
    "SOLVER_SOLVABLE",
    "SOLVER_SOLVABLE_NAME",
    "SOLVER_SOLVABLE_PROVIDES",
    "SOLVER_SOLVABLE_ONE_OF",
    "SOLVER_SOLVABLE_REPO",
    "SOLVER_SOLVABLE_ALL",
    "SOLVER_SELECTMASK",
    "SOLVER_NOOP",
    "SOLVER_INSTALL",
    "SOLVER_ERASE",
    "SOLVER_LOCK",
    "SOLVER_MULTIVERSION",
    "SOLVER_FAVOR",
    "SOLVER_DISFAVOR",
    "SOLVER_EXCLUDEFROMWEAK",
    "SOLVER_JOBMASK",
    "SOLVER_WEAK",
    "SOLVER_FORCEBEST",
    "SOLVER_SETARCH",
    "SOLVER_SETEVR",
    "SOLVER_SOLUTION_JOB",
    "SOLVER_SOLUTION_POOLJOB",
    "SOLVER_SOLUTION_INFARCH",
    "SOLVER_SOLUTION_DISTUPGRADE",
    "SOLVER_SOLUTION_BEST",
    "SOLVER_FLAG_IGNORE_RECOMMENDED",
    "SOLVER_FLAG_BEST_OBEY_POLICY",
    "SOLVER_FLAG_YUM_OBSOLETES",
    "SOLVER_FLAG_ALLOW_VENDORCHANGE",
    "SOLVER_FLAG_INSTALL_ALSO_UPDATES",
    "SOLVER_TRANSACTION_INSTALL",
    "SOLVER_TRANSACTION_MULTIINSTALL",
    "SOLVER_TRANSACTION_SHOW_ACTIVE",
    "SOLVER_TRANSACTION_SHOW_ALL",
    "SOLVER_RULE_TYPEMASK",
    "SOLVER_RULE_PKG",
    "SOLVER_RULE_PKG_NOT_INSTALLABLE",
    "SOLVER_RULE_PKG_NOTHING_PROVIDES_DEP",
    "SOLVER_RULE_PKG_REQUIRES",
    "SOLVER_RULE_PKG_SELF_CONFLICT",
    "SOLVER_RULE_PKG_CONFLICTS",
    "SOLVER_RULE_PKG_SAME_NAME",
    "SOLVER_RULE_PKG_OBSOLETES",
    "SOLVER_RULE_PKG_IMPLICIT_OBSOLETES",
    "SOLVER_RULE_PKG_INSTALLED_OBSOLETES",
    "SOLVER_RULE_JOB",
    "SOLVER_RULE_JOB_NOTHING_PROVIDES_DEP",
    "SOLVER_RULE_JOB_UNKNOWN_PACKAGE",
    "SOLVER_RULE_JOB_UNSUPPORTED",
    "SOLVER_RULE_INFARCH",
    "SOLVER_RULE_BEST",
    "SOLVER_RULE_LEARNT",
    "SELECTION_NAME",
    "SELECTION_PROVIDES",
    "SELECTION_FILELIST",
    "SELECTION_CANON",
    "SELECTION_DOTARCH",
    "SELECTION_REL",
    "SELECTION_GLOB",
    "SELECTION_NOCASE",
    "SELECTION_FLAT",
    "SELECTION_SKIP_KIND",
    "SELECTION_WITH_SOURCE",
    "SELECTION_WITH_DISABLED",
    "SELECTION_WITH_BADARCH",
    "SELECTION_WITH_ALL",
    "SOLV_FATAL",
    "SOLV_ERROR",
    "SOLV_WARN",
    "SOLV_DEBUG_RESULT",
    "SOLVABLE_NAME",
    "SOLVABLE_ARCH",
    "SOLVABLE_EVR",
    "SOLVABLE_CHECKSUM",
    "SOLVABLE_DOWNLOADSIZE",
    "SOLVABLE_INSTALLSIZE",
    "SOLVABLE_PKGID",
    "SOLVABLE_SOURCENAME",
    "SOLVABLE_OBSOLETES",
    "REPOSITORY_REPOMD_CHECKSUM",
    "POOL_FLAG_IMPLICITOBSOLETEUSESCOLORS",
    "POOL_FLAG_WHATPROVIDESWITHDISABLED",
    "TESTCASE_RESULT_TRANSACTION",
    "TESTCASE_RESULT_PROBLEMS",
    "TESTCASE_RESULT_REUSE_SOLVER",
];

const HEADERS: &str = r#"
#include <stdio.h>
#include <solv/pool.h>
#include <solv/poolarch.h>
#include <solv/repo.h>
#include <solv/solver.h>
#include <solv/selection.h>
#include <solv/transaction.h>
#include <solv/knownid.h>
#include <solv/testcase.h>
"#;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=csrc/shim.c");
    let mut include = Vec::new();
    for lib in ["libsolv", "libsolvext"] {
        match pkg_config::Config::new()
            .atleast_version("0.7.0")
            .probe(lib)
        {
            Ok(l) => include.extend(l.include_paths),
            Err(e) => panic!(
                "\n\nkiln-solver needs the system {lib} (RPM-enabled libsolv >= 0.7) found by \
                 pkg-config, and refuses to build a bundled copy.\n  Debian/Ubuntu: apt-get \
                 install libsolv-dev libsolvext-dev pkg-config\n  Fedora: dnf install \
                 libsolv-devel pkgconf-pkg-config\npkg-config said: {e}\n"
            ),
        }
    }
    // The ext library needs its compression/xml deps when linked statically; the shared one
    // carries them. Nothing more to add.
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));

    let mut b = cc::Build::new();
    b.file("csrc/shim.c").warnings(true);
    for i in &include {
        b.include(i);
    }
    b.compile("kilnsolvshim");

    // Probe program: prints every constant as Rust.
    let mut src = String::from(HEADERS);
    src.push_str("int main(void) {\n");
    for c in CONSTS {
        src.push_str(&format!(
            "  printf(\"/// `{c}` from the installed headers.\\npub const {c}: i32 = %d;\\n\", (int)({c}));\n"
        ));
    }
    src.push_str(
        "  printf(\"/// `sizeof(Queue)`.\\npub const SIZEOF_QUEUE: usize = %d;\\n\", (int)sizeof(Queue));\n",
    );
    src.push_str("  return 0;\n}\n");
    let probe_c = out.join("probe.c");
    std::fs::write(&probe_c, src).expect("write probe.c");
    let probe_bin = out.join("probe");
    let compiler = cc::Build::new().get_compiler();
    let mut cmd = compiler.to_command();
    for i in &include {
        cmd.arg("-I").arg(i);
    }
    cmd.arg(&probe_c).arg("-o").arg(&probe_bin);
    let st = cmd
        .status()
        .expect("run the C compiler for the libsolv constants probe");
    assert!(
        st.success(),
        "compiling the libsolv constants probe failed: are the libsolv headers installed?"
    );
    let o = Command::new(&probe_bin)
        .output()
        .expect("run the libsolv constants probe");
    assert!(o.status.success(), "the libsolv constants probe failed");
    std::fs::write(out.join("consts.rs"), o.stdout).expect("write consts.rs");
}
