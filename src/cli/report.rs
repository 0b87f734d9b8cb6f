//! indicatif implementations of kiln's progress traits (hidden when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use kiln::progress::DownloadReporter;

/// A byte-count bar for package downloads.
pub struct DownloadBar {
    bar: ProgressBar,
}

impl DownloadBar {
    /// A hidden bar unless stderr is a terminal.
    pub fn new(visible: bool) -> DownloadBar {
        let bar = ProgressBar::with_draw_target(
            Some(0),
            if visible {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        DownloadBar { bar }
    }
}

impl DownloadReporter for DownloadBar {
    fn start(&self, count: usize, total_bytes: u64) {
        self.bar.set_length(total_bytes);
        self.bar.set_prefix(format!("downloading {count} packages"));
    }
    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
    fn done(&self, name: &str) {
        self.bar.set_message(name.to_string());
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The install bar: installed bytes of package payloads, the current package or scriptlet.
pub struct InstallBar {
    bar: ProgressBar,
}

impl InstallBar {
    /// A hidden bar unless stderr is a terminal.
    pub fn new(visible: bool) -> InstallBar {
        let bar = ProgressBar::with_draw_target(
            Some(0),
            if visible {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        InstallBar { bar }
    }
}

impl kiln::progress::InstallReporter for InstallBar {
    fn start(&self, count: usize, total_bytes: u64) {
        self.bar.set_length(total_bytes);
        self.bar.set_prefix(format!("installing {count} packages"));
    }
    fn installed(&self, name: &str, bytes: u64) {
        self.bar.inc(bytes);
        self.bar.set_message(name.to_string());
    }
    fn scriptlet(&self, name: &str) {
        self.bar.set_message(name.to_string());
    }
    fn scriptlet_output(&self, name: &str, line: &str) {
        // On stderr (stdout may carry the JSON report), above the bar when there is one.
        self.bar.suspend(|| eprintln!("{name}: {line}"));
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
