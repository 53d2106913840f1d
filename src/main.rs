//! The `berth` binary: logging, then `cli::run`, which owns exit codes.

use std::fmt;
use std::process::ExitCode;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;

fn main() -> ExitCode {
    // Logs go to stderr. Without RUST_LOG: warnings and errors only, as
    // plain `warning: …` lines like the rest of berth's output; with it: the
    // full format (time, level, target) at the levels it asks for.
    // bollard logs whole request bodies (container env included, so secret
    // values) at debug and trace: it is capped at info whatever RUST_LOG says.
    let from_env = tracing_subscriber::EnvFilter::try_from_default_env().ok();
    let plain = from_env.is_none();
    let filter = from_env
        .unwrap_or_else(|| "warn".into())
        .add_directive("bollard=info".parse().expect("static directive"))
        .add_directive("hyper=info".parse().expect("static directive"))
        .add_directive("reqwest=info".parse().expect("static directive"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false);
    if plain {
        logs.event_format(Plain).init();
    } else {
        logs.init();
    }
    berth::cli::main()
}

/// `warning: message key=value…`: a log line that reads like berth's own.
struct Plain;

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
