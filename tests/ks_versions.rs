//! The RHEL syntaxes against pykickstart 3.78's own RHEL handlers, run live:
//! - command vectors: every `command` record of `$KILN_CORPUS/pykickstart-conformance` is parsed
//!   with pykickstart's `RHEL8`/`RHEL9`/`RHEL10` handler (one fresh command object per record, parse
//!   warnings as errors, deprecation warnings ignored, as the harvest did for DEVEL) and with kiln
//!   under the same `--ksversion`: both accept or both reject, and where they accept, kiln's
//!   rendering equals `str()` of pykickstart's object. The vectors whose outcome under that version
//!   differs from DEVEL are counted apart: they are the ones the version changes.
//! - corpus files: every kickstart of `$KILN_CORPUS/kickstarts` under each RHEL version: `kiln ks
//!   flatten --ksversion V` succeeds exactly where `ksflatten -v V` does and pykickstart reads
//!   kiln's output back to the same text as the original; `kiln ks lint --ksversion V` fails
//!   exactly where `ksvalidator -i -v V` fails, and reports pykickstart's first warning word for
//!   word. The EL-named files (ELN, AlmaLinux, Rocky, CentOS, RHEL) are counted apart.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kiln::kickstart::parser::parse_single_command_in;
use kiln::kickstart::KsVersion;

const VERSIONS: [(&str, KsVersion); 3] = [
    ("RHEL8", KsVersion::Rhel8),
    ("RHEL9", KsVersion::Rhel9),
    ("RHEL10", KsVersion::Rhel10),
];

/// One handler per version; each record gets a fresh command object (`resetCommand`).
const VECTOR_DRIVER: &str = r#"
import json, re, shlex, sys, warnings
from pykickstart.version import makeVersion, stringToVersion
from pykickstart.errors import KickstartParseWarning, KickstartDeprecationWarning
cases = json.load(open(sys.argv[1]))
res = {}
for v in sys.argv[2:]:
    h = makeVersion(stringToVersion(v))
    out = []
    for cmd, line in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("error", category=KickstartParseWarning)
            warnings.simplefilter("ignore", category=KickstartDeprecationWarning)
            if cmd not in h.commands:
                out.append({"status": "unknown-command"})
                continue
            try:
                h.resetCommand(cmd)
                p = h.commands[cmd]
                p.currentLine = line; p.currentCmd = cmd; p.seen = True
                obj = p.parse(shlex.split(line, comments=True)[1:])
                s = re.sub("^#[^\n]*\n", "", str(obj)) if obj is not None else None
                out.append({"status": "ok", "str": s})
            except Exception as e:
                out.append({"status": "error", "message": "%s: %s" % (type(e).__name__, e)})
    res[v] = out
print(json.dumps(res))
"#;

#[test]
fn rhel_command_vectors_match_pykickstart() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let Some(pyks) = common::pykickstart_bin() else {
        return;
    };
    let text = std::fs::read_to_string(corpus.join("pykickstart-conformance/cases.jsonl"))
        .expect("read cases.jsonl");
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .filter(|r: &serde_json::Value| r["kind"] == "command")
        .collect();
    let cases: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r["command"].as_str().unwrap().to_string(),
                r["input"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("cases.json");
    std::fs::write(&input, serde_json::to_string(&cases).unwrap()).unwrap();
    let driver = tmp.path().join("vectors.py");
    std::fs::write(&driver, VECTOR_DRIVER).unwrap();
    let res = Command::new(pyks.join("python3"))
        .arg(&driver)
        .arg(&input)
        .args(VERSIONS.map(|v| v.0))
        .output()
        .expect("python");
    assert!(
        res.status.success(),
        "driver failed: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    let want: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();

    let mut failures = Vec::new();
    for (name, version) in VERSIONS {
        let outcomes = want[name].as_array().unwrap();
        let (mut agree, mut dep_agree, mut dep_total) = (0, 0, 0);
        let mut per_cmd: BTreeMap<&str, usize> = BTreeMap::new();
        for ((r, (cmd, input)), w) in records.iter().zip(&cases).zip(outcomes) {
            let devel = &r["devel"];
            let depends =
                devel["status"] != w["status"] || (w["status"] == "ok" && devel["str"] != w["str"]);
            let got = parse_single_command_in(cmd, input, version);
            let status = w["status"].as_str().unwrap();
            let detail = match (status, &got) {
                ("ok", Ok(g)) => match w["str"].as_str() {
                    None => None,
                    Some(s) if g.as_deref() == Some(s) => None,
                    Some(s) => Some(format!("rendered {g:?}, pykickstart {s:?}")),
                },
                ("ok", Err(e)) => Some(format!("kiln rejected ({e}), pykickstart accepted")),
                (_, Err(_)) => None,
                (_, Ok(g)) => Some(format!(
                    "kiln accepted ({g:?}), pykickstart: {}",
                    w["message"].as_str().unwrap_or(status).replace('\n', " ")
                )),
            };
            dep_total += usize::from(depends);
            match detail {
                None => {
                    agree += 1;
                    dep_agree += usize::from(depends);
                }
                Some(d) => {
                    *per_cmd.entry(cmd).or_default() += 1;
                    failures.push(format!("{name} seq {} `{input}` [{cmd}]: {d}", r["seq"]));
                }
            }
        }
        println!(
            "{name}: {dep_agree} of {dep_total} version-dependent vectors agree \
             ({agree} of {} command vectors in all){}",
            records.len(),
            if per_cmd.is_empty() {
                String::new()
            } else {
                format!("; differing: {per_cmd:?}")
            }
        );
    }
    for f in failures.iter().take(300) {
        println!("DIFF {f}");
    }
    assert!(
        failures.is_empty(),
        "{} vectors differ from pykickstart's RHEL handlers (see DIFF lines)",
        failures.len()
    );
}

/// `ksflatten -v V` for many files in one Python process: the flattened text or the error,
/// and whether `ksvalidator -i -v V` passes.
const CORPUS_DRIVER: &str = r#"
import json, os, sys, warnings
from pykickstart.parser import KickstartParser
from pykickstart.version import makeVersion, stringToVersion
from pykickstart.errors import KickstartParseWarning
v = sys.argv[1]
out = {}
for f in sys.argv[2:]:
    os.chdir(os.path.dirname(f) or ".")
    r = {}
    # ksvalidator turns every KickstartParseWarning (deprecations included) into an error, so
    # the file is valid exactly when this parse succeeds without one.
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        p = KickstartParser(makeVersion(stringToVersion(v)))
        try:
            p.readKickstart(os.path.basename(f))
            r["flat"] = str(p.handler)
        except Exception as e:
            r["flat_error"] = "%s: %s" % (type(e).__name__, e)
    warned = [str(w.message) for w in seen if issubclass(w.category, KickstartParseWarning)]
    r["valid"] = "flat" in r and not warned
    r["warnings"] = warned
    out[f] = r
print(json.dumps(out))
"#;

/// Read flattened files back with pykickstart of a version: the text pykickstart writes.
const REFLATTEN_DRIVER: &str = r#"
import json, sys, warnings
from pykickstart.parser import KickstartParser
from pykickstart.version import makeVersion, stringToVersion
v = sys.argv[1]
out = {}
for f in sys.argv[2:]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = KickstartParser(makeVersion(stringToVersion(v)))
        try:
            p.readKickstart(f)
            out[f] = {"ok": True, "text": str(p.handler)}
        except Exception as e:
            out[f] = {"ok": False, "text": "%s: %s" % (type(e).__name__, e)}
print(json.dumps(out))
"#;

fn corpus_files(src: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".ks") || n.ends_with(".ks.in"))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn is_el_named(p: &Path) -> bool {
    let n = p.to_string_lossy().to_ascii_lowercase();
    ["eln", "alma", "rocky", "centos", "rhel"]
        .iter()
        .any(|k| n.contains(k))
}

fn python_json(pyks: &Path, script: &Path, args: &[String]) -> serde_json::Value {
    let res = Command::new(pyks.join("python3"))
        .arg(script)
        .args(args)
        .output()
        .expect("python");
    assert!(
        res.status.success(),
        "driver failed: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    serde_json::from_slice(&res.stdout).unwrap()
}

#[test]
fn rhel_corpus_matches_ksflatten_and_ksvalidator() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let Some(pyks) = common::pykickstart_bin() else {
        return;
    };
    let files = corpus_files(&corpus.join("kickstarts"));
    assert!(!files.is_empty(), "no kickstarts under the corpus");
    let tmp = tempfile::tempdir().unwrap();
    let driver = tmp.path().join("corpus.py");
    std::fs::write(&driver, CORPUS_DRIVER).unwrap();
    let reflatten = tmp.path().join("reflatten.py");
    std::fs::write(&reflatten, REFLATTEN_DRIVER).unwrap();
    let file_args: Vec<String> = files
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect();
    let mut failures = Vec::new();
    for (name, _) in VERSIONS {
        let mut args = vec![name.to_string()];
        args.extend(file_args.iter().cloned());
        let want = python_json(&pyks, &driver, &args);
        let mut outputs: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut fails_here: Vec<String> = Vec::new();
        for (i, f) in files.iter().enumerate() {
            let key = f.to_string_lossy().into_owned();
            let w = &want[&key];
            let dir = f.parent().unwrap();
            let base = f.file_name().unwrap().to_str().unwrap();
            let flat = Command::new(common::kiln())
                .current_dir(dir)
                .args(["ks", "flatten", "--ksversion", name, base])
                .env("NO_COLOR", "1")
                .output()
                .expect("kiln");
            match (w.get("flat").is_some(), flat.status.success()) {
                (true, true) => {
                    let o = tmp.path().join(format!("{name}-{i}.ks"));
                    std::fs::write(&o, &flat.stdout).unwrap();
                    outputs.insert(key.clone(), o);
                }
                (false, false) => {}
                (true, false) => fails_here.push(format!(
                    "{key}: ksflatten -v {name} succeeded, kiln failed: {}",
                    String::from_utf8_lossy(&flat.stderr).trim()
                )),
                (false, true) => fails_here.push(format!(
                    "{key}: ksflatten -v {name} failed ({}), kiln succeeded",
                    w["flat_error"]
                )),
            }
            let lint = Command::new(common::kiln())
                .current_dir(dir)
                .args([
                    "ks",
                    "lint",
                    "--json",
                    "--no-live",
                    "--ksversion",
                    name,
                    base,
                ])
                .env("NO_COLOR", "1")
                .output()
                .expect("kiln");
            let valid = w["valid"].as_bool().unwrap();
            // pykickstart's first warning (ksvalidator reports it) is among kiln's findings, verbatim.
            if let Some(first) = w["warnings"].as_array().and_then(|a| a.first()) {
                let findings: serde_json::Value =
                    serde_json::from_slice(&lint.stdout).unwrap_or_default();
                let found = findings["findings"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|x| x["message"] == *first));
                if !found {
                    fails_here.push(format!(
                        "{key}: ksvalidator -i -v {name} reports {first}; kiln lint: {}",
                        findings["findings"]
                    ));
                }
            }
            if lint.status.success() != valid {
                fails_here.push(format!(
                    "{key}: ksvalidator -i -v {name} {}, kiln lint {}: {}",
                    if valid { "passed" } else { "failed" },
                    if lint.status.success() {
                        "passed"
                    } else {
                        "failed"
                    },
                    String::from_utf8_lossy(&lint.stdout).trim()
                ));
            }
        }
        // pykickstart reads kiln's flattened output back to what it made of the original.
        let mut args = vec![name.to_string()];
        args.extend(outputs.values().map(|p| p.to_string_lossy().into_owned()));
        let back = python_json(&pyks, &reflatten, &args);
        for (key, o) in &outputs {
            let b = &back[o.to_string_lossy().as_ref()];
            let orig = want[key]["flat"].as_str().unwrap();
            if b["ok"] != true {
                fails_here.push(format!(
                    "{key}: pykickstart {name} cannot read kiln's output: {}",
                    b["text"]
                ));
            } else if b["text"].as_str().unwrap() != orig {
                let got = b["text"].as_str().unwrap();
                let mut diff: Vec<String> = Vec::new();
                for l in orig.lines().filter(|l| !got.lines().any(|g| g == *l)) {
                    diff.push(format!("  - {l}"));
                }
                for l in got.lines().filter(|l| !orig.lines().any(|g| g == *l)) {
                    diff.push(format!("  + {l}"));
                }
                diff.truncate(12);
                fails_here.push(format!(
                    "{key}: {name} re-flattened output differs:\n{}",
                    diff.join("\n")
                ));
            }
        }
        let bad = |f: &Path| {
            let k = f.to_string_lossy();
            fails_here.iter().any(|m| m.starts_with(&format!("{k}:")))
        };
        let el: Vec<&PathBuf> = files.iter().filter(|f| is_el_named(f)).collect();
        println!(
            "{name}: corpus files: {} of {} agree with ksflatten/ksvalidator -i; EL-named files: {} of {}",
            files.iter().filter(|f| !bad(f)).count(),
            files.len(),
            el.iter().filter(|f| !bad(f)).count(),
            el.len()
        );
        failures.extend(fails_here);
    }
    for f in &failures {
        println!("FAIL {f}");
    }
    assert!(
        failures.is_empty(),
        "{} disagreements with pykickstart's RHEL handlers",
        failures.len()
    );
}

/// The syntax of a build: `--ksversion`, else the one an Enterprise Linux `--releasever`
/// implies, else DEVEL. `vnc` is a real command in RHEL 9 and removed in DEVEL, so how far
/// `kiln resolve` gets with it tells which syntax read the file.
#[test]
fn releasever_selects_the_rhel_syntax() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("el.ks"),
        "vnc --password=abcdef\nsyspurpose --role=x\n%packages\nbash\n%end\n",
    )
    .unwrap();
    let cache = d.path().join("cache");
    let resolve = |extra: &[&str]| {
        let o = Command::new(common::kiln())
            .current_dir(d.path())
            .args(["resolve", "--ks", "el.ks", "--cacheonly", "--cache"])
            .arg(&cache)
            .args(extra)
            .env("NO_COLOR", "1")
            .output()
            .expect("kiln");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let removed = "vnc has been removed.";
    // Past the kickstart, resolve stops at the missing repositories.
    let no_repo = "no package repository";
    let e = resolve(&[]);
    assert!(e.contains(removed), "{e}");
    for rv in ["9", "9.4"] {
        let e = resolve(&["--releasever", rv]);
        assert!(!e.contains(removed) && e.contains(no_repo), "{rv}: {e}");
    }
    let e = resolve(&["--releasever", "41"]);
    assert!(e.contains(removed), "{e}");
    let e = resolve(&["--releasever", "9", "--ksversion", "DEVEL"]);
    assert!(e.contains(removed), "{e}");
    let e = resolve(&["--ksversion", "RHEL8"]);
    assert!(!e.contains(removed) && e.contains(no_repo), "{e}");
}

/// Two-line kickstarts under each RHEL handler, as `ks_sequences` does for DEVEL: how a later
/// line merges into an earlier one, for the commands whose vectors the version changes.
const PAIRS_DRIVER: &str = r#"
import sys, json, warnings
from pykickstart.parser import KickstartParser
from pykickstart.version import makeVersion, stringToVersion
cases = json.load(open(sys.argv[1]))
out = {}
for v, texts in cases.items():
    res = []
    for text in texts:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = KickstartParser(makeVersion(stringToVersion(v)))
            try:
                p.readKickstartFromString(text)
                res.append({"ok": True, "text": str(p.handler)})
            except Exception as e:
                res.append({"ok": False, "text": "%s: %s" % (type(e).__name__, e)})
    out[v] = res
print(json.dumps(out))
"#;

#[test]
fn rhel_two_line_kickstarts_match_pykickstart() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let Some(pyks) = common::pykickstart_bin() else {
        return;
    };
    let text = std::fs::read_to_string(corpus.join("pykickstart-conformance/cases.jsonl"))
        .expect("read cases.jsonl");
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .filter(|r: &serde_json::Value| r["kind"] == "command")
        .collect();
    // Lines kiln accepts under the version, for commands some vector of which the version
    // changes (accepted by pykickstart too is checked by the vector test).
    let mut cases: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, version) in VERSIONS {
        let mut by_cmd: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut changed: Vec<String> = Vec::new();
        for r in &records {
            let cmd = r["command"].as_str().unwrap();
            let input = r["input"].as_str().unwrap().trim();
            let first = input.split_whitespace().next().unwrap_or("");
            if first != cmd || input.contains('\n') {
                continue;
            }
            let got = parse_single_command_in(cmd, input, version);
            let devel = parse_single_command_in(cmd, input, KsVersion::Devel);
            if got.as_ref().ok() != devel.as_ref().ok() && !changed.iter().any(|c| c == cmd) {
                changed.push(cmd.to_string());
            }
            if got.is_ok() {
                let v = by_cmd.entry(cmd.to_string()).or_default();
                if !v.iter().any(|x| x == input) && v.len() < 8 {
                    v.push(input.to_string());
                }
            }
        }
        let mut texts = Vec::new();
        for (cmd, lines) in &by_cmd {
            if !changed.contains(cmd) {
                continue;
            }
            for (i, a) in lines.iter().enumerate() {
                for b in lines.iter().skip(i) {
                    texts.push(format!("{a}\n{b}\n"));
                }
            }
        }
        cases.insert(name, texts);
    }
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("pairs.json");
    std::fs::write(&input, serde_json::to_string(&cases).unwrap()).unwrap();
    let driver = tmp.path().join("pairs.py");
    std::fs::write(&driver, PAIRS_DRIVER).unwrap();
    let want = python_json(&pyks, &driver, &[input.to_string_lossy().into_owned()]);
    let strip = |s: &str| {
        s.split_once('\n')
            .map(|x| x.1.to_string())
            .unwrap_or_default()
    };
    let mut failures = Vec::new();
    for (name, version) in VERSIONS {
        let opts = kiln::kickstart::ParseOptions {
            version,
            ..Default::default()
        };
        let texts = &cases[name];
        let mut agree = 0;
        for (case, w) in texts.iter().zip(want[name].as_array().unwrap()) {
            let got = kiln::kickstart::parse_str(case, "pair.ks", &opts);
            let diff = match (w["ok"].as_bool().unwrap(), got) {
                (true, Ok(ks)) => {
                    let (g, wt) = (
                        strip(&ks.render_pykickstart()),
                        strip(w["text"].as_str().unwrap()),
                    );
                    (g != wt).then(|| format!("pykickstart {wt:?}, kiln {g:?}"))
                }
                (false, Err(_)) => None,
                (true, Err(e)) => Some(format!("kiln rejected ({e}), pykickstart accepted")),
                (false, Ok(_)) => Some(format!("kiln accepted, pykickstart: {}", w["text"])),
            };
            match diff {
                None => agree += 1,
                Some(d) => failures.push(format!("{name} {case:?}: {d}")),
            }
        }
        println!(
            "{name}: {agree} of {} two-line kickstarts agree",
            texts.len()
        );
    }
    for f in failures.iter().take(100) {
        println!("DIFF {f}");
    }
    assert!(failures.is_empty(), "{} differences", failures.len());
}
