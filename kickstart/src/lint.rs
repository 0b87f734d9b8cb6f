//! `kiln ks lint`: ksvalidator's verdict (every error and warning pykickstart reports, warnings
//! counting as failures) plus kiln's own findings for live media.

use super::commands::{versions, LiveEffect, REGISTRY};
use super::error::{KsError, KsWarning, WarningKind};
use super::parser::{parse_file_outcome, ParseOptions};
use super::sections::ScriptKind;
use super::{Kickstart, Origin};

/// One lint finding.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    /// `error`, `warning` (pykickstart: fails validation) or `note` (kiln advice).
    pub severity: Severity,
    /// Message.
    pub message: String,
    /// Where.
    pub origin: Option<Origin>,
    /// The offending word, if known.
    #[serde(skip)]
    pub error: Option<KsError>,
}

/// Severity of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// pykickstart error.
    Error,
    /// pykickstart warning (ksvalidator fails on it).
    Warning,
    /// kiln's own advice; does not fail lint.
    Note,
}

/// The lint report.
#[derive(Debug, Default)]
pub struct Report {
    /// Findings in file order.
    pub findings: Vec<Finding>,
    /// The model, when the file could be read at all.
    pub kickstart: Option<Kickstart>,
}

impl Report {
    /// Whether ksvalidator would fail.
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.severity != Severity::Note)
    }
}

/// Lint a file (ksvalidator `-i` semantics: includes followed, errors collected).
pub fn lint_file(path: &str, opts: &ParseOptions, live: bool) -> Report {
    let o = ParseOptions {
        errors_fatal: false,
        ..opts.clone()
    };
    let mut rep = Report::default();
    match parse_file_outcome(path, &o) {
        Err(e) => rep.findings.push(Finding {
            severity: Severity::Error,
            message: e.message.clone(),
            origin: e.origin.clone(),
            error: Some(e),
        }),
        Ok(out) => {
            for e in out.errors {
                rep.findings.push(Finding {
                    severity: Severity::Error,
                    message: e.message.clone(),
                    origin: e.origin.clone(),
                    error: Some(e),
                });
            }
            // ksvalidator turns warnings into exceptions, so the first one aborts its line and
            // later ones on the same line are never seen.
            let mut lines_warned: Vec<&Origin> = Vec::new();
            for w in &out.kickstart.warnings {
                if let Some(o) = &w.origin {
                    if lines_warned.contains(&o) {
                        continue;
                    }
                    lines_warned.push(o);
                }
                rep.findings.push(warning_finding(w));
            }
            if live {
                rep.findings.extend(kiln_findings(&out.kickstart));
            }
            rep.kickstart = Some(out.kickstart);
        }
    }
    rep
}

fn warning_finding(w: &KsWarning) -> Finding {
    let severity = match w.kind {
        WarningKind::Parse | WarningKind::Deprecation => Severity::Warning,
        WarningKind::Kiln => Severity::Note,
    };
    Finding {
        severity,
        message: w.message.clone(),
        origin: w.origin.clone(),
        error: None,
    }
}

fn note(message: String, origin: Option<Origin>) -> Finding {
    Finding {
        severity: Severity::Note,
        message,
        origin,
        error: None,
    }
}

/// kiln's own findings for a live build.
pub fn kiln_findings(ks: &Kickstart) -> Vec<Finding> {
    let mut out = Vec::new();
    let file_rank = |o: &Option<Origin>| {
        o.as_ref().map(|o| {
            (
                ks.files
                    .iter()
                    .position(|f| f.name == o.file)
                    .unwrap_or(usize::MAX),
                o.line,
            )
        })
    };
    for slot in &ks.commands {
        if !slot.seen() || versions::priority(&REGISTRY[slot.info], ks.version).is_none() {
            continue;
        }
        if slot.state.live_effect() == LiveEffect::Ignored {
            out.push(note(
                format!(
                    "`{}` has no effect on live media; kiln ignores it",
                    slot.name()
                ),
                slot.lines.first().cloned(),
            ));
        }
    }
    let p = &ks.packages;
    if p.seen {
        let names: Vec<&str> = p.packages.iter().map(String::as_str).collect();
        let header = p.header_origins.first().cloned();
        let names_kernel = names
            .iter()
            .any(|n| n.starts_with("kernel") || n.starts_with("linux-image"));
        if !names_kernel {
            out.push(note(
                "%packages names no kernel (`kernel`): the live image will not boot unless a group pulls one in"
                    .into(),
                header.clone(),
            ));
        }
        if !names
            .iter()
            .any(|n| n.starts_with("dracut-live") || n.starts_with("dracut-config-generic"))
        {
            out.push(note(
                "%packages names no `dracut-live`: unless a group pulls it in, the initramfs cannot find the live root"
                    .into(),
                header,
            ));
        }
        for m in &p.modules {
            out.push(note(
                format!(
                    "module stream `@{}:{}` is not supported by kiln's resolver",
                    m.module, m.stream
                ),
                Some(m.origin.clone()),
            ));
        }
    }
    for s in &ks.scripts {
        if s.kind == ScriptKind::Post && !s.in_chroot {
            for (i, l) in s.body.lines().enumerate() {
                if writes_outside_root(l) {
                    out.push(note(
                        format!("%post --nochroot writes to `{}` outside $INSTALL_ROOT/$LIVE_ROOT: this changes the build host", l.trim()),
                        Some(Origin::new(s.origin.file.clone(), s.origin.line + i + 1)),
                    ));
                }
            }
        }
    }
    out.sort_by_key(|f| file_rank(&f.origin));
    out
}

/// A crude check for `> /abs`, `cp ... /abs`, `mkdir /abs` etc. not under $INSTALL_ROOT/$LIVE_ROOT.
fn writes_outside_root(line: &str) -> bool {
    let t = line.trim();
    if t.starts_with('#') {
        return false;
    }
    let words: Vec<&str> = t.split_whitespace().collect();
    let abs = |w: &str| {
        let w = w.trim_matches(|c| c == '"' || c == '\'');
        w.starts_with('/')
            && !w.starts_with("/dev/null")
            && !w.starts_with("/proc/")
            && !w.starts_with("/tmp")
    };
    for (i, w) in words.iter().enumerate() {
        if (*w == ">" || *w == ">>") && words.get(i + 1).is_some_and(|n| abs(n)) {
            return true;
        }
        if let Some(rest) = w.strip_prefix(">>").or_else(|| w.strip_prefix('>')) {
            if abs(rest) {
                return true;
            }
        }
    }
    if let Some(cmd) = words.first() {
        if matches!(
            *cmd,
            "cp" | "mv" | "install" | "mkdir" | "rm" | "ln" | "touch" | "tee"
        ) {
            return words.last().is_some_and(|l| abs(l)) && words.len() > 1;
        }
    }
    false
}
