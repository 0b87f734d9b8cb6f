//! The interrupt harness: the real `kiln build --make-iso` of the live-x86_64 fixture (served
//! over HTTP by a real server on 127.0.0.1) is stopped at 20 points, from the host `%pre` and
//! the download through every scriptlet phase, `%post`, dracut and compression to the ISO
//! writer, once with SIGINT and once with SIGKILL each (sent to kiln alone, as `kill` does,
//! once its own `-vv` output shows it reached the point). The SIGINT and the SIGKILL builds run
//! as two lanes side by side, each in its own directories; the SIGINT lane's builds run as an
//! ordinary user (`common::rootless_user`, rootless kiln in a user namespace).
//!
//! - After SIGINT: exit 130 with the interrupt message last, and nothing left: the mounts
//!   (`findmnt`) and loop devices (`losetup -a`) naming the test directory, the binfmt_misc
//!   entries, the tmpdir (also `TMPDIR`) and the result directory exactly as before, no
//!   partial download in the cache, no cache lock held, no block store temporary file, no
//!   process left that kiln started.
//! - After SIGKILL: no mount, loop device, binfmt entry or process left either (scriptlets
//!   and host scripts run in PID namespaces that die with kiln); only the killed build's own
//!   work and staging directories (and partial downloads) may remain, and the next build must
//!   remove them and say so. A last, complete build checks the cache still serves.
//!
//! The scriptlet points use a probe package built here with rpmbuild, whose scriptlet of the
//! phase under test prints a marker and sleeps; the host scripts do the same from the
//! kickstart. Prints `interrupt harness: N leftovers in M interruptions`.
//!
//! Needs root, rpmbuild, createrepo_c, python3 and the fixtures.

mod common;

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What must be unchanged by an interrupted build.
#[derive(Debug, PartialEq, Clone)]
struct Snapshot {
    mounts: Vec<String>,
    loops: Vec<String>,
    binfmt: Vec<String>,
    files: BTreeSet<String>,
}

fn lines_mentioning(cmd: &mut Command, needle: &str) -> Vec<String> {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?} failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

fn list(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        out.insert(p.strip_prefix(base).unwrap().display().to_string());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            list(&p, base, out);
        }
    }
}

fn snapshot(base: &Path) -> Snapshot {
    let needle = base.to_str().unwrap();
    let mut files = BTreeSet::new();
    for d in ["tmp", "out"] {
        files.insert(d.to_string());
        list(&base.join(d), base, &mut files);
    }
    let mut binfmt: Vec<String> = std::fs::read_dir("/proc/sys/fs/binfmt_misc")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    binfmt.sort();
    Snapshot {
        mounts: lines_mentioning(
            Command::new("findmnt").args(["-rn", "-o", "TARGET"]),
            needle,
        ),
        loops: lines_mentioning(Command::new("losetup").arg("-a"), needle),
        binfmt,
        files,
    }
}

/// The sleep of a held script, one per lane: no other process on the machine sleeps this long.
fn hold_secs(sig: Sig) -> &'static str {
    match sig {
        Sig::Int => "6113",
        Sig::Kill => "6117",
    }
}

/// Processes kiln started that are still there: a helper (its environment names kiln's pid),
/// a held script's sleep, or anything with its root or working directory in `base`.
fn processes_left(base: &Path, kiln_pid: u32, hold: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let parent_env = format!("KILN_PARENT_PID={kiln_pid}");
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) || name == me {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
        let mut why = Vec::new();
        if env.split(|b| *b == 0).any(|v| v == parent_env.as_bytes()) {
            why.push("a kiln helper".to_string());
        }
        if cmd.split(' ').any(|w| w == hold) {
            why.push("a held script".to_string());
        }
        for link in ["root", "cwd"] {
            if let Ok(t) = std::fs::read_link(e.path().join(link)) {
                if t.starts_with(base.join("tmp")) || t.starts_with(base.join("out")) {
                    why.push(format!("{link}={}", t.display()));
                }
            }
        }
        if !why.is_empty() {
            found.push(format!("pid {name} ({}): {cmd}", why.join(", ")));
        }
    }
    found
}

/// Partial downloads in the cache, and cache locks someone holds.
fn cache_leftovers(cache: &Path) -> Vec<String> {
    let mut all = BTreeSet::new();
    list(cache, cache, &mut all);
    let mut bad = Vec::new();
    for rel in all {
        let p = cache.join(&rel);
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".part") {
            bad.push(format!("partial download {rel}"));
        }
        if name == ".lock" {
            let f = std::fs::File::open(&p).unwrap();
            if !fs4::fs_std::FileExt::try_lock_exclusive(&f).unwrap_or(false) {
                bad.push(format!("cache lock {rel} still held"));
            }
        }
    }
    bad
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Sig {
    Int,
    Kill,
}

impl Sig {
    fn name(self) -> &'static str {
        match self {
            Sig::Int => "INT",
            Sig::Kill => "KILL",
        }
    }
}

/// How one run ended.
struct Run {
    status: std::process::ExitStatus,
    log: Vec<String>,
    sent: bool,
    pid: u32,
}

/// Run `cmd`, send it `sig` (to kiln alone) `delay` after the first stderr line for which
/// `trigger` holds, and wait for it.
fn interrupt_at(
    mut cmd: Command,
    name: &str,
    sig: Option<Sig>,
    mut trigger: impl FnMut(&str) -> bool,
    delay: Duration,
) -> Run {
    let started = Instant::now();
    let mut child = cmd
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let mut sent = false;
    // A point never reached would leave the build waiting in a held script.
    let deadline = started + Duration::from_secs(300);
    loop {
        let line = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) => l,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if Instant::now() > deadline {
                    eprintln!("[{name}] no trigger after 300 s: killing the build");
                    let _ = Command::new("kill")
                        .arg("-KILL")
                        .arg(pid.to_string())
                        .status();
                    log.push("(killed by the harness: point never reached)".into());
                    break;
                }
                continue;
            }
        };
        let hit = sig.is_some() && !sent && trigger(&line);
        log.push(line);
        if hit {
            std::thread::sleep(delay);
            let sig = sig.unwrap();
            let st = Command::new("kill")
                .arg(format!("-{}", sig.name()))
                .arg(pid.to_string())
                .status()
                .unwrap();
            sent = st.success();
            eprintln!(
                "[{name}] SIG{} after {:.1} s at: {}",
                sig.name(),
                started.elapsed().as_secs_f64(),
                log.last().unwrap().chars().take(160).collect::<String>()
            );
        }
    }
    let status = child.wait().unwrap();
    reader.join().unwrap();
    eprintln!(
        "[{name}] exited {status} after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Run {
        status,
        log,
        sent,
        pid,
    }
}

/// The live-x86_64 fixture repository: panic under CI when missing, else skip.
fn has_live(fx: &Path) -> bool {
    if fx.join("live-x86_64/repodata").is_dir() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("the live-x86_64 fixture repository is missing");
    }
    eprintln!("SKIP: no live-x86_64 fixture repository");
    false
}

/// `python3 -m http.server` on 127.0.0.1 serving `dir`, stopped when dropped.
struct Http {
    child: std::process::Child,
    port: u16,
}

impl Http {
    fn serve(dir: &Path) -> Http {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 for the HTTP server");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the HTTP server never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        Http { child, port }
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The scriptlet phases of the probe package, in the order a transaction runs them.
const PHASES: [&str; 7] = [
    "pretrans",
    "pre",
    "post",
    "triggerin",
    "filetriggerin",
    "posttrans",
    "transfiletriggerin",
];

/// `OUT/<hold>/`: a repository with `kiln-interrupt-probe`, whose scriptlet of phase `hold`
/// (none for "none") sleeps after printing its marker `KILN-PROBE:<phase>:`.
fn probe_repos(out: &Path, hold_for: &str) -> PathBuf {
    let top = out.join("rpmbuild");
    for hold in PHASES.iter().copied().chain(["none"]) {
        let repo = out.join(hold);
        let sh = |phase: &str| {
            // The marker is printed, never in a script body as the log shows it.
            let sleep = if phase == hold {
                format!("sleep {hold_for}\n")
            } else {
                String::new()
            };
            format!("echo KILN\"\"-PROBE:{phase}:\n{sleep}")
        };
        let lua_sleep = if hold == "pretrans" {
            format!("posix.sleep({hold_for})\n")
        } else {
            String::new()
        };
        let spec = format!(
            "Name: kiln-interrupt-probe\nVersion: 1\nRelease: {rel}\nSummary: interrupt probe\n\
             License: MIT\nBuildArch: noarch\n\n%description\nScriptlets that announce \
             themselves.\n\n%install\nmkdir -p %{{buildroot}}/usr/share/kiln-interrupt-probe\n\
             echo probe > %{{buildroot}}/usr/share/kiln-interrupt-probe/marker\n\n\
             %files\n/usr/share/kiln-interrupt-probe\n\n\
             %pretrans -p <lua>\nio.stderr:write(\"KILN\" .. \"-PROBE:pretrans:\\n\")\n{lua_sleep}\n\
             %pre\n{pre}\n%post\n{post}\n%triggerin -- bash\n{trig}\n\
             %filetriggerin -- /usr/bin\ncat > /dev/null\n{ftrig}\n\
             %posttrans\n{posttrans}\n%transfiletriggerin -- /usr/share\ncat > /dev/null\n{tftrig}\n",
            rel = hold.replace('-', "_"),
            pre = sh("pre"),
            post = sh("post"),
            trig = sh("triggerin"),
            ftrig = sh("filetriggerin"),
            posttrans = sh("posttrans"),
            tftrig = sh("transfiletriggerin"),
        );
        let spec_path = out.join(format!("probe-{hold}.spec"));
        // Built once per spec text.
        if std::fs::read_to_string(&spec_path).is_ok_and(|old| old == spec)
            && repo.join("repodata/repomd.xml").is_file()
        {
            continue;
        }
        let _ = std::fs::remove_dir_all(&repo);
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(&spec_path, &spec).unwrap();
        let o = Command::new("rpmbuild")
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .arg("--define")
            .arg(format!("_rpmdir {}", repo.display()))
            .arg("-bb")
            .arg(&spec_path)
            .output()
            .expect("rpmbuild");
        assert!(
            o.status.success(),
            "rpmbuild: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        common::run_ok(Command::new("createrepo_c").arg("-q").arg(&repo));
    }
    out.to_path_buf()
}

/// One point of the build where the signal lands.
struct Point {
    name: &'static str,
    /// The `-vv` output line (its `nth` occurrence) that shows kiln is there.
    needle: &'static str,
    nth: usize,
    /// Wait this long after the line: into the middle of the step.
    delay_ms: u64,
    /// The probe package's phase that holds, if any.
    hold: &'static str,
    /// A `%pre` / `%post` / `%post --nochroot` that holds.
    pre: bool,
    post: bool,
    nochroot: bool,
    /// Remove the cached packages first: the build has to download them.
    download: bool,
}

const fn point(name: &'static str, needle: &'static str) -> Point {
    Point {
        name,
        needle,
        nth: 1,
        delay_ms: 0,
        hold: "none",
        pre: false,
        post: false,
        nochroot: false,
        download: false,
    }
}

fn points() -> Vec<Point> {
    let mut v = vec![
        Point {
            pre: true,
            ..point("host-pre", "KILN-HOST:pre:")
        },
        point("metadata", "kiln: install"),
        Point {
            download: true,
            ..point("download-start", "downloading")
        },
        Point {
            download: true,
            delay_ms: 300,
            ..point("download-mid", "downloading")
        },
    ];
    v.push(Point {
        hold: "pretrans",
        ..point("pretrans", "KILN-PROBE:pretrans:")
    });
    v.push(point("unpack-first", "unpacked"));
    v.push(Point {
        nth: 60,
        ..point("unpack-mid", "unpacked")
    });
    for (phase, needle) in [
        ("pre", "KILN-PROBE:pre:"),
        ("post", "KILN-PROBE:post:"),
        ("triggerin", "KILN-PROBE:triggerin:"),
        ("filetriggerin", "KILN-PROBE:filetriggerin:"),
        ("posttrans", "KILN-PROBE:posttrans:"),
        ("transfiletriggerin", "KILN-PROBE:transfiletriggerin:"),
    ] {
        v.push(Point {
            hold: phase,
            ..point(phase, needle)
        });
    }
    v.extend([
        point("configure", "kiln: configure"),
        Point {
            post: true,
            ..point("post-chroot", "KILN-HOST:post:")
        },
        Point {
            nochroot: true,
            ..point("post-nochroot", "KILN-HOST:nochroot:")
        },
        Point {
            delay_ms: 1500,
            ..point("dracut", "running dracut")
        },
        point("squashfs-start", "compressing"),
        Point {
            delay_ms: 500,
            ..point("squashfs-mid", "compressing")
        },
        point("iso-write", "writing the ISO"),
    ]);
    v
}

fn write_ks(base: &Path, port: u16, probe: &Path, p: &Point, secs: &str) -> PathBuf {
    let hold = |on: bool| {
        if on {
            format!("sleep {secs}\n")
        } else {
            String::new()
        }
    };
    let ks = format!(
        "lang en_US.UTF-8\nkeyboard us\ntimezone Etc/UTC --utc\nselinux --disabled\n\
         rootpw --plaintext kiln\nbootloader --location=none\n\
         repo --name=live --baseurl=http://127.0.0.1:{port}/live-x86_64\n\
         repo --name=probe --baseurl=file://{}/{}\n\n\
         %packages\n@core\n@live\nkiln-interrupt-probe\n%end\n\n\
         %pre\necho KILN\"\"-HOST:pre:\n{}%end\n\n\
         %post\necho KILN\"\"-HOST:post:\n{}%end\n\n\
         %post --nochroot\necho KILN\"\"-HOST:nochroot:\n{}%end\n",
        probe.display(),
        p.hold,
        hold(p.pre),
        hold(p.post),
        hold(p.nochroot),
    );
    let path = base.join(format!("{}.ks", p.name));
    std::fs::write(&path, ks).unwrap();
    path
}

/// One build at a time: they share the package cache and two cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn build_cmd(base: &Path, ks: &Path, user: Option<(u32, u32)>) -> Command {
    let mut cmd = match user {
        Some(ids) => common::as_user(ids, &common::kiln()),
        None => Command::new(common::kiln()),
    };
    cmd.args(["-vv", "build", "--make-iso", "-f", "KILN-INT"])
        .args(["--compression", "zstd", "--compress-arg", "level=3"])
        .arg("--ks")
        .arg(ks)
        .arg("--resultdir")
        .arg(base.join("out"))
        .arg("--tmpdir")
        .arg(base.join("tmp"))
        .arg("--cache")
        .arg(base.join("cache"))
        .env("TMPDIR", base.join("tmp"));
    cmd
}

/// Entries of `after` not in `before` that belong to the build with `pid`: its work and
/// staging directories.
fn owned_by(pid: u32, rel: &str) -> bool {
    let work = format!("tmp/kiln-build-{pid}-");
    let staging = format!("out/.kiln-partial-{pid}-");
    rel.starts_with(&work) || rel.starts_with(&staging)
}

/// One lane: every point with one signal, in its own directories (tmpdir, result directory,
/// cache), one build after another, as root or (`user`) as an ordinary user's rootless kiln.
/// Returns the problems found and the interruptions made.
fn run_lane(root: &Path, port: u16, sig: Sig, user: Option<(u32, u32)>) -> (Vec<String>, usize) {
    let secs = hold_secs(sig);
    let lane = sig.name().to_lowercase();
    let probe = probe_repos(&root.join(format!("interrupt-probe-{secs}")), secs);
    let base = root.join(format!("interrupt-harness-{lane}"));
    let _ = std::fs::remove_dir_all(&base);
    for d in ["tmp", "out", "cache"] {
        std::fs::create_dir_all(base.join(d)).unwrap();
    }
    // Something of the user's in the result directory, which must survive untouched.
    std::fs::write(base.join("out/earlier.iso"), b"not kiln's").unwrap();
    if let Some((uid, gid)) = user {
        for p in ["tmp", "out", "cache", "out/earlier.iso"] {
            std::os::unix::fs::chown(base.join(p), Some(uid), Some(gid)).unwrap();
        }
    }
    let clean = snapshot(&base);

    let mut problems: Vec<String> = Vec::new();
    let mut interruptions = 0;
    // Left by the last SIGKILL: the next build must remove them.
    let mut stale: Vec<String> = Vec::new();
    for p in points() {
        let case = format!("{}/{}", p.name, sig.name());
        if p.download {
            // Complete packages go; partial ones of a killed build stay for the sweep.
            for e in std::fs::read_dir(base.join("cache/packages-v1"))
                .into_iter()
                .flatten()
                .flatten()
            {
                for f in std::fs::read_dir(e.path()).unwrap().flatten() {
                    if f.file_name().to_string_lossy().ends_with(".rpm") {
                        std::fs::remove_file(f.path()).unwrap();
                    }
                }
            }
        }
        let ks = write_ks(&base, port, &probe, &p, secs);
        let mut seen = 0;
        let needle = p.needle;
        let nth = p.nth;
        let run = interrupt_at(
            build_cmd(&base, &ks, user),
            &case,
            Some(sig),
            |l| {
                if l.contains(needle) {
                    seen += 1;
                }
                seen == nth && l.contains(needle)
            },
            Duration::from_millis(p.delay_ms),
        );
        let text = run.log.join("\n");
        let mut bad = |what: String| problems.push(format!("{case}: {what}"));
        if !run.sent {
            bad(format!("the build never reached the point:\n{text}"));
            continue;
        }
        interruptions += 1;
        for s in stale.drain(..) {
            if !run
                .log
                .iter()
                .any(|l| l.contains("removed `") && l.contains(&s))
            {
                bad(format!(
                    "did not report removing `{s}` left by the killed build"
                ));
            }
        }
        use std::os::unix::process::ExitStatusExt;
        // Whatever a killed kiln leaves must be gone once the kernel has done its part.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut procs = processes_left(&base, run.pid, secs);
        while !procs.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            procs = processes_left(&base, run.pid, secs);
        }
        for pr in procs {
            bad(format!("process left: {pr}"));
        }
        let after = snapshot(&base);
        if after.mounts != clean.mounts {
            bad(format!("mounts left: {:?}", after.mounts));
        }
        if after.loops != clean.loops {
            bad(format!("loop devices left: {:?}", after.loops));
        }
        if after.binfmt != clean.binfmt {
            bad(format!("binfmt entries changed: {:?}", after.binfmt));
        }
        let extra: Vec<&String> = after.files.difference(&clean.files).collect();
        let missing: Vec<&String> = clean.files.difference(&after.files).collect();
        if !missing.is_empty() {
            bad(format!("removed what was not kiln's: {missing:?}"));
        }
        match sig {
            Sig::Int => {
                if run.status.code() != Some(130) {
                    bad(format!("exit {} instead of 130:\n{text}", run.status));
                }
                if !run
                    .log
                    .last()
                    .is_some_and(|l| l.starts_with("kiln: interrupted"))
                {
                    bad(format!("last line is not the interrupt message:\n{text}"));
                }
                if !extra.is_empty() {
                    bad(format!("left behind: {extra:?}"));
                }
                for c in cache_leftovers(&base.join("cache")) {
                    bad(c);
                }
                // A stopped writer finishes or removes its block store entry.
                let (_, temps) = store_files(&base.join("cache/blocks-v1"));
                if !temps.is_empty() {
                    bad(format!("block store temporaries left: {temps:?}"));
                }
            }
            Sig::Kill => {
                if run.status.signal() != Some(9) {
                    bad(format!("not killed: {}", run.status));
                }
                let foreign: Vec<&&String> =
                    extra.iter().filter(|r| !owned_by(run.pid, r)).collect();
                if !foreign.is_empty() {
                    bad(format!("left outside its own directories: {foreign:?}"));
                }
                // Its directories, for the next build to clean up.
                stale = extra
                    .iter()
                    .filter(|r| r.matches('/').count() == 1)
                    .map(|r| r.to_string())
                    .collect();
            }
        }
    }
    if sig == Sig::Int {
        return (problems, interruptions);
    }

    // The build after the last kill: complete, cleans up, and the cache still serves it.
    let p = point("complete", "");
    let ks = write_ks(&base, port, &probe, &p, secs);
    let run = interrupt_at(
        build_cmd(&base, &ks, user),
        "complete",
        None,
        |_| false,
        Duration::ZERO,
    );
    let text = run.log.join("\n");
    if !run.status.success() {
        problems.push(format!(
            "the complete build after the interruptions failed:\n{text}"
        ));
    }
    for s in stale.drain(..) {
        if !run
            .log
            .iter()
            .any(|l| l.contains("removed `") && l.contains(&s))
        {
            problems.push(format!("complete: did not report removing `{s}`"));
        }
    }
    let after = snapshot(&base);
    let extra: BTreeSet<&String> = after
        .files
        .difference(&clean.files)
        .filter(|r| !r.starts_with("out/KILN-INT"))
        .filter(|r| {
            !["out/manifest.json", "out/sbom.spdx.json", "out/build.log"].contains(&r.as_str())
        })
        .collect();
    if !extra.is_empty() {
        problems.push(format!("complete: left behind {extra:?}"));
    }
    if !base.join("out/KILN-INT.iso").is_file() {
        problems.push("complete: no ISO".into());
    }
    for c in cache_leftovers(&base.join("cache")) {
        problems.push(format!("complete: {c}"));
    }
    (problems, interruptions)
}

#[test]
fn interrupt_harness() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(fx) = common::fixtures() else { return };
    if !common::require(
        common::is_root(),
        "root: the harness runs one lane as root and makes the other's user",
    ) {
        return;
    }
    if !has_live(&fx) || !common::have_tool("/usr/bin/rpmbuild") {
        return;
    }
    let started = Instant::now();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let http = Http::serve(&fx);
    // The SIGINT and the SIGKILL lanes side by side: each build waits on scriptlets, dracut
    // and the disk for much of its time, so two share two cores well. The SIGINT lane's
    // builds are an ordinary user's (rootless, step 17): its interrupt goes to the outer kiln,
    // which passes it on to the one in the user namespace.
    let user = common::rootless_user();
    let (int, kill) = std::thread::scope(|s| {
        let int = s.spawn(|| run_lane(root, http.port, Sig::Int, Some(user)));
        let kill = s.spawn(|| run_lane(root, http.port, Sig::Kill, None));
        (int.join().unwrap(), kill.join().unwrap())
    });
    drop(http);
    let problems: Vec<String> = int.0.into_iter().chain(kill.0).collect();
    let interruptions = int.1 + kill.1;
    let verdict = format!(
        "interrupt harness: {} leftovers in {interruptions} interruptions ({:.0} s)",
        problems.len(),
        started.elapsed().as_secs_f64()
    );
    eprintln!("{verdict}");
    // For scripts/test.sh, which prints it: cargo shows nothing of a passing test.
    std::fs::write(
        root.join("interrupt-harness.summary"),
        format!("{verdict}\n"),
    )
    .unwrap();
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n\n")
    );
    assert_eq!(interruptions, 40);
}

/// `kiln write squashfs` too: exit 130, and neither the image nor its `.partial` is left.
#[test]
fn interrupt_write_squashfs() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("build-interrupt-write");
    let _ = std::fs::remove_dir_all(&base);
    for d in ["tmp", "out"] {
        std::fs::create_dir_all(base.join(d)).unwrap();
    }
    std::fs::write(base.join("out/earlier.iso"), b"not kiln's").unwrap();
    let before = snapshot(&base);
    // 64 MiB: xz needs many seconds for it.
    let src = base.join("src");
    text_tree(&src, 16);
    let mut cmd = Command::new(common::kiln());
    // Without the block store: a store filled by an earlier run would end the write too soon.
    cmd.args(["-v", "write", "squashfs"])
        .arg(&src)
        .arg(base.join("out/img.sqfs"))
        .args(["--comp", "xz", "--block-cache-size", "0"]);
    let Run {
        status, log, sent, ..
    } = interrupt_at(
        cmd,
        "write",
        Some(Sig::Int),
        |l| l.contains("compressing"),
        Duration::ZERO,
    );
    let text = log.join("\n");
    assert!(sent, "never reached compression:\n{text}");
    assert_eq!(status.code(), Some(130), "not exit 130:\n{text}");
    assert!(
        log.last()
            .is_some_and(|l| l.starts_with("kiln: interrupted")),
        "last line is not the interrupt message:\n{text}"
    );
    assert_eq!(before, snapshot(&base), "left behind:\n{text}");
}

/// `files` files of 4 MiB of compressible but varied text under `dir`: xz needs seconds for
/// each (already compressed input would be stored raw after a quick probe, and end too soon).
fn text_tree(dir: &Path, files: usize) {
    common::write_text_files(dir, 0x9e37_79b9_7f4a_7c15, files, 4 << 20);
}

/// Entry files and temporary files (`.tmp-*`) under a block store directory.
fn store_files(store: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut all = BTreeSet::new();
    list(store, store, &mut all);
    let (mut entries, mut temps) = (Vec::new(), Vec::new());
    for rel in all {
        let p = store.join(&rel);
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with(".tmp-") {
            temps.push(p);
        } else if name.len() == 62 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            entries.push(p);
        }
    }
    (entries, temps)
}

/// `kiln write squashfs` with the block store, stopped by SIGINT and by SIGKILL while it writes
/// entries: no entry it left is used wrongly (the next write with the same store gives the
/// image a write without a store gives), a SIGINT leaves no temporary file, and `kiln cache
/// prune` removes those of a killed writer (once old enough to be a dead writer's: they are
/// dated back here).
#[test]
fn interrupt_write_squashfs_into_the_block_store() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("build-interrupt-store");
    let _ = std::fs::remove_dir_all(&base);
    let src = base.join("src");
    text_tree(&src, 12);
    let write = |out: &str, extra: &[&str]| {
        let mut cmd = Command::new(common::kiln());
        cmd.args(["-v", "write", "squashfs"])
            .arg(&src)
            .arg(base.join(out))
            .args(["--comp", "xz", "--mkfs-time", "1700000000"])
            .args(extra);
        cmd
    };
    let sha = |name: &str| {
        common::run_ok(Command::new("sha256sum").arg(base.join(name)))
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    common::run_ok(&mut write("cold.sqfs", &["--block-cache-size", "0"]));
    for sig in [Sig::Int, Sig::Kill] {
        let cache = base.join(format!("cache-{}", sig.name()));
        let store = cache.join("blocks-v1");
        let cache_arg = cache.to_str().unwrap();
        let Run {
            status, log, sent, ..
        } = interrupt_at(
            write("img.sqfs", &["--cache", cache_arg]),
            &format!("write-store-{}", sig.name()),
            Some(sig),
            |l| l.contains("compressing"),
            Duration::from_millis(1500),
        );
        let text = log.join("\n");
        assert!(sent, "never reached compression:\n{text}");
        match sig {
            Sig::Int => assert_eq!(status.code(), Some(130), "not exit 130:\n{text}"),
            Sig::Kill => assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&status),
                Some(9),
                "not killed:\n{text}"
            ),
        }
        let (entries, temps) = store_files(&store);
        eprintln!(
            "SIG{}: the stopped write left {} entries and {} temporary files",
            sig.name(),
            entries.len(),
            temps.len()
        );
        assert!(
            !entries.is_empty(),
            "no entry was written before the signal"
        );
        if sig == Sig::Int {
            assert!(temps.is_empty(), "SIGINT left temporaries: {temps:?}");
        }
        for t in &temps {
            common::run_ok(Command::new("touch").args(["-d", "1 hour ago"]).arg(t));
        }
        let out = format!("again-{}.sqfs", sig.name());
        let log = common::run_ok(&mut write(&out, &["--cache", cache_arg]));
        assert_eq!(
            sha("cold.sqfs"),
            sha(&out),
            "the write after SIG{}:\n{log}",
            sig.name()
        );
        common::run_ok(
            Command::new(common::kiln())
                .args(["cache", "prune", "--cache"])
                .arg(&cache),
        );
        let (entries, temps) = store_files(&store);
        assert!(temps.is_empty(), "prune left temporaries: {temps:?}");
        assert!(!entries.is_empty(), "prune emptied the store");
    }
    let _ = std::fs::remove_dir_all(&base);
}
