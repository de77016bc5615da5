//! Log output: human text or one JSON object per line, the same fields
//! either way (time, level, target, message, the event's own fields and
//! the spans it is in).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `time LEVEL target: message key=value …`, coloured on a terminal.
    #[default]
    Text,
    /// `{"timestamp":…,"level":…,"target":…,"message":…,"key":value,…}`.
    Json,
}

/// Installs the process's log subscriber: `RUST_LOG` filters, else
/// `default_filter`; `ansi` colours text (JSON never is).
pub fn init<W>(format: LogFormat, default_filter: &str, writer: W, ansi: bool)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Text => builder.with_ansi(ansi).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
