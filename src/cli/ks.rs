//! `kiln ks flatten|lint|show`.

use std::io::Write;

use anyhow::Context;

use kiln::kickstart::lint::{lint_file, Severity};
use kiln::kickstart::{parse_file, KsVersion, ParseOptions};

use super::args::{KsCommand, KsCommon};
use super::diagnostics::{print_error, print_finding};
use super::{EXIT_BAD_INPUT, EXIT_OK};

/// A bad `--ksversion`: reported, then exit 1.
#[derive(Debug, thiserror::Error)]
#[error("unknown kickstart version `{0}` (use DEVEL, RHEL8, RHEL9 or RHEL10)")]
pub struct BadVersion(String);

fn options(c: &KsCommon) -> Result<ParseOptions, BadVersion> {
    let version =
        KsVersion::from_name(&c.ksversion).ok_or_else(|| BadVersion(c.ksversion.clone()))?;
    Ok(ParseOptions {
        version,
        ..ParseOptions::default()
    })
}

/// Run a `ks` subcommand.
pub fn run(cmd: &KsCommand, color: bool) -> anyhow::Result<i32> {
    match run_inner(cmd, color) {
        Err(e) if e.downcast_ref::<BadVersion>().is_some() => {
            eprintln!("error: {e}");
            Ok(EXIT_BAD_INPUT)
        }
        r => r,
    }
}

fn run_inner(cmd: &KsCommand, color: bool) -> anyhow::Result<i32> {
    match cmd {
        KsCommand::Flatten { common, output } => {
            // Unlike ksflatten (which drops %ksappend lines), inline them: a flat file should
            // hold everything the kickstart uses.
            let opts = options(common)?;
            let ks = match parse_file(&common.input, &opts) {
                Ok(k) => k,
                Err(e) => {
                    print_error(&e, color);
                    return Ok(EXIT_BAD_INPUT);
                }
            };
            for w in &ks.warnings {
                let loc = w
                    .origin
                    .as_ref()
                    .map(|o| format!("{o}: "))
                    .unwrap_or_default();
                eprintln!("{loc}warning: {}", w.message);
            }
            let text = ks.render();
            match output {
                Some(p) => {
                    // Write beside the target and rename, so a failure leaves no half file.
                    let tmp = p.with_extension("kiln-tmp");
                    std::fs::write(&tmp, &text)
                        .with_context(|| format!("cannot write `{}`", tmp.display()))?;
                    std::fs::rename(&tmp, p)
                        .with_context(|| format!("cannot write `{}`", p.display()))?;
                }
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(text.as_bytes())?;
                }
            }
            Ok(EXIT_OK)
        }
        KsCommand::Lint {
            common,
            no_includes,
            no_live,
            json,
        } => {
            let opts = ParseOptions {
                follow_includes: !no_includes,
                ..options(common)?
            };
            let rep = lint_file(&common.input, &opts, !no_live);
            if *json {
                let v = serde_json::json!({
                    "file": common.input,
                    "ok": !rep.failed(),
                    "findings": rep.findings,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for f in &rep.findings {
                    print_finding(f, color);
                }
                let errors = rep
                    .findings
                    .iter()
                    .filter(|f| f.severity == Severity::Error)
                    .count();
                let warnings = rep
                    .findings
                    .iter()
                    .filter(|f| f.severity == Severity::Warning)
                    .count();
                let notes = rep
                    .findings
                    .iter()
                    .filter(|f| f.severity == Severity::Note)
                    .count();
                eprintln!(
                    "{}: {} ({errors} errors, {warnings} warnings, {notes} notes)",
                    common.input,
                    if rep.failed() { "invalid" } else { "valid" }
                );
            }
            Ok(if rep.failed() {
                EXIT_BAD_INPUT
            } else {
                EXIT_OK
            })
        }
        KsCommand::Show { common, json: _ } => {
            let opts = options(common)?;
            let ks = match parse_file(&common.input, &opts) {
                Ok(k) => k,
                Err(e) => {
                    print_error(&e, color);
                    return Ok(EXIT_BAD_INPUT);
                }
            };
            println!("{}", serde_json::to_string_pretty(&ks.to_json())?);
            Ok(EXIT_OK)
        }
    }
}
