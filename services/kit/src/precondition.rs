//! Optimistic concurrency for single resources (RFC 9110 §8.8.3, §13.1): a strong `ETag` on
//! every answer that carries a representation, `If-Match` on PATCH and DELETE (a mismatch is
//! 412 and changes nothing), `If-None-Match` on GET (a match is 304 without a body).
//!
//! Each service derives its resource's tag from what the representation shows (see the
//! services' `etag()`), so two replicas — or two releases — answer the same tag for the same
//! row, and the store compares it with the row it holds locked: the check and the write are one
//! transaction.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

use crate::ApiError;

/// A strong entity tag, quotes included: `"9f86d081884c7d659a2feaa0c55ad015"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ETag(String);

impl ETag {
    /// The tag of a representation made of `parts` (each length-prefixed, so `("ab","c")` and
    /// `("a","bc")` differ): 128 bits of SHA-256.
    pub fn of(parts: &[&[u8]]) -> ETag {
        let mut hash = Sha256::new();
        for part in parts {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        let digest = hash.finalize();
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut tag = String::with_capacity(34);
        tag.push('"');
        for byte in &digest[..16] {
            tag.push(char::from(HEX[usize::from(byte >> 4)]));
            tag.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        tag.push('"');
        ETag(tag)
    }

    /// The header value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For a response's `ETag` header.
    pub fn header(&self) -> (header::HeaderName, HeaderValue) {
        let value = HeaderValue::from_str(&self.0).expect("hex in quotes is a valid header value");
        (header::ETAG, value)
    }
}

/// One entity tag as a client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    weak: bool,
    /// With its quotes.
    opaque: String,
}

/// A parsed `If-Match` or `If-None-Match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `*`: any current representation.
    Any,
    /// A list of entity tags.
    Tags(Vec<Tag>),
}

/// `If-None-Match` as a handler argument, read in place (a `HeaderMap` argument copies every
/// header of the request); a malformed one is 400 like [`Condition::if_none_match`].
#[derive(Debug, Clone)]
pub struct IfNoneMatch(pub Option<Condition>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IfNoneMatch {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, ApiError> {
        Condition::if_none_match(&parts.headers).map(IfNoneMatch)
    }
}

impl Condition {
    /// `If-Match` (strong comparison: a weak tag never matches).
    pub fn if_match(headers: &HeaderMap) -> Result<Option<Condition>, ApiError> {
        parse(headers, &header::IF_MATCH)
    }

    /// `If-None-Match` (weak comparison).
    pub fn if_none_match(headers: &HeaderMap) -> Result<Option<Condition>, ApiError> {
        parse(headers, &header::IF_NONE_MATCH)
    }

    /// Whether `current` satisfies an `If-Match` of this value.
    pub fn matches_strong(&self, current: &ETag) -> bool {
        match self {
            Condition::Any => true,
            Condition::Tags(tags) => tags.iter().any(|t| !t.weak && t.opaque == current.0),
        }
    }

    /// Whether `current` is named by an `If-None-Match` of this value (→ 304 on GET).
    pub fn matches_weak(&self, current: &ETag) -> bool {
        match self {
            Condition::Any => true,
            Condition::Tags(tags) => tags.iter().any(|t| t.opaque == current.0),
        }
    }
}

/// 412 `precondition_failed`: the resource changed since the client read it; nothing was done.
pub fn failed() -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
        "If-Match does not match the current ETag: the resource changed since it was read; \
         nothing was done (read it again and reapply the change)",
    )
}

/// All lines of `name`, joined as one list (RFC 9110 §5.3), parsed as `"*"` or `#entity-tag`.
fn parse(headers: &HeaderMap, name: &header::HeaderName) -> Result<Option<Condition>, ApiError> {
    let mut lines = headers.get_all(name).iter().peekable();
    if lines.peek().is_none() {
        return Ok(None);
    }
    let bad = |why: &str| ApiError::bad_request("bad_precondition", format!("{name}: {why}"));
    let mut tags = Vec::new();
    for line in lines {
        let line = line.to_str().map_err(|_| bad("not visible ASCII"))?;
        if line.trim() == "*" {
            return Ok(Some(Condition::Any));
        }
        let mut rest = line.trim();
        while !rest.is_empty() {
            let (tag, after) = entity_tag(rest).ok_or_else(|| {
                bad("expected \"*\" or a list of entity tags such as \"abc\" or W/\"abc\"")
            })?;
            tags.push(tag);
            rest = after.trim_start();
            rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
        }
    }
    if tags.is_empty() {
        return Err(bad("empty"));
    }
    Ok(Some(Condition::Tags(tags)))
}

/// `[W/] DQUOTE *etagc DQUOTE` at the start of `text`, and what follows it.
fn entity_tag(text: &str) -> Option<(Tag, &str)> {
    let (weak, text) = match text.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let inner = text.strip_prefix('"')?;
    let end = inner.find('"')?;
    let etagc = |b: u8| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80;
    if !inner.as_bytes()[..end].iter().all(|b| etagc(*b)) {
        return None;
    }
    let opaque = format!("\"{}\"", &inner[..end]);
    Some((Tag { weak, opaque }, &inner[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &header::HeaderName, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(name, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn tags_are_length_prefixed_and_stable() {
        assert_ne!(ETag::of(&[b"ab", b"c"]), ETag::of(&[b"a", b"bc"]));
        assert_eq!(ETag::of(&[b"x"]), ETag::of(&[b"x"]));
        assert_eq!(ETag::of(&[b"x"]).as_str().len(), 34);
    }

    #[test]
    fn if_match_uses_strong_comparison() {
        let current = ETag::of(&[b"v1"]);
        let tag = current.as_str();
        let m = |v: &str| {
            Condition::if_match(&headers(&header::IF_MATCH, &[v]))
                .unwrap()
                .unwrap()
        };
        assert!(m(tag).matches_strong(&current));
        assert!(m("*").matches_strong(&current));
        assert!(m(&format!("\"other\", {tag}")).matches_strong(&current));
        assert!(
            !m(&format!("W/{tag}")).matches_strong(&current),
            "weak never matches"
        );
        assert!(!m("\"other\"").matches_strong(&current));
        let none =
            Condition::if_none_match(&headers(&header::IF_NONE_MATCH, &[&format!("W/{tag}")]));
        assert!(none.unwrap().unwrap().matches_weak(&current));
    }

    #[test]
    fn lines_are_one_list() {
        let current = ETag::of(&[b"v1"]);
        let h = headers(&header::IF_MATCH, &["\"a\"", current.as_str()]);
        assert!(
            Condition::if_match(&h)
                .unwrap()
                .unwrap()
                .matches_strong(&current)
        );
        assert_eq!(Condition::if_match(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn malformed_is_a_400() {
        for bad in ["abc", "\"abc", "W/abc", "\"a b\"", "", ",", "\"a\" junk"] {
            let e = Condition::if_match(&headers(&header::IF_MATCH, &[bad])).unwrap_err();
            assert_eq!(
                (e.status, e.code),
                (StatusCode::BAD_REQUEST, "bad_precondition"),
                "{bad:?}"
            );
        }
    }
}
