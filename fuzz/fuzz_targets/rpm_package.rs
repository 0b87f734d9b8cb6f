//! Any file must open as an RPM or fail with an error, never panic or run away: the lead, the
//! signature and main headers (kiln-rpmfile's parser), then the payload decompressed and walked
//! entry by entry through its cpio reader, each entry's data read to its end. Output is bounded by
//! the payload cap `payload::open` applies.
#![no_main]

use std::io::Read;

use kiln_rpmfile::cpio::{CpioReader, EntryName};
use kiln_rpmfile::header::RpmFile;
use kiln_rpmfile::payload;
use libfuzzer_sys::fuzz_target;

fn scratch() -> std::path::PathBuf {
    // One file per fuzzing process, in memory-backed /dev/shm when there is one.
    let dir = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
    std::path::PathBuf::from(format!("{dir}/kiln-fuzz-rpm-{}.rpm", std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    if std::fs::write(&path, data).is_err() {
        return;
    }
    // Not the rpm crate's parser: it panics on some inputs (kept in the seeds), which kiln
    // catches (`rpm_crate_metadata`, replayed by tests/fuzz_seeds.rs), but libfuzzer's panic
    // hook aborts on any panic, caught or not, so it would only find that one bug again.
    let Ok(rpm) = RpmFile::open(&path) else { return };
    let _ = rpm.nevra();
    let Ok(stream) = payload::open(&rpm) else { return };
    let mut cpio = CpioReader::new(stream);
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..100_000 {
        let entry = match cpio.next_entry() {
            Ok(Some(e)) => e,
            _ => break,
        };
        if entry.is_trailer() {
            break;
        }
        // A stripped entry's size comes from the header's file list.
        let size = match entry.name {
            EntryName::Index(i) => rpm.info.files.get(i as usize).map(|f| f.size),
            EntryName::Path(_) => None,
        };
        let Ok(mut d) = cpio.data(size) else { break };
        loop {
            match d.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
});
