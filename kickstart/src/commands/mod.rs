//! Kickstart commands: one module per pykickstart command class (DEVEL syntax unless a
//! [`KsVersion`] says otherwise), a registry that maps command words to them, and the
//! [`Command`] trait they implement.
//!
//! Each command parses its option line with [`crate::options::OptParser`] and renders
//! itself back exactly as pykickstart's `__str__` does, so that `kiln ks flatten` output read by
//! pykickstart gives the same handler state.

use std::any::Any;
use std::fmt::Debug;

use super::error::{KsError, WarningKind};
use super::options::{Namespace, OptParser};
use super::{KsVersion, Origin};

pub mod authconfig;
pub mod authselect;
pub mod autopart;
pub mod autostep;
pub mod bootc;
pub mod bootloader;
pub mod btrfs;
pub mod cdrom;
pub mod clearpart;
pub mod displaymode;
pub mod driverdisk;
pub mod eula;
pub mod fcoe;
pub mod firewall;
pub mod firstboot;
pub mod group;
pub mod harddrive;
pub mod hmc;
pub mod ignoredisk;
pub mod iscsi;
pub mod iscsiname;
pub mod keyboard;
pub mod lang;
pub mod liveimg;
pub mod logging;
pub mod logvol;
pub mod mediacheck;
pub mod module;
pub mod mount;
pub mod network;
pub mod nfs;
pub mod nvdimm;
pub mod ostreecontainer;
pub mod ostreesetup;
pub mod partition;
pub mod raid;
pub mod rdp;
pub mod realm;
pub mod reboot;
pub mod removed;
pub mod repo;
pub mod reqpart;
pub mod rescue;
pub mod rhsm;
pub mod rootpw;
pub mod selinux;
pub mod services;
pub mod skipx;
pub mod snapshot;
pub mod sshkey;
pub mod sshpw;
pub mod storage_common;
pub mod stratisfs;
pub mod stratispool;
pub mod syspurpose;
pub mod timesource;
pub mod timezone;
pub mod updates;
pub mod url;
pub mod user;
pub mod versions;
pub mod vnc;
pub mod volgroup;
pub mod xconfig;
pub mod zerombr;
pub mod zfcp;
pub mod zipl;

/// What a parse produced (pykickstart returns either the command object or a new data object).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// The command's own state changed (single-instance commands).
    Command,
    /// A data item at this index of the command's list was added or replaced.
    Item(usize),
    /// Nothing to render (pykickstart returned `None`).
    Nothing,
}

/// How kiln treats a command when it builds live media (for `kiln ks lint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LiveEffect {
    /// kiln applies it to the image.
    Applied,
    /// It only matters to Anaconda on real hardware; kiln ignores it.
    Ignored,
}

/// Context of one command line being parsed.
pub struct ParseCtx<'a> {
    /// The word used on the line (`part` or `partition`, `poweroff` or `reboot`, ...).
    pub cmd: &'a str,
    /// The raw line.
    pub line: &'a str,
    /// Where the line is.
    pub origin: &'a Origin,
    /// Syntax version.
    pub version: KsVersion,
    /// Warnings raised while parsing this line.
    pub warnings: Vec<(WarningKind, String)>,
}

impl ParseCtx<'_> {
    /// A `KickstartParseWarning`.
    pub fn warn(&mut self, msg: impl Into<String>) {
        self.warnings.push((WarningKind::Parse, msg.into()));
    }
    /// A `KickstartDeprecationWarning`.
    pub fn deprecate(&mut self, msg: impl Into<String>) {
        self.warnings.push((WarningKind::Deprecation, msg.into()));
    }
    /// The line number, for messages that embed it.
    pub fn lineno(&self) -> usize {
        self.origin.line
    }

    fn note_deprecated(&mut self, ns: &Namespace) {
        for opt in &ns.deprecated_used {
            let msg = format!(
                "Ignoring deprecated option on line {}: The {} option has been deprecated and no longer has any \
                 effect. It may be removed from future releases, which will result in a fatal error from \
                 kickstart. Please modify your kickstart file to remove this option.",
                self.origin.line, opt
            );
            self.deprecate(msg);
        }
    }

    /// `op.parse_args(args)`, recording deprecated options used.
    pub fn parse(&mut self, op: &OptParser, args: &[String]) -> Result<Namespace, KsError> {
        let ns = op.parse(args)?;
        self.note_deprecated(&ns);
        Ok(ns)
    }

    /// `op.parse_known_args(args)`, recording deprecated options used.
    pub fn parse_known(
        &mut self,
        op: &OptParser,
        args: &[String],
    ) -> Result<(Namespace, Vec<String>), KsError> {
        let (ns, extra) = op.parse_known(args)?;
        self.note_deprecated(&ns);
        Ok((ns, extra))
    }
}

/// A kickstart command's state (all lines that used it) and its pykickstart behaviour.
pub trait Command: Debug + Send + Sync + Any {
    /// Parse one line's arguments (the words after the command word).
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError>;
    /// The whole command as pykickstart's `str(command)` writes it (with its comment header,
    /// every data item, trailing newline), or "" when unset.
    fn render(&self) -> String;
    /// The whole command as `kiln ks flatten` writes it: [`Command::render`], except where
    /// pykickstart's own rendering loses state when read back (then a form that pykickstart
    /// re-reads to the same state).
    fn render_flat(&self) -> String {
        self.render()
    }
    /// One data item as pykickstart's `str(data)` writes it (multi-instance commands).
    fn render_item(&self, idx: usize) -> String {
        let _ = idx;
        self.render()
    }
    /// The typed state as JSON (for `kiln ks show --json`).
    fn to_json(&self) -> serde_json::Value;
    /// Whether kiln applies this command to live media.
    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Ignored
    }
    /// Tell a fresh state which syntax version it belongs to (for commands whose class, and so
    /// whose rendering when unused, differs by version).
    fn set_version(&mut self, version: KsVersion) {
        let _ = version;
    }
    /// For downcasting to the concrete type.
    fn as_any(&self) -> &dyn Any;
    /// Clone into a box.
    fn box_clone(&self) -> Box<dyn Command>;
}

impl Clone for Box<dyn Command> {
    fn clone(&self) -> Self {
        self.box_clone()
    }
}

/// Implements the boilerplate methods of [`Command`] for a `Clone + Serialize` type.
#[macro_export]
macro_rules! command_common {
    () => {
        fn to_json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
        fn box_clone(&self) -> Box<dyn $crate::commands::Command> {
            Box::new(self.clone())
        }
    };
}

/// One registered command class.
pub struct CommandInfo {
    /// Canonical name (pykickstart's handler attribute).
    pub name: &'static str,
    /// Every command word that reaches this class.
    pub words: &'static [&'static str],
    /// The class name without version prefix: the write order sorts by it within a priority.
    pub sort_key: &'static str,
    /// pykickstart `writePriority`; `None` = never written (removed commands).
    pub priority: Option<u32>,
    /// Commands that cannot be used together with this one.
    pub conflicts: &'static [&'static str],
    /// A fresh state.
    pub new: fn() -> Box<dyn Command>,
}

macro_rules! entry {
    ($name:literal, [$($w:literal),*], $sort:literal, $prio:expr, [$($c:literal),*], $new:path) => {
        CommandInfo { name: $name, words: &[$($w),*], sort_key: $sort, priority: $prio, conflicts: &[$($c),*], new: $new }
    };
}

const PART_FAMILY: &[&str] = &["autopart", "mount"];

/// Every command of the DEVEL syntax (pykickstart 3.78 `F46Handler`) plus the RHEL handlers'
/// own (`rhsm`, `syspurpose`), with its DEVEL write priority and conflicts; [`versions`] says how
/// each RHEL handler differs.
pub static REGISTRY: &[CommandInfo] = &[
    entry!(
        "authconfig",
        ["auth", "authconfig"],
        "Authconfig",
        None,
        [],
        authconfig::new
    ),
    entry!(
        "authselect",
        ["authselect"],
        "Authselect",
        Some(0),
        [],
        authselect::new
    ),
    entry!(
        "autopart",
        ["autopart"],
        "AutoPart",
        Some(100),
        [
            "partition",
            "raid",
            "volgroup",
            "logvol",
            "reqpart",
            "stratispool",
            "stratisfs"
        ],
        autopart::new
    ),
    entry!(
        "autostep",
        ["autostep"],
        "Autostep",
        None,
        [],
        autostep::new
    ),
    entry!(
        "bootc",
        ["bootc"],
        "Bootc",
        Some(0),
        ["ostreesetup", "ostreecontainer"],
        bootc::new
    ),
    entry!(
        "bootloader",
        ["bootloader"],
        "Bootloader",
        Some(10),
        [],
        bootloader::new
    ),
    entry!("btrfs", ["btrfs"], "BTRFS", Some(132), [], btrfs::new),
    entry!("cdrom", ["cdrom"], "Cdrom", Some(0), [], cdrom::new),
    entry!(
        "clearpart",
        ["clearpart"],
        "ClearPart",
        Some(120),
        [],
        clearpart::new
    ),
    entry!(
        "displaymode",
        ["cmdline", "graphical", "text"],
        "DisplayMode",
        Some(0),
        [],
        displaymode::new
    ),
    entry!(
        "device",
        ["device"],
        "Device",
        None,
        [],
        removed::new_device
    ),
    entry!(
        "deviceprobe",
        ["deviceprobe"],
        "DeviceProbe",
        None,
        [],
        removed::new_deviceprobe
    ),
    entry!(
        "dmraid",
        ["dmraid"],
        "DmRaid",
        None,
        [],
        removed::new_dmraid
    ),
    entry!(
        "driverdisk",
        ["driverdisk"],
        "DriverDisk",
        Some(0),
        [],
        driverdisk::new
    ),
    entry!("eula", ["eula"], "Eula", Some(0), [], eula::new),
    entry!("fcoe", ["fcoe"], "Fcoe", Some(71), [], fcoe::new),
    entry!(
        "firewall",
        ["firewall"],
        "Firewall",
        Some(0),
        [],
        firewall::new
    ),
    entry!(
        "firstboot",
        ["firstboot"],
        "Firstboot",
        Some(0),
        [],
        firstboot::new
    ),
    entry!("group", ["group"], "Group", Some(0), [], group::new),
    entry!(
        "reboot",
        ["halt", "poweroff", "reboot", "shutdown"],
        "Reboot",
        Some(0),
        [],
        reboot::new
    ),
    entry!(
        "harddrive",
        ["harddrive"],
        "HardDrive",
        Some(0),
        [],
        harddrive::new
    ),
    entry!("hmc", ["hmc"], "Hmc", Some(0), [], hmc::new),
    entry!(
        "ignoredisk",
        ["ignoredisk"],
        "IgnoreDisk",
        Some(0),
        [],
        ignoredisk::new
    ),
    entry!(
        "install",
        ["install"],
        "Install",
        None,
        [],
        removed::new_install
    ),
    entry!("iscsi", ["iscsi"], "Iscsi", Some(71), [], iscsi::new),
    entry!(
        "iscsiname",
        ["iscsiname"],
        "IscsiName",
        Some(70),
        [],
        iscsiname::new
    ),
    entry!(
        "keyboard",
        ["keyboard"],
        "Keyboard",
        Some(0),
        [],
        keyboard::new
    ),
    entry!("lang", ["lang"], "Lang", Some(0), [], lang::new),
    entry!("liveimg", ["liveimg"], "Liveimg", Some(0), [], liveimg::new),
    entry!("logging", ["logging"], "Logging", Some(0), [], logging::new),
    entry!(
        "logvol",
        ["logvol"],
        "LogVol",
        Some(133),
        ["autopart", "mount"],
        logvol::new
    ),
    entry!(
        "mediacheck",
        ["mediacheck"],
        "MediaCheck",
        Some(0),
        [],
        mediacheck::new
    ),
    entry!(
        "method",
        ["method"],
        "Method",
        None,
        [],
        removed::new_method
    ),
    entry!("module", ["module"], "Module", None, [], module::new),
    entry!(
        "mount",
        ["mount"],
        "Mount",
        Some(0),
        [
            "autopart",
            "partition",
            "raid",
            "volgroup",
            "logvol",
            "reqpart",
            "stratispool",
            "stratisfs"
        ],
        mount::new
    ),
    entry!(
        "multipath",
        ["multipath"],
        "MultiPath",
        None,
        [],
        removed::new_multipath
    ),
    entry!("network", ["network"], "Network", Some(0), [], network::new),
    entry!("nfs", ["nfs"], "NFS", Some(0), [], nfs::new),
    entry!("nvdimm", ["nvdimm"], "Nvdimm", None, [], nvdimm::new),
    entry!(
        "ostreecontainer",
        ["ostreecontainer"],
        "OSTreeContainer",
        Some(0),
        ["ostreesetup", "bootc"],
        ostreecontainer::new
    ),
    entry!(
        "ostreesetup",
        ["ostreesetup"],
        "OSTreeSetup",
        Some(0),
        ["ostreecontainer", "bootc"],
        ostreesetup::new
    ),
    entry!(
        "partition",
        ["part", "partition"],
        "Partition",
        Some(130),
        ["autopart", "mount"],
        partition::new
    ),
    entry!(
        "raid",
        ["raid"],
        "Raid",
        Some(131),
        ["autopart", "mount"],
        raid::new
    ),
    entry!("rdp", ["rdp"], "RDP", Some(0), [], rdp::new),
    entry!("realm", ["realm"], "Realm", Some(0), [], realm::new),
    entry!("repo", ["repo"], "Repo", Some(0), [], repo::new),
    entry!(
        "reqpart",
        ["reqpart"],
        "ReqPart",
        Some(100),
        ["autopart", "mount"],
        reqpart::new
    ),
    entry!("rescue", ["rescue"], "Rescue", Some(0), [], rescue::new),
    entry!("rhsm", ["rhsm"], "RHSM", Some(0), [], rhsm::new),
    entry!("rootpw", ["rootpw"], "RootPw", Some(0), [], rootpw::new),
    entry!("selinux", ["selinux"], "SELinux", Some(0), [], selinux::new),
    entry!(
        "services",
        ["services"],
        "Services",
        Some(0),
        [],
        services::new
    ),
    entry!("skipx", ["skipx"], "SkipX", Some(0), [], skipx::new),
    entry!(
        "snapshot",
        ["snapshot"],
        "Snapshot",
        Some(140),
        [],
        snapshot::new
    ),
    entry!("sshkey", ["sshkey"], "SshKey", Some(0), [], sshkey::new),
    entry!("sshpw", ["sshpw"], "SshPw", Some(0), [], sshpw::new),
    entry!(
        "stratisfs",
        ["stratisfs"],
        "StratisFs",
        Some(135),
        ["autopart", "mount"],
        stratisfs::new
    ),
    entry!(
        "stratispool",
        ["stratispool"],
        "StratisPool",
        Some(134),
        ["autopart", "mount"],
        stratispool::new
    ),
    entry!(
        "syspurpose",
        ["syspurpose"],
        "Syspurpose",
        Some(0),
        [],
        syspurpose::new
    ),
    entry!(
        "timesource",
        ["timesource"],
        "Timesource",
        Some(0),
        [],
        timesource::new
    ),
    entry!(
        "timezone",
        ["timezone"],
        "Timezone",
        Some(0),
        [],
        timezone::new
    ),
    entry!("updates", ["updates"], "Updates", Some(0), [], updates::new),
    entry!("url", ["url"], "Url", Some(0), [], url::new),
    entry!("user", ["user"], "User", Some(0), [], user::new),
    entry!("vnc", ["vnc"], "Vnc", None, [], vnc::new),
    entry!(
        "volgroup",
        ["volgroup"],
        "VolGroup",
        Some(132),
        ["autopart", "mount"],
        volgroup::new
    ),
    entry!("xconfig", ["xconfig"], "XConfig", Some(0), [], xconfig::new),
    entry!(
        "zerombr",
        ["zerombr"],
        "ZeroMbr",
        Some(110),
        [],
        zerombr::new
    ),
    entry!("zfcp", ["zfcp"], "ZFCP", Some(71), [], zfcp::new),
    entry!("zipl", ["zipl"], "Zipl", Some(10), [], zipl::new),
];

/// The registry index of a command word, if any syntax knows it.
pub fn lookup(word: &str) -> Option<usize> {
    REGISTRY.iter().position(|c| c.words.contains(&word))
}

/// The registry index of a command word in a syntax version (`None`: unknown command there).
pub fn lookup_in(word: &str, version: KsVersion) -> Option<usize> {
    lookup(word).filter(|&i| {
        versions::availability(REGISTRY[i].name, version) != versions::Availability::Absent
    })
}

/// The registry index of a canonical command name.
pub fn index_of(name: &str) -> Option<usize> {
    REGISTRY.iter().position(|c| c.name == name)
}

/// Unused helper kept so `PART_FAMILY` documents the storage conflict set in one place.
pub fn storage_conflicts() -> &'static [&'static str] {
    PART_FAMILY
}

/// Placeholder state used while a command module is being ported: keeps the raw argument
/// lines and prints them back verbatim.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RawCommand {
    /// The command word.
    pub word: String,
    /// Each line's arguments.
    pub lines: Vec<Vec<String>>,
}

impl RawCommand {
    /// A raw state for `word`.
    pub fn boxed(word: &str) -> Box<dyn Command> {
        Box::new(RawCommand {
            word: word.to_string(),
            lines: Vec::new(),
        })
    }
}

impl Command for RawCommand {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        self.word = ctx.cmd.to_string();
        self.lines.push(args.to_vec());
        Ok(Parsed::Item(self.lines.len() - 1))
    }
    fn render(&self) -> String {
        (0..self.lines.len()).map(|i| self.render_item(i)).collect()
    }
    fn render_item(&self, idx: usize) -> String {
        let mut s = self.word.clone();
        for a in &self.lines[idx] {
            s.push(' ');
            s.push_str(&super::shlex::quote(a));
        }
        s.push('\n');
        s
    }
    command_common!();
}
