//! The console without `-v` is for people: no timestamped tracing lines (they go to the log
//! file), the command's own lines still there; `-v` brings the tracing lines back.

mod common;

use std::path::Path;

use common::{kiln_in, write};

/// A tracing line in its full form: `2026-12-06T15:07:42.516900Z  INFO target: message`.
fn tracing_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            let mut words = l.split_whitespace();
            let stamp = words.next().unwrap_or("");
            let level = words.next().unwrap_or("");
            stamp.len() > 20
                && stamp.as_bytes()[4] == b'-'
                && stamp.contains('T')
                && stamp.ends_with('Z')
                && ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level)
        })
        .collect()
}

/// `kiln download` of one signed fixture package (its signature check logs at INFO).
fn download(d: &Path, fx: &Path, extra: &[&str]) -> std::process::Output {
    write(
        d,
        "t.ks",
        &format!(
            "repo --name=r --baseurl=file://{}\n%packages --nocore\nkt-multi\n%end\n",
            fx.join("synthetic").display()
        ),
    );
    let key = fx.join("synthetic/RPM-GPG-KEY-kiln-test");
    let cache = d.join("cache");
    let mut args: Vec<&str> = extra.to_vec();
    args.extend([
        "download",
        "--ks",
        "t.ks",
        "--cache",
        cache.to_str().unwrap(),
        "--gpgkey",
        key.to_str().unwrap(),
    ]);
    kiln_in(d, &args)
}

#[test]
fn tracing_lines_go_to_the_log_file_not_the_console() {
    let Some(fx) = common::fixtures() else { return };
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("kiln.log");
    let o = download(d.path(), &fx, &["--log-file", log.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        tracing_lines(&stderr).is_empty(),
        "timestamped lines on the console without -v:\n{stderr}"
    );
    assert!(stderr.contains("1 packages ready"), "{stderr}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        tracing_lines(&logged)
            .iter()
            .any(|l| l.contains(" INFO ") && l.contains("signatures: 1 package(s) verified")),
        "the log file has the INFO line:\n{logged}"
    );
}

#[test]
fn verbose_shows_tracing_lines_on_the_console() {
    let Some(fx) = common::fixtures() else { return };
    let d = tempfile::tempdir().unwrap();
    let o = download(d.path(), &fx, &["-v"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        tracing_lines(&stderr)
            .iter()
            .any(|l| l.contains("signatures: 1 package(s) verified")),
        "-v shows the INFO line:\n{stderr}"
    );
}
