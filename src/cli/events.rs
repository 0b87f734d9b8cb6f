//! `kiln build --json-progress`: progress as JSON lines for build farms, on stdout or sent to
//! a Unix socket. One object a line, each with an `event` field:
//! `stage` (`stage`, `state`: `start`/`end`, `seconds` at the end), `download` and `install`
//! (`bytes_done`, `bytes_total`; `install` also `packages_done`, `packages_total`), and
//! `block_cache` (how the root image was served: `blocks_from_cache`, `blocks_compressed`,
//! `hit_rate` in percent, `seconds_saved`, `rejected`, `stored`) when the block cache or the
//! precompressor was used, and `result` (`ok`, `exit_code`, the artifacts) last.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use kiln::progress::{DownloadReporter, InstallReporter};
use serde_json::{json, Value};

/// Where the events go.
pub struct Events {
    out: Mutex<Box<dyn Write + Send>>,
}

impl Events {
    /// `-`: stdout; else a Unix socket to connect to.
    pub fn open(target: &str) -> std::io::Result<Events> {
        let out: Box<dyn Write + Send> = if target == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(std::os::unix::net::UnixStream::connect(target)?)
        };
        Ok(Events {
            out: Mutex::new(out),
        })
    }

    /// Send one event (a failing reader does not stop the build).
    pub fn send(&self, v: Value) {
        let mut o = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(o, "{v}").and_then(|()| o.flush());
    }
}

/// Download and install progress as events: at most one per percent of the total bytes.
pub struct JsonProgress<'a> {
    events: &'a Events,
    kind: &'static str,
    total: AtomicU64,
    done: AtomicU64,
    count: AtomicU64,
    count_done: AtomicU64,
    /// The last percentage sent.
    sent: AtomicU64,
}

impl<'a> JsonProgress<'a> {
    /// Reporter for `download` or `install` events.
    pub fn new(events: &'a Events, kind: &'static str) -> Self {
        JsonProgress {
            events,
            kind,
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            count: AtomicU64::new(0),
            count_done: AtomicU64::new(0),
            sent: AtomicU64::new(u64::MAX),
        }
    }

    fn begin(&self, count: usize, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        self.count.store(count as u64, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        self.count_done.store(0, Ordering::Relaxed);
        self.sent.store(u64::MAX, Ordering::Relaxed);
        self.emit(true);
    }

    fn emit(&self, force: bool) {
        let total = self.total.load(Ordering::Relaxed);
        let done = self.done.load(Ordering::Relaxed).min(total);
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        if !force && self.sent.swap(pct, Ordering::Relaxed) == pct {
            return;
        }
        self.sent.store(pct, Ordering::Relaxed);
        let mut v = json!({
            "event": self.kind,
            "bytes_done": done,
            "bytes_total": total,
        });
        if self.kind == "install" {
            v["packages_done"] = self.count_done.load(Ordering::Relaxed).into();
            v["packages_total"] = self.count.load(Ordering::Relaxed).into();
        }
        self.events.send(v);
    }
}

impl DownloadReporter for JsonProgress<'_> {
    fn start(&self, count: usize, total_bytes: u64) {
        self.begin(count, total_bytes);
    }
    fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
        self.emit(false);
    }
    fn done(&self, _: &str) {
        self.count_done.fetch_add(1, Ordering::Relaxed);
    }
    fn finish(&self) {
        self.emit(true);
    }
}

impl InstallReporter for JsonProgress<'_> {
    fn start(&self, count: usize, total_bytes: u64) {
        self.begin(count, total_bytes);
    }
    fn installed(&self, _: &str, bytes: u64) {
        self.count_done.fetch_add(1, Ordering::Relaxed);
        self.done.fetch_add(bytes, Ordering::Relaxed);
        self.emit(false);
    }
    fn scriptlet(&self, _: &str) {}
    fn scriptlet_output(&self, name: &str, line: &str) {
        // The events carry progress; scriptlet output is for the console, as without them.
        eprintln!("{name}: {line}");
    }
    fn finish(&self) {
        self.emit(true);
    }
}
