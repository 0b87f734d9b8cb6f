//! How each RHEL handler of pykickstart 3.78 (`RHEL8Handler`, `RHEL9Handler`, `RHEL10Handler`)
//! differs from DEVEL in its command map: which command words it lacks, which classes are a
//! `DeprecatedCommand` (warn, keep nothing) or a `RemovedCommand` (error), their write
//! priorities and conflicts. Option-level differences live in each command's module.

use super::{Command, CommandInfo, ParseCtx, Parsed};
use crate::error::{ErrorKind, KsError};
use crate::KsVersion;

/// What a syntax version does with a command word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// The command's own class parses it.
    Normal,
    /// Not in the handler's command map: "Unknown command".
    Absent,
    /// A `DeprecatedCommand`: a deprecation warning, nothing kept, nothing written.
    Deprecated,
    /// A `RemovedCommand`: "`<word>` has been removed."
    Removed,
}

use Availability::*;
use KsVersion::*;

/// The availability of a registry command (by canonical name) in a version.
pub fn availability(name: &str, v: KsVersion) -> Availability {
    match (name, v) {
        // Only the RHEL handlers register subscription commands.
        ("rhsm" | "syspurpose", Devel) => Absent,
        ("rhsm" | "syspurpose", _) => Normal,
        ("authconfig", Rhel8 | Rhel9) => Normal,
        ("authconfig", _) => Removed,
        ("autostep", Rhel8) => Normal,
        ("autostep", Rhel9) => Deprecated,
        ("autostep", _) => Removed,
        ("method", Rhel8) => Normal,
        ("method", Rhel9) => Deprecated,
        ("method", _) => Removed,
        ("module", Rhel8 | Rhel9) => Normal,
        ("module", Rhel10) => Deprecated,
        ("module", _) => Removed,
        ("nvdimm", Rhel8 | Rhel9) => Normal,
        ("nvdimm", _) => Removed,
        ("vnc", Rhel8 | Rhel9) => Normal,
        ("vnc", Rhel10) => Deprecated,
        ("vnc", _) => Removed,
        ("device" | "deviceprobe" | "dmraid" | "install" | "multipath", Rhel8) => Deprecated,
        ("device" | "deviceprobe" | "dmraid" | "install" | "multipath", _) => Removed,
        ("btrfs", Rhel8 | Rhel9) => Deprecated,
        ("btrfs", Rhel10) => Removed,
        ("stratisfs" | "stratispool", Rhel8 | Rhel9 | Rhel10) => Absent,
        ("bootc" | "rdp", Rhel8 | Rhel9) => Absent,
        ("ostreecontainer" | "timesource", Rhel8) => Absent,
        _ => Normal,
    }
}

/// The write priority of a command in a version (`None`: never written).
pub fn priority(info: &CommandInfo, v: KsVersion) -> Option<u32> {
    if availability(info.name, v) != Normal {
        return None;
    }
    match info.name {
        "nvdimm" => Some(80),
        "authconfig" | "autostep" | "method" | "module" | "vnc" => Some(0),
        _ => info.priority,
    }
}

/// The class-name key pykickstart sorts commands of one priority by, in a version.
pub fn sort_key(info: &CommandInfo, v: KsVersion) -> &'static str {
    match (info.name, v) {
        // FC3_AutoStep (RHEL 8) against F40_Autostep (DEVEL).
        ("autostep", Rhel8) => "AutoStep",
        _ => info.sort_key,
    }
}

/// The commands a command cannot be used with, in a version (pykickstart checks only the
/// conflicts of the command being read, against commands already seen).
pub fn conflicts(info: &CommandInfo, v: KsVersion) -> &'static [&'static str] {
    const PART_RHEL: &[&str] = &["partition", "raid", "volgroup", "logvol", "reqpart"];
    const MOUNT_RHEL: &[&str] = &[
        "autopart",
        "partition",
        "raid",
        "volgroup",
        "logvol",
        "reqpart",
    ];
    if v == Devel {
        return info.conflicts;
    }
    match (info.name, v) {
        ("autopart", _) => PART_RHEL,
        ("mount", _) => MOUNT_RHEL,
        ("ostreesetup", Rhel8 | Rhel9) => &[],
        ("ostreecontainer", Rhel9) => &["ostreesetup"],
        _ => info.conflicts,
    }
}

/// Parse one line of a command as the version's class would: its own parser when the class is
/// a real one, otherwise pykickstart's `DeprecatedCommand`/`RemovedCommand` behaviour.
pub fn dispatch(
    state: &mut dyn Command,
    ctx: &mut ParseCtx<'_>,
    args: &[String],
    name: &str,
) -> Result<Parsed, KsError> {
    match availability(name, ctx.version) {
        Normal => state.parse(ctx, args),
        Deprecated => {
            let msg = format!(
                "Ignoring deprecated command on line {}:  The {} command has been deprecated and no longer has \
                 any effect.  It may be removed from future releases, which will result in a fatal error from \
                 kickstart.  Please modify your kickstart file to remove this command.",
                ctx.lineno(),
                ctx.cmd
            );
            ctx.deprecate(msg);
            Ok(Parsed::Nothing)
        }
        Removed | Absent => Err(KsError::new(
            ErrorKind::RemovedCommand,
            format!("{} has been removed.", ctx.cmd),
        )
        .hint(format!(
            "delete the `{}` line: the {} syntax no longer has this command",
            ctx.cmd,
            ctx.version.name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    //! The classes the issue names, with pykickstart 3.78's own output (`ksflatten -v V`) as the
    //! expected text; `tests/ks_versions.rs` compares everything else live.
    use crate::{parse_str, KsVersion, ParseOptions, WarningKind};

    fn read(text: &str, version: KsVersion) -> Result<crate::Kickstart, crate::KsError> {
        parse_str(
            text,
            "t.ks",
            &ParseOptions {
                version,
                ..ParseOptions::default()
            },
        )
    }

    fn body(ks: &crate::Kickstart) -> String {
        // Past kiln's generator and version lines.
        ks.render_pykickstart()
            .lines()
            .skip(2)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn auth_is_kept_and_written_under_rhel8_and_rhel9() {
        for v in [KsVersion::Rhel8, KsVersion::Rhel9] {
            let ks = read("auth --useshadow\n", v).unwrap();
            assert!(body(&ks).starts_with("# System authorization information\nauth --useshadow\n"));
            assert_eq!(ks.warnings[0].kind, WarningKind::Deprecation);
        }
        assert!(read("auth --useshadow\n", KsVersion::Rhel10).is_err());
        assert!(read("auth --useshadow\n", KsVersion::Devel).is_err());
    }

    #[test]
    fn rhel8_packages_spellings() {
        let ks = read(
            "%packages --instLangs=en --excludeWeakdeps\n%end\n",
            KsVersion::Rhel8,
        )
        .unwrap();
        assert!(body(&ks).contains("\n%packages --instLangs=en --excludeWeakdeps\n"));
        assert!(ks.warnings.is_empty());
        assert!(read("%packages --inst-langs=en\n%end\n", KsVersion::Rhel8).is_err());
        // RHEL 9 writes the dashed spellings and warns about the camel-case ones.
        let ks = read(
            "%packages --instLangs=en --excludeWeakdeps\n%end\n",
            KsVersion::Rhel9,
        )
        .unwrap();
        assert!(body(&ks).contains("\n%packages --inst-langs=en --exclude-weakdeps\n"));
        assert_eq!(ks.warnings.len(), 2);
        assert!(read("%packages --instLangs=en\n%end\n", KsVersion::Rhel10).is_err());
    }

    #[test]
    fn rhel10_timezone_options_removed_rhel9_warns() {
        for opt in ["--isUtc", "--nontp", "--ntpservers=a"] {
            let line = format!("timezone Europe/Prague {opt}\n");
            assert!(read(&line, KsVersion::Rhel10).is_err(), "{opt}");
            let ks = read(&line, KsVersion::Rhel9).unwrap();
            assert_eq!(ks.warnings.len(), 1, "{opt}");
        }
        let ks = read("timezone Europe/Prague --utc\n", KsVersion::Rhel8).unwrap();
        assert!(body(&ks).contains("timezone Europe/Prague --isUtc\n"));
    }

    #[test]
    fn subscription_commands_only_in_rhel() {
        let line = "rhsm --organization=a --activation-key=b\n";
        assert!(read(line, KsVersion::Devel).is_err());
        let ks = read(line, KsVersion::Rhel9).unwrap();
        assert!(body(&ks).contains(
            "# Red Hat Subscription Manager\nrhsm --organization=\"a\" --activation-key=\"b\"\n"
        ));
    }
}
