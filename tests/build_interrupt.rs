//! Ctrl-C at any stage of `kiln build`: the real binary on the live-x86_64 fixture gets SIGINT
//! (as `kill -INT` sends it, to kiln alone) once its own output shows it reached
//! (a) unpacking packages, (b) a `%post` that sleeps, (c) squashfs compression. Each time it
//! must exit 130 with one line, and leave as they were before: the mounts (`findmnt`), the loop
//! devices (`losetup -a`), the tmpdir (also `TMPDIR`) and the result directory; and no process
//! may still have its root or working directory in them.
//!
//! Mounts and loop devices are compared for the entries that name the test's directory: the
//! only place kiln could mount something (the root) or take a loop device for (its images),
//! while other builds on the machine may mount and unmount their own things meanwhile.
//!
//! Needs root and the fixtures. One resolve + install per case; (c) also runs dracut.

mod common;

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Instant;

/// What must be unchanged by an interrupted build.
#[derive(Debug, PartialEq)]
struct Snapshot {
    mounts: Vec<String>,
    loops: Vec<String>,
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
    Snapshot {
        mounts: lines_mentioning(
            Command::new("findmnt").args(["-rn", "-o", "TARGET"]),
            needle,
        ),
        loops: lines_mentioning(Command::new("losetup").arg("-a"), needle),
        files,
    }
}

/// Processes whose root or cwd is inside `base` (a chrooted `%post` left running would be).
fn processes_inside(base: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        for link in ["root", "cwd"] {
            if let Ok(t) = std::fs::read_link(e.path().join(link)) {
                if t.starts_with(base.join("tmp")) || t.starts_with(base.join("out")) {
                    let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                    found.push(format!(
                        "pid {name} {link}={} cmd={}",
                        t.display(),
                        String::from_utf8_lossy(&cmd).replace('\0', " ")
                    ));
                }
            }
        }
    }
    found
}

/// Run `cmd`, send it SIGINT (to kiln alone, as `kill -INT` does) at the first stderr line
/// for which `trigger` holds, and wait for it; returns its status, its stderr lines and whether
/// the signal was sent.
fn interrupt_at(
    mut cmd: Command,
    name: &str,
    trigger: fn(&str) -> bool,
) -> (std::process::ExitStatus, Vec<String>, bool) {
    let started = Instant::now();
    let mut child = cmd
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
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
    for line in rx.iter() {
        let hit = !sent && trigger(&line);
        log.push(line);
        if hit {
            let st = Command::new("kill")
                .arg("-INT")
                .arg(child.id().to_string())
                .status()
                .unwrap();
            assert!(st.success());
            sent = true;
            eprintln!(
                "[{name}] SIGINT after {:.1} s at: {}",
                started.elapsed().as_secs_f64(),
                log.last().unwrap()
            );
        }
    }
    let status = child.wait().unwrap();
    reader.join().unwrap();
    eprintln!(
        "[{name}] exited {status} after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    (status, log, sent)
}

fn write_ks(base: &Path, fx: &Path, name: &str, post: &str) -> PathBuf {
    let ks = format!(
        "lang en_US.UTF-8\nkeyboard us\ntimezone Etc/UTC --utc\nselinux --disabled\n\
         rootpw --plaintext kiln\nbootloader --location=none\n\
         repo --name=live --baseurl=file://{}/live-x86_64\n\n\
         %packages\n@core\n@live\n%end\n\n%post\n{post}\n%end\n",
        fx.display()
    );
    let p = base.join(format!("{name}.ks"));
    std::fs::write(&p, ks).unwrap();
    p
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

struct Case {
    name: &'static str,
    /// The output line that shows the build is where the interrupt must land.
    trigger: fn(&str) -> bool,
    /// An output line start that must not appear: the interrupt stopped the build before it.
    not_reached: Option<&'static str>,
    post: &'static str,
}

/// One build at a time: they share the package cache and two cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn run_case(case: &Case) {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(fx) = common::fixtures() else { return };
    if !has_live(&fx) {
        return;
    }
    let base =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("build-interrupt-{}", case.name));
    let _ = std::fs::remove_dir_all(&base);
    for d in ["tmp", "out"] {
        std::fs::create_dir_all(base.join(d)).unwrap();
    }
    // Something of the user's in the result directory, which must survive untouched.
    std::fs::write(base.join("out/earlier.iso"), b"not kiln's").unwrap();
    let ks = write_ks(&base, &fx, case.name, case.post);
    let before = snapshot(&base);

    let mut cmd = Command::new(common::kiln());
    cmd.args([
        "-v",
        "build",
        "--make-iso",
        "-f",
        "KILN-INT",
        "--compression",
        "xz",
    ])
    .arg("--ks")
    .arg(&ks)
    .arg("--resultdir")
    .arg(base.join("out"))
    .arg("--tmpdir")
    .arg(base.join("tmp"))
    .arg("--cache")
    // Shared by the cases: the packages are copied once.
    .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("build-interrupt-cache"))
    .env("TMPDIR", base.join("tmp"));
    let (status, log, sent) = interrupt_at(cmd, case.name, case.trigger);
    let text = log.join("\n");
    assert!(sent, "the build never reached the trigger point:\n{text}");
    assert_eq!(status.code(), Some(130), "not exit 130:\n{text}");
    let last = log.last().map(String::as_str).unwrap_or("");
    assert!(
        last.starts_with("kiln: interrupted"),
        "last line is not the interrupt message:\n{text}"
    );
    if let Some(n) = case.not_reached {
        assert!(
            !log.iter().any(|l| l.starts_with(n)),
            "the build went on to `{n}` after the interrupt:\n{text}"
        );
    }
    let after = snapshot(&base);
    assert_eq!(before, after, "left behind:\n{text}");
    let procs = processes_inside(&base);
    assert!(procs.is_empty(), "processes left: {procs:?}\n{text}");
}

#[test]
fn interrupt_during_unpack() {
    run_case(&Case {
        name: "unpack",
        // Logged after each package's files are written: others are still being unpacked.
        trigger: |l| l.contains("unpacked") && l.contains("pkg="),
        not_reached: Some("kiln: configure"),
        post: "true",
    });
}

#[test]
fn interrupt_during_post() {
    run_case(&Case {
        name: "post",
        // The %post's own output, streamed while it runs: it is in its sleep now.
        // (Computed, so the kickstart's own text cannot match.)
        trigger: |l| l.contains("KILN-POST-42"),
        not_reached: Some("kiln: finalize"),
        post: "echo KILN-POST-$((40 + 2))\nsleep 600",
    });
}

#[test]
fn interrupt_during_compression() {
    run_case(&Case {
        name: "squashfs",
        trigger: |l| l.contains("compressing") && l.contains("squashfs.img"),
        // No ISO or staging directory: the snapshot of the result directory shows it.
        not_reached: None,
        post: "true",
    });
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
    // 64 MiB of compressible but varied text: xz needs many seconds for it (already
    // compressed input would be stored raw after a quick probe, and end too soon).
    let src = base.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..16 {
        let text: Vec<u8> = (0..4 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b"abcdefgh ijkl\n"[(x % 14) as usize]
            })
            .collect();
        std::fs::write(src.join(format!("f{i}.txt")), text).unwrap();
    }
    let mut cmd = Command::new(common::kiln());
    cmd.args(["-v", "write", "squashfs"])
        .arg(&src)
        .arg(base.join("out/img.sqfs"))
        .args(["--comp", "xz"]);
    let (status, log, sent) = interrupt_at(cmd, "write", |l| l.contains("compressing"));
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
