//! `squashfs::write_cancellable`: a cancel callback that says yes part-way stops the parallel
//! compressor with `SquashfsError::Cancelled` (no panic, no hang, no complete image), and one
//! that never does gives the same bytes as `write`, which unsquashfs accepts.

mod common;
use common::noise;

use std::io::Cursor;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use kiln_writers::squashfs::{self, Codec, SquashfsError};
use kiln_writers::tree::{DataSource, FsTree, Kind, Meta};

fn meta(mode: u32) -> Meta {
    Meta {
        mode,
        uid: 0,
        gid: 0,
        mtime: 1_700_000_000,
        xattrs: Vec::new(),
    }
}

/// Four 1 MiB files: 32 blocks of 128 KiB in 4 compression jobs (per file).
fn tree() -> FsTree {
    let mut t = FsTree::new(meta(0o755));
    t.insert(Path::new("d"), meta(0o755), Kind::Dir).unwrap();
    for i in 0..4u64 {
        let v = noise(i + 1, 1 << 20);
        t.insert(
            &Path::new("d").join(format!("f{i}")),
            meta(0o644),
            Kind::File {
                size: v.len() as u64,
                data: DataSource::Bytes(Arc::from(v)),
            },
        )
        .unwrap();
    }
    t
}

fn opts(dedup: bool) -> squashfs::Options {
    squashfs::Options {
        codec: Codec::by_name("zstd").unwrap(),
        dedup,
        threads: 2,
        ..squashfs::Options::default()
    }
}

fn full_image(t: &FsTree, o: &squashfs::Options) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    squashfs::write(t, &mut out, o).unwrap();
    out.into_inner()
}

#[test]
fn cancel_after_some_blocks_stops_with_cancelled() {
    let t = tree();
    let o = opts(false);
    let full = full_image(&t, &o);
    for n in [1usize, 5, 20] {
        let asked = AtomicUsize::new(0);
        let cancel = || asked.fetch_add(1, Ordering::Relaxed) + 1 >= n;
        let mut out = Cursor::new(Vec::new());
        let r = squashfs::write_cancellable(&t, &mut out, &o, &cancel);
        assert!(
            matches!(r, Err(SquashfsError::Cancelled)),
            "n={n}: expected Cancelled, got {r:?}"
        );
        // Stopped part-way: less than the full image's data was written.
        assert!(
            (out.get_ref().len()) < full.len(),
            "n={n}: {} of {} bytes written",
            out.get_ref().len(),
            full.len()
        );
    }
}

#[test]
fn cancel_while_looking_for_duplicates() {
    let t = tree();
    let cancel = || true;
    let mut out = Cursor::new(Vec::new());
    let r = squashfs::write_cancellable(&t, &mut out, &opts(true), &cancel);
    assert!(matches!(r, Err(SquashfsError::Cancelled)), "{r:?}");
}

#[test]
fn never_cancelled_is_the_same_image() {
    let t = tree();
    let o = opts(true);
    let full = full_image(&t, &o);
    let mut out = Cursor::new(Vec::new());
    squashfs::write_cancellable(&t, &mut out, &o, &|| false).unwrap();
    assert!(
        out.get_ref() == &full,
        "write_cancellable differs from write"
    );
    // The reference reader accepts it.
    if Path::new("/usr/bin/unsquashfs").exists() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("img.sqfs");
        std::fs::write(&img, &full).unwrap();
        let l = std::process::Command::new("unsquashfs")
            .arg("-lls")
            .arg(&img)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&l.stdout);
        assert!(l.status.success(), "{text}");
        assert!(text.contains("squashfs-root/d/f3"), "{text}");
    }
}
