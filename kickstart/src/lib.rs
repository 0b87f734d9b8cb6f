//! kiln-kickstart, kiln's kickstart front end (kiln re-exports it as `kiln::kickstart`): reads Fedora/RHEL kickstart files the way pykickstart does (the reference
//! is pykickstart 3.78's `ksflatten`/`ksvalidator`), into a typed [`Kickstart`] whose every
//! command, section and package line remembers its [`Origin`].
//!
//! Owns: line splitting, option parsing, `%include`/`%ksappend`, sections, the command model,
//! rendering back to kickstart text (flatten) and lint. Knows nothing of repositories, RPM or
//! images; the only I/O is reading the kickstart files (local or by URL).

pub mod commands;
pub mod error;
pub mod lint;
pub mod options;
pub mod parser;
pub mod render;
pub mod sections;
pub mod shlex;

use std::path::PathBuf;

pub use error::{ErrorKind, KsError, KsWarning, LoadError, WarningKind};
pub use parser::{parse_file, parse_str, ParseOptions};
pub use sections::{Certificate, NullSection, Packages, Script, ScriptKind};

use commands::{Command, REGISTRY};

/// Where a kickstart item came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Origin {
    /// The file (as named by the user or the `%include` line; URLs stay URLs).
    pub file: String,
    /// 1-based line number in that file (0: the file as a whole).
    pub line: usize,
}

impl Origin {
    /// An origin.
    pub fn new(file: impl Into<String>, line: usize) -> Origin {
        Origin {
            file: file.into(),
            line,
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Kickstart syntax version (pykickstart's handler versions that kiln supports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
pub enum KsVersion {
    /// RHEL 8.
    Rhel8,
    /// RHEL 9.
    Rhel9,
    /// RHEL 10.
    Rhel10,
    /// Latest Fedora (pykickstart's DEVEL = F46).
    #[default]
    Devel,
}

impl KsVersion {
    /// Parse a `--ksversion` value (case-insensitive: DEVEL, F46, RHEL8, RHEL9, RHEL10).
    pub fn from_name(s: &str) -> Option<KsVersion> {
        match s.to_ascii_uppercase().as_str() {
            "DEVEL" | "F46" | "FEDORA" => Some(KsVersion::Devel),
            "RHEL8" => Some(KsVersion::Rhel8),
            "RHEL9" => Some(KsVersion::Rhel9),
            "RHEL10" => Some(KsVersion::Rhel10),
            _ => None,
        }
    }
    /// The name pykickstart prints in `#version=`.
    pub fn name(self) -> &'static str {
        match self {
            KsVersion::Devel => "DEVEL",
            KsVersion::Rhel8 => "RHEL8",
            KsVersion::Rhel9 => "RHEL9",
            KsVersion::Rhel10 => "RHEL10",
        }
    }
    /// Whether this is a RHEL syntax.
    pub fn is_rhel(self) -> bool {
        !matches!(self, KsVersion::Devel)
    }
    /// The syntax a build reads its kickstart with when `--ksversion` is not given: an
    /// Enterprise Linux `$releasever` (major 8, 9 or 10, as in `9` or `9.4`) selects that
    /// RHEL handler, the one AlmaLinux, Rocky and CentOS Stream kickstarts are written for;
    /// anything else (Fedora's 40, 41, `rawhide`, or no `--releasever`) is DEVEL.
    pub fn for_releasever(releasever: Option<&str>) -> KsVersion {
        let major = releasever
            .and_then(|r| r.trim().split('.').next())
            .and_then(|m| m.parse::<u32>().ok());
        match major {
            Some(8) => KsVersion::Rhel8,
            Some(9) => KsVersion::Rhel9,
            Some(10) => KsVersion::Rhel10,
            _ => KsVersion::Devel,
        }
    }
}

/// One command class's state within a kickstart.
#[derive(Debug, Clone)]
pub struct CommandSlot {
    /// Index into [`REGISTRY`].
    pub info: usize,
    /// The state.
    pub state: Box<dyn Command>,
    /// Every line that used this command, in order.
    pub lines: Vec<Origin>,
    /// For multi-instance commands: the origin of each data item by index.
    pub item_origins: std::collections::BTreeMap<usize, Origin>,
}

impl CommandSlot {
    /// Whether any line used this command.
    pub fn seen(&self) -> bool {
        !self.lines.is_empty()
    }
    /// The canonical command name.
    pub fn name(&self) -> &'static str {
        REGISTRY[self.info].name
    }
}

/// A source file that took part in the parse (for diagnostics).
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Name as used in origins.
    pub name: String,
    /// Resolved path (None for URLs and strings).
    pub path: Option<PathBuf>,
    /// Contents.
    pub text: String,
}

/// A parsed kickstart.
#[derive(Debug, Clone)]
pub struct Kickstart {
    /// Syntax version it was read with.
    pub version: KsVersion,
    /// `#platform=` special comment.
    pub platform: Option<String>,
    /// One slot per registry entry, in registry order.
    pub commands: Vec<CommandSlot>,
    /// %pre, %pre-install, %post, %onerror, %traceback, in file order.
    pub scripts: Vec<Script>,
    /// The merged %packages sections.
    pub packages: Packages,
    /// Sections kept verbatim (%addon, %anaconda).
    pub null_sections: Vec<NullSection>,
    /// %certificate sections.
    pub certificates: Vec<Certificate>,
    /// Warnings raised while parsing (pykickstart's warnings, in order).
    pub warnings: Vec<KsWarning>,
    /// Every file read, top-level first.
    pub files: Vec<SourceFile>,
}

impl Kickstart {
    /// An empty kickstart of the given syntax.
    pub fn new(version: KsVersion) -> Kickstart {
        Kickstart {
            version,
            platform: None,
            commands: REGISTRY
                .iter()
                .enumerate()
                .map(|(i, c)| CommandSlot {
                    info: i,
                    state: {
                        let mut state = (c.new)();
                        state.set_version(version);
                        state
                    },
                    lines: Vec::new(),
                    item_origins: Default::default(),
                })
                .collect(),
            scripts: Vec::new(),
            packages: Packages {
                version,
                ..Packages::default()
            },
            null_sections: Vec::new(),
            certificates: Vec::new(),
            warnings: Vec::new(),
            files: Vec::new(),
        }
    }

    /// The slot of a canonical command name (`"url"`, `"partition"`, ...).
    pub fn slot(&self, name: &str) -> Option<&CommandSlot> {
        self.commands.iter().find(|s| s.name() == name)
    }

    /// The typed state of a command, if that command's module defines `T`.
    pub fn command<T: Command>(&self) -> Option<&T> {
        self.commands
            .iter()
            .find_map(|s| s.state.as_any().downcast_ref::<T>())
    }

    /// Whether a command word's class was used.
    pub fn seen(&self, name: &str) -> bool {
        self.slot(name).is_some_and(|s| s.seen())
    }

    /// The full kickstart as `kiln ks flatten` writes it: pykickstart's `str(handler)`, except
    /// where that would not read back to the same state (see [`Command::render_flat`]).
    pub fn render(&self) -> String {
        render::render(self)
    }

    /// The full kickstart exactly as pykickstart's `str(handler)` writes it.
    pub fn render_pykickstart(&self) -> String {
        render::render_pykickstart(self)
    }

    /// The typed model as JSON (`kiln ks show --json`).
    pub fn to_json(&self) -> serde_json::Value {
        render::to_json(self)
    }
}

#[cfg(test)]
mod tests {
    use super::KsVersion;

    #[test]
    fn releasever_rule() {
        for (rv, v) in [
            (Some("8"), KsVersion::Rhel8),
            (Some("9"), KsVersion::Rhel9),
            (Some("9.4"), KsVersion::Rhel9),
            (Some("10"), KsVersion::Rhel10),
            (Some("41"), KsVersion::Devel),
            (Some("rawhide"), KsVersion::Devel),
            (None, KsVersion::Devel),
        ] {
            assert_eq!(KsVersion::for_releasever(rv), v, "{rv:?}");
        }
    }
}
