//! Koji's LiveCDTask and LiveMediaTask with kiln in place of livecd-creator and
//! livemedia-creator: Koji's own handler code (`builder/kojid` of `KOJI_SRC`, default
//! `../shared/koji`, run by `koji_argv/replay.py`) builds the argv, runs it through links named
//! like the tools (argv[0] dispatch) and looks for what it collects where it looks: the one
//! `.iso` in the task's directory, the logs it uploads, the packages in the `--cache` it reads
//! the rpm list from. Both macboot settings, with and without the optional options
//! (`--extra-boot-args`, `--lorax-templates` — a clear refusal —, `--squashfs-only`,
//! `--compress-arg`), against the fixture live kickstart.
//!
//! One real build per task (the others are argv that make the same media: their translation
//! into a kiln build is compared with the built one's under `KILN_COMPAT_DRY_RUN=1`); a
//! rerun reuses the previous run's compressed blocks ([`kept_blocks`]). Prints
//! `koji argv replayed: N` per task. Needs root, the fixtures, python3, xorriso, isoinfo,
//! unsquashfs and rpm.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

/// The harness running kojid's classes.
const REPLAY: &str = include_str!("koji_argv/replay.py");

/// Koji's source tree: `KOJI_SRC`, else `../shared/koji` beside the repository.
fn kojid() -> Option<PathBuf> {
    let src = std::env::var_os("KOJI_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/koji"));
    let kojid = src.join("builder/kojid");
    common::require(
        kojid.is_file(),
        &format!("Koji's kojid at {} (set KOJI_SRC)", kojid.display()),
    )
    .then_some(kojid)
}

/// What the tests need: root, the fixtures, Koji's source and the tools.
fn setup() -> Option<(PathBuf, PathBuf)> {
    if !common::require(common::is_root(), "root (kiln builds need it)") {
        return None;
    }
    let fx = common::fixtures()?;
    let kojid = kojid()?;
    for tool in ["python3", "xorriso", "isoinfo", "unsquashfs", "rpm"] {
        if !common::require(common::have(tool), tool) {
            return None;
        }
    }
    Some((fx, kojid))
}

/// One task run: Koji's handler with `opts`, in a fresh `work`.
struct Task<'a> {
    kojid: &'a Path,
    /// `livecd` or `livemedia`.
    task: &'a str,
    arch: &'a str,
    opts: Value,
    /// The kickstart's `bootloader --append` (what getBootloaderAppend returns).
    append: Option<&'a str>,
    ks: &'a Path,
    repo_url: &'a str,
    /// `KILN_COMPAT_DRY_RUN=1`: the translation only.
    dry: bool,
}

/// The kiln cache of a task's build, relative to its work directory: Koji's `--cache` for
/// LiveCDTask, `KILN_CACHE` for livemedia-creator (which has no such option).
fn cache_of(task: &str) -> &'static str {
    match task {
        "livecd" => "tmp/koji-livecd",
        _ => "kiln-cache",
    }
}

/// Where a real build's block store (`<cache>/blocks-v1`) waits for the next run of the test:
/// carried into the fresh cache before the build and back after it, as a builder's lasting
/// kiln cache would be, so a rerun compresses only the blocks that changed (the media are the
/// same either way; the packages are downloaded afresh, where Koji looks for them).
fn kept_blocks(task: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("koji-argv-blocks-{task}"))
}

impl Task<'_> {
    /// Run it in `work`: the harness's report, plus the plan when dry.
    fn run(&self, work: &Path) -> Value {
        let _ = std::fs::remove_dir_all(work);
        let bin = work.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for tool in ["livecd-creator", "livemedia-creator"] {
            std::os::unix::fs::symlink(common::kiln(), bin.join(tool)).unwrap();
        }
        let blocks = work.join(cache_of(self.task)).join("blocks-v1");
        let kept = kept_blocks(self.task);
        if !self.dry && kept.is_dir() {
            std::fs::create_dir_all(blocks.parent().unwrap()).unwrap();
            std::fs::rename(&kept, &blocks).unwrap();
        }
        let script = work.join("replay.py");
        std::fs::write(&script, REPLAY).unwrap();
        let cfg = json!({
            "kojid": self.kojid, "task": self.task, "top": work, "bin": bin,
            "ks": self.ks, "repo_url": self.repo_url, "append": self.append,
            "name": "kiln-live", "version": "1", "release": "1", "arch": self.arch,
            "opts": self.opts,
        });
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .arg(cfg.to_string())
            .env("NO_COLOR", "1")
            // livemedia-creator has no --cache: kiln's own, fresh per run.
            .env("KILN_CACHE", work.join("kiln-cache"));
        if self.dry {
            cmd.env("KILN_COMPAT_DRY_RUN", "1");
        }
        let out = cmd.output().unwrap();
        if blocks.is_dir() {
            let _ = std::fs::remove_dir_all(&kept);
            std::fs::rename(&blocks, &kept).unwrap();
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "replay.py failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        eprintln!(
            "{} {} opts {}: {}",
            self.task,
            self.arch,
            self.opts,
            report["argv"]
                .as_array()
                .map(|a| a
                    .iter()
                    .map(|v| v.as_str().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(" "))
                .unwrap_or_default()
        );
        report
    }
}

/// The kiln build a dry run's argv amounts to.
fn plan(report: &Value) -> Value {
    assert_eq!(report["rc"], 0, "dry run failed: {}", report["stderr"]);
    serde_json::from_str(report["stdout"].as_str().unwrap().trim()).unwrap()
}

/// The plan's kiln argv without `flag VALUE` pairs of `flags`.
fn kiln_argv_without(plan: &Value, flags: &[&str]) -> Vec<String> {
    let argv: Vec<String> = plan["kiln"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < argv.len() {
        if flags.contains(&argv[i].as_str()) {
            i += 2;
            continue;
        }
        out.push(argv[i].clone());
        i += 1;
    }
    out
}

/// The value after `flag` in the plan's kiln argv.
fn kiln_value<'a>(plan: &'a Value, flag: &str) -> Option<&'a str> {
    let argv = plan["kiln"].as_array()?;
    let i = argv.iter().position(|v| v == flag)?;
    argv.get(i + 1)?.as_str()
}

/// A task that must have ended `closed`: its report, checked.
fn closed(report: &Value) {
    assert!(
        report["error"].is_null(),
        "the task failed: {}\nstderr:\n{}",
        report["error"],
        report["stderr"].as_str().unwrap_or_default()
    );
}

/// The upload named `name`: its local path.
fn uploaded(report: &Value, name: &str) -> PathBuf {
    let up = report["uploads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == name)
        .unwrap_or_else(|| panic!("Koji uploaded no {name}: {}", report["uploads"]));
    assert!(u64_of(&up["size"]) > 0, "{name} is empty");
    PathBuf::from(up["path"].as_str().unwrap())
}

fn u64_of(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap()
}

/// The ISO reads as ISO 9660 (isoinfo), has volume id `volid` and a root image (xorriso);
/// returns the listing of LiveOS/squashfs.img (`unsquashfs -l`: `squashfs-root/...`).
fn check_iso(iso: &Path, volid: &str, scratch: &Path) -> String {
    let info = common::run_ok(Command::new("isoinfo").args(["-d", "-i"]).arg(iso));
    assert!(
        info.lines()
            .any(|l| l.trim() == format!("Volume id: {volid}")),
        "volume id of {} is not {volid}:\n{info}",
        iso.display()
    );
    let sq = scratch.join("squashfs.img");
    let _ = std::fs::remove_file(&sq);
    common::run_ok(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(iso)
            .args(["-extract", "/LiveOS/squashfs.img"])
            .arg(&sq),
    );
    let listing = common::run_ok(Command::new("unsquashfs").arg("-l").arg(&sq));
    let _ = std::fs::remove_file(&sq);
    listing
}

/// manifest.json's rpmlist: every package's `size` is its file's (`stat`), `installed_size`
/// is there, and it names the same packages, sizes and payloadhashes as Koji's own list when
/// Koji made one (LiveCDTask reads the cache).
fn check_manifest(manifest: &Path, package_files: &Path, koji_rpmlist: Option<&Value>) -> usize {
    let m: Value = serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    let rpmlist = m["rpmlist"].as_array().unwrap();
    assert!(!rpmlist.is_empty());
    let files = rpm_files(package_files);
    for p in rpmlist {
        let name = p["filename"].as_str().unwrap();
        let file = files
            .iter()
            .find(|f| f.file_name().unwrap() == name)
            .unwrap_or_else(|| panic!("{name} is not in {}", package_files.display()));
        assert_eq!(
            p["size"],
            std::fs::metadata(file).unwrap().len(),
            "rpmlist size of {name} is not its file's"
        );
        assert!(p["installed_size"].is_u64(), "no installed_size for {name}");
    }
    if let Some(koji) = koji_rpmlist {
        let key = |p: &Value| {
            format!(
                "{} {} {} {} {}",
                p["name"].as_str().unwrap(),
                p["arch"].as_str().unwrap(),
                p["version"].as_str().unwrap(),
                u64_of(&p["size"]),
                p["payloadhash"].as_str().unwrap_or("(none)")
            )
        };
        let mut ours: Vec<String> = rpmlist.iter().map(key).collect();
        let mut theirs: Vec<String> = koji.as_array().unwrap().iter().map(key).collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "manifest rpmlist != Koji's getImagePackages");
    }
    rpmlist.len()
}

/// Every `.rpm` beneath `dir`.
fn rpm_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rpm") {
                out.push(p);
            }
        }
    }
    out
}

/// `.iso` files directly in `dir`.
fn isos_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".iso"))
        .collect()
}

/// The fixture kickstart's `bootloader --append` (Koji reads it for --extra-boot-args).
const FIXTURE_APPEND: &str = "console=tty0 console=ttyS0,115200";

#[test]
fn livecd_task_finds_what_it_collects() {
    let Some((fx, kojid)) = setup() else {
        return;
    };
    let started = std::time::Instant::now();
    let server = common::HttpServer::start(&fx);
    let repo_url = server.url("live-x86_64");
    let ks = fx.join("ks/live-x86_64.ks");
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("koji-argv-livecd");
    let task = |opts: Value, dry: bool| Task {
        kojid: &kojid,
        task: "livecd",
        arch: "x86_64",
        opts,
        append: Some(FIXTURE_APPEND),
        ks: &ks,
        repo_url: &repo_url,
        dry,
    };
    let mut replayed = 0;

    // Koji's volume id from name-version-release; a given one (`--volid`) only renames.
    let plain = plan(&task(json!({}), true).run(&root.join("plain-dry")));
    let named = task(json!({"volid": "KILN-LIVECD"}), true).run(&root.join("volid"));
    replayed += 1;
    assert_eq!(
        named["argv"].as_array().unwrap().last().unwrap(),
        "KILN-LIVECD"
    );
    let named = plan(&named);
    assert!(kiln_value(&plain, "--ks")
        .unwrap()
        .ends_with("/tmp/koji-image-kiln-fixtures-4242.ks"));
    assert_eq!(kiln_value(&plain, "-f"), Some("kiln-live-1-1"));
    assert_eq!(kiln_value(&named, "-f"), Some("KILN-LIVECD"));
    assert_eq!(
        kiln_argv_without(
            &plain,
            &["--ks", "-f", "--cache", "--logfile", "--title", "--product"]
        ),
        kiln_argv_without(
            &named,
            &["--ks", "-f", "--cache", "--logfile", "--title", "--product"]
        ),
        "a volume id changes only the label"
    );
    // livecd-creator's defaults: xz, the root in an ext4 image inside the squashfs.
    assert_eq!(kiln_value(&plain, "--compression"), Some("xz"));
    assert_eq!(kiln_value(&plain, "--rootfs-type"), Some("squashfs-ext4"));

    // The real build.
    let work = root.join("build");
    let r = task(json!({}), false).run(&work);
    replayed += 1;
    closed(&r);
    let tmp = work.join("tmp");
    assert_eq!(r["result"]["files"], json!(["kiln-live-1-1.iso"]));
    assert_eq!(isos_in(&tmp), vec!["kiln-live-1-1.iso".to_string()]);
    let iso = uploaded(&r, "kiln-live-1-1.iso");
    assert_eq!(iso, tmp.join("kiln-live-1-1.iso"));
    uploaded(&r, "livecd.log");
    uploaded(&r, "manifest.log");
    let listing = check_iso(&iso, "kiln-live-1-1", &work);
    assert!(
        listing
            .lines()
            .any(|l| l.trim() == "squashfs-root/LiveOS/rootfs.img"),
        "no ext4 LiveOS/rootfs.img in the root image (livecd-creator's layout):\n{listing}"
    );
    // Koji read the rpm list from the --cache it gave: the same as kiln's manifest.
    let koji_list = &r["result"]["rpmlist"];
    let n = check_manifest(
        &tmp.join("manifest.json"),
        &tmp.join("koji-livecd"),
        Some(koji_list),
    );
    eprintln!("LiveCDTask: {n} packages in Koji's rpmlist and kiln's manifest agree");
    eprintln!(
        "koji argv replayed: {replayed} (LiveCDTask), {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn livemedia_task_finds_what_it_collects() {
    let Some((fx, kojid)) = setup() else {
        return;
    };
    let started = std::time::Instant::now();
    let server = common::HttpServer::start(&fx);
    let repo_url = server.url("live-x86_64");
    let ks = fx.join("ks/live-x86_64.ks");
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("koji-argv-livemedia");
    let task = |arch: &'static str, opts: Value, append: Option<&'static str>, dry: bool| Task {
        kojid: &kojid,
        task: "livemedia",
        arch,
        opts,
        append,
        ks: &ks,
        repo_url: &repo_url,
        dry,
    };
    let mut replayed = 0;
    // The optional options Koji passes: --squashfs-only, --compress-arg (xz's fastest
    // preset: Koji's argv sets no compressor, so xz it is), --extra-boot-args (the
    // kickstart's bootloader --append).
    let full = json!({"squashfs_only": true, "compress_arg": ["-Xpreset 0"]});
    let built_plan =
        plan(&task("x86_64", full.clone(), Some(FIXTURE_APPEND), true).run(&root.join("full-dry")));
    assert_eq!(
        kiln_value(&built_plan, "--kernel-args"),
        Some(FIXTURE_APPEND),
        "Koji's quotes stay on"
    );
    assert_eq!(kiln_value(&built_plan, "--rootfs-type"), Some("squashfs"));
    assert_eq!(kiln_value(&built_plan, "-f"), Some("kiln-live-1-1"));

    // Argv that make the same media as the built one, translated only: --nomacboot, aarch64
    // (Koji's --nomacboot; the task runs on an aarch64 builder, so no --arch), none of the
    // optional options.
    for (arch, opts, append, iso_name) in [
        (
            "x86_64",
            json!({"nomacboot": true}),
            Some(FIXTURE_APPEND),
            "kiln-live-x86_64-1-1.iso",
        ),
        (
            "aarch64",
            full.clone(),
            Some(FIXTURE_APPEND),
            "kiln-live-aarch64-1-1.iso",
        ),
        ("x86_64", json!({}), None, "kiln-live-x86_64-1-1.iso"),
    ] {
        let r = task(arch, opts.clone(), append, true).run(&root.join(format!("dry-{replayed}")));
        replayed += 1;
        let argv = r["argv"].as_array().unwrap();
        let macboot = arch == "x86_64" && opts.get("nomacboot").is_none();
        assert!(argv.contains(&json!(if macboot { "--macboot" } else { "--nomacboot" })));
        assert_eq!(argv.contains(&json!("--extra-boot-args")), append.is_some());
        let p = plan(&r);
        let media = |p: &Value| {
            kiln_argv_without(
                p,
                &[
                    "--ks",
                    "--compress-arg",
                    "--kernel-args",
                    "--resultdir",
                    "--logfile",
                    "--tmpdir",
                ],
            )
        };
        assert_eq!(media(&p), media(&built_plan), "{arch} {opts}: other media");
        assert_eq!(p["renames"][0][1], iso_name);
        let notes = p["notes"].to_string();
        assert!(
            notes.contains(if macboot { "--macboot" } else { "--nomacboot" }),
            "{notes}"
        );
        assert!(
            !notes.contains("warning"),
            "Koji's argv has no ignored option: {notes}"
        );
        // Koji's log directory does not exist before the run: kiln makes it.
        assert!(p["dirs"][0].as_str().unwrap().ends_with("/tmp/lmc-logs"));
    }

    // --lorax-templates (a task with lorax_url): refused, naming what kiln takes instead;
    // the task fails as Koji says it does.
    let r = task(
        "x86_64",
        json!({"lorax_url": "git://example/templates", "lorax_dir": "live"}),
        Some(FIXTURE_APPEND),
        false,
    )
    .run(&root.join("lorax"));
    replayed += 1;
    assert!(r["argv"]
        .as_array()
        .unwrap()
        .contains(&json!("--lorax-templates")));
    let err = r["error"].as_str().unwrap_or_default();
    assert!(err.contains("Could not create LiveMedia"), "{err}");
    let stderr = r["stderr"].as_str().unwrap();
    assert!(
        stderr.contains("--lorax-templates") && stderr.contains("kiln build --templates"),
        "{stderr}"
    );

    // The real build, with every optional option but the templates.
    let work = root.join("build");
    let r = task("x86_64", full, Some(FIXTURE_APPEND), false).run(&work);
    replayed += 1;
    closed(&r);
    let lmc = work.join("tmp/lmc");
    assert_eq!(isos_in(&lmc), vec!["kiln-live-x86_64-1-1.iso".to_string()]);
    assert_eq!(r["result"]["files"], json!(["kiln-live-x86_64-1-1.iso"]));
    let iso = uploaded(&r, "kiln-live-x86_64-1-1.iso");
    assert_eq!(iso, lmc.join("kiln-live-x86_64-1-1.iso"));
    let log = uploaded(&r, "livemedia-out.log");
    assert_eq!(log, work.join("tmp/lmc-logs/livemedia-out.log"));
    uploaded(&r, "manifest.log");
    let listing = check_iso(&iso, "kiln-live-1-1", &work);
    assert!(
        !listing.contains("squashfs-root/LiveOS/rootfs.img")
            && listing.lines().any(|l| l.trim() == "squashfs-root/usr/bin"),
        "--squashfs-only: the root itself in the squashfs:\n{listing}"
    );
    // --extra-boot-args (the kickstart's append again): on the boot line, once.
    let cfg = work.join("grub.cfg");
    common::run_ok(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(&iso)
            .args(["-extract", "/EFI/BOOT/grub.cfg"])
            .arg(&cfg),
    );
    let grub = std::fs::read_to_string(&cfg).unwrap();
    let boot_line = grub
        .lines()
        .find(|l| l.trim_start().starts_with("linux "))
        .unwrap_or_else(|| panic!("no linux line in grub.cfg:\n{grub}"));
    assert_eq!(
        boot_line.matches("console=ttyS0,115200").count(),
        1,
        "{boot_line}"
    );
    assert!(
        !boot_line.contains('"'),
        "Koji's quotes on the boot line: {boot_line}"
    );
    // The manifest kiln wrote (Koji's LiveMediaTask makes no rpm list of its own) names the
    // ISO under the name Koji collects.
    let m: Value =
        serde_json::from_slice(&std::fs::read(lmc.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["images"][0]["filename"], "kiln-live-x86_64-1-1.iso");
    let n = check_manifest(&lmc.join("manifest.json"), &work.join("kiln-cache"), None);
    eprintln!("LiveMediaTask: {n} packages, sizes as stat says");
    eprintln!(
        "koji argv replayed: {replayed} (LiveMediaTask), {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

/// `--help` of both front ends, by subcommand and by a link's name, lists the options taken.
#[test]
fn help_lists_the_accepted_options() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("koji-argv-help");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let livecd = [
        "--config",
        "--fslabel",
        "--name",
        "--title",
        "--product",
        "--releasever",
        "--compression-type",
        "--flat-squashfs",
        "--dracut-conf-args",
        "--repo",
        "--tmpdir",
        "--output",
        "--cache",
        "--cacheonly",
        "--nocleanup",
        "--logfile",
        "--shell",
        "--debug",
        "--verbose",
        "--quiet",
        "--skip-compression",
        "--skip-minimize",
        "--nomacboot",
        "--base-on",
        "-c,",
        "-f,",
        "-n",
        "-t,",
        "-o,",
        "-l,",
        "-d,",
        "-v,",
        "-q,",
        "-s,",
        "-b,",
    ];
    let livemedia = [
        "--make-iso",
        "--make-pxe-live",
        "--make-fsimage",
        "--make-tar",
        "--make-disk",
        "--iso-only",
        "--iso-name",
        "--volid",
        "--project",
        "--releasever",
        "--extra-boot-args",
        "--macboot",
        "--nomacboot",
        "--squashfs-only",
        "--rootfs-type",
        "--compression",
        "--compress-arg",
        "--dracut-arg",
        "--dracut-conf",
        "--tmp",
        "--resultdir",
        "--logfile",
        "--image-name",
        "--fs-label",
        "--timeout",
        "--proxy",
        "--lorax-templates",
        "--no-virt",
        "--ks",
    ];
    for (tool, options) in [
        ("livecd-creator", &livecd[..]),
        ("livemedia-creator", &livemedia[..]),
    ] {
        let by_name = common::kiln_in(&dir, &[tool, "--help"]);
        assert!(by_name.status.success());
        let help = String::from_utf8_lossy(&by_name.stdout).into_owned();
        for o in options {
            assert!(help.contains(o), "`kiln {tool} --help` lacks {o}:\n{help}");
        }
        let link = dir.join(tool);
        std::os::unix::fs::symlink(common::kiln(), &link).unwrap();
        let by_link = Command::new(&link)
            .arg("--help")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&by_link.stdout),
            help,
            "{tool} by its link"
        );
        // A kiln option is not one of the tool's.
        let wrong = Command::new(&link)
            .args(["--make-netroot"])
            .output()
            .unwrap();
        assert_eq!(wrong.status.code(), Some(1));
    }
    let kiln_help =
        String::from_utf8_lossy(&common::kiln_in(&dir, &["--help"]).stdout).into_owned();
    assert!(kiln_help.contains("livecd-creator") && kiln_help.contains("livemedia-creator"));
}

/// What other command lines mean (`KILN_COMPAT_DRY_RUN=1`, no build): livecd-creator's default
/// names, the VM options' one warning, the refused compressors naming kiln's.
#[test]
fn other_command_lines() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("koji-argv-other");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        Command::new(common::kiln())
            .current_dir(&dir)
            .args(args)
            .env("KILN_COMPAT_DRY_RUN", "1")
            // 2023-11-14 22:13:20 UTC
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap()
    };
    let plan_of = |args: &[&str]| -> Value {
        let out = run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let arch = std::env::consts::ARCH;

    // livecd-creator without -f: label livecd-KS-ARCH-DATE cut to 32 (prefix first), the ISO
    // livecd-KS-DATE.iso; the ext4-in-squashfs layout unless --flat-squashfs.
    let p = plan_of(&["livecd-creator", "-c", "/ks/live-x86_64.ks"]);
    let label = format!("live-x86_64-{arch}-202311142213");
    assert_eq!(kiln_value(&p, "-f"), Some(label.as_str()));
    assert_eq!(
        p["renames"],
        json!([[
            format!("{label}.iso"),
            "livecd-live-x86_64-202311142213.iso"
        ]])
    );
    assert_eq!(kiln_value(&p, "--rootfs-type"), Some("squashfs-ext4"));
    assert_eq!(kiln_value(&p, "--title"), Some("Livecd Live"));
    let p = plan_of(&[
        "livecd-creator",
        "-c",
        "/ks/a.ks",
        "-f",
        "A",
        "--flat-squashfs",
        "--compression-type",
        "zstd -Xcompression-level 19",
        "--nomacboot",
    ]);
    assert_eq!(kiln_value(&p, "--rootfs-type"), Some("squashfs"));
    assert_eq!(kiln_value(&p, "--compression"), Some("zstd"));
    assert_eq!(
        kiln_value(&p, "--compress-arg"),
        Some("-Xcompression-level 19")
    );
    assert!(p["notes"].to_string().contains("--nomacboot"));

    // livemedia-creator: the VM options, one warning naming them all.
    let p = plan_of(&[
        "livemedia-creator",
        "--ks",
        "/ks/a.ks",
        "--make-iso",
        "--no-virt",
        "--ram",
        "2048",
        "--vcpus",
        "2",
        "--iso",
        "/x.iso",
        "--resultdir",
        "r",
        "--logfile",
        "l/x/lmc.log",
    ]);
    let warnings: Vec<&Value> = p["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n.as_str().unwrap().contains("warning"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", p["notes"]);
    for o in ["--ram", "--vcpus", "--iso"] {
        assert!(warnings[0].as_str().unwrap().contains(o), "{}", warnings[0]);
    }
    assert_eq!(p["dirs"], json!(["l/x"]));
    assert_eq!(
        p["renames"],
        json!([[format!("Linux-{arch}.iso"), "images/boot.iso"]])
    );

    // Refused, naming the option and what kiln takes instead; nothing is built.
    for args in [
        &["livecd-creator", "-c", "a.ks", "--compression-type", "lzo"][..],
        &["livecd-creator", "-c", "a.ks", "--compression-type", "None"],
        &[
            "livemedia-creator",
            "--ks",
            "a.ks",
            "--make-iso",
            "--compression",
            "lzo",
        ],
    ] {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            err.contains(args[args.len() - 2]) && err.contains(args[args.len() - 1]),
            "{err}"
        );
        assert!(err.contains("xz, zstd, gzip or lz4"), "{err}");
    }
    // livemedia-creator's result directory must not exist.
    std::fs::create_dir_all(dir.join("exists")).unwrap();
    let out = run(&[
        "livemedia-creator",
        "--ks",
        "a.ks",
        "--make-iso",
        "--resultdir",
        "exists",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("should not exist"));
}
