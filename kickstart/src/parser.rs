//! The kickstart reader: pykickstart's line state machine (commands, sections, `%include`,
//! `%ksappend`) over local files and URLs, producing a [`Kickstart`].

use std::path::{Path, PathBuf};

use super::commands::{self, versions, ParseCtx, Parsed, REGISTRY};
use super::error::{ErrorKind, KsError, KsWarning, LoadError, WarningKind};
use super::options::Namespace;
use super::sections::{Certificate, NullSection, Packages, Script, ScriptKind};
use super::{shlex, Kickstart, KsVersion, Origin, SourceFile};

/// How to read a kickstart.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Syntax version.
    pub version: KsVersion,
    /// Follow `%include` (ksvalidator without `-i` does not).
    pub follow_includes: bool,
    /// Stop at the first error (ksflatten); otherwise collect errors and go on (ksvalidator).
    pub errors_fatal: bool,
    /// Inline `%ksappend` files first (ksvalidator and Anaconda do; ksflatten does not).
    pub ksappend: bool,
    /// Directory that relative paths are tried against first (pykickstart uses the process CWD).
    pub cwd: PathBuf,
    /// Timeout for `%include` URLs.
    pub url_timeout: std::time::Duration,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            version: KsVersion::Devel,
            follow_includes: true,
            errors_fatal: true,
            ksappend: true,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            url_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// The result of a non-fatal parse: the model plus every error met.
#[derive(Debug)]
pub struct ParseOutcome {
    /// What was read.
    pub kickstart: Kickstart,
    /// Errors (empty when `errors_fatal`, which returns the first as `Err`).
    pub errors: Vec<KsError>,
}

/// Whether a string is a URL pykickstart would fetch.
pub fn is_url(s: &str) -> bool {
    ["http://", "https://", "ftp://", "file://"]
        .iter()
        .any(|p| s.starts_with(p))
}

/// Read a local path or URL to a string, with the path it was read from (none for a URL).
pub fn load(
    name: &str,
    base_cwd: &Path,
    timeout: std::time::Duration,
) -> Result<(String, Option<PathBuf>), LoadError> {
    if let Some(p) = name.strip_prefix("file://") {
        return std::fs::read(p)
            .map(|b| {
                (
                    String::from_utf8_lossy(&b).into_owned(),
                    Some(PathBuf::from(p)),
                )
            })
            .map_err(|source| LoadError::FileUrl {
                path: p.to_string(),
                source,
            });
    }
    if name.starts_with("http://") || name.starts_with("https://") || name.starts_with("ftp://") {
        return load_url(name, timeout).map(|text| (text, None));
    }
    let p = if Path::new(name).is_absolute() {
        PathBuf::from(name)
    } else {
        base_cwd.join(name)
    };
    match std::fs::read(&p) {
        Ok(b) => Ok((String::from_utf8_lossy(&b).into_owned(), Some(p))),
        Err(source) => Err(LoadError::Open {
            name: name.to_string(),
            source,
        }),
    }
}

#[cfg(feature = "url-includes")]
fn load_url(url: &str, timeout: std::time::Duration) -> Result<String, LoadError> {
    let agent = ureq::AgentBuilder::new().timeout(timeout).build();
    let resp = agent.get(url).call().map_err(|e| LoadError::Url {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    resp.into_string().map_err(|source| LoadError::UrlBody {
        url: url.to_string(),
        source,
    })
}

#[cfg(not(feature = "url-includes"))]
fn load_url(url: &str, _timeout: std::time::Duration) -> Result<String, LoadError> {
    Err(LoadError::UrlUnsupported {
        url: url.to_string(),
    })
}

/// Parse a kickstart file.
pub fn parse_file(path: &str, opts: &ParseOptions) -> Result<Kickstart, KsError> {
    let o = ParseOptions {
        errors_fatal: true,
        ..opts.clone()
    };
    parse_file_outcome(path, &o).map(|o| o.kickstart)
}

/// Parse a kickstart file collecting every error (ksvalidator mode when `errors_fatal` is false).
pub fn parse_file_outcome(path: &str, opts: &ParseOptions) -> Result<ParseOutcome, KsError> {
    let mut st = State::new(opts);
    st.read_file(path, None)?;
    st.finish()
}

/// Parse a kickstart held in a string (`name` is used in origins; includes resolve against
/// `opts.cwd`).
pub fn parse_str(text: &str, name: &str, opts: &ParseOptions) -> Result<Kickstart, KsError> {
    let o = ParseOptions {
        errors_fatal: true,
        ..opts.clone()
    };
    let mut st = State::new(&o);
    st.ks.files.push(SourceFile {
        name: name.to_string(),
        path: None,
        text: text.to_string(),
    });
    let text = if o.ksappend {
        st.preprocess(text, name)?
    } else {
        text.to_string()
    };
    st.run(&text, name)?;
    st.finish().map(|o| o.kickstart)
}

#[derive(Debug, Clone, PartialEq)]
enum Mode {
    Commands,
    Section(SectionState),
}

#[derive(Debug, Clone, PartialEq)]
enum SectionState {
    Packages,
    Script {
        kind: ScriptKind,
        ns: ScriptHeader,
        body: String,
        origin: Origin,
    },
    Null {
        args: Vec<String>,
        body: Vec<String>,
        origin: Origin,
        keep: bool,
    },
    Certificate {
        filename: String,
        dir: Option<String>,
        kind: Option<String>,
        body: String,
        origin: Origin,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct ScriptHeader {
    interpreter: String,
    log: Option<String>,
    error_on_fail: bool,
    in_chroot: bool,
}

impl SectionState {
    fn tag(&self) -> String {
        match self {
            SectionState::Packages => "%packages".into(),
            SectionState::Script { kind, .. } => kind.tag().into(),
            SectionState::Null { args, .. } => args[0].clone(),
            SectionState::Certificate { .. } => "%certificate".into(),
        }
    }
    fn all_lines(&self) -> bool {
        !matches!(self, SectionState::Packages)
    }
}

const NULL_SECTIONS: &[&str] = &["%addon", "%anaconda"];

fn valid_section(tag: &str) -> bool {
    matches!(tag, "%packages" | "%certificate")
        || ScriptKind::from_tag(tag).is_some()
        || NULL_SECTIONS.contains(&tag)
}

struct State<'o> {
    opts: &'o ParseOptions,
    ks: Kickstart,
    mode: Mode,
    errors: Vec<KsError>,
    /// Directory of the file at each include depth (pykickstart's `currentdir`).
    dirs: Vec<PathBuf>,
    /// The include stack: the `%include` line origins.
    chain: Vec<Origin>,
    /// Files on the include stack (cycle detection).
    open_files: Vec<PathBuf>,
}

impl<'o> State<'o> {
    fn new(opts: &'o ParseOptions) -> State<'o> {
        State {
            opts,
            ks: Kickstart::new(opts.version),
            mode: Mode::Commands,
            errors: Vec::new(),
            dirs: Vec::new(),
            chain: Vec::new(),
            open_files: Vec::new(),
        }
    }

    fn finish(mut self) -> Result<ParseOutcome, KsError> {
        if let Mode::Section(s) = &self.mode {
            // Only reachable for strings that end inside an included section.
            let e = KsError::new(
                ErrorKind::MissingEnd,
                format!("Section {} does not end with %end.", s.tag()),
            );
            self.fail(e)?;
        }
        Ok(ParseOutcome {
            kickstart: self.ks,
            errors: self.errors,
        })
    }

    /// Record an error: fatal mode returns it, otherwise it is collected.
    fn fail(&mut self, mut e: KsError) -> Result<(), KsError> {
        if e.include_chain.is_empty() {
            e.include_chain = self.chain.clone();
        }
        if self.opts.errors_fatal {
            Err(e)
        } else {
            self.errors.push(e);
            Ok(())
        }
    }

    fn warn(&mut self, kind: WarningKind, message: String, origin: &Origin) {
        self.ks.warnings.push(KsWarning {
            kind,
            message,
            origin: Some(origin.clone()),
        });
    }

    /// pykickstart's preprocess step: replace `%ksappend URL` lines by the file's contents.
    fn preprocess(&mut self, text: &str, name: &str) -> Result<String, KsError> {
        let mut out = String::with_capacity(text.len());
        for (i, l) in text.split_inclusive('\n').enumerate() {
            let ll = l.trim();
            if !ll.starts_with("%ksappend") {
                out.push_str(l);
                continue;
            }
            let origin = Origin::new(name, i + 1);
            let Some(target) = ll.split(' ').nth(1) else {
                return Err(KsError::bad(format!("Illegal url for %ksappend: {ll}")).at(&origin));
            };
            match load(target, &self.opts.cwd, self.opts.url_timeout) {
                Ok((t, p)) => {
                    self.ks.files.push(SourceFile {
                        name: target.to_string(),
                        path: p,
                        text: t.clone(),
                    });
                    out.push_str(&t);
                }
                Err(m) => {
                    return Err(KsError::new(
                        ErrorKind::Io,
                        format!("Unable to open %ksappend file: {m}"),
                    )
                    .at(&origin)
                    .token(target))
                }
            }
        }
        Ok(out)
    }

    /// pykickstart's `readKickstart`: resolve, load, run.
    fn read_file(&mut self, name: &str, include_origin: Option<&Origin>) -> Result<(), KsError> {
        let depth = self.chain.len();
        let mut path = if Path::new(name).is_absolute() || is_url(name) {
            PathBuf::from(name)
        } else {
            self.opts.cwd.join(name)
        };
        let mut display = name.to_string();
        if !is_url(name) && !path.exists() && depth > 0 {
            if let Some(d) = self.dirs.get(depth - 1) {
                let cand = d.join(name);
                if cand.exists() {
                    // Name it so that it can be opened from the working directory (diagnostics
                    // quote the line).
                    display = cand
                        .strip_prefix(&self.opts.cwd)
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_else(|_| cand.to_string_lossy().into_owned());
                    path = cand;
                }
            }
        }
        let cd = if is_url(name) {
            self.opts.cwd.clone()
        } else {
            path.parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| self.opts.cwd.clone())
        };
        if self.dirs.len() > depth {
            self.dirs.truncate(depth);
        }
        self.dirs.push(cd);
        let canon = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if self.open_files.contains(&canon) {
            let mut msg = format!("%include cycle: {display} is already being read");
            for o in &self.chain {
                msg.push_str(&format!("\n  included from {o}"));
            }
            let mut e = KsError::new(ErrorKind::IncludeCycle, msg).token(name);
            if let Some(o) = include_origin {
                e = e.at(o);
            }
            e.hint = Some("remove the %include that closes the loop".into());
            return self.fail(e);
        }
        let loaded = if is_url(name) {
            load(name, &self.opts.cwd, self.opts.url_timeout)
        } else {
            load(
                &path.to_string_lossy(),
                &self.opts.cwd,
                self.opts.url_timeout,
            )
            // pykickstart names the file as the user wrote it, not the path it was looked up at.
            .map_err(|e| e.named(name))
        };
        let (text, p) = match loaded {
            Ok(x) => x,
            Err(m) => {
                let mut e = KsError::new(
                    ErrorKind::Io,
                    format!("Unable to open input kickstart file: {m}"),
                );
                e.token = Some(name.to_string());
                if let Some(o) = include_origin {
                    e = e.at(o);
                    e.hint = Some(format!(
                        "`{name}` is looked up in the current directory, then beside the including file"
                    ));
                }
                return self.fail(e);
            }
        };
        self.ks.files.push(SourceFile {
            name: display.clone(),
            path: p,
            text: text.clone(),
        });
        let text = if self.opts.ksappend && depth == 0 {
            self.preprocess(&text, &display)?
        } else {
            text
        };
        self.open_files.push(canon);
        let r = self.run(&text, &display);
        self.open_files.pop();
        r
    }

    fn include(&mut self, target: &str, origin: &Origin) -> Result<(), KsError> {
        if !self.opts.follow_includes {
            return Ok(());
        }
        self.chain.push(origin.clone());
        let r = self.read_file(target, Some(origin));
        self.chain.pop();
        r
    }

    fn run(&mut self, text: &str, file: &str) -> Result<(), KsError> {
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let mut i = 0usize;
        while i < lines.len() {
            let line = lines[i];
            let lineno = i + 1;
            i += 1;
            let origin = Origin::new(file, lineno);
            if let Mode::Section(_) = self.mode {
                self.section_line(line, &origin)?;
                continue;
            }
            if is_blank_or_comment(line) {
                if let Some(p) = line.strip_prefix("#platform=") {
                    self.ks.platform = Some(p.trim().to_string());
                }
                continue;
            }
            let args = match shlex::split(line, true) {
                Ok(a) => a,
                Err(e) => {
                    self.fail(
                        KsError::new(ErrorKind::Syntax, format!("{e}"))
                            .at(&origin)
                            .hint("close the quote or escape it with a backslash"),
                    )?;
                    continue;
                }
            };
            if args.is_empty() {
                continue;
            }
            if args[0] == "%include" {
                match args.get(1).filter(|s| !s.is_empty()) {
                    Some(t) => {
                        let t = t.clone();
                        self.include(&t, &origin)?
                    }
                    None => {
                        self.fail(KsError::bad("%include needs a file name or URL").at(&origin))?
                    }
                }
                continue;
            }
            if args[0] == "%ksappend" {
                continue;
            }
            if args[0].starts_with('%') {
                self.section_header(&args, &origin)?;
                continue;
            }
            let r = self.command(&args, line, &origin);
            if let Err(e) = r {
                self.fail(e.at(&origin))?;
            }
        }
        // End of this file: a section still open at top level lacks %end.
        if self.chain.is_empty() {
            if let Mode::Section(s) = &self.mode {
                let tag = s.tag();
                let last = Origin::new(file, lines.len());
                self.mode = Mode::Commands;
                let e = KsError::new(
                    ErrorKind::MissingEnd,
                    format!("Section {tag} does not end with %end."),
                )
                .at(&last)
                .hint("add a line `%end` after the section's last line");
                self.fail(e)?;
            }
        }
        Ok(())
    }

    fn command(&mut self, args: &[String], line: &str, origin: &Origin) -> Result<(), KsError> {
        let word = &args[0];
        let version = self.opts.version;
        let Some(idx) = commands::lookup_in(word, version) else {
            return Err(KsError::new(
                ErrorKind::UnknownCommand,
                format!("Unknown command: {word}"),
            )
            .token(word.clone())
            .hint(unknown_command_hint(word, version)));
        };
        let info = &REGISTRY[idx];
        for c in versions::conflicts(info, version) {
            if let Some(ci) = commands::index_of(c) {
                if self.ks.commands[ci].seen() {
                    return Err(KsError::new(
                        ErrorKind::Conflict,
                        format!("The {word} and {c} commands can't be used at the same time."),
                    )
                    .token(word.clone()));
                }
            }
        }
        let slot = &mut self.ks.commands[idx];
        slot.lines.push(origin.clone());
        let mut ctx = ParseCtx {
            cmd: word,
            line,
            origin,
            version,
            warnings: Vec::new(),
        };
        let r = versions::dispatch(&mut *slot.state, &mut ctx, &args[1..], info.name);
        let warnings = std::mem::take(&mut ctx.warnings);
        for (k, m) in warnings {
            self.warn(k, m, origin);
        }
        match r? {
            Parsed::Item(i) => {
                self.ks.commands[idx].item_origins.insert(i, origin.clone());
            }
            Parsed::Command | Parsed::Nothing => {}
        }
        Ok(())
    }

    fn section_header(&mut self, args: &[String], origin: &Origin) -> Result<(), KsError> {
        let tag = args[0].as_str();
        if !valid_section(tag) {
            let e = KsError::new(ErrorKind::UnknownSection, format!("Unknown kickstart section: {tag}"))
                .at(origin)
                .token(tag)
                .hint("known sections: %packages, %pre, %pre-install, %post, %onerror, %traceback, %certificate, %addon, %anaconda");
            self.fail(e)?;
            // Like pykickstart with errors not fatal: skip the section's body as a null section.
            self.mode = Mode::Section(SectionState::Null {
                args: args.to_vec(),
                body: Vec::new(),
                origin: origin.clone(),
                keep: false,
            });
            return Ok(());
        }
        let mut warnings = Vec::new();
        let state = match self.header(tag, args, origin, &mut warnings) {
            Ok(s) => s,
            Err(e) => {
                self.fail(e.at(origin))?;
                // Keep reading the body so later lines are not taken for commands.
                header_fallback(tag, args, origin)
            }
        };
        for (k, m) in warnings {
            self.warn(k, m, origin);
        }
        self.mode = Mode::Section(state);
        Ok(())
    }

    fn header(
        &mut self,
        tag: &str,
        args: &[String],
        origin: &Origin,
        warnings: &mut Vec<(WarningKind, String)>,
    ) -> Result<SectionState, KsError> {
        if tag == "%packages" {
            let op = Packages::parser(self.opts.version);
            let ns = op.parse(&args[1..])?;
            deprecations(&ns, origin, warnings);
            self.ks
                .packages
                .handle_header(self.opts.version, &ns, origin, warnings, args)?;
            return Ok(SectionState::Packages);
        }
        if let Some(kind) = ScriptKind::from_tag(tag) {
            let op = Script::parser(kind);
            let ns = op.parse(&args[1..])?;
            deprecations(&ns, origin, warnings);
            // Syntaxes before F34 (RHEL 8) do not deprecate %traceback yet.
            if kind == ScriptKind::Traceback && self.opts.version != KsVersion::Rhel8 {
                warnings.push((
                    WarningKind::Deprecation,
                    "The %traceback section has been deprecated. It may be removed in the future, which will result \
                     in a fatal error from kickstart. Please modify your kickstart file to use the %onerror section \
                     instead."
                        .into(),
                ));
            }
            let ns_h = ScriptHeader {
                interpreter: ns.str("interpreter").unwrap_or_else(|| "/bin/sh".into()),
                log: ns.str("log"),
                error_on_fail: ns.bool("errorOnFail"),
                in_chroot: kind == ScriptKind::Post && !ns.bool("nochroot"),
            };
            return Ok(SectionState::Script {
                kind,
                ns: ns_h,
                body: String::new(),
                origin: origin.clone(),
            });
        }
        if tag == "%certificate" {
            let ns = Certificate::parser().parse(&args[1..])?;
            if ns.str("dir").is_none() && ns.str("type").is_none() {
                return Err(KsError::bad(
                    "One of --dir or --type must be specified for %certificate",
                ));
            }
            return Ok(SectionState::Certificate {
                filename: ns.str("filename").unwrap_or_default(),
                dir: ns.str("dir"),
                kind: ns.str("type"),
                body: String::new(),
                origin: origin.clone(),
            });
        }
        Ok(SectionState::Null {
            args: args.to_vec(),
            body: Vec::new(),
            origin: origin.clone(),
            keep: true,
        })
    }

    fn section_line(&mut self, line: &str, origin: &Origin) -> Result<(), KsError> {
        let Mode::Section(sec) = &mut self.mode else {
            unreachable!()
        };
        if is_blank_or_comment(line) && !sec.all_lines() {
            return Ok(());
        }
        if line.trim_start().starts_with('%') {
            let first = line.split_whitespace().next().unwrap_or("");
            if valid_section(first) || first == "%end" || first == "%include" {
                let args = match shlex::split(line, false) {
                    Ok(a) => a,
                    Err(e) => {
                        return self.fail(KsError::new(ErrorKind::Syntax, e.to_string()).at(origin))
                    }
                };
                if args.first().map(String::as_str) == Some("%end") {
                    return self.finalize(origin);
                }
                if args.first().map(String::as_str) == Some("%include") {
                    match args.get(1).filter(|s| !s.is_empty()) {
                        Some(t) => {
                            let t = t.clone();
                            return self.include(&t, origin);
                        }
                        None => {
                            return self
                                .fail(KsError::bad("%include needs a file name or URL").at(origin))
                        }
                    }
                }
                if args.first().map(String::as_str) == Some("%ksappend") {
                    return Ok(());
                }
                let tag = sec.tag();
                let e = KsError::new(
                    ErrorKind::MissingEnd,
                    format!("Section {tag} does not end with %end."),
                )
                .at(origin)
                .hint(format!("add `%end` before `{}`", args[0]));
                self.fail(e)?;
                // Recover as pykickstart does: close the section and treat the line as a header.
                self.finalize(origin)?;
                let args = shlex::split(line, true).unwrap_or_default();
                if !args.is_empty() {
                    return self.section_header(&args, origin);
                }
                return Ok(());
            }
        }
        let Mode::Section(sec) = &mut self.mode else {
            unreachable!()
        };
        match sec {
            SectionState::Packages => {
                let content = line.split('#').next().unwrap_or("").trim_end();
                if let Err(e) = self.ks.packages.add_line(content, origin) {
                    return self.fail(e.at(origin));
                }
            }
            SectionState::Script { body, .. } => body.push_str(line),
            SectionState::Null { body, .. } => {
                body.push(line.strip_suffix('\n').unwrap_or(line).to_string())
            }
            SectionState::Certificate { body, .. } => body.push_str(line),
        }
        Ok(())
    }

    fn finalize(&mut self, origin: &Origin) -> Result<(), KsError> {
        let Mode::Section(sec) = std::mem::replace(&mut self.mode, Mode::Commands) else {
            return Ok(());
        };
        match sec {
            SectionState::Packages => {}
            SectionState::Script {
                kind,
                ns,
                body,
                origin: o,
            } => {
                if body.split_whitespace().next().is_none() {
                    return Ok(());
                }
                self.ks.scripts.push(Script {
                    kind,
                    body,
                    interpreter: ns.interpreter,
                    in_chroot: ns.in_chroot,
                    logfile: ns.log,
                    error_on_fail: ns.error_on_fail,
                    origin: o,
                });
            }
            SectionState::Null {
                args,
                body,
                origin: o,
                keep,
            } => {
                if keep {
                    self.ks.null_sections.push(NullSection {
                        args,
                        body,
                        origin: o,
                    });
                }
            }
            SectionState::Certificate {
                filename,
                dir,
                kind,
                mut body,
                origin: o,
            } => {
                if body.ends_with('\n') {
                    body.pop();
                }
                if body.trim().is_empty() {
                    return self.fail(KsError::bad("The %certificate section is empty").at(origin));
                }
                self.ks.certificates.push(Certificate {
                    cert: body,
                    filename,
                    dir,
                    kind,
                    origin: o,
                });
            }
        }
        Ok(())
    }
}

fn header_fallback(tag: &str, args: &[String], origin: &Origin) -> SectionState {
    match ScriptKind::from_tag(tag) {
        Some(kind) => SectionState::Script {
            kind,
            ns: ScriptHeader {
                interpreter: "/bin/sh".into(),
                log: None,
                error_on_fail: false,
                in_chroot: kind == ScriptKind::Post,
            },
            body: String::new(),
            origin: origin.clone(),
        },
        None if tag == "%packages" => SectionState::Packages,
        // An invalid %certificate header: swallow its body without recording it.
        None => SectionState::Null {
            args: args.to_vec(),
            body: Vec::new(),
            origin: origin.clone(),
            keep: false,
        },
    }
}

fn deprecations(ns: &Namespace, origin: &Origin, warnings: &mut Vec<(WarningKind, String)>) {
    for opt in &ns.deprecated_used {
        warnings.push((
            WarningKind::Deprecation,
            format!(
                "Ignoring deprecated option on line {}: The {} option has been deprecated and no longer has any \
                 effect. It may be removed from future releases, which will result in a fatal error from kickstart. \
                 Please modify your kickstart file to remove this option.",
                origin.line, opt
            ),
        ));
    }
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

fn unknown_command_hint(word: &str, version: KsVersion) -> String {
    if commands::lookup(word).is_some() {
        return format!(
            "the {} syntax has no `{word}` command (choose the syntax with --ksversion)",
            version.name()
        );
    }
    let mut best: Option<(&str, usize)> = None;
    for c in REGISTRY
        .iter()
        .filter(|c| versions::availability(c.name, version) != versions::Availability::Absent)
    {
        for w in c.words {
            let d = edit_distance(word, w);
            if d <= 2 && best.is_none_or(|(_, bd)| d < bd) {
                best = Some((w, d));
            }
        }
    }
    match best {
        Some((w, _)) => format!("did you mean `{w}`?"),
        None if word.starts_with("__") && word.ends_with("__") => {
            "this looks like an unfilled template placeholder".to_string()
        }
        None => "a shell command must go in a %pre or %post section".to_string(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Parse one command line the way pykickstart's test harness does (a fresh DEVEL handler, the
/// given command word, parse warnings as errors, deprecation warnings ignored) and return what
/// `str()` of the returned object gives, minus its first line if that is a comment.
pub fn parse_single_command(word: &str, input: &str) -> Result<Option<String>, KsError> {
    parse_single_command_in(word, input, KsVersion::Devel)
}

/// [`parse_single_command`] with the handler of another syntax version.
pub fn parse_single_command_in(
    word: &str,
    input: &str,
    version: KsVersion,
) -> Result<Option<String>, KsError> {
    let Some(idx) = commands::lookup_in(word, version) else {
        return Err(KsError::new(
            ErrorKind::UnknownCommand,
            format!("Unknown command: {word}"),
        ));
    };
    let args =
        shlex::split(input, true).map_err(|e| KsError::new(ErrorKind::Syntax, e.to_string()))?;
    let mut state = (REGISTRY[idx].new)();
    state.set_version(version);
    let origin = Origin::new("<string>", 1);
    let mut ctx = ParseCtx {
        cmd: word,
        line: input,
        origin: &origin,
        version,
        warnings: Vec::new(),
    };
    let rest = if args.is_empty() { &[][..] } else { &args[1..] };
    let parsed = versions::dispatch(&mut *state, &mut ctx, rest, REGISTRY[idx].name)?;
    if let Some((_, m)) = ctx.warnings.iter().find(|(k, _)| *k == WarningKind::Parse) {
        return Err(KsError::new(ErrorKind::Warning, m.clone()));
    }
    let s = match parsed {
        Parsed::Nothing => return Ok(None),
        Parsed::Command => state.render(),
        Parsed::Item(i) => state.render_item(i),
    };
    Ok(Some(strip_first_comment(&s)))
}

fn strip_first_comment(s: &str) -> String {
    if s.starts_with('#') {
        match s.find('\n') {
            Some(i) => s[i + 1..].to_string(),
            None => s.to_string(),
        }
    } else {
        s.to_string()
    }
}

#[cfg(all(test, not(feature = "url-includes")))]
mod tests {
    use super::*;

    /// Without the feature a URL include is an error that names it, not a silent empty file.
    #[test]
    fn url_include_without_the_feature_is_refused() {
        let opts = ParseOptions::default();
        let err = parse_str("%include http://example.invalid/a.ks\n", "t.ks", &opts).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Io);
        assert!(err.message.contains("url-includes"), "{}", err.message);
    }
}
