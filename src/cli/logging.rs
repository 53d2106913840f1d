//! Log output on stderr. Without `RUST_LOG`: warnings and errors only, as
//! plain `warning: …` / `error: …` lines like the rest of berth's output.
//! With it: tracing's full format (time, level, target) at the levels it asks
//! for. bollard logs whole request bodies (container env included, so secret
//! values) at debug and trace: it is capped at info whatever `RUST_LOG` says.
//!
//! `--log-format json` makes every line on stderr one JSON object (for
//! journald, Loki): the logs, and the lines the commands that run unattended
//! (validate, plan, drift, apply, rollback, report) print there in words —
//! errors, progress, waiting for a lock — which go through tracing under
//! the target `berth::output` (`error!` for errors, `info!` for the rest),
//! shown whatever `RUST_LOG` says. The interactive commands (`secrets`,
//! `registry`) keep their prompts and messages in words.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;

/// How log lines are written: `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// In words (`warning: …`; tracing's full format with `RUST_LOG`).
    #[default]
    Text,
    /// One JSON object a line, berth's own stderr lines included.
    Json,
}

/// The target of the lines berth prints on stderr in words, as log events.
pub const OUTPUT: &str = "berth::output";

static JSON: AtomicBool = AtomicBool::new(false);

/// Install the global subscriber, as the environment and `--log-format` ask.
/// A daemon (`watch`) logs each pass at info by default, with time and level.
pub fn init(format: LogFormat, daemon: bool) {
    let from_env = tracing_subscriber::EnvFilter::try_from_default_env().ok();
    let plain = from_env.is_none() && !daemon;
    let default = if daemon { "warn,berth=info" } else { "warn" };
    let mut filter = from_env
        .unwrap_or_else(|| default.into())
        .add_directive("bollard=info".parse().expect("static directive"))
        .add_directive("hyper=info".parse().expect("static directive"))
        .add_directive("reqwest=info".parse().expect("static directive"));
    if format == LogFormat::Json {
        filter = filter.add_directive(format!("{OUTPUT}=info").parse().expect("static directive"));
    }
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false);
    let installed = match (format, plain) {
        (LogFormat::Json, _) => logs.json().flatten_event(true).try_init(),
        (LogFormat::Text, true) => logs.event_format(Plain).try_init(),
        (LogFormat::Text, false) => logs.try_init(),
    };
    // Only a second init fails (tests); the first subscriber stays.
    if installed.is_ok() {
        JSON.store(format == LogFormat::Json, Ordering::Relaxed);
    }
}

/// Whether stderr carries JSON lines only (`--log-format json`).
pub fn is_json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// A line berth says on stderr: in words, or an info event in JSON mode
/// (without the indentation that nests it among other lines).
pub fn say(line: &str) {
    if is_json() {
        tracing::info!(target: OUTPUT, "{}", line.trim_start());
    } else {
        eprintln!("{line}");
    }
}

/// `warning: message key=value…`: a log line that reads like berth's own.
pub struct Plain;

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let label = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        write!(w, "{label}: ")?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

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
    fn warnings_are_plain_lines() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(Level::WARN)
            .event_format(Plain)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!("pulling busybox failed; retrying in 1s");
            tracing::error!(app = "web", "gave up");
            tracing::info!("not shown");
        });
        let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(out, "warning: pulling busybox failed; retrying in 1s\nerror: gave up app=\"web\"\n");
    }
}
