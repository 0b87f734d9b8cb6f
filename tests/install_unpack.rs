//! The package reader and unpacker against rpm 4.18 as the oracle: header facts vs
//! `rpm -qp --dump`, unpacked trees vs `rpm -i --root` trees (tests/common/tree.rs: every
//! xattr, the mtime of empty directories too), file states vs rpm's
//! `FILESTATES`, conflicts vs rpm's transaction check; hostile packages crafted here must fail
//! without writing outside the root. Needs root and rpm.

mod common;
#[path = "common/tree.rs"]
mod tree;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use kiln::install::rootfs::Root;
use kiln::install::unpack::{self, Owners, UnpackError, UnpackOptions};
use kiln::rpmfile::header::RpmFile;
use kiln::rpmfile::RpmFileError;
use sha2::{Digest, Sha256};
use tree::{diff, tree, Node};

const DBPATH: &str = "/var/lib/rpm-test";

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn packages(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("Packages"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rpm"))
        .collect();
    v.sort();
    v
}

fn synthetic(fx: &Path) -> Vec<PathBuf> {
    packages(&fx.join("synthetic"))
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.ends_with(".x86_64.rpm") || n.ends_with(".noarch.rpm")
        })
        .collect()
}

fn ready() -> Option<PathBuf> {
    if !is_root() {
        eprintln!("SKIP: not root");
        return None;
    }
    if !common::have_tool("/usr/bin/rpm") {
        return None;
    }
    common::fixtures()
}

/// rpm's tree minus its database (and the directories it made only for it).
fn rpm_tree(root: &Path, kiln: &BTreeMap<String, Node>) -> BTreeMap<String, Node> {
    let mut t = tree(root);
    t.retain(|p, _| {
        !(p.starts_with(DBPATH)
            || ((p == "/var" || p == "/var/lib") && !kiln.contains_key(p.as_str())))
    });
    // The database's parents held it (their mtime is not compared) where kiln's tree may have
    // them empty (compared): kiln's mtime stands for both.
    for p in ["/", "/var", "/var/lib"] {
        if let (Some(r), Some(k)) = (t.get_mut(p), kiln.get(p)) {
            r.mtime = k.mtime;
        }
    }
    t
}

fn rpm_install(root: &Path, pkgs: &[&Path], extra: &[&str]) -> std::process::Output {
    Command::new("rpm")
        .args(["-i", "--root"])
        .arg(root)
        .args([
            "--dbpath",
            DBPATH,
            "--nodeps",
            "--noscripts",
            "--notriggers",
            "--ignorearch",
            "--ignoreos",
            "--nosignature",
            "--nodigest",
        ])
        .args(extra)
        .args(pkgs)
        .output()
        .unwrap()
}

/// Unpacks `pkg` into a fresh dir with kiln and with rpm; returns the differences.
fn compare_one(pkg: &Path, work: &Path, opts: &UnpackOptions, rpm_extra: &[&str]) -> Vec<String> {
    let a = work.join("rpm");
    let b = work.join("kiln");
    for d in [&a, &b] {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).unwrap();
    }
    let out = rpm_install(&a, &[pkg], rpm_extra);
    assert!(
        out.status.success(),
        "rpm -i {}: {}",
        pkg.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let rpm = RpmFile::open(pkg).unwrap();
    let root = Root::open(&b).unwrap();
    let owners = Owners::new(&root).unwrap();
    let res = unpack::unpack(&rpm, &root, &owners, opts)
        .unwrap_or_else(|e| panic!("unpack {}: {e:#?}", pkg.display()));
    // File states as rpm recorded them.
    let q = Command::new("rpm")
        .args(["-q", "--root"])
        .arg(&a)
        .args(["--dbpath", DBPATH, "--qf", "[%{FILESTATES}\\n]"])
        .arg(rpm.info.name.as_str())
        .output()
        .unwrap();
    let states: Vec<u8> = String::from_utf8_lossy(&q.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<i32>().ok())
        .map(|s| s as u8)
        .collect();
    let mut d = Vec::new();
    if states != res.file_states {
        d.push(format!(
            "{}: file states rpm {states:?} kiln {:?}",
            pkg.display(),
            res.file_states
        ));
    }
    let kt = tree(&b);
    let rt = rpm_tree(&a, &kt);
    d.extend(diff(&rt, &kt));
    d
}

#[test]
fn unpack_matches_rpm_install() {
    let Some(fx) = ready() else { return };
    let work = tempfile::tempdir().unwrap();
    let mut pkgs = synthetic(&fx);
    let live = packages(&fx.join("live-x86_64"));
    // A sample of the live set: every 6th package plus the biggest by file count.
    pkgs.extend(live.iter().step_by(6).cloned());
    for name in ["coreutils", "systemd_", "libicu"] {
        if let Some(p) = live
            .iter()
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(name))
        {
            pkgs.push(p.clone());
        }
    }
    pkgs.sort();
    pkgs.dedup();
    let mut problems = Vec::new();
    let mut files = 0usize;
    for p in &pkgs {
        problems.extend(compare_one(p, work.path(), &UnpackOptions::default(), &[]));
        files += tree(&work.path().join("kiln")).len();
    }
    eprintln!(
        "compared {} packages, {files} filesystem objects, against rpm -i",
        pkgs.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn excluded_docs_and_languages_match_rpm() {
    let Some(fx) = ready() else { return };
    let work = tempfile::tempdir().unwrap();
    let pkg = fx.join("synthetic/Packages/kt-files-1.0-1.x86_64.rpm");
    let opts = UnpackOptions {
        exclude_docs: true,
        inst_langs: Some(vec!["fr".into()]),
        ..UnpackOptions::default()
    };
    let d = compare_one(
        &pkg,
        work.path(),
        &opts,
        &["--excludedocs", "--define", "_install_langs fr"],
    );
    assert!(d.is_empty(), "{}", d.join("\n"));
    let opts = UnpackOptions {
        exclude_docs: false,
        inst_langs: Some(vec!["de_DE".into()]),
        ..UnpackOptions::default()
    };
    let d = compare_one(
        &pkg,
        work.path(),
        &opts,
        &["--define", "_install_langs de_DE"],
    );
    assert!(d.is_empty(), "{}", d.join("\n"));
}

/// `rpm -qp --dump` line: path size mtime digest mode owner group config doc rdev linkto.
#[test]
fn headers_match_rpm_dump() {
    let Some(fx) = ready() else { return };
    let mut pkgs = synthetic(&fx);
    pkgs.extend(packages(&fx.join("live-x86_64")));
    let mut checked = 0usize;
    for p in &pkgs {
        let rpm = RpmFile::open(p).unwrap();
        let out = Command::new("rpm")
            .args(["-qp", "--dbpath", DBPATH, "--dump"])
            .arg(p)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| *l != "(contains no files)")
            .collect();
        assert_eq!(lines.len(), rpm.info.files.len(), "{}", p.display());
        for (line, f) in lines.iter().zip(&rpm.info.files) {
            // The path may contain spaces: the other ten fields are split from the right.
            let mut parts: Vec<&str> = line.rsplitn(11, ' ').collect();
            parts.reverse();
            let [path, size, mtime, digest, mode, owner, group, config, doc, rdev, link] =
                parts[..]
            else {
                panic!("bad dump line {line}")
            };
            let ctx = format!("{} {path}", p.display());
            assert_eq!(path, f.path, "{ctx}");
            assert_eq!(size.parse::<u64>().unwrap(), f.size, "{ctx}");
            assert_eq!(mtime.parse::<u32>().unwrap(), f.mtime, "{ctx}");
            if digest.bytes().all(|b| b == b'0') {
                assert!(f.digest.bytes().all(|b| b == b'0'), "{ctx}");
            } else {
                assert_eq!(digest, f.digest, "{ctx}");
            }
            assert_eq!(u32::from_str_radix(mode, 8).unwrap(), f.mode, "{ctx}");
            assert_eq!(owner, f.user, "{ctx}");
            assert_eq!(group, f.group, "{ctx}");
            assert_eq!(config == "1", f.flags & 1 != 0, "{ctx}");
            assert_eq!(doc == "1", f.flags & 2 != 0, "{ctx}");
            assert_eq!(rdev.parse::<u32>().unwrap(), f.rdev, "{ctx}");
            assert_eq!(
                link,
                if f.linkto.is_empty() { "X" } else { &f.linkto },
                "{ctx}"
            );
            checked += 1;
        }
        // NEVRA and payload facts.
        let q = Command::new("rpm")
            .args(["-qp", "--dbpath", DBPATH, "--qf"])
            .arg("%{NAME}|%{EPOCHNUM}|%{VERSION}|%{RELEASE}|%{ARCH}|%{PAYLOADCOMPRESSOR}|%{PAYLOADFLAGS}|[%{PROVIDES} ]|[%{REQUIRENEVRS} ]")
            .arg(p)
            .output()
            .unwrap();
        let q = String::from_utf8(q.stdout).unwrap();
        let i = &rpm.info;
        let provides: String = i.provides.iter().map(|d| format!("{} ", d.name)).collect();
        let ours = format!(
            "{}|{}|{}|{}|{}|{}|{}|{provides}|",
            i.name,
            i.epoch.unwrap_or(0),
            i.version,
            i.release,
            i.arch,
            i.payload_compressor,
            i.payload_flags
        );
        assert!(q.starts_with(&ours), "{}: rpm {q} kiln {ours}", p.display());
        assert_eq!(
            q.trim_end()
                .rsplit('|')
                .next()
                .unwrap()
                .split(' ')
                .filter(|s| !s.is_empty())
                .count()
                > 0,
            !i.requires.is_empty(),
            "{}",
            p.display()
        );
    }
    eprintln!(
        "checked {checked} file entries of {} packages against rpm --dump",
        pkgs.len()
    );
}

#[test]
fn scriptlets_and_triggers_match_rpm() {
    let Some(fx) = ready() else { return };
    for p in synthetic(&fx) {
        let rpm = RpmFile::open(&p).unwrap();
        let out = Command::new("rpm")
            .args(["-qp", "--dbpath", DBPATH, "--qf"])
            .arg("[%{TRIGGERNAME} %{TRIGGERFLAGS:deptype}\\n]")
            .arg(&p)
            .output()
            .unwrap();
        let rpm_triggers = String::from_utf8_lossy(&out.stdout).lines().count();
        let ours: usize = rpm.info.triggers.iter().map(|t| t.conditions.len()).sum();
        assert_eq!(ours, rpm_triggers, "{}", p.display());
        for (tag, kind) in [
            ("PREIN", kiln::rpmfile::header::ScriptKind::Pre),
            ("POSTIN", kiln::rpmfile::header::ScriptKind::Post),
            ("PRETRANS", kiln::rpmfile::header::ScriptKind::PreTrans),
            ("POSTTRANS", kiln::rpmfile::header::ScriptKind::PostTrans),
            ("PREUN", kiln::rpmfile::header::ScriptKind::PreUn),
            ("POSTUN", kiln::rpmfile::header::ScriptKind::PostUn),
        ] {
            let out = Command::new("rpm")
                .args(["-qp", "--dbpath", DBPATH, "--qf"])
                .arg(format!("%{{{tag}PROG}}\\n%{{{tag}}}"))
                .arg(&p)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let (prog, body) = text.split_once('\n').unwrap();
            match rpm.info.script(kind) {
                None => assert_eq!(body, "(none)", "{} {tag}", p.display()),
                Some(s) => {
                    if body != "(none)" {
                        assert_eq!(s.body.as_deref(), Some(body), "{} {tag}", p.display());
                    }
                    if prog != "(none)" {
                        // rpm joins an argv prog with ", " in --qf output.
                        assert_eq!(s.prog.join(", "), prog, "{} {tag}", p.display());
                    }
                }
            }
        }
        let out = Command::new("rpm")
            .args(["-qp", "--dbpath", DBPATH, "--filetriggers"])
            .arg(&p)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        // "filetriggerin scriptlet (using /bin/sh) -- /usr/share/x", one per prefix.
        let mut rpm_ft: Vec<String> = text
            .lines()
            .filter(|l| l.contains(" scriptlet (using "))
            .map(|l| {
                let (kind, rest) = l.split_once(" scriptlet (using ").unwrap();
                format!("{kind} {}", rest.split_once(") -- ").unwrap().1)
            })
            .collect();
        let mut ours: Vec<String> = rpm
            .info
            .file_triggers
            .iter()
            .flat_map(|t| {
                use kiln::rpmfile::header::FileTriggerKind as K;
                let kind = match t.kind {
                    K::In => "filetriggerin",
                    K::Un => "filetriggerun",
                    K::PostUn => "filetriggerpostun",
                    K::TransIn => "transfiletriggerin",
                    K::TransUn => "transfiletriggerun",
                    K::TransPostUn => "transfiletriggerpostun",
                };
                t.prefixes.iter().map(move |p| format!("{kind} {p}"))
            })
            .collect();
        rpm_ft.sort();
        ours.sort();
        assert_eq!(ours, rpm_ft, "{}: {text}", p.display());
    }
}

#[test]
fn conflicts_match_rpm() {
    let Some(fx) = ready() else { return };
    let dir = fx.join("synthetic/Packages");
    let pairs = [
        (
            "kt-files-1.0-1.x86_64.rpm",
            "kt-files-extra-1.0-1.x86_64.rpm",
        ),
        (
            "kt-files-1.0-1.x86_64.rpm",
            "kt-conflicting-1.0-1.noarch.rpm",
        ),
        ("kt-multi-1.0-1.noarch.rpm", "kt-multi-2.0-1.noarch.rpm"),
        ("kt-oldname-1.0-1.noarch.rpm", "kt-newname-2.0-1.noarch.rpm"),
    ];
    let work = tempfile::tempdir().unwrap();
    for (a, b) in pairs {
        let (pa, pb) = (dir.join(a), dir.join(b));
        let root = work.path().join(format!("{a}+{b}"));
        std::fs::create_dir_all(&root).unwrap();
        // --replacepkgs etc. stay off: rpm's own transaction check is the oracle; only file
        // conflicts are looked at.
        let out = rpm_install(&root, &[&pa, &pb], &["--test"]);
        let err = String::from_utf8_lossy(&out.stderr);
        // "file PATH conflicts between attempted installs of A and B"
        let rpm_conflict = err
            .lines()
            .find(|l| l.contains("conflicts between attempted installs"))
            .map(|l| l.trim().split(' ').nth(1).unwrap_or("").to_owned());
        let (ra, rb) = (RpmFile::open(&pa).unwrap(), RpmFile::open(&pb).unwrap());
        let ours = match unpack::check_conflicts(&[&ra, &rb]) {
            Ok(()) => None,
            Err(UnpackError::Conflict { path, .. }) => Some(path),
            Err(e) => panic!("{e}"),
        };
        assert_eq!(ours, rpm_conflict, "{a} + {b}: rpm said {err}");
    }
}

/// Unpacks all packages of the live set on every core, and installs the same set with one
/// `rpm -i` transaction; prints both wall times. `cargo test -- --ignored bench`.
#[test]
#[ignore]
fn bench_live_set() {
    let Some(fx) = ready() else { return };
    let pkgs = packages(&fx.join("live-x86_64"));
    let work = tempfile::tempdir().unwrap();
    let kroot = work.path().join("kiln");
    std::fs::create_dir_all(&kroot).unwrap();
    let t = std::time::Instant::now();
    let rpms: Vec<RpmFile> = pkgs.iter().map(|p| RpmFile::open(p).unwrap()).collect();
    let refs: Vec<&RpmFile> = rpms.iter().collect();
    let _ = unpack::check_conflicts(&refs);
    let root = Root::open(&kroot).unwrap();
    let owners = Owners::new(&root).unwrap();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(rpm) = rpms.get(i) else { break };
                unpack::unpack(rpm, &root, &owners, &UnpackOptions::default())
                    .unwrap_or_else(|e| panic!("{e:#?}"));
            });
        }
    });
    let kiln_time = t.elapsed();
    let bytes: u64 = rpms.iter().map(|r| r.info.size).sum();
    let rroot = work.path().join("rpm");
    std::fs::create_dir_all(&rroot).unwrap();
    let refs: Vec<&Path> = pkgs.iter().map(|p| p.as_path()).collect();
    let t = std::time::Instant::now();
    let out = rpm_install(&rroot, &refs, &["--replacefiles"]);
    let rpm_time = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "live-x86_64: {} packages, {} MiB installed; kiln unpack on {threads} threads {:.2}s \
         ({:.0} MiB/s); rpm -i one transaction {:.2}s",
        pkgs.len(),
        bytes >> 20,
        kiln_time.as_secs_f64(),
        (bytes >> 20) as f64 / kiln_time.as_secs_f64(),
        rpm_time.as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------
// Hostile packages: written here byte by byte (header and cpio), so nothing normalises them.

struct HFile {
    path: String,
    mode: u32,
    size: u64,
    linkto: String,
    inode: u32,
    flags: u32,
    /// Hex sha256 of the content (regular files); zeros when empty.
    digest: String,
}

fn hf(path: &str, mode: u32, size: u64, inode: u32) -> HFile {
    HFile {
        path: path.into(),
        mode,
        size,
        linkto: String::new(),
        inode,
        flags: 0,
        digest: String::new(),
    }
}

fn sha256_hex(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

enum Val {
    I16(Vec<u16>),
    I32(Vec<u32>),
    I64(Vec<u64>),
    Str(String),
    Strs(Vec<String>),
}

/// A header blob (index count onwards) with an immutable region, as rpm 4.18 demands.
fn header_blob(region: u32, mut tags: Vec<(u32, Val)>) -> Vec<u8> {
    tags.sort_by_key(|t| t.0);
    let mut data = Vec::new();
    let mut index = Vec::new();
    for (tag, v) in &tags {
        let (ty, align, count) = match v {
            Val::I16(x) => (3u32, 2, x.len()),
            Val::I32(x) => (4, 4, x.len()),
            Val::I64(x) => (5, 8, x.len()),
            Val::Str(_) => (6, 1, 1),
            Val::Strs(x) => (8, 1, x.len()),
        };
        while data.len() % align != 0 {
            data.push(0);
        }
        index.push((*tag, ty, data.len() as u32, count as u32));
        match v {
            Val::I16(x) => x.iter().for_each(|n| data.extend(n.to_be_bytes())),
            Val::I32(x) => x.iter().for_each(|n| data.extend(n.to_be_bytes())),
            Val::I64(x) => x.iter().for_each(|n| data.extend(n.to_be_bytes())),
            Val::Str(s) => {
                data.extend(s.as_bytes());
                data.push(0);
            }
            Val::Strs(x) => x.iter().for_each(|s| {
                data.extend(s.as_bytes());
                data.push(0);
            }),
        }
    }
    // Region trailer: the region tag (63 main, 62 signature), BIN, offset -(il * 16).
    let il = index.len() as u32 + 1;
    let region_off = data.len() as u32;
    data.extend(region.to_be_bytes());
    data.extend(7u32.to_be_bytes());
    data.extend((-(il as i32 * 16)).to_be_bytes());
    data.extend(16u32.to_be_bytes());
    let mut blob = Vec::new();
    blob.extend(il.to_be_bytes());
    blob.extend((data.len() as u32).to_be_bytes());
    for (tag, ty, off, count) in std::iter::once((region, 7u32, region_off, 16u32)).chain(index) {
        for w in [tag, ty, off, count] {
            blob.extend(w.to_be_bytes());
        }
    }
    blob.extend(data);
    blob
}

fn build_rpm(name: &str, files: &[HFile], cpio: &[u8], long: bool) -> Vec<u8> {
    let mut dirs: Vec<String> = Vec::new();
    let mut dirindexes = Vec::new();
    let mut basenames = Vec::new();
    for f in files {
        let k = f.path.rfind('/').unwrap() + 1;
        let (d, b) = f.path.split_at(k);
        let ix = dirs.iter().position(|x| x == d).unwrap_or_else(|| {
            dirs.push(d.into());
            dirs.len() - 1
        });
        dirindexes.push(ix as u32);
        basenames.push(b.to_owned());
    }
    let n = files.len();
    let s = |v: &str| Val::Str(v.into());
    let digests: Vec<String> = files
        .iter()
        .map(|f| {
            if f.mode & 0o170000 == 0o100000 && !f.digest.is_empty() {
                f.digest.clone()
            } else if f.mode & 0o170000 == 0o100000 {
                "00".repeat(32)
            } else {
                String::new()
            }
        })
        .collect();
    let mut tags = vec![
        (1000, s(name)),
        (1001, s("1")),
        (1002, s("1")),
        (1004, s("hostile")),
        (1021, s("linux")),
        (1022, s("x86_64")),
        (1124, s("cpio")),
        (1125, s("gzip")),
        (1126, s("9")),
        (1116, Val::I32(dirindexes)),
        (1117, Val::Strs(basenames)),
        (1118, Val::Strs(dirs)),
        (
            1030,
            Val::I16(files.iter().map(|f| f.mode as u16).collect()),
        ),
        (1033, Val::I16(vec![0; n])),
        (1034, Val::I32(vec![1_700_000_000; n])),
        (1035, Val::Strs(digests)),
        (
            1036,
            Val::Strs(files.iter().map(|f| f.linkto.clone()).collect()),
        ),
        (1037, Val::I32(files.iter().map(|f| f.flags).collect())),
        (1039, Val::Strs(vec!["root".into(); n])),
        (1040, Val::Strs(vec!["root".into(); n])),
        (1095, Val::I32(vec![1; n])),
        (1096, Val::I32(files.iter().map(|f| f.inode).collect())),
        (1097, Val::Strs(vec![String::new(); n])),
        (5011, Val::I32(vec![8])),
    ];
    if long {
        tags.push((5008, Val::I64(files.iter().map(|f| f.size).collect())));
    } else {
        tags.push((
            1028,
            Val::I32(files.iter().map(|f| f.size as u32).collect()),
        ));
    }
    let hdr = header_blob(63, tags);
    let sig = header_blob(62, vec![(1000, Val::I32(vec![0]))]);
    let mut out = Vec::new();
    let mut lead = [0u8; 96];
    lead[..4].copy_from_slice(&[0xed, 0xab, 0xee, 0xdb]);
    lead[4] = 3;
    lead[9] = 1;
    lead[10..10 + name.len().min(65)].copy_from_slice(&name.as_bytes()[..name.len().min(65)]);
    lead[77] = 1;
    lead[79] = 5;
    out.extend(lead);
    out.extend([0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0]);
    out.extend(&sig);
    let dl = u32::from_be_bytes(sig[4..8].try_into().unwrap());
    out.extend(vec![0u8; ((8 - dl % 8) % 8) as usize]);
    out.extend([0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0]);
    out.extend(&hdr);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, cpio).unwrap();
    out.extend(gz.finish().unwrap());
    out
}

use kiln::rpmfile::cpio::{write_newc_entry, write_stripped_entry, write_trailer};

struct Arena {
    _dir: tempfile::TempDir,
    base: PathBuf,
    root: PathBuf,
    canary: PathBuf,
}

impl Arena {
    fn new() -> Arena {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().to_path_buf();
        let root = base.join("root");
        let canary = base.join("canary");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&canary).unwrap();
        std::fs::write(canary.join("keep"), b"canary").unwrap();
        Arena {
            _dir: dir,
            base,
            root,
            canary,
        }
    }

    /// Nothing appeared beside the root or in the canary dir.
    fn assert_clean(&self) {
        let mut names: Vec<String> = std::fs::read_dir(&self.base)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".rpm"))
            .collect();
        names.sort();
        assert_eq!(names, ["canary", "root"]);
        let c: Vec<_> = std::fs::read_dir(&self.canary).unwrap().collect();
        assert_eq!(c.len(), 1, "canary dir changed");
    }

    fn unpack(&self, name: &str, bytes: &[u8]) -> Result<(), UnpackError> {
        let p = self.base.join(format!("{name}.rpm"));
        std::fs::write(&p, bytes).unwrap();
        let rpm = RpmFile::open(&p)?;
        let root = Root::open(&self.root).unwrap();
        let owners = Owners::new(&root).unwrap();
        unpack::unpack(&rpm, &root, &owners, &UnpackOptions::default()).map(|_| ())
    }
}

fn data_entry(cpio: &mut Vec<u8>, path: &str, data: &[u8]) {
    write_newc_entry(cpio, &format!(".{path}"), 0o100644, 1, 1, data);
}

#[test]
fn hostile_dotdot_paths_fail() {
    if !is_root() {
        return;
    }
    let a = Arena::new();
    let evil = "/../canary/evil";
    let mut cpio = Vec::new();
    data_entry(&mut cpio, evil, b"pwned");
    write_trailer(&mut cpio);
    let e = a
        .unpack(
            "dotdot",
            &build_rpm("dotdot", &[hf(evil, 0o100644, 5, 1)], &cpio, false),
        )
        .unwrap_err();
    assert!(matches!(e, UnpackError::UnsafePath { .. }), "{e}");
    assert!(e.to_string().contains("dotdot-1-1.x86_64") && e.to_string().contains(evil));
    // A clean header but a `..` payload name.
    let mut cpio = Vec::new();
    data_entry(&mut cpio, "/usr/../../canary/evil", b"pwned");
    write_trailer(&mut cpio);
    let e = a
        .unpack(
            "dotdot2",
            &build_rpm("dotdot2", &[hf("/usr/x", 0o100644, 5, 1)], &cpio, false),
        )
        .unwrap_err();
    assert!(matches!(e, UnpackError::UnsafePath { .. }), "{e}");
    a.assert_clean();
}

#[test]
fn hostile_symlinks_fail_or_stay_inside() {
    if !is_root() {
        return;
    }
    let a = Arena::new();
    let canary = a.canary.to_string_lossy().into_owned();
    for (name, target) in [
        ("abslink", canary.as_str()),
        ("rellink", "../../../../../../../.."),
    ] {
        // One package: a symlink and a file written through it.
        let mut link = hf("/evil", 0o120777, target.len() as u64, 1);
        link.linkto = target.into();
        let through = if name == "abslink" {
            "/evil/pwned".to_owned()
        } else {
            format!("/evil{canary}/pwned")
        };
        let mut cpio = Vec::new();
        write_newc_entry(&mut cpio, "./evil", 0o120777, 1, 1, target.as_bytes());
        data_entry(&mut cpio, &through, b"pwned");
        write_trailer(&mut cpio);
        let files = [link, hf(&through, 0o100644, 5, 2)];
        let e = a
            .unpack(name, &build_rpm(name, &files, &cpio, false))
            .unwrap_err();
        assert!(matches!(e, UnpackError::UnsafePath { .. }), "{e}");
        a.assert_clean();
        // Two packages: the first plants the link, the second writes through it. The write is
        // clamped into the root (or fails); the canary never changes.
        let mut cpio = Vec::new();
        write_newc_entry(&mut cpio, "./evil", 0o120777, 1, 1, target.as_bytes());
        write_trailer(&mut cpio);
        let mut link = hf("/evil", 0o120777, target.len() as u64, 1);
        link.linkto = target.into();
        a.unpack(
            &format!("{name}-a"),
            &build_rpm(&format!("{name}-a"), &[link], &cpio, false),
        )
        .unwrap();
        let mut cpio = Vec::new();
        data_entry(&mut cpio, &through, b"pwned");
        write_trailer(&mut cpio);
        let r = a.unpack(
            &format!("{name}-b"),
            &build_rpm(
                &format!("{name}-b"),
                &[hf(&through, 0o100644, 5, 2)],
                &cpio,
                false,
            ),
        );
        if r.is_ok() {
            let inside = a.root.join(canary.trim_start_matches('/')).join("pwned");
            assert!(inside.exists(), "{name}: written, but not inside the root");
        }
        a.assert_clean();
        let _ = std::fs::remove_dir_all(&a.root);
        std::fs::create_dir_all(&a.root).unwrap();
    }
}

#[test]
fn hostile_hardlinks_fail() {
    if !is_root() {
        return;
    }
    let a = Arena::new();
    // A hardlink set whose second member lies outside the root.
    let mut cpio = Vec::new();
    write_newc_entry(&mut cpio, "./usr/a", 0o100644, 2, 7, b"");
    write_newc_entry(&mut cpio, "./../canary/b", 0o100644, 2, 7, b"hello");
    write_trailer(&mut cpio);
    let files = [
        hf("/usr/a", 0o100644, 5, 7),
        hf("/../canary/b", 0o100644, 5, 7),
    ];
    let e = a
        .unpack("hl", &build_rpm("hl", &files, &cpio, false))
        .unwrap_err();
    assert!(matches!(e, UnpackError::UnsafePath { .. }), "{e}");
    // A payload member that the header does not list.
    let mut cpio = Vec::new();
    write_newc_entry(&mut cpio, "/etc/shadow", 0o100644, 2, 7, b"hello");
    write_newc_entry(&mut cpio, "./usr/a", 0o100644, 2, 7, b"");
    write_trailer(&mut cpio);
    let e = a
        .unpack(
            "hl2",
            &build_rpm("hl2", &[hf("/usr/a", 0o100644, 5, 7)], &cpio, false),
        )
        .unwrap_err();
    assert!(matches!(e, UnpackError::NotInHeader { .. }), "{e}");
    a.assert_clean();
}

#[test]
fn hostile_sizes_fail() {
    if !is_root() {
        return;
    }
    let a = Arena::new();
    let ten_gib = 10u64 << 30;
    // Header claims 10 GiB, newc entry says 5 bytes.
    let mut cpio = Vec::new();
    data_entry(&mut cpio, "/big", b"small");
    write_trailer(&mut cpio);
    let e = a
        .unpack(
            "big",
            &build_rpm("big", &[hf("/big", 0o100644, ten_gib, 1)], &cpio, true),
        )
        .unwrap_err();
    assert!(matches!(e, UnpackError::Mismatch { .. }), "{e}");
    // Stripped entry: the header's 10 GiB is the data size, and the payload ends.
    let mut cpio = Vec::new();
    write_stripped_entry(&mut cpio, 0, b"small");
    write_trailer(&mut cpio);
    let e = a
        .unpack(
            "big2",
            &build_rpm("big2", &[hf("/big", 0o100644, ten_gib, 1)], &cpio, true),
        )
        .unwrap_err();
    assert!(matches!(e, UnpackError::Short { .. }), "{e}");
    // Truncated file: a valid package cut inside its payload.
    let mut cpio = Vec::new();
    let blob: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    data_entry(&mut cpio, "/blob", &blob);
    write_trailer(&mut cpio);
    let whole = build_rpm(
        "trunc",
        &[hf("/blob", 0o100644, blob.len() as u64, 1)],
        &cpio,
        false,
    );
    let e = a.unpack("trunc", &whole[..whole.len() - 2000]).unwrap_err();
    assert!(
        matches!(e, UnpackError::Short { .. } | UnpackError::Payload { .. }),
        "{e}"
    );
    assert!(e.to_string().contains("trunc-1-1.x86_64"));
    // A payload that expands far beyond the header: a directory entry with 256 MiB of data.
    let mut cpio = Vec::new();
    write_newc_entry(&mut cpio, "./d", 0o040755, 2, 1, &vec![0u8; 256 << 20]);
    write_trailer(&mut cpio);
    let e = a
        .unpack(
            "bomb",
            &build_rpm("bomb", &[hf("/d", 0o040755, 0, 1)], &cpio, false),
        )
        .unwrap_err();
    assert!(matches!(e, UnpackError::Bomb { .. }), "{e}");
    // Corrupt header: cut inside the main header.
    let e = a.unpack("cut", &whole[..200]).unwrap_err();
    assert!(
        matches!(e, UnpackError::Package(RpmFileError::Truncated { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("cut.rpm"));
    a.assert_clean();
}

/// A stripped-format (`07070X`) package with a hardlink set, a symlink and a directory,
/// crafted here: rpm installs it too, and the trees must agree.
#[test]
fn stripped_payload_matches_rpm() {
    let Some(_) = ready() else { return };
    let a = Arena::new();
    let mut link = hf("/opt/s/link", 0o120777, 4, 4);
    link.linkto = "data".into();
    let mut files = [
        hf("/opt/s", 0o040755, 0, 1),
        hf("/opt/s/data", 0o100644, 11, 2),
        hf("/opt/s/hl1", 0o100640, 6, 3),
        link,
        hf("/opt/s/hl2", 0o100640, 6, 3),
    ];
    files[1].digest = sha256_hex(b"hello world");
    files[2].digest = sha256_hex(b"linked");
    files[4].digest = sha256_hex(b"linked");
    let mut cpio = Vec::new();
    write_stripped_entry(&mut cpio, 0, b"");
    write_stripped_entry(&mut cpio, 1, b"hello world");
    write_stripped_entry(&mut cpio, 2, b"");
    write_stripped_entry(&mut cpio, 4, b"linked");
    write_stripped_entry(&mut cpio, 3, b"data");
    write_trailer(&mut cpio);
    let bytes = build_rpm("stripped", &files, &cpio, true);
    let p = a.base.join("stripped.rpm");
    std::fs::write(&p, &bytes).unwrap();
    let rpm_root = a.base.join("rpmroot");
    std::fs::create_dir_all(&rpm_root).unwrap();
    let out = rpm_install(&rpm_root, &[&p], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    a.unpack("stripped", &bytes).unwrap();
    let kt = tree(&a.root);
    let rt = rpm_tree(&rpm_root, &kt);
    let d = diff(&rt, &kt);
    assert!(d.is_empty(), "{}", d.join("\n"));
    let hl = kt.get("/opt/s/hl1").unwrap();
    assert_eq!(hl.link_group.as_deref(), Some("/opt/s/hl1"));
    let mut s = String::new();
    std::fs::File::open(a.root.join("opt/s/hl2"))
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "linked");
}
