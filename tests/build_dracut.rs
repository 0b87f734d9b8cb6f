//! `kiln build --dracut-arg`/`--dracut-conf` and the network of chroot `%post`, end to end on
//! the live-x86_64 fixture, checked with dracut's own `lsinitrd` (on the host), `skipcpio` and
//! `unsquashfs`:
//! - build A (`--dracut-arg` only): dracut ran with exactly those arguments (lsinitrd's
//!   `Arguments:` line, written by dracut into the image) and none of kiln's defaults, the file
//!   `--install` named is in the image and the module `--omit` named is not, while the shared
//!   default build's initramfs has that module and the defaults; its `%post` fetched a file from
//!   an HTTP server on 127.0.0.1 (python's http.server) with the host's resolv.conf in place,
//!   and the root image holds the fetched file and the resolv.conf the packages left;
//! - build B (the same kickstart, `--dracut-conf` and a `--dracut-arg` it overrides):
//!   dracut ran with `--conf` only, the file's `install_items` and `omit_dracutmodules` took
//!   effect, and its `compress="cat"` was dracut's to apply (the image is a plain cpio, where
//!   kiln's own compression is zstd for this kernel; `cat`, not gzip: dracut's `gzip -9` took
//!   five minutes of this machine);
//! - build C (the synthetic set, `--post-network none`): the same fetch fails in `%post`.
//!
//! Needs root, the fixtures, dracut-core (lsinitrd), squashfs-tools, xorriso and python3.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::run_ok;

/// The dracut module build A omits: in the default live initramfs of the fixture (checked
/// below), harmless to leave out for this test.
const OMITTED: &str = "qemu";
/// The dracut module the `--dracut-conf` file omits.
const CONF_OMITTED: &str = "terminfo";

fn ready() -> Option<PathBuf> {
    if !rustix::process::geteuid().is_root() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "build tests need root under CI"
        );
        eprintln!("SKIP: not root");
        return None;
    }
    for t in [
        "/usr/bin/lsinitrd",
        "/usr/lib/dracut/skipcpio",
        "/usr/bin/unsquashfs",
        "/usr/bin/xorriso",
        "/usr/bin/python3",
    ] {
        if !common::have_tool(t) {
            return None;
        }
    }
    common::fixtures()
}

/// `kiln build` with `args`; its stderr, after asserting the exit code.
fn kiln_build(args: &[&str], work: &Path, expect: i32) -> String {
    let out = Command::new(common::kiln())
        .arg("build")
        .args(["--compression", "zstd", "--compress-arg", "level=3"])
        .arg("--tmpdir")
        .arg(work)
        .arg("--cache")
        .arg(work.join("cache"))
        .arg("--resultdir")
        .arg(work.join("out"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(expect), "kiln build:\n{stderr}");
    // The stage table.
    let mut table = stderr.lines().skip_while(|l| !l.starts_with("stage "));
    for l in table.by_ref() {
        eprintln!("{l}");
        if l.starts_with("total") {
            break;
        }
    }
    stderr
}

/// What lsinitrd says of an initramfs: the `Arguments:` line dracut recorded (its shell quotes
/// taken out), the dracut modules (`lsinitrd -m`) and the paths it lists.
struct Lsinitrd {
    arguments: String,
    modules: Vec<String>,
    listing: String,
}

fn lsinitrd(img: &Path) -> Lsinitrd {
    let all = run_ok(Command::new("lsinitrd").arg(img));
    let arguments = all
        .lines()
        .find_map(|l| l.strip_prefix("Arguments: "))
        .unwrap_or_else(|| panic!("no Arguments: line from lsinitrd {}", img.display()))
        .replace('\'', "");
    let m = run_ok(Command::new("lsinitrd").arg("-m").arg(img));
    let modules = m
        .lines()
        .skip_while(|l| !l.starts_with("dracut modules:"))
        .skip(1)
        .take_while(|l| !l.starts_with("===="))
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    Lsinitrd {
        arguments,
        modules,
        listing: all,
    }
}

/// Whether lsinitrd's listing has `path` (its `ls -l` lines end with the path, no leading /).
fn lists(l: &Lsinitrd, path: &str) -> bool {
    l.listing
        .lines()
        .any(|line| line.split_whitespace().last() == Some(path))
}

fn unsquashfs_cat(img: &Path, path: &str) -> Option<String> {
    let out = Command::new("unsquashfs")
        .arg("-cat")
        .arg(img)
        .arg(path)
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A `%post --nochroot` that records the state of the root's /etc/resolv.conf in `file`.
fn record_resolv(file: &Path) -> String {
    format!(
        "%post --nochroot\n\
         r=\"$INSTALL_ROOT/etc/resolv.conf\"\n\
         if [ -L \"$r\" ]; then echo \"link $(readlink \"$r\")\"; \
         elif [ -e \"$r\" ]; then echo \"file $(sha256sum < \"$r\")\"; \
         else echo absent; fi > {}\n\
         %end\n",
        file.display()
    )
}

#[test]
fn dracut_args_conf_and_post_network() {
    let Some(fx) = ready() else { return };
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("build-dracut");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let served = work.join("served");
    std::fs::create_dir_all(&served).unwrap();
    let payload = format!(
        "fetched by %post from the test's server {}\n",
        std::process::id()
    );
    std::fs::write(served.join("payload.txt"), &payload).unwrap();
    let server = common::HttpServer::start(&served);
    let url = format!("http://127.0.0.1:{}/payload.txt", server.port);

    // The default initramfs of the fixture, for comparison: the shared build's.
    let (shared, _, _) = common::live_x86_64_shared(&fx);
    let default_initrd = work.join("default-initrd.img");
    run_ok(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(&shared.iso)
            .args(["-extract", "/images/pxeboot/initrd.img"])
            .arg(&default_initrd),
    );
    let default = lsinitrd(&default_initrd);
    eprintln!("default dracut arguments: {}", default.arguments);
    for d in [
        "--no-hostonly-cmdline",
        "--omit plymouth",
        "--add dmsquash-live",
    ] {
        assert!(default.arguments.contains(d), "{}", default.arguments);
    }
    // The fixture has dracut-network and dhclient: only kiln's default --add takes
    // network-legacy in (dracut 059 picks systemd-networkd on its own).
    for m in [OMITTED, CONF_OMITTED, "network-legacy"] {
        assert!(
            default.modules.iter().any(|x| x == m),
            "the default initramfs has no {m}: {:?}",
            default.modules
        );
    }
    assert!(!lists(&default, "etc/kiln-fixture"));

    // `kiln build --help` prints those defaults (all but what kiln always passes).
    let help = run_ok(Command::new(common::kiln()).args(["build", "--help"]));
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let (defaults, _) = default
        .arguments
        .split_once("--no-compress")
        .expect("the default build's own arguments come first");
    let (plain, added) = defaults.split_once("--add").unwrap();
    assert!(
        help.contains(plain.trim()),
        "--help lacks `{plain}`:\n{help}"
    );
    for m in added.split_whitespace() {
        assert!(help.contains(m), "--help lacks the module {m}:\n{help}");
    }

    // Build A: --dracut-arg, %post with the host's network.
    let before = work.join("resolv-before");
    let after = work.join("resolv-after");
    let ks_a = work.join("a.ks");
    std::fs::write(
        &ks_a,
        format!(
            "%include {}\n{}\
             %post\n\
             busybox wget -q -O /etc/kiln-fetched {url}\n\
             echo \"wget=$?\" > /etc/kiln-fetch-status\n\
             cat /etc/resolv.conf > /etc/kiln-resolv-seen || true\n\
             %end\n{}",
            fx.join("ks/live-x86_64.ks").display(),
            record_resolv(&before),
            record_resolv(&after),
        ),
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    kiln_build(
        &[
            "--ks",
            ks_a.to_str().unwrap(),
            "-f",
            "KILN-DRA",
            "--make-pxe-live",
            "--dracut-arg",
            "--no-hostonly",
            "--dracut-arg",
            &format!("--omit {OMITTED}"),
            "--dracut-arg",
            "--install /etc/kiln-fixture",
        ],
        &work,
        0,
    );
    eprintln!("build A: {:.0} s", t0.elapsed().as_secs_f64());
    let pxe = work.join("out/KILN-DRA-pxe");
    let a = lsinitrd(&pxe.join("initrd.img"));
    eprintln!("build A dracut arguments: {}", a.arguments);
    for given in [
        "--no-hostonly",
        &format!("--omit {OMITTED}"),
        "--install /etc/kiln-fixture",
    ] {
        assert!(a.arguments.contains(given), "{}", a.arguments);
    }
    for default_only in ["--no-hostonly-cmdline", "plymouth", "--add"] {
        assert!(!a.arguments.contains(default_only), "{}", a.arguments);
    }
    // Neither the omitted module nor what only the defaults' --add brings in.
    for m in [OMITTED, "network-legacy"] {
        assert!(!a.modules.iter().any(|x| x == m), "{m}: {:?}", a.modules);
    }
    // The live module still comes from kiln's 99-liveos.conf.
    assert!(a.modules.iter().any(|m| m == "dmsquash-live"));
    assert!(lists(&a, "etc/kiln-fixture"), "--install: not in the image");
    // %post reached the server, with the host's name servers in place.
    let sq = pxe.join("live-rootfs.squashfs.img");
    assert_eq!(
        unsquashfs_cat(&sq, "etc/kiln-fetch-status").as_deref(),
        Some("wget=0\n")
    );
    assert_eq!(
        unsquashfs_cat(&sq, "etc/kiln-fetched").as_deref(),
        Some(payload.as_str())
    );
    if let Ok(host) = std::fs::read_to_string("/etc/resolv.conf") {
        assert_eq!(
            unsquashfs_cat(&sq, "etc/kiln-resolv-seen").as_deref(),
            Some(host.as_str())
        );
    }
    // resolv.conf as the packages left it: the same before and after the chroot %post, and
    // the image has it so.
    let (b, a_) = (
        std::fs::read_to_string(&before).unwrap(),
        std::fs::read_to_string(&after).unwrap(),
    );
    eprintln!("resolv.conf before %post: {b}");
    assert_eq!(b, a_);
    let in_image = run_ok(
        Command::new("unsquashfs")
            .arg("-lls")
            .arg(&sq)
            .arg("etc/resolv.conf"),
    );
    match b.split_whitespace().next() {
        Some("absent") => assert!(!in_image.contains("etc/resolv.conf"), "{in_image}"),
        Some("link") => assert!(
            in_image.contains(&format!("etc/resolv.conf -> {}", b[5..].trim())),
            "{in_image}"
        ),
        _ => {
            use sha2::Digest;
            let text = unsquashfs_cat(&sq, "etc/resolv.conf").unwrap();
            let hex: String = sha2::Sha256::digest(text.as_bytes())
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect();
            assert_eq!(b, format!("file {hex}  -\n"));
        }
    }
    let _ = std::fs::remove_dir_all(work.join("cache"));

    // Build B: the same kickstart, --dracut-conf (and an argument it overrides).
    let conf = work.join("lmc-dracut.conf");
    std::fs::write(
        &conf,
        format!(
            "# as livemedia-creator --dracut-conf takes it\n\
             omit_dracutmodules+=\" {CONF_OMITTED} \"\n\
             install_items+=\" /etc/kiln-fetched \"\n\
             compress=\"cat\"\n"
        ),
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    let err_b = kiln_build(
        &[
            "--ks",
            ks_a.to_str().unwrap(),
            "-f",
            "KILN-DRB",
            "--make-pxe-live",
            "--dracut-conf",
            conf.to_str().unwrap(),
            "--dracut-arg",
            "--install /etc/os-release",
        ],
        &work,
        0,
    );
    eprintln!("build B: {:.0} s", t0.elapsed().as_secs_f64());
    assert!(
        err_b.contains("--dracut-conf is given: the --dracut-arg arguments are not used"),
        "{err_b}"
    );
    let pxe_b = work.join("out/KILN-DRB-pxe");
    let initrd_b = pxe_b.join("initrd.img");
    let b_ = lsinitrd(&initrd_b);
    eprintln!("build B dracut arguments: {}", b_.arguments);
    assert!(
        b_.arguments.contains("--conf /var/tmp/kiln-dracut.conf"),
        "{}",
        b_.arguments
    );
    for not in [
        "/etc/os-release",
        "--no-hostonly-cmdline",
        "plymouth",
        "--add",
    ] {
        assert!(!b_.arguments.contains(not), "{}", b_.arguments);
    }
    for m in [CONF_OMITTED, "network-legacy"] {
        assert!(!b_.modules.iter().any(|x| x == m), "{m}: {:?}", b_.modules);
    }
    assert!(
        lists(&b_, "etc/kiln-fetched"),
        "install_items: not in the image"
    );
    // Nothing of it is compressed: it starts as a newc cpio, and what follows the first
    // archive (skipcpio skips an early cpio) is nothing or another plain cpio. dracut's
    // choice: kiln's would be zstd, as the default build's is.
    let image = std::fs::read(&initrd_b).unwrap();
    assert_eq!(
        &image[..6],
        b"070701",
        "not a plain cpio: {:02x?}",
        &image[..6]
    );
    let rest = Command::new("/usr/lib/dracut/skipcpio")
        .arg(&initrd_b)
        .output()
        .unwrap()
        .stdout;
    assert!(
        rest.is_empty() || rest.starts_with(b"070701"),
        "{:02x?}",
        &rest[..6]
    );
    let default_main = Command::new("/usr/lib/dracut/skipcpio")
        .arg(&default_initrd)
        .output()
        .unwrap()
        .stdout;
    assert_eq!(
        &default_main[..4],
        b"\x28\xb5\x2f\xfd",
        "the default is not zstd"
    );
    // The copy of the file was not left in the root.
    assert!(unsquashfs_cat(
        &pxe_b.join("live-rootfs.squashfs.img"),
        "var/tmp/kiln-dracut.conf"
    )
    .is_none());

    // Build C: --post-network none (the synthetic set, no kernel: the build stops after
    // %post, which records what it got on the host through a --nochroot script).
    let status_c = work.join("fetch-status-none");
    let ks_c = work.join("c.ks");
    std::fs::write(
        &ks_c,
        format!(
            "%include {}\n\
             %post\nbusybox wget -q -O /kiln-fetched {url}\necho \"wget=$?\" > /kiln-fetch-status\n%end\n\
             %post --nochroot\ncp \"$INSTALL_ROOT/kiln-fetch-status\" {}\n%end\n",
            fx.join("ks/synthetic.ks").display(),
            status_c.display()
        ),
    )
    .unwrap();
    let err_c = kiln_build(
        &[
            "--ks",
            ks_c.to_str().unwrap(),
            "-f",
            "KILN-DRC",
            "--post-network",
            "none",
        ],
        &work,
        1,
    );
    assert!(err_c.contains("no kernel found in the root"), "{err_c}");
    let status = std::fs::read_to_string(&status_c).unwrap();
    eprintln!("--post-network none: %post's {}", status.trim());
    assert_ne!(status.trim(), "wget=0");
    drop(server);
    let _ = std::fs::remove_dir_all(&work);
}
