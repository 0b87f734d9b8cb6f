//! `kiln write squashfs|iso|efiboot ...`: one image from a directory.

use kiln::media;

use std::path::{Path, PathBuf};

use super::args::{EfibootArgs, ErofsArgs, IsoArgs, SquashfsArgs, WriteCommand};
use super::{EXIT_BAD_INPUT, EXIT_ENV, EXIT_INTERRUPTED, EXIT_OK};

/// Run a `write` subcommand.
pub fn run(cmd: &WriteCommand) -> anyhow::Result<i32> {
    match cmd {
        WriteCommand::Squashfs(a) => squashfs(a),
        WriteCommand::Erofs(a) => erofs(a),
        WriteCommand::Iso(a) => iso(a),
        WriteCommand::Efiboot(a) => efiboot(a),
    }
}

fn bad(msg: String) -> anyhow::Result<i32> {
    eprintln!("error: {msg}");
    Ok(EXIT_BAD_INPUT)
}

fn squashfs(a: &SquashfsArgs) -> anyhow::Result<i32> {
    let codec = match media::codec(&a.comp, &a.comp_opt) {
        Ok(c) => c,
        Err(e) => return bad(e.to_string()),
    };
    let block_size = match media::parse_size(&a.block_size) {
        Ok(b) => b,
        Err(e) => return bad(e.to_string()),
    };
    // SOURCE_DATE_EPOCH (reproducible-builds.org): fixed mkfs time and clamped mtimes.
    let epoch = match super::settings::source_date_epoch_u32(a.mkfs_time) {
        Ok(e) => e,
        Err(e) => return bad(e.to_string()),
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
        block_cache: None,
        block_store: None,
    };
    let (block_store, limit) = match store(&a.cache, a.block_cache_size.as_deref()) {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    let opts = media::SquashfsOptions {
        block_store,
        ..opts
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
            let used = (s.blocks_from_cache, s.blocks_compressed, s.seconds_saved);
            finish_store(&opts.block_store, limit, &a.out, s.bytes, used);
            Ok(EXIT_OK)
        }
        Err(media::MediaError::Interrupted) => {
            eprintln!("kiln: interrupted; no output was written");
            Ok(EXIT_INTERRUPTED)
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

fn erofs(a: &ErofsArgs) -> anyhow::Result<i32> {
    let compression = match media::erofs_compression(&a.compress) {
        Ok(c) => c,
        Err(e) => return bad(e.to_string()),
    };
    let pcluster_size = match media::parse_size(&a.pcluster_size) {
        Ok(b) => b,
        Err(e) => return bad(e.to_string()),
    };
    if a.label.len() > 16 {
        return bad(format!("volume name `{}` is longer than 16 bytes", a.label));
    }
    let uuid = match a.uuid.as_deref().map(parse_uuid).transpose() {
        Ok(u) => u,
        Err(e) => return bad(e),
    };
    // SOURCE_DATE_EPOCH (reproducible-builds.org): fixed build time and clamped mtimes.
    let epoch = match super::settings::source_date_epoch(a.timestamp) {
        Ok(Some(e)) if e < 0 => return bad(format!("build time {e} is before 1970")),
        Ok(e) => e,
        Err(e) => return bad(e.to_string()),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let opts = media::ErofsOptions {
        compression,
        pcluster_size,
        mkfs_time: epoch.map_or(now, |e| e as u64),
        clamp_mtime: epoch,
        all_root: a.all_root,
        xattrs: !a.no_xattrs,
        dedup: !a.no_dedup,
        threads: a.processors,
        uuid,
        volume_name: a.label.clone(),
        block_store: None,
    };
    let (block_store, limit) = match store(&a.cache, a.block_cache_size.as_deref()) {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    let opts = media::ErofsOptions {
        block_store,
        ..opts
    };
    let started = std::time::Instant::now();
    let r = media::write_erofs_dir(&a.dir, &a.out, &opts);
    finish(r, |s| {
        let used = (
            s.segments_from_cache,
            s.segments_compressed,
            s.seconds_saved,
        );
        finish_store(&opts.block_store, limit, &a.out, s.bytes, used);
        tracing::info!(
            "wrote `{}`: {} bytes, {} inodes, {} files ({} duplicates), {} compressed and {} \
             plain pclusters in {:.1?}",
            a.out.display(),
            s.bytes,
            s.inodes,
            s.files,
            s.duplicates,
            s.compressed_pclusters,
            s.plain_pclusters,
            started.elapsed()
        )
    })
}

/// The block store of `--cache` (else the default cache) with `--block-cache-size`.
fn store(
    cache: &Option<PathBuf>,
    size: Option<&str>,
) -> Result<(Option<media::block_store::BlockStore>, Option<u64>), String> {
    let dir = cache.clone().unwrap_or_else(super::settings::default_cache);
    super::settings::block_store(&dir, size)
}

/// After a write with `store`: the figures (`used`: from the cache, compressed, seconds saved)
/// logged and recorded, the store pruned.
fn finish_store(
    store: &Option<media::block_store::BlockStore>,
    limit: Option<u64>,
    out: &Path,
    bytes: u64,
    used: (u64, u64, f64),
) {
    let Some(store) = store else { return };
    let used = media::block_store::CacheUse::new(used.0, used.1, used.2, &store.counters());
    tracing::info!("block cache: {}", used.line());
    media::block_store::finish_write(store, limit, &out.display().to_string(), bytes, &used);
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (dashes optional) as 16 bytes.
fn parse_uuid(text: &str) -> Result<[u8; 16], String> {
    let hex: Vec<u8> = text.bytes().filter(|&b| b != b'-').collect();
    let bad = || format!("`{text}` is not a UUID (32 hex digits, dashes allowed)");
    if hex.len() != 32 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad());
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).map_err(|_| bad())?;
        out[i] = u8::from_str_radix(s, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// `--source-date-epoch`, else SOURCE_DATE_EPOCH, else none.
fn finish<T>(r: Result<T, media::MediaError>, ok: impl FnOnce(T)) -> anyhow::Result<i32> {
    match r {
        Ok(v) => {
            ok(v);
            Ok(EXIT_OK)
        }
        Err(media::MediaError::Interrupted) => {
            eprintln!("kiln: interrupted; no output was written");
            Ok(EXIT_INTERRUPTED)
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

fn iso(a: &IsoArgs) -> anyhow::Result<i32> {
    let source_date_epoch = match super::settings::source_date_epoch(a.source_date_epoch) {
        Ok(e) => e,
        Err(e) => return bad(e.to_string()),
    };
    let hybrid = match &a.hybrid_mbr {
        Some(p) => match std::fs::read(p) {
            Ok(t) => Some(media::Hybrid {
                style: media::MbrStyle::detect(&t),
                mbr_template: t,
                gpt: !a.no_gpt,
                append_efi: a.efi_boot.is_some(),
            }),
            Err(e) => return bad(format!("cannot read hybrid MBR `{}`: {e}", p.display())),
        },
        None if a.efi_gpt => Some(media::Hybrid {
            mbr_template: Vec::new(),
            style: media::MbrStyle::Grub2,
            gpt: true,
            append_efi: true,
        }),
        None => None,
    };
    let grub_mbr = hybrid
        .as_ref()
        .is_some_and(|h| !h.mbr_template.is_empty() && h.style == media::MbrStyle::Grub2);
    let bios_boot = a.bios_boot.as_ref().map(|p| media::BiosBoot {
        path: p.clone(),
        load_size: a.boot_load_size,
        boot_info_table: !a.no_boot_info_table,
        grub2_boot_info: a.grub2_boot_info || grub_mbr,
    });
    // lorax's layouts: isolinux/boot.cat beside ISOLINUX, else boot.cat at the top.
    let boot_catalog = a.boot_catalog.clone().unwrap_or_else(|| {
        match a.bios_boot.as_deref().and_then(Path::parent) {
            Some(d) if d.ends_with("isolinux") => d.join("boot.cat"),
            _ => PathBuf::from("boot.cat"),
        }
    });
    let opts = media::IsoOptions {
        volume_id: a.volid.clone(),
        publisher: a.publisher.clone(),
        application: a.appid.clone(),
        preparer: a.preparer.clone(),
        joliet: !a.no_joliet,
        bios_boot,
        efi_boot: a.efi_boot.clone(),
        boot_catalog,
        hybrid,
        implant_md5: a.implant_md5,
        source_date_epoch,
        chrp_boot_part: a.chrp_boot_part,
        untranslated_names: a.untranslated_names,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let r = media::write_iso_dir(&a.dir, &a.out, &opts, &mut |_, _| {});
    finish(r, |s| {
        tracing::info!(
            "wrote `{}`: {} bytes, {} blocks, {} files, {} directories{} in {:.1?}",
            a.out.display(),
            s.bytes,
            s.volume_blocks,
            s.files,
            s.dirs,
            s.md5.map(|m| format!(", md5 {m}")).unwrap_or_default(),
            started.elapsed()
        )
    })
}

fn efiboot(a: &EfibootArgs) -> anyhow::Result<i32> {
    let clamp_mtime = match super::settings::source_date_epoch(a.source_date_epoch) {
        Ok(e) => e,
        Err(e) => return bad(e.to_string()),
    };
    let extra_bytes = match media::parse_size(&a.extra) {
        Ok(b) => u64::from(b),
        Err(e) => return bad(e.to_string()),
    };
    let opts = media::FatOptions {
        label: a.label.clone(),
        serial: None,
        clamp_mtime,
        extra_bytes,
    };
    let r = media::write_efiboot_dir(&a.dir, &a.out, &opts);
    finish(r, |s| {
        tracing::info!(
            "wrote `{}`: {} bytes, FAT{}, {} clusters of {} bytes, {} files ({} skipped)",
            a.out.display(),
            s.bytes,
            s.fat_bits,
            s.clusters,
            s.cluster_size,
            s.files,
            s.skipped
        )
    })
}
