//! The persistent block cache (`<cache>/blocks-v1`) from the outside: `kiln build`s of the
//! live-x86_64 fixture with `SOURCE_DATE_EPOCH` and one `--cache` (empty before the cold
//! build: the solv cache and the store), and `kiln write squashfs` with `kiln cache stats|prune|clear`.
//!
//! - Identity: a cold build (empty store) and a rebuild served from the store give the same
//!   ISO (sha256sum) for squashfs xz (with the PXE tree of the same builds), squashfs zstd and
//!   EROFS; the rebuild's `--json` report says most blocks came from the cache.
//! - Damage: entries of the store flipped, truncated, lengthened, and one of the zstd
//!   namespace put in place of an xz entry; then two xz builds side by side on that store:
//!   both ISOs are the cold one's, and their reports count the rejected entries.
//! - The CLI: entries after a write of known blocks, a 100 % rebuild, prune to a size, clear,
//!   `--block-cache-size 0` (no store at all), a cache directory that cannot be made (a
//!   warning, the image still written).
//!
//! Needs root and the fixtures (for the builds); the CLI test needs nothing. The builds print
//! their seconds, hit rates and seconds saved (`--nocapture`).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::run_ok;

fn sha256(p: &Path) -> String {
    run_ok(Command::new("sha256sum").arg(p))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Every file under `dir` (relative path → sha256).
fn tree_sums(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                todo.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, sha256(&p));
            }
        }
    }
    out
}

const LABEL: &str = "KILN-BLOCKS";

/// One build's results.
struct Build {
    name: String,
    iso: PathBuf,
    out: PathBuf,
    report: serde_json::Value,
    seconds: f64,
}

impl Build {
    fn cache_figure(&self, key: &str) -> f64 {
        self.report["block_cache"][key]
            .as_f64()
            .unwrap_or_else(|| panic!("{}: no block_cache.{key} in the report", self.name))
    }
}

/// `kiln build --json` of the live-x86_64 fixture in `base/name` (its tmpdir and results) with
/// the shared `cache`, `SOURCE_DATE_EPOCH` fixed, plus `extra`.
fn build(fx: &Path, base: &Path, cache: &Path, name: &str, extra: &[&str]) -> Build {
    let work = base.join(name);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let started = Instant::now();
    let out = Command::new(common::kiln())
        .args(["build", "--make-iso", "--json", "-f", LABEL, "--ks"])
        .arg(fx.join("ks/live-x86_64.ks"))
        .arg("--resultdir")
        .arg(work.join("out"))
        .arg("--tmpdir")
        .arg(&work)
        .arg("--cache")
        .arg(cache)
        .args(extra)
        .env("SOURCE_DATE_EPOCH", common::LIVE_EPOCH)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{name}: kiln build failed:\n{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let line = stderr
        .lines()
        .find(|l| l.starts_with("root image: "))
        .unwrap_or_else(|| panic!("{name}: no `root image:` summary line:\n{stderr}"));
    eprintln!("{name}: {seconds:.1} s; {line}");
    Build {
        name: name.to_string(),
        iso: work.join(format!("out/{LABEL}.iso")),
        out: work.join("out"),
        report,
        seconds,
    }
}

/// Run `f` on two threads at once.
fn side_by_side<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    std::thread::scope(|s| {
        let a = s.spawn(a);
        let b = s.spawn(b);
        (a.join().unwrap(), b.join().unwrap())
    })
}

/// The rebuild is the cold build, bit for bit, and came mostly from the cache.
fn assert_served(cold: &Build, warm: &Build) {
    assert_eq!(
        sha256(&cold.iso),
        sha256(&warm.iso),
        "{} differs from {} (kiln diff {} {})",
        warm.name,
        cold.name,
        cold.iso.display(),
        warm.iso.display()
    );
    let (hits, compressed) = (
        warm.cache_figure("blocks_from_cache"),
        warm.cache_figure("blocks_compressed"),
    );
    let rate = warm.cache_figure("hit_rate");
    eprintln!(
        "{} vs {}: identical ISO; cold {:.1} s, rebuild {:.1} s; rebuild {hits} blocks from the \
         cache, {compressed} compressed ({rate:.1} % hits), {:.1} s saved",
        cold.name,
        warm.name,
        cold.seconds,
        warm.seconds,
        warm.cache_figure("seconds_saved")
    );
    assert!(hits > 0.0, "{}: nothing came from the cache", warm.name);
    // Only blocks whose bytes changed are compressed again: the root's run-specific files are
    // reset for SOURCE_DATE_EPOCH, so nearly nothing does.
    assert!(rate >= 90.0, "{}: hit rate {rate} %", warm.name);
}

/// The store's entry files of the namespace whose params start with `prefix`.
fn entries_of(store: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for ns in std::fs::read_dir(store).unwrap().flatten() {
        let params = std::fs::read_to_string(ns.path().join("params")).unwrap_or_default();
        if !params.starts_with(prefix) {
            continue;
        }
        for fan in std::fs::read_dir(ns.path()).unwrap().flatten() {
            if !fan.file_type().unwrap().is_dir() {
                continue;
            }
            for e in std::fs::read_dir(fan.path()).unwrap().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.len() == 62 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                    found.push(e.path());
                }
            }
        }
    }
    found.sort();
    found
}

#[test]
fn rebuilds_from_the_store_are_cold_builds_bit_for_bit() {
    let Some(fx) = common::fixtures() else { return };
    if !common::require(common::is_root(), "root") {
        return;
    }
    let started = Instant::now();
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("block-cache");
    let _ = std::fs::remove_dir_all(&base);
    let cache = base.join("cache");
    let store = cache.join("blocks-v1");
    let (fx, base, cache) = (fx.as_path(), base.as_path(), cache.as_path());
    // The whole cache directory starts empty (no solv cache, no block store): the cold
    // build is a first build in every way, and its rebuilds read what it cached.
    assert!(!cache.exists(), "a cache left from an earlier run");
    let zstd = ["--compression", "zstd", "--compress-arg", "level=3"];
    let erofs = ["--rootfs-type", "erofs", "--erofs-compression", "lz4hc"];

    // Cold: xz (with the PXE tree), then zstd and EROFS side by side, each the first of its
    // namespace in the store.
    let xz_cold = build(fx, base, cache, "xz-cold", &["--make-pxe-live"]);
    let (zstd_cold, erofs_cold) = side_by_side(
        || build(fx, base, cache, "zstd-cold", &zstd),
        || build(fx, base, cache, "erofs-cold", &erofs),
    );
    for cold in [&xz_cold, &zstd_cold, &erofs_cold] {
        eprintln!(
            "{}: {:.1} s, {} blocks compressed",
            cold.name,
            cold.seconds,
            cold.cache_figure("blocks_compressed")
        );
    }
    // Served from the store.
    let xz_warm = build(fx, base, cache, "xz-warm", &["--make-pxe-live"]);
    let (zstd_warm, erofs_warm) = side_by_side(
        || build(fx, base, cache, "zstd-warm", &zstd),
        || build(fx, base, cache, "erofs-warm", &erofs),
    );
    assert_served(&xz_cold, &xz_warm);
    let pxe = format!("{LABEL}-pxe");
    assert_eq!(
        tree_sums(&xz_cold.out.join(&pxe)),
        tree_sums(&xz_warm.out.join(&pxe)),
        "the PXE trees differ"
    );
    assert_served(&zstd_cold, &zstd_warm);

    // Damage: four xz entries, each its own way.
    let xz_entries = entries_of(&store, "squashfs-block v1 xz");
    let zstd_entries = entries_of(&store, "squashfs-block v1 zstd");
    assert!(
        xz_entries.len() >= 4 && !zstd_entries.is_empty(),
        "too few entries to damage: {} xz, {} zstd",
        xz_entries.len(),
        zstd_entries.len()
    );
    let step = xz_entries.len() / 4;
    let victims: Vec<&PathBuf> = (0..4).map(|i| &xz_entries[i * step]).collect();
    let mut flipped = std::fs::read(victims[0]).unwrap();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    std::fs::write(victims[0], flipped).unwrap();
    let whole = std::fs::read(victims[1]).unwrap();
    std::fs::write(victims[1], &whole[..whole.len() / 2]).unwrap();
    let mut longer = std::fs::read(victims[2]).unwrap();
    longer.extend_from_slice(&[0u8; 100]);
    std::fs::write(victims[2], longer).unwrap();
    // A zstd entry, valid in its own namespace, under an xz key's name.
    std::fs::copy(&zstd_entries[0], victims[3]).unwrap();

    // Two builds side by side on the damaged store.
    let (d1, d2) = side_by_side(
        || build(fx, base, cache, "xz-damaged-1", &[]),
        || build(fx, base, cache, "xz-damaged-2", &[]),
    );
    for d in [&d1, &d2] {
        assert_eq!(
            sha256(&xz_cold.iso),
            sha256(&d.iso),
            "{} differs from the cold build",
            d.name
        );
    }
    let rejected = d1.cache_figure("rejected") + d2.cache_figure("rejected");
    eprintln!(
        "damaged store: 4 entries damaged, {rejected} rejected by the two builds side by side; \
         both ISOs are the cold one"
    );
    // A damaged entry stays until a reader rejects it (a put never replaces an entry).
    assert!(
        rejected >= 4.0,
        "only {rejected} of 4 damaged entries rejected"
    );

    let stats = run_ok(
        Command::new(common::kiln())
            .args(["cache", "stats", "--cache"])
            .arg(cache),
    );
    eprintln!("{stats}");
    assert!(stats.contains("squashfs-block v1 xz"), "{stats}");
    assert_served(&erofs_cold, &erofs_warm);
    let _ = std::fs::remove_dir_all(base);
    eprintln!(
        "block_cache builds: 8 builds in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

/// `n` files of `blocks` distinct 128 KiB blocks of compressible text each under `dir`.
fn known_blocks(dir: &Path, n: usize, blocks: usize, seed: u64) {
    common::write_text_files(dir, seed | 1, n, blocks * (128 << 10));
}

fn kiln_ok(args: &[&str], cache: &Path) -> String {
    run_ok(
        Command::new(common::kiln())
            .args(args)
            .arg("--cache")
            .arg(cache)
            .env("NO_COLOR", "1"),
    )
}

fn stats_json(cache: &Path) -> serde_json::Value {
    let out = Command::new(common::kiln())
        .args(["cache", "stats", "--json", "--cache"])
        .arg(cache)
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn cache_stats_prune_clear() {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("block-cache-cli");
    let _ = std::fs::remove_dir_all(&base);
    let (src, cache) = (base.join("src"), base.join("cache"));
    // 4 files of 3 full blocks each, all different, no tails: 12 data blocks, no fragment.
    known_blocks(&src, 4, 3, 0x9e37_79b9_7f4a_7c15);
    let src_arg = src.to_str().unwrap();
    let img = |n: &str| base.join(n).display().to_string();
    let write = |out: &str, extra: &[&str]| {
        let mut args = vec!["-v", "write", "squashfs", src_arg, out, "--comp", "xz"];
        args.extend_from_slice(&["--mkfs-time", "1700000000"]);
        args.extend_from_slice(extra);
        kiln_ok(&args, &cache)
    };

    // No store at all with size 0; the image it writes is the cold reference.
    let plain = img("plain.sqfs");
    write(&plain, &["--block-cache-size", "0"]);
    assert!(!cache.join("blocks-v1").exists(), "size 0 opened a store");

    let first = img("first.sqfs");
    write(&first, &[]);
    let s = stats_json(&cache);
    eprintln!("after one write: {s:#}");
    assert_eq!(s["entries"], 12, "{s:#}");
    let namespaces = s["namespaces"].as_array().unwrap();
    assert_eq!(namespaces.len(), 1, "{s:#}");
    assert!(
        namespaces[0]["params"]
            .as_str()
            .unwrap()
            .starts_with("squashfs-block v1 xz"),
        "{s:#}"
    );
    assert_eq!(s["limit"], 1u64 << 30, "{s:#}");
    let bytes = s["bytes"].as_u64().unwrap();

    // Again: every block from the store, the same image.
    let second = img("second.sqfs");
    let log = write(&second, &[]);
    assert!(
        log.contains("12 blocks from the cache, 0 compressed (100.0 % hits)"),
        "{log}"
    );
    for out in [&first, &second] {
        assert_eq!(sha256(Path::new(&plain)), sha256(Path::new(out)), "{out}");
    }
    let s = stats_json(&cache);
    let builds = s["builds"].as_array().unwrap();
    assert_eq!(builds.len(), 2, "{s:#}");
    assert_eq!(builds[0]["from_cache"], 0, "{s:#}");
    assert_eq!(builds[0]["compressed"], 12, "{s:#}");
    assert_eq!(builds[1]["from_cache"], 12, "{s:#}");
    assert_eq!(builds[1]["hit_rate"], 100.0, "{s:#}");
    let text = kiln_ok(&["cache", "stats"], &cache);
    eprintln!("{text}");
    assert!(text.contains("12 entries"), "{text}");
    assert!(
        text.contains("12 from the cache, 0 compressed (100.0 % hits)"),
        "{text}"
    );

    // Prune to half: at most that much is kept.
    let half = bytes / 2;
    kiln_ok(&["cache", "prune", "--size", &half.to_string()], &cache);
    let s = stats_json(&cache);
    let (kept, entries) = (s["bytes"].as_u64().unwrap(), s["entries"].as_u64().unwrap());
    eprintln!("pruned to {half}: {entries} entries, {kept} bytes");
    assert!(kept <= half && entries < 12 && entries > 0, "{s:#}");

    // A write after the prune is still the same image.
    let third = img("third.sqfs");
    write(&third, &[]);
    assert_eq!(sha256(Path::new(&plain)), sha256(Path::new(&third)));

    kiln_ok(&["cache", "clear"], &cache);
    let s = stats_json(&cache);
    assert_eq!(
        (s["entries"].as_u64(), s["bytes"].as_u64()),
        (Some(0), Some(0))
    );

    // A cache directory that cannot be made: one warning, the image still written.
    let blocked = base.join("not-a-dir");
    std::fs::write(&blocked, "a file").unwrap();
    let out = Command::new(common::kiln())
        .args([
            "write",
            "squashfs",
            src_arg,
            &img("fourth.sqfs"),
            "--comp",
            "xz",
            "--mkfs-time",
            "1700000000",
        ])
        .arg("--cache")
        .arg(&blocked)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stderr
            .matches("warning: building without the block cache")
            .count(),
        1,
        "{stderr}"
    );
    assert_eq!(sha256(Path::new(&plain)), sha256(&base.join("fourth.sqfs")));

    // A bad size is the user's error.
    let out = Command::new(common::kiln())
        .args([
            "write",
            "squashfs",
            src_arg,
            &img("x.sqfs"),
            "--block-cache-size",
            "4X",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&base);
}
