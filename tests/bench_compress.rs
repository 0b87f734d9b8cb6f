//! `kiln bench-compress` end to end: one small tree (text, an ELF binary, random bytes, zeros,
//! symlinks) benchmarked from a directory, a squashfs image and two ISOs. The reports must
//! parse and agree with each other and with the image files, and every image must be readable
//! by `unsquashfs` (the reference tool) with the codec and block size asked for.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kiln(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env("TMPDIR", dir.join("tmp"))
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "kiln failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn require(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{tool} is required under CI");
        }
        eprintln!("SKIP: {tool} not installed");
    }
    found
}

/// About 5 MB: compressible text, a real ELF binary (BCJ's target), incompressible random
/// bytes, a run of zeros, and whatever licence texts and symlinks the host ships.
fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("bin")).unwrap();
    let text: String = (0..60_000)
        .map(|i| {
            format!(
                "line {i}: the quick brown fox jumps over the lazy dog {}\n",
                i % 97
            )
        })
        .collect();
    std::fs::write(root.join("text.txt"), text).unwrap();
    std::fs::copy("/bin/ls", root.join("bin/ls")).unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let random: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(root.join("random.bin"), random).unwrap();
    std::fs::write(root.join("zeros.bin"), vec![0u8; 2 << 20]).unwrap();
    std::os::unix::fs::symlink("text.txt", root.join("link")).unwrap();
    let licenses = Path::new("/usr/share/common-licenses");
    if licenses.is_dir() {
        let status = Command::new("cp")
            .args(["-a", licenses.to_str().unwrap()])
            .arg(root.join("licenses"))
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// Sum of regular file sizes, the benchmark's "uncompressed" figure.
fn file_bytes(root: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            let md = std::fs::symlink_metadata(e.path()).unwrap();
            if md.is_dir() {
                stack.push(e.path());
            } else if md.is_file() {
                total += md.len();
            }
        }
    }
    total
}

/// One CSV line's fields; a quoted field may hold commas and doubled quotes (RFC 4180).
fn csv_fields(line: &str) -> Vec<String> {
    let (mut fields, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

struct Reports {
    json: serde_json::Value,
    csv: Vec<Vec<String>>,
}

/// Read and cross-check the three reports in `dir`; returns them for further checks.
fn reports(dir: &Path, labels: &[&str]) -> Reports {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bench-compress.json")).unwrap())
            .unwrap();
    let results = json["results"].as_array().unwrap();
    let got: Vec<&str> = results
        .iter()
        .map(|r| r["setting"].as_str().unwrap())
        .collect();
    assert_eq!(got, labels);

    let csv_text = std::fs::read_to_string(dir.join("bench-compress.csv")).unwrap();
    let csv: Vec<Vec<String>> = csv_text.lines().map(csv_fields).collect();
    let header = &csv[0];
    assert_eq!(header[0], "setting");
    assert_eq!(csv.len(), labels.len() + 1, "{csv_text}");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    for (row, r) in csv[1..].iter().zip(results) {
        assert_eq!(row.len(), header.len());
        assert_eq!(row[col("setting")], r["setting"].as_str().unwrap());
        assert_eq!(
            row[col("image_bytes")].parse::<u64>().unwrap(),
            r["image_bytes"].as_u64().unwrap()
        );
        for f in [
            "ratio",
            "compress_wall_s",
            "compress_cpu_s",
            "decompress_mb_s",
        ] {
            let v: f64 = row[col(f)].parse().unwrap();
            assert!(v.is_finite() && v >= 0.0, "{f} = {v}");
        }
        assert!(r["decompress_mb_s"].as_f64().unwrap() > 0.0);
        assert!(r["ratio"].as_f64().unwrap() > 1.0, "{r}");
    }

    // The chart is well-formed XML with one point and one label per setting.
    let svg = std::fs::read_to_string(dir.join("bench-compress.svg")).unwrap();
    let mut reader = quick_xml::Reader::from_str(&svg);
    let (mut circles, mut texts) = (0, Vec::new());
    let mut in_text = false;
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Empty(e) if e.name().as_ref() == b"circle" => circles += 1,
            quick_xml::events::Event::Start(e) if e.name().as_ref() == b"text" => in_text = true,
            quick_xml::events::Event::Text(t) if in_text => {
                texts.push(t.unescape().unwrap().into_owned());
            }
            quick_xml::events::Event::End(_) => in_text = false,
            _ => {}
        }
    }
    assert_eq!(circles, labels.len());
    for l in labels {
        assert!(
            texts.iter().any(|t| t == l),
            "label {l} missing in {texts:?}"
        );
    }
    Reports { json, csv }
}

/// `unsquashfs -s` (compressor, block size) and `-lls` (paths) of an image.
fn unsquashfs(image: &Path) -> (String, u32, BTreeSet<PathBuf>) {
    let out = Command::new("unsquashfs")
        .arg("-s")
        .arg(image)
        .output()
        .unwrap();
    assert!(out.status.success(), "unsquashfs -s {}", image.display());
    let s = String::from_utf8_lossy(&out.stdout);
    let field = |key: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no `{key}` in {s}"))
            .trim()
            .to_owned()
    };
    let comp = field("Compression ");
    let bs = field("Block size ").parse().unwrap();
    let out = Command::new("unsquashfs")
        .args(["-lls", "-d", "R"])
        .arg(image)
        .output()
        .unwrap();
    assert!(out.status.success(), "unsquashfs -lls {}", image.display());
    let paths = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            // `MODE OWNER SIZE DATE TIME R/path[ -> target]`
            let p = l.split_whitespace().nth(5)?;
            p.strip_prefix("R").map(PathBuf::from)
        })
        .collect();
    (comp, bs, paths)
}

#[test]
fn bench_compress_dir_squashfs_and_iso() {
    if !require("unsquashfs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::fs::create_dir(t.join("tmp")).unwrap();
    let tree = t.join("tree");
    make_tree(&tree);
    let bytes = file_bytes(&tree);

    // 1. A directory; --block-size applies to the settings without b=.
    let out1 = t.join("out1");
    let stdout = ok(kiln(
        t,
        &[
            "bench-compress",
            "tree",
            "--codec",
            "xz:bcj=x86:b=1M,lz4,zstd:level=3",
            "--block-size",
            "64K",
            "--output",
            "out1",
        ],
    ));
    let labels = ["xz:bcj=x86:b=1M", "lz4:b=64K", "zstd:level=3:b=64K"];
    for l in labels {
        assert!(stdout.contains(l), "table lacks {l}:\n{stdout}");
    }
    let r1 = reports(&out1, &labels);
    assert_eq!(r1.json["kind"], "dir");
    assert_eq!(r1.json["uncompressed_bytes"].as_u64(), Some(bytes));
    let mut sizes = Vec::new();
    let mut listing = None;
    for (r, (comp, bs)) in r1.json["results"].as_array().unwrap().iter().zip([
        ("xz", 1 << 20),
        ("lz4", 65536),
        ("zstd", 65536),
    ]) {
        let image = out1.join(r["image"].as_str().unwrap());
        let len = std::fs::metadata(&image).unwrap().len();
        assert_eq!(r["image_bytes"].as_u64(), Some(len), "{}", image.display());
        let (c, b, paths) = unsquashfs(&image);
        assert_eq!((c.as_str(), b), (comp, bs), "{}", image.display());
        assert!(paths.contains(Path::new("/random.bin")) && paths.contains(Path::new("/link")));
        match &listing {
            None => listing = Some(paths),
            Some(l) => assert_eq!(l, &paths, "{} lists other paths", image.display()),
        }
        sizes.push(len);
    }
    assert!(
        sizes[0] < sizes[1],
        "xz {} not smaller than lz4 {}",
        sizes[0],
        sizes[1]
    );
    assert!(
        sizes[2] < sizes[1],
        "zstd {} not smaller than lz4 {}",
        sizes[2],
        sizes[1]
    );
    assert_eq!(r1.csv.len(), 4);
    let listing = listing.unwrap();

    // 2. The xz image as input: the same files, recompressed.
    let xz_image = out1.join(r1.json["results"][0]["image"].as_str().unwrap());
    ok(kiln(
        t,
        &[
            "bench-compress",
            xz_image.to_str().unwrap(),
            "--codec",
            "gzip:level=1",
            "-o",
            "out2",
        ],
    ));
    let r2 = reports(&t.join("out2"), &["gzip:level=1"]);
    assert_eq!(r2.json["kind"], "squashfs");
    assert_eq!(r2.json["uncompressed_bytes"].as_u64(), Some(bytes));
    let image = t
        .join("out2")
        .join(r2.json["results"][0]["image"].as_str().unwrap());
    let (comp, _, paths) = unsquashfs(&image);
    assert_eq!((comp.as_str(), &paths), ("gzip", &listing));

    // 3. A live ISO: its LiveOS/squashfs.img is what gets compressed.
    let iso_root = t.join("isoroot/LiveOS");
    std::fs::create_dir_all(&iso_root).unwrap();
    std::fs::copy(&xz_image, iso_root.join("squashfs.img")).unwrap();
    ok(kiln(
        t,
        &["write", "iso", "isoroot", "live.iso", "--volid", "BENCH"],
    ));
    ok(kiln(
        t,
        &[
            "bench-compress",
            "live.iso",
            "--codec",
            "lz4:hc",
            "-o",
            "out3",
        ],
    ));
    let r3 = reports(&t.join("out3"), &["lz4:hc"]);
    assert_eq!(
        (r3.json["kind"].as_str(), r3.json["source"].as_str()),
        (Some("iso"), Some("LiveOS/squashfs.img"))
    );
    assert_eq!(r3.json["uncompressed_bytes"].as_u64(), Some(bytes));
    let image = t
        .join("out3")
        .join(r3.json["results"][0]["image"].as_str().unwrap());
    assert_eq!(unsquashfs(&image).2, listing);

    // 4. An ISO without a live image: its own files. No --output: the reports land in the
    // current directory and the images' temporary directory is removed.
    ok(kiln(
        t,
        &["write", "iso", "tree", "plain.iso", "--volid", "PLAIN"],
    ));
    let cwd = t.join("cwd");
    std::fs::create_dir_all(cwd.join("tmp")).unwrap();
    ok(kiln(
        &cwd,
        &["bench-compress", "../plain.iso", "--codec", "zstd:level=1"],
    ));
    let r4 = reports(&cwd, &["zstd:level=1"]);
    assert_eq!(r4.json["source"], "ISO files");
    assert_eq!(r4.json["uncompressed_bytes"].as_u64(), Some(bytes));
    assert_eq!(
        std::fs::read_dir(t.join("tmp")).unwrap().count(),
        0,
        "temporary files left"
    );

    // Bad input is the user's error (exit 1), not the environment's.
    std::fs::write(t.join("notes.txt"), "not an image").unwrap();
    for args in [
        &["bench-compress", "notes.txt"][..],
        &["bench-compress", "tree", "--codec", "brotli"],
        &["bench-compress", "tree", "--block-size", "3M"],
    ] {
        let out = kiln(t, args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// SIGTERM (as Ctrl-C) while a setting compresses: exit 130 with the interrupt message, and
/// neither a half-written image nor the TMPDIR scratch directory is left.
#[test]
fn bench_compress_interrupted() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-compress-interrupt");
    let _ = std::fs::remove_dir_all(&dir);
    for d in ["src", "tmp", "res"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    // 64 MiB of varied text: xz needs seconds for it, so the signal lands mid-write.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let text: Vec<u8> = (0..64 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b"qwerty uiop\n"[(x % 12) as usize]
        })
        .collect();
    std::fs::write(dir.join("src/a.txt"), text).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .current_dir(&dir)
        .args([
            "bench-compress",
            "--codec",
            "xz,xz:b=1M",
            "--output",
            "res",
            "src",
        ])
        .env("NO_COLOR", "1")
        .env("TMPDIR", dir.join("tmp"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Past loading the input: the first image is being written.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !dir
        .join("res")
        .read_dir()
        .unwrap()
        .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".sqfs"))
    {
        assert!(std::time::Instant::now() < deadline, "no image was started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.lines()
            .last()
            .is_some_and(|l| l.starts_with("kiln: interrupted")),
        "{err}"
    );
    let left: Vec<_> = dir
        .join("res")
        .read_dir()
        .unwrap()
        .chain(dir.join("tmp").read_dir().unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// Unmounts on drop, so a failed assertion leaves no mount behind.
struct Mount(PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Type, size, symlink target and content digest of every entry below `root`.
fn tree_listing(root: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            let md = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let what = if md.is_dir() {
                stack.push(p.clone());
                "dir".to_owned()
            } else if md.is_symlink() {
                format!("link {}", std::fs::read_link(&p).unwrap().display())
            } else {
                let data = std::fs::read(&p).unwrap();
                let sum: u64 = data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
                    (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                });
                format!("file {} {sum:016x}", md.len())
            };
            out.push((rel, what));
        }
    }
    out.sort();
    out
}

/// EROFS settings in the same run, table, CSV, JSON and chart as a squashfs one. Oracles: the
/// image file sizes, `dump.erofs` (erofs-utils) for the superblock, the kernel's erofs mount for
/// the tree, and the superblock's algorithm bitmap as the kernel's erofs_fs.h defines it.
#[test]
fn bench_compress_erofs_settings() {
    if !require("dump.erofs") {
        return;
    }
    if !is_root() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "the EROFS read-back needs root (a loop mount) under CI"
        );
        eprintln!("SKIP: not root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::fs::create_dir(t.join("tmp")).unwrap();
    let tree = t.join("tree");
    make_tree(&tree);
    let bytes = file_bytes(&tree);
    let want = tree_listing(&tree);

    let stdout = ok(kiln(
        t,
        &[
            "bench-compress",
            "tree",
            "--codec",
            "erofs:lz4hc,erofs:lzma,C=65536,lz4:hc,erofs:lz4hc,12,C=64K",
            "--output",
            "out",
        ],
    ));
    eprintln!("{stdout}");
    let labels = [
        "erofs:lz4hc",
        "erofs:lzma,C=65536",
        "lz4:hc",
        "erofs:lz4hc,12,C=64K",
    ];
    for l in labels {
        assert!(stdout.contains(l), "table lacks {l}:\n{stdout}");
    }
    let out = t.join("out");
    let r = reports(&out, &labels);
    assert_eq!(r.json["uncompressed_bytes"].as_u64(), Some(bytes));
    // Labels with commas are quoted in the CSV.
    let csv = std::fs::read_to_string(out.join("bench-compress.csv")).unwrap();
    assert!(
        csv.contains("\"erofs:lzma,C=65536\",erofs,lzma,65536,"),
        "{csv}"
    );
    let results = r.json["results"].as_array().unwrap();
    let expect = [
        ("erofs", "lz4hc", 4096),
        ("erofs", "lzma", 65536),
        ("squashfs", "lz4", 131072),
        ("erofs", "lz4hc", 65536),
    ];
    let mut sizes = Vec::new();
    for (res, (format, codec, bs)) in results.iter().zip(expect) {
        assert_eq!(
            (
                res["format"].as_str().unwrap(),
                res["codec"].as_str().unwrap(),
                res["block_size"].as_u64().unwrap()
            ),
            (format, codec, bs),
            "{res}"
        );
        let image = out.join(res["image"].as_str().unwrap());
        let len = std::fs::metadata(&image).unwrap().len();
        assert_eq!(
            res["image_bytes"].as_u64(),
            Some(len),
            "{}",
            image.display()
        );
        sizes.push(len);
        if format != "erofs" {
            continue;
        }
        assert!(image.to_string_lossy().ends_with(".erofs"));
        // dump.erofs reads the superblock; its block count covers the whole image.
        let dump = Command::new("dump.erofs")
            .arg("-s")
            .arg(&image)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&dump.stdout);
        assert!(
            dump.status.success(),
            "dump.erofs -s {}: {text}",
            image.display()
        );
        let blocks: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("Filesystem blocks:"))
            .unwrap_or_else(|| panic!("no block count in {text}"))
            .trim()
            .parse()
            .unwrap();
        assert_eq!(blocks * 4096, len, "{text}");
        // erofs_super_block at 1024: feature_incompat at +80, then available_compr_algs (with
        // COMPR_CFGS, bit 0x2) as a bitmap of Z_EROFS_COMPRESSION_* (lz4 0, lzma 1).
        let raw = std::fs::read(&image).unwrap();
        let sb = &raw[1024..1024 + 128];
        let incompat = u32::from_le_bytes(sb[80..84].try_into().unwrap());
        let algs = u16::from_le_bytes(sb[84..86].try_into().unwrap());
        if codec == "lzma" {
            assert!(incompat & 2 != 0, "lzma without COMPR_CFGS: {incompat:#x}");
            assert_eq!(algs, 1 << 1, "lzma image's algorithm bitmap");
        } else if incompat & 2 != 0 && bs == 4096 {
            assert_eq!(algs, 1, "lz4 image's algorithm bitmap");
        }
        // The kernel mounts it and shows the source tree.
        let mnt = t.join(format!("mnt-{}", sizes.len()));
        std::fs::create_dir(&mnt).unwrap();
        let st = Command::new("mount")
            .args(["-t", "erofs", "-o", "loop,ro"])
            .arg(&image)
            .arg(&mnt)
            .status()
            .unwrap();
        assert!(st.success(), "mount {}", image.display());
        let guard = Mount(mnt.clone());
        assert!(
            tree_listing(&mnt) == want,
            "{} differs from the tree",
            image.display()
        );
        drop(guard);
        assert!(res["decompress_mb_s"].as_f64().unwrap() > 0.0);
    }
    assert!(
        sizes[1] < sizes[0],
        "erofs lzma {} not smaller than lz4hc {}",
        sizes[1],
        sizes[0]
    );
    // The chart tells the formats apart (a legend when both are plotted).
    let svg = std::fs::read_to_string(out.join("bench-compress.svg")).unwrap();
    assert!(svg.contains(">erofs</text>") && svg.contains(">squashfs</text>"));

    // Without root the kernel mount is impossible: the read-back figure is n/a (an empty CSV
    // field, null in JSON), everything else is measured.
    let shared = t.join("shared");
    std::fs::create_dir(&shared).unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(&tree)
        .arg(shared.join("tree"))
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::create_dir(shared.join("tmp")).unwrap();
    let st = Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(&shared)
        .status()
        .unwrap();
    assert!(st.success());
    let st = Command::new("chmod").arg("755").arg(t).status().unwrap();
    assert!(st.success());
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "bench-compress",
            "tree",
            "--codec",
            "erofs:lz4",
            "-o",
            "res",
        ])
        .current_dir(&shared)
        .env("NO_COLOR", "1")
        .env("TMPDIR", shared.join("tmp"))
        .output()
        .unwrap();
    let stdout = ok(out);
    let row = stdout
        .lines()
        .find(|l| l.starts_with("erofs:lz4"))
        .unwrap_or_else(|| panic!("no row in {stdout}"));
    assert!(row.ends_with("n/a"), "{row}");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(shared.join("res/bench-compress.json")).unwrap(),
    )
    .unwrap();
    let res = &json["results"][0];
    assert!(
        res["decompress_mb_s"].is_null() && res["decompress_wall_s"].is_null(),
        "{res}"
    );
    assert!(res["image_bytes"].as_u64().unwrap() > 0);
    let csv = std::fs::read_to_string(shared.join("res/bench-compress.csv")).unwrap();
    assert!(csv.lines().nth(1).unwrap().ends_with(",,"), "{csv}");
}
