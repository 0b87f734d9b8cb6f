//! The committed fuzz inputs (`fuzz/seeds/*`, where crashes found by CI's fuzzing are added as
//! regressions) replayed through the same library calls as the fuzz targets, in every
//! `cargo test`: each must parse or fail with an error, never panic. The seeds are real
//! documents (the fixture's repomd/primary/comps, signed fixture RPMs, kickstarts), so the
//! positive path is checked too: they must load.

use std::io::Read;
use std::path::{Path, PathBuf};

use kiln::kickstart::{parse_str, ParseOptions};
use kiln::rpmfile::cpio::{CpioReader, EntryName};
use kiln::rpmfile::header::RpmFile;
use kiln::rpmfile::payload;
use kiln::rpmfile::repodata::{parse_comps, parse_metalink, parse_repomd};

fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no seeds in {}", dir.display());
    v
}

#[test]
fn kickstart_seeds_parse_and_render() {
    let opts = ParseOptions {
        follow_includes: false,
        ksappend: false,
        ..ParseOptions::default()
    };
    for p in seeds("kickstart_parse") {
        let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
        if let Ok(ks) = parse_str(&text, "seed.ks", &opts) {
            let _ = parse_str(&ks.render(), "rendered.ks", &opts);
        }
    }
}

#[test]
fn repo_metadata_seeds_load() {
    for p in seeds("repo_metadata") {
        let data = std::fs::read(&p).unwrap();
        let Some((&which, doc)) = data.split_first() else {
            continue;
        };
        let text = String::from_utf8_lossy(doc);
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        match which % 4 {
            0 => {
                let r = parse_repomd(&text);
                if name.starts_with("repomd") {
                    assert!(r.unwrap().iter().any(|r| r.kind == "primary"), "{name}");
                }
            }
            1 => {
                let r = parse_comps(&text);
                if name.starts_with("comps") {
                    assert!(!r.unwrap().groups.is_empty(), "{name}");
                }
            }
            2 => {
                let r = parse_metalink(&text);
                if name.starts_with("metalink") {
                    assert_eq!(r.unwrap().urls.len(), 2, "{name}");
                }
            }
            _ => {
                let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-seeds");
                std::fs::create_dir_all(&dir).unwrap();
                let f = dir.join(format!("{name}.xml"));
                std::fs::write(&f, doc).unwrap();
                let mut s = kiln_solver::Solver::new("x86_64").unwrap();
                let r = s.add_repo(&kiln_solver::RepoSource::new("seed", &f));
                if name.starts_with("primary") {
                    r.unwrap();
                }
            }
        }
    }
}

#[test]
fn rpm_seeds_open_and_stream() {
    for p in seeds("rpm_package") {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let real = name.ends_with(".rpm");
        // The guarded rpm-crate parse (crash-rpm-crate-* made it panic unguarded). Other crash
        // seeds may carry sound headers: their fault is in the payload.
        let m = kiln::rpmfile::header::rpm_crate_metadata(&p);
        if real {
            assert!(m.is_ok(), "{name}: {:?}", m.err());
        } else if name.starts_with("crash-rpm-crate") {
            assert!(m.is_err(), "{name}: the rpm crate's parse should fail");
        }
        let rpm = match RpmFile::open(&p) {
            Ok(r) => r,
            Err(e) => {
                assert!(!real, "{name}: {e}");
                continue;
            }
        };
        let stream = match payload::open(&rpm) {
            Ok(s) => s,
            Err(e) => {
                assert!(!real, "{name}: {e}");
                continue;
            }
        };
        let mut cpio = CpioReader::new(stream);
        let mut files = 0;
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(Some(e)) = cpio.next_entry() {
            if e.is_trailer() {
                break;
            }
            let size = match e.name {
                EntryName::Index(i) => rpm.info.files.get(i as usize).map(|f| f.size),
                EntryName::Path(_) => None,
            };
            let Ok(mut d) = cpio.data(size) else { break };
            while matches!(d.read(&mut buf), Ok(n) if n > 0) {}
            files += 1;
        }
        if real {
            // Every file of the header but %ghost ones is in the payload.
            let want = rpm
                .info
                .files
                .iter()
                .filter(|f| f.flags & kiln::rpmfile::tags::RPMFILE_GHOST == 0)
                .count();
            assert_eq!(files, want, "{name}: payload entries");
        }
    }
}
