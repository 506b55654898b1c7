//! The request a log line belongs to.
//!
//! Every line logged while a request is handled carries it as `span` — `method`, `route`,
//! `request_id` — so an operator can go from a client's request id to everything the service
//! said about that request. A `tracing` span gives that, at a price paid on every request: made
//! and closed in the subscriber's registry, its fields formatted, entered and left in the
//! registry at each poll of the request. Measured on album GET by id, that was 12,000 of the
//! route's 238,000 instructions (`services/bench/README.md`).
//!
//! So the request is a task-local [`RequestContext`], which the JSON log format
//! ([`crate::logfmt`]) writes in the same shape as the span, and a span is made only where
//! something consumes spans ([`use_spans`]): trace export, the text log format, or a
//! `RUST_LOG` with directives (which can name spans and their fields).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue, Method};
use tracing::Instrument;

pub use crate::layers::REQUEST_ID;

/// What identifies a request in logs, traces, error bodies and the `x-request-id` header.
#[derive(Debug, Clone)]
pub struct RequestContext {
    method: Method,
    route: Option<MatchedPath>,
    id: HeaderValue,
}

impl RequestContext {
    /// The context of `req`: its method, its route template (as matched) and its request id —
    /// the client's `x-request-id` if short and printable, else a fresh random one.
    pub fn of(req: &Request) -> RequestContext {
        RequestContext {
            method: req.method().clone(),
            route: req.extensions().get::<MatchedPath>().cloned(),
            id: request_id(req.headers()),
        }
    }

    /// The method as the client sent it.
    pub fn method(&self) -> &str {
        self.method.as_str()
    }

    /// The route template (`/v1/albums/{id}`), or `unmatched`.
    pub fn route(&self) -> &str {
        self.route.as_ref().map_or("unmatched", MatchedPath::as_str)
    }

    /// The request id, as the `x-request-id` header value.
    pub fn id(&self) -> &HeaderValue {
        &self.id
    }

    /// The request id as text (visible ASCII, by construction).
    pub fn id_str(&self) -> &str {
        self.id.to_str().unwrap_or_default()
    }

    /// The `Method` itself.
    pub fn http_method(&self) -> &Method {
        &self.method
    }
}

/// A client-supplied id is kept if it is 1–64 visible ASCII characters; otherwise a fresh one
/// is made (32 hex digits, 128 random bits).
fn request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(given) = headers.get(REQUEST_ID) {
        let bytes = given.as_bytes();
        if !bytes.is_empty() && bytes.len() <= 64 && bytes.iter().all(u8::is_ascii_graphic) {
            return given.clone();
        }
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut random = rand::random::<u128>();
    let mut hex = [0u8; 32];
    for digit in hex.iter_mut().rev() {
        *digit = HEX[(random & 0xf) as usize];
        random >>= 4;
    }
    HeaderValue::from_bytes(&hex).expect("hex digits are a valid header value")
}

tokio::task_local! {
    static CURRENT: RequestContext;
}

/// Whether requests are handled inside a `tracing` span (see the module docs). On until
/// [`use_spans`] says otherwise, so a subscriber set up without [`crate::telemetry::init`]
/// (tests, tools) sees request spans as before.
static SPANS: AtomicBool = AtomicBool::new(true);

/// Makes a `request` span per request (`true`), or only the task-local context (`false`:
/// JSON logs are all that reads it). [`crate::telemetry::init`] decides.
pub fn use_spans(on: bool) {
    SPANS.store(on, Ordering::Relaxed);
}

/// A request about to be handled: its context, and its span when spans are made.
#[derive(Debug)]
pub struct Scope {
    context: RequestContext,
    span: Option<tracing::Span>,
}

impl Scope {
    /// The scope of the request `context` with `headers`: a W3C `traceparent` among them makes
    /// the span, if one is made, a child of the caller's.
    pub fn new(context: RequestContext, headers: &HeaderMap) -> Scope {
        let span = SPANS.load(Ordering::Relaxed).then(|| {
            let span = tracing::info_span!(
                "request",
                method = context.method(),
                route = context.route(),
                request_id = context.id_str()
            );
            join_callers_trace(&span, headers);
            span
        });
        Scope { context, span }
    }

    /// Runs `handle` inside the scope: everything it logs belongs to the request.
    pub async fn run<F: Future>(self, handle: F) -> F::Output {
        match self.span {
            Some(span) => CURRENT.scope(self.context, handle.instrument(span)).await,
            None => CURRENT.scope(self.context, handle).await,
        }
    }
}

/// Calls `f` with the context of the request this task is handling, if any.
pub fn with_current<R>(f: impl FnOnce(&RequestContext) -> R) -> Option<R> {
    CURRENT.try_with(f).ok()
}

/// Makes the request span a child of the caller's span when the request carries a W3C
/// `traceparent`, so a trace crosses services. Without trace export this does nothing.
fn join_callers_trace(span: &tracing::Span, headers: &HeaderMap) {
    use opentelemetry::propagation::TextMapPropagator;
    if !headers.contains_key("traceparent") {
        return;
    }
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let parent = opentelemetry_sdk::propagation::TraceContextPropagator::new()
        .extract(&opentelemetry_http::HeaderExtractor(headers));
    // Fails only when no OpenTelemetry layer is installed: nothing to join then.
    let _ = span.set_parent(parent);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: Option<&[u8]>) -> Request {
        let mut req = Request::new(axum::body::Body::empty());
        if let Some(id) = id {
            req.headers_mut()
                .insert(REQUEST_ID, HeaderValue::from_bytes(id).unwrap());
        }
        req
    }

    #[test]
    fn a_sane_client_id_is_kept_and_anything_else_replaced() {
        assert_eq!(
            RequestContext::of(&request(Some(b"abc-123"))).id_str(),
            "abc-123"
        );
        let long = [b'a'; 65];
        for bad in [&b"has space"[..], &b""[..], &long[..], &[b'a', 0x80][..]] {
            let id = RequestContext::of(&request(Some(bad))).id_str().to_owned();
            assert_eq!(id.len(), 32, "{bad:?} → {id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        }
        let (a, b) = (
            RequestContext::of(&request(None)),
            RequestContext::of(&request(None)),
        );
        assert_ne!(a.id_str(), b.id_str());
        assert_eq!(a.route(), "unmatched");
        assert_eq!(a.method(), "GET");
    }

    #[tokio::test]
    async fn the_context_is_the_tasks_while_it_runs_and_only_then() {
        assert!(with_current(|_| ()).is_none());
        let context = RequestContext::of(&request(Some(b"r-1")));
        let seen = Scope::new(context, &HeaderMap::new())
            .run(async {
                tokio::task::yield_now().await;
                let inside = with_current(|c| c.id_str().to_owned());
                let spawned = tokio::spawn(async { with_current(|_| ()) }).await.unwrap();
                (inside, spawned)
            })
            .await;
        assert_eq!(seen, (Some("r-1".to_owned()), None));
    }
}
