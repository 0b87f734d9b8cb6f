//! The configure stage against real tools: a root made by `dnf --installroot` from the
//! live-x86_64 fixture repository (Debian 12 packages as RPMs), configured by kiln, compared with
//! what `systemctl --root`, `useradd -R`/`chpasswd -R`, `systemd-firstboot --root`,
//! `openssl passwd -6`, `pwck`/`grpck` and programs inside the root make of it. Needs root.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use kiln::configure::{self, ConfigureError, ConfigureOptions, NetworkBackend};
use kiln::install::scriptlet::ScriptRunner;
use kiln::kickstart::{parse_str, Kickstart};

const SDE: i64 = 1_700_000_000;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The base root, built once per target dir (a marker file records completion).
fn base_root() -> Option<&'static Path> {
    static BASE: OnceLock<Option<PathBuf>> = OnceLock::new();
    BASE.get_or_init(|| {
        if !is_root() {
            eprintln!("SKIP: configure tests need root");
            return None;
        }
        if !common::have_tool("/usr/bin/dnf") {
            return None;
        }
        let repo = common::fixtures()?.join("live-x86_64");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("configure-root-v1");
        let root = dir.join("root");
        if dir.join(".complete").exists() {
            return Some(root);
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&root).unwrap();
        let out = Command::new("dnf")
            .arg("--installroot")
            .arg(&root)
            .arg(format!("--repofrompath=live,file://{}", repo.display()))
            .args([
                "--disablerepo=*",
                "--enablerepo=live",
                "--nogpgcheck",
                "-y",
                "--releasever=1",
                "--setopt=install_weak_deps=False",
                "install",
                "systemd",
                "passwd",
                "login",
                "busybox",
                "bash",
                "dash",
                "coreutils",
                "perl-base",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "dnf failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(dir.join(".complete"), b"").unwrap();
        Some(root)
    })
    .as_deref()
}

/// A private copy of the base root.
fn copy_root(name: &str) -> Option<PathBuf> {
    let base = base_root()?;
    let dst = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("configure-{name}"));
    let _ = std::fs::remove_dir_all(&dst);
    let st = Command::new("cp")
        .arg("-a")
        .arg(base)
        .arg(&dst)
        .status()
        .unwrap();
    assert!(st.success());
    Some(dst)
}

fn ks(text: &str) -> Kickstart {
    parse_str(text, "test.ks", &Default::default()).unwrap()
}

fn opts() -> ConfigureOptions {
    ConfigureOptions {
        source_date_epoch: Some(SDE),
        runner: Some(ScriptRunner::new(common::kiln())),
        live_root: None,
        tmp_dir: None,
        ..Default::default()
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every symlink under /etc/systemd/system: relative name -> the file it resolves to in the root.
fn unit_links(root: &Path) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let base = root.join("etc/systemd/system");
    let mut stack = vec![base.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_symlink() {
                let t = std::fs::read_link(e.path()).unwrap();
                let t = t.to_string_lossy();
                // Resolve in the root with the root's own /lib -> usr/lib link.
                let host = root.join(t.trim_start_matches('/'));
                let real = std::fs::canonicalize(&host)
                    .map(|p| {
                        p.strip_prefix(std::fs::canonicalize(root).unwrap())
                            .unwrap()
                            .display()
                            .to_string()
                    })
                    .unwrap_or_else(|_| format!("dangling {t}"));
                m.insert(
                    e.path().strip_prefix(&base).unwrap().display().to_string(),
                    real,
                );
            }
        }
    }
    m
}

#[test]
fn services_match_systemctl() {
    let (Some(a), Some(b)) = (copy_root("svc-a"), copy_root("svc-b")) else {
        return;
    };
    let enable = [
        "systemd-networkd",
        "getty@.service",
        "remote-fs.target",
        "getty@tty3.service",
    ];
    let k = ks(&format!("services --enabled={}\n", enable.join(",")));
    let rep = configure::configure(&k, &a, &opts()).unwrap();
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
    run(Command::new("systemctl")
        .arg("--root")
        .arg(&b)
        .arg("enable")
        .args(enable));
    let la = unit_links(&a);
    assert!(la.len() >= 7, "{la:?}");
    assert_eq!(la, unit_links(&b));
    for u in [
        "systemd-networkd.service",
        "getty@tty1.service",
        "remote-fs.target",
        "systemd-networkd.socket",
    ] {
        let out = Command::new("systemctl")
            .arg("--root")
            .arg(&a)
            .args(["is-enabled", u])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "enabled",
            "{u}"
        );
    }

    // Disabling removes what enable made, Also= units included, as systemctl disable does.
    let k = ks("services --disabled=systemd-networkd,getty@.service\n");
    configure::configure(&k, &a, &opts()).unwrap();
    run(Command::new("systemctl").arg("--root").arg(&b).args([
        "disable",
        "systemd-networkd",
        "getty@.service",
    ]));
    assert_eq!(unit_links(&a), unit_links(&b));
    let out = Command::new("systemctl")
        .arg("--root")
        .arg(&a)
        .args(["is-enabled", "systemd-networkd.service"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "disabled");

    // A missing unit is a warning naming the line, not a failure.
    let k = ks("\nservices --enabled=no-such-thing\n");
    let rep = configure::configure(&k, &a, &opts()).unwrap();
    assert_eq!(rep.warnings.len(), 1);
    assert_eq!(rep.warnings[0].origin.line, 2);
    assert!(rep.warnings[0].message.contains("no-such-thing.service"));

    // xconfig --startxonboot is `systemctl set-default graphical.target`.
    let k = ks("xconfig --startxonboot\n");
    configure::configure(&k, &a, &opts()).unwrap();
    run(Command::new("systemctl")
        .arg("--root")
        .arg(&b)
        .args(["set-default", "graphical.target"]));
    assert_eq!(unit_links(&a), unit_links(&b));
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

fn tree(home: &Path) -> String {
    let out = Command::new("find")
        .arg(home)
        .args(["-printf", "%P %y %m %U %G %s %l\n"])
        .output()
        .unwrap();
    // ~/.ssh comes from `sshkey`, which useradd has no part in.
    let mut l: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with(".ssh"))
        .map(str::to_string)
        .collect();
    l.sort();
    l.join("\n")
}

fn shadow_field(root: &Path, user: &str) -> String {
    let s = std::fs::read_to_string(root.join("etc/shadow")).unwrap();
    s.lines()
        .find(|l| l.starts_with(&format!("{user}:")))
        .unwrap()
        .split(':')
        .nth(1)
        .unwrap()
        .to_string()
}

fn openssl_crypt(pw: &str, salt: &str) -> String {
    run(Command::new("openssl").args(["passwd", "-6", "-salt", salt, pw]))
        .trim()
        .to_string()
}

#[test]
fn accounts_match_useradd() {
    if !common::have_tool("/usr/sbin/useradd") || !common::have_tool("/usr/bin/openssl") {
        return;
    }
    let (Some(a), Some(b)) = (copy_root("acc-a"), copy_root("acc-b")) else {
        return;
    };
    for r in [&a, &b] {
        // Files only: Debian's useradd 4.13 -R copies skeleton subdirectories as empty 0700
        // directories (observed here), which is not what it does without -R.
        std::fs::write(r.join("etc/skel/.bashrc"), "# skel\n").unwrap();
        std::os::unix::fs::symlink(".bashrc", r.join("etc/skel/.rc")).unwrap();
    }
    let k = ks(concat!(
        "rootpw --plaintext s3cret\n",
        "group --name=devs --gid=2000\n",
        "user --name=alice --groups=audio,video,devs --shell=/bin/sh --gecos=\"Alice A\" --password=pw1 --plaintext\n",
        "user --name=bob --uid=1500 --password=$6$abc$xyz --iscrypted --lock\n",
        "user --name=carol\n",
        "sshkey --username=alice \"ssh-ed25519 AAAAC3Nza alice@host\"\n",
    ));
    let rep = configure::configure(&k, &a, &opts()).unwrap();
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);

    // The same with shadow-utils (what Anaconda runs), dated by SOURCE_DATE_EPOCH too.
    let tool = |args: &[&str], stdin: Option<String>| {
        let mut c = Command::new(args[0]);
        c.args(&args[1..])
            .arg("-R")
            .arg(&b)
            .env("SOURCE_DATE_EPOCH", SDE.to_string());
        if let Some(s) = stdin {
            use std::io::Write;
            let mut ch = c.stdin(std::process::Stdio::piped()).spawn().unwrap();
            ch.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
            assert!(ch.wait().unwrap().success(), "{args:?}");
        } else {
            run(&mut c);
        }
    };
    tool(&["groupadd", "-g", "2000", "devs"], None);
    tool(
        &[
            "useradd",
            "-m",
            "-s",
            "/bin/sh",
            "-c",
            "Alice A",
            "-G",
            "audio,video,devs",
            "alice",
        ],
        None,
    );
    tool(&["useradd", "-m", "-u", "1500", "bob"], None);
    tool(&["useradd", "-m", "carol"], None);
    let root_hash = shadow_field(&a, "root");
    let alice_hash = shadow_field(&a, "alice");
    tool(
        &["chpasswd", "-e"],
        Some(format!(
            "root:{root_hash}\nalice:{alice_hash}\nbob:!$6$abc$xyz\n"
        )),
    );

    for f in ["etc/passwd", "etc/group", "etc/gshadow", "etc/shadow"] {
        assert_eq!(
            std::fs::read_to_string(a.join(f)).unwrap(),
            std::fs::read_to_string(b.join(f)).unwrap(),
            "{f}"
        );
        assert_eq!(
            std::fs::metadata(a.join(f)).unwrap().mode(),
            std::fs::metadata(b.join(f)).unwrap().mode(),
            "{f} mode"
        );
    }
    for h in ["alice", "bob", "carol"] {
        assert_eq!(
            tree(&a.join("home").join(h)),
            tree(&b.join("home").join(h)),
            "home of {h}"
        );
    }

    // Hashes as openssl computes them.
    let salt = |h: &str| {
        h.trim_start_matches('!')
            .split('$')
            .nth(2)
            .unwrap()
            .to_string()
    };
    assert_eq!(root_hash, openssl_crypt("s3cret", &salt(&root_hash)));
    assert_eq!(alice_hash, openssl_crypt("pw1", &salt(&alice_hash)));
    assert_eq!(shadow_field(&a, "bob"), "!$6$abc$xyz");

    // The databases are consistent and readable by programs in the root.
    // -q: errors only (system users of the base root have homes that do not exist).
    run(Command::new("pwck").args(["-r", "-q", "-R"]).arg(&a));
    run(Command::new("grpck").args(["-r", "-R"]).arg(&a));
    let id = run(Command::new("chroot")
        .arg(&a)
        .args(["/usr/bin/id", "alice"]));
    assert_eq!(
        id.trim(),
        "uid=1000(alice) gid=1000(alice) groups=1000(alice),29(audio),44(video),2000(devs)"
    );

    // sshkey: 0700 ~/.ssh and 0600 authorized_keys owned by the user.
    let ssh = a.join("home/alice/.ssh");
    let m = std::fs::metadata(&ssh).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o700, 1000, 1000));
    let k = ssh.join("authorized_keys");
    let m = std::fs::metadata(&k).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o600, 1000, 1000));
    assert_eq!(
        std::fs::read_to_string(&k).unwrap(),
        "ssh-ed25519 AAAAC3Nza alice@host\n"
    );

    // rootpw --lock keeps the hash behind `!`; a second run is a no-op for existing users.
    let k = ks("rootpw --lock --iscrypted $6$q$w\nuser --name=alice\n");
    let rep = configure::configure(&k, &a, &opts()).unwrap();
    assert_eq!(shadow_field(&a, "root"), "!$6$q$w");
    assert_eq!(rep.warnings.len(), 1, "{:?}", rep.warnings);

    // sshkey for a missing user names the line.
    let k = ks("\n\nsshkey --username=nobody2 \"ssh-rsa AAA\"\n");
    match configure::configure(&k, &a, &opts()) {
        Err(ConfigureError::UnknownUser { origin, user, .. }) => {
            assert_eq!((origin.line, user.as_str()), (3, "nobody2"))
        }
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

#[test]
fn locale_files_match_systemd_firstboot() {
    let (Some(a), Some(b)) = (copy_root("loc-a"), copy_root("loc-b")) else {
        return;
    };
    // tzdata is not in the fixture set: the host's zone file stands in for it.
    for r in [&a, &b] {
        std::fs::create_dir_all(r.join("usr/share/zoneinfo/Europe")).unwrap();
        std::fs::copy(
            "/usr/share/zoneinfo/Europe/Prague",
            r.join("usr/share/zoneinfo/Europe/Prague"),
        )
        .unwrap();
        let _ = std::fs::remove_file(r.join("etc/hostname"));
    }
    let k = ks(concat!(
        "lang cs_CZ.UTF-8\n",
        "keyboard --vckeymap=cz --xlayouts='cz (qwerty)','us' --switch='grp:alt_shift_toggle'\n",
        "timezone Europe/Prague --utc\n",
        "network --hostname=kilnhost\n",
    ));
    let rep = configure::configure(&k, &a, &opts()).unwrap();
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
    run(Command::new("systemd-firstboot")
        .arg("--root")
        .arg(&b)
        .args([
            "--locale=cs_CZ.UTF-8",
            "--keymap=cz",
            "--timezone=Europe/Prague",
            "--hostname=kilnhost",
            "--force",
        ]));
    // Debian's systemd-firstboot writes the locale to /etc/default/locale; the format is the same.
    let theirs_locale = std::fs::read_to_string(b.join("etc/locale.conf"))
        .or_else(|_| std::fs::read_to_string(b.join("etc/default/locale")))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(a.join("etc/locale.conf")).unwrap(),
        theirs_locale
    );
    for f in ["etc/vconsole.conf", "etc/hostname"] {
        assert_eq!(
            std::fs::read_to_string(a.join(f)).unwrap(),
            std::fs::read_to_string(b.join(f)).unwrap(),
            "{f}"
        );
    }
    assert_eq!(
        std::fs::read_link(a.join("etc/localtime")).unwrap(),
        std::fs::read_link(b.join("etc/localtime")).unwrap()
    );
    // Programs in the root see the zone.
    let tz =
        run(Command::new("chroot")
            .arg(&a)
            .args(["/usr/bin/date", "-d", "@1700000000", "+%Z %H"]));
    assert_eq!(tz.trim(), "CET 23");
    let x11 = std::fs::read_to_string(a.join("etc/X11/xorg.conf.d/00-keyboard.conf")).unwrap();
    assert!(x11.contains("Option \"XkbLayout\" \"cz,us\"\n"), "{x11}");
    assert!(x11.contains("Option \"XkbVariant\" \"qwerty,\"\n"), "{x11}");

    // An unknown zone names the line and the zone.
    let k = ks("\ntimezone Mars/Olympus_Mons\n");
    match configure::configure(&k, &a, &opts()) {
        Err(e @ ConfigureError::UnknownTimezone { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("test.ks:2") && msg.contains("Mars/Olympus_Mons"),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

#[test]
fn selinux_network_firewall() {
    let Some(a) = copy_root("misc") else {
        return;
    };
    std::fs::write(
        a.join("etc/selinux/config"),
        "# comment\nSELINUX=enforcing\nSELINUXTYPE=targeted\n",
    )
    .unwrap();
    let k = ks(concat!(
        "selinux --permissive\n",
        "network --device=eth0 --bootproto=static --ip=192.0.2.10 --netmask=255.255.255.0 --gateway=192.0.2.1 --nameserver=192.0.2.53\n",
        "firewall --enabled --port=8080:tcp\n",
    ));
    let rep = configure::configure(&k, &a, &opts()).unwrap();
    assert_eq!(
        std::fs::read_to_string(a.join("etc/selinux/config")).unwrap(),
        "# comment\nSELINUX=permissive\nSELINUXTYPE=targeted\n"
    );
    // The Debian root has systemd-networkd but no NetworkManager.
    assert_eq!(rep.network_backend, Some(NetworkBackend::SystemdNetworkd));
    let net =
        std::fs::read_to_string(a.join("etc/systemd/network/20-kickstart-eth0.network")).unwrap();
    assert!(
        net.contains("Address=192.0.2.10/24\nGateway=192.0.2.1\n"),
        "{net}"
    );
    // No firewall-offline-cmd in this root: a warning, nothing run.
    assert!(
        rep.warnings.iter().any(|w| w.command == "firewall"),
        "{:?}",
        rep.warnings
    );

    // With one, it runs inside the root with Anaconda's arguments.
    std::fs::write(
        a.join("usr/bin/firewall-offline-cmd"),
        "#!/bin/sh\necho \"$@\" > /root/firewall-args\n",
    )
    .unwrap();
    run(Command::new("chmod")
        .arg("755")
        .arg(a.join("usr/bin/firewall-offline-cmd")));
    let rep = configure::configure(&k, &a, &opts()).unwrap();
    assert!(!rep.warnings.iter().any(|w| w.command == "firewall"));
    assert_eq!(
        std::fs::read_to_string(a.join("root/firewall-args")).unwrap(),
        "--enabled --port=8080:tcp --service=ssh\n"
    );
    let _ = std::fs::remove_dir_all(&a);
}

#[test]
fn post_scripts() {
    let Some(a) = copy_root("post") else {
        return;
    };
    let live = Path::new(env!("CARGO_TARGET_TMPDIR")).join("configure-post-live");
    std::fs::create_dir_all(&live).unwrap();
    let k = ks(concat!(
        "%post\n",
        "echo in-chroot > /root/created\n",
        "%end\n",
        "%post --nochroot --log=/dev/null\n",
        "echo \"$INSTALL_ROOT|$LIVE_ROOT\" > \"$INSTALL_ROOT/root/env\"\n",
        "%end\n",
        "%post --log=/root/post.log\n",
        "echo logged; echo to-stderr >&2\n",
        "%end\n",
        "%post --interpreter=/usr/bin/perl\n",
        "open(F, '>', '/root/perl') or die; print F \"perl $]\\n\";\n",
        "%end\n",
        "%post\n",
        "exit 4\n",
        "%end\n",
    ));
    let mut o = opts();
    o.live_root = Some(live.clone());
    let runs = configure::run_post(&k, &a, &o).unwrap();
    assert_eq!(runs.len(), 5);
    assert_eq!(runs[4].status, 4);
    assert_eq!(
        std::fs::read_to_string(a.join("root/created")).unwrap(),
        "in-chroot\n"
    );
    assert_eq!(
        std::fs::read_to_string(a.join("root/env")).unwrap(),
        format!("{}|{}\n", a.display(), live.display())
    );
    assert_eq!(
        std::fs::read_to_string(a.join("root/post.log")).unwrap(),
        "logged\nto-stderr\n"
    );
    assert!(std::fs::read_to_string(a.join("root/perl"))
        .unwrap()
        .starts_with("perl 5.036"));

    // --erroronfail: the error names the section's line.
    let k = ks("lang en_US.UTF-8\n%post --erroronfail\necho boom\nexit 3\n%end\n");
    match configure::run_post(&k, &a, &o) {
        Err(e @ ConfigureError::ScriptFailed { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("test.ks:2") && msg.contains("exit status 3") && msg.contains("boom"),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }

    // %pre runs on the host.
    let marker = live.join("pre-ran");
    let k = ks(&format!(
        "%pre --log={}\necho pre > {}\necho pre-log\n%end\n",
        live.join("pre.log").display(),
        marker.display()
    ));
    let runs = configure::run_pre(&k, &o).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "pre\n");
    assert_eq!(
        std::fs::read_to_string(live.join("pre.log")).unwrap(),
        "pre-log\n"
    );
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&live);
}
