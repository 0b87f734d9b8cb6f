//! `kiln write erofs`'s options and conventions, checked with the reference tools: the kernel's
//! erofs mount (owners, modes, mtimes, xattrs), `dump.erofs` (erofs-utils) for the superblock's
//! UUID and the superblock bytes as the kernel's erofs_fs.h lays them out (volume name, build
//! time); SOURCE_DATE_EPOCH reproducibility; bad options exit 1; an interrupt leaves nothing.
//! The writer's own round trip (every entry type and algorithm): writers/tests/erofs_kernel.rs.
//! Root is needed for loop mounts and owners: without it the tests fail under CI=true and are
//! skipped with a printed reason elsewhere.

mod common;

use common::{have, is_root, require};

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn kiln() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kiln"));
    c.env("NO_COLOR", "1").env_remove("SOURCE_DATE_EPOCH");
    c
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Unmounts on drop, so a failed assertion leaves no mount behind.
struct Mount(PathBuf);
impl Mount {
    fn erofs(img: &Path, dir: &Path) -> Mount {
        fs::create_dir_all(dir).unwrap();
        run(Command::new("mount")
            .args(["-t", "erofs", "-o", "loop,ro"])
            .arg(img)
            .arg(dir));
        Mount(dir.to_owned())
    }
}
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A small tree: text, a binary-ish file, a symlink, a subdirectory, other owners, an xattr.
fn make_tree(src: &Path) {
    fs::create_dir_all(src.join("sub/deeper")).unwrap();
    for i in 0..300 {
        fs::write(src.join(format!("sub/f{i}")), format!("{i} ").repeat(i)).unwrap();
    }
    let text: String = (0..40_000)
        .map(|i| format!("line {i} of some text\n"))
        .collect();
    fs::write(src.join("text"), &text).unwrap();
    fs::write(src.join("copy"), &text).unwrap();
    std::os::unix::fs::symlink("text", src.join("link")).unwrap();
    std::os::unix::fs::chown(src.join("text"), Some(1234), Some(4321)).unwrap();
    run(Command::new("setfattr")
        .args(["-n", "user.kiln", "-v", "erofs"])
        .arg(src.join("text")));
    // Times after the clamp below, so clamping shows.
    run(Command::new("touch")
        .args(["-h", "-d", "@1800000000"])
        .arg(src.join("text"))
        .arg(src.join("link")));
}

/// The superblock (at 1024) of an image.
fn superblock(img: &Path) -> Vec<u8> {
    fs::read(img).unwrap()[1024..1024 + 128].to_vec()
}

#[test]
fn write_erofs_options_reach_the_image() {
    if !require(is_root(), "needs root (chown, loop mounts)")
        || !require(
            have("dump.erofs") && have("getfattr") && have("setfattr"),
            "needs erofs-utils and attr",
        )
    {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    make_tree(&src);

    // Defaults: lz4hc, owners, xattrs, mtimes as in the source.
    let img = work.path().join("default.erofs");
    run(kiln().args(["write", "erofs"]).arg(&src).arg(&img));
    assert!(!work.path().join("default.erofs.partial").exists());
    {
        let m = Mount::erofs(&img, &work.path().join("m0"));
        let md = fs::metadata(m.0.join("text")).unwrap();
        assert_eq!(
            (md.uid(), md.gid(), md.mtime()),
            (1234, 4321, 1_800_000_000)
        );
        assert_eq!(
            fs::read(m.0.join("copy")).unwrap(),
            fs::read(src.join("text")).unwrap()
        );
        let x = run(Command::new("getfattr")
            .args(["-n", "user.kiln", "--only-values"])
            .arg(m.0.join("text")));
        assert_eq!(x, "erofs");
        assert_eq!(fs::read_link(m.0.join("link")).unwrap(), Path::new("text"));
    }

    // -U, -L, -T, --all-root, --no-xattrs, -z none, -C.
    let uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    let img = work.path().join("opts.erofs");
    run(kiln()
        .args([
            "write",
            "erofs",
            "-U",
            uuid,
            "-L",
            "KILN-LIVE",
            "-T",
            "1700000000",
        ])
        .args(["--all-root", "--no-xattrs", "-z", "none", "-C", "64K"])
        .arg(&src)
        .arg(&img));
    let dump = run(Command::new("dump.erofs").arg("-s").arg(&img));
    assert!(dump.contains(uuid), "{dump}");
    let sb = superblock(&img);
    // volume_name at +64, build_time at +24 (erofs_super_block).
    assert_eq!(&sb[64..73], b"KILN-LIVE");
    assert_eq!(
        u64::from_le_bytes(sb[24..32].try_into().unwrap()),
        1_700_000_000
    );
    {
        let m = Mount::erofs(&img, &work.path().join("m1"));
        let md = fs::metadata(m.0.join("text")).unwrap();
        assert_eq!((md.uid(), md.gid()), (0, 0));
        assert_eq!(md.mtime(), 1_700_000_000, "clamped to -T");
        let old = fs::metadata(m.0.join("sub/f7")).unwrap().mtime();
        assert_eq!(
            old,
            fs::metadata(src.join("sub/f7"))
                .unwrap()
                .mtime()
                .min(1_700_000_000)
        );
        let x = Command::new("getfattr")
            .args(["-d", "-m", "-"])
            .arg(m.0.join("text"))
            .output()
            .unwrap();
        assert!(!String::from_utf8_lossy(&x.stdout).contains("user.kiln"));
        assert_eq!(
            fs::read(m.0.join("text")).unwrap(),
            fs::read(src.join("text")).unwrap()
        );
    }
    // Uncompressed: the image holds the text as it is.
    let raw = fs::read(&img).unwrap();
    let needle = b"line 39999 of some text\n";
    assert!(
        raw.windows(needle.len()).any(|w| w == needle),
        "-z none compressed the data"
    );
    let compressed = fs::metadata(work.path().join("default.erofs"))
        .unwrap()
        .len();
    assert!(compressed < raw.len() as u64);
}

#[test]
fn write_erofs_is_reproducible_with_source_date_epoch() {
    if !require(is_root(), "needs root (chown)") || !require(have("setfattr"), "needs attr") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    make_tree(&src);
    let mut images = Vec::new();
    for n in 0..2 {
        let img = work.path().join(format!("{n}.erofs"));
        run(kiln()
            .args([
                "write",
                "erofs",
                "-z",
                "lz4hc",
                "--processors",
                &(n + 1).to_string(),
            ])
            .arg(&src)
            .arg(&img)
            .env("SOURCE_DATE_EPOCH", "1700000000"));
        images.push(fs::read(&img).unwrap());
    }
    assert!(images[0] == images[1], "two runs (1 and 2 threads) differ");
    let sb = superblock(&work.path().join("0.erofs"));
    assert_eq!(
        u64::from_le_bytes(sb[24..32].try_into().unwrap()),
        1_700_000_000
    );
    // The UUID comes from the content: another tree, another UUID.
    fs::write(src.join("sub/f1"), "changed").unwrap();
    let img = work.path().join("2.erofs");
    run(kiln()
        .args(["write", "erofs"])
        .arg(&src)
        .arg(&img)
        .env("SOURCE_DATE_EPOCH", "1700000000"));
    assert_ne!(
        superblock(&img)[48..64],
        sb[48..64],
        "same UUID for other content"
    );
}

#[test]
fn write_erofs_bad_options_exit_1() {
    let work = tempfile::tempdir().unwrap();
    for args in [
        vec!["-z", "brotli"],
        vec!["-z", "lz4hc,13"],
        vec!["-z", "lzma,x"],
        vec!["-C", "1000"],
        vec!["-C", "lots"],
        vec!["-U", "not-a-uuid"],
        vec!["-L", "a volume name longer than sixteen bytes"],
    ] {
        let out = kiln()
            .args(["write", "erofs"])
            .arg(work.path())
            .arg(work.path().join("x.erofs"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!work.path().join("x.erofs").exists(), "{args:?}");
        assert!(!work.path().join("x.erofs.partial").exists(), "{args:?}");
    }
    // A source that does not exist is named.
    let out = kiln()
        .args(["write", "erofs"])
        .arg(work.path().join("missing"))
        .arg(work.path().join("x.erofs"))
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
}

/// SIGINT (Ctrl-C) while the image is written: exit 130 with the interrupt message, and
/// neither the image nor its `.partial` is left.
#[test]
fn write_erofs_interrupted() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    // 96 MiB of compressible but varied text: MicroLZMA needs many seconds for it.
    common::write_text_files(&src, 0x9e37_79b9_7f4a_7c15, 24, 4 << 20);
    let out = work.path().join("out");
    fs::create_dir(&out).unwrap();
    let child = kiln()
        .args(["write", "erofs", "-z", "lzma,9"])
        .arg(&src)
        .arg(out.join("img.erofs"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let partial = out.join("img.erofs.partial");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !partial.exists() {
        assert!(Instant::now() < deadline, "the image was never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    run(Command::new("kill").args(["-INT", &child.id().to_string()]));
    let res = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(130), "{err}");
    assert!(
        err.lines()
            .last()
            .is_some_and(|l| l.starts_with("kiln: interrupted")),
        "{err}"
    );
    let left: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
