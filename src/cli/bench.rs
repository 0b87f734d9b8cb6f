//! `kiln bench-compress`: run the compressor benchmark, draw progress, write the reports.

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kiln::bench::{self, BenchError, Report};
use kiln::error::IoError;

use super::args::BenchCompressArgs;
use super::{EXIT_BAD_INPUT, EXIT_ENV, EXIT_INTERRUPTED, EXIT_OK};

/// Run `bench-compress`.
pub fn run(a: &BenchCompressArgs) -> anyhow::Result<i32> {
    match go(a) {
        Ok(()) => Ok(EXIT_OK),
        // Whatever failed while an interrupt was pending failed because of it.
        Err(_) if kiln::cancel::interrupted() => {
            eprintln!("kiln: interrupted; the settings not measured yet were skipped");
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

fn go(a: &BenchCompressArgs) -> Result<(), BenchError> {
    let host = kiln::arch::info(kiln::arch::host()).ok_or_else(|| BenchError::BadSetting {
        setting: kiln::arch::host().into(),
        msg: "unknown host architecture".into(),
    })?;
    let mut sizes = Vec::new();
    for s in a.block_size.iter().flat_map(|l| l.split(',')) {
        let s = s.trim();
        let b = kiln::media::parse_size(s).map_err(|msg| BenchError::BadSetting {
            setting: s.into(),
            msg: msg.to_string(),
        })?;
        sizes.push(b);
    }
    let list = a
        .codec
        .clone()
        .unwrap_or_else(|| bench::default_settings(host));
    let settings = bench::parse_settings(&list, &sizes)?;

    // Images: --output, else a temporary directory beside the system's temp files.
    let (image_dir, temp) = match &a.output {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(IoError::at("create", d))?;
            (d.clone(), None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("kiln-bench-")
                .tempdir()
                .map_err(IoError::at("create a directory in", &std::env::temp_dir()))?;
            (t.path().to_owned(), Some(t))
        }
    };
    let report_dir = a.output.clone().unwrap_or_else(|| PathBuf::from("."));

    let visible = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = ProgressBar::with_draw_target(
        Some(settings.len() as u64),
        if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{pos}/{len}] {elapsed} {prefix} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar.set_prefix("reading input");
    let input = bench::load(&a.input, &image_dir)?;
    tracing::info!(
        "input `{}`: {} ({} files, {} bytes of file data)",
        a.input.display(),
        input.source,
        input.files,
        input.bytes
    );
    bench::warm(&input.tree);

    let mut rows = Vec::new();
    for (i, s) in settings.iter().enumerate() {
        bar.set_prefix(s.label.clone());
        let image = image_dir.join(bench::image_name(i, s));
        let row = bench::measure(&input, s, &image, a.processors, &mut |p| {
            bar.set_message(p.to_owned())
        })?;
        bar.suspend(|| {
            tracing::info!(
                "{}: {} bytes in {:.2}s ({:.2}s CPU), read back at {}",
                s.label,
                row.image_bytes,
                row.compress_wall_s,
                row.compress_cpu_s,
                row.decompress_mb_s
                    .map_or_else(|| "n/a".to_owned(), |v| format!("{v:.0} MB/s"))
            )
        });
        if temp.is_some() && !a.keep {
            let _ = std::fs::remove_file(&image);
        }
        rows.push(row);
        bar.inc(1);
    }
    bar.finish_and_clear();

    let report = Report {
        input: a.input.clone(),
        kind: input.kind,
        source: input.source.clone(),
        files: input.files,
        uncompressed_bytes: input.bytes,
        threads: a.processors,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        results: rows,
    };
    print!("{}", report.table());
    std::fs::create_dir_all(&report_dir).map_err(IoError::at("create", &report_dir))?;
    for (name, text) in [
        ("bench-compress.csv", report.csv()),
        ("bench-compress.json", report.json()),
        ("bench-compress.svg", report.svg()),
    ] {
        let p = report_dir.join(name);
        std::fs::write(&p, text).map_err(IoError::at("write", &p))?;
    }
    tracing::info!("reports written to `{}`", report_dir.display());
    drop(input); // extracted input data goes before the image directory is decided on
    if let (Some(t), true) = (temp, a.keep) {
        let kept = t.keep();
        tracing::info!("images kept in `{}`", kept.display());
    }
    Ok(())
}
