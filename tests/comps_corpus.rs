//! kiln's comps reader on Fedora's real comps-f41 (and dnf5's comps edge cases), checked against
//! Python's ElementTree reading the same files.

mod common;

use std::path::Path;
use std::process::Command;

const DUMP: &str = r#"
import json, sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
groups = {}
for g in r.findall('group'):
    pl = g.find('packagelist')
    groups[g.findtext('id')] = [[p.text.strip(), p.get('type') or 'default', p.get('requires'), p.get('arch')]
                                for p in (pl if pl is not None else [])]
envs = {}
for e in r.findall('environment'):
    gl, ol = e.find('grouplist'), e.find('optionlist')
    envs[e.findtext('id')] = [[x.text.strip() for x in (gl if gl is not None else [])],
                              [[x.text.strip(), x.get('default') == 'true'] for x in (ol if ol is not None else [])]]
print(json.dumps({'groups': groups, 'envs': envs}))
"#;

fn check(file: &Path) {
    let text = std::fs::read_to_string(file).unwrap();
    let ours = kiln::rpmfile::repodata::parse_comps(&text).unwrap();
    let out = Command::new("/usr/bin/python3")
        .args(["-c", DUMP])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let groups = v["groups"].as_object().unwrap();
    assert_eq!(ours.groups.len(), groups.len(), "{}", file.display());
    for g in &ours.groups {
        let want = groups[&g.id].as_array().unwrap();
        assert_eq!(g.packages.len(), want.len(), "group {}", g.id);
        for (p, w) in g.packages.iter().zip(want) {
            assert_eq!(p.name, w[0].as_str().unwrap());
            let kind = serde_json::to_value(p.kind).unwrap();
            assert_eq!(kind.as_str().unwrap(), w[1].as_str().unwrap(), "{}", p.name);
            assert_eq!(p.requires.as_deref(), w[2].as_str());
            assert_eq!(
                p.arches.as_ref().map(|a| a.join(",")),
                w[3].as_str().map(|s| s.replace(' ', ""))
            );
        }
    }
    let envs = v["envs"].as_object().unwrap();
    assert_eq!(ours.environments.len(), envs.len());
    for e in &ours.environments {
        let want = &envs[&e.id];
        let gl: Vec<&str> = want[0]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        assert_eq!(e.groups, gl, "environment {}", e.id);
        assert_eq!(e.options.len(), want[1].as_array().unwrap().len());
    }
}

#[test]
fn fedora_comps_f41_matches_elementtree() {
    let Some(c) = common::corpus() else { return };
    if !common::have_tool("/usr/bin/xz") {
        return;
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("comps-f41.xml");
    let o = Command::new("/usr/bin/xz")
        .arg("-dc")
        .arg(c.join("repodata/fedora-comps/comps-f41.xml.xz"))
        .output()
        .unwrap();
    std::fs::write(&out, o.stdout).unwrap();
    check(&out);
    let comps =
        kiln::rpmfile::repodata::parse_comps(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(comps.groups.len() > 100);
    let core = comps.group("core").unwrap();
    assert!(core.packages.iter().any(|p| p.name == "bash"));
    assert!(comps
        .environment("workstation-product-environment")
        .is_some());
}

#[test]
fn dnf5_comps_edge_cases_match_elementtree() {
    let Some(c) = common::corpus() else { return };
    let base = c.join("repodata/dnf5/test/data/repos-repomd");
    let mut n = 0;
    for e in std::fs::read_dir(&base).unwrap() {
        let d = e.unwrap().path();
        if !d
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("repomd-comps")
        {
            continue;
        }
        for f in std::fs::read_dir(d.join("repodata")).unwrap() {
            let f = f.unwrap().path();
            if f.to_string_lossy().ends_with("comps.xml") {
                check(&f);
                n += 1;
            }
        }
    }
    assert!(n >= 10, "expected dnf5's comps repos, found {n}");
}
