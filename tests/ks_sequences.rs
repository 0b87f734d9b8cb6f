//! Differential test of multi-line behaviour: pykickstart's own valid command lines (from the
//! conformance vectors) are combined two at a time into small kickstarts — the way real files
//! repeat a command across `%include`s — and kiln's rendering of each must equal pykickstart's
//! `str(handler)`, and kiln must reject exactly the combinations pykickstart rejects. This
//! catches how a later line merges into an earlier one (pykickstart only overwrites options
//! given on the later line) and duplicate checks across lines.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use kiln::kickstart::{parse_str, ParseOptions};

const DRIVER: &str = r#"
import sys, json, warnings
from pykickstart.parser import KickstartParser
from pykickstart.version import makeVersion
from pykickstart.errors import KickstartParseWarning, KickstartDeprecationWarning
cases = json.load(open(sys.argv[1]))
out = []
for text in cases:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=KickstartDeprecationWarning)
        warnings.simplefilter("ignore", category=KickstartParseWarning)
        p = KickstartParser(makeVersion())
        try:
            p.readKickstartFromString(text)
            out.append({"ok": True, "text": str(p.handler)})
        except Exception as e:
            out.append({"ok": False, "text": "%s: %s" % (type(e).__name__, e)})
print(json.dumps(out))
"#;

/// Every pair (in order, with repeats) of up to 10 distinct valid single lines per command word
/// from pykickstart's conformance vectors.
fn two_line_cases(corpus: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(corpus.join("pykickstart-conformance/cases.jsonl")).unwrap();
    // Valid single lines per command word, in harvest order, deduplicated.
    let mut by_cmd: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        if r["kind"] != "command" || r["devel"]["status"] != "ok" {
            continue;
        }
        let input = r["input"].as_str().unwrap().trim().to_string();
        let first = input.split_whitespace().next().unwrap_or("");
        // Only lines whose first word is the command under test are real kickstart lines.
        if first != r["command"].as_str().unwrap() || input.contains('\n') {
            continue;
        }
        let v = by_cmd.entry(first.to_string()).or_default();
        if !v.contains(&input) && v.len() < 10 {
            v.push(input);
        }
    }
    let mut cases = Vec::new();
    for lines in by_cmd.values() {
        for (i, a) in lines.iter().enumerate() {
            for b in lines.iter().skip(i) {
                cases.push(format!("{a}\n{b}\n"));
            }
        }
    }
    cases
}

#[test]
fn two_line_kickstarts_match_pykickstart() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let Some(pyks) = common::pykickstart_bin() else {
        return;
    };
    let cases = two_line_cases(&corpus);
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("cases.json");
    std::fs::write(&input, serde_json::to_string(&cases).unwrap()).unwrap();
    let driver = tmp.path().join("drive.py");
    std::fs::write(&driver, DRIVER).unwrap();
    let res = Command::new(pyks.join("python3"))
        .arg(&driver)
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let want: Vec<serde_json::Value> = serde_json::from_slice(&res.stdout).unwrap();
    let mut failures = Vec::new();
    for (case, w) in cases.iter().zip(&want) {
        let got = parse_str(case, "pair.ks", &ParseOptions::default());
        match (w["ok"].as_bool().unwrap(), got) {
            (true, Ok(ks)) => {
                let g = ks.render_pykickstart();
                let wt = w["text"].as_str().unwrap();
                // Both start with a generator line of their own.
                let strip = |s: &str| {
                    s.split_once('\n')
                        .map(|x| x.1.to_string())
                        .unwrap_or_default()
                };
                if strip(&g) != strip(wt) {
                    failures.push(format!(
                        "{case:?}\n  pykickstart: {:?}\n  kiln:        {:?}",
                        strip(wt),
                        strip(&g)
                    ));
                }
            }
            (false, Err(_)) => {}
            (true, Err(e)) => failures.push(format!(
                "{case:?}: kiln rejected ({e}), pykickstart accepted"
            )),
            (false, Ok(_)) => failures.push(format!(
                "{case:?}: kiln accepted, pykickstart: {}",
                w["text"]
            )),
        }
    }
    println!(
        "{} of {} two-line kickstarts agree with pykickstart",
        cases.len() - failures.len(),
        cases.len()
    );
    for f in failures.iter().take(150) {
        println!("DIFF {f}");
    }
    assert!(failures.is_empty(), "{} differences", failures.len());
}

/// kiln's flatten of each two-line kickstart, read back, renders as pykickstart would render the
/// original: state a later line left in place must survive even where pykickstart's own
/// rendering would drop it (the acceptance of `ks_corpus` flatten, without Python).
#[test]
fn two_line_flatten_reads_back() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let opts = ParseOptions::default();
    let mut failures = Vec::new();
    let cases = two_line_cases(&corpus);
    for case in &cases {
        let Ok(k1) = parse_str(case, "pair.ks", &opts) else {
            continue;
        };
        let flat = k1.render();
        match parse_str(&flat, "flat.ks", &opts) {
            Ok(k2) if k2.render_pykickstart() == k1.render_pykickstart() => {}
            Ok(k2) => failures.push(format!(
                "{case:?}\n  flat:      {flat:?}\n  want:      {:?}\n  read back: {:?}",
                k1.render_pykickstart(),
                k2.render_pykickstart()
            )),
            Err(e) => failures.push(format!("{case:?}: flatten does not parse ({e}):\n{flat}")),
        }
    }
    println!(
        "{} of {} two-line kickstarts read back from kiln's flatten",
        cases.len() - failures.len(),
        cases.len()
    );
    for f in failures.iter().take(100) {
        println!("LOST {f}");
    }
    assert!(failures.is_empty(), "{} differences", failures.len());
}
