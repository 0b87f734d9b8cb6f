//! `kiln cache stats|prune|clear`: the persistent block cache (`<cache>/blocks-v1`) seen and
//! managed from the command line, with the figures of the last builds that used it.

use std::path::{Path, PathBuf};

use kiln::media::block_store::{self, STORE_DIR};
use serde_json::json;

use super::args::{CacheCommand, CacheDirArg, CachePruneArgs, CacheStatsArgs};
use super::{EXIT_BAD_INPUT, EXIT_ENV, EXIT_OK};

/// Builds `stats` lists.
const LAST_BUILDS: usize = 10;

/// Run a `cache` subcommand.
pub fn run(cmd: &CacheCommand) -> anyhow::Result<i32> {
    match cmd {
        CacheCommand::Stats(a) => stats(a),
        CacheCommand::Prune(a) => prune(a),
        CacheCommand::Clear(a) => clear(a),
    }
}

/// The cache directory and its store directory.
fn dirs(a: &CacheDirArg) -> (PathBuf, PathBuf) {
    let cache = a
        .cache
        .clone()
        .unwrap_or_else(super::settings::default_cache);
    let store = block_store::store_dir(&cache);
    (cache, store)
}

fn failed(e: impl std::fmt::Display, source: &std::io::Error) -> i32 {
    eprintln!("error: {e}: {source}");
    EXIT_ENV
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

fn stats(a: &CacheStatsArgs) -> anyhow::Result<i32> {
    let (cache, dir) = dirs(&a.dir);
    let usage = match block_store::usage(&dir) {
        Ok(u) => u,
        Err(e) => return Ok(failed(&e, &e.source)),
    };
    let limit = block_store::default_limit(&dir, 0);
    let history = block_store::history(&dir);
    let last = &history[history.len().saturating_sub(LAST_BUILDS)..];
    let packages = tree_bytes(&cache, Some(STORE_DIR));
    if a.json {
        let builds: Vec<_> = last
            .iter()
            .map(|r| {
                json!({
                    "time": r.time,
                    "image": r.image,
                    "image_bytes": r.image_bytes,
                    "from_cache": r.from_cache,
                    "compressed": r.compressed,
                    "hit_rate": block_store::hit_rate(r.from_cache, r.compressed),
                    "seconds_saved": r.seconds_saved,
                })
            })
            .collect();
        let namespaces: Vec<_> = usage
            .namespaces
            .iter()
            .map(|(params, entries, bytes)| {
                json!({"params": params, "entries": entries, "bytes": bytes})
            })
            .collect();
        let v = json!({
            "dir": dir,
            "entries": usage.entries,
            "bytes": usage.bytes,
            "namespaces": namespaces,
            "limit": limit,
            "builds": builds,
            "package_cache_bytes": packages,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(EXIT_OK);
    }
    println!(
        "block cache {}: {} entries, {}",
        dir.display(),
        usage.entries,
        mib(usage.bytes)
    );
    for (params, entries, bytes) in &usage.namespaces {
        println!("  {entries:>8} entries {:>12}  {params}", mib(*bytes));
    }
    println!(
        "limit a build uses: {} (twice the largest image recorded, at least {}; \
         --block-cache-size sets it)",
        mib(limit),
        mib(block_store::MIN_DEFAULT_LIMIT)
    );
    if last.is_empty() {
        println!("no builds recorded");
    } else {
        println!("last builds:");
    }
    for r in last {
        println!(
            "  {}  {}  {} from the cache, {} compressed ({:.1} % hits), {:.1} s saved",
            kiln::manifest::rfc3339(r.time),
            r.image,
            r.from_cache,
            r.compressed,
            block_store::hit_rate(r.from_cache, r.compressed),
            r.seconds_saved
        );
    }
    println!("package cache {}: {}", cache.display(), mib(packages));
    Ok(EXIT_OK)
}

fn prune(a: &CachePruneArgs) -> anyhow::Result<i32> {
    let (_, dir) = dirs(&a.dir);
    let limit = match a.size.as_deref().map(super::settings::parse_bytes) {
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("error: --size: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
        None => block_store::default_limit(&dir, 0),
    };
    match block_store::prune(&dir, limit) {
        Ok(p) => {
            println!(
                "pruned {} entries ({}) from {}; {} kept (limit {})",
                p.removed,
                mib(p.freed),
                dir.display(),
                mib(p.kept),
                mib(limit)
            );
            Ok(EXIT_OK)
        }
        Err(e) => Ok(failed(&e, &e.source)),
    }
}

fn clear(a: &CacheDirArg) -> anyhow::Result<i32> {
    let (_, dir) = dirs(a);
    match block_store::clear(&dir) {
        Ok(freed) => {
            println!("cleared {}: {} freed", dir.display(), mib(freed));
            Ok(EXIT_OK)
        }
        Err(e) => Ok(failed(&e, &e.source)),
    }
}

/// Bytes of the files under `dir` (not following links), leaving out its entry `skip`.
fn tree_bytes(dir: &Path, skip: Option<&str>) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for e in rd.flatten() {
        if skip.is_some_and(|s| e.file_name() == s) {
            continue;
        }
        match e.file_type() {
            Ok(t) if t.is_dir() => total += tree_bytes(&e.path(), None),
            Ok(t) if t.is_file() => total += e.metadata().map_or(0, |m| m.len()),
            _ => {}
        }
    }
    total
}
