//! `bootloader`: boot loader installation and kernel command line (pykickstart
//! `F39_Bootloader`; `RHEL8_Bootloader`, `RHEL9_Bootloader` for those syntaxes).
//!
//! kiln uses [`Bootloader::append_line`] (and [`Bootloader::kernel_args`]) for the kernel
//! arguments of the live image's boot entries, and `--timeout` for the menu.

use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser, Ty, Val};
use crate::KsVersion;

/// State of the `bootloader` command.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Bootloader {
    /// `--append`: extra kernel parameters, as written ("" when none).
    pub append_line: String,
    /// `--location`: `mbr` (default), `partition`, `none` or `boot`.
    pub location: String,
    /// `--password` (or `--md5pass`): the boot loader password.
    pub password: String,
    /// `--iscrypted` (or `--md5pass`): the password is already encrypted.
    pub is_crypted: bool,
    /// `--driveorder`: BIOS drive order.
    pub driveorder: Vec<String>,
    /// `--timeout`: seconds before the default entry boots.
    pub timeout: Option<i64>,
    /// `--default`: the default boot image.
    pub default: String,
    /// `--boot-drive`: the drive to write the boot loader to.
    pub boot_drive: String,
    /// `--leavebootorder`: keep the firmware boot order.
    pub leavebootorder: bool,
    /// `--extlinux`: use extlinux instead of GRUB.
    pub extlinux: bool,
    /// `--disabled`: do not install a boot loader.
    pub disabled: bool,
    /// `--nombr`: do not install to the MBR.
    pub nombr: bool,
    /// `--sdboot`: use systemd-boot.
    pub sdboot: bool,
    /// `--upgrade` (RHEL 8 syntax: deprecated, yet stored and written).
    pub upgrade: bool,
}

impl Default for Bootloader {
    fn default() -> Self {
        Bootloader {
            append_line: String::new(),
            location: "none".to_string(),
            password: String::new(),
            is_crypted: false,
            driveorder: Vec::new(),
            timeout: None,
            default: String::new(),
            boot_drive: String::new(),
            leavebootorder: false,
            extlinux: false,
            disabled: false,
            nombr: false,
            sdboot: false,
            upgrade: false,
        }
    }
}

impl Bootloader {
    /// The `--append` value split into kernel arguments (shell-like words).
    pub fn kernel_args(&self) -> Vec<String> {
        crate::shlex::split(&self.append_line, false).unwrap_or_else(|_| {
            self.append_line
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
    }

    fn args_str(&self) -> String {
        if self.disabled {
            return " --disabled".to_string();
        }
        let mut s = String::new();
        if !self.append_line.is_empty() {
            s.push_str(&format!(" --append=\"{}\"", self.append_line));
        }
        if !self.location.is_empty() {
            s.push_str(&format!(" --location={}", self.location));
        }
        if !self.password.is_empty() {
            s.push_str(&format!(" --password=\"{}\"", self.password));
        }
        if self.upgrade {
            s.push_str(" --upgrade");
        }
        if !self.driveorder.is_empty() {
            s.push_str(&format!(" --driveorder=\"{}\"", self.driveorder.join(",")));
        }
        if let Some(t) = self.timeout {
            s.push_str(&format!(" --timeout={t}"));
        }
        if !self.default.is_empty() {
            s.push_str(&format!(" --default={}", self.default));
        }
        if self.is_crypted {
            s.push_str(" --iscrypted");
        }
        if !self.boot_drive.is_empty() {
            s.push_str(&format!(" --boot-drive={}", self.boot_drive));
        }
        for (set, name) in [
            (self.leavebootorder, " --leavebootorder"),
            (self.extlinux, " --extlinux"),
            (self.nombr, " --nombr"),
            (self.sdboot, " --sdboot"),
        ] {
            if set {
                s.push_str(name);
            }
        }
        s
    }
}

fn parser(version: KsVersion) -> OptParser {
    let mut op = OptParser::new("bootloader")
        .add(Arg::opt(&["--append"]).dest("appendLine"))
        .add(
            Arg::opt(&["--location"])
                .default(Val::Str("mbr".into()))
                .choices(&["mbr", "partition", "none", "boot"]),
        )
        .add(Arg::opt(&["--password"]).default(Val::Str(String::new())))
        .add(Arg::opt(&["--driveorder"]).ty(Ty::CommaSplit))
        .add(Arg::opt(&["--timeout"]).ty(Ty::Int))
        .add(Arg::opt(&["--default"]))
        .add(Arg::flag(&["--iscrypted"]).dest("isCrypted"))
        .add(Arg::opt(&["--md5pass"]).dest("_md5pass"))
        .add(
            Arg::opt(&["--boot-drive"])
                .dest("bootDrive")
                .default(Val::Str(String::new())),
        )
        .add(Arg::flag(&["--leavebootorder"]))
        .add(Arg::flag(&["--extlinux"]))
        .add(Arg::flag(&["--disabled"]))
        .add(Arg::flag(&["--nombr"]));
    match version {
        KsVersion::Rhel8 => op.push(Arg::flag(&["--upgrade"]).deprecated()),
        KsVersion::Rhel9 => {}
        _ => op.push(Arg::flag(&["--sdboot"])),
    }
    op
}

impl Command for Bootloader {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let ns = ctx.parse(&parser(ctx.version), args)?;
        // pykickstart `set_to_self`: options left at None keep the previous line's value.
        if let Some(v) = ns.str("appendLine") {
            self.append_line = v;
        }
        if let Some(v) = ns.str("location") {
            self.location = v;
        }
        let md5 = ns.str("_md5pass").filter(|m| !m.is_empty());
        if let Some(v) = ns.str("password") {
            self.password = v;
        }
        self.is_crypted = ns.bool("isCrypted");
        if ctx.version == KsVersion::Rhel8 {
            self.upgrade = ns.bool("upgrade");
        }
        if let Some(m) = md5 {
            self.password = m;
            self.is_crypted = true;
        }
        if !ns.is_none("driveorder") {
            self.driveorder = ns.list("driveorder");
        }
        if let Some(t) = ns.int("timeout") {
            self.timeout = Some(t);
        }
        if let Some(v) = ns.str("default") {
            self.default = v;
        }
        if let Some(v) = ns.str("bootDrive") {
            self.boot_drive = v;
        }
        self.leavebootorder = ns.bool("leavebootorder");
        self.extlinux = ns.bool("extlinux");
        self.disabled = ns.bool("disabled");
        self.nombr = ns.bool("nombr");
        self.sdboot = ns.bool("sdboot");
        if self.boot_drive.contains(',') {
            return Err(KsError::bad("--boot-drive accepts only one argument"));
        }
        if self.sdboot && self.extlinux {
            return Err(KsError::bad(
                "Only one of --sdboot and --extlinux may be specified for bootloader command.",
            ));
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if self.location.is_empty() {
            return String::new();
        }
        format!(
            "# System bootloader configuration\nbootloader{}\n",
            self.args_str()
        )
    }
    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Applied
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::new(Bootloader::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Origin;

    #[test]
    fn unset_renders_location_none_and_lines_accumulate() {
        let mut b = Bootloader::default();
        assert_eq!(
            b.render(),
            "# System bootloader configuration\nbootloader --location=none\n"
        );
        let origin = Origin::new("<t>", 1);
        let mut ctx = ParseCtx {
            cmd: "bootloader",
            line: "",
            origin: &origin,
            version: KsVersion::Devel,
            warnings: Vec::new(),
        };
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        b.parse(
            &mut ctx,
            &a(&["--append=quiet rd.live.image", "--timeout=3"]),
        )
        .unwrap();
        b.parse(&mut ctx, &a(&["--location=none"])).unwrap();
        // Options not given on a later line keep their value (pykickstart `set_to_self`).
        assert_eq!(b.kernel_args(), vec!["quiet", "rd.live.image"]);
        assert_eq!(b.timeout, Some(3));
        assert_eq!(b.location, "none");
    }
}
