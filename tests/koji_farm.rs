//! kiln in a real Koji: `koji/farm/up.sh` starts PostgreSQL with Koji's schema, Koji's hub
//! under Apache httpd + mod_wsgi, two kojid builders (`builder-x86_64`, `builder-aarch64`, the
//! latter building through kiln's qemu-user emulation) with koji/{hub,builder,cli}'s kiln
//! plugins, the fixture sets `koji-x86_64`/`koji-aarch64` served as the tag's external repo
//! `.../koji-$arch/`. Koji's own CLI (`../shared/koji`) then runs `koji kiln-build` for both
//! arches; checked through Koji's CLI and API (`koji call`): both arch tasks closed, on
//! different builders, overlapping in time; `koji buildinfo` lists both ISOs (on disk under
//! the build's directory); the images' rpm lists carry each package's SIGMD5 as `rpm -qp`
//! reads it from the fixture file. A kickstart kiln rejects fails the task with kiln's own
//! error line in the task result. down.sh, then nothing of the farm is left (processes,
//! mounts, listeners, kiln's binfmt entries).
//!
//! Needs root, postgresql, apache2 + mod_wsgi, qemu-user-static, Koji's source (`KOJI_SRC`,
//! default `../shared/koji`) and the fixtures (`KILN_FIXTURES`). Outside CI a missing piece
//! skips with the reason; under `CI=true` it fails.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// A missing prerequisite: a failure under CI, else a printed skip.
fn missing(why: &str) -> bool {
    if ci() {
        panic!("{why}");
    }
    eprintln!("SKIP: {why}");
    false
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn koji_src() -> PathBuf {
    std::env::var_os("KOJI_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/koji"))
}

fn prerequisites(fx: &Path) -> bool {
    let is_root = common::run_ok(Command::new("id").arg("-u")).trim() == "0";
    if !is_root {
        return missing("koji_farm needs root (kojid runs kiln, which needs root)");
    }
    for tool in [
        "/usr/lib/postgresql/15/bin/initdb",
        "/usr/sbin/apache2",
        "/usr/lib/apache2/modules/mod_wsgi.so",
        "/usr/bin/qemu-aarch64-static",
        "/usr/bin/rpm",
    ] {
        if !Path::new(tool).exists() {
            return missing(&format!(
                "{tool} missing (scripts/setup-debian.sh installs it)"
            ));
        }
    }
    if !koji_src().join("schemas/schema.sql").is_file() {
        return missing(&format!(
            "Koji's source not at {} (set KOJI_SRC)",
            koji_src().display()
        ));
    }
    for set in ["koji-x86_64", "koji-aarch64"] {
        if !fx.join(set).join("repodata/repomd.xml").is_file() {
            return missing(&format!(
                "{} missing (fixtures/build-repos builds it)",
                fx.join(set).display()
            ));
        }
    }
    true
}

/// The farm of one test: torn down when dropped, whatever happened before.
struct Farm {
    state: PathBuf,
    env: BTreeMap<String, String>,
    down: bool,
}

impl Farm {
    fn up(state: &Path, fx: &Path, cache: &Path) -> Farm {
        let _ = std::fs::remove_dir_all(state);
        std::fs::create_dir_all(state).unwrap();
        let mut farm = Farm {
            state: state.to_owned(),
            env: BTreeMap::new(),
            down: false,
        };
        let t0 = Instant::now();
        let out = Command::new("bash")
            .arg(repo_root().join("koji/farm/up.sh"))
            .arg(state)
            .env("KILN", common::kiln())
            .env("KOJI_SRC", koji_src())
            .env("KILN_FARM_REPO_DIR", fx)
            .env("KILN_FARM_EXTERNAL_REPO", "koji-$arch/")
            .env("KILN_KOJI_CACHE", cache)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "up.sh failed:\n{text}");
        eprintln!("{text}farm bring-up: {:.1} s", t0.elapsed().as_secs_f64());
        let env_text = std::fs::read_to_string(state.join("env")).unwrap();
        for line in env_text.lines() {
            if let Some((k, v)) = line.split_once('=') {
                farm.env.insert(k.to_string(), v.to_string());
            }
        }
        farm
    }

    fn koji_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.env["KOJI_PYTHON"]);
        cmd.arg(Path::new(&self.env["KOJI_SRC"]).join("cli/koji"))
            .arg("--config")
            .arg(&self.env["KOJI_CONFIG"])
            .args(["--profile", &self.env["KOJI_PROFILE"]])
            .args(args)
            .env("PYTHONPATH", &self.env["KOJI_SRC"]);
        cmd
    }

    fn koji(&self, args: &[&str]) -> Output {
        self.koji_cmd(args).output().unwrap()
    }

    fn koji_ok(&self, args: &[&str]) -> String {
        common::run_ok(&mut self.koji_cmd(args))
    }

    /// An API call through `koji call --json-output`.
    fn call(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["call", "--json-output"];
        all.extend_from_slice(args);
        let out = self.koji(&all);
        assert!(out.status.success(), "koji call {args:?}:\n{}", text(&out));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("koji call {args:?}: {e}:\n{}", text(&out)))
    }

    fn down(&mut self) -> f64 {
        let t0 = Instant::now();
        let out = Command::new("bash")
            .arg(repo_root().join("koji/farm/down.sh"))
            .arg(&self.state)
            .output()
            .unwrap();
        self.down = true;
        assert!(
            out.status.success(),
            "down.sh failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        t0.elapsed().as_secs_f64()
    }
}

impl Drop for Farm {
    fn drop(&mut self) {
        if !self.down {
            let _ = Command::new("bash")
                .arg(repo_root().join("koji/farm/down.sh"))
                .arg(&self.state)
                .status();
        }
    }
}

/// The task id in `koji kiln-build`'s "Created task: N".
fn created_task(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix("Created task: "))
        .unwrap_or_else(|| panic!("no task created:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const KICKSTART: &str = "\
# the live fixture for any arch: the plugin gives kiln the tag's external repo
lang en_US.UTF-8
keyboard us
timezone Etc/UTC --utc
selinux --disabled
rootpw --plaintext kiln
bootloader --location=none --append=\"console=tty0\"
zerombr
clearpart --all
part / --size 3072 --fstype ext4
shutdown

%packages
@core
@live
%end
";

// A kickstart error kiln reports with its own message.
const BAD_KICKSTART: &str = "lang en_US.UTF-8\nbogus_command --x\n%packages\n@core\n%end\n";

/// Processes left of the farm: any with its mark in the environment (kojid, httpd, postgres and
/// what they started: kiln, the qemu-user of its aarch64 build) or its state dir on the
/// command line.
fn leftovers(state: &Path) -> Vec<String> {
    let mark = format!("KILN_FARM_STATE={}", state.display());
    let state = state.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == std::process::id().to_string() {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let marked = environ.split(|b| *b == 0).any(|var| var == mark.as_bytes());
        if marked || cmdline.contains(&state) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

/// `rpm -qp --qf %{SIGMD5}` of each package file of a fixture set, by NEVRA (no epoch).
fn sigmd5s(set: &Path) -> BTreeMap<String, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(set.join("Packages"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rpm"))
        .collect();
    files.sort();
    let out = common::run_ok(
        Command::new("rpm")
            .args([
                "-qp",
                "--nosignature",
                "--qf",
                "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH} %{SIGMD5}\\n",
            ])
            .args(&files),
    );
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn kiln_build_runs_each_arch_on_its_own_builder_at_once() {
    let Some(fx) = common::fixtures() else { return };
    if !prerequisites(&fx) {
        return;
    }
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    // Kept between runs (CI keeps the target dir): verified packages and compressed blocks.
    let cache = tmp.join("koji-farm-kiln-cache");
    std::fs::create_dir_all(&cache).unwrap();
    let state = tmp.join("koji-farm");
    let binfmt_before = common::kiln_binfmt_entries();
    let mut farm = Farm::up(&state, &fx, &cache);

    let ks = state.join("kiln-live.ks");
    std::fs::write(&ks, KICKSTART).unwrap();
    farm.koji_ok(&[
        "add-pkg",
        "--owner",
        "kojiadmin",
        "kiln-fixtures",
        "kiln-live",
    ]);

    let t0 = Instant::now();
    let submitted = farm.koji(&[
        "kiln-build",
        "kiln-live",
        "1",
        "kiln-fixtures",
        ks.to_str().unwrap(),
        "--arch",
        "x86_64",
        "--arch",
        "aarch64",
        "--release",
        "1",
        "--compression",
        "zstd",
        "--compress-arg",
        "level=3",
        "--noprogress",
        "--wait",
    ]);
    let wall = t0.elapsed().as_secs_f64();
    let submitted_text = text(&submitted);
    let parent = created_task(&submitted_text);
    let parent_info = farm.call(&["getTaskInfo", &parent.to_string()]);
    let children = farm.call(&["getTaskChildren", &parent.to_string()]);
    let images: Vec<&serde_json::Value> = children
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["method"] == "createKilnImage")
        .collect();
    if !submitted.status.success() {
        let mut why = submitted_text.clone();
        for t in &images {
            let id = t["id"].to_string();
            why += &text(&farm.koji(&["call", "getTaskResult", &id]));
        }
        panic!("koji kiln-build failed:\n{why}");
    }
    // 2 = CLOSED (koji.TASK_STATES)
    assert_eq!(parent_info["state"], 2, "{parent_info}");
    assert_eq!(images.len(), 2, "{children}");
    let mut hosts = BTreeSet::new();
    let mut spans = Vec::new();
    for t in &images {
        assert_eq!(t["state"], 2, "{t}");
        hosts.insert(t["host_id"].as_i64().unwrap());
        let (start, end) = (
            t["start_ts"].as_f64().unwrap(),
            t["completion_ts"].as_f64().unwrap(),
        );
        eprintln!(
            "task {} ({}): {:.1} s on host {}",
            t["id"],
            t["arch"],
            end - start,
            t["host_id"]
        );
        spans.push((start, end));
    }
    assert_eq!(hosts.len(), 2, "both arch tasks on one builder: {children}");
    let latest_start = spans.iter().map(|s| s.0).fold(f64::MIN, f64::max);
    let first_end = spans.iter().map(|s| s.1).fold(f64::MAX, f64::min);
    assert!(
        latest_start < first_end,
        "the arch tasks did not overlap: {spans:?}"
    );
    eprintln!(
        "kiln-build wall time: {wall:.1} s (parent task {:.1} s)",
        parent_info["completion_ts"].as_f64().unwrap() - parent_info["create_ts"].as_f64().unwrap()
    );

    let nvr = "kiln-live-1-1";
    let buildinfo = farm.koji_ok(&["buildinfo", nvr]);
    assert!(buildinfo.contains("State: COMPLETE"), "{buildinfo}");
    let topdir = Path::new(&farm.env["KOJI_TOPDIR"]);
    for arch in ["x86_64", "aarch64"] {
        let iso = format!("kiln-live-{arch}-1-1.iso");
        let line = buildinfo
            .lines()
            .find(|l| l.ends_with(&format!("/{iso}")))
            .unwrap_or_else(|| panic!("{iso} not listed:\n{buildinfo}"));
        let on_disk = topdir.join("packages/kiln-live/1/1/images").join(&iso);
        assert!(on_disk.is_file(), "{line}: no {}", on_disk.display());
    }

    // The rpm list of each ISO against the fixture files.
    let build = farm.call(&["getBuild", nvr]);
    let archives = farm.call(&[
        "listArchives",
        &format!("buildID={}", build["id"]),
        "type=image",
    ]);
    let archives = archives.as_array().unwrap();
    assert_eq!(archives.len(), 2, "{archives:?}");
    let mut total = 0;
    for archive in archives {
        let arch = archive["arch"].as_str().unwrap();
        let expected = sigmd5s(&fx.join(format!("koji-{arch}")));
        let rpms = farm.call(&["listRPMs", &format!("imageID={}", archive["id"])]);
        let rpms = rpms.as_array().unwrap();
        assert!(!rpms.is_empty(), "{archive}: no rpms");
        for r in rpms {
            let nvra = format!(
                "{}-{}-{}.{}",
                r["name"].as_str().unwrap(),
                r["version"].as_str().unwrap(),
                r["release"].as_str().unwrap(),
                r["arch"].as_str().unwrap()
            );
            let want = expected
                .get(&nvra)
                .unwrap_or_else(|| panic!("{nvra} is no package of koji-{arch}"));
            assert_eq!(r["payloadhash"].as_str().unwrap(), want, "{nvra}");
            assert_eq!(r["external_repo_name"], "kiln-fixtures-repo", "{r}");
        }
        eprintln!("{arch}: {} rpms, payloadhash = SIGMD5 for each", rpms.len());
        total += rpms.len();
    }
    assert!(total > 0);

    // kiln's own message for a bad kickstart, then the same through Koji.
    let bad = state.join("bad.ks");
    std::fs::write(&bad, BAD_KICKSTART).unwrap();
    let direct = Command::new(common::kiln())
        .args(["build", "--make-iso", "--color", "never", "--ks"])
        .arg(&bad)
        .arg("--resultdir")
        .arg(state.join("bad-out"))
        .output()
        .unwrap();
    assert!(!direct.status.success());
    let direct_err = String::from_utf8_lossy(&direct.stderr);
    // The message without the kickstart's path, which differs on the builder.
    let kiln_line = direct_err
        .lines()
        .find_map(|l| l.find("error: ").map(|at| l[at..].to_string()))
        .unwrap_or_else(|| panic!("no error line from kiln:\n{direct_err}"));
    assert!(kiln_line.contains("bogus_command"), "{kiln_line}");
    let failed = farm.koji(&[
        "kiln-build",
        "kiln-live",
        "1",
        "kiln-fixtures",
        bad.to_str().unwrap(),
        "--arch",
        "x86_64",
        "--scratch",
        "--noprogress",
        "--wait",
    ]);
    assert!(!failed.status.success(), "{}", text(&failed));
    let bad_parent = created_task(&text(&failed));
    let info = farm.call(&["getTaskInfo", &bad_parent.to_string()]);
    // 5 = FAILED
    assert_eq!(info["state"], 5, "{info}");
    let result = farm.koji(&["call", "getTaskResult", &bad_parent.to_string()]);
    let result = text(&result);
    assert!(
        result.contains(&kiln_line),
        "kiln's error `{kiln_line}` not in the task result:\n{result}"
    );
    eprintln!("bad kickstart: task {bad_parent} failed with kiln's `{kiln_line}`");

    let down = farm.down();
    eprintln!("farm teardown: {down:.1} s");
    let left = leftovers(&state);
    assert!(left.is_empty(), "left running: {left:#?}");
    let state_str = state.to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let under: Vec<&str> = mounts.lines().filter(|l| l.contains(&state_str)).collect();
    assert!(under.is_empty(), "mounts left: {under:#?}");
    assert_eq!(
        common::kiln_binfmt_entries(),
        binfmt_before,
        "kiln's binfmt entries left"
    );
    let _ = std::fs::remove_dir_all(&state);
}
