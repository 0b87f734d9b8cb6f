//! Human-facing error output: `file:line:col: message`, the offending line with a caret under
//! the word at fault, the include chain, and a hint.

use kiln::kickstart::lint::{Finding, Severity};
use kiln::kickstart::{KsError, Origin};

/// `s` in the terminal color `code` when `color`.
pub(super) fn paint(s: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// Read the line an origin points at (the file may be relative to the CWD).
fn source_line(o: &Origin) -> Option<String> {
    if o.line == 0 {
        return None;
    }
    let text = std::fs::read_to_string(&o.file).ok()?;
    text.lines().nth(o.line - 1).map(str::to_string)
}

fn column(line: &str, token: Option<&str>) -> usize {
    if let Some(t) = token.filter(|t| !t.is_empty()) {
        if let Some(i) = line.find(t) {
            return line[..i].chars().count() + 1;
        }
        // Tokens such as `--size=abc` may be written with quotes or as two words.
        if let Some(first) = t.split('=').next() {
            if let Some(i) = line.find(first) {
                return line[..i].chars().count() + 1;
            }
        }
    }
    line.chars().take_while(|c| c.is_whitespace()).count() + 1
}

/// Print an error with location, snippet, include chain and hint.
pub fn print_error(e: &KsError, color: bool) {
    print_diag(
        "error",
        "1;31",
        &e.message,
        e.origin.as_ref(),
        e.token.as_deref(),
        &e.include_chain,
        e.hint.as_deref(),
        color,
    );
}

/// Print a message at a kickstart line (with the snippet) and optional hint.
pub fn print_at(
    label: &str,
    message: &str,
    origin: Option<&Origin>,
    hint: Option<&str>,
    color: bool,
) {
    let code = if label == "error" { "1;31" } else { "1;33" };
    print_diag(label, code, message, origin, None, &[], hint, color);
}

/// Print one lint finding.
pub fn print_finding(f: &Finding, color: bool) {
    match (&f.error, f.severity) {
        (Some(e), _) => print_error(e, color),
        (None, Severity::Warning) => print_diag(
            "warning",
            "1;33",
            &f.message,
            f.origin.as_ref(),
            None,
            &[],
            None,
            color,
        ),
        (None, _) => print_diag(
            "note",
            "1;36",
            &f.message,
            f.origin.as_ref(),
            None,
            &[],
            None,
            color,
        ),
    }
}

fn print_diag(
    label: &str,
    code: &str,
    message: &str,
    origin: Option<&Origin>,
    token: Option<&str>,
    chain: &[Origin],
    hint: Option<&str>,
    color: bool,
) {
    let line = origin.and_then(source_line);
    let col = line.as_deref().map(|l| column(l, token)).unwrap_or(1);
    let loc = match origin {
        Some(o) => format!("{}:{}:{}: ", o.file, o.line, col),
        None => String::new(),
    };
    eprintln!(
        "{}{}: {}",
        paint(&loc, "1", color),
        paint(label, code, color),
        message
    );
    if let (Some(l), Some(o)) = (&line, origin) {
        let num = o.line.to_string();
        eprintln!("{} |", " ".repeat(num.len()));
        eprintln!("{} | {}", paint(&num, "34", color), l);
        let width = token
            .filter(|t| l.contains(*t))
            .map(|t| t.chars().count())
            .unwrap_or_else(|| {
                l.split_whitespace()
                    .next()
                    .map(|w| w.chars().count())
                    .unwrap_or(1)
            })
            .max(1);
        eprintln!(
            "{} | {}{}",
            " ".repeat(num.len()),
            " ".repeat(col - 1),
            paint(&"^".repeat(width), code, color)
        );
    }
    for o in chain.iter().rev() {
        eprintln!("  included from {o}");
    }
    if let Some(h) = hint {
        eprintln!("{}: {h}", paint("hint", "1;32", color));
    }
}
