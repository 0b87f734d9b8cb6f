//! Where tracing's events go. The console is for people: without `-v` it shows warnings and
//! errors as plain `warning: …`/`error: …` lines, the output of `%pre`/`%post` scripts and the
//! commands' own lines (events of `kiln::cli`), none with timestamps; `-v`/`-vv` (or `RUST_LOG`)
//! add every event in tracing's full timestamped form. The full form always goes to the log
//! file (`--log-file`, build's `--logfile`) and, for a build, to the result directory's
//! `build.log` (captured here, written by the build at its end).

use std::sync::Mutex;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// What the console shows without `-v`: warnings and errors, script output and the commands'
/// own lines.
const QUIET: &str = "kiln=warn,kiln::cli=info,kiln::script=info";

/// What log files get.
const LOG_FILE: &str = "kiln=debug,kiln_solver=debug,kiln_writers=debug";

/// What a build's `build.log` gets.
const BUILD_LOG: &str = "kiln=debug,kiln_solver=info,kiln_writers=debug";

/// Set up tracing: the console at `verbose`, the log file when given, and the build's captured
/// log when `capture`.
pub(super) fn init(
    verbose: u8,
    log_file: Option<&std::path::Path>,
    color: bool,
    capture: bool,
) -> anyhow::Result<()> {
    let full = |filter: EnvFilter| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(color)
            .with_target(verbose > 0)
            .with_filter(filter)
            .boxed()
    };
    let console: Box<dyn Layer<Registry> + Send + Sync> =
        match (EnvFilter::try_from_env("RUST_LOG"), verbose) {
            // What the user asked for, in full.
            (Ok(filter), _) => full(filter),
            (Err(_), 0) => tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(color)
                .event_format(Plain { color })
                .with_filter(EnvFilter::new(QUIET))
                .boxed(),
            // `-v`: what the log file gets.
            (Err(_), 1) => full(EnvFilter::new(LOG_FILE)),
            (Err(_), _) => full(EnvFilter::new(
                "kiln=trace,kiln_solver=trace,kiln_writers=trace",
            )),
        };
    let file = match log_file {
        Some(p) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| anyhow::anyhow!("cannot open log file `{}`: {e}", p.display()))?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(Mutex::new(f))
                    .with_ansi(false)
                    .with_filter(EnvFilter::new(LOG_FILE)),
            )
        }
        None => None,
    };
    // A build keeps its own log (debug level) for the result directory's build.log.
    let captured = capture.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(|| CaptureWriter)
            .with_ansi(false)
            .with_filter(EnvFilter::new(BUILD_LOG))
    });
    tracing_subscriber::registry()
        .with(console)
        .with(file)
        .with(captured)
        .try_init()?;
    Ok(())
}

/// An event as a person reads it: `warning: message`, `error: message`, or the bare message.
struct Plain {
    color: bool,
}

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let label = match *event.metadata().level() {
            Level::ERROR => Some(("error", "1;31")),
            Level::WARN => Some(("warning", "1;33")),
            _ => None,
        };
        if let Some((label, code)) = label {
            let label = super::diagnostics::paint(label, code, self.color);
            write!(writer, "{label}: ")?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// The log lines captured for `build.log`.
static CAPTURED: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct CaptureWriter;

impl std::io::Write for CaptureWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        CAPTURED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the build logged so far.
pub(crate) fn captured_log() -> Vec<u8> {
    CAPTURED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn plain_lines_have_a_label_and_no_timestamp() {
        let buffer = Buffer::default();
        let out = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || out.clone())
            .with_ansi(false)
            .event_format(Plain { color: false })
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(repo = %"r", "repo has no baseurl");
            tracing::error!("package `p` does not verify");
            tracing::info!("%post: hello");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "warning: repo has no baseurl repo=r\nerror: package `p` does not verify\n%post: hello\n"
        );
    }
}
