//! Client faults told apart from server faults before they reach the 5xx series that canary
//! analysis reads: a declared body over the limit is 413 at once (not a 504 after the request
//! timeout), and a request that times out while its body is still arriving is 408 (the client
//! is slow), not 504.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header;
use futures::StreamExt;

/// Whether the request declares (`Content-Length`) more than `max` bytes.
pub fn declared_too_large(req: &Request, max: usize) -> bool {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|len| len > max as u64)
}

/// The request with a body that raises the returned flag once it has been read to the end. A
/// request that declares no body (no `Content-Length`, or 0, and no `Transfer-Encoding`) counts
/// as received already.
pub fn track_body(req: Request) -> (Request, Arc<AtomicBool>) {
    let headers = req.headers();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let bodiless = declared.unwrap_or(0) == 0 && !headers.contains_key(header::TRANSFER_ENCODING);
    let received = Arc::new(AtomicBool::new(bodiless));
    if bodiless {
        return (req, received);
    }
    let flag = received.clone();
    let (parts, body) = req.into_parts();
    let end = futures::stream::once(async move {
        flag.store(true, Ordering::Release);
        Ok::<_, axum::Error>(Bytes::new())
    });
    let stream = body.into_data_stream().chain(end);
    (
        Request::from_parts(parts, Body::from_stream(stream)),
        received,
    )
}
