//! The scriptlet sandbox, `--script-timeout` and scriptlet output, through the real `kiln`
//! binary and real rpmbuild-built packages (needs root, rpmbuild and a C compiler).
//!
//! The escape attempts are made by a small static C program shipped in a package and run by
//! its `%post` (and by a chroot `%post` of a kickstart): each attempt prints what the kernel
//! answered, so the test sees that the attempt was made and failed for the sandbox's reason
//! (EPERM from the filter where the unsandboxed call would have given ENOSYS, ENOTTY or
//! ENOENT), and then checks the host itself: a canary directory, the hostname, /proc/sys
//! values, the mount table, a host process. Everything it could touch on a broken sandbox is
//! harmless or restored: the canary is a temp dir, the core_pattern it writes is a plain file
//! name, the host values are saved and put back, the process it signals is its own `sleep`.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kiln::configure::{self, ConfigureError, ConfigureOptions};
use kiln::install::scriptlet::{ScriptRunner, ScriptSpec};
use kiln::kickstart::parse_str;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Root, rpmbuild, cc and the fixture repositories; else SKIP (a failure under CI).
fn ready() -> Option<PathBuf> {
    if !is_root() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the sandbox tests need root under CI"
        );
        eprintln!("SKIP: not root");
        return None;
    }
    if !common::have_tool("/usr/bin/rpmbuild") || !common::have_tool("/usr/bin/cc") {
        return None;
    }
    common::fixtures()
}

/// busybox (its /bin/sh runs the scriptlets) and the base directories.
fn base_rpms(fixtures: &Path) -> Vec<PathBuf> {
    let p = fixtures.join("synthetic/Packages");
    vec![
        p.join(format!(
            "busybox-1.35.0-1.kt.{}.rpm",
            std::env::consts::ARCH
        )),
        p.join("kt-filesystem-1.0-1.noarch.rpm"),
    ]
}

/// The escape attempts. Arguments: the host canary directory, the host root disk's major and
/// minor, the pid of a host process. Prints `attempt: OK` or `attempt: ERRNO-NAME`.
const ESCAPE_C: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>

static const char *ename(int e) {
    switch (e) {
    case EPERM: return "EPERM"; case ENOENT: return "ENOENT"; case EROFS: return "EROFS";
    case ESRCH: return "ESRCH"; case ENOSYS: return "ENOSYS"; case EACCES: return "EACCES";
    case ENOTTY: return "ENOTTY"; case EINVAL: return "EINVAL"; case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST"; case ENODEV: return "ENODEV"; case ENOTDIR: return "ENOTDIR";
    case EBADF: return "EBADF"; case ENXIO: return "ENXIO"; case ESTALE: return "ESTALE";
    default: return "E?";
    }
}

static void report(const char *what, long rc) {
    printf("%s: %s\n", what, rc < 0 ? ename(errno) : "OK");
    fflush(stdout);
}

static void write_file(const char *what, const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    report(what, fd);
    if (fd >= 0) {
        ssize_t n = write(fd, text, strlen(text));
        printf("%s-written: %s\n", what, n < 0 ? ename(errno) : "OK");
        close(fd);
    }
}

int main(int argc, char **argv) {
    if (argc != 5) return 2;
    const char *canary = argv[1];
    unsigned maj = atoi(argv[2]), min = atoi(argv[3]);
    pid_t host_pid = atoi(argv[4]);
    char path[4096];
    struct stat st;

    /* /proc/1/root: in the sandbox the namespace's own init, rooted in the root. */
    snprintf(path, sizeof path, "/proc/1/root%s/procroot", canary);
    write_file("procroot-write", path, "escaped\n");

    /* /proc/sys is read-only. */
    write_file("sysctl-hostname", "/proc/sys/kernel/hostname", "kt-evil-sysctl");
    write_file("sysctl-core-pattern", "/proc/sys/kernel/core_pattern", "kt-core-%p");

    /* Its own UTS namespace: allowed, and invisible outside. */
    report("sethostname", sethostname("kt-evil-uts", 11));

    /* Host disks: no block nodes, no odd character nodes, no mounts. */
    report("mknod-block", mknod("/kt-disk", S_IFBLK | 0600, makedev(maj, min)));
    report("mknod-char-sg", mknod("/kt-sg", S_IFCHR | 0600, makedev(21, 0)));
    report("mknod-char-null", mknod("/kt-null", S_IFCHR | 0666, makedev(1, 3)));
    mkdir("/kt-mnt", 0755);
    report("mount-disk", mount("/kt-disk", "/kt-mnt", "ext4", MS_RDONLY, NULL));
    report("mount-devtmpfs", mount("devtmpfs", "/kt-mnt", "devtmpfs", 0, NULL));
    report("mount-proc", mount("proc", "/kt-mnt", "proc", 0, NULL));
    report("remount-proc-sys", mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND, NULL));
    report("umount-proc-sys", umount2("/proc/sys", MNT_DETACH));
    report("swapon", swapon("/kt-no-swap", 0));

    /* Modules: this kernel may have none (ENOSYS); the filter answers first. */
    report("init_module", syscall(SYS_init_module, NULL, 0, ""));
    int bin = open("/bin/busybox", O_RDONLY);
    report("finit_module", syscall(SYS_finit_module, bin, "", 0));
    report("delete_module", syscall(SYS_delete_module, "kt_nope", O_NONBLOCK));

    /* The clock (set to what it is: harmless if it went through). */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    report("clock_settime", clock_settime(CLOCK_REALTIME, &ts));

    /* A host process. */
    report("kill-host-pid", kill(host_pid, SIGKILL));

    /* File handles open any file of the file system the root is on. */
    struct file_handle *fh = malloc(sizeof *fh + 128);
    fh->handle_bytes = 128;
    int mount_id;
    report("name_to_handle_at", name_to_handle_at(AT_FDCWD, "/", fh, &mount_id, 0));
    int rootfd = open("/", O_RDONLY | O_DIRECTORY);
    report("open_by_handle_at", open_by_handle_at(rootfd, fh, O_RDONLY));

    /* Pushing input into a terminal (stdin is not one: ENOTTY without the filter). */
    report("tiocsti", ioctl(0, TIOCSTI, "x"));

    /* Last, as it changes this process's root: the classic chroot + ".." climb. */
    mkdir("/kt-climb", 0755);
    report("climb-chroot", chroot("/kt-climb"));
    for (int i = 0; i < 64; i++) chdir("..");
    report("climb-chroot-dot", chroot("."));
    if (stat("/", &st) == 0) printf("climb-root-inode: %lu\n", (unsigned long)st.st_ino);
    snprintf(path, sizeof path, "%s/climb", canary);
    write_file("climb-write", path, "escaped\n");
    return 0;
}
"#;

/// What the escape program is expected to print (`OK` or the errno name).
const EXPECTED: &[(&str, &str)] = &[
    ("procroot-write", "ENOENT"),
    ("sysctl-hostname", "EROFS"),
    ("sysctl-core-pattern", "EROFS"),
    ("sethostname", "OK"),
    ("mknod-block", "EPERM"),
    ("mknod-char-sg", "EPERM"),
    ("mknod-char-null", "OK"),
    ("mount-disk", "EPERM"),
    ("mount-devtmpfs", "EPERM"),
    ("mount-proc", "EPERM"),
    ("remount-proc-sys", "EPERM"),
    ("umount-proc-sys", "EPERM"),
    ("swapon", "EPERM"),
    ("init_module", "EPERM"),
    ("finit_module", "EPERM"),
    ("delete_module", "EPERM"),
    ("clock_settime", "EPERM"),
    ("kill-host-pid", "ESRCH"),
    ("name_to_handle_at", "OK"),
    ("open_by_handle_at", "EPERM"),
    ("tiocsti", "EPERM"),
    ("climb-chroot", "OK"),
    ("climb-chroot-dot", "OK"),
    ("climb-write", "ENOENT"),
];

fn compile_escape(dir: &Path) -> PathBuf {
    let src = dir.join("kt-escape.c");
    std::fs::write(&src, ESCAPE_C).unwrap();
    let bin = dir.join("kt-escape");
    common::run_ok(
        Command::new("cc")
            .args(["-static", "-O1", "-o"])
            .arg(&bin)
            .arg(&src),
    );
    bin
}

/// A package `name-1.0-1.<host arch>` built by rpmbuild in `dir`: a few files under
/// /opt/NAME, `bins` installed into /usr/bin, and the given scriptlets (`("post", body)`).
fn build_rpm(dir: &Path, name: &str, bins: &[&Path], scripts: &[(&str, &str)]) -> PathBuf {
    let mut spec = format!(
        "Name: {name}\nVersion: 1.0\nRelease: 1\nSummary: sandbox test\nLicense: MIT\n\
         AutoReqProv: no\n%global debug_package %{{nil}}\n%global __os_install_post %{{nil}}\n\
         %global _build_id_links none\n%description\nsandbox test\n%install\n\
         mkdir -p %{{buildroot}}/opt/{name} %{{buildroot}}/usr/bin\n\
         echo data > %{{buildroot}}/opt/{name}/owned\n\
         echo data > %{{buildroot}}/opt/{name}/suid\n"
    );
    for b in bins {
        spec.push_str(&format!(
            "install -m 0755 {} %{{buildroot}}/usr/bin/\n",
            b.display()
        ));
    }
    spec.push_str(&format!("%files\n/opt/{name}\n"));
    for b in bins {
        spec.push_str(&format!(
            "/usr/bin/{}\n",
            b.file_name().unwrap().to_string_lossy()
        ));
    }
    for (tag, body) in scripts {
        spec.push_str(&format!("%{tag}\n{body}\n"));
    }
    let specfile = dir.join(format!("{name}.spec"));
    std::fs::write(&specfile, spec).unwrap();
    let top = dir.join("rpmbuild");
    common::run_ok(
        Command::new("rpmbuild")
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .args(["--define", "_binary_payload w9.gzdio", "--quiet", "-bb"])
            .arg(&specfile),
    );
    let arch_dir = top.join("RPMS").join(std::env::consts::ARCH);
    let rpm = arch_dir.join(format!("{name}-1.0-1.{}.rpm", std::env::consts::ARCH));
    assert!(rpm.is_file(), "rpmbuild made no {}", rpm.display());
    rpm
}

/// `kiln install-rpms` with a watchdog: a kiln that hangs is killed and the test fails
/// (a hang detector, not a speed check).
fn kiln_install(root: &Path, rpms: &[PathBuf], extra: &[&str]) -> (i32, String, Duration) {
    let t0 = Instant::now();
    let mut child = Command::new(common::kiln())
        .arg("install-rpms")
        .arg("--root")
        .arg(root)
        .args(extra)
        .args(rpms)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let err = reader.join().unwrap();
            return (st.code().unwrap_or(-1), err, t0.elapsed());
        }
        if t0.elapsed() > Duration::from_secs(600) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kiln install-rpms hung: {}", reader.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The host's root device as (major, minor): the disk a scriptlet would go for.
fn host_root_device() -> (u32, u32) {
    let dev = std::fs::metadata("/").unwrap().dev();
    (rustix::fs::major(dev), rustix::fs::minor(dev))
}

/// Host state the sandbox must leave alone.
#[derive(Debug, PartialEq)]
struct HostState {
    hostname: String,
    domainname: String,
    core_pattern: String,
    canary: Vec<String>,
}

fn host_state(canary: &Path) -> HostState {
    let read = |p: &str| std::fs::read_to_string(p).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(canary)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    HostState {
        hostname: read("/proc/sys/kernel/hostname"),
        domainname: read("/proc/sys/kernel/domainname"),
        core_pattern: read("/proc/sys/kernel/core_pattern"),
        canary: files,
    }
}

/// Put back what a broken sandbox would have changed, so that one failing run does not
/// leave the host (the CI machine) altered.
fn restore_host(before: &HostState) {
    let now = host_state(Path::new("/"));
    if now.hostname != before.hostname {
        let _ = rustix::system::sethostname(before.hostname.trim_end().as_bytes());
    }
    if now.core_pattern != before.core_pattern {
        let _ = std::fs::write("/proc/sys/kernel/core_pattern", &before.core_pattern);
    }
}

fn mountinfo() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Mounts that appeared on the host and that a scriptlet could have made: anything under
/// `dir`, and any proc, sysfs, devtmpfs or mount of the host root disk (other tests on this
/// machine mount loop images and tmpfs of their own).
fn suspicious_new_mounts(before: &[String], after: &[String], dir: &Path) -> Vec<String> {
    let (maj, min) = host_root_device();
    let disk = format!(" {maj}:{min} ");
    after
        .iter()
        .filter(|l| !before.contains(l))
        .filter(|l| {
            l.contains(&*dir.to_string_lossy())
                || l.contains(" - proc ")
                || l.contains(" - sysfs ")
                || l.contains(" - devtmpfs ")
                || l.contains(&disk)
        })
        .cloned()
        .collect()
}

/// Pids of host processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                found.push(format!("{name}: {cmd}"));
            }
        }
    }
    found
}

/// A host process for the scriptlet to try to kill; killed on drop.
struct HostSleep(std::process::Child);

impl HostSleep {
    fn start() -> HostSleep {
        HostSleep(Command::new("sleep").arg("600").spawn().unwrap())
    }
    fn alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for HostSleep {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Check the escape program's report against [`EXPECTED`] and the root's inode.
fn check_report(report: &str, root: &Path, context: &str) {
    eprintln!("{context}: the escape attempts' report:\n{report}");
    let answer = |what: &str| {
        report
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{what}: ")))
            .unwrap_or_else(|| panic!("{context}: no `{what}` in the report:\n{report}"))
            .to_string()
    };
    let mut wrong = Vec::new();
    for (what, want) in EXPECTED {
        let got = answer(what);
        if got != *want {
            wrong.push(format!("{what}: got {got}, want {want}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{context}: {}\nreport:\n{report}",
        wrong.join("\n")
    );
    // The climb ended at the root itself, not above it.
    let inode: u64 = answer("climb-root-inode").parse().unwrap();
    assert_eq!(
        inode,
        std::fs::metadata(root).unwrap().ino(),
        "{context}: the `..` climb left the root"
    );
}

/// Escape attempts run by a package's `%post` and by a chroot `%post` of a kickstart: each is
/// made, each fails, and the host is unchanged.
#[test]
fn escapes_stay_in_the_root() {
    let Some(fixtures) = ready() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let canary = tmp.path().join("canary");
    std::fs::create_dir(&canary).unwrap();
    let bin = compile_escape(tmp.path());
    let (maj, min) = host_root_device();
    let mut sleep = HostSleep::start();
    let args = format!("{} {maj} {min} {}", canary.display(), sleep.0.id());
    let body = format!(
        "/usr/bin/kt-escape {args} > /kt-escape.log 2>&1\n\
         echo \"uts: $(busybox hostname)\" >> /kt-escape.log\n\
         busybox grep CapBnd /proc/self/status >> /kt-escape.log\n\
         exit 0"
    );
    let rpm = build_rpm(tmp.path(), "kt-escape", &[&bin], &[("post", &body)]);
    let mut rpms = base_rpms(&fixtures);
    rpms.push(rpm);

    let before = host_state(&canary);
    let mounts_before = mountinfo();
    let root = tmp.path().join("root");
    let (code, err, _) = kiln_install(&root, &rpms, &[]);
    let after = host_state(&canary);
    let mounts_after = mountinfo();
    restore_host(&before);
    assert_eq!(code, 0, "{err}");
    let report = std::fs::read_to_string(root.join("kt-escape.log")).unwrap();
    check_report(&report, &root, "%post");
    // The hostname changed inside only.
    assert!(report.contains("uts: kt-evil-uts"), "{report}");
    // Capabilities that reach the host are gone from the bounding set.
    let bnd = report
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    for (cap, bit) in [
        ("SYS_MODULE", 16),
        ("SYS_RAWIO", 17),
        ("SYS_TIME", 25),
        ("SYSLOG", 34),
    ] {
        assert_eq!(
            bnd & (1 << bit),
            0,
            "{cap} left in the bounding set: {bnd:x}"
        );
    }
    assert_eq!(before, after, "the host changed");
    assert!(sleep.alive(), "the host process was killed");
    let new = suspicious_new_mounts(&mounts_before, &mounts_after, tmp.path());
    assert!(new.is_empty(), "mounts left on the host: {new:#?}");

    // The same from a kickstart's chroot %post (the configure stage's runner).
    std::fs::remove_file(root.join("kt-escape.log")).unwrap();
    let _ = std::fs::remove_dir(root.join("kt-climb"));
    let _ = std::fs::remove_file(root.join("kt-null"));
    let ks = parse_str(
        &format!("%post\n{body}\n%end\n"),
        "sandbox.ks",
        &Default::default(),
    )
    .unwrap();
    let opts = ConfigureOptions {
        source_date_epoch: None,
        runner: Some(ScriptRunner::new(common::kiln())),
        live_root: None,
        tmp_dir: None,
        ..Default::default()
    };
    let mounts_before = mountinfo();
    let runs = configure::run_post(&ks, &root, &opts).unwrap();
    let after = host_state(&canary);
    let mounts_after = mountinfo();
    restore_host(&before);
    assert_eq!(runs[0].status, 0, "{}", runs[0].output);
    let report = std::fs::read_to_string(root.join("kt-escape.log")).unwrap();
    check_report(&report, &root, "chroot %post");
    assert_eq!(before, after, "the host changed");
    assert!(sleep.alive(), "the host process was killed");
    let new = suspicious_new_mounts(&mounts_before, &mounts_after, tmp.path());
    assert!(new.is_empty(), "mounts left on the host: {new:#?}");
}

/// A `%post` that never ends (a busy loop ignoring SIGTERM, with a daemon it started) fails
/// the install with an error naming it once `--script-timeout` has passed, and leaves no
/// process, mount or root behind.
#[test]
fn never_ending_scriptlet_is_ended() {
    let Some(fixtures) = ready() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // Unique sleep lengths mark this run's processes in the host's process table.
    let mark = 500_000 + std::process::id() % 100_000;
    let body = format!(
        "echo going to hang\n\
         busybox setsid busybox sleep {mark} &\n\
         busybox sleep {} &\n\
         trap '' TERM\n\
         while :; do :; done",
        mark + 1
    );
    let rpm = build_rpm(tmp.path(), "kt-hang", &[], &[("post", &body)]);
    let mut rpms = base_rpms(&fixtures);
    rpms.push(rpm);
    let root = tmp.path().join("root");
    let mounts_before = mountinfo();
    let (code, err, took) = kiln_install(&root, &rpms, &["--script-timeout", "5"]);
    eprintln!("the hanging install ended after {took:?}");
    let name = format!("%post(kt-hang-1.0-1.{})", std::env::consts::ARCH);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("{name} ran longer than the script timeout of 5 s")),
        "{err}"
    );
    // Its output was shown as it came, before it was ended.
    assert!(err.contains(&format!("{name}: going to hang")), "{err}");
    // Nothing left: no process, no mount, and the root was removed (nothing mounted in it).
    for m in [mark, mark + 1] {
        let left = processes_with(&format!("sleep {m}"));
        assert!(left.is_empty(), "processes left: {left:?}");
    }
    let new = suspicious_new_mounts(&mounts_before, &mountinfo(), tmp.path());
    assert!(new.is_empty(), "mounts left on the host: {new:#?}");
    assert!(!root.exists(), "the failed install left its root");

    // A chroot %post through the configure stage's runner, and a host %pre.
    let root = tmp.path().join("root2");
    let (code, err, _) = kiln_install(&root, &base_rpms(&fixtures), &[]);
    assert_eq!(code, 0, "{err}");
    let opts = ConfigureOptions {
        source_date_epoch: None,
        runner: Some(ScriptRunner::new(common::kiln()).with_timeout(Some(Duration::from_secs(2)))),
        live_root: None,
        tmp_dir: Some(tmp.path().to_path_buf()),
        ..Default::default()
    };
    let ks = parse_str(
        &format!("%post\nbusybox sleep {}\n%end\n", mark + 2),
        "hang.ks",
        &Default::default(),
    )
    .unwrap();
    match configure::run_post(&ks, &root, &opts) {
        Err(e @ ConfigureError::ScriptTimeout { .. }) => assert_eq!(
            e.to_string(),
            "`%post` (hang.ks:1) ran longer than the script timeout of 2 s"
        ),
        other => panic!("{other:?}"),
    }
    let ks = parse_str(
        &format!("%pre\nsleep {}\n%end\n", mark + 3),
        "hang.ks",
        &Default::default(),
    )
    .unwrap();
    match configure::run_pre(&ks, &opts) {
        Err(e @ ConfigureError::ScriptTimeout { .. }) => assert_eq!(
            e.to_string(),
            "`%pre` (hang.ks:1) ran longer than the script timeout of 2 s"
        ),
        other => panic!("{other:?}"),
    }
    for m in [mark + 2, mark + 3] {
        let left = processes_with(&format!("sleep {m}"));
        assert!(left.is_empty(), "processes left: {left:?}");
    }
    let new = suspicious_new_mounts(&mounts_before, &mountinfo(), tmp.path());
    assert!(new.is_empty(), "mounts left on the host: {new:#?}");
}

/// What real scriptlets do still works in the sandbox: user database writes, chown, setuid
/// bits, device nodes dracut makes, `rpm -q`'s database copy (kt-scripts-sh); and their output
/// is on the console, each line prefixed with the scriptlet's name.
#[test]
fn ordinary_scriptlets_work_and_show_output() {
    let Some(fixtures) = ready() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let pre = "busybox mkdir -p /etc\n\
               echo 'ktuser:x:4321:4321::/home/ktuser:/bin/sh' >> /etc/passwd\n\
               echo 'ktuser:x:4321:' >> /etc/group\n\
               echo pre-output-line";
    let post = "busybox chown ktuser:ktuser /opt/kt-ordinary/owned\n\
                busybox chmod 4755 /opt/kt-ordinary/suid\n\
                busybox mknod /opt/kt-ordinary/null c 1 3\n\
                busybox mknod /opt/kt-ordinary/console c 5 1\n\
                echo post says hello\n\
                echo post to stderr >&2\n\
                busybox mkdir -p /var/tmp && echo tmp > /var/tmp/kt-ordinary";
    let rpm = build_rpm(
        tmp.path(),
        "kt-ordinary",
        &[],
        &[("pre", pre), ("post", post)],
    );
    let mut rpms = base_rpms(&fixtures);
    rpms.push(fixtures.join("synthetic/Packages/kt-scripts-sh-1.0-1.noarch.rpm"));
    rpms.push(rpm);
    let root = tmp.path().join("root");
    let (code, err, _) = kiln_install(&root, &rpms, &[]);
    assert_eq!(code, 0, "{err}");
    let o = root.join("opt/kt-ordinary");
    let owned = std::fs::metadata(o.join("owned")).unwrap();
    assert_eq!((owned.uid(), owned.gid()), (4321, 4321));
    assert_eq!(
        std::fs::metadata(o.join("suid"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o4755
    );
    for (node, (maj, min)) in [("null", (1, 3)), ("console", (5, 1))] {
        let m = std::fs::metadata(o.join(node)).unwrap();
        assert!(m.file_type().is_char_device(), "{node}");
        assert_eq!(
            (rustix::fs::major(m.rdev()), rustix::fs::minor(m.rdev())),
            (maj, min)
        );
    }
    // kt-scripts-sh: its log lines and the rpmdb copy its %post makes.
    let log = std::fs::read_to_string(root.join("kiln-scriptlets.log")).unwrap();
    assert!(log.contains("kt-scripts-sh post 1"), "{log}");
    assert!(root.join("kiln-rpmdb-at-post/rpmdb.sqlite").is_file());
    // Output on the console (stderr), as rpm shows it, prefixed with the scriptlet's name.
    let arch = std::env::consts::ARCH;
    for line in [
        format!("%pre(kt-ordinary-1.0-1.{arch}): pre-output-line"),
        format!("%post(kt-ordinary-1.0-1.{arch}): post says hello"),
        format!("%post(kt-ordinary-1.0-1.{arch}): post to stderr"),
    ] {
        assert!(err.lines().any(|l| l == line), "no `{line}` in:\n{err}");
    }
}

/// How the root's /etc/resolv.conf is: what the test compares before and after `%post`.
#[derive(Debug, PartialEq)]
enum Resolv {
    Absent,
    Link(PathBuf),
    File { ino: u64, text: String },
}

fn resolv_state(root: &Path) -> Resolv {
    let p = root.join("etc/resolv.conf");
    match std::fs::symlink_metadata(&p) {
        Err(_) => Resolv::Absent,
        Ok(m) if m.file_type().is_symlink() => Resolv::Link(std::fs::read_link(&p).unwrap()),
        Ok(m) => Resolv::File {
            ino: m.ino(),
            text: std::fs::read_to_string(&p).unwrap(),
        },
    }
}

/// Chroot `%post` reaches an HTTP server on the host's 127.0.0.1 and sees the host's name
/// servers (`--post-network host`, the default), and the root's resolv.conf is what it was
/// before, whichever shape the packages left it in; with `PostNetwork::None` the same fetch
/// fails and resolv.conf is not touched; a package scriptlet never reaches the server.
#[test]
fn post_has_the_host_network_scriptlets_do_not() {
    let Some(fixtures) = ready() else {
        return;
    };
    if !common::have_tool("/usr/bin/python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let served = tmp.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let payload = format!("fetched over http by pid {}\n", std::process::id());
    std::fs::write(served.join("payload.txt"), &payload).unwrap();
    let server = common::HttpServer::start(&served);
    let url = format!("http://127.0.0.1:{}/payload.txt", server.port);
    // The host itself reaches it (the server is up).
    let probe = Command::new("busybox")
        .args(["wget", "-q", "-O", "-", &url])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&probe.stdout), payload);

    // A package scriptlet tries the same fetch during the install.
    let scriptlet = format!(
        "busybox wget -q -O /kt-scriptlet-fetched {url}\n\
         echo \"wget=$?\" > /kt-scriptlet-status\nexit 0"
    );
    let rpm = build_rpm(tmp.path(), "kt-netprobe", &[], &[("post", &scriptlet)]);
    let mut rpms = base_rpms(&fixtures);
    rpms.push(rpm);
    let root = tmp.path().join("root");
    let (code, err, _) = kiln_install(&root, &rpms, &[]);
    assert_eq!(code, 0, "{err}");
    let status = std::fs::read_to_string(root.join("kt-scriptlet-status")).unwrap();
    assert_ne!(status.trim(), "wget=0", "a scriptlet reached the network");
    assert_ne!(
        std::fs::read_to_string(root.join("kt-scriptlet-fetched")).unwrap_or_default(),
        payload
    );

    let ks = parse_str(
        &format!(
            "%post\n\
             busybox rm -f /root/fetched\n\
             busybox wget -q -O /root/fetched {url}\n\
             echo \"wget=$?\" > /root/wget-status\n\
             busybox cat /etc/resolv.conf > /root/resolv-seen 2>/dev/null || : > /root/resolv-seen\n\
             %end\n"
        ),
        "net.ks",
        &Default::default(),
    )
    .unwrap();
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").ok();
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    // What packages leave: no resolv.conf, a file, systemd-resolved's link (dangling here).
    type Make = fn(&Path);
    let shapes: [(&str, Make); 3] = [
        ("absent", |r| {
            let _ = std::fs::remove_file(r.join("etc/resolv.conf"));
        }),
        ("file", |r| {
            std::fs::create_dir_all(r.join("etc")).unwrap();
            std::fs::write(r.join("etc/resolv.conf"), "nameserver 192.0.2.53\n").unwrap();
        }),
        ("link", |r| {
            std::os::unix::fs::symlink(
                "../run/systemd/resolve/stub-resolv.conf",
                r.join("etc/resolv.conf"),
            )
            .unwrap();
        }),
    ];
    for (shape, make) in shapes {
        let _ = std::fs::remove_file(root.join("etc/resolv.conf"));
        make(&root);
        let before = resolv_state(&root);
        for network in [configure::PostNetwork::Host, configure::PostNetwork::None] {
            let opts = ConfigureOptions {
                runner: Some(ScriptRunner::new(common::kiln())),
                post_network: network,
                ..Default::default()
            };
            let runs = configure::run_post(&ks, &root, &opts).unwrap();
            assert_eq!(runs[0].status, 0, "{}", runs[0].output);
            eprintln!(
                "{shape} resolv.conf, {network:?}: {} fetched",
                read("root/wget-status").trim()
            );
            assert_eq!(resolv_state(&root), before, "{shape}, {network:?}");
            assert!(!root.join("etc/.resolv.conf.kiln-root").exists());
            let seen = read("root/resolv-seen");
            let own = match &before {
                Resolv::File { text, .. } => text.clone(),
                _ => String::new(),
            };
            if network == configure::PostNetwork::Host {
                assert_eq!(read("root/wget-status"), "wget=0\n", "{shape}");
                assert_eq!(read("root/fetched"), payload);
                assert_eq!(seen, host_resolv.clone().unwrap_or(own), "{shape}");
            } else {
                assert_ne!(read("root/wget-status"), "wget=0\n", "{shape}");
                assert_ne!(
                    std::fs::read_to_string(root.join("root/fetched")).unwrap_or_default(),
                    payload
                );
                assert_eq!(seen, own, "{shape}");
            }
        }
    }

    // A %post that writes its own resolv.conf keeps it; a --nochroot one still runs on the host.
    let _ = std::fs::remove_file(root.join("etc/resolv.conf"));
    std::fs::write(root.join("etc/resolv.conf"), "nameserver 192.0.2.53\n").unwrap();
    let marker = tmp.path().join("nochroot-ran");
    let ks = parse_str(
        &format!(
            "%post\necho 'nameserver 198.51.100.7' > /etc/resolv.conf\n%end\n\
             %post --nochroot\necho \"$INSTALL_ROOT\" > {}\n%end\n",
            marker.display()
        ),
        "own.ks",
        &Default::default(),
    )
    .unwrap();
    let opts = ConfigureOptions {
        runner: Some(ScriptRunner::new(common::kiln())),
        ..Default::default()
    };
    configure::run_post(&ks, &root, &opts).unwrap();
    assert_eq!(read("etc/resolv.conf"), "nameserver 198.51.100.7\n");
    assert!(!root.join("etc/.resolv.conf.kiln-root").exists());
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        format!("{}\n", root.display())
    );
    drop(server);
}

/// A foreign arch's scriptlets run through qemu-user after the pivot_root: the binfmt_misc
/// entry kiln registers has the F flag (the emulator is opened at registration), so the
/// emulator need not be reachable from inside the root.
#[test]
fn foreign_arch_scriptlets_run_in_the_sandbox() {
    let Some(fixtures) = ready() else {
        return;
    };
    if std::env::consts::ARCH != "x86_64" || !common::have_tool("/usr/bin/qemu-aarch64-static") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let p = fixtures.join("synthetic/Packages");
    let rpms = [
        p.join("busybox-1.35.0-1.kt.aarch64.rpm"),
        p.join("kt-filesystem-1.0-1.noarch.rpm"),
        p.join("kt-scripts-sh-1.0-1.noarch.rpm"),
    ];
    let root = tmp.path().join("root");
    let (code, err, _) = kiln_install(&root, &rpms, &["--arch", "aarch64"]);
    assert_eq!(code, 0, "{err}");
    let log = std::fs::read_to_string(root.join("kiln-scriptlets.log")).unwrap();
    for line in [
        "kt-scripts-sh pre 1",
        "kt-scripts-sh post 1",
        "kt-scripts-sh posttrans 1",
    ] {
        assert!(log.lines().any(|l| l == line), "no `{line}` in:\n{log}");
    }
    // No emulator was copied into the root for it.
    assert!(!root.join("usr/bin/qemu-aarch64-static").exists());
}

/// What the sandbox costs: 200 trivial scriptlets through a runner, in ms each. Run by hand
/// (`--ignored --nocapture`); `KILN_BENCH_HELPER` names another kiln binary to compare with.
/// Measured 2026-12-06 with debug builds on the loaded 2-core VM, six alternating runs each:
/// 25-39 ms (median 28) before the sandbox, 30-58 ms (median 42) with it; timed inside the
/// helper, the sandbox's own steps take 2-6 ms (most of it the detach of the old root and
/// the mounts), the rest is load noise and the two execs of the 250 MB debug binary.
#[test]
#[ignore]
fn bench_scriptlet_cost() {
    let Some(fixtures) = ready() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let (code, err, _) = kiln_install(&root, &base_rpms(&fixtures), &[]);
    assert_eq!(code, 0, "{err}");
    let exe = std::env::var_os("KILN_BENCH_HELPER")
        .map(PathBuf::from)
        .unwrap_or_else(common::kiln);
    let runner = ScriptRunner::new(exe.clone());
    let spec = ScriptSpec {
        name: "%post(bench)".into(),
        root: root.clone(),
        prog: vec!["/bin/sh".into()],
        body: Some("exit 0".into()),
        arg1: Some(1),
        ..Default::default()
    };
    let n = 200;
    let t0 = Instant::now();
    for _ in 0..n {
        assert!(runner.run(&spec).unwrap().success());
    }
    let per = t0.elapsed().as_secs_f64() * 1000.0 / f64::from(n);
    eprintln!("{}: {per:.2} ms per scriptlet ({n} runs)", exe.display());
}
