//! `kiln write squashfs ...`: one image from a directory.

use kiln::media;

use super::args::{SquashfsArgs, WriteCommand};
use super::{EXIT_BAD_INPUT, EXIT_ENV, EXIT_OK};

/// Run a `write` subcommand.
pub fn run(cmd: &WriteCommand) -> anyhow::Result<i32> {
    match cmd {
        WriteCommand::Squashfs(a) => squashfs(a),
    }
}

fn bad(msg: String) -> anyhow::Result<i32> {
    eprintln!("error: {msg}");
    Ok(EXIT_BAD_INPUT)
}

fn squashfs(a: &SquashfsArgs) -> anyhow::Result<i32> {
    let codec = match media::codec(&a.comp, &a.comp_opt) {
        Ok(c) => c,
        Err(e) => return bad(e),
    };
    let block_size = match media::parse_size(&a.block_size) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    // SOURCE_DATE_EPOCH (reproducible-builds.org): fixed mkfs time and clamped mtimes.
    let epoch = match (a.mkfs_time, std::env::var("SOURCE_DATE_EPOCH")) {
        (Some(t), _) => Some(t),
        (None, Ok(v)) => match v.trim().parse::<u32>() {
            Ok(t) => Some(t),
            Err(_) => {
                return bad(format!(
                    "SOURCE_DATE_EPOCH `{v}` is not a number of seconds"
                ))
            }
        },
        (None, Err(_)) => None,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    let opts = media::SquashfsOptions {
        codec,
        block_size,
        mkfs_time: epoch.unwrap_or(now),
        clamp_mtime: epoch.map(i64::from),
        all_root: a.all_root,
        xattrs: !a.no_xattrs,
        fragments: !a.no_fragments,
        tail_packing: !a.no_tail_packing,
        dedup: !a.no_duplicates,
        sparse: !a.no_sparse,
        exportable: !a.no_exports,
        threads: a.processors,
    };
    let started = std::time::Instant::now();
    match media::write_squashfs_dir(&a.dir, &a.out, !a.no_xattrs, &opts) {
        Ok(s) => {
            tracing::info!(
                "wrote `{}`: {} bytes, {} inodes, {} files ({} duplicates), {} fragments in {:.1?}",
                a.out.display(),
                s.bytes,
                s.inodes,
                s.files,
                s.duplicates,
                s.fragments,
                started.elapsed()
            );
            Ok(EXIT_OK)
        }
        Err(e) => {
            let code = if e.is_bad_input() {
                EXIT_BAD_INPUT
            } else {
                EXIT_ENV
            };
            eprintln!("error: {:#}", anyhow::Error::new(e));
            Ok(code)
        }
    }
}
