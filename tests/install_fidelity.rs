//! Fidelity against rpm 4.18, package set by package set: every set of `OUT/fidelity` (built
//! by `fixtures/build-repos` from `fixtures/fidelity/*.spec`, listed in `sets.tsv`) is installed
//! with `kiln install-rpms` into one root and with `rpm -i --root` into another, and the two
//! must agree on:
//! - the tree, path by path (type, mode, owner, size, sha256, symlink target, device, xattrs
//!   with `security.capability`, mtime except of directories with entries and of what the
//!   clock set during the install, hardlink groups);
//! - every header as rpm reads it back (`rpm -qa --xml`, kiln's rpmdb read by rpm);
//! - `rpm -qf` of every path, and `rpm -Va`;
//! - what the scriptlets print (rpm's lines appear in kiln's output, in rpm's order, bare or
//!   after the scriptlet's name).
//!
//! rpm orders each transaction itself; kiln installs in the order rpm chose (its rpmdb
//! instance numbers), since `install-rpms` does not reorder. A set's packages are completed
//! with what they require from the repository (busybox for a shell, ...). Race-prone sets
//! (`kiln-repeat`) are installed by kiln that many times, each compared with rpm's result.
//!
//! Prints `N of N package sets identical to rpm` and the differences of the others.
//! Needs root, rpm and the fixtures (`KILN_FIXTURES`); `KILN_FIDELITY_SETS=a,b` runs only
//! those sets.

mod common;
#[path = "common/tree.rs"]
mod tree;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tree::Node;

const DBPATH: &str = "/var/lib/rpm";

struct Set {
    name: String,
    repeat: usize,
    /// Package file names (under Packages/).
    files: Vec<String>,
}

fn read_sets(dir: &Path) -> Vec<Set> {
    let text = std::fs::read_to_string(dir.join("sets.tsv")).unwrap();
    let mut sets: BTreeMap<String, Set> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.split('\t');
        let (name, repeat) = (f.next().unwrap(), f.next().unwrap());
        let _spec = f.next();
        let s = sets.entry(name.to_owned()).or_insert_with(|| Set {
            name: name.to_owned(),
            repeat: 1,
            files: Vec::new(),
        });
        s.repeat = s.repeat.max(repeat.parse().unwrap_or(1));
        s.files
            .extend(f.filter(|x| !x.is_empty()).map(str::to_owned));
    }
    sets.into_values().collect()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd` with stdout and stderr in one pipe: the lines in the order the program wrote them
/// (rpm prints a Lua scriptlet's `print` on stdout and its `io.stderr` on stderr; kiln shows
/// both on stderr), so the comparison of scriptlet output sees one interleaving.
fn run_merged(mut cmd: Command) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    // rustix's pipe (std::io::pipe is newer than the MSRV), close-on-exec as std's.
    let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    let mut reader = std::fs::File::from(reader);
    cmd.stdout(writer.try_clone().unwrap()).stderr(writer);
    let mut child = cmd.spawn().unwrap();
    // The command holds the pipe's write ends: without this the read never sees the end.
    drop(cmd);
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).unwrap();
    (
        child.wait().unwrap(),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn rpm_q(root: &Path, args: &[&str]) -> Output {
    common::rpm::rpm_at(root, DBPATH)
        .args(args)
        .output()
        .unwrap()
}

/// Provides and requires (names) of every package in the repository.
struct Repo {
    dir: PathBuf,
    provides: HashMap<String, Vec<String>>,
    requires: HashMap<String, Vec<String>>,
}

impl Repo {
    fn load(dir: &Path) -> Repo {
        let pk = dir.join("Packages");
        let mut files: Vec<String> = std::fs::read_dir(&pk)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".noarch.rpm") || n.ends_with(".x86_64.rpm"))
            .collect();
        files.sort();
        let mut out = Command::new("rpm");
        out.args(["-qp", "--dbpath", "/nonexistent", "--nosignature", "--qf"])
            .arg("@@%{NAME}\\n[P %{PROVIDENAME}\\n][R %{REQUIRENAME}\\n][P %{FILENAMES}\\n]");
        for f in &files {
            out.arg(pk.join(f));
        }
        let out = common::run_ok(&mut out);
        let mut provides: HashMap<String, Vec<String>> = HashMap::new();
        let mut requires: HashMap<String, Vec<String>> = HashMap::new();
        let mut cur = 0usize;
        let mut started = false;
        for line in out.lines() {
            if let Some(_name) = line.strip_prefix("@@") {
                if started {
                    cur += 1;
                }
                started = true;
            } else if let Some(p) = line.strip_prefix("P ") {
                provides
                    .entry(p.to_owned())
                    .or_default()
                    .push(files[cur].clone());
            } else if let Some(r) = line.strip_prefix("R ") {
                requires
                    .entry(files[cur].clone())
                    .or_default()
                    .push(r.to_owned());
            }
        }
        Repo {
            dir: dir.to_owned(),
            provides,
            requires,
        }
    }

    /// `files` plus what they require from the repository, transitively.
    fn closure(&self, files: &[String]) -> Vec<PathBuf> {
        let mut have: BTreeSet<String> = files.iter().cloned().collect();
        let mut todo: Vec<String> = files.to_vec();
        while let Some(f) = todo.pop() {
            for r in self.requires.get(&f).into_iter().flatten() {
                let Some(by) = self.provides.get(r) else {
                    continue;
                };
                if by.iter().any(|b| have.contains(b)) {
                    continue;
                }
                have.insert(by[0].clone());
                todo.push(by[0].clone());
            }
        }
        have.into_iter()
            .map(|f| self.dir.join("Packages").join(f))
            .collect()
    }
}

/// Lines rpm prints that are not the transaction's: Debian's rpm warns about itself.
fn rpm_own_line(l: &str) -> bool {
    l.starts_with("rpm: RPM should not be used directly")
        || l.starts_with("rpm: However assuming you know")
        || l.trim().is_empty()
}

/// `rpm -qa --xml`, one entry per header (sorted by name), with the tags that must differ
/// between two installs replaced: INSTALLTIME and INSTALLTID (the clock), and the header
/// instance (rpm numbers headers in its own order; kiln follows rpm's, but the number is
/// the database's, not the package's).
fn headers_xml(root: &Path) -> BTreeMap<String, String> {
    let out = rpm_q(root, &["-qa", "--xml"]);
    let all = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut map = BTreeMap::new();
    for chunk in all.split("<rpmHeader>").skip(1) {
        let mut kept = String::new();
        let mut skip = false;
        let mut name = String::new();
        let mut want_name = false;
        for line in chunk.lines() {
            let t = line.trim();
            if let Some(tag) = t
                .strip_prefix("<rpmTag name=\"")
                .and_then(|r| r.split('"').next())
            {
                skip = matches!(tag, "Installtime" | "Installtid" | "Dbinstance");
                want_name = tag == "Name";
                if skip {
                    kept.push_str(&format!("  <rpmTag name=\"{tag}\">(normalised)</rpmTag>\n"));
                    continue;
                }
            }
            if want_name {
                if let Some(v) = t
                    .strip_prefix("<string>")
                    .and_then(|v| v.strip_suffix("</string>"))
                {
                    name = v.to_owned();
                    want_name = false;
                }
            }
            if !skip {
                kept.push_str(line);
                kept.push('\n');
            }
            if t == "</rpmTag>" {
                skip = false;
            }
        }
        map.insert(name, kept);
    }
    map
}

/// The order rpm installed the packages in: NEVRAs by header instance.
fn rpm_order(root: &Path) -> Vec<String> {
    let out = rpm_q(root, &["-qa", "--qf", "%{DBINSTANCE} %{NEVRA}\\n"]);
    common::rpm::by_instance(&out.stdout)
}

fn nevra_of(pkg: &Path) -> String {
    let out = Command::new("rpm")
        .args([
            "-qp",
            "--dbpath",
            "/nonexistent",
            "--nosignature",
            "--qf",
            "%{NEVRA}",
        ])
        .arg(pkg)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Everything compared, from one root.
struct Facts {
    tree: BTreeMap<String, Node>,
    headers: BTreeMap<String, String>,
    /// `rpm -qf` of every path of the rpm tree (the same list for both roots).
    owners: String,
    verify: BTreeSet<String>,
}

fn facts(root: &Path, paths: Option<&[String]>, since: i64) -> Facts {
    let mut tree = tree::tree(root);
    // A time set by the clock during the install (a scriptlet wrote the file) cannot match
    // between two installs: any mtime from the test's start on counts as "now".
    for n in tree.values_mut() {
        if n.mtime.is_some_and(|t| t >= since) {
            n.mtime = Some(-1);
        }
    }
    // The databases differ by design (rpm's files vs kiln's sqlite writer): compared through
    // rpm's reading of them below, not byte by byte.
    tree.retain(|p, _| !p.starts_with(&format!("{DBPATH}/")));
    let owned: Vec<String> = match paths {
        Some(p) => p.to_vec(),
        None => tree.keys().cloned().collect(),
    };
    let mut q = Command::new("rpm");
    q.arg("--root")
        .arg(root)
        .args(["--dbpath", DBPATH, "-qf"])
        .args(&owned);
    let out = q.output().unwrap();
    let verify = rpm_q(root, &["-Va"]);
    Facts {
        tree,
        headers: headers_xml(root),
        owners: text(&out),
        verify: text(&verify).lines().map(str::to_owned).collect(),
    }
}

fn compare(rpm: &Facts, kiln: &Facts, rpm_out: &str, kiln_out: &str) -> Vec<String> {
    let mut d = tree::diff(&rpm.tree, &kiln.tree);
    for (name, h) in &rpm.headers {
        match kiln.headers.get(name) {
            None => d.push(format!("header {name}: not in kiln's rpmdb")),
            Some(k) if k != h => {
                let (a, b): (Vec<&str>, Vec<&str>) = (h.lines().collect(), k.lines().collect());
                let first = (0..a.len().max(b.len()))
                    .find(|&i| a.get(i) != b.get(i))
                    .unwrap_or(0);
                let lo = first.saturating_sub(3);
                d.push(format!(
                    "header {name} differs at line {first}:\n  rpm:  {}\n  kiln: {}",
                    a[lo..(first + 3).min(a.len())].join("\n        "),
                    b[lo..(first + 3).min(b.len())].join("\n        ")
                ));
            }
            _ => {}
        }
    }
    for name in kiln.headers.keys() {
        if !rpm.headers.contains_key(name) {
            d.push(format!("header {name}: only in kiln's rpmdb"));
        }
    }
    if rpm.owners != kiln.owners {
        let a: BTreeSet<&str> = rpm.owners.lines().collect();
        let b: BTreeSet<&str> = kiln.owners.lines().collect();
        for l in a.difference(&b) {
            d.push(format!("rpm -qf: only rpm's root says `{l}`"));
        }
        for l in b.difference(&a) {
            d.push(format!("rpm -qf: only kiln's root says `{l}`"));
        }
    }
    for l in rpm.verify.difference(&kiln.verify) {
        d.push(format!("rpm -Va: only rpm's root says `{l}`"));
    }
    for l in kiln.verify.difference(&rpm.verify) {
        d.push(format!("rpm -Va: only kiln's root says `{l}`"));
    }
    d.extend(output_difference(rpm_out, kiln_out));
    d
}

/// Scriptlet output: rpm's lines, in order, within kiln's output (where a scriptlet's line
/// may carry the scriptlet's name: `%post(p-1-1.noarch): line`). The first rpm line missing.
fn output_difference(rpm_out: &str, kiln_out: &str) -> Option<String> {
    let mut kiln_lines = kiln_out.lines().map(|l| {
        let l = l.trim();
        match l.split_once("): ") {
            Some((name, rest)) if name.starts_with('%') && name.contains('(') => rest.trim(),
            _ => l,
        }
    });
    rpm_out
        .lines()
        .filter(|l| !rpm_own_line(l))
        .find(|l| !kiln_lines.any(|k| k == l.trim()))
        .map(|l| format!("output: rpm printed `{l}`, kiln did not (in that order)"))
}

#[test]
fn output_matches_bare_or_named_lines_in_order() {
    let rpm = "rpm: RPM should not be used directly install RPM packages, use Alien instead!\n\
               pre 1\nwarning: group x does not exist - using root\npost\n";
    let kiln = "%pre(p-1-1.noarch): pre 1\nwarning: group x does not exist - using root\n\
                %post(p-1-1.noarch): post\n3 packages installed\n";
    assert_eq!(output_difference(rpm, kiln), None);
    let swapped = "%post(p-1-1.noarch): post\n%pre(p-1-1.noarch): pre 1\n";
    assert!(output_difference("pre 1\npost\n", swapped).is_some());
    assert!(output_difference("pre 1\n", "").is_some());
}

#[test]
fn package_sets_match_rpm() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIP: not root");
        return;
    }
    if !common::have_tool("/usr/bin/rpm") {
        return;
    }
    let Some(fx) = common::fixtures() else { return };
    let dir = fx.join("fidelity");
    if !dir.join("sets.tsv").is_file() {
        let msg = format!(
            "{} has no fidelity repository (rerun fixtures/build-repos)",
            fx.display()
        );
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg}");
        }
        eprintln!("SKIP: {msg}");
        return;
    }
    let only: Option<Vec<String>> = std::env::var("KILN_FIDELITY_SETS")
        .ok()
        .map(|s| s.split(',').map(str::to_owned).collect());
    let repo = Repo::load(&dir);
    let sets: Vec<Set> = read_sets(&dir)
        .into_iter()
        .filter(|s| only.as_ref().is_none_or(|o| o.contains(&s.name)))
        .collect();
    assert!(!sets.is_empty(), "no package sets in {}", dir.display());
    let work = tempfile::tempdir().unwrap();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut failed: Vec<(String, Vec<String>)> = Vec::new();
    for set in &sets {
        let pkgs = repo.closure(&set.files);
        let rroot = work.path().join(format!("{}-rpm", set.name));
        std::fs::create_dir_all(&rroot).unwrap();
        // rpm 4.18.0 hangs on some shapes (it opens a FIFO it just made): bounded.
        let mut cmd = Command::new("timeout");
        cmd.args(["--kill-after=10", "300", "rpm", "-i"])
            .arg("--root")
            .arg(&rroot)
            .args(["--dbpath", DBPATH, "--nosignature"])
            .args(&pkgs);
        let (status, rpm_out) = run_merged(cmd);
        if !status.success() {
            failed.push((
                set.name.clone(),
                vec![format!("rpm -i failed (fix the set's specs):\n{rpm_out}")],
            ));
            continue;
        }
        let by_nevra: HashMap<String, &PathBuf> = pkgs.iter().map(|p| (nevra_of(p), p)).collect();
        let order: Vec<&PathBuf> = rpm_order(&rroot)
            .iter()
            .filter_map(|n| by_nevra.get(n).copied())
            .collect();
        assert_eq!(order.len(), pkgs.len(), "{}: rpm's order", set.name);
        let rpm_facts = facts(&rroot, None, since);
        let paths: Vec<String> = rpm_facts.tree.keys().cloned().collect();
        let mut problems = Vec::new();
        for run in 0..set.repeat {
            let kroot = work.path().join(format!("{}-kiln-{run}", set.name));
            let mut cmd = Command::new("timeout");
            cmd.args(["--kill-after=10", "300"])
                .arg(common::kiln())
                .arg("install-rpms")
                .arg("--root")
                .arg(&kroot)
                .args(["--dbpath", DBPATH, "--arch", "x86_64"])
                .args(&order)
                .env("NO_COLOR", "1")
                .env_remove("SOURCE_DATE_EPOCH");
            let (status, kiln_out) = run_merged(cmd);
            let d = if status.success() {
                compare(
                    &rpm_facts,
                    &facts(&kroot, Some(&paths), since),
                    &rpm_out,
                    &kiln_out,
                )
            } else {
                vec![format!("kiln install-rpms failed:\n{kiln_out}")]
            };
            let _ = std::fs::remove_dir_all(&kroot);
            if !d.is_empty() {
                let of = if set.repeat > 1 {
                    format!(" (run {} of {})", run + 1, set.repeat)
                } else {
                    String::new()
                };
                problems.push(format!("{}{of}:\n{}", set.name, d.join("\n")));
                // One failing run shows the problem; the rest would repeat it.
                break;
            }
        }
        let _ = std::fs::remove_dir_all(&rroot);
        eprintln!(
            "{}: {} ({} packages, {} run(s))",
            set.name,
            if problems.is_empty() {
                "identical"
            } else {
                "DIFFERS"
            },
            pkgs.len(),
            set.repeat
        );
        if !problems.is_empty() {
            failed.push((set.name.clone(), problems));
        }
    }
    for (_, p) in &failed {
        eprintln!("{}\n", p.join("\n"));
    }
    let n = sets.len();
    eprintln!("{} of {n} package sets identical to rpm", n - failed.len());
    assert!(
        failed.is_empty(),
        "{} of {n} package sets identical to rpm; differing: {}",
        n - failed.len(),
        failed
            .iter()
            .map(|f| f.0.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
}
