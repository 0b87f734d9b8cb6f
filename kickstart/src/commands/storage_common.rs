//! Pieces shared by the storage commands (`part`, `raid`, `logvol`, `volgroup`, `btrfs`,
//! `stratisfs`, `stratispool`): the option groups they have in common (filesystem, size and
//! LUKS encryption options), reading them back from a [`Namespace`], the checks pykickstart
//! applies to them, and the pieces of their `__str__` output.

use crate::error::KsError;
use crate::options::{Arg, Namespace, OptParser, Ty};

/// A string option's value, `""` when unset (pykickstart data objects default to `""`).
pub fn ns_string(ns: &Namespace, dest: &str) -> String {
    ns.str(dest).unwrap_or_default()
}

/// An integer option's value, `0` when unset.
pub fn ns_int0(ns: &Namespace, dest: &str) -> i64 {
    ns.int(dest).unwrap_or(0)
}

/// Appends ` --name="value"` (pykickstart quotes these values with plain double quotes) when
/// `value` is not empty.
pub fn push_quoted(out: &mut String, name: &str, value: &str) {
    if !value.is_empty() {
        out.push_str(&format!(" --{name}=\"{value}\""));
    }
}

/// Appends ` --name=value` when `value` is not empty.
pub fn push_plain(out: &mut String, name: &str, value: &str) {
    if !value.is_empty() {
        out.push_str(&format!(" --{name}={value}"));
    }
}

/// Appends ` --name=value` when `value` is not zero.
pub fn push_int(out: &mut String, name: &str, value: i64) {
    if value != 0 {
        out.push_str(&format!(" --{name}={value}"));
    }
}

/// Appends ` --name` when `on`.
pub fn push_flag(out: &mut String, name: &str, on: bool) {
    if on {
        out.push_str(&format!(" --{name}"));
    }
}

/// `--noformat` (dest `format`, default true).
pub fn noformat_arg() -> Arg {
    Arg::flag(&["--noformat"])
        .dest("format")
        .action(crate::options::Action::StoreFalse)
        .default(crate::options::Val::Bool(true))
}

/// `--useexisting` (dest `preexist`).
pub fn useexisting_arg() -> Arg {
    Arg::flag(&["--useexisting"]).dest("preexist")
}

/// `--size`, `--grow` and `--maxsize` as `part`, `logvol` and `stratisfs` declare them.
pub fn add_size_args(op: &mut OptParser) {
    op.push(Arg::opt(&["--size"]).ty(Ty::Int));
    op.push(Arg::flag(&["--grow"]));
    op.push(Arg::opt(&["--maxsize"]).dest("maxSizeMB").ty(Ty::Int));
}

/// Filesystem creation options common to `part`, `raid` and `logvol`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct FsOptions {
    /// `--fstype`: filesystem type ("" = installer default).
    pub fstype: String,
    /// `--noformat` not given: the device is formatted.
    pub format: bool,
    /// `--fsoptions`: mount options for fstab.
    pub fsopts: String,
    /// `--fsprofile`: mkfs usage profile.
    pub fsprofile: String,
    /// `--label`: filesystem label.
    pub label: String,
    /// `--mkfsoptions`: extra mkfs arguments.
    pub mkfsopts: String,
}

impl FsOptions {
    /// Declares `--fsoptions`, `--fsprofile`, `--label` and `--mkfsoptions` (the command declares
    /// `--fstype` and `--noformat` itself, as their aliases differ).
    pub fn add_args(op: &mut OptParser) {
        op.push(Arg::opt(&["--fsoptions"]).dest("fsopts"));
        op.push(Arg::opt(&["--fsprofile"]));
        op.push(Arg::opt(&["--label"]));
        op.push(Arg::opt(&["--mkfsoptions"]).dest("mkfsopts"));
    }

    /// Reads the values back.
    pub fn from_ns(ns: &Namespace) -> FsOptions {
        FsOptions {
            fstype: ns_string(ns, "fstype"),
            format: ns.opt_bool("format").unwrap_or(true),
            fsopts: ns_string(ns, "fsopts"),
            fsprofile: ns_string(ns, "fsprofile"),
            label: ns_string(ns, "label"),
            mkfsopts: ns_string(ns, "mkfsopts"),
        }
    }

    /// pykickstart's `--mkfsoptions` checks (F23).
    pub fn check_mkfs(&self) -> Result<(), KsError> {
        if !self.format && !self.mkfsopts.is_empty() {
            return Err(KsError::bad("--mkfsoptions with --noformat has no effect."));
        }
        if !self.fsprofile.is_empty() && !self.mkfsopts.is_empty() {
            return Err(KsError::bad(
                "--mkfsoptions and --fsprofile cannot be used together.",
            ));
        }
        Ok(())
    }

    /// Whether the filesystem type is btrfs (refused by the RHEL syntaxes).
    pub fn is_btrfs(&self) -> bool {
        self.fstype == "btrfs"
    }
}

/// LUKS encryption options common to `part`, `raid` and `logvol`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Encryption {
    /// `--encrypted`.
    pub encrypted: bool,
    /// `--passphrase`.
    pub passphrase: String,
    /// `--escrowcert`: URL of an X.509 certificate for key escrow.
    pub escrowcert: String,
    /// `--backuppassphrase`: also escrow a generated passphrase.
    pub backuppassphrase: bool,
    /// `--cipher`.
    pub cipher: String,
    /// `--luks-version`.
    pub luks_version: String,
    /// `--pbkdf`.
    pub pbkdf: String,
    /// `--pbkdf-memory` (KiB).
    pub pbkdf_memory: i64,
    /// `--pbkdf-time` (ms).
    pub pbkdf_time: i64,
    /// `--pbkdf-iterations`.
    pub pbkdf_iterations: i64,
}

impl Encryption {
    /// Declares `--encrypted`, `--passphrase`, `--escrowcert` and `--backuppassphrase`.
    pub fn add_basic_args(op: &mut OptParser) {
        op.push(Arg::flag(&["--encrypted"]));
        op.push(Arg::opt(&["--passphrase"]));
        op.push(Arg::opt(&["--escrowcert"]));
        op.push(Arg::flag(&["--backuppassphrase"]));
    }

    /// Declares `--cipher`.
    pub fn add_cipher_arg(op: &mut OptParser) {
        op.push(Arg::opt(&["--cipher"]));
    }

    /// Declares the LUKS2 options (`--luks-version`, `--pbkdf*`).
    pub fn add_luks_args(op: &mut OptParser) {
        op.push(
            Arg::opt(&["--luks-version"])
                .dest("luks_version")
                .default(crate::options::Val::Str(String::new())),
        );
        op.push(Arg::opt(&["--pbkdf"]).default(crate::options::Val::Str(String::new())));
        for name in ["--pbkdf-memory", "--pbkdf-time", "--pbkdf-iterations"] {
            op.push(
                Arg::opt(&[name])
                    .ty(Ty::Int)
                    .default(crate::options::Val::Int(0)),
            );
        }
    }

    /// Reads the values back.
    pub fn from_ns(ns: &Namespace) -> Encryption {
        Encryption {
            encrypted: ns.bool("encrypted"),
            passphrase: ns_string(ns, "passphrase"),
            escrowcert: ns_string(ns, "escrowcert"),
            backuppassphrase: ns.bool("backuppassphrase"),
            cipher: ns_string(ns, "cipher"),
            luks_version: ns_string(ns, "luks_version"),
            pbkdf: ns_string(ns, "pbkdf"),
            pbkdf_memory: ns_int0(ns, "pbkdf_memory"),
            pbkdf_time: ns_int0(ns, "pbkdf_time"),
            pbkdf_iterations: ns_int0(ns, "pbkdf_iterations"),
        }
    }

    /// pykickstart's PBKDF check (F29).
    pub fn check(&self) -> Result<(), KsError> {
        if self.pbkdf_time != 0 && self.pbkdf_iterations != 0 {
            return Err(KsError::bad(
                "Only one of --pbkdf-time and --pbkdf-iterations can be specified.",
            ));
        }
        Ok(())
    }

    /// ` --encrypted --passphrase=".." --escrowcert=".." --backuppassphrase` as written.
    pub fn push_basic(&self, out: &mut String) {
        if self.encrypted {
            out.push_str(" --encrypted");
            push_quoted(out, "passphrase", &self.passphrase);
        }
    }

    /// ` --escrowcert=".." --backuppassphrase` (only with `--encrypted`).
    pub fn push_escrow(&self, out: &mut String) {
        if self.encrypted && !self.escrowcert.is_empty() {
            push_quoted(out, "escrowcert", &self.escrowcert);
            push_flag(out, "backuppassphrase", self.backuppassphrase);
        }
    }

    /// ` --cipher=".."` (only with `--encrypted`).
    pub fn push_cipher(&self, out: &mut String) {
        if self.encrypted {
            push_quoted(out, "cipher", &self.cipher);
        }
    }

    /// The LUKS2 options (only with `--encrypted`).
    pub fn push_luks(&self, out: &mut String) {
        if self.encrypted {
            push_plain(out, "luks-version", &self.luks_version);
            push_plain(out, "pbkdf", &self.pbkdf);
            push_int(out, "pbkdf-memory", self.pbkdf_memory);
            push_int(out, "pbkdf-time", self.pbkdf_time);
            push_int(out, "pbkdf-iterations", self.pbkdf_iterations);
        }
    }
}

/// "Unexpected arguments to CMD command: [...]" with the list as Python prints it.
pub fn unexpected_args(cmd: &str, extra: &[String]) -> KsError {
    let items: Vec<String> = extra.iter().map(|s| crate::options::py_repr(s)).collect();
    KsError::bad(format!(
        "Unexpected arguments to {cmd} command: [{}]",
        items.join(", ")
    ))
    .token(extra.first().cloned().unwrap_or_default())
}

/// pykickstart's `mountpoint` conversion (normalises absolute paths).
pub fn mountpoint(s: &str) -> String {
    if s.starts_with('/') {
        crate::options::normpath(s)
    } else {
        s.to_string()
    }
}

/// Python's `str.strip()` (whitespace on both ends).
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace())
}
