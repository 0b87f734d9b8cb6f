//! Progress reporting traits. Libraries call them; the CLI draws them as bars (`cli/report.rs`,
//! indicatif stays in the CLI) or sends them as JSON lines (`cli/events.rs`).

/// Progress of a batch of downloads.
pub trait DownloadReporter: Sync {
    /// The batch starts: `count` files, `total_bytes` to transfer.
    fn start(&self, count: usize, total_bytes: u64);
    /// Bytes arrived.
    fn advance(&self, bytes: u64);
    /// One file is done and verified.
    fn done(&self, name: &str);
    /// The batch ended (successfully or not).
    fn finish(&self);
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl DownloadReporter for NoProgress {
    fn start(&self, _: usize, _: u64) {}
    fn advance(&self, _: u64) {}
    fn done(&self, _: &str) {}
    fn finish(&self) {}
}

/// Progress of an install transaction.
pub trait InstallReporter: Sync {
    /// The transaction starts: `count` packages, `total_bytes` installed size.
    fn start(&self, count: usize, total_bytes: u64);
    /// One package's files are in place.
    fn installed(&self, name: &str, bytes: u64);
    /// A scriptlet starts (for a status line).
    fn scriptlet(&self, name: &str);
    /// A line of a scriptlet's output (stdout and stderr), as it comes: rpm shows scriptlet
    /// output on the console, so a front end should too.
    fn scriptlet_output(&self, name: &str, line: &str) {
        let _ = (name, line);
    }
    /// The transaction ended (successfully or not).
    fn finish(&self);
}

impl InstallReporter for NoProgress {
    fn start(&self, _: usize, _: u64) {}
    fn installed(&self, _: &str, _: u64) {}
    fn scriptlet(&self, _: &str) {}
    fn finish(&self) {}
}
