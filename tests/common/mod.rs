//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub mod rpm;

use std::path::{Path, PathBuf};

/// The third-party corpus (`KILN_CORPUS`, default `../shared/corpus` beside the repository).
/// Missing corpus: panic under `CI=true`, otherwise `None` with a printed reason.
pub fn corpus() -> Option<PathBuf> {
    let p = std::env::var_os("KILN_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if p.is_dir() {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("corpus not found at {} (set KILN_CORPUS)", p.display());
    }
    eprintln!(
        "SKIP: corpus not found at {} (set KILN_CORPUS)",
        p.display()
    );
    None
}

/// The kiln binary built for these tests.
pub fn kiln() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kiln"))
}

/// A venv with pykickstart 3.78 (`KILN_PYKS` or one created under the target dir).
/// Missing python/pip: panic under CI, otherwise None.
pub fn pykickstart_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KILN_PYKS") {
        let p = PathBuf::from(p);
        if p.join("ksflatten").exists() {
            return Some(p);
        }
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyks-3.78");
    let bin = venv.join("bin");
    if bin.join("ksflatten").exists() {
        return Some(bin);
    }
    let ok = std::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
        && std::process::Command::new(bin.join("pip"))
            .args(["install", "-q", "pykickstart==3.78"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if ok {
        return Some(bin);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("could not install pykickstart 3.78 into {}", venv.display());
    }
    eprintln!("SKIP: pykickstart 3.78 unavailable");
    None
}

/// The step-2 fixture repositories (`KILN_FIXTURES`, the OUT of `fixtures/build-repos`; else
/// `fixtures/build-repos` is run into the target dir when this checkout has it).
/// Missing: panic under `CI=true`, otherwise `None` with a printed reason.
pub fn fixtures() -> Option<PathBuf> {
    let ok =
        |p: &Path| p.join("ks/synthetic.ks").is_file() && p.join("synthetic/repodata").is_dir();
    if let Some(p) = std::env::var_os("KILN_FIXTURES").map(PathBuf::from) {
        if ok(&p) {
            return Some(p);
        }
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/build-repos");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixtures");
    if ok(&out) {
        return Some(out);
    }
    if script.is_file() {
        let built = std::process::Command::new(&script)
            .arg(&out)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if built && ok(&out) {
            return Some(out);
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("fixture repositories not found (set KILN_FIXTURES or add fixtures/build-repos)");
    }
    eprintln!(
        "SKIP: fixture repositories not found (set KILN_FIXTURES=OUT of fixtures/build-repos)"
    );
    None
}

/// A host tool the test needs: panic under CI, otherwise false with a printed reason.
pub fn have_tool(path: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{path} is required under CI");
    }
    eprintln!("SKIP: {path} not installed");
    false
}

/// Run the kiln binary in `dir` without colors.
pub fn kiln_in(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(kiln())
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Write a file under `dir`.
pub fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// Run a reference tool; panic with its output unless it succeeds; return stdout + stderr.
pub fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A live ISO a test built.
pub struct Built {
    /// The ISO.
    pub iso: PathBuf,
    /// Packages in the build's transaction (its `--json` report).
    pub packages: usize,
    /// The test's work directory (tmpdir, cache, results, serial logs).
    pub work: PathBuf,
}

/// `kiln build --make-iso --json` of fixture kickstart `ks` with volume label `label` into a
/// fresh `work` (its tmpdir, cache and resultdir), plus `extra` flags; panics when the build
/// fails. zstd's fast level: these builds test layout and boot, not ratio, and level 15
/// (mksquashfs' default) costs minutes of the CI budget per build. Returns the build's JSON
/// report and its stderr too.
pub fn build_live(
    ks: &Path,
    label: &str,
    work: &Path,
    extra: &[&str],
) -> (Built, serde_json::Value, String) {
    build_live_env(ks, label, work, extra, &[])
}

/// [`build_live`] with `env` set for kiln (on top of the test's own environment).
pub fn build_live_env(
    ks: &Path,
    label: &str,
    work: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Built, serde_json::Value, String) {
    build_live_as(ks, label, work, extra, env, None)
}

/// [`build_live_env`] run by the ordinary user `user` ([`rootless_user`]) when given: a
/// rootless kiln, `work` the user's, the block store under it.
pub fn build_live_as(
    ks: &Path,
    label: &str,
    work: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
    user: Option<(u32, u32)>,
) -> (Built, serde_json::Value, String) {
    let mut cmd = match user {
        Some(ids) => {
            own_dir(work, ids);
            let mut c = as_user(ids, &kiln());
            c.env("KILN_CACHE", work.join("blocks"));
            c
        }
        None => {
            let _ = std::fs::remove_dir_all(work);
            std::fs::create_dir_all(work).unwrap();
            std::process::Command::new(kiln())
        }
    };
    let out = cmd
        .args(["build", "--make-iso", "--json", "-f", label])
        .args(["--compression", "zstd", "--compress-arg", "level=3", "--ks"])
        .arg(ks)
        .arg("--resultdir")
        .arg(work.join("out"))
        .arg("--tmpdir")
        .arg(work)
        .arg("--cache")
        .arg(work.join("cache"))
        .args(extra)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "kiln build failed:\n{stderr}");
    eprintln!("{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = report["packages"].as_array().unwrap().len();
    let iso = work.join(format!("out/{label}.iso"));
    assert!(iso.is_file(), "no ISO at {}", iso.display());
    // Nothing of the work directory is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(work)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("kiln-build"))
        .collect();
    assert!(leftovers.is_empty(), "work dirs left: {leftovers:?}");
    let built = Built {
        iso,
        packages,
        work: work.to_owned(),
    };
    (built, report, stderr)
}

/// The `SOURCE_DATE_EPOCH` of the shared live-x86_64 build ([`live_x86_64_shared`]).
pub const LIVE_EPOCH: &str = "1700000000";

/// The plain live-x86_64 fixture ISO (label `KILN-LIVE`, no extra options, `SOURCE_DATE_EPOCH`
/// [`LIVE_EPOCH`]) that build_iso boots and checks and build_repro compares with its own
/// second build: built once for both test binaries ([`build_live_shared`]). Its work directory
/// is shared: a test may add files there (serial logs) but must not change or remove the ISO.
pub fn live_x86_64_shared(fx: &Path) -> (Built, serde_json::Value, String) {
    build_live_shared(
        "live-x86_64",
        &fx.join("ks/live-x86_64.ks"),
        "KILN-LIVE",
        &[],
        &[("SOURCE_DATE_EPOCH", LIVE_EPOCH)],
    )
}

/// Environment variables that change what `kiln build` makes (the rest only change where or
/// how loudly it works); part of a shared build's key.
const BUILD_ENV: [&str; 3] = ["SOURCE_DATE_EPOCH", "KILN_PRECOMPRESS", "KILN_HELPER"];

/// [`build_live`] made once for every test binary (and rerun) that asks for the same inputs.
/// The key hashes the kiln binary, every file beside the kickstart (the fixture kickstarts
/// `%include` each other), each fixture repository's repomd.xml (it names the checksum of
/// every package list), the label, the options and the environment in [`BUILD_ENV`]. Under
/// `CARGO_TARGET_TMPDIR/shared-builds/`: `NAME.lock` serialises the binaries asking for NAME;
/// a build happens in `NAME-KEY.partial` and is renamed to `NAME-KEY` only once complete, with
/// its report, stderr and the ISO's size, so an interrupted build is never taken for one.
/// Older keys of NAME are removed (one image per NAME on disk).
pub fn build_live_shared(
    name: &str,
    ks: &Path,
    label: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Built, serde_json::Value, String) {
    use fs4::fs_std::FileExt;
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("shared-builds");
    std::fs::create_dir_all(&root).unwrap();
    let key = shared_build_key(ks, label, extra, env);
    let entry = root.join(format!("{name}-{key}"));
    let lock = std::fs::File::create(root.join(format!("{name}.lock"))).unwrap();
    // Held until the function returns: another binary asking for NAME waits, then reuses.
    lock.lock_exclusive().unwrap();
    if let Some(found) = read_shared(&entry, label) {
        eprintln!(
            "{name}: the shared build {} (built earlier)",
            entry.display()
        );
        return found;
    }
    for old in std::fs::read_dir(&root).unwrap().flatten() {
        let file_name = old.file_name().to_string_lossy().into_owned();
        let old_key = file_name
            .strip_prefix(&format!("{name}-"))
            .map(|k| k.strip_suffix(".partial").unwrap_or(k));
        if old_key.is_some_and(|k| k.len() == 16 && k.bytes().all(|b| b.is_ascii_hexdigit())) {
            let _ = std::fs::remove_dir_all(old.path());
        }
    }
    let partial = root.join(format!("{name}-{key}.partial"));
    let (built, report, stderr) = build_live_env(ks, label, &partial, extra, env);
    // The package cache served this build only.
    let _ = std::fs::remove_dir_all(partial.join("cache"));
    write(&partial, "report.json", &report.to_string());
    write(&partial, "stderr.txt", &stderr);
    let iso_size = std::fs::metadata(&built.iso).unwrap().len();
    // Written last: its presence says the rest is there.
    write(&partial, "complete", &format!("{iso_size}\n"));
    std::fs::rename(&partial, &entry).unwrap();
    read_shared(&entry, label).expect("the shared build just made does not read back")
}

/// A complete shared build at `entry`: its `complete` record is there and the ISO has the size
/// it recorded.
fn read_shared(entry: &Path, label: &str) -> Option<(Built, serde_json::Value, String)> {
    let iso_size: u64 = std::fs::read_to_string(entry.join("complete"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let iso = entry.join(format!("out/{label}.iso"));
    if std::fs::metadata(&iso).ok()?.len() != iso_size {
        return None;
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(entry.join("report.json")).ok()?).ok()?;
    let stderr = std::fs::read_to_string(entry.join("stderr.txt")).ok()?;
    let packages = report["packages"].as_array()?.len();
    let built = Built {
        iso,
        packages,
        work: entry.to_owned(),
    };
    Some((built, report, stderr))
}

/// The hex key of a shared build's inputs (see [`build_live_shared`]), 16 digits.
fn shared_build_key(ks: &Path, label: &str, extra: &[&str], env: &[(&str, &str)]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    // Streamed: the debug binary is a few hundred MB.
    hash.update(b"kiln");
    std::io::copy(&mut std::fs::File::open(kiln()).unwrap(), &mut hash).unwrap();
    let mut field = |tag: &str, bytes: &[u8]| {
        hash.update(tag.as_bytes());
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    let ks_dir = ks.parent().unwrap();
    field("ks", ks.file_name().unwrap().as_encoded_bytes());
    let mut beside: Vec<PathBuf> = std::fs::read_dir(ks_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    beside.sort();
    for p in &beside {
        field("ks-dir file", p.file_name().unwrap().as_encoded_bytes());
        field("ks-dir text", &std::fs::read(p).unwrap());
    }
    // The fixture root: the directory holding ks/ and one directory per repository.
    if let Some(fixture_root) = ks_dir.parent() {
        let mut repos: Vec<PathBuf> = std::fs::read_dir(fixture_root)
            .unwrap()
            .flatten()
            .map(|e| e.path().join("repodata/repomd.xml"))
            .filter(|p| p.is_file())
            .collect();
        repos.sort();
        for p in &repos {
            field("repo", p.as_os_str().as_encoded_bytes());
            field("repomd", &std::fs::read(p).unwrap());
        }
    }
    field("label", label.as_bytes());
    for a in extra {
        field("option", a.as_bytes());
    }
    for var in BUILD_ENV {
        let value = env
            .iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| v.to_string())
            .or_else(|| std::env::var(var).ok());
        field(var, value.unwrap_or_default().as_bytes());
    }
    let digest = hash.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The fixture kickstarts' `%post` writes /etc/kiln-fixture: its line in the squashfs image
/// `sq` (read by `unsquashfs -cat`) proves `%post` ran in the root.
pub fn assert_post_marker(sq: &Path) {
    let marker = run_ok(
        std::process::Command::new("unsquashfs")
            .arg("-cat")
            .arg(sq)
            .arg("etc/kiln-fixture"),
    );
    assert!(
        marker.contains("kiln fixture live image built"),
        "%post marker: {marker}"
    );
}

/// `kiln boot-test` (TCG) of a fixture image `target` attached `--as attach` with `firmware`,
/// the serial console into `log`: it must print the fixture's `KILN-BOOT-OK`, an rpm count equal
/// to the build's `packages`, and the `%post` marker. `what` names it in messages.
pub fn boot_fixture(
    what: &str,
    target: &Path,
    firmware: &str,
    attach: &str,
    timeout_secs: u32,
    log: &Path,
    packages: usize,
) {
    boot_fixture_with(
        None,
        what,
        target,
        firmware,
        attach,
        timeout_secs,
        log,
        packages,
        &[],
    );
}

/// [`boot_fixture`] with more `kiln boot-test` options (`extra`), run by the ordinary user
/// `user` ([`rootless_user`]) when given (`kiln boot-test` needs no privilege; `log` must then
/// be where the user may write); returns boot-test's stderr.
#[allow(clippy::too_many_arguments)]
pub fn boot_fixture_with(
    user: Option<(u32, u32)>,
    what: &str,
    target: &Path,
    firmware: &str,
    attach: &str,
    timeout_secs: u32,
    log: &Path,
    packages: usize,
    extra: &[&str],
) -> String {
    let _ = std::fs::remove_file(log);
    let mut cmd = match user {
        Some(ids) => as_user(ids, &kiln()),
        None => std::process::Command::new(kiln()),
    };
    let out = cmd
        .args(["boot-test", "--accel", "tcg", "--timeout"])
        .arg(timeout_secs.to_string())
        .args(["--firmware", firmware, "--as", attach])
        .args(extra)
        // Only the fixture's marker, at the start of a line: the default also accepts a login
        // prompt, which can come first, and systemd's "Starting kiln-boot-ok.service - Print
        // KILN-BOOT-OK ..." line names the marker before the service has run. getty's prompt
        // may take the start of the marker's line ("kiln-fixture login: KILN-BOOT-OK").
        .args(["--expect", "(^|login: )KILN-BOOT-OK"])
        .arg("--serial-log")
        .arg(log)
        .arg(target)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "boot {what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Firmware writes bytes that are not UTF-8 (box drawing in its code page).
    let serial = String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned();
    // The fixture prints `KILN-RPM-COUNT n`; boot-test also prints the line after the marker
    // (the bare count) on stdout, which survives a console cut short by a slow guest.
    let count = serial
        .lines()
        .find_map(|l| l.split("KILN-RPM-COUNT ").nth(1))
        .or_else(|| stdout.lines().nth(1))
        .and_then(|n| n.trim().parse::<usize>().ok());
    assert_eq!(
        count,
        Some(packages),
        "{what}: the booted system's rpm -qa count differs from the build's transaction\n{stdout}"
    );
    // The kickstart's %post ran in the root: the boot check prints the file it wrote.
    assert!(
        serial.contains("KILN-POST kiln fixture live image built"),
        "{what}: no %post marker on the serial console"
    );
    eprintln!("{what}: KILN-BOOT-OK, {packages} packages");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Where rpm's map `a` and kiln's `b` differ, rpm's keys first (in order), then those only in
/// kiln's: (key, rpm's value, kiln's value), `None` where that map lacks the key.
pub fn differing<'a, V: PartialEq>(
    a: &'a std::collections::BTreeMap<String, V>,
    b: &'a std::collections::BTreeMap<String, V>,
) -> Vec<(&'a str, Option<&'a V>, Option<&'a V>)> {
    let mut out = Vec::new();
    for (k, x) in a {
        match b.get(k) {
            None => out.push((k.as_str(), Some(x), None)),
            Some(y) if y != x => out.push((k.as_str(), Some(x), Some(y))),
            _ => {}
        }
    }
    for (k, y) in b {
        if !a.contains_key(k) {
            out.push((k.as_str(), None, Some(y)));
        }
    }
    out
}

/// Python's `http.server` on 127.0.0.1 (a real HTTP server, not kiln's), serving `dir` on a
/// port of its choosing; killed on drop.
pub struct HttpServer {
    child: std::process::Child,
    /// Its port.
    pub port: u16,
}

impl HttpServer {
    /// Start it (python3 must be there).
    pub fn start(dir: &Path) -> HttpServer {
        use std::io::BufRead;
        let mut child = std::process::Command::new("python3")
            .args([
                "-u",
                "-m",
                "http.server",
                "0",
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .split(" port ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in `{line}`"));
        HttpServer { child, port }
    }

    /// The URL of `rel` beneath the served directory.
    pub fn url(&self, rel: &str) -> String {
        format!("http://127.0.0.1:{}/{rel}", self.port)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// At most two qemu guests at once (TCG runs a guest on one core): more on two cores would only
/// time out together, fewer leaves a core idle while the other boots.
static BOOT_SLOTS: (std::sync::Mutex<usize>, std::sync::Condvar) =
    (std::sync::Mutex::new(2), std::sync::Condvar::new());

pub struct BootSlot;
impl BootSlot {
    pub fn take() -> BootSlot {
        let (m, cv) = &BOOT_SLOTS;
        let mut free = m.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = cv.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        BootSlot
    }
}
impl Drop for BootSlot {
    fn drop(&mut self) {
        let (m, cv) = &BOOT_SLOTS;
        *m.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        cv.notify_one();
    }
}

/// Skip (or fail under CI) when a requirement is missing: true when it is there.
pub fn require(ok: bool, what: &str) -> bool {
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("cannot run under CI: {what}");
        }
        eprintln!("skipped: {what}");
    }
    ok
}

/// Whether the tests run as root (loop mounts, device nodes, chown).
pub fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Whether `tool` is on PATH.
pub fn have(tool: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `files` files `f0.txt`, `f1.txt`, ... of `bytes` bytes each under `dir`: compressible but
/// varied text (a xorshift walk over 14 letters, running on from file to file), so codecs need
/// real time for it and no two blocks are alike; the same seed gives the same files.
pub fn write_text_files(dir: &Path, seed: u64, files: usize, bytes: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut x = seed;
    for i in 0..files {
        let text: Vec<u8> = (0..bytes)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b"abcdefgh ijkl\n"[(x % 14) as usize]
            })
            .collect();
        std::fs::write(dir.join(format!("f{i}.txt")), text).unwrap();
    }
}

/// The binfmt_misc entries kiln registered itself (`kiln-*`): a foreign-arch build must leave
/// none behind.
pub fn kiln_binfmt_entries() -> std::collections::BTreeSet<String> {
    std::fs::read_dir("/proc/sys/fs/binfmt_misc")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("kiln-"))
                .collect()
        })
        .unwrap_or_default()
}

/// kiln's binfmt_misc entries whose kiln is gone: each is `kiln-qemu-<arch>-<pid>`, removed by
/// the kiln that made it, so one whose pid is dead was left behind. Live ones belong to builds
/// running beside the caller (koji_argv's aarch64 builds, other arches' tests).
pub fn kiln_binfmt_leftovers() -> std::collections::BTreeSet<String> {
    kiln_binfmt_entries()
        .into_iter()
        .filter(|e| {
            let pid = e.rsplit('-').next().unwrap_or("");
            pid.is_empty()
                || !pid.bytes().all(|b| b.is_ascii_digit())
                || !std::path::Path::new("/proc").join(pid).exists()
        })
        .collect()
}

/// One `kiln build --make-iso --arch ARCH` of the fixture's `ks/live-ARCH.ks` on this host,
/// target code through qemu-user, in `CARGO_TARGET_TMPDIR/build-ARCH`. `None` (a panic under
/// `CI=true`) without the fixture or the emulator. Checks what every cross-arch build must
/// leave: no binfmt entry of a finished kiln, no mount or loop device naming the work
/// directory (CPU-light tests beside it may hold their own), and a report and summary that say
/// target code ran emulated.
pub fn build_foreign(arch: &str, label: &str) -> Option<Built> {
    build_foreign_as(arch, label, false)
}

/// An enabled binfmt_misc registration with the F flag for qemu-`arch` (an administrator's,
/// e.g. `update-binfmts --enable qemu-aarch64`): what a rootless cross-arch build needs.
pub fn admin_binfmt(arch: &str) -> Option<String> {
    std::fs::read_dir("/proc/sys/fs/binfmt_misc")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("kiln-") && n.contains(arch))
        .find(|n| {
            let text = std::fs::read_to_string(format!("/proc/sys/fs/binfmt_misc/{n}"))
                .unwrap_or_default();
            text.lines().next() == Some("enabled")
                && text
                    .lines()
                    .any(|l| l.starts_with("flags:") && l.contains('F'))
        })
}

/// [`build_foreign`], run by the ordinary user of [`rootless_user`] when `rootless` (and the
/// tests run as root): it needs an administrator's F registration ([`admin_binfmt`]).
pub fn build_foreign_as(arch: &str, label: &str, rootless: bool) -> Option<Built> {
    use std::collections::BTreeSet;
    use std::process::Command;
    let skip = |why: String| {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("SKIP: {why}");
        None
    };
    let fx = fixtures()?;
    let ks = fx.join(format!("ks/live-{arch}.ks"));
    if !ks.is_file() {
        return skip(format!(
            "{} missing (fixtures/build-repos builds it)",
            ks.display()
        ));
    }
    let emulator = Path::new(&format!("/usr/bin/qemu-{arch}-static")).is_file()
        || std::fs::read_dir("/proc/sys/fs/binfmt_misc")
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.file_name().to_string_lossy() == format!("qemu-{arch}"))
            })
            .unwrap_or(false);
    if !emulator {
        return skip(format!(
            "qemu-{arch}-static missing (apt-get install qemu-user-static)"
        ));
    }
    let lines = |cmd: &mut Command| -> BTreeSet<String> {
        run_ok(cmd).lines().map(str::to_string).collect()
    };
    let mounts = || lines(Command::new("findmnt").args(["-rn", "-o", "TARGET,SOURCE,FSTYPE"]));
    let loops = || lines(Command::new("losetup").arg("-a"));
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("build-{arch}"));
    let (mounts_before, loops_before) = (mounts(), loops());
    let t0 = std::time::Instant::now();
    let reg = admin_binfmt(arch);
    let why = format!(
        "a rootless {arch} build needs a binfmt registration with the F flag: register it \
         once as root (update-binfmts --enable qemu-{arch}{})",
        if arch == "aarch64" {
            "; scripts/setup-debian.sh does"
        } else {
            ""
        }
    );
    // The whole suite run by an ordinary user: kiln refuses (and says what to install) without
    // an administrator's registration for this arch, so the test has nothing to check.
    if !is_root() && reg.is_none() {
        return skip(why);
    }
    let user = match (rootless && is_root(), &reg) {
        (true, Some(reg)) => {
            eprintln!("{arch}: built by the ordinary user {ROOTLESS_USER} through binfmt `{reg}`");
            Some(rootless_user())
        }
        (true, None) => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
            eprintln!("{arch}: built as root: {why}");
            None
        }
        (false, _) => None,
    };
    let (built, report, stderr) = build_live_as(&ks, label, &work, &["--arch", arch], &[], user);
    eprintln!(
        "{arch} build: {:.1} s wall, {:.1} s of target code under emulation, {} packages",
        t0.elapsed().as_secs_f64(),
        report["target_code_secs"].as_f64().unwrap_or(-1.0),
        built.packages
    );
    assert_eq!(
        kiln_binfmt_leftovers(),
        BTreeSet::<String>::new(),
        "binfmt entries left"
    );
    let work_str = work.to_string_lossy().into_owned();
    let left = |now: BTreeSet<String>, before: &BTreeSet<String>| -> Vec<String> {
        now.difference(before)
            .filter(|m| m.contains(&work_str))
            .cloned()
            .collect()
    };
    let new_mounts = left(mounts(), &mounts_before);
    assert!(new_mounts.is_empty(), "mounts left: {new_mounts:?}");
    let new_loops = left(loops(), &loops_before);
    assert!(new_loops.is_empty(), "loop devices left: {new_loops:?}");
    assert!(
        report["emulation"].as_str().is_some(),
        "{}",
        report["emulation"]
    );
    assert!(report["target_code_secs"].as_f64().unwrap() > 0.0);
    assert!(
        stderr.contains("under emulation:"),
        "no emulated time in the summary"
    );
    Some(built)
}

/// The layout every UEFI-only foreign ISO shares (aarch64's and riscv64's), checked with
/// xorriso, sgdisk, checkisomd5 and isoinfo: one El Torito entry, for UEFI; a protective MBR
/// and a GPT that sgdisk finds sound; an implanted checksum; the live files and
/// `EFI/BOOT/<efi_file>`, and no BIOS image.
pub fn assert_uefi_only_gpt_hybrid(iso: &Path, efi_file: &str, arch: &str) {
    use std::process::Command;
    let rep = run_ok(Command::new("xorriso").args(["-indev"]).arg(iso).args([
        "-report_el_torito",
        "plain",
        "-report_system_area",
        "plain",
    ]));
    let entries: Vec<&str> = rep
        .lines()
        .filter(|l| l.starts_with("El Torito boot img :"))
        .collect();
    assert_eq!(entries.len(), 1, "{rep}");
    assert!(entries[0].contains("UEFI"), "{rep}");
    let summary = rep
        .lines()
        .find(|l| l.starts_with("System area summary:"))
        .unwrap_or_default();
    assert!(
        summary.contains("MBR protective-msdos-label") && summary.ends_with("GPT"),
        "{rep}"
    );
    let v = run_ok(Command::new("sgdisk").arg("-v").arg(iso));
    assert!(v.contains("No problems found"), "sgdisk -v: {v}");
    run_ok(Command::new("checkisomd5").arg("--verbose").arg(iso));
    let listing = run_ok(Command::new("isoinfo").args(["-R", "-f", "-i"]).arg(iso));
    let efi = format!("/EFI/BOOT/{efi_file}");
    for p in [
        "/LiveOS/squashfs.img",
        "/images/pxeboot/vmlinuz",
        "/images/pxeboot/initrd.img",
        "/images/efiboot.img",
        efi.as_str(),
        "/EFI/BOOT/grub.cfg",
    ] {
        assert!(listing.lines().any(|l| l == p), "{p} missing:\n{listing}");
    }
    assert!(
        !listing.contains("/images/eltorito.img"),
        "BIOS image on {arch}"
    );
}

/// The unprivileged user of the rootless tests (created once per host, kept for later runs).
pub const ROOTLESS_USER: &str = "kiln-rootless";

/// Create [`ROOTLESS_USER`] (no sudo rights, subordinate ids 300000-365535 for a user
/// namespace) unless it exists; returns its uid and gid. Needs root.
pub fn rootless_user() -> (u32, u32) {
    use std::process::Command;
    static MADE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = MADE.lock().unwrap_or_else(|e| e.into_inner());
    let exists = |u: &str| {
        Command::new("id")
            .arg("-u")
            .arg(u)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !exists(ROOTLESS_USER) {
        let out = Command::new("useradd")
            .args(["--create-home", "--shell", "/bin/sh", ROOTLESS_USER])
            .output()
            .unwrap();
        // Another test binary may have made it meanwhile.
        assert!(
            out.status.success() || exists(ROOTLESS_USER),
            "useradd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for (file, flag) in [
        ("/etc/subuid", "--add-subuids"),
        ("/etc/subgid", "--add-subgids"),
    ] {
        let listed = std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with(&format!("{ROOTLESS_USER}:")));
        if !listed {
            run_ok(Command::new("usermod").args([flag, "300000-365535", ROOTLESS_USER]));
        }
    }
    let id = |flag: &str| -> u32 {
        run_ok(Command::new("id").arg(flag).arg(ROOTLESS_USER))
            .trim()
            .parse()
            .unwrap()
    };
    (id("-u"), id("-g"))
}

/// A fresh directory `dir` (its parents made as root), owned by `ids`.
pub fn own_dir(dir: &Path, ids: (u32, u32)) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    std::os::unix::fs::chown(dir, Some(ids.0), Some(ids.1)).unwrap();
}

/// `prog` run as the user `ids` ([`rootless_user`]) with no supplementary groups and its own
/// HOME, through util-linux's `setpriv` (no sudo, no setuid helper).
pub fn as_user(ids: (u32, u32), prog: &Path) -> std::process::Command {
    let mut c = std::process::Command::new("setpriv");
    c.args(["--reuid", &ids.0.to_string(), "--regid", &ids.1.to_string()])
        .args(["--clear-groups", "--"])
        .arg(prog)
        .env("HOME", format!("/home/{ROOTLESS_USER}"))
        // Debian's PATH for an ordinary user (/etc/profile): no sbin directories.
        .env(
            "PATH",
            "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games",
        )
        .env("USER", ROOTLESS_USER)
        .env("LOGNAME", ROOTLESS_USER);
    c
}

/// `kiln boot-test` of a foreign arch's fixture `iso` (TCG) with `boot_args` (`--arch A`,
/// firmware) until `expect` on the serial console (logged to `log`): it must succeed, and the
/// fixture's `KILN-RPM-COUNT n` line must name the build's `packages` (the count line, not the
/// marker or a login prompt: the service runs `rpm -qa` before it prints, and getty's prompt
/// comes first under TCG). Prints the boot time under `what`; returns the serial log for the
/// caller's own checks.
pub fn boot_foreign_to_count(
    what: &str,
    boot_args: &[&str],
    expect: &str,
    iso: &Path,
    log: &Path,
    packages: usize,
) -> String {
    let t0 = std::time::Instant::now();
    let out = std::process::Command::new(kiln())
        .arg("boot-test")
        .args(boot_args)
        .args(["--accel", "tcg", "--timeout", "1800", "--expect", expect])
        .arg("--serial-log")
        .arg(log)
        .arg(iso)
        .output()
        .unwrap();
    // Firmware may write bytes that are not UTF-8.
    let serial = String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned();
    let tail: Vec<&str> = serial.lines().rev().take(40).collect();
    assert!(
        out.status.success(),
        "{what} failed:\n{}\nserial tail:\n{}",
        String::from_utf8_lossy(&out.stderr),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    eprintln!("{what}: {:.1} s", t0.elapsed().as_secs_f64());
    let count = serial
        .lines()
        .find_map(|l| l.split("KILN-RPM-COUNT ").nth(1))
        .and_then(|n| n.trim().parse::<usize>().ok());
    assert_eq!(
        count,
        Some(packages),
        "{what}: the booted system's rpm -qa count differs from the build's transaction"
    );
    serial
}

/// What every foreign arch's root image `sq` must be, read by unsquashfs: its bash an ELF of
/// `arch` (`little_endian`, ELF machine `machine`), no qemu-`arch` emulator left in it, and the
/// kickstart's `%post` marker ([`assert_post_marker`]).
pub fn assert_foreign_root(sq: &Path, arch: &str, little_endian: bool, machine: u16) {
    let sh = std::process::Command::new("unsquashfs")
        .arg("-cat")
        .arg(sq)
        .arg("usr/bin/bash")
        .output()
        .unwrap()
        .stdout;
    assert_eq!(&sh[..4], b"\x7fELF", "bash is not an ELF");
    assert_eq!(
        sh[5],
        if little_endian { 1 } else { 2 },
        "bash is not {} ELF",
        if little_endian {
            "little-endian"
        } else {
            "big-endian"
        }
    );
    let e_machine = if little_endian {
        u16::from_le_bytes([sh[18], sh[19]])
    } else {
        u16::from_be_bytes([sh[18], sh[19]])
    };
    assert_eq!(e_machine, machine, "bash is not {arch}");
    let ls = run_ok(std::process::Command::new("unsquashfs").arg("-l").arg(sq));
    assert!(
        !ls.contains(&format!("qemu-{arch}")),
        "an emulator was left in the root"
    );
    assert_post_marker(sq);
}
