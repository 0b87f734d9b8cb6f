//! Whole-file conformance on real kickstart trees (`$KILN_CORPUS/kickstarts`) against
//! pykickstart 3.78's references (`$KILN_CORPUS/kickstarts-flat`):
//! - flatten: where ksflatten succeeded, `kiln ks flatten` succeeds and pykickstart's flatten of
//!   kiln's output equals the reference byte for byte; where it failed, kiln fails at the same
//!   line (or names the same missing file);
//! - lint: `kiln ks lint` fails exactly where `ksvalidator -i` failed and reports the same
//!   problems (same line, same subject).
//!
//! Both run every tool from the kickstart's own directory, as the reference script did.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Row {
    file: String,
    flatten_rc: i32,
    validator_i_rc: i32,
}

fn rows(corpus: &Path) -> Vec<Row> {
    let t =
        std::fs::read_to_string(corpus.join("kickstarts-flat/RESULTS.tsv")).expect("RESULTS.tsv");
    t.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                file: f[0].to_string(),
                flatten_rc: f[1].parse().unwrap(),
                validator_i_rc: f[3].parse().unwrap(),
            }
        })
        .collect()
}

fn run_kiln(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(common::kiln())
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run kiln")
}

/// A small driver doing what `ksflatten -c F` does for many files in one Python process.
const FLATTEN_DRIVER: &str = r#"
import sys, json
from pykickstart.parser import KickstartParser
from pykickstart.version import makeVersion
out = {}
for f in sys.argv[1:]:
    p = KickstartParser(makeVersion())
    try:
        p.readKickstart(f)
        out[f] = {"ok": True, "text": str(p.handler)}
    except Exception as e:
        out[f] = {"ok": False, "text": str(e)}
print(json.dumps(out))
"#;

#[test]
fn flatten_agrees_with_ksflatten() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let Some(pyks) = common::pykickstart_bin() else {
        return;
    };
    let src = corpus.join("kickstarts");
    let refdir = corpus.join("kickstarts-flat");
    let tmp = tempfile::tempdir().unwrap();
    let mut outputs: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut failures = Vec::new();
    let all = rows(&corpus);
    for r in &all {
        let path = src.join(&r.file);
        let dir = path.parent().unwrap();
        let base = path.file_name().unwrap().to_str().unwrap();
        let out = run_kiln(dir, &["ks", "flatten", base]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if r.flatten_rc == 0 {
            if !out.status.success() {
                failures.push(format!(
                    "{}: ksflatten succeeded, kiln failed: {}",
                    r.file,
                    stderr.trim()
                ));
                continue;
            }
            let o = tmp.path().join(format!("{}.ks", outputs.len()));
            std::fs::write(&o, &out.stdout).unwrap();
            outputs.insert(r.file.clone(), o);
        } else {
            if out.status.success() {
                failures.push(format!("{}: ksflatten failed, kiln succeeded", r.file));
                continue;
            }
            let log = std::fs::read_to_string(refdir.join(format!("{}.ksflatten.log", r.file)))
                .unwrap_or_default();
            let want_line = log
                .split("occurred on line ")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .and_then(|s| s.parse::<usize>().ok());
            let ok = match want_line {
                Some(0) => {
                    // Missing file: kiln must name the same file.
                    let missing = log
                        .rsplit("No such file or directory: '")
                        .next()
                        .unwrap_or("")
                        .split('\'')
                        .next()
                        .unwrap_or("");
                    !missing.is_empty() && stderr.contains(missing)
                }
                Some(n) => stderr
                    .lines()
                    .next()
                    .is_some_and(|l| l.contains(&format!(":{n}:"))),
                None => true,
            };
            if !ok {
                failures.push(format!(
                    "{}: failure differs.\n  pykickstart: {}\n  kiln: {}",
                    r.file,
                    log.trim(),
                    stderr.trim()
                ));
            }
        }
    }
    // Re-flatten kiln's outputs with pykickstart in one process.
    let driver = tmp.path().join("flatten.py");
    std::fs::write(&driver, FLATTEN_DRIVER).unwrap();
    let files: Vec<&PathBuf> = outputs.values().collect();
    let res = Command::new(pyks.join("python3"))
        .arg(&driver)
        .args(&files)
        .output()
        .expect("python");
    assert!(
        res.status.success(),
        "driver failed: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    let map: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
    let mut agree_ok = 0;
    for (file, o) in &outputs {
        let v = &map[o.to_str().unwrap()];
        let want = std::fs::read_to_string(refdir.join(file)).unwrap();
        if v["ok"] != true {
            failures.push(format!(
                "{file}: pykickstart cannot read kiln's output: {}",
                v["text"]
            ));
        } else if v["text"].as_str().unwrap() != want {
            let got = v["text"].as_str().unwrap();
            let diff: Vec<String> = diff_lines(&want, got);
            failures.push(format!(
                "{file}: re-flattened output differs:\n{}",
                diff.join("\n")
            ));
        } else {
            agree_ok += 1;
        }
    }
    let agree = all.len() - failures.len();
    println!(
        "flatten: {agree} of {} agree ({} byte-identical after re-flatten)",
        all.len(),
        agree_ok
    );
    for f in &failures {
        println!("FAIL {f}");
    }
    assert!(
        failures.is_empty(),
        "{} files disagree with ksflatten",
        failures.len()
    );
}

fn diff_lines(want: &str, got: &str) -> Vec<String> {
    let w: Vec<&str> = want.lines().collect();
    let g: Vec<&str> = got.lines().collect();
    let mut out = Vec::new();
    for l in &w {
        if !g.contains(l) {
            out.push(format!("  - {l}"));
        }
    }
    for l in &g {
        if !w.contains(l) {
            out.push(format!("  + {l}"));
        }
    }
    if out.is_empty() {
        out.push("  (same lines, different order)".into());
    }
    out.truncate(12);
    out
}

/// One problem ksvalidator reported: its line (if it printed one) and a subject word that a
/// report of the same problem must mention.
#[derive(Debug)]
struct RefProblem {
    line: Option<usize>,
    subject: String,
    text: String,
}

fn reference_problems(log: &str) -> Vec<RefProblem> {
    let mut out = Vec::new();
    let lines: Vec<&str> = log.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim();
        i += 1;
        if l.is_empty()
            || l.starts_with("Checking kickstart file")
            || l.starts_with("General kickstart error")
        {
            continue;
        }
        if let Some(rest) = l.strip_prefix("The following problem occurred on line ") {
            let n: usize = rest.split_whitespace().next().unwrap().parse().unwrap();
            let mut msg = String::new();
            while i < lines.len() && lines[i].trim().is_empty() {
                i += 1;
            }
            if i < lines.len() {
                msg = lines[i].trim().to_string();
                i += 1;
            }
            let subject = subject_of(&msg);
            out.push(RefProblem {
                line: if n == 0 { None } else { Some(n) },
                subject,
                text: msg,
            });
            continue;
        }
        if l.starts_with("File uses a deprecated") {
            continue;
        }
        if let Some(rest) = l
            .strip_prefix("Ignoring deprecated option on line ")
            .or_else(|| l.strip_prefix("Ignoring deprecated command on line "))
        {
            let n: usize = rest.split(':').next().unwrap().trim().parse().unwrap();
            let subject = rest
                .split("The ")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .unwrap_or("")
                .to_string();
            out.push(RefProblem {
                line: Some(n),
                subject,
                text: l.to_string(),
            });
            continue;
        }
        if l.contains("Warning: ")
            || l.starts_with("warnings.warn")
            || l.starts_with("<site-packages>")
        {
            continue;
        }
        out.push(RefProblem {
            line: None,
            subject: subject_of(l),
            text: l.to_string(),
        });
    }
    out
}

fn subject_of(msg: &str) -> String {
    if let Some(f) = msg.split("No such file or directory: '").nth(1) {
        return f.split('\'').next().unwrap_or("").to_string();
    }
    for p in [
        "Unknown command: ",
        "unrecognized arguments: ",
        "Unknown kickstart section: ",
    ] {
        if let Some(r) = msg.strip_prefix(p) {
            return r.split_whitespace().next().unwrap_or("").to_string();
        }
    }
    if let Some(r) = msg.strip_suffix(" has been removed.") {
        return r.to_string();
    }
    if msg.contains("mountpoint") {
        return "mountpoint".into();
    }
    String::new()
}

#[test]
fn lint_agrees_with_ksvalidator() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let src = corpus.join("kickstarts");
    let refdir = corpus.join("kickstarts-flat");
    let all = rows(&corpus);
    let mut failures = Vec::new();
    for r in &all {
        let path = src.join(&r.file);
        let dir = path.parent().unwrap();
        let base = path.file_name().unwrap().to_str().unwrap();
        let out = run_kiln(dir, &["ks", "lint", "--json", "--no-live", base]);
        let v: serde_json::Value = match serde_json::from_slice(&out.stdout) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!(
                    "{}: no JSON from kiln ks lint ({e}): {}",
                    r.file,
                    String::from_utf8_lossy(&out.stderr)
                ));
                continue;
            }
        };
        let kiln_failed = !out.status.success();
        if kiln_failed != (r.validator_i_rc != 0) {
            failures.push(format!(
                "{}: ksvalidator -i rc {}, kiln lint {}: {}",
                r.file,
                r.validator_i_rc,
                if kiln_failed { "failed" } else { "passed" },
                v["findings"]
            ));
            continue;
        }
        if r.validator_i_rc == 0 {
            continue;
        }
        let log = std::fs::read_to_string(refdir.join(format!("{}.ksvalidator.log", r.file)))
            .unwrap_or_default();
        let findings: Vec<&serde_json::Value> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] != "note")
            .collect();
        for p in reference_problems(&log) {
            let found = findings.iter().any(|f| {
                let line_ok = match p.line {
                    Some(n) => f["origin"]["line"].as_u64() == Some(n as u64),
                    None => true,
                };
                let msg = f["message"].as_str().unwrap_or("");
                line_ok && (p.subject.is_empty() || msg.contains(&p.subject))
            });
            if !found {
                failures.push(format!(
                    "{}: ksvalidator reported {:?} (line {:?}); kiln: {}",
                    r.file, p.text, p.line, v["findings"]
                ));
            }
        }
    }
    println!(
        "lint: {} of {} agree with ksvalidator -i",
        all.len() - failures.len(),
        all.len()
    );
    for f in &failures {
        println!("FAIL {f}");
    }
    assert!(
        failures.is_empty(),
        "{} files disagree with ksvalidator",
        failures.len()
    );
}
