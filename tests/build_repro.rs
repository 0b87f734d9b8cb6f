//! Build-farm integration on the live-x86_64 fixture: two `SOURCE_DATE_EPOCH` builds in
//! different tmpdirs give the same ISO (sha256sum; `kiln diff` says why when not), and the
//! first build's manifest.json, SPDX SBOM, kickstarts, build.log and `--json-progress` events
//! are checked against the reference tools (rpm on the image's rpmdb and on the package files,
//! spdx-tools' validator, unsquashfs, xorriso).
//!
//! Needs root, the fixtures, xorriso, squashfs-tools, rpm and python3 (spdx-tools is installed
//! into a venv). Two builds, run side by side; the second is the plain build build_iso boots,
//! made once for both (`common::live_x86_64_shared`: taken from there when build_iso ran first).

mod common;

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::run_ok;

const EPOCH: &str = common::LIVE_EPOCH;

/// `pyspdxtools` from spdx-tools 0.8.5 (`KILN_SPDX_TOOLS` bin dir, the `KILN_PYKS` venv, or a
/// venv made under the target dir). Missing: panic under CI, otherwise None.
fn spdx_validator() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = ["KILN_SPDX_TOOLS", "KILN_PYKS"]
        .iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .collect();
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("spdx-tools-0.8.5");
    dirs.push(venv.join("bin"));
    if let Some(d) = dirs.iter().find(|d| d.join("pyspdxtools").exists()) {
        return Some(d.join("pyspdxtools"));
    }
    let bin = venv.join("bin");
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
        && Command::new(bin.join("pip"))
            .args(["install", "-q", "spdx-tools==0.8.5"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if ok {
        return Some(bin.join("pyspdxtools"));
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("could not install spdx-tools 0.8.5 into {}", venv.display());
    }
    eprintln!("SKIP: spdx-tools unavailable");
    None
}

fn sha256sum(p: &Path) -> String {
    run_ok(Command::new("sha256sum").arg(p))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// A listener for `--json-progress SOCKET`: the lines it received, once the build closed it.
fn progress_socket(path: &Path) -> std::thread::JoinHandle<Vec<serde_json::Value>> {
    let _ = std::fs::remove_file(path);
    let l = std::os::unix::net::UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        std::io::BufReader::new(s)
            .lines()
            .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
            .collect()
    })
}

#[test]
fn reproducible_iso_and_build_farm_outputs() {
    let Some(fx) = common::fixtures() else { return };
    for t in ["/usr/bin/xorriso", "/usr/bin/unsquashfs", "/usr/bin/rpm"] {
        if !common::have_tool(t) {
            return;
        }
    }
    let Some(validator) = spdx_validator() else {
        return;
    };
    // The test binary has this one test: the variable reaches both builds (child processes).
    std::env::set_var("SOURCE_DATE_EPOCH", EPOCH);
    let ks = fx.join("ks/live-x86_64.ks");
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let sock = tmp.join("build-repro-progress.sock");
    let events = progress_socket(&sock);
    let sock_arg = sock.display().to_string();
    // Side by side: each build is mostly one core's work (dracut, the installer's scriptlets).
    let (a, b) = std::thread::scope(|s| {
        let ks = &ks;
        let sock_arg = &sock_arg;
        let a = s.spawn(move || {
            common::build_live(
                ks,
                "KILN-LIVE",
                &tmp.join("build-repro-a"),
                &["--json-progress", sock_arg],
            )
        });
        let b = s.spawn(|| common::live_x86_64_shared(&fx));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (a, report, _) = a;
    let (b, _, _) = b;

    // 1. Bit-identical ISOs.
    let (ha, hb) = (sha256sum(&a.iso), sha256sum(&b.iso));
    let diff = Command::new(common::kiln())
        .arg("diff")
        .arg(&a.iso)
        .arg(&b.iso)
        .output()
        .unwrap();
    assert_eq!(
        ha,
        hb,
        "SOURCE_DATE_EPOCH builds differ; kiln diff:\n{}",
        String::from_utf8_lossy(&diff.stdout)
    );
    assert!(diff.status.success(), "kiln diff of identical ISOs failed");

    // ... and when they differ it names the file: one byte of grub.cfg changed in a copy.
    let changed = a.work.join("changed.iso");
    std::fs::copy(&a.iso, &changed).unwrap();
    let entries =
        kiln_writers::iso9660::read::list(&mut std::fs::File::open(&changed).unwrap()).unwrap();
    let cfg = entries
        .iter()
        .find(|e| e.path == Path::new("boot/grub2/grub.cfg"))
        .expect("no boot/grub2/grub.cfg");
    {
        use std::io::{Read, Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&changed)
            .unwrap();
        let at = u64::from(cfg.extents[0].0) * 2048;
        let mut byte = [0u8];
        f.seek(SeekFrom::Start(at)).unwrap();
        f.read_exact(&mut byte).unwrap();
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(&[byte[0] ^ 1]).unwrap();
    }
    let d = Command::new(common::kiln())
        .arg("diff")
        .arg(&a.iso)
        .arg(&changed)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&d.stdout);
    assert_eq!(d.status.code(), Some(1), "kiln diff: {listed}");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("content") && l.contains("boot/grub2/grub.cfg")),
        "kiln diff does not name grub.cfg:\n{listed}"
    );
    let _ = std::fs::remove_file(&changed);

    let out = a.work.join("out");
    // 2. manifest.json: the ISO as it is on disk.
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let img = &m["images"][0];
    assert_eq!(img["filename"], "KILN-LIVE.iso");
    assert_eq!(img["sha256"], ha.as_str());
    assert_eq!(img["size"], std::fs::metadata(&a.iso).unwrap().len());
    assert_eq!(img["arch"], "x86_64");
    assert_eq!(img["type"], "iso");
    assert_eq!(m["source_date_epoch"], EPOCH.parse::<i64>().unwrap());

    // 3. Its package list is the image's `rpm -qa` (name, epoch, version, release, arch,
    // buildtime, installed size, sigmd5 all as rpm shows them).
    let rpmlist = m["rpmlist"].as_array().unwrap();
    assert_eq!(rpmlist.len(), a.packages);
    let field = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "(none)".to_string(),
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    let from_manifest: BTreeSet<String> = rpmlist
        .iter()
        .map(|p| {
            [
                "name",
                "epoch",
                "version",
                "release",
                "arch",
                "buildtime",
                "installed_size",
                "payloadhash",
            ]
            .iter()
            .map(|k| field(&p[*k]))
            .collect::<Vec<_>>()
            .join(" ")
        })
        .collect();
    let qf = "%{NAME} %{EPOCH} %{VERSION} %{RELEASE} %{ARCH} %{BUILDTIME} %{SIZE} %{SIGMD5}\n";
    let sq = a.work.join("squashfs.img");
    run_ok(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(&a.iso)
            .args(["-extract", "/LiveOS/squashfs.img"])
            .arg(&sq),
    );
    let listing = run_ok(Command::new("unsquashfs").arg("-l").arg(&sq));
    let dbpath = listing
        .lines()
        .find_map(|l| l.strip_suffix("/rpmdb.sqlite"))
        .and_then(|l| l.strip_prefix("squashfs-root"))
        .expect("no rpmdb.sqlite in the image")
        .to_string();
    let x = a.work.join("rpmdb-root");
    let _ = std::fs::remove_dir_all(&x);
    run_ok(
        Command::new("unsquashfs")
            .arg("-d")
            .arg(&x)
            .arg(&sq)
            .arg(dbpath.trim_start_matches('/')),
    );
    let qa = run_ok(
        Command::new("rpm")
            .arg("--root")
            .arg(&x)
            .args(["--dbpath", &dbpath, "-qa", "--qf", qf]),
    );
    let from_image: BTreeSet<String> = qa.lines().map(str::to_string).collect();
    assert_eq!(
        from_manifest, from_image,
        "manifest rpmlist != rpm -qa in the image"
    );

    // 4. payloadhash is what `rpm -qp --qf %{SIGMD5}` says of the package files, and `size`
    // is their size on disk (Koji's rpmlist meaning).
    let files: Vec<PathBuf> = rpmlist
        .iter()
        .map(|p| {
            fx.join("live-x86_64/Packages")
                .join(p["filename"].as_str().unwrap())
        })
        .collect();
    for (p, f) in rpmlist.iter().zip(&files) {
        assert_eq!(
            p["size"],
            std::fs::metadata(f).unwrap().len(),
            "rpmlist size of {}",
            f.display()
        );
    }
    let qp = run_ok(
        Command::new("rpm")
            .args([
                "-qp",
                "--nosignature",
                "--nodigest",
                "--qf",
                "%{NAME}.%{ARCH} %{SIGMD5}\n",
            ])
            .args(&files),
    );
    let from_files: BTreeSet<String> = qp.lines().map(str::to_string).collect();
    let from_manifest: BTreeSet<String> = rpmlist
        .iter()
        .map(|p| {
            format!(
                "{}.{} {}",
                field(&p["name"]),
                field(&p["arch"]),
                field(&p["payloadhash"])
            )
        })
        .collect();
    assert_eq!(
        from_manifest, from_files,
        "payloadhash != rpm -qp %{{SIGMD5}}"
    );

    // 5. The SBOM passes spdx-tools' SPDX 2.3 validation and lists every package.
    let sbom_path = out.join(m["sbom"].as_str().unwrap());
    let v = run_ok(Command::new(&validator).arg("--infile").arg(&sbom_path));
    assert!(
        !v.to_lowercase().contains("invalid"),
        "pyspdxtools reported problems:\n{v}"
    );
    let sbom: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&sbom_path).unwrap()).unwrap();
    assert_eq!(sbom["spdxVersion"], "SPDX-2.3");
    assert_eq!(sbom["packages"].as_array().unwrap().len(), a.packages + 1);

    // 6. Both kickstarts and the log.
    let original = out.join(m["kickstart"].as_str().unwrap());
    assert_eq!(
        std::fs::read(&original).unwrap(),
        std::fs::read(&ks).unwrap()
    );
    let flat =
        std::fs::read_to_string(out.join(m["kickstart_flattened"].as_str().unwrap())).unwrap();
    assert!(flat.contains("%packages"), "flattened kickstart:\n{flat}");
    let log = std::fs::read_to_string(out.join(m["log"].as_str().unwrap())).unwrap();
    assert!(log.contains("stage package done"), "build.log:\n{log}");

    // 7. Progress events: every stage started and ended, transfers complete, a result.
    let ev = events.join().unwrap();
    for st in ["prepare", "install", "configure", "finalize", "package"] {
        for state in ["start", "end"] {
            assert!(
                ev.iter()
                    .any(|e| e["event"] == "stage" && e["stage"] == st && e["state"] == state),
                "no {st} {state} event in {ev:?}"
            );
        }
    }
    for kind in ["download", "install"] {
        let last = ev.iter().rev().find(|e| e["event"] == kind).unwrap();
        assert_eq!(last["bytes_done"], last["bytes_total"], "{kind}: {last}");
    }
    let res = ev.last().unwrap();
    assert_eq!(
        (&res["event"], &res["ok"]),
        (&"result".into(), &true.into())
    );
    assert_eq!(report["packages"].as_array().unwrap().len(), a.packages);

    let _ = std::fs::remove_dir_all(&x);
    let _ = std::fs::remove_file(&sq);
    // The second build is not removed: it is build_iso's too.
}
