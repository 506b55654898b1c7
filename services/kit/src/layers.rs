//! tower-http layers outside the middleware of `http::wrap`: gzip for clients that accept it
//! and CORS for the configured origins (outside it, so they see the final body and answer
//! preflights before routing).
//!
//! Compression skips bodies under [`COMPRESS_FROM`] bytes: gzip makes a 110-byte album
//! larger, and setting up a deflate stream costs more CPU than sending the bytes. A request
//! without `Accept-Encoding` goes around tower-http's compression service, whose answer for it
//! is the body as it is (plus `Vary: Accept-Encoding` where a body could have been compressed,
//! which [`Compress`] adds too): on album GET by id the detour was 5,000 of 238,000
//! instructions per request (`services/bench/README.md`).

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Response, header};
use futures::TryFutureExt as _;
use futures::future::{Either, MapOk};
use tower::{Layer, Service};
use tower_http::compression::predicate::{And, NotForContentType, Predicate, SizeAbove};
use tower_http::compression::{Compression, CompressionBody, ResponseFuture};
use tower_http::cors::{Any, CorsLayer};

/// The request-id header, read from the client (if sane) or generated, and echoed back (CORS
/// exposes it, the middleware of `http::wrap` sets it).
pub const REQUEST_ID: &str = "x-request-id";

/// Bodies of this many bytes or more are compressed (for clients that accept gzip).
pub const COMPRESS_FROM: u64 = 1024;

/// What is compressed: bodies of [`COMPRESS_FROM`] bytes or more, except gRPC, images and event
/// streams (tower-http's default otherwise).
type Compressible =
    And<And<And<SizeAbove, NotForContentType>, NotForContentType>, NotForContentType>;

fn compressible() -> Compressible {
    SizeAbove::new(COMPRESS_FROM)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE)
}

/// Compression (when on) and CORS (when `cors_origins` are configured) around `router`.
pub(crate) fn outer(router: Router, compression: bool, cors_origins: Vec<HeaderValue>) -> Router {
    let router = if compression {
        router.layer(CompressLayer)
    } else {
        router
    };
    if cors_origins.is_empty() {
        return router;
    }
    router.layer(
        CorsLayer::new()
            .allow_origin(cors_origins)
            .allow_methods(Any)
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([HeaderName::from_static(REQUEST_ID), header::RETRY_AFTER]),
    )
}

/// [`Compress`] as a layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompressLayer;

impl<S> Layer<S> for CompressLayer {
    type Service = Compress<S>;
    fn layer(&self, inner: S) -> Compress<S> {
        Compress(Compression::new(inner).compress_when(compressible()))
    }
}

/// tower-http's gzip for requests with `Accept-Encoding`; the inner service straight for the
/// rest, with the `Vary` header tower-http would have added.
#[derive(Clone)]
pub(crate) struct Compress<S>(Compression<S, Compressible>);

type Plain<F> = MapOk<F, fn(Response<Body>) -> Response<Body>>;
type Compressed<F> =
    MapOk<ResponseFuture<F, Compressible>, fn(Response<CompressionBody<Body>>) -> Response<Body>>;

impl<S> Service<Request> for Compress<S>
where
    S: Service<Request, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Either<Plain<S::Future>, Compressed<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if req.headers().contains_key(header::ACCEPT_ENCODING) {
            let boxed: fn(Response<CompressionBody<Body>>) -> Response<Body> =
                |res| res.map(Body::new);
            Either::Right(self.0.call(req).map_ok(boxed))
        } else {
            let vary: fn(Response<Body>) -> Response<Body> = vary;
            Either::Left(self.0.get_mut().call(req).map_ok(vary))
        }
    }
}

/// Adds `Vary: Accept-Encoding` where tower-http's compression does for a request without
/// `Accept-Encoding`: a cache must not hand this identity body to a client that asked for gzip
/// when a gzip body exists for it.
fn vary(mut res: Response<Body>) -> Response<Body> {
    let headers = res.headers();
    let could_compress = !headers.contains_key(header::CONTENT_ENCODING)
        && !headers.contains_key(header::CONTENT_RANGE)
        && compressible().should_compress(&res);
    let varies = headers.get_all(header::VARY).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("accept-encoding"))
    });
    if could_compress && !varies {
        res.headers_mut()
            .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use tower::ServiceExt as _;

    type Headers = &'static [(&'static str, &'static str)];

    /// A service answering `size` bytes of `content_type` with `extra` headers.
    fn answering(
        size: usize,
        content_type: &'static str,
        extra: Headers,
    ) -> impl Service<Request, Response = Response<Body>, Error = Infallible, Future: Send> + Clone
    {
        tower::service_fn(move |_: Request| async move {
            let mut res = Response::new(Body::from("x".repeat(size)));
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            for (name, value) in extra {
                res.headers_mut()
                    .append(*name, HeaderValue::from_static(value));
            }
            Ok::<_, Infallible>(res)
        })
    }

    fn request(accept: Option<&'static str>) -> Request {
        let mut req = Request::new(Body::empty());
        if let Some(accept) = accept {
            req.headers_mut()
                .insert(header::ACCEPT_ENCODING, HeaderValue::from_static(accept));
        }
        req
    }

    /// Without `Accept-Encoding` the detour answers what tower-http's compression answers, for
    /// every kind of response its predicate and rules tell apart.
    #[tokio::test]
    async fn without_accept_encoding_the_answer_is_tower_https() {
        let cases: [(usize, &str, Headers); 9] = [
            (10, "application/json", &[]),
            (1023, "application/json", &[]),
            (1024, "application/json", &[]),
            (10_000, "image/png", &[]),
            (10_000, "application/grpc", &[]),
            (10_000, "text/event-stream", &[]),
            (10_000, "text/plain", &[("content-encoding", "br")]),
            (10_000, "text/plain", &[("content-range", "bytes 0-9/10")]),
            (10_000, "text/plain", &[("vary", "Accept-Encoding")]),
        ];
        for (size, content_type, extra) in cases {
            let inner = answering(size, content_type, extra);
            let ours = CompressLayer.layer(inner.clone()).oneshot(request(None));
            let theirs = Compression::new(inner)
                .compress_when(compressible())
                .oneshot(request(None));
            let (ours, theirs) = (ours.await.unwrap(), theirs.await.unwrap());
            assert_eq!(ours.status(), theirs.status());
            assert_eq!(
                ours.headers(),
                theirs.headers(),
                "{size} bytes of {content_type} with {extra:?}"
            );
            let body = axum::body::to_bytes(ours.into_body(), usize::MAX).await;
            assert_eq!(body.unwrap().len(), size);
        }
    }

    #[tokio::test]
    async fn gzip_is_for_bodies_over_the_threshold_of_clients_that_ask() {
        let compress = |size| {
            CompressLayer
                .layer(answering(size, "application/json", &[]))
                .oneshot(request(Some("gzip")))
        };
        let from = usize::try_from(COMPRESS_FROM).unwrap();
        let small = compress(from - 1).await.unwrap();
        assert_eq!(small.status(), StatusCode::OK);
        assert!(!small.headers().contains_key(header::CONTENT_ENCODING));
        let large = compress(from).await.unwrap();
        assert_eq!(large.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(large.headers()[header::VARY], "accept-encoding");
    }
}
