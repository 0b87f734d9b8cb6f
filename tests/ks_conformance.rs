//! Per-command conformance with pykickstart's own test vectors
//! (`$KILN_CORPUS/pykickstart-conformance/cases.jsonl`): for every `command` record kiln accepts
//! or rejects the input as pykickstart's DEVEL handler did (`devel.status`), and where it accepts,
//! kiln's rendering equals `devel.str`. Deliberate differences are listed with a reason in
//! `tests/data/conformance-deviations.tsv`; anything else that differs fails the test.
//! `KILN_CONF_CMDS=part,raid` restricts the run to some commands.

mod common;

use std::collections::{BTreeMap, HashMap};

use kiln::kickstart::parser::parse_single_command;

#[test]
fn pykickstart_command_vectors() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let path = corpus.join("pykickstart-conformance/cases.jsonl");
    let text = std::fs::read_to_string(&path).expect("read cases.jsonl");
    let only: Option<Vec<String>> = std::env::var("KILN_CONF_CMDS")
        .ok()
        .map(|s| s.split(',').map(str::to_string).collect());
    let deviations: HashMap<u64, String> = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/conformance-deviations.tsv"),
    )
    .unwrap_or_default()
    .lines()
    .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    .filter_map(|l| {
        let mut it = l.splitn(2, '\t');
        Some((
            it.next()?.trim().parse().ok()?,
            it.next().unwrap_or("").to_string(),
        ))
    })
    .collect();

    let mut per_cmd: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut listed = 0;
    for line in text.lines() {
        let r: serde_json::Value = serde_json::from_str(line).expect("json");
        if r["kind"] != "command" {
            continue;
        }
        let cmd = r["command"].as_str().unwrap().to_string();
        if only.as_ref().is_some_and(|o| !o.contains(&cmd)) {
            continue;
        }
        let seq = r["seq"].as_u64().unwrap();
        let input = r["input"].as_str().unwrap();
        let status = r["devel"]["status"].as_str().unwrap();
        let got = parse_single_command(&cmd, input);
        let (agree, detail) = match (status, &got) {
            ("ok", Ok(s)) => {
                let want = r["devel"]["str"].as_str();
                match (want, s.as_deref()) {
                    (None, _) => (true, String::new()),
                    (Some(w), Some(g)) if w == g => (true, String::new()),
                    (Some(w), g) => (false, format!("rendered {g:?}, pykickstart {w:?}")),
                }
            }
            ("ok", Err(e)) => (false, format!("kiln rejected ({e}), pykickstart accepted")),
            ("error" | "unknown-command", Err(_)) => (true, String::new()),
            (_, Ok(s)) => (
                false,
                format!(
                    "kiln accepted ({s:?}), pykickstart: {}",
                    r["devel"]["message"]
                        .as_str()
                        .unwrap_or(status)
                        .replace("\n", " ")
                ),
            ),
            _ => unreachable!(),
        };
        let e = per_cmd.entry(cmd.clone()).or_default();
        e.1 += 1;
        if agree {
            e.0 += 1;
        } else if deviations.contains_key(&seq) {
            listed += 1;
        } else {
            failures.push(format!("seq {seq} `{input}` [{cmd}]: {detail}"));
        }
    }
    let (mut a, mut t) = (0, 0);
    println!(
        "{:<18} {:>6} {:>6} {:>7}",
        "command", "agree", "cases", "pct"
    );
    for (c, (ok, n)) in &per_cmd {
        a += ok;
        t += n;
        println!(
            "{c:<18} {ok:>6} {n:>6} {:>6.1}%",
            100.0 * *ok as f64 / *n as f64
        );
    }
    println!("{a} of {t} command cases agree with pykickstart 3.78 ({listed} listed deviations)");
    for f in failures.iter().take(200) {
        println!("DIFF {f}");
    }
    assert!(
        failures.is_empty(),
        "{} unlisted differences from pykickstart (see DIFF lines)",
        failures.len()
    );
}
