//! Where log lines go and which are written: the writer on standard output, the filter of
//! `log.level` or `RUST_LOG`, the line format, and whether requests need spans at all.

use lockstep_service_config::{LogConfig, LogFormat};
use tracing_subscriber::Layer;

/// Standard output for log lines, each written with one `write(2)` on a descriptor of its own.
/// std's `Stdout` takes a process-wide lock per line, and two workers logging at once wait on
/// each other: at info level that was half a futex wait (and a context switch) per request
/// under load. A line under `PIPE_BUF` (4 KiB; access lines are ~300 B) is written whole.
struct Lines(std::fs::File);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Lines {
    type Writer = &'a std::fs::File;
    fn make_writer(&'a self) -> Self::Writer {
        &self.0
    }
}

/// [`Lines`] on a duplicate of fd 1; the locked `Stdout` (same destination, slower) when the
/// process cannot open another descriptor.
fn stdout_lines() -> tracing_subscriber::fmt::writer::BoxMakeWriter {
    use std::os::fd::AsFd;
    match std::io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => tracing_subscriber::fmt::writer::BoxMakeWriter::new(Lines(fd.into())),
        Err(_) => tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stdout),
    }
}

/// The log filter's directives: `RUST_LOG` if set and valid (as
/// `EnvFilter::try_from_default_env` took it), else `level`.
pub(crate) fn log_directives(level: &str, rust_log: Option<String>) -> String {
    rust_log
        .filter(|d| tracing_subscriber::EnvFilter::try_new(d).is_ok())
        .unwrap_or_else(|| level.to_owned())
}

/// The log filter of some directives: a bare level (`info`) is a `LevelFilter`, which keeps no
/// per-span state; an `EnvFilter` looks every span up under a lock on each enter and exit
/// (several per request), in case a directive names spans or fields.
pub(crate) enum LogFilter {
    Level(tracing_subscriber::filter::LevelFilter),
    Directives(Box<tracing_subscriber::EnvFilter>),
}

type Registry = tracing_subscriber::Registry;

impl LogFilter {
    pub(crate) fn of(directives: &str) -> LogFilter {
        match directives.trim().parse() {
            Ok(level) => LogFilter::Level(level),
            Err(_) => {
                LogFilter::Directives(Box::new(tracing_subscriber::EnvFilter::new(directives)))
            }
        }
    }

    /// As the filter of one layer among others.
    pub(crate) fn per_layer(
        self,
    ) -> Box<dyn tracing_subscriber::layer::Filter<Registry> + Send + Sync> {
        match self {
            LogFilter::Level(level) => Box::new(level),
            LogFilter::Directives(env) => env,
        }
    }

    /// As a layer filtering everything after it.
    pub(crate) fn global(self) -> Box<dyn Layer<Registry> + Send + Sync> {
        match self {
            LogFilter::Level(level) => Box::new(level),
            LogFilter::Directives(env) => env,
        }
    }
}

/// The log lines' layer: JSON lines (`logfmt::JsonLines`) or text, on standard output.
pub(crate) fn log_lines<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let fmt = tracing_subscriber::fmt::layer().with_writer(stdout_lines());
    match format {
        // The request span (method, route, request id) once, not again as a list of one.
        LogFormat::Json => fmt
            .fmt_fields(crate::logfmt::JsonLines)
            .event_format(crate::logfmt::JsonLines)
            .boxed(),
        LogFormat::Text => fmt.boxed(),
    }
}

/// Whether request spans are needed ([`crate::context`]): to export them, for the text log
/// format (tracing-subscriber's, which writes spans), or for directives that may name them.
/// Otherwise JSON log lines get the request from its task-local context.
pub(crate) fn needs_request_spans(
    log: &LogConfig,
    exporting: bool,
    rust_log: Option<String>,
) -> bool {
    let directives = log_directives(&log.level, rust_log);
    exporting
        || log.format == LogFormat::Text
        || matches!(LogFilter::of(&directives), LogFilter::Directives(_))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_overrides_the_level_unless_it_does_not_parse() {
        use tracing::level_filters::LevelFilter;
        let hint = |level: &str, rust_log: Option<&str>| {
            LogFilter::of(&log_directives(level, rust_log.map(str::to_owned)))
                .per_layer()
                .max_level_hint()
        };
        assert_eq!(hint("info", None), Some(LevelFilter::INFO));
        assert_eq!(hint(" warn ", None), Some(LevelFilter::WARN));
        assert_eq!(hint("info", Some("debug")), Some(LevelFilter::DEBUG));
        assert_eq!(
            hint("warn", Some("info,sqlx=trace")),
            Some(LevelFilter::TRACE)
        );
        assert_eq!(hint("warn", Some("sqlx=[")), Some(LevelFilter::WARN));
        assert_eq!(hint("info,sqlx=warn", None), Some(LevelFilter::INFO));
    }

    #[test]
    fn request_spans_are_made_only_where_something_reads_them() {
        let json = LogConfig::default();
        assert_eq!(json.format, LogFormat::Json);
        let text = LogConfig {
            format: LogFormat::Text,
            ..LogConfig::default()
        };
        assert!(!needs_request_spans(&json, false, None));
        assert!(!needs_request_spans(&json, false, Some("debug".into())));
        assert!(needs_request_spans(&json, true, None), "exported");
        assert!(
            needs_request_spans(&text, false, None),
            "written by the text format"
        );
        assert!(needs_request_spans(
            &json,
            false,
            Some("info,[request]=debug".into())
        ));
        assert!(
            !needs_request_spans(&json, false, Some("[".into())),
            "ignored RUST_LOG"
        );
    }
}
