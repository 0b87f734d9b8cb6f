//! `kiln build --make-iso`: the whole pipeline, with a stage timing table at the end.

use std::time::Instant;

use kiln::creator::{BuildSettings, Creator, Reporters, Stage};
use kiln::install::scriptlet::ScriptRunner;
use kiln::kickstart::commands::bootloader::Bootloader;
use kiln::kickstart::commands::partition::Partition;
use kiln::media;

use super::args::BuildArgs;
use super::events::{Events, JsonProgress};
use super::report::{DownloadBar, InstallBar};
use super::resolve::{cause_chain, default_cache, host_arch};
use super::{EXIT_BAD_INPUT, EXIT_ENV, EXIT_INTERRUPTED, EXIT_OK};

fn bad(msg: String) -> anyhow::Result<i32> {
    eprintln!("error: {msg}");
    Ok(EXIT_BAD_INPUT)
}

/// mksquashfs-style `--compress-arg` values (`-b 1M`, `-Xbcj x86`, ...) or kiln's
/// `KEY=VALUE`, into (block size, codec options).
fn compress_args(args: &[String]) -> Result<(Option<String>, Vec<String>), String> {
    // Each value may hold a flag and its argument ("-b 1M") or come as two values.
    let words: Vec<String> = args
        .iter()
        .flat_map(|a| a.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let mut block = None;
    let mut opts = Vec::new();
    let mut i = 0;
    let next = |i: &mut usize, flag: &str| -> Result<String, String> {
        *i += 1;
        words
            .get(*i)
            .cloned()
            .ok_or_else(|| format!("`{flag}` needs a value"))
    };
    while i < words.len() {
        let w = words[i].clone();
        match w.as_str() {
            "-b" => block = Some(next(&mut i, "-b")?),
            "-Xbcj" => opts.push(format!("bcj={}", next(&mut i, "-Xbcj")?)),
            "-Xdict-size" => opts.push(format!("dict-size={}", next(&mut i, "-Xdict-size")?)),
            "-Xcompression-level" => {
                opts.push(format!("level={}", next(&mut i, "-Xcompression-level")?))
            }
            "-Xpreset" => opts.push(format!("preset={}", next(&mut i, "-Xpreset")?)),
            "-Xe" => opts.push("extreme".into()),
            "-Xhc" => opts.push("hc".into()),
            "-Xwindow-size" => opts.push(format!("window={}", next(&mut i, "-Xwindow-size")?)),
            _ if w.starts_with('-') => return Err(format!("unsupported --compress-arg `{w}`")),
            _ => opts.push(w),
        }
        i += 1;
    }
    Ok((block, opts))
}

/// livecd-creator's default label: `livecd-<kickstart name>`, at most 32 characters.
fn default_label(ks: &str) -> String {
    let stem = std::path::Path::new(ks)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut l = format!("livecd-{clean}");
    l.truncate(32);
    l
}

/// `kiln build`.
pub fn run(a: &BuildArgs, color: bool) -> anyhow::Result<i32> {
    let started = Instant::now();
    let Some(version) = kiln::kickstart::KsVersion::from_name(&a.resolve.ksversion) else {
        return bad(format!(
            "unknown kickstart version `{}`",
            a.resolve.ksversion
        ));
    };
    let ks = match kiln::kickstart::parse_file(
        &a.resolve.ks,
        &kiln::kickstart::ParseOptions {
            version,
            ..kiln::kickstart::ParseOptions::default()
        },
    ) {
        Ok(k) => k,
        Err(e) => {
            super::diagnostics::print_error(&e, color);
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let arch_name = a.resolve.arch.clone().unwrap_or_else(host_arch);
    let Some(arch) = kiln::arch::info(&arch_name) else {
        return bad(format!("unknown architecture `{arch_name}`"));
    };
    let label = a
        .fslabel
        .clone()
        .unwrap_or_else(|| default_label(&a.resolve.ks));
    if label.len() > 32 || !label.bytes().all(|c| (0x21..0x7f).contains(&c)) {
        return bad(format!(
            "label `{label}` must be at most 32 printable ASCII characters without spaces"
        ));
    }
    let (block, copts) = match compress_args(&a.compress_args) {
        Ok(x) => x,
        Err(e) => return bad(e),
    };
    let codec = match media::codec(&a.compression, &copts) {
        Ok(c) => c,
        Err(e) => return bad(e.to_string()),
    };
    let block_size = match media::parse_size(block.as_deref().unwrap_or("128K")) {
        Ok(b) => b,
        Err(e) => return bad(e.to_string()),
    };
    let shell_before = match a.shell_before.as_deref().map(|s| (s, Stage::from_name(s))) {
        Some((s, None)) => {
            return bad(format!(
                "unknown stage `{s}` (prepare, install, configure, finalize, package)"
            ))
        }
        Some((_, st)) => st,
        None => None,
    };
    let epoch: Option<i64> = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => match v.trim().parse() {
            Ok(t) => Some(t),
            Err(_) => {
                return bad(format!(
                    "SOURCE_DATE_EPOCH `{v}` is not a number of seconds"
                ))
            }
        },
        Err(_) => None,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    let mut cli_repos = Vec::new();
    for r in &a.resolve.repos {
        match kiln::repo::parse_repo_arg(r) {
            Ok(p) => cli_repos.push(p),
            Err(e) => return bad(e.to_string()),
        }
    }
    let gpg = match super::resolve::gpg_options(&a.resolve) {
        Ok(g) => g,
        Err(e) => return bad(e.to_string()),
    };
    let cache = kiln::repo::Cache::new(
        a.resolve.cache.clone().unwrap_or_else(default_cache),
        a.resolve.cacheonly,
    );
    let bl = ks.command::<Bootloader>();
    let mut kernel_args = kiln::configure::kernel_cmdline(&ks);
    if let Some(extra) = &a.kernel_args {
        if !kernel_args.is_empty() {
            kernel_args.push(' ');
        }
        kernel_args.push_str(extra);
    }
    let product = a.product.clone().unwrap_or_else(|| "Linux".into());
    let settings = BuildSettings {
        ks_path: a.resolve.ks.clone().into(),
        arch,
        resolve: kiln::resolve::ResolveOptions {
            arch: arch.name.to_string(),
            releasever: a.resolve.releasever.clone(),
            cli_repos,
            cache,
            filelists: !a.resolve.no_filelists,
        },
        gpg,
        jobs: a.jobs,
        resultdir: a.resultdir.clone(),
        tmpdir: a.tmpdir.clone(),
        label: label.clone(),
        title: a.title.clone().unwrap_or_else(|| product.clone()),
        product,
        squashfs: media::SquashfsOptions {
            codec,
            block_size,
            mkfs_time: epoch.map(|e| e as u32).unwrap_or(now),
            clamp_mtime: epoch,
            all_root: false,
            xattrs: true,
            fragments: true,
            tail_packing: true,
            dedup: true,
            sparse: true,
            exportable: true,
            threads: 0,
            block_cache: None,
        },
        ext4_in_squashfs: a.ext4_in_squashfs,
        rootfs_size_mb: ks
            .command::<Partition>()
            .and_then(|p| p.root_size_mib())
            .map(|s| s as u64)
            .unwrap_or(4096),
        syslinux: a.syslinux,
        templates: a.templates.clone(),
        kernel_args,
        timeout: bl
            .and_then(|b| b.timeout)
            .map(|t| t.max(0) as u32)
            .unwrap_or(10),
        nocleanup: a.nocleanup,
        source_date_epoch: epoch,
        image_only: a.image_only,
        keep_image: a.keep_image,
        no_scripts: false,
        no_digest: a.nodigest,
        reuse: match (&a.fs_image, &a.disk_image) {
            (Some(p), _) => Some(kiln::creator::Reuse::FsImage(p.clone())),
            (None, Some(p)) => Some(kiln::creator::Reuse::DiskImage(p.clone())),
            _ => None,
        },
        outputs: kiln::creator::Outputs {
            // The ISO stays the default output.
            iso: a.make_iso
                || !(a.make_pxe_live
                    || a.make_netroot
                    || a.make_disk
                    || a.make_fsimage
                    || a.make_tar),
            pxe_live: a.make_pxe_live,
            netroot: a.make_netroot,
            disk: a.make_disk,
            qcow2: a.qcow2,
            fsimage: a.make_fsimage,
            tar: a.make_tar,
            tar_compressor: {
                let (p, s) = media::disk::tar_compressor(&a.compression);
                (p.to_string(), s.to_string())
            },
        },
        ks,
    };
    let runner = match ScriptRunner::current() {
        Ok(r) => r.with_timeout(Some(std::time::Duration::from_secs(a.script_timeout))),
        Err(e) => {
            eprintln!("error: cannot find the kiln binary for scriptlets: {e}");
            return Ok(EXIT_ENV);
        }
    };
    if a.nodigest {
        super::install::warn_nodigest();
    }
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let dl = DownloadBar::new(tty);
    let inst = InstallBar::new(tty);
    let events = match a.json_progress.as_deref().map(|t| (t, Events::open(t))) {
        Some((_, Ok(e))) => Some(e),
        Some((t, Err(e))) => {
            eprintln!("error: cannot send progress to `{t}`: {e}");
            return Ok(EXIT_ENV);
        }
        None => None,
    };
    let json_dl = events.as_ref().map(|e| JsonProgress::new(e, "download"));
    let json_inst = events.as_ref().map(|e| JsonProgress::new(e, "install"));
    let download: &dyn kiln::progress::DownloadReporter = match &json_dl {
        Some(j) => j,
        None => &dl,
    };
    let install: &dyn kiln::progress::InstallReporter = match &json_inst {
        Some(j) => j,
        None => &inst,
    };
    let stage_cb = |st: Stage, done: bool, secs: f64| {
        if let Some(ev) = &events {
            let mut v = serde_json::json!({
                "event": "stage",
                "stage": st.name(),
                "state": if done { "end" } else { "start" },
            });
            if done {
                v["seconds"] = secs.into();
            }
            ev.send(v);
        }
        if done {
            tracing::info!("stage {} done in {secs:.1} s", st.name());
        } else {
            eprintln!("kiln: {} ...", st.name());
        }
    };
    let mut creator = match Creator::new(
        settings,
        runner,
        Reporters {
            download,
            install,
            stage: &stage_cb,
        },
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {}", cause_chain(&e));
            return Ok(e.exit_code());
        }
    };
    let result = creator.create(shell_before);
    let report = creator.report().clone();
    if kiln::cancel::interrupted() && result.is_err() {
        let stage = report
            .stages
            .last()
            .map(|(n, _)| n.as_str())
            .unwrap_or("prepare");
        // Said before the cleanup: removing a large root can take a while on a busy disk.
        eprintln!(
            "kiln: interrupted during the {stage} stage{}",
            if a.nocleanup {
                ""
            } else {
                "; removing the work directory and partial results"
            }
        );
        if let Some(ev) = &events {
            ev.send(serde_json::json!({
                "event": "result",
                "ok": false,
                "exit_code": EXIT_INTERRUPTED,
                "error": format!("interrupted during the {stage} stage"),
            }));
        }
        // Removes the work directory (or says where it is kept, with --nocleanup).
        drop(creator);
        return Ok(EXIT_INTERRUPTED);
    }
    eprintln!("\n{:<12} {:>9}", "stage", "seconds");
    for (n, s) in &report.stages {
        eprintln!("{n:<12} {s:>9.1}");
    }
    eprintln!("{:<12} {:>9.1}", "total", started.elapsed().as_secs_f64());
    // Target programs (scriptlets, %post, dracut, grub-mkimage), apart: for a foreign arch
    // the only part of the build that runs emulated.
    if let Some(how) = &report.emulation {
        eprintln!(
            "under emulation: {:.1} s of target code, through {how}",
            report.target_code_secs
        );
    } else {
        eprintln!("target code: {:.1} s (native)", report.target_code_secs);
    }
    match result {
        Ok(r) => {
            // The log beside the manifest that names it.
            let log = a.resultdir.join(kiln::manifest::LOG);
            if let Err(e) = std::fs::write(&log, super::captured_log()) {
                eprintln!("warning: cannot write `{}`: {e}", log.display());
            }
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
            if let Some(ev) = &events {
                ev.send(serde_json::json!({
                    "event": "result",
                    "ok": true,
                    "exit_code": EXIT_OK,
                    "artifacts": r.artifacts,
                }));
            }
            // On a stdout that carries events the report is one more line.
            if a.resolve.json && a.json_progress.as_deref() == Some("-") {
                println!("{}", serde_json::json!({"event": "report", "report": r}));
            } else if a.resolve.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            }
            for art in &r.artifacts {
                eprintln!(
                    "{} {} ({:.1} MiB)",
                    art.kind,
                    art.path.display(),
                    art.size as f64 / (1u64 << 20) as f64
                );
            }
            eprintln!("{} packages installed", r.packages.len());
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: {}", cause_chain(&e));
            if let Some(ev) = &events {
                ev.send(serde_json::json!({
                    "event": "result",
                    "ok": false,
                    "exit_code": e.exit_code(),
                    "error": cause_chain(&e),
                }));
            }
            Ok(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mksquashfs_style_args() {
        let (b, o) = compress_args(&["-b 1M".into(), "-Xbcj".into(), "x86".into()]).unwrap();
        assert_eq!(b.as_deref(), Some("1M"));
        assert_eq!(o, vec!["bcj=x86".to_string()]);
        assert!(compress_args(&["-nope".into()]).is_err());
        assert_eq!(default_label("/x/live-x86_64.ks"), "livecd-live-x86_64");
    }
}
