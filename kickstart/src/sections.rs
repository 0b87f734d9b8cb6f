//! Sections: `%packages`, the script sections (`%pre`, `%pre-install`, `%post`, `%onerror`,
//! `%traceback`), `%certificate`, and the sections kept verbatim (`%addon`, `%anaconda`).

use std::collections::BTreeSet;

use super::error::{KsError, WarningKind};
use super::options::{Arg, Namespace, OptParser, Ty};
use super::{KsVersion, Origin};

/// Which script section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScriptKind {
    /// `%pre`: on the build host before anything.
    Pre,
    /// `%pre-install`: after the root is prepared, before packages.
    PreInstall,
    /// `%post`.
    Post,
    /// `%onerror`.
    OnError,
    /// `%traceback` (deprecated alias of %onerror).
    Traceback,
}

impl ScriptKind {
    /// The section tag.
    pub fn tag(self) -> &'static str {
        match self {
            ScriptKind::Pre => "%pre",
            ScriptKind::PreInstall => "%pre-install",
            ScriptKind::Post => "%post",
            ScriptKind::OnError => "%onerror",
            ScriptKind::Traceback => "%traceback",
        }
    }
    /// From a section tag.
    pub fn from_tag(t: &str) -> Option<ScriptKind> {
        Some(match t {
            "%pre" => ScriptKind::Pre,
            "%pre-install" => ScriptKind::PreInstall,
            "%post" => ScriptKind::Post,
            "%onerror" => ScriptKind::OnError,
            "%traceback" => ScriptKind::Traceback,
            _ => return None,
        })
    }
}

/// A script section.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Script {
    /// Which section.
    pub kind: ScriptKind,
    /// The body, exactly as written (lines with their newlines).
    pub body: String,
    /// `--interpreter` (default `/bin/sh`).
    pub interpreter: String,
    /// `%post` runs in the chroot unless `--nochroot`.
    pub in_chroot: bool,
    /// `--log`/`--logfile`.
    pub logfile: Option<String>,
    /// `--erroronfail`.
    pub error_on_fail: bool,
    /// The header line.
    pub origin: Origin,
}

impl Script {
    /// The header options parser for a script section.
    pub fn parser(kind: ScriptKind) -> OptParser {
        let mut op = OptParser::new(kind.tag())
            .add(Arg::flag(&["--erroronfail"]).dest("errorOnFail"))
            .add(Arg::opt(&["--interpreter"]).default(super::options::Val::Str("/bin/sh".into())))
            .add(Arg::opt(&["--log", "--logfile"]).dest("log"));
        if kind == ScriptKind::Post {
            op.push(Arg::flag(&["--nochroot"]));
        }
        op
    }

    /// pykickstart's `str(Script)`.
    pub fn render(&self) -> String {
        let mut r = format!("\n{}", self.kind.tag());
        if !self.interpreter.is_empty() && self.interpreter != "/bin/sh" {
            r.push_str(&format!(" --interpreter={}", self.interpreter));
        }
        if self.kind == ScriptKind::Post && !self.in_chroot {
            r.push_str(" --nochroot");
        }
        if let Some(l) = &self.logfile {
            r.push_str(&format!(" --logfile={l}"));
        }
        if self.error_on_fail {
            r.push_str(" --erroronfail");
        }
        if self.body.ends_with('\n') {
            format!("{r}\n{}%end\n", self.body)
        } else {
            format!("{r}\n{}\n%end\n", self.body)
        }
    }
}

/// How a group is included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupInclude {
    /// Mandatory only (`--nodefaults`).
    Required,
    /// Mandatory + default (plain `@group`).
    Default,
    /// Mandatory + default + optional (`--optional`).
    All,
}

/// A `@group` line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Group {
    /// Group id.
    pub name: String,
    /// Inclusion level.
    pub include: GroupInclude,
    /// The line it came from.
    pub origin: Option<Origin>,
}

impl Group {
    fn render(&self) -> String {
        match self.include {
            GroupInclude::Required => format!("@{} --nodefaults", self.name),
            GroupInclude::All => format!("@{} --optional", self.name),
            GroupInclude::Default => format!("@{}", self.name),
        }
    }
}

/// An `@module:stream` line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ModuleRef {
    /// Module name.
    pub module: String,
    /// Stream (and profile, if given).
    pub stream: String,
    /// The line.
    pub origin: Origin,
}

/// The merged `%packages` sections.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Packages {
    /// A `%packages` header was seen.
    pub seen: bool,
    /// `--default`.
    pub default: bool,
    /// `@^environment` (only one).
    pub environment: Option<String>,
    /// Where the environment line was.
    pub environment_origin: Option<Origin>,
    /// Groups, sorted by name as pykickstart keeps them.
    pub groups: Vec<Group>,
    /// Excluded groups (`-@group`).
    pub excluded_groups: Vec<Group>,
    /// Package names/globs (sorted, deduplicated).
    pub packages: Vec<String>,
    /// Excluded package names/globs.
    pub excluded: Vec<String>,
    /// Line of each package or exclusion entry (by its text; the last line that named it).
    pub origins: std::collections::BTreeMap<String, Origin>,
    /// `--excludedocs`.
    pub exclude_docs: bool,
    /// `--nobase` absent (pre-F22 syntax; always true on DEVEL).
    pub add_base: bool,
    /// `--nocore`.
    pub nocore: bool,
    /// `--ignoremissing`.
    pub ignore_missing: bool,
    /// `--ignorebroken`.
    pub ignore_broken: bool,
    /// `--inst-langs` / `--instLangs`.
    pub inst_langs: Option<String>,
    /// `--multilib`.
    pub multilib: bool,
    /// `--exclude-weakdeps` / `--excludeWeakdeps`.
    pub exclude_weakdeps: bool,
    /// `--timeout`.
    pub timeout: Option<i64>,
    /// `--retries`.
    pub retries: Option<i64>,
    /// `@module:stream` lines (parsed; unsupported by the live build).
    pub modules: Vec<ModuleRef>,
    /// Header lines of every %packages section.
    pub header_origins: Vec<Origin>,
    /// Syntax version (the option spellings written depend on it).
    #[serde(skip)]
    pub version: KsVersion,
}

impl Default for Packages {
    fn default() -> Self {
        Packages {
            seen: false,
            default: false,
            environment: None,
            environment_origin: None,
            groups: Vec::new(),
            excluded_groups: Vec::new(),
            packages: Vec::new(),
            excluded: Vec::new(),
            origins: Default::default(),
            exclude_docs: false,
            add_base: true,
            nocore: false,
            ignore_missing: false,
            ignore_broken: false,
            inst_langs: None,
            multilib: false,
            exclude_weakdeps: false,
            timeout: None,
            retries: None,
            modules: Vec::new(),
            header_origins: Vec::new(),
            version: KsVersion::Devel,
        }
    }
}

impl Packages {
    /// The header options parser. RHEL 8 (older than F32) knows only the camel-case
    /// `--instLangs`/`--excludeWeakdeps`; RHEL 9 adds the dashed aliases; DEVEL deprecates the
    /// camel-case ones and RHEL 10 removes them. No RHEL syntax has `--ignorebroken`.
    pub fn parser(version: KsVersion) -> OptParser {
        let mut op = OptParser::new("%packages")
            .add(Arg::flag(&["--excludedocs"]))
            .add(Arg::flag(&["--ignoremissing"]))
            .add(Arg::flag(&["--default"]).dest("defaultPackages"))
            .add(Arg::flag(&["--multilib"]).dest("multiLib"))
            .add(Arg::flag(&["--nocore"]))
            .add(Arg::opt(&["--timeout"]).ty(Ty::Int))
            .add(Arg::opt(&["--retries"]).ty(Ty::Int));
        if version != KsVersion::Rhel8 {
            op.push(Arg::opt(&["--inst-langs"]).dest("instLangs"));
            op.push(Arg::flag(&["--exclude-weakdeps"]).dest("excludeWeakdeps"));
        }
        match version {
            KsVersion::Devel => {
                op.push(Arg::flag(&["--ignorebroken"]));
                op.push(Arg::opt(&["--instLangs"]).dest("instLangs").deprecated());
                op.push(
                    Arg::flag(&["--excludeWeakdeps"])
                        .dest("excludeWeakdeps")
                        .deprecated(),
                );
            }
            KsVersion::Rhel8 | KsVersion::Rhel9 => {
                op.push(Arg::opt(&["--instLangs"]).dest("instLangs"));
                op.push(Arg::flag(&["--excludeWeakdeps"]).dest("excludeWeakdeps"));
            }
            KsVersion::Rhel10 => {}
        }
        op
    }

    /// Apply a `%packages` header.
    pub fn handle_header(
        &mut self,
        version: KsVersion,
        ns: &Namespace,
        origin: &Origin,
        warnings: &mut Vec<(WarningKind, String)>,
        args: &[String],
    ) -> Result<(), KsError> {
        self.version = version;
        self.seen = true;
        self.header_origins.push(origin.clone());
        self.exclude_docs = ns.bool("excludedocs");
        self.ignore_missing = ns.bool("ignoremissing");
        if ns.bool("defaultPackages") {
            self.default = true;
        }
        if let Some(l) = ns.str("instLangs") {
            self.inst_langs = Some(l);
        }
        self.add_base = true;
        self.multilib = ns.bool("multiLib");
        if ns.bool("defaultPackages") && ns.bool("nocore") {
            return Err(KsError::bad(
                "--default and --nocore cannot be used together",
            ));
        }
        self.nocore = ns.bool("nocore");
        self.timeout = ns.int("timeout");
        self.retries = ns.int("retries");
        self.exclude_weakdeps = ns.bool("excludeWeakdeps");
        self.ignore_broken = version == KsVersion::Devel && ns.bool("ignorebroken");
        // F32..F39 syntaxes (RHEL 9 among them) warn that the camel-case spellings will go.
        if version == KsVersion::Rhel9 {
            for (old, new) in [
                ("--instLangs", "--inst-langs"),
                ("--excludeWeakdeps", "--exclude-weakdeps"),
            ] {
                let prefix = format!("{old}=");
                if args.iter().any(|a| a == old || a.starts_with(&prefix)) {
                    warnings.push((
                        WarningKind::Deprecation,
                        format!(
                            "The {old} option on line {} will be deprecated in future releases. Please modify \
                             your kickstart file to replace this option with its preferred alias {new}.",
                            origin.line
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn process_group(&mut self, line: &str, origin: &Origin) -> Result<(), KsError> {
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        let op = OptParser::new("")
            .add(Arg::flag(&["--nodefaults"]))
            .add(Arg::flag(&["--optional"]));
        let (ns, extra) = op.parse_known(&words)?;
        if ns.bool("nodefaults") && ns.bool("optional") {
            return Err(KsError::bad(
                "Group cannot specify both --nodefaults and --optional",
            ));
        }
        let name = extra.join(" ");
        if self.groups.iter().any(|g| g.name == name) {
            return Ok(());
        }
        let include = if ns.bool("nodefaults") {
            GroupInclude::Required
        } else if ns.bool("optional") {
            GroupInclude::All
        } else {
            GroupInclude::Default
        };
        if let Some((module, stream)) = name.split_once(':').filter(|_| !name.contains(' ')) {
            self.modules.push(ModuleRef {
                module: module.into(),
                stream: stream.into(),
                origin: origin.clone(),
            });
            self.modules
                .sort_by(|a, b| (&a.module, &a.stream).cmp(&(&b.module, &b.stream)));
        }
        self.groups.push(Group {
            name,
            include,
            origin: Some(origin.clone()),
        });
        // pykickstart keeps groups sorted by name (it sorts in place when writing).
        self.groups.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(())
    }

    /// Add one body line (comments already stripped, non-empty).
    pub fn add_line(&mut self, raw: &str, origin: &Origin) -> Result<(), KsError> {
        let stripped = raw.trim();
        if stripped.is_empty() {
            // pykickstart indexes stripped[0] and fails on a whitespace-only remainder; such
            // lines never reach here because blank lines are skipped before.
            return Ok(());
        }
        let mut new_pkgs: BTreeSet<String> = BTreeSet::new();
        let mut new_excl: BTreeSet<String> = BTreeSet::new();
        let mut excluded_groups: Vec<Group> = Vec::new();
        if let Some(env) = stripped.strip_prefix("@^") {
            self.environment = Some(env.to_string());
            self.environment_origin = Some(origin.clone());
        } else if let Some(g) = stripped.strip_prefix('@') {
            self.process_group(g, origin)?;
        } else if let Some(rest) = stripped.strip_prefix('-') {
            if rest.starts_with("@^") && self.environment.as_deref() == Some(&rest[2..]) {
                self.environment = None;
            } else if let Some(g) = rest.strip_prefix('@') {
                excluded_groups.push(Group {
                    name: g.to_string(),
                    include: GroupInclude::Default,
                    origin: Some(origin.clone()),
                });
            } else {
                new_excl.insert(rest.to_string());
                self.origins.insert(format!("-{rest}"), origin.clone());
            }
        } else {
            new_pkgs.insert(stripped.to_string());
            self.origins.insert(stripped.to_string(), origin.clone());
        }
        let names: Vec<String> = excluded_groups.iter().map(|g| g.name.clone()).collect();
        self.groups.retain(|g| !names.contains(&g.name));
        self.excluded_groups.extend(excluded_groups);
        self.excluded_groups.sort_by(|a, b| a.name.cmp(&b.name));
        let existing_pkgs: BTreeSet<String> = self.packages.iter().cloned().collect();
        let existing_excl: BTreeSet<String> = self.excluded.iter().cloned().collect();
        let pkgs: BTreeSet<String> = existing_pkgs
            .difference(&new_excl)
            .cloned()
            .chain(new_pkgs)
            .collect();
        let excl: BTreeSet<String> = existing_excl
            .difference(&pkgs)
            .cloned()
            .chain(new_excl)
            .collect();
        self.packages = pkgs.into_iter().collect();
        self.excluded = excl.into_iter().collect();
        Ok(())
    }

    fn content(&self) -> String {
        let mut s = String::new();
        if !self.default {
            if let Some(e) = &self.environment {
                s.push_str(&format!("@^{e}\n"));
            }
        }
        let mut groups = self.groups.clone();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        for g in &groups {
            s.push_str(&g.render());
            s.push('\n');
        }
        let mut p = self.packages.clone();
        p.sort();
        for x in &p {
            s.push_str(x);
            s.push('\n');
        }
        let mut eg = self.excluded_groups.clone();
        eg.sort_by(|a, b| a.name.cmp(&b.name));
        for g in &eg {
            s.push_str(&format!("-{}\n", g.render()));
        }
        let mut e = self.excluded.clone();
        e.sort();
        for x in &e {
            s.push_str(&format!("-{x}\n"));
        }
        s
    }

    /// pykickstart's `str(Packages)`.
    pub fn render(&self) -> String {
        let pkgs = self.content();
        let mut r = String::new();
        if self.default {
            r.push_str(" --default");
        }
        if self.exclude_docs {
            r.push_str(" --excludedocs");
        }
        if !self.add_base {
            r.push_str(" --nobase");
        }
        if self.nocore {
            r.push_str(" --nocore");
        }
        if self.ignore_missing {
            r.push_str(" --ignoremissing");
        }
        if self.ignore_broken {
            r.push_str(" --ignorebroken");
        }
        // Syntaxes older than F32 (RHEL 8) write the camel-case spellings.
        let old_spelling = self.version == KsVersion::Rhel8;
        if let Some(l) = &self.inst_langs {
            if old_spelling {
                r.push_str(&format!(" --instLangs={l}"));
            } else {
                r.push_str(&format!(" --inst-langs={l}"));
            }
        }
        if self.multilib {
            r.push_str(" --multilib");
        }
        if self.exclude_weakdeps {
            r.push_str(if old_spelling {
                " --excludeWeakdeps"
            } else {
                " --exclude-weakdeps"
            });
        }
        if let Some(t) = self.timeout {
            r.push_str(&format!(" --timeout={t}"));
        }
        if let Some(t) = self.retries {
            r.push_str(&format!(" --retries={t}"));
        }
        if r.is_empty() && pkgs.is_empty() && !self.seen {
            return String::new();
        }
        format!("\n%packages{r}\n{pkgs}\n%end\n")
    }
}

/// A section kept verbatim (`%addon NAME ...`, `%anaconda`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct NullSection {
    /// The header words.
    pub args: Vec<String>,
    /// Body lines without their newlines.
    pub body: Vec<String>,
    /// Header line.
    pub origin: Origin,
}

impl NullSection {
    /// pykickstart's rendering of a null section (without trailing newline).
    pub fn render(&self) -> String {
        let body = self.body.join("\n");
        if body.is_empty() {
            format!("{}\n%end", self.args.join(" "))
        } else {
            format!("{}\n{}\n%end", self.args.join(" "), body)
        }
    }
}

/// A `%certificate` section.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Certificate {
    /// The certificate text.
    pub cert: String,
    /// `--filename`.
    pub filename: String,
    /// `--dir`.
    pub dir: Option<String>,
    /// `--type`.
    pub kind: Option<String>,
    /// Header line.
    pub origin: Origin,
}

impl Certificate {
    /// The header parser.
    pub fn parser() -> OptParser {
        OptParser::new("%certificate")
            .add(Arg::opt(&["--filename"]).required())
            .add(Arg::opt(&["--dir"]))
            .add(Arg::opt(&["--type"]))
    }

    /// pykickstart's `str(Certificate)`.
    pub fn render(&self) -> String {
        if self.cert.is_empty() {
            return String::new();
        }
        let mut r = format!("\n%certificate --filename=\"{}\"", self.filename);
        if let Some(t) = &self.kind {
            r.push_str(&format!(" --type=\"{t}\""));
        }
        if let Some(d) = &self.dir {
            r.push_str(&format!(" --dir=\"{d}\""));
        }
        r.push('\n');
        format!("{r}{}\n%end\n", self.cert)
    }
}
