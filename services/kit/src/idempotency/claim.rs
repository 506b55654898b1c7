//! The claim on a key, the stored answer, and what a create came to.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::ApiError;

/// The request header.
pub const HEADER: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on an answer that was stored by an earlier request with the same key.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// How long a key's answer is kept.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// The longest key accepted, in bytes.
pub const MAX_KEY: usize = 255;

/// A request's claim on a key: where its answer is stored and what the request said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub(super) id: String,
    pub(super) fingerprint: String,
}

fn hex_sha256(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl Claim {
    /// The claim of a request with `headers` on `route` (e.g. `POST /v1/albums`) by `scope`
    /// (who is asking: tenant and user, or `""` where there is no caller), whose parsed body is
    /// `request` (so whitespace and key order do not make a different body). `None` without the
    /// header; 400 `bad_idempotency_key` unless it is 1–255 visible ASCII characters.
    pub fn from_headers(
        headers: &HeaderMap,
        scope: &str,
        route: &str,
        request: &impl serde::Serialize,
    ) -> Result<Option<Claim>, ApiError> {
        let Some(value) = headers.get(HEADER) else {
            return Ok(None);
        };
        let key = value.as_bytes();
        if key.is_empty() || key.len() > MAX_KEY || !key.iter().all(|b| (0x21..=0x7e).contains(b)) {
            return Err(ApiError::bad_request(
                "bad_idempotency_key",
                format!("{HEADER}: 1-{MAX_KEY} visible ASCII characters (a UUID, say)"),
            ));
        }
        let body = serde_json::to_vec(request).map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })?;
        Ok(Some(Claim {
            id: hex_sha256(&[scope.as_bytes(), key]),
            fingerprint: hex_sha256(&[route.as_bytes(), &body]),
        }))
    }
}

/// An answer as stored and replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// HTTP status.
    pub status: u16,
    /// `Location`, when the answer names a created resource.
    pub location: Option<String>,
    /// `ETag` of the representation in `body`.
    pub etag: Option<String>,
    /// The JSON body.
    pub body: Vec<u8>,
}

impl Stored {
    /// `status` with `body` as JSON.
    pub fn json(
        status: StatusCode,
        location: Option<String>,
        etag: Option<String>,
        body: &impl serde::Serialize,
    ) -> Stored {
        Stored {
            status: status.as_u16(),
            location,
            etag,
            body: serde_json::to_vec(body).expect("DTOs serialize"),
        }
    }
}

impl IntoResponse for Stored {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut response = (status, self.body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in [(header::LOCATION, self.location), (header::ETAG, self.etag)] {
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                headers.insert(name, value);
            }
        }
        response
    }
}

/// A claim and how the service renders its answer (the same function answers the first
/// request and is what is stored, so a replay is byte for byte the first answer).
#[derive(Debug, Clone)]
pub struct Once<T> {
    /// The claim.
    pub claim: Claim,
    /// The answer for a created `T`.
    pub answer: fn(&T) -> Stored,
}

/// What a create with an optional claim came to.
#[derive(Debug)]
pub enum Answer<T> {
    /// Done now.
    Done(T),
    /// Done by an earlier request with the same key and body: its answer.
    Replay(Stored),
    /// The key was used with another body; nothing was done.
    Reused,
}

impl<T> Answer<T> {
    /// The response: `answer` of what was done now, the stored answer marked
    /// `Idempotent-Replayed: true`, or 422 `idempotency_key_reused`.
    pub fn respond(self, answer: fn(&T) -> Stored) -> Result<Response, ApiError> {
        match self {
            Answer::Done(value) => Ok(answer(&value).into_response()),
            Answer::Replay(stored) => {
                let mut response = stored.into_response();
                response
                    .headers_mut()
                    .insert(REPLAYED, HeaderValue::from_static("true"));
                Ok(response)
            }
            Answer::Reused => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                format!("this {HEADER} was used with another request; nothing was done"),
            )),
        }
    }
}

/// How stored answers are kept: in clear, or sealed (errors travel as the driver's
/// `Error::Work`, so the store's own error mapping sees them).
pub trait AnswerCodec: Send + Sync {
    /// The fingerprint as stored, from the request's SHA-256 (hex). A service whose requests
    /// are secret keys it (an unkeyed hash of a short note can be guessed offline).
    fn fingerprint(&self, sha256: &str) -> Result<String, lockstep_tidb::Error> {
        Ok(sha256.to_owned())
    }
    /// Before the row is written.
    fn seal(&self, body: &[u8]) -> Result<Vec<u8>, lockstep_tidb::Error>;
    /// After it is read.
    fn open(&self, stored: &[u8]) -> Result<Vec<u8>, lockstep_tidb::Error>;
}

/// Bodies kept as they are (answers with nothing secret in them).
#[derive(Debug, Clone, Copy)]
pub struct InClear;

impl AnswerCodec for InClear {
    fn seal(&self, body: &[u8]) -> Result<Vec<u8>, lockstep_tidb::Error> {
        Ok(body.to_vec())
    }
    fn open(&self, stored: &[u8]) -> Result<Vec<u8>, lockstep_tidb::Error> {
        Ok(stored.to_vec())
    }
}
