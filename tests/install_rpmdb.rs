//! kiln's rpmdb writer against rpm 4.18 itself.
//!
//! For each fixture set, rpm installs the packages into a scratch root (`--justdb`, or a full
//! install for `rpm -Va`); kiln then writes its own database from the same .rpm files, in rpm's
//! install order and with rpm's install time, transaction id, color and file states (read back
//! with `rpm -qa --qf`). The two databases must then have the same schema, byte-identical header
//! blobs (compared tag by tag first, for a readable failure), the same index rows in the same
//! order, and rpm must answer every query the same way on both (`-qa`, scripts, triggers, file
//! triggers, file lists, `-qf`, `--what*`, `--pkgid`/`--hdrid`/`--tid`, `-Va`). `rpmdb
//! --verifydb` and `rpm --rebuilddb` must accept kiln's database.

mod common;
mod kfdb;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use kiln::install::rpmdb::{read_rpm_blobs, target_dbpath, InstallInfo, RpmDb};
use rusqlite::{Connection, OpenFlags};

const DBPATH: &str = "/usr/lib/sysimage/rpm";

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("install_rpmdb")
        .join(name);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn rpm_cmd(root: &Path) -> Command {
    common::rpm::rpm_at(root, DBPATH)
}

fn run(mut c: Command) -> (bool, String, String) {
    let o = c.output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Package files of a fixture repository for x86_64 (x86_64 + noarch), minus `skip`.
fn packages(dir: &Path, skip: &[&str]) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir.join("Packages"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            (n.ends_with(".x86_64.rpm") || n.ends_with(".noarch.rpm"))
                && !skip.iter().any(|s| n.starts_with(s))
        })
        .collect();
    v.sort();
    v
}

fn setup() -> Option<PathBuf> {
    let f = common::fixtures()?;
    if !common::have_tool("/usr/bin/rpm") || !common::have_tool("/usr/bin/rpmdb") {
        return None;
    }
    Some(f)
}

/// Install with rpm into `root` (`--justdb` or a full install without scripts).
fn rpm_install(root: &Path, files: &[PathBuf], justdb: bool) {
    let mut c = rpm_cmd(root);
    c.args([
        "-i",
        "--nodeps",
        "--noscripts",
        "--notriggers",
        "--ignorearch",
        "--nosignature",
    ]);
    if justdb {
        c.arg("--justdb");
    }
    c.args(files);
    let (ok, out, err) = run(c);
    assert!(ok, "rpm -i failed:\n{out}\n{err}");
}

/// What rpm recorded per package, in header-number order.
struct Installed {
    hnum: u32,
    file: PathBuf,
    info: InstallInfo,
}

fn installed(root: &Path, files: &[PathBuf]) -> Vec<Installed> {
    // NEVRA of each file, in argument order.
    let mut c = Command::new("rpm");
    c.args([
        "--dbpath",
        "/nonexistent",
        "-qp",
        "--nosignature",
        "--qf",
        "%{NEVRA}\\n",
    ]);
    c.args(files);
    let (ok, out, err) = run(c);
    assert!(ok, "rpm -qp: {err}");
    let by_nevra: BTreeMap<String, PathBuf> = out
        .lines()
        .map(str::to_string)
        .zip(files.iter().cloned())
        .collect();
    assert_eq!(by_nevra.len(), files.len(), "NEVRAs are unique");

    let mut c = rpm_cmd(root);
    c.args([
        "-qa",
        "--qf",
        "%{DBINSTANCE}\\t%{NEVRA}\\t%{INSTALLTIME}\\t%{INSTALLTID}\\t%{INSTALLCOLOR}\\t[%{FILESTATES} ]\\n",
    ]);
    let (ok, out, err) = run(c);
    assert!(ok, "rpm -qa: {err}");
    let mut v: Vec<Installed> = out
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Installed {
                hnum: f[0].parse().unwrap(),
                file: by_nevra[f[1]].clone(),
                info: InstallInfo {
                    install_time: f[2].parse().unwrap(),
                    install_tid: f[3].parse().unwrap(),
                    install_color: f[4].parse().unwrap(),
                    file_states: f[5]
                        .split_whitespace()
                        .map(|s| s.parse().unwrap())
                        .collect(),
                    relocation: None,
                },
            }
        })
        .collect();
    v.sort_by_key(|i| i.hnum);
    assert_eq!(v.len(), files.len(), "rpm installed every package");
    v
}

/// kiln's database for the same packages, in rpm's order; returns the time spent.
fn kiln_db(root: &Path, inst: &[Installed]) -> std::time::Duration {
    let t = Instant::now();
    let mut db = RpmDb::create(root, DBPATH).unwrap();
    for i in inst {
        let (sig, hdr) = read_rpm_blobs(&i.file).unwrap();
        let hnum = db.add(&sig, &hdr, &i.info).unwrap();
        assert_eq!(hnum, i.hnum, "{}", i.file.display());
    }
    db.finish().unwrap();
    t.elapsed()
}

fn open(root: &Path) -> Connection {
    let f = root
        .join(DBPATH.trim_start_matches('/'))
        .join("rpmdb.sqlite");
    Connection::open_with_flags(f, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

fn rows(c: &Connection, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
    let mut st = c.prepare(sql).unwrap();
    let n = st.column_count();
    st.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Decode a header blob into (tag, type, count, data bytes); data lengths up to the next offset
/// are not needed: each entry's bytes are cut by type.
fn decode(b: &[u8]) -> Vec<(u32, u32, u32, Vec<u8>)> {
    let be = |at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap());
    let il = be(0) as usize;
    let dl = be(4) as usize;
    let ds = &b[8 + 16 * il..8 + 16 * il + dl];
    (0..il)
        .map(|i| {
            let (tag, ty, off, count) = (
                be(8 + 16 * i),
                be(12 + 16 * i),
                be(16 + 16 * i) as usize,
                be(20 + 16 * i),
            );
            let len = match ty {
                6 => ds[off..].iter().position(|&c| c == 0).unwrap() + 1,
                8 | 9 => {
                    let mut at = off;
                    for _ in 0..count {
                        at += ds[at..].iter().position(|&c| c == 0).unwrap() + 1;
                    }
                    at - off
                }
                3 => 2 * count as usize,
                4 => 4 * count as usize,
                5 => 8 * count as usize,
                _ => count as usize,
            };
            (tag, ty, count, ds[off..off + len].to_vec())
        })
        .collect()
}

const INDEX_TABLES: &[&str] = &[
    "Name",
    "Basenames",
    "Group",
    "Requirename",
    "Providename",
    "Conflictname",
    "Obsoletename",
    "Triggername",
    "Dirnames",
    "Installtid",
    "Sigmd5",
    "Sha1header",
    "Filetriggername",
    "Transfiletriggername",
    "Recommendname",
    "Suggestname",
    "Supplementname",
    "Enhancename",
];

/// Compare kiln's database with rpm's at the sqlite level; returns (headers, tags, index rows).
fn compare_sqlite(oracle: &Path, ours: &Path) -> (usize, usize, usize) {
    let (o, k) = (open(oracle), open(ours));
    let schema = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid";
    assert_eq!(rows(&k, schema), rows(&o, schema), "schema");
    for p in [
        "journal_mode",
        "user_version",
        "page_size",
        "application_id",
        "encoding",
    ] {
        let q = format!("PRAGMA {p}");
        assert_eq!(rows(&k, &q), rows(&o, &q), "PRAGMA {p}");
    }
    let ob = rows(&o, "SELECT hnum, blob FROM Packages ORDER BY hnum");
    let kb = rows(&k, "SELECT hnum, blob FROM Packages ORDER BY hnum");
    assert_eq!(ob.len(), kb.len(), "package count");
    let mut tags = 0;
    for (orow, krow) in ob.iter().zip(&kb) {
        assert_eq!(orow[0], krow[0], "hnum");
        let (rusqlite::types::Value::Blob(ob), rusqlite::types::Value::Blob(kb)) =
            (&orow[1], &krow[1])
        else {
            panic!("blob column");
        };
        let (od, kd) = (decode(ob), decode(kb));
        for (i, (oe, ke)) in od.iter().zip(&kd).enumerate() {
            assert_eq!(
                (oe.0, oe.1, oe.2),
                (ke.0, ke.1, ke.2),
                "hnum {:?} entry {i}: (tag, type, count)",
                orow[0]
            );
            assert_eq!(oe.3, ke.3, "hnum {:?} tag {} data", orow[0], oe.0);
        }
        assert_eq!(od.len(), kd.len(), "hnum {:?}: entry count", orow[0]);
        tags += od.len();
        assert!(ob == kb, "hnum {:?}: blobs differ in layout", orow[0]);
    }
    let mut nrows = 0;
    for t in INDEX_TABLES {
        let q = format!("SELECT rowid, key, hnum, idx FROM '{t}' ORDER BY rowid");
        let (orows, krows) = (rows(&o, &q), rows(&k, &q));
        assert_eq!(krows.len(), orows.len(), "{t}: row count");
        for (a, b) in orows.iter().zip(&krows) {
            assert_eq!(b, a, "{t}: row");
        }
        nrows += orows.len();
    }
    let seq = "SELECT name, seq FROM sqlite_sequence";
    assert_eq!(rows(&k, seq), rows(&o, seq), "sqlite_sequence");
    (ob.len(), tags, nrows)
}

/// The files rpm leaves in the db directory: names, modes, and sizes except the database's own.
fn dir_listing(root: &Path) -> Vec<(String, u32, Option<u64>)> {
    use std::os::unix::fs::MetadataExt;
    let mut v: Vec<_> = fs::read_dir(root.join(DBPATH.trim_start_matches('/')))
        .unwrap()
        .flatten()
        .map(|e| {
            let m = e.metadata().unwrap();
            let n = e.file_name().to_string_lossy().into_owned();
            let size = (n != "rpmdb.sqlite").then_some(m.size());
            (n, m.mode(), size)
        })
        .collect();
    v.sort();
    v
}

/// rpm's answers that depend on the database, for both roots.
fn compare_queries(oracle: &Path, ours: &Path) -> usize {
    let q = |root: &Path, args: &[String]| -> (bool, String, String) {
        let mut c = rpm_cmd(root);
        c.args(args);
        run(c)
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let (_, files, _) = q(oracle, &s(&["-qa", "--qf", "[%{FILENAMES}\\n]"]));
    let files: Vec<String> = files.lines().step_by(7).map(str::to_string).collect();
    let names_of = |tag: &str| -> Vec<String> {
        let (_, out, _) = q(oracle, &s(&["-qa", "--qf", &format!("[%{{{tag}}}\\n]")]));
        let mut v: Vec<String> = out.lines().map(str::to_string).collect();
        v.sort();
        v.dedup();
        v.retain(|x| !x.is_empty() && x != "(none)");
        v
    };
    let (_, ids, _) = q(
        oracle,
        &s(&["-qa", "--qf", "%{PKGID} %{HDRID} %{INSTALLTID} %{GROUP}\\n"]),
    );
    let mut queries: Vec<Vec<String>> = vec![
        s(&["-qa"]),
        s(&["-qa", "--qf", "%{DBINSTANCE} %{NEVRA} %{INSTALLTID} %{INSTALLTIME} %{INSTALLCOLOR} %{SIGSIZE} %{SIGMD5} %{SHA1HEADER} %{SHA256HEADER} %{ARCHIVESIZE} [%{INSTPREFIXES}]\\n"]),
        s(&["-qa", "--scripts"]),
        s(&["-qa", "--triggers"]),
        s(&["-qa", "--filetriggers"]),
        s(&["-qa", "--provides"]),
        s(&["-qa", "--requires"]),
        s(&["-qa", "--recommends", "--suggests", "--supplements", "--enhances"]),
        s(&["-qa", "--conflicts", "--obsoletes"]),
        s(&["-qals"]),
        s(&["-qa", "--dump"]),
        s(&["-qa", "-i"]),
        s(&["-qa", "--changelog"]),
        s(&["-qac"]),
        s(&["-qad"]),
    ];
    let mut qf = s(&["-qf"]);
    qf.extend(files);
    queries.push(qf);
    for (opt, tag) in [
        ("--whatprovides", "PROVIDENAME"),
        ("--whatrequires", "REQUIRENAME"),
        ("--whatrecommends", "RECOMMENDNAME"),
        ("--whatsuggests", "SUGGESTNAME"),
        ("--whatsupplements", "SUPPLEMENTNAME"),
        ("--whatenhances", "ENHANCENAME"),
        ("--whatconflicts", "CONFLICTNAME"),
        ("--whatobsoletes", "OBSOLETENAME"),
        ("--triggeredby", "TRIGGERNAME"),
        ("--whatprovides", "REQUIRENAME"),
    ] {
        let names = names_of(tag);
        if !names.is_empty() {
            let mut v = s(&["-q", opt]);
            v.extend(names);
            queries.push(v);
        }
    }
    let (mut pkgids, mut hdrids, mut tids, mut groups) = (
        s(&["-q", "--pkgid"]),
        s(&["-q", "--hdrid"]),
        s(&["-q", "--tid"]),
        s(&["-qg"]),
    );
    for l in ids.lines() {
        let f: Vec<&str> = l.splitn(4, ' ').collect();
        for (v, x) in [
            (&mut pkgids, f[0]),
            (&mut hdrids, f[1]),
            (&mut tids, f[2]),
            (&mut groups, f[3]),
        ] {
            if !v.iter().any(|y| y == x) {
                v.push(x.to_string());
            }
        }
    }
    queries.extend([pkgids, hdrids, tids, groups]);
    for args in &queries {
        let (a, b) = (q(oracle, args), q(ours, args));
        let what = args.iter().take(4).cloned().collect::<Vec<_>>().join(" ");
        assert_eq!(b.0, a.0, "rpm {what}: exit status\n{}", b.2);
        assert_eq!(b.1, a.1, "rpm {what}: output");
        // Queries every package set answers (others, e.g. scripts, may rightly be empty).
        let must = [
            "-qf",
            "--pkgid",
            "--hdrid",
            "--tid",
            "-qg",
            "--whatprovides",
            "-qals",
        ];
        if args[..] == s(&["-qa"])[..] || args.iter().take(2).any(|x| must.contains(&x.as_str())) {
            assert!(!a.1.is_empty(), "rpm {what}: the oracle answered nothing");
        }
    }
    queries.len()
}

/// rpm's own maintenance tools accept kiln's database.
fn check_verify_rebuild(ours: &Path) {
    let mut c = Command::new("rpmdb");
    c.arg("--root")
        .arg(ours)
        .arg("--dbpath")
        .arg(DBPATH)
        .arg("--verifydb");
    let (ok, out, err) = run(c);
    assert!(
        ok && !err.contains("error"),
        "rpmdb --verifydb:\n{out}\n{err}"
    );
    let (_, before, _) = run({
        let mut c = rpm_cmd(ours);
        c.args(["-qa", "--qf", "%{NEVRA} %{INSTALLTID}\\n"]);
        c
    });
    let mut c = rpm_cmd(ours);
    c.arg("--rebuilddb");
    let (ok, out, err) = run(c);
    assert!(
        ok && !err.contains("error"),
        "rpm --rebuilddb:\n{out}\n{err}"
    );
    let (_, after, _) = run({
        let mut c = rpm_cmd(ours);
        c.args(["-qa", "--qf", "%{NEVRA} %{INSTALLTID}\\n"]);
        c
    });
    assert_eq!(after, before, "packages after --rebuilddb");
}

fn oracle_case(set: &str, skip: &[&str]) {
    let Some(fx) = setup() else { return };
    let files = packages(&fx.join(set), skip);
    assert!(!files.is_empty());
    let dir = scratch(set);
    let (oracle, ours) = (dir.join("rpm"), dir.join("kiln"));
    rpm_install(&oracle, &files, true);
    let inst = installed(&oracle, &files);
    let took = kiln_db(&ours, &inst);
    assert_eq!(
        dir_listing(&ours),
        dir_listing(&oracle),
        "files in the db directory"
    );
    let (pkgs, tags, nrows) = compare_sqlite(&oracle, &ours);
    let nq = compare_queries(&oracle, &ours);
    check_verify_rebuild(&ours);
    eprintln!(
        "{set}: {pkgs} packages, {tags} header entries and {nrows} index rows identical to rpm's; \
         {nq} rpm queries agree; written in {took:?}"
    );
}

const SYNTHETIC_SKIP: &[&str] = &["kt-multi-2.0", "kt-oldname"];

#[test]
fn synthetic_matches_rpm() {
    // kt-multi 1.0 and 2.0 share a file: rpm refuses both in one transaction; kt-newname
    // obsoletes kt-oldname, so rpm drops the latter.
    oracle_case("synthetic", SYNTHETIC_SKIP);
}

#[test]
fn live_x86_64_matches_rpm() {
    oracle_case("live-x86_64", &[]);
}

/// `rpm -Va` needs the files: rpm installs them for real, then its database is swapped for
/// kiln's (same packages, states and times) and the verification output must not change.
#[test]
fn verify_all_with_kiln_db() {
    let Some(fx) = setup() else { return };
    if !common::require(
        common::is_root(),
        "root: rpm -i, the oracle's install, runs as root only",
    ) {
        return;
    }
    let files = packages(&fx.join("synthetic"), SYNTHETIC_SKIP);
    let dir = scratch("verify");
    let root = dir.join("root");
    rpm_install(&root, &files, false);
    let va = |root: &Path| {
        let mut c = rpm_cmd(root);
        c.arg("-Va");
        let (ok, out, err) = run(c);
        (ok, out, err)
    };
    let before = va(&root);
    let inst = installed(&root, &files);
    let dbdir = root.join(DBPATH.trim_start_matches('/'));
    let saved = dir.join("rpm-db");
    fs::rename(&dbdir, &saved).unwrap();
    kiln_db(&root, &inst);
    let after = va(&root);
    assert_eq!(after, before, "rpm -Va with kiln's database");
    // Change one file: both databases must notice it the same way.
    let victim = root.join("usr/share/doc/kt-files/README");
    assert!(victim.is_file(), "{} installed by rpm", victim.display());
    fs::write(&victim, "changed\n").unwrap();
    let mine = va(&root);
    fs::rename(&dbdir, dir.join("kiln-db")).unwrap();
    fs::rename(&saved, &dbdir).unwrap();
    let theirs = va(&root);
    assert_eq!(mine, theirs, "rpm -Va after a change");
    assert!(
        mine.1.contains("README"),
        "the change is reported: {}",
        mine.1
    );
}

/// 1,400 headers (about 200,000 index rows) in under two seconds of CPU in a release build.
#[test]
fn many_headers_are_fast() {
    let Some(fx) = setup() else { return };
    let files = packages(&fx.join("live-x86_64"), &[]);
    let blobs: Vec<(Vec<u8>, Vec<u8>, usize)> = files
        .iter()
        .map(|f| {
            let (s, h) = read_rpm_blobs(f).unwrap();
            let mut c = Command::new("rpm");
            c.args([
                "--dbpath",
                "/nonexistent",
                "-qp",
                "--nosignature",
                "--qf",
                "[%{BASENAMES}\\n]",
            ]);
            c.arg(f);
            let n = run(c).1.lines().count();
            (s, h, n)
        })
        .collect();
    let dir = scratch("many");
    // CPU time of this thread: the machine is shared, wall time says little.
    let cpu = || -> f64 {
        let st = fs::read_to_string("/proc/thread-self/stat").unwrap();
        let f: Vec<&str> = st[st.rfind(')').unwrap() + 2..].split(' ').collect();
        (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
    };
    let (t, c0) = (Instant::now(), cpu());
    let mut db = RpmDb::create(&dir, DBPATH).unwrap();
    let mut n = 0;
    while n < 1400 {
        for (s, h, nf) in &blobs {
            let info = InstallInfo {
                file_states: vec![0; *nf],
                ..Default::default()
            };
            db.add(s, h, &info).unwrap();
            n += 1;
        }
    }
    db.finish().unwrap();
    let (took, used) = (t.elapsed(), cpu() - c0);
    eprintln!("{n} headers in {used:.2} s of CPU ({took:?} wall)");
    let limit = if cfg!(debug_assertions) { 8.0 } else { 2.0 };
    assert!(used < limit, "{n} headers took {used} s of CPU");
    let mut c = rpm_cmd(&dir);
    c.arg("-qa");
    let (ok, out, err) = run(c);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), n);
}

/// `%_dbpath` from the target's own rpm configuration, as rpm itself expands it there.
#[test]
fn target_dbpath_matches_rpm_eval() {
    let Some(_) = setup() else { return };
    let dir = scratch("dbpath");
    fs::create_dir_all(dir.join("usr/lib/rpm/macros.d")).unwrap();
    // The host's own macros (Debian: %_dbpath is under ~), overridden as Fedora does.
    fs::copy("/usr/lib/rpm/macros", dir.join("usr/lib/rpm/macros")).unwrap();
    fs::write(
        dir.join("usr/lib/rpm/macros.d/macros.dbpath"),
        "%_dbpath\t\t%{_usr}/lib/sysimage/rpm\n",
    )
    .unwrap();
    let eval = |dir: &Path| {
        let o = Command::new("rpm")
            .arg("--macros")
            .arg(format!(
                "{0}/usr/lib/rpm/macros:{0}/usr/lib/rpm/macros.d/macros.*",
                dir.display()
            ))
            .args(["--eval", "%{_dbpath}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(target_dbpath(&dir), eval(&dir));
    fs::write(
        dir.join("usr/lib/rpm/macros.d/macros.dbpath"),
        "%_dbpath %{_var}/lib/rpm\n",
    )
    .unwrap();
    assert_eq!(target_dbpath(&dir), eval(&dir));
    assert_eq!(target_dbpath(&dir), "/var/lib/rpm");
}

/// `rpm -qa --xml` split per package and sorted, without the tags naming the install's
/// moment.
fn headers_by_name(root: &Path) -> Vec<String> {
    let xml = kfdb::qa_xml(root, DBPATH);
    let mut v: Vec<String> = xml
        .split("<rpmHeader>")
        .skip(1)
        .map(|h| h.to_string())
        .collect();
    v.sort();
    v
}

/// A full install (files written, file states decided by the installer), not `--justdb`:
/// every tag of every stored header as `rpm -qa --xml` prints it, `rpm -qf` of every path,
/// `rpm -Va`, for plain installs, `--excludedocs` (FILESTATES "not installed") and
/// `_install_langs` / `--inst-langs`; kt-files has a %doc, a %ghost and a %lang file.
#[test]
fn full_install_headers_match_rpm() {
    let Some(fx) = kfdb::ready() else { return };
    let files = packages(&fx.join("synthetic"), SYNTHETIC_SKIP);
    for (name, rpm_args, kiln_args) in [
        ("plain", vec![], vec![]),
        ("excludedocs", vec!["--excludedocs"], vec!["--excludedocs"]),
        (
            "langs",
            vec!["--define", "_install_langs de"],
            vec!["--inst-langs", "de"],
        ),
    ] {
        let dir = kfdb::scratch(&format!("full-{name}"));
        let (r, k) = (dir.join("rpm"), dir.join("kiln"));
        let mut ra = vec!["--noscripts", "--notriggers"];
        ra.extend(&rpm_args);
        kfdb::ok("rpm -i", &kfdb::rpm_i(&r, DBPATH, &files, &ra));
        // kiln installs in the order given: rpm's own (owners resolve against the passwd of
        // the packages before, as under rpm).
        let order: Vec<PathBuf> = installed(&r, &files).into_iter().map(|i| i.file).collect();
        let mut ka = vec!["--noscripts"];
        ka.extend(&kiln_args);
        kfdb::ok("kiln", &kfdb::kiln_i(&k, Some(DBPATH), &order, &ka));
        let (a, b) = (headers_by_name(&r), headers_by_name(&k));
        assert_eq!(a.len(), files.len());
        for (x, y) in a.iter().zip(&b) {
            let first = x.lines().zip(y.lines()).find(|(p, q)| p != q);
            assert!(x == y, "{name}: a stored header differs: {first:?}");
        }
        let ta = kfdb::tree(&r, &[DBPATH]);
        let paths: Vec<String> = ta.keys().cloned().collect();
        let mut qf = vec!["-qf"];
        qf.extend(paths.iter().map(String::as_str));
        for q in [
            qf,
            vec!["-Va"],
            vec!["-qa", "--qf", "%{NAME} [%{FILESTATES}]\\n"],
        ] {
            let (x, y) = (kfdb::rpm_q(&r, DBPATH, &q), kfdb::rpm_q(&k, DBPATH, &q));
            let (mut x, mut y): (Vec<&str>, Vec<&str>) =
                (x.1.lines().collect(), y.1.lines().collect());
            // Only -qa's order is the transaction's.
            if q[0] == "-qa" {
                x.sort();
                y.sort();
            }
            assert_eq!(x, y, "{name}: rpm {}", q[0]);
        }
    }
}

/// Relocated packages stored byte for byte as rpm stores them (`rpm -i --justdb --prefix/
/// --relocate`): the immutable region untouched, the relocated BASENAMES/DIRNAMES/DIRINDEXES,
/// ORIG* and INSTPREFIXES appended, the Basenames/Dirnames index rows of the new paths; and
/// every rpm query agrees.
#[test]
fn relocated_headers_match_rpm() {
    use kiln::install::relocate::{relocate, Relocation};
    use kiln::rpmfile::header::RpmFile;
    if kfdb::ready().is_none() {
        return;
    }
    for (name, pkg, args) in [
        (
            "prefix",
            "kf-db-reloc-1.0",
            vec!["--prefix", "/usr/local/kf"],
        ),
        (
            "relocate-one",
            "kf-db-reloc-1.0",
            vec!["--relocate", "/opt/kf-reloc=/srv/x/"],
        ),
        (
            "relocate-two",
            "kf-db-reloc2-1.0",
            vec![
                "--relocate",
                "/opt/kf-reloc2=/srv/a",
                "--relocate",
                "/etc/kf-reloc2=/etc/b",
            ],
        ),
        ("not-relocated", "kf-db-reloc2-1.0", vec![]),
    ] {
        let dir = scratch(&format!("reloc-{name}"));
        let (oracle, ours) = (dir.join("rpm"), dir.join("kiln"));
        let files = vec![kfdb::rpm(pkg)];
        let mut c = rpm_cmd(&oracle);
        c.args(["-i", "--nodeps", "--noscripts", "--nosignature", "--justdb"])
            .args(&args)
            .args(&files);
        let (ok, out, err) = run(c);
        assert!(ok, "{name}: rpm -i: {out}{err}");
        let relocs: Vec<Relocation> = args
            .chunks(2)
            .map(|a| match a[0] {
                "--prefix" => Relocation::prefix(a[1]).unwrap(),
                _ => Relocation::parse_relocate(a[1]).unwrap(),
            })
            .collect();
        let mut db = RpmDb::create(&ours, DBPATH).unwrap();
        for i in installed(&oracle, &files) {
            let mut f = RpmFile::open(&i.file).unwrap();
            let mut info = i.info;
            info.relocation = relocate(&mut f, &relocs).unwrap();
            db.add(&f.sig_blob, &f.hdr_blob, &info).unwrap();
        }
        db.finish().unwrap();
        compare_sqlite(&oracle, &ours);
        compare_queries(&oracle, &ours);
    }
}
