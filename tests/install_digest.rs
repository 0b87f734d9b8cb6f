//! Package digests (Step 10): every package's header and payload digests are checked before
//! any payload is used, on every install path (`install-rpms`, `install`, `build`), also under
//! `--nogpgcheck`; `--nodigest` skips them with a warning. rpm 4.18 is the oracle: for each
//! package, `rpm -K --nosignature` and `rpm -i --root` give the verdict kiln must give.
//!
//! The packages are made here from the fixtures' signed `kt-multi` (and one built by rpmbuild)
//! by editing bytes, as `fixtures/lib/synthetic.sh` does: a flipped payload byte, a flipped
//! header byte, a signature header rebuilt without digests, one with only the MD5 of old v3
//! packages (which rpm 4.18 still installs), and so on.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("install_digest")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn kiln(dir: &Path, args: &[&str]) -> Output {
    common::kiln_in(dir, args)
}

fn tools() -> bool {
    ["/usr/bin/rpm", "/usr/bin/rpmbuild", "/usr/bin/createrepo_c"]
        .iter()
        .all(|t| common::have_tool(t))
}

// ---- a package file taken apart and put together again ----

/// Signature header tags.
const SIG_SIZE: u32 = 1000;
const SIG_MD5: u32 = 1004;
const SIG_SHA1: u32 = 269;
const SIG_SHA256: u32 = 273;
/// Main header tags.
const PAYLOADDIGEST: u32 = 5092;
const PAYLOADDIGESTALT: u32 = 5097;

/// The digests a rebuilt signature header carries (always with SIZE, as rpm writes it).
#[derive(Clone, Copy, PartialEq)]
enum Dig {
    Sha256,
    Sha1,
    Md5,
}

#[derive(Clone)]
struct Rpm {
    lead: Vec<u8>,
    /// The signature header with its padding.
    sig: Vec<u8>,
    /// The main header (magic, index, data), as rpm hashes it.
    main: Vec<u8>,
    payload: Vec<u8>,
}

fn be32(b: &[u8], at: usize) -> usize {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

/// The length of the header at `at` (16-byte intro, index, data).
fn header_len(b: &[u8], at: usize) -> usize {
    assert_eq!(&b[at..at + 3], &[0x8e, 0xad, 0xe8], "no header at {at}");
    16 + 16 * be32(b, at + 8) + be32(b, at + 12)
}

impl Rpm {
    fn read(p: &Path) -> Rpm {
        let b = std::fs::read(p).unwrap();
        let sig_end = 96 + header_len(&b, 96);
        let main_at = (sig_end + 7) & !7;
        let main_end = main_at + header_len(&b, main_at);
        Rpm {
            lead: b[..96].to_vec(),
            sig: b[96..main_at].to_vec(),
            main: b[main_at..main_end].to_vec(),
            payload: b[main_end..].to_vec(),
        }
    }

    fn write(&self, p: &Path) -> PathBuf {
        let mut b = self.lead.clone();
        b.extend(&self.sig);
        b.extend(&self.main);
        b.extend(&self.payload);
        std::fs::write(p, b).unwrap();
        p.to_path_buf()
    }

    /// Renames a main header tag (its data stays): the package no longer has that tag, and
    /// the header keeps its length and layout.
    fn rename_tag(&mut self, from: u32, to: u32) {
        let n = be32(&self.main, 8);
        for i in 0..n {
            let at = 16 + 16 * i;
            if be32(&self.main, at) == from as usize {
                self.main[at..at + 4].copy_from_slice(&to.to_be_bytes());
            }
        }
    }

    /// Drops both payload digests from the main header (packages of rpm before 4.14 have none).
    fn without_payload_digests(mut self) -> Rpm {
        self.rename_tag(PAYLOADDIGEST, 1_005_092);
        self.rename_tag(PAYLOADDIGESTALT, 1_005_097);
        self
    }

    /// A v3 package as rpm before 4.0 wrote it: lead version 3 and a main header without the
    /// immutable region (its first entry and the trailer it points at are dropped).
    fn legacy_v3(mut self) -> Rpm {
        let il = be32(&self.main, 8);
        let entry = |i: usize| 16 + 16 * i;
        assert_eq!(be32(&self.main, entry(0)), 63, "no region to drop");
        let trailer = be32(&self.main, entry(0) + 8);
        let mut index = Vec::new();
        for i in 1..il {
            let mut e = self.main[entry(i)..entry(i) + 16].to_vec();
            let off = be32(&e, 8);
            if off > trailer {
                e[8..12].copy_from_slice(&((off - 16) as u32).to_be_bytes());
            }
            index.extend(e);
        }
        let mut data = self.main[entry(il)..].to_vec();
        data.drain(trailer..trailer + 16);
        let mut h = self.main[..8].to_vec();
        h.extend(((il - 1) as u32).to_be_bytes());
        h.extend((data.len() as u32).to_be_bytes());
        h.extend(index);
        h.extend(data);
        self.main = h;
        self.lead[4] = 3;
        self
    }

    /// Flips a byte of the main header's data inside the first `text`, keeping its length.
    fn flip_header_text(mut self, text: &str) -> Rpm {
        let data = 16 + 16 * be32(&self.main, 8);
        let at = data
            + self.main[data..]
                .windows(text.len())
                .position(|w| w == text.as_bytes())
                .unwrap_or_else(|| panic!("`{text}` not in the header"));
        self.main[at] ^= 0x20;
        self
    }

    /// Flips the payload byte at `at` (negative: from the end).
    fn flip_payload(mut self, at: isize) -> Rpm {
        let i = if at < 0 {
            self.payload.len() - at.unsigned_abs()
        } else {
            at as usize
        };
        self.payload[i] ^= 0xff;
        self
    }

    /// Replaces the signature header (and so any signature) with one holding SIZE and `digs`,
    /// computed over the header and payload as they are now.
    fn resign(mut self, digs: &[Dig]) -> Rpm {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let cstr = |s: String| {
            let mut v = s.into_bytes();
            v.push(0);
            v
        };
        // (tag, type, count, data, alignment)
        let mut entries: Vec<(u32, u32, u32, Vec<u8>, usize)> = Vec::new();
        for d in digs {
            entries.push(match d {
                Dig::Sha256 => (SIG_SHA256, 6, 1, cstr(hex(&Sha256::digest(&self.main))), 1),
                Dig::Sha1 => (SIG_SHA1, 6, 1, cstr(hex(&Sha1::digest(&self.main))), 1),
                Dig::Md5 => {
                    let mut m = Md5::new();
                    m.update(&self.main);
                    m.update(&self.payload);
                    (SIG_MD5, 7, 16, m.finalize().to_vec(), 1)
                }
            });
        }
        let size = (self.main.len() + self.payload.len()) as u32;
        entries.push((SIG_SIZE, 4, 1, size.to_be_bytes().to_vec(), 4));
        entries.sort_by_key(|e| e.0);
        let mut data = Vec::new();
        let mut index = Vec::new();
        for (tag, kind, count, d, align) in &entries {
            while data.len() % align != 0 {
                data.push(0);
            }
            index.push((*tag, *kind, data.len() as u32, *count));
            data.extend(d);
        }
        // The region tag (62) points at a trailer that spans the whole index.
        let il = index.len() as u32 + 1;
        let trailer_at = data.len() as u32;
        data.extend(62u32.to_be_bytes());
        data.extend(7u32.to_be_bytes());
        data.extend((-(il as i32) * 16).to_be_bytes());
        data.extend(16u32.to_be_bytes());
        let mut h = vec![0x8e, 0xad, 0xe8, 1, 0, 0, 0, 0];
        h.extend(il.to_be_bytes());
        h.extend((data.len() as u32).to_be_bytes());
        for (tag, kind, off, count) in std::iter::once((62, 7, trailer_at, 16)).chain(index) {
            for v in [tag, kind, off, count] {
                h.extend(v.to_be_bytes());
            }
        }
        h.extend(data);
        while h.len() % 8 != 0 {
            h.push(0);
        }
        self.sig = h;
        self
    }
}

// ---- the oracles ----

/// rpm's verdicts on `file`: `rpm -K --nosignature` and `rpm -i --root` (the default
/// `%_pkgverify_level digest`, no key imported: a signature is only a warning), plus the
/// installed root.
fn rpm_verdicts(d: &Path, file: &Path, extra: &[&str]) -> (bool, bool, String, PathBuf) {
    let k = Command::new("rpm")
        .args(["-Kv", "--nosignature"])
        .arg(file)
        .output()
        .unwrap();
    let root = d.join("rpm-root");
    let _ = std::fs::remove_dir_all(&root);
    let i = Command::new("rpm")
        .arg("-i")
        .arg("--root")
        .arg(&root)
        .args(["--dbpath", "/var/lib/rpm", "--nodeps"])
        .args(extra)
        .arg(file)
        .output()
        .unwrap();
    let out = format!(
        "rpm -K: {}{}\nrpm -i: {}",
        String::from_utf8_lossy(&k.stdout),
        String::from_utf8_lossy(&k.stderr),
        stderr(&i)
    );
    (k.status.success(), i.status.success(), out, root)
}

/// A repository holding only `file`, and a kickstart installing `pkg` from it.
fn repo_ks(d: &Path, file: &Path, pkg: &str) -> (PathBuf, PathBuf) {
    let repo = d.join("repo");
    let _ = std::fs::remove_dir_all(&repo);
    std::fs::create_dir_all(repo.join("Packages")).unwrap();
    let copy = repo.join("Packages").join(file.file_name().unwrap());
    std::fs::copy(file, &copy).unwrap();
    common::run_ok(
        Command::new("createrepo_c")
            .args(["-q", "--no-database"])
            .arg(&repo),
    );
    let ks = d.join("t.ks");
    std::fs::write(
        &ks,
        format!(
            "repo --name=r --baseurl=file://{}\n%packages --nocore\n{pkg}\n%end\n",
            repo.display()
        ),
    )
    .unwrap();
    (ks, copy)
}

/// `kiln install-rpms` of `file` into a new root under `d`.
fn install_rpms(d: &Path, file: &Path, extra: &[&str]) -> (Output, PathBuf) {
    let root = d.join("kiln-rpms-root");
    let _ = std::fs::remove_dir_all(&root);
    let mut args = vec!["install-rpms", "--root", root.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(file.to_str().unwrap());
    (kiln(d, &args), root)
}

/// `kiln install` of `ks` (signatures off) into a new root under `d`.
fn install_ks(d: &Path, ks: &Path, extra: &[&str]) -> (Output, PathBuf) {
    let root = d.join("kiln-ks-root");
    let _ = std::fs::remove_dir_all(&root);
    let cache = d.join("cache");
    let mut args = vec![
        "install",
        "--ks",
        ks.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "--nogpgcheck",
    ];
    args.extend_from_slice(extra);
    (kiln(d, &args), root)
}

/// `kiln build` of `ks` (signatures off); returns the output and the work directory's parent.
fn build_ks(d: &Path, ks: &Path, extra: &[&str]) -> (Output, PathBuf, PathBuf) {
    let tmpdir = d.join("build-tmp");
    let out = d.join("build-out");
    let _ = std::fs::remove_dir_all(&tmpdir);
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&tmpdir).unwrap();
    let cache = d.join("cache");
    let mut args = vec![
        "build",
        "--ks",
        ks.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
        "--tmpdir",
        tmpdir.to_str().unwrap(),
        "--resultdir",
        out.to_str().unwrap(),
        "--nogpgcheck",
        "--make-iso",
    ];
    args.extend_from_slice(extra);
    (kiln(d, &args), tmpdir, out)
}

/// A refused package: exit status 1, the file named with what failed, nothing written.
fn assert_refused(what: &str, o: &Output, file: &Path, why: &str, root: &Path) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{what}: {e}");
    assert!(
        e.contains(&format!("package `{}` does not verify", file.display())),
        "{what}: the error must name the file: {e}"
    );
    assert!(e.contains(why), "{what}: expected `{why}` in: {e}");
    assert!(!root.exists(), "{what}: the root was made: {e}");
}

/// A package rebuilt by the test: `kt-digest-blob`, one file of incompressible bytes, so its
/// zstd payload stores them as they are (a flipped byte there changes that file and nothing
/// else, and the compressed stream stays valid).
fn build_blob_rpm(d: &Path) -> (PathBuf, Vec<u8>) {
    // A fixed pseudo-random sequence (xorshift): the same package every run.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let blob: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let src = d.join("blob.bin");
    std::fs::write(&src, &blob).unwrap();
    let spec = d.join("kt-digest-blob.spec");
    std::fs::write(
        &spec,
        format!(
            "Name: kt-digest-blob\nVersion: 1.0\nRelease: 1\nSummary: digest test\n\
             License: MIT\nBuildArch: noarch\n%description\nOne incompressible file.\n\
             %install\nmkdir -p %{{buildroot}}/usr/share/kt-digest\n\
             install -m 0644 {} %{{buildroot}}/usr/share/kt-digest/blob\n\
             %files\n/usr/share/kt-digest\n",
            src.display()
        ),
    )
    .unwrap();
    let top = d.join("rpmbuild");
    common::run_ok(
        Command::new("rpmbuild")
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .arg("--define")
            .arg(format!("_dbpath {}/db", top.display()))
            .args(["--define", "_binary_payload w19.zstdio", "--quiet", "-bb"])
            .arg(&spec),
    );
    (
        top.join("RPMS/noarch/kt-digest-blob-1.0-1.noarch.rpm"),
        blob,
    )
}

/// Every kind of good and bad package, through every install path; rpm decides.
#[test]
fn digests_are_checked_on_every_path_and_rpm_agrees() {
    let Some(fx) = common::fixtures() else { return };
    if !tools() {
        return;
    }
    let d = tmp("cases");
    let made = d.join("made");
    std::fs::create_dir_all(&made).unwrap();
    let good_file = fx.join("synthetic/Packages/kt-multi-1.0-1.noarch.rpm");
    let good = Rpm::read(&good_file);
    let all = [Dig::Sha256, Dig::Sha1, Dig::Md5];
    let mk = |name: &str, r: Rpm| r.write(&made.join(format!("{name}.rpm")));

    // (case, file, rpm installs it, kiln's words when it does not)
    let cases: Vec<(&str, PathBuf, bool, &str)> = vec![
        ("good, signed", good_file.clone(), true, ""),
        (
            "good, digests rewritten, no signature",
            mk("resigned", good.clone().resign(&all)),
            true,
            "",
        ),
        (
            "tampered payload (fixture)",
            fx.join("synthetic-broken/Packages/kt-bad-payload-1.0-1.noarch.rpm"),
            false,
            "its payload SHA256 digest does not match",
        ),
        (
            "tampered header (a description byte)",
            mk("bad-header", good.clone().flip_header_text("Built twice")),
            false,
            "its header SHA256 digest does not match",
        ),
        (
            "tampered header (a file name byte)",
            mk("bad-file-name", good.clone().flip_header_text("version")),
            false,
            "its header SHA256 digest does not match",
        ),
        (
            "no digests at all",
            mk(
                "no-digests",
                good.clone().without_payload_digests().resign(&[]),
            ),
            false,
            "no digest covers its header",
        ),
        (
            "header digests only, no payload digest",
            mk(
                "header-only",
                good.clone()
                    .without_payload_digests()
                    .resign(&[Dig::Sha256, Dig::Sha1]),
            ),
            false,
            "no digest covers its payload",
        ),
        (
            "payload digest only, no header digest",
            mk("payload-only", good.clone().resign(&[])),
            false,
            "no digest covers its header",
        ),
        (
            "v3-style: MD5 over header and payload only",
            mk(
                "v3",
                good.clone().without_payload_digests().resign(&[Dig::Md5]),
            ),
            true,
            "",
        ),
        (
            "v3-style, tampered payload",
            mk(
                "v3-bad",
                good.clone()
                    .without_payload_digests()
                    .resign(&[Dig::Md5])
                    .flip_payload(-20),
            ),
            false,
            "its MD5 digest does not match",
        ),
        (
            "SHA1 header digest only (rpm 4.0-4.13 style) with a payload digest",
            mk("sha1-only", good.clone().resign(&[Dig::Sha1])),
            true,
            "",
        ),
        (
            "good digests, tampered MD5",
            mk("bad-md5", {
                let mut r = good.clone().resign(&all);
                // The MD5 is the only BIN entry of the rebuilt header: flip its first byte.
                let data = 16 + 16 * be32(&r.sig, 8);
                let n = be32(&r.sig, 8);
                let off = (0..n)
                    .find(|i| be32(&r.sig, 16 + 16 * i) == SIG_MD5 as usize)
                    .map(|i| be32(&r.sig, 16 + 16 * i + 8))
                    .unwrap();
                r.sig[data + off] ^= 0xff;
                r
            }),
            false,
            "its MD5 digest does not match",
        ),
    ];

    for (case, file, installs, why) in &cases {
        let cd = d.join(case.replace([' ', ',', ':', '(', ')'], "_"));
        std::fs::create_dir_all(&cd).unwrap();
        let (k_ok, i_ok, rpm_out, _) = rpm_verdicts(&cd, file, &[]);
        assert_eq!(
            (k_ok, i_ok),
            (*installs, *installs),
            "{case}: rpm's verdict is not the expected one:\n{rpm_out}"
        );
        if why.starts_with("no digest") {
            // rpm's words for it: each digest NOTFOUND, and "does not verify: no digest".
            assert!(
                rpm_out.contains("NOTFOUND") && rpm_out.contains("does not verify: no digest"),
                "{case}: {rpm_out}"
            );
        }

        let (o, root) = install_rpms(&cd, file, &[]);
        if *installs {
            assert!(o.status.success(), "{case}: install-rpms: {}", stderr(&o));
            assert!(root.join("usr/share/kt-multi/version").is_file(), "{case}");
        } else {
            assert_refused(&format!("{case}: install-rpms"), &o, file, why, &root);
        }

        let (ks, copy) = repo_ks(&cd, file, "kt-multi");
        let (o, root) = install_ks(&cd, &ks, &[]);
        if *installs {
            assert!(o.status.success(), "{case}: install: {}", stderr(&o));
        } else {
            assert_refused(&format!("{case}: install"), &o, &copy, why, &root);
            let (o, tmpdir, out) = build_ks(&cd, &ks, &[]);
            assert_refused(&format!("{case}: build"), &o, &copy, why, &out.join("none"));
            assert!(!stderr(&o).contains("scriptlet"), "{case}: {}", stderr(&o));
            let left: Vec<_> = std::fs::read_dir(&tmpdir).unwrap().collect();
            assert!(left.is_empty(), "{case}: build work dirs left: {left:?}");
        }
    }
}

/// `--nodigest`: rpm then still checks every file against the header's file digest while
/// unpacking, and still needs a valid compressed stream. So a payload whose file content was
/// altered fails in the unpack for both; one altered where rpm reads nothing that matters (a
/// cpio header's mtime: the header's is used) installs, with a warning, the same file; one
/// whose zstd stream is broken fails for both.
#[test]
fn nodigest_installs_what_rpm_nodigest_installs() {
    let Some(fx) = common::fixtures() else { return };
    if !tools() {
        return;
    }
    let d = tmp("nodigest");
    let (built, blob) = build_blob_rpm(&d);
    let installed = "usr/share/kt-digest/blob";
    let warning = "warning: --nodigest";
    let good = Rpm::read(&built);

    // 1. A byte of the file's content (stored as it is in the zstd stream).
    let probe = &blob[30_000..30_032];
    let at = good
        .payload
        .windows(probe.len())
        .position(|w| w == probe)
        .expect("the blob is stored uncompressed in the payload");
    let content = good
        .clone()
        .flip_payload((at + 16) as isize)
        .write(&d.join("kt-digest-blob-content.rpm"));
    // 2. A digit of the mtime in the file's cpio header (also stored as it is).
    let name = b"./usr/share/kt-digest/blob";
    let hdr = good
        .payload
        .windows(name.len())
        .position(|w| w == name)
        .expect("the cpio header is stored uncompressed")
        - 110;
    assert_eq!(&good.payload[hdr..hdr + 6], b"070701");
    let digit = (hdr + 46..hdr + 54)
        .find(|&i| good.payload[i].is_ascii_digit())
        .unwrap();
    let mut mtime = good.clone();
    mtime.payload[digit] ^= 1;
    let mtime = mtime.write(&d.join("kt-digest-blob-mtime.rpm"));

    for (case, file) in [("content", &content), ("cpio mtime", &mtime)] {
        // Without --nodigest both refuse it, before anything is written.
        let (k_ok, i_ok, rpm_out, _) = rpm_verdicts(&d, file, &[]);
        assert!(!k_ok && !i_ok, "{case}: rpm accepts it:\n{rpm_out}");
        let (o, root) = install_rpms(&d, file, &[]);
        assert_refused(
            case,
            &o,
            file,
            "its payload SHA256 digest does not match",
            &root,
        );
    }

    // The altered content: rpm --nodigest fails on the file digest, kiln too.
    let (_, i_ok, rpm_out, _) = rpm_verdicts(&d, &content, &["--nodigest"]);
    assert!(!i_ok, "rpm -i --nodigest installs it:\n{rpm_out}");
    assert!(rpm_out.contains("Digest mismatch"), "{rpm_out}");
    let (o, _) = install_rpms(&d, &content, &["--nodigest"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert_eq!(e.matches(warning).count(), 1, "one warning: {e}");
    assert!(
        e.contains("kt-digest-blob-1.0-1.noarch") && e.contains("file digest"),
        "{e}"
    );

    // The altered cpio mtime: both install it, the same file with the header's mtime.
    let (_, i_ok, rpm_out, rpm_root) = rpm_verdicts(&d, &mtime, &["--nodigest"]);
    assert!(i_ok, "rpm -i --nodigest refuses it:\n{rpm_out}");
    let stat = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(p).unwrap();
        (std::fs::read(p).unwrap(), m.mtime(), m.mode())
    };
    let theirs = stat(&rpm_root.join(installed));
    assert_eq!(theirs.0, blob);
    let (o, root) = install_rpms(&d, &mtime, &["--nodigest"]);
    let e = stderr(&o);
    assert!(o.status.success(), "install-rpms --nodigest: {e}");
    assert_eq!(e.matches(warning).count(), 1, "one warning: {e}");
    assert_eq!(stat(&root.join(installed)), theirs);
    let (ks, _) = repo_ks(&d, &mtime, "kt-digest-blob");
    let (o, root) = install_ks(&d, &ks, &["--nodigest"]);
    let e = stderr(&o);
    assert!(o.status.success(), "install --nodigest: {e}");
    assert_eq!(e.matches(warning).count(), 1, "one warning: {e}");
    assert_eq!(stat(&root.join(installed)), theirs);

    // The fixture's tampered package: its zstd stream is broken, so rpm --nodigest fails in
    // the unpack ("cpio: Bad magic"), and so does kiln, past the digests.
    let broken = fx.join("synthetic-broken/Packages/kt-bad-payload-1.0-1.noarch.rpm");
    let (_, i_ok, rpm_out, _) = rpm_verdicts(&d, &broken, &["--nodigest"]);
    assert!(!i_ok, "rpm -i --nodigest installs it:\n{rpm_out}");
    let (o, _) = install_rpms(&d, &broken, &["--nodigest"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains(warning) && !e.contains("does not verify"), "{e}");
    assert!(
        e.contains("kt-multi-1.0-1.noarch"),
        "the package is named: {e}"
    );

    // kiln build --nodigest gets past the digests to the same unpack failure.
    let (ks, _) = repo_ks(&d, &broken, "kt-multi");
    let (o, _, _) = build_ks(&d, &ks, &["--nodigest"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert_eq!(e.matches(warning).count(), 1, "one warning: {e}");
    assert!(!e.contains("does not verify"), "{e}");
}

/// A real v3 package (no header region, MD5 only): rpm 4.18 still installs it ("RPM v3
/// packages are deprecated"); its digests pass kiln's check as rpm's, and a tampered one is
/// refused by both before anything is written.
#[test]
fn v3_package_digests_as_rpm() {
    let Some(fx) = common::fixtures() else { return };
    if !tools() {
        return;
    }
    let d = tmp("v3");
    let v3 = Rpm::read(&fx.join("synthetic/Packages/kt-multi-1.0-1.noarch.rpm"))
        .without_payload_digests()
        .legacy_v3()
        .resign(&[Dig::Md5]);
    let good = v3.write(&d.join("kt-multi-v3.rpm"));
    let (k_ok, i_ok, rpm_out, _) = rpm_verdicts(&d, &good, &[]);
    assert!(k_ok && i_ok, "rpm refuses the v3 package:\n{rpm_out}");
    assert!(rpm_out.contains("v3 packages are deprecated"), "{rpm_out}");
    assert_eq!(kiln::rpmfile::digest::verify_file(&good), Ok(()));

    let bad = v3.flip_payload(-20).write(&d.join("kt-multi-v3-bad.rpm"));
    let (k_ok, i_ok, rpm_out, _) = rpm_verdicts(&d, &bad, &[]);
    assert!(
        !k_ok && !i_ok,
        "rpm accepts the tampered v3 package:\n{rpm_out}"
    );
    let (o, root) = install_rpms(&d, &bad, &[]);
    assert_refused(
        "tampered v3",
        &o,
        &bad,
        "its MD5 digest does not match",
        &root,
    );
}

/// rpm verifies every package before the transaction starts: one bad package and nothing of
/// the others is installed either.
#[test]
fn one_bad_package_stops_the_whole_transaction() {
    let Some(fx) = common::fixtures() else { return };
    if !tools() {
        return;
    }
    let d = tmp("transaction");
    let good = fx.join("synthetic/Packages/kt-oldname-1.0-1.noarch.rpm");
    let bad = fx.join("synthetic-broken/Packages/kt-bad-payload-1.0-1.noarch.rpm");
    let root = d.join("rpm-root");
    let o = Command::new("rpm")
        .arg("-i")
        .arg("--root")
        .arg(&root)
        .args(["--dbpath", "/var/lib/rpm", "--nodeps"])
        .arg(&good)
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!o.status.success(), "rpm installs the set");
    let written: Vec<_> = walk(&root)
        .into_iter()
        .filter(|p| !p.starts_with(root.join("var/lib/rpm")) && p.is_file())
        .collect();
    assert!(written.is_empty(), "rpm wrote {written:?}");

    let kroot = d.join("kiln-root");
    let o = kiln(
        &d,
        &[
            "install-rpms",
            "--root",
            kroot.to_str().unwrap(),
            good.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
    );
    assert_refused(
        "good + bad",
        &o,
        &bad,
        "its payload SHA256 digest does not match",
        &kroot,
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
    }
    out
}
