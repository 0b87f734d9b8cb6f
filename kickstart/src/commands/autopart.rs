//! `autopart`: automatic partitioning (pykickstart `F45_AutoPart`; `RHEL8_AutoPart`,
//! `RHEL9_AutoPart`, `RHEL10_AutoPart` for the RHEL syntaxes).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Action, Arg, OptParser, Ty, Val, ValueError};
use crate::KsVersion;

/// The partitioning scheme of `autopart --type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AutopartType {
    /// LVM.
    Lvm,
    /// Btrfs.
    Btrfs,
    /// Plain partitions (`plain`, `partition` or `--nolvm`).
    Plain,
    /// LVM thin provisioning.
    Thinp,
    /// Stratis.
    Stratis,
}

impl AutopartType {
    fn name(self) -> &'static str {
        match self {
            AutopartType::Lvm => "lvm",
            AutopartType::Btrfs => "btrfs",
            AutopartType::Plain => "plain",
            AutopartType::Thinp => "thinp",
            AutopartType::Stratis => "stratis",
        }
    }
}

/// State of the `autopart` command.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AutoPart {
    /// The command was given.
    pub autopart: bool,
    /// `--encrypted`.
    pub encrypted: bool,
    /// `--passphrase`.
    pub passphrase: String,
    /// `--escrowcert`: URL of an X.509 certificate.
    pub escrowcert: String,
    /// `--backuppassphrase`.
    pub backuppassphrase: bool,
    /// `--type` (or `--nolvm`).
    #[serde(rename = "type")]
    pub part_type: Option<AutopartType>,
    /// `--cipher`.
    pub cipher: String,
    /// `--fstype`.
    pub fstype: String,
    /// `--nohome`.
    pub nohome: bool,
    /// `--noboot`.
    pub noboot: bool,
    /// `--noswap`.
    pub noswap: bool,
    /// `--luks-version`.
    pub luks_version: String,
    /// `--pbkdf`.
    pub pbkdf: String,
    /// `--pbkdf-memory`.
    pub pbkdf_memory: i64,
    /// `--pbkdf-time`.
    pub pbkdf_time: i64,
    /// `--pbkdf-iterations`.
    pub pbkdf_iterations: i64,
    /// `--hibernation`.
    pub hibernation: bool,
    /// `--hw-passphrase`.
    pub hw_passphrase: String,
}

fn type_devel(s: &str) -> Result<Val, ValueError> {
    type_lookup(s, true)
}

fn type_rhel(s: &str) -> Result<Val, ValueError> {
    type_lookup(s, false)
}

fn type_lookup(s: &str, stratis: bool) -> Result<Val, ValueError> {
    let l = s.to_lowercase();
    match l.as_str() {
        "lvm" | "btrfs" | "plain" | "thinp" => Ok(Val::Str(l)),
        "partition" => Ok(Val::Str("plain".into())),
        "stratis" if stratis => Ok(Val::Str(l)),
        _ => Err(ValueError::Message(format!("Invalid autopart type: {s}"))),
    }
}

fn parser(version: KsVersion) -> OptParser {
    let rhel = version != KsVersion::Devel;
    let empty = || Val::Str(String::new());
    let mut op = OptParser::new("autopart")
        .add(Arg::flag(&["--encrypted"]))
        .add(Arg::opt(&["--passphrase"]))
        .add(Arg::opt(&["--escrowcert"]))
        .add(Arg::flag(&["--backuppassphrase"]))
        .add(
            Arg::opt(&["--nolvm"])
                .dest("type")
                .action(Action::StoreConst(Val::Str("plain".into()))),
        )
        .add(Arg::opt(&["--type"]).ty(Ty::Custom(
            "type",
            if rhel { type_rhel } else { type_devel },
        )))
        .add(Arg::opt(&["--cipher"]))
        .add(Arg::opt(&["--fstype"]))
        .add(Arg::flag(&["--nohome"]))
        .add(Arg::flag(&["--noboot"]))
        .add(Arg::flag(&["--noswap"]))
        .add(Arg::opt(&["--luks-version"]).default(empty()))
        .add(Arg::opt(&["--pbkdf"]).default(empty()))
        .add(
            Arg::opt(&["--pbkdf-memory"])
                .ty(Ty::Int)
                .default(Val::Int(0)),
        )
        .add(Arg::opt(&["--pbkdf-time"]).ty(Ty::Int).default(Val::Int(0)))
        .add(
            Arg::opt(&["--pbkdf-iterations"])
                .ty(Ty::Int)
                .default(Val::Int(0)),
        );
    if !matches!(version, KsVersion::Rhel8 | KsVersion::Rhel9) {
        op.push(Arg::flag(&["--hibernation"]));
    }
    if !rhel {
        op.push(Arg::opt(&["--hw-passphrase"]).default(empty()));
    }
    op
}

/// Python's `str.strip()`.
fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
}

impl Command for AutoPart {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let ns = ctx.parse(&parser(ctx.version), args)?;
        // pykickstart `set_to_self`: options left at None keep the previous line's value.
        let set_str = |dst: &mut String, k: &str| {
            if let Some(v) = ns.str(k) {
                *dst = v;
            }
        };
        self.encrypted = ns.bool("encrypted");
        set_str(&mut self.passphrase, "passphrase");
        set_str(&mut self.escrowcert, "escrowcert");
        self.backuppassphrase = ns.bool("backuppassphrase");
        if let Some(t) = ns.str("type") {
            self.part_type = Some(match t.as_str() {
                "lvm" => AutopartType::Lvm,
                "btrfs" => AutopartType::Btrfs,
                "thinp" => AutopartType::Thinp,
                "stratis" => AutopartType::Stratis,
                _ => AutopartType::Plain,
            });
        }
        set_str(&mut self.cipher, "cipher");
        set_str(&mut self.fstype, "fstype");
        self.nohome = ns.bool("nohome");
        self.noboot = ns.bool("noboot");
        self.noswap = ns.bool("noswap");
        set_str(&mut self.luks_version, "luks_version");
        set_str(&mut self.pbkdf, "pbkdf");
        self.pbkdf_memory = ns.int("pbkdf_memory").unwrap_or(0);
        self.pbkdf_time = ns.int("pbkdf_time").unwrap_or(0);
        self.pbkdf_iterations = ns.int("pbkdf_iterations").unwrap_or(0);
        self.hibernation = ns.bool("hibernation");
        set_str(&mut self.hw_passphrase, "hw_passphrase");
        self.autopart = true;

        if self.fstype == "btrfs" {
            return Err(KsError::bad(
                "autopart --fstype=btrfs is not valid fstype, use --type=btrfs instead",
            ));
        }
        let btrfs = self.part_type == Some(AutopartType::Btrfs);
        if btrfs && !self.fstype.is_empty() {
            return Err(KsError::bad(
                "autopart --fstype cannot be used with --type=btrfs",
            ));
        }
        if self.pbkdf_time != 0 && self.pbkdf_iterations != 0 {
            return Err(KsError::bad(
                "Only one of --pbkdf-time and --pbkdf-iterations can be specified.",
            ));
        }
        if ctx.version != KsVersion::Devel && btrfs {
            return Err(KsError::bad("autopart --type=btrfs is not supported"));
        }
        if self.hibernation && self.noswap {
            return Err(KsError::bad(
                "Only one of --noswap and --hibernation can be specified.",
            ));
        }
        if !self.hw_passphrase.is_empty()
            && (!self.encrypted || !self.luks_version.starts_with("luks2-"))
        {
            return Err(KsError::bad(
                "hw-passphrase may be specified only with LUKSv2 HW-OPAL encrypted devices",
            ));
        }
        if self.part_type == Some(AutopartType::Stratis) {
            let mut bad = Vec::new();
            let checks: [(&str, bool); 10] = [
                ("--luks-version", !self.luks_version.is_empty()),
                ("--pbkdf", !self.pbkdf.is_empty()),
                ("--pbkdf-memory", self.pbkdf_memory != 0),
                ("--pbkdf-time", self.pbkdf_time != 0),
                ("--pbkdf-iterations", self.pbkdf_iterations != 0),
                ("--hw-passphrase", !self.hw_passphrase.is_empty()),
                ("--escrowcert", !self.escrowcert.is_empty()),
                ("--backuppassphrase", self.backuppassphrase),
                ("--cipher", !self.cipher.is_empty()),
                ("--fstype", !self.fstype.is_empty()),
            ];
            for (name, set) in checks {
                if set {
                    bad.push(name);
                }
            }
            if !bad.is_empty() {
                return Err(KsError::bad(format!(
                    "The following options are not compatible with --type=stratis: {}",
                    bad.join(", ")
                )));
            }
        }
        Ok(Parsed::Command)
    }

    fn render(&self) -> String {
        if !self.autopart {
            return String::new();
        }
        // pykickstart builds the line class by class, stripping the string before each
        // addition; replay that so odd values come out byte-identical.
        let mut s = String::from("autopart");
        if self.encrypted {
            s.push_str(" --encrypted");
            if !self.passphrase.is_empty() {
                s.push_str(&format!(" --passphrase=\"{}\"", self.passphrase));
            }
        }
        s.push('\n');
        let add = |s: &mut String, piece: String| {
            let t = py_strip(s).to_string();
            *s = t + &piece + "\n";
        };
        if self.encrypted && !self.escrowcert.is_empty() {
            let mut p = format!(" --escrowcert=\"{}\"", self.escrowcert);
            if self.backuppassphrase {
                p.push_str(" --backuppassphrase");
            }
            add(&mut s, p);
        }
        if let Some(t) = self.part_type {
            add(&mut s, format!(" --type={}", t.name()));
        }
        if self.encrypted && !self.cipher.is_empty() {
            add(&mut s, format!(" --cipher=\"{}\"", self.cipher));
        }
        if !self.fstype.is_empty() {
            add(&mut s, format!(" --fstype={}", self.fstype));
        }
        for (set, name) in [
            (self.nohome, " --nohome"),
            (self.noboot, " --noboot"),
            (self.noswap, " --noswap"),
        ] {
            if set {
                add(&mut s, name.to_string());
            }
        }
        if self.encrypted {
            if !self.luks_version.is_empty() {
                add(&mut s, format!(" --luks-version={}", self.luks_version));
            }
            if !self.pbkdf.is_empty() {
                add(&mut s, format!(" --pbkdf={}", self.pbkdf));
            }
            if self.pbkdf_memory != 0 {
                add(&mut s, format!(" --pbkdf-memory={}", self.pbkdf_memory));
            }
            if self.pbkdf_time != 0 {
                add(&mut s, format!(" --pbkdf-time={}", self.pbkdf_time));
            }
            if self.pbkdf_iterations != 0 {
                add(
                    &mut s,
                    format!(" --pbkdf-iterations={}", self.pbkdf_iterations),
                );
            }
        }
        if self.hibernation {
            add(&mut s, " --hibernation".to_string());
        }
        if self.encrypted && !self.hw_passphrase.is_empty() {
            add(
                &mut s,
                format!(" --hw-passphrase=\"{}\"", self.hw_passphrase),
            );
        }
        s
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::new(AutoPart::default())
}
