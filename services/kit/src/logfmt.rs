//! JSON log lines in the shape tracing-subscriber's `json()` writes them — `timestamp`,
//! `level`, `fields`, `target`, and the current span as `span` — at a fraction of its cost.
//!
//! Its formatter collects every event's fields into a `BTreeMap` of `serde_json::Value`s and
//! parses the current span's fields back from the JSON text it stored when the span was made,
//! then serialises them again for every line. Here fields are written straight into the line,
//! and a span's fields are stored as the inside of a JSON object (`"method":"GET","route":"…"`)
//! that is copied into each line as it is: album GET went from 101–115 to 94–99 µs of CPU per
//! request (`services/bench/README.md`). Debug and display values are escaped as they are
//! formatted, not collected into a `String` first.
//!
//! A line logged while a request is handled without a span ([`crate::context`]) gets the
//! request's context as its `span`, in the same shape as the request span would give it.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event format and the span field format of JSON logs. The event format is only
/// implemented over span fields this type formatted, so the two cannot be mismatched.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

/// Writes `s` as a JSON string body (no quotes), escaping what RFC 8259 requires.
fn escape(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.write_str(&s[start..i])?;
        if escaped.is_empty() {
            write!(out, "\\u{b:04x}")?;
        } else {
            out.write_str(escaped)?;
        }
        start = i + 1;
    }
    out.write_str(&s[start..])
}

/// A `fmt::Write` that escapes what passes through it as [`escape`] does, so a `Debug` value
/// is written into a JSON string without a `String` of its own.
struct Escaping<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape(self.0, s)
    }
}

/// Writes `"name":value` pairs, comma-separated, after whatever `out` already holds.
struct Pairs<'a, W: fmt::Write> {
    out: &'a mut W,
    first: bool,
    result: fmt::Result,
}

impl<W: fmt::Write> Pairs<'_, W> {
    fn key(&mut self, field: &Field) {
        let separator = if self.first { "\"" } else { ",\"" };
        self.first = false;
        self.result = self
            .result
            .and_then(|()| self.out.write_str(separator))
            .and_then(|()| escape(self.out, field.name()))
            .and_then(|()| self.out.write_str("\":"));
    }

    fn string(&mut self, field: &Field, value: &str) {
        self.key(field);
        self.result = self
            .result
            .and_then(|()| self.out.write_char('"'))
            .and_then(|()| escape(self.out, value))
            .and_then(|()| self.out.write_char('"'));
    }

    fn raw(&mut self, field: &Field, value: impl fmt::Display) {
        self.key(field);
        self.result = self.result.and_then(|()| write!(self.out, "{value}"));
    }
}

impl<W: fmt::Write> Visit for Pairs<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.string(field, value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.raw(field, value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.raw(field, value);
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinities: `null`, as serde_json (and so tracing's formatter)
        // writes them.
        if value.is_finite() {
            // `Debug` keeps the float a float (`2.0`, `1e300`), as serde_json writes it.
            self.raw(field, format_args!("{value:?}"));
        } else {
            self.raw(field, "null");
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        self.result = self
            .result
            .and_then(|()| self.out.write_char('"'))
            .and_then(|()| {
                fmt::Write::write_fmt(&mut Escaping(self.out), format_args!("{value:?}"))
            })
            .and_then(|()| self.out.write_char('"'));
    }
}

impl<'writer> FormatFields<'writer> for JsonLines {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut pairs = Pairs {
            out: &mut writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut pairs);
        pairs.result
    }

    /// `span.record(..)` adds fields after those the span was made with.
    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut pairs = Pairs {
            first: current.fields.is_empty(),
            out: &mut current.fields,
            result: Ok(()),
        };
        fields.record(&mut pairs);
        pairs.result
    }
}

impl<S> FormatEvent<S, JsonLines> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonLines>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        crate::time::write(&chrono::Utc::now(), &mut writer)?;
        writer.write_str("\",\"level\":\"")?;
        writer.write_str(meta.level().as_str())?;
        writer.write_str("\",\"fields\":{")?;
        let mut pairs = Pairs {
            out: &mut writer,
            first: true,
            result: Ok(()),
        };
        event.record(&mut pairs);
        pairs.result?;
        writer.write_str("},\"target\":\"")?;
        escape(&mut writer, meta.target())?;
        writer.write_char('"')?;
        if let Some(span) = ctx.lookup_current() {
            writer.write_str(",\"span\":{")?;
            let extensions = span.extensions();
            let fields = extensions
                .get::<FormattedFields<JsonLines>>()
                .map_or("", |f| f.fields.as_str());
            writer.write_str(fields)?;
            writer.write_str(if fields.is_empty() {
                "\"name\":\""
            } else {
                ",\"name\":\""
            })?;
            escape(&mut writer, span.name())?;
            writer.write_str("\"}")?;
        } else if let Some(written) = crate::context::with_current(|c| request(&mut writer, c)) {
            written?;
        }
        writer.write_str("}\n")
    }
}

/// `,"span":{…}` as the request span of `context` would be written.
fn request(out: &mut impl fmt::Write, context: &crate::context::RequestContext) -> fmt::Result {
    out.write_str(",\"span\":{\"method\":\"")?;
    escape(out, context.method())?;
    out.write_str("\",\"route\":\"")?;
    escape(out, context.route())?;
    out.write_str("\",\"request_id\":\"")?;
    escape(out, context.id_str())?;
    out.write_str("\",\"name\":\"request\"}")
}

#[cfg(test)]
mod tests;
