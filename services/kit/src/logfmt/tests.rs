use std::sync::{Arc, Mutex};

use tracing_subscriber::layer::SubscriberExt as _;

use super::JsonLines;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer").extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

impl Buffer {
    fn lines(&self) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.0.lock().expect("buffer").clone()).expect("UTF-8");
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

/// Events of every field kind, inside a span with recorded fields and outside any span.
fn emit() {
    let span = tracing::info_span!(
        "request",
        method = "GET",
        route = "/v1/albums/{id}",
        later = tracing::field::Empty
    );
    span.in_scope(|| {
        tracing::info!(status = 200u16, micros = 1234u64, "request");
        tracing::warn!(
            negative = -7i64,
            ratio = 0.25f64,
            whole = 2.0f64,
            huge = 1e300f64,
            nan = f64::NAN,
            ok = true,
            debug = ?vec!["a", "b"],
            display = %"quote \" backslash \\ newline \n tab \t bell \u{7} é ✓",
            "message with \"quotes\" and {}", 42
        );
    });
    span.record("later", "set after creation");
    span.in_scope(|| tracing::error!("after record"));
    tracing::info!(alone = 1, "outside any span");
    let empty = tracing::info_span!("empty");
    empty.in_scope(|| tracing::info!("in a span without fields"));
}

#[test]
fn lines_match_tracing_subscribers_json_except_the_cost() {
    let ours = Buffer::default();
    let theirs = Buffer::default();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(ours.clone())
                .fmt_fields(JsonLines)
                .event_format(JsonLines),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(theirs.clone())
                .json()
                .with_current_span(true)
                .with_span_list(false),
        );
    tracing::subscriber::with_default(subscriber, emit);
    let (mut ours, mut theirs) = (ours.lines(), theirs.lines());
    assert_eq!(ours.len(), 5);
    for (a, b) in ours.iter_mut().zip(theirs.iter_mut()) {
        let stamp = a["timestamp"].as_str().expect("timestamp").to_owned();
        chrono::DateTime::parse_from_rfc3339(&stamp).expect("RFC 3339");
        assert!(stamp.ends_with('Z') && stamp.len() == 27, "{stamp}");
        a.as_object_mut().expect("object").remove("timestamp");
        b.as_object_mut().expect("object").remove("timestamp");
    }
    assert_eq!(ours, theirs);
    // What the comparison covers, spelled out.
    assert_eq!(ours[0]["span"]["route"], "/v1/albums/{id}");
    assert_eq!(ours[0]["fields"]["status"], 200);
    assert_eq!(
        ours[1]["fields"]["display"],
        "quote \" backslash \\ newline \n tab \t bell \u{7} é ✓"
    );
    assert_eq!(ours[1]["fields"]["nan"], serde_json::Value::Null);
    assert_eq!(ours[2]["span"]["later"], "set after creation");
    assert!(ours[3].get("span").is_none());
    assert_eq!(ours[4]["span"], serde_json::json!({"name": "empty"}));
}
