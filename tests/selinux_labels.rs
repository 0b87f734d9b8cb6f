//! SELinux labels against libselinux itself, on a real policy: Debian 12's
//! `selinux-policy-default` (refpolicy), its modules compiled into `file_contexts` with
//! `semodule` into a scratch policy root (as the package's postinst does on a system).
//!
//! - `lookup_agrees_with_libselinux`: kiln's [`FileContexts::lookup`] against
//!   `selabel_lookup_raw` (libselinux through `tests/oracle/selabel-lookup.py`) for synthetic
//!   paths covering every file type qualifier, `<<none>>`, the `.subs_dist` aliases, duplicate
//!   slashes, every exact-path spec under every type, and for a real tree (this host's
//!   `/etc`, `/usr/bin`, `/usr/sbin`, `/usr/libexec`, `/usr/lib/systemd`, `/var/lib`, `/boot`,
//!   `/opt`).
//! - `outputs_carry_labels`: a `kiln build` of the live-x86_64 fixture with `selinux
//!   --enforcing` and the policy dropped into the root by `%post --nochroot`; the labels read
//!   back with the reference readers from the squashfs root image (`unsquashfs`), the
//!   ext4-in-squashfs variant (a second build, from the first one's `--make-fsimage`), the
//!   disk image and the fsimage (loop-mounted ext4), and the tar (`tar --xattrs`), each
//!   compared path for path with libselinux; and the host's `setfiles` run on an unlabelled
//!   copy of the same root as the peer. Prints "label agreement: N of N paths" per output.
//!
//! Needs root (security.* xattrs, loop mounts), apt-get + dpkg-deb (the policy package),
//! `semodule`, `setfiles` (policycoreutils), libselinux1 + /usr/bin/python3, getfattr (attr),
//! squashfs-tools, e2fsprogs, util-linux; the fixtures for the build.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kiln::configure::selinux_label::{FileContexts, FileType};

const POLICY: &str = "default";

/// Skip (or fail under CI) when a tool is missing.
fn tools(list: &[&str]) -> bool {
    list.iter().all(|t| common::have_tool(t))
}

/// A policy root with Debian 12's compiled default policy (`etc/selinux/config` +
/// `etc/selinux/default/...`), made once per target dir.
fn debian_policy() -> Option<PathBuf> {
    // Both tests ask for it at once: one compiles, the other waits (they raced on a cold cache,
    // one reading the half-made store).
    static POLICY_ROOT: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    POLICY_ROOT.get_or_init(make_debian_policy).clone()
}

fn make_debian_policy() -> Option<PathBuf> {
    if !tools(&[
        "/usr/bin/apt-get",
        "/usr/bin/dpkg-deb",
        "/usr/sbin/semodule",
        "/usr/bin/python3",
    ]) {
        return None;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("selinux-policy-default");
    let root = dir.join("root");
    let done = dir.join("complete");
    if done.exists() {
        return Some(root);
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A .deb left by apt in its cache, else a download (as the fixtures fetch Debian packages).
    let cached = std::fs::read_dir("/var/cache/apt/archives")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("selinux-policy-default_"))
        });
    let deb = match cached {
        Some(p) => p,
        None => {
            common::run_ok(
                Command::new("apt-get")
                    .current_dir(&dir)
                    .args(["download", "-q", "-o", "APT::Sandbox::User=root"])
                    .arg("selinux-policy-default"),
            );
            std::fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "deb"))
                .expect("apt-get download left no .deb")
        }
    };
    common::run_ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    // The package's postinst: every module it lists, into the policy store, no reload.
    let share = root.join("usr/share/selinux").join(POLICY);
    let modules = std::fs::read_to_string(share.join(".modules")).unwrap();
    let mut cmd = Command::new("semodule");
    cmd.arg("-p")
        .arg(&root)
        .args(["-s", POLICY, "-n", "-X", "100"]);
    for m in modules.split_whitespace() {
        cmd.arg(format!("-i{}", share.join(format!("{m}.pp.bz2")).display()));
    }
    common::run_ok(&mut cmd);
    std::fs::write(
        root.join("etc/selinux/config"),
        format!("SELINUX=permissive\nSELINUXTYPE={POLICY}\n"),
    )
    .unwrap();
    assert!(file_contexts(&root).is_file());
    std::fs::write(&done, "").unwrap();
    Some(root)
}

fn file_contexts(policy_root: &Path) -> PathBuf {
    policy_root.join(format!("etc/selinux/{POLICY}/contexts/files/file_contexts"))
}

/// `st_mode` type bits of a file type, as libselinux takes them (0: no type).
fn mode_of(t: FileType) -> u32 {
    match t {
        FileType::Any => 0,
        FileType::Regular => libc::S_IFREG,
        FileType::Directory => libc::S_IFDIR,
        FileType::Symlink => libc::S_IFLNK,
        FileType::Block => libc::S_IFBLK,
        FileType::Char => libc::S_IFCHR,
        FileType::Fifo => libc::S_IFIFO,
        FileType::Socket => libc::S_IFSOCK,
    }
}

const TYPES: [FileType; 8] = [
    FileType::Any,
    FileType::Regular,
    FileType::Directory,
    FileType::Symlink,
    FileType::Block,
    FileType::Char,
    FileType::Fifo,
    FileType::Socket,
];

/// libselinux's label for each (path, type): `None` for `<<none>>`/no match.
fn libselinux(fc: &Path, queries: &[(Vec<u8>, FileType)]) -> Vec<Option<String>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/selabel-lookup.py");
    let mut input = Vec::new();
    for (path, t) in queries {
        input.extend_from_slice(format!("{}\0", mode_of(*t)).as_bytes());
        input.extend_from_slice(path);
        input.push(0);
    }
    let mut child = Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(fc)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(&input).unwrap();
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "selabel-lookup.py failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let labels: Vec<Option<String>> = text
        .lines()
        .map(|l| (l != "<<none>>").then(|| l.to_string()))
        .collect();
    assert_eq!(labels.len(), queries.len());
    labels
}

/// Compare kiln's lookups with libselinux's for `queries`; returns (agreeing, total) and
/// prints the first disagreements.
fn compare_lookups(fc_path: &Path, fc: &FileContexts, queries: &[(Vec<u8>, FileType)]) -> usize {
    let expected = libselinux(fc_path, queries);
    let mut bad = 0;
    for ((path, t), want) in queries.iter().zip(&expected) {
        let got = fc.lookup_bytes(path, *t);
        if got != want.as_deref() {
            bad += 1;
            if bad <= 20 {
                eprintln!(
                    "DIFFERS {} ({t:?}): kiln {got:?}, libselinux {want:?}, kiln's spec {:?}",
                    String::from_utf8_lossy(path),
                    fc.explain(&String::from_utf8_lossy(path), *t)
                );
            }
        }
    }
    queries.len() - bad
}

/// Every path beneath `top` with its type (lstat).
fn walk(top: &Path, out: &mut Vec<(Vec<u8>, FileType)>) {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let Ok(rd) = std::fs::read_dir(top) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(md) = e.path().symlink_metadata() else {
            continue;
        };
        let t = FileType::from_mode(md.mode());
        out.push((e.path().as_os_str().as_bytes().to_vec(), t));
        if t == FileType::Directory {
            walk(&e.path(), out);
        }
    }
}

#[test]
fn lookup_agrees_with_libselinux() {
    let Some(policy) = debian_policy() else {
        return;
    };
    let fc_path = file_contexts(&policy);
    let fc = FileContexts::load(&policy)
        .unwrap()
        .expect("the policy root has a policy");
    assert_eq!(fc.policy_type, POLICY);
    eprintln!("{} specs", fc.len());

    // Synthetic paths: every exact-path spec and a child of it, under every type; the aliases;
    // duplicate slashes; homes, /mnt, /run, /tmp.
    // (path, the types to ask for it)
    let mut synthetic: Vec<(Vec<u8>, &[FileType])> = Vec::new();
    const FEW: &[FileType] = &[FileType::Any, FileType::Regular, FileType::Directory];
    let text = std::fs::read_to_string(&fc_path).unwrap();
    for line in text.lines() {
        let Some(re) = line.split_whitespace().next() else {
            continue;
        };
        if re.starts_with('#') {
            continue;
        }
        let plain: String = re
            .chars()
            .take_while(|c| !".^$?*+|[({\\".contains(*c))
            .collect();
        if plain.starts_with('/') {
            synthetic.push((plain.clone().into_bytes(), &TYPES));
            synthetic.push((
                format!("{}/x", plain.trim_end_matches('/')).into_bytes(),
                FEW,
            ));
            synthetic.push((format!("{plain}x.so").into_bytes(), &[FileType::Regular]));
        }
    }
    let subs = std::fs::read_to_string(fc_path.with_extension("subs_dist")).unwrap();
    for line in subs.lines().filter(|l| l.starts_with('/')) {
        let src = line.split_whitespace().next().unwrap();
        for tail in [
            "",
            "/x",
            "/bin/sh",
            "/lib/x.so.1",
            "/log/x",
            "/sbin/init",
            "/systemd",
        ] {
            synthetic.push((format!("{src}{tail}").into_bytes(), &TYPES));
        }
    }
    for p in [
        "/",
        "//usr///bin//ls",
        "/usr/bin/",
        "/home/joe",
        "/home/joe/.ssh/authorized_keys",
        "/root/.ssh",
        "/mnt/x",
        "/mnt/x/y",
        "/run/x",
        "/tmp/x",
        "/var/run/utmp",
        "/lib64/ld-linux-x86-64.so.2",
        "/usr/lib64/libc.so.6",
        "/dev/null",
        "/dev/sda1",
        "/dev/log",
        "/var/lib/private/x",
        "/etc/init.d/x",
        "/lib/systemd/systemd",
        "/etc/systemd/system/x.service",
        "/usr/local/lib64/x.so",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/share/man/man1/ls.1.gz",
        "/usr/\u{e9}t\u{e9}/x",
    ] {
        synthetic.push((p.as_bytes().to_vec(), &TYPES));
    }
    let mut queries: Vec<(Vec<u8>, FileType)> = synthetic
        .iter()
        .flat_map(|(p, types)| types.iter().map(move |t| (p.clone(), *t)))
        .collect();
    queries.sort_by(|a, b| (&a.0, mode_of(a.1)).cmp(&(&b.0, mode_of(b.1))));
    queries.dedup();
    let agree = compare_lookups(&fc_path, &fc, &queries);
    eprintln!(
        "label agreement (synthetic paths and types): {agree} of {} lookups",
        queries.len()
    );
    assert_eq!(agree, queries.len());

    // A real tree: this host's system directories.
    let mut real = Vec::new();
    let tops = [
        "/etc",
        "/usr/bin",
        "/usr/sbin",
        "/usr/libexec",
        "/usr/lib/systemd",
        "/var/lib",
        "/boot",
        "/opt",
    ];
    for top in tops {
        walk(Path::new(top), &mut real);
    }
    let agree = compare_lookups(&fc_path, &fc, &real);
    eprintln!(
        "label agreement (this host's {}): {agree} of {} paths",
        tops.join(" "),
        real.len()
    );
    assert_eq!(agree, real.len());
}

/// (path inside the root → (type letter of `find -printf %y`, label)) of the tree at `dir`,
/// read with find and getfattr; with `mount`, `dir` is first loop-mounted from that image
/// (offset, size) read-only in a private mount namespace.
fn read_labels(
    dir: &Path,
    mount: Option<(&Path, u64, u64)>,
    scratch: &Path,
) -> BTreeMap<Vec<u8>, (u8, Option<Vec<u8>>)> {
    std::fs::create_dir_all(scratch).unwrap();
    let list = scratch.join("find.out");
    let attrs = scratch.join("getfattr.out");
    let read = "cd \"$1\" && find . -printf '%y\\t%P\\0' > \"$2\" && \
         getfattr -R -h -P -d -m '^security\\.selinux$' -e hex . > \"$3\"";
    let mut cmd = match mount {
        None => {
            let mut c = Command::new("sh");
            c.arg("-ec").arg(read).arg("sh");
            c
        }
        Some((img, offset, len)) => {
            std::fs::create_dir_all(dir).unwrap();
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "sh", "-ec"])
                .arg(format!(
                    "mount -o ro,loop,offset={offset}{} \"$4\" \"$1\"; {read}",
                    if len > 0 {
                        format!(",sizelimit={len}")
                    } else {
                        String::new()
                    }
                ))
                .arg("sh");
            let _ = img;
            c
        }
    };
    cmd.arg(dir).arg(&list).arg(&attrs);
    if let Some((img, _, _)) = mount {
        cmd.arg(img);
    }
    common::run_ok(&mut cmd);
    let mut tree = BTreeMap::new();
    for rec in std::fs::read(&list).unwrap().split(|&b| b == 0) {
        if rec.is_empty() {
            continue;
        }
        let tab = rec.iter().position(|&b| b == b'\t').unwrap();
        let mut path = b"/".to_vec();
        path.extend_from_slice(&rec[tab + 1..]);
        tree.insert(path, (rec[0], None));
    }
    // ext4's own lost+found is the file system's, not the root's.
    tree.remove(&b"/lost+found"[..]);
    let text = std::fs::read(&attrs).unwrap();
    let mut current: Option<Vec<u8>> = None;
    for line in text.split(|&b| b == b'\n') {
        if let Some(name) = line.strip_prefix(b"# file: ") {
            // getfattr names "." and then "etc", "etc/passwd" (or "./etc" in some versions).
            let name = unescape(name);
            let rel = name.strip_prefix(b"./").unwrap_or(&name);
            let mut path = b"/".to_vec();
            if rel != b"." {
                path.extend_from_slice(rel);
            }
            current = Some(path);
        } else if let Some(hex) = line.strip_prefix(b"security.selinux=0x") {
            let value: Vec<u8> = hex
                .chunks(2)
                .map(|h| u8::from_str_radix(std::str::from_utf8(h).unwrap(), 16).unwrap())
                .collect();
            let path = current.clone().unwrap();
            if let Some(entry) = tree.get_mut(&path) {
                entry.1 = Some(value);
            }
        }
    }
    tree
}

/// getfattr's escapes in file names (`\ooo` octal, `\\`).
fn unescape(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < name.len() {
        if name[i] == b'\\' && i + 3 < name.len() + 1 && name[i + 1..].len() >= 3 {
            let oct = &name[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                out.push(u8::from_str_radix(std::str::from_utf8(oct).unwrap(), 8).unwrap());
                i += 4;
                continue;
            }
        }
        if name[i] == b'\\' && name.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
            continue;
        }
        out.push(name[i]);
        i += 1;
    }
    out
}

fn type_of_letter(y: u8) -> FileType {
    match y {
        b'f' => FileType::Regular,
        b'd' => FileType::Directory,
        b'l' => FileType::Symlink,
        b'b' => FileType::Block,
        b'c' => FileType::Char,
        b'p' => FileType::Fifo,
        b's' => FileType::Socket,
        _ => FileType::Any,
    }
}

/// How many paths of `tree` carry exactly libselinux's label (the context and its NUL, or no
/// xattr for `<<none>>`); prints the first that do not.
fn agreement(what: &str, fc: &Path, tree: &BTreeMap<Vec<u8>, (u8, Option<Vec<u8>>)>) -> usize {
    let queries: Vec<(Vec<u8>, FileType)> = tree
        .iter()
        .map(|(p, (y, _))| (p.clone(), type_of_letter(*y)))
        .collect();
    let expected = libselinux(fc, &queries);
    let (mut agree, mut shown) = (0, 0);
    for ((path, (_, got)), want) in tree.iter().zip(&expected) {
        let want = want.as_ref().map(|w| {
            let mut v = w.as_bytes().to_vec();
            v.push(0);
            v
        });
        if *got == want {
            agree += 1;
        } else {
            shown += 1;
            if shown <= 20 {
                eprintln!(
                    "{what}: {} has {:?}, libselinux says {:?}",
                    String::from_utf8_lossy(path),
                    got.as_ref()
                        .map(|g| String::from_utf8_lossy(g).into_owned()),
                    want.as_ref()
                        .map(|w| String::from_utf8_lossy(w).into_owned())
                );
            }
        }
    }
    eprintln!("label agreement ({what}): {agree} of {} paths", tree.len());
    agree
}

/// Byte offset and length of partition `n` (sgdisk -i).
fn partition(disk: &Path, n: u32) -> (u64, u64) {
    let info = common::run_ok(Command::new("sgdisk").arg(format!("-i{n}")).arg(disk));
    let sector = |key: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no `{key}` in sgdisk -i{n}:\n{info}"))
    };
    let (first, last) = (sector("First sector: "), sector("Last sector: "));
    (first * 512, (last - first + 1) * 512)
}

/// `kiln build` with `args`; returns its stderr (the stage table).
fn kiln_build(work: &Path, args: &[&str]) -> String {
    let out = Command::new(common::kiln())
        .arg("build")
        .args(args)
        .arg("--tmpdir")
        .arg(work)
        .arg("--cache")
        .arg(work.join("cache"))
        .args(["--compression", "zstd", "--compress-arg", "level=3"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kiln build failed:\n{stderr}");
    assert!(
        !stderr.contains("not relabelled") && !stderr.contains("not labelled"),
        "{stderr}"
    );
    stderr.into_owned()
}

/// The labelling step's cost against the install stage, from the build's stage table and
/// its log (`build.log`); printed, never asserted on.
fn print_cost(stderr: &str, log: &Path) {
    let install: Option<f64> = stderr
        .lines()
        .find_map(|l| l.strip_prefix("install "))
        .and_then(|r| r.trim().parse().ok());
    let log = std::fs::read_to_string(log).unwrap_or_default();
    let line = log.lines().find(|l| l.contains("SELinux labels ("));
    let label: Option<f64> = line
        .and_then(|l| l.rsplit(" in ").next())
        .and_then(|r| r.trim_end_matches(" s").trim().parse().ok());
    eprintln!("labelling step: {}", line.unwrap_or("(no log line)"));
    if let (Some(i), Some(l)) = (install, label) {
        eprintln!(
            "labelling cost: {l:.2} s vs the install stage's {i:.1} s = {:.1} % (debug build)",
            100.0 * l / i
        );
    }
}

#[test]
fn outputs_carry_labels() {
    // unsquashfs writes security.selinux only as real root.
    if !common::require(
        common::is_root(),
        "root (unsquashfs restores security.* xattrs)",
    ) {
        return;
    }
    let Some(policy) = debian_policy() else {
        return;
    };
    let Some(fx) = common::fixtures() else {
        return;
    };
    if !tools(&[
        "/usr/bin/getfattr",
        "/usr/bin/unsquashfs",
        "/usr/sbin/setfiles",
        "/usr/sbin/sgdisk",
        "/usr/bin/unshare",
    ]) {
        return;
    }
    let fc = file_contexts(&policy);
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("selinux-outputs");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    // The live fixture, enforcing, with the policy put into the root after the packages.
    let ks = std::fs::read_to_string(fx.join("ks/live-x86_64.ks"))
        .unwrap()
        .replace("selinux --disabled", "selinux --enforcing");
    assert!(ks.contains("selinux --enforcing"));
    let ks = format!(
        "{ks}\n%post --nochroot\ncp -a {}/etc/selinux/. \"$INSTALL_ROOT/etc/selinux/\"\n\
         sed -i 's/^SELINUXTYPE=.*/SELINUXTYPE={POLICY}/' \"$INSTALL_ROOT/etc/selinux/config\"\n%end\n",
        policy.display()
    );
    let ks_path = work.join("selinux.ks");
    std::fs::write(&ks_path, ks).unwrap();
    let out = work.join("out");
    let label = "KILN-SEL";
    let stderr = kiln_build(
        &work,
        &[
            "--ks",
            ks_path.to_str().unwrap(),
            "-f",
            label,
            "--resultdir",
            out.to_str().unwrap(),
            "--keep-image",
            "--make-fsimage",
            "--make-tar",
            "--make-disk",
        ],
    );
    print_cost(&stderr, &out.join("build.log"));
    let mut results = Vec::new();

    // The squashfs root image, extracted by unsquashfs with its xattrs.
    let sq_dir = work.join("squashfs-root");
    common::run_ok(
        Command::new("unsquashfs")
            .args(["-no-progress", "-d"])
            .arg(&sq_dir)
            .arg(out.join("squashfs.img")),
    );
    let squashfs = read_labels(&sq_dir, None, &work.join("r-squashfs"));
    results.push((
        "squashfs root image",
        agreement("squashfs", &fc, &squashfs),
        squashfs.len(),
    ));
    let _ = std::fs::remove_dir_all(&sq_dir);

    // The fsimage and the disk's root partition, loop-mounted.
    let fsimage = out.join(format!("{label}-rootfs.img"));
    let tree = read_labels(
        &work.join("mnt-fs"),
        Some((&fsimage, 0, 0)),
        &work.join("r-fs"),
    );
    results.push((
        "fsimage (ext4)",
        agreement("fsimage", &fc, &tree),
        tree.len(),
    ));
    let disk = out.join(format!("{label}-disk.raw"));
    let (off, len) = partition(&disk, 2);
    let tree = read_labels(
        &work.join("mnt-disk"),
        Some((&disk, off, len)),
        &work.join("r-disk"),
    );
    results.push((
        "disk image root (ext4)",
        agreement("disk", &fc, &tree),
        tree.len(),
    ));
    let _ = std::fs::remove_file(&disk);

    // The tar, extracted by GNU tar with its xattrs.
    let tar = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("-root.tar"))
        .expect("no tar output");
    let tar_dir = work.join("tar-root");
    std::fs::create_dir_all(&tar_dir).unwrap();
    common::run_ok(
        Command::new("tar")
            .args(["--xattrs", "--xattrs-include=*", "-xf"])
            .arg(&tar)
            .arg("-C")
            .arg(&tar_dir),
    );
    let tree = read_labels(&tar_dir, None, &work.join("r-tar"));
    results.push(("tar", agreement("tar", &fc, &tree), tree.len()));
    let _ = std::fs::remove_dir_all(&tar_dir);

    // The peer: the host's setfiles on an unlabelled copy of the same root (the tar without
    // its xattrs), then kiln's labels against setfiles' path for path.
    let peer = work.join("setfiles-root");
    std::fs::create_dir_all(&peer).unwrap();
    common::run_ok(
        Command::new("tar")
            .args(["--no-xattrs", "--no-selinux", "-xf"])
            .arg(&tar)
            .arg("-C")
            .arg(&peer),
    );
    common::run_ok(
        Command::new("setfiles")
            .arg("-r")
            .arg(&peer)
            .arg(&fc)
            .arg(&peer),
    );
    let by_setfiles = read_labels(&peer, None, &work.join("r-setfiles"));
    let mut same = 0;
    for (path, (_, label)) in &by_setfiles {
        match squashfs.get(path) {
            Some((_, kiln_label)) if kiln_label == label => same += 1,
            other => eprintln!(
                "setfiles vs kiln: {}: setfiles {:?}, kiln {:?}",
                String::from_utf8_lossy(path),
                label
                    .as_ref()
                    .map(|l| String::from_utf8_lossy(l).into_owned()),
                other.map(|(_, l)| l.as_ref().map(|l| String::from_utf8_lossy(l).into_owned()))
            ),
        }
    }
    eprintln!(
        "setfiles agreement: {same} of {} paths (kiln's squashfs has {})",
        by_setfiles.len(),
        squashfs.len()
    );
    let _ = std::fs::remove_dir_all(&peer);
    assert_eq!(same, by_setfiles.len());
    assert_eq!(by_setfiles.len(), squashfs.len());

    // ext4-in-squashfs: a second build from the fsimage (no install; the root copied out of
    // the image and labelled again, as dracut wrote into it) into livecd-creator's layout.
    let out2 = work.join("out2");
    kiln_build(
        &work,
        &[
            "--ks",
            ks_path.to_str().unwrap(),
            "-f",
            label,
            "--resultdir",
            out2.to_str().unwrap(),
            "--fs-image",
            fsimage.to_str().unwrap(),
            "--ext4-in-squashfs",
            "--image-only",
        ],
    );
    let inner = work.join("ext4-in-squashfs");
    common::run_ok(
        Command::new("unsquashfs")
            .args(["-no-progress", "-d"])
            .arg(&inner)
            .arg(out2.join("squashfs.img")),
    );
    let rootfs = inner.join("LiveOS/rootfs.img");
    let tree = read_labels(
        &work.join("mnt-inner"),
        Some((&rootfs, 0, 0)),
        &work.join("r-inner"),
    );
    results.push((
        "ext4-in-squashfs",
        agreement("ext4-in-squashfs", &fc, &tree),
        tree.len(),
    ));

    let _ = std::fs::remove_dir_all(&work);
    for (what, agree, total) in &results {
        assert_eq!(agree, total, "{what}: {agree} of {total} paths agree");
    }
}
