//! Repository metadata from a hostile server: repomd.xml, comps, metalink (kiln-rpmfile's
//! parsers) and primary.xml (libsolv's, through kiln-solver) must load or fail with an error,
//! never panic or crash. The first byte picks the format; the rest is the document.
#![no_main]

use kiln_rpmfile::repodata::{parse_comps, parse_metalink, parse_repomd};
use kiln_solver::{RepoSource, Solver};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, doc)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(doc);
    match which % 4 {
        0 => {
            if let Ok(records) = parse_repomd(&text) {
                for r in records {
                    let _ = (r.kind.len(), r.href.len(), r.checksum, r.size);
                }
            }
        }
        1 => {
            if let Ok(c) = parse_comps(&text) {
                let ids: Vec<String> = c.groups.iter().map(|g| g.id.clone()).collect();
                for id in ids {
                    let _ = c.group(&id);
                }
            }
        }
        2 => {
            let _ = parse_metalink(&text);
        }
        _ => {
            // libsolv reads primary from a file; one per fuzzing process, in memory.
            let dir = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
            let path = std::path::PathBuf::from(format!(
                "{dir}/kiln-fuzz-primary-{}.xml",
                std::process::id()
            ));
            if std::fs::write(&path, doc).is_err() {
                return;
            }
            if let Ok(mut s) = Solver::new("x86_64") {
                let _ = s.add_repo(&RepoSource::new("fuzz", &path));
            }
        }
    }
});
