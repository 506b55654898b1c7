//! Albums as the business sees them: entities, the rules they obey, and the storage contract.
//! No axum, no SQL here.

use std::future::Future;

use chrono::{DateTime, Utc};
use lockstep_service_kit::idempotency::{Answer, Once};
use lockstep_service_kit::precondition::{Condition, ETag};
use rust_decimal::Decimal;

/// Longest title or artist, in characters.
pub const MAX_TEXT: usize = 200;
/// The column is DECIMAL(10,2).
pub const MAX_PRICE: Decimal = Decimal::from_parts(1_410_065_407, 2, 0, false, 2); // 99,999,999.99

/// A stored album.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Album {
    /// Assigned by the database.
    pub id: i64,
    /// Title.
    pub title: String,
    /// Artist.
    pub artist: String,
    /// Price, two decimal places.
    pub price: Decimal,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl Album {
    /// Its entity tag: every field the representation shows, so any change by any replica or
    /// release gives another tag (numbers as fixed-width bytes: no formatting on the hot path).
    pub fn etag(&self) -> ETag {
        let mut cents = self.price;
        cents.rescale(2);
        ETag::of(&[
            b"album",
            &self.id.to_be_bytes(),
            self.title.as_bytes(),
            self.artist.as_bytes(),
            &cents.mantissa().to_be_bytes(),
            &self.created_at.timestamp_micros().to_be_bytes(),
        ])
    }

    /// `PreconditionFailed` unless `expect` (an `If-Match`) names this album as it is now.
    pub fn satisfies(&self, expect: Option<&Condition>) -> Result<(), DomainError> {
        match expect {
            Some(condition) if !condition.matches_strong(&self.etag()) => {
                Err(DomainError::PreconditionFailed)
            }
            _ => Ok(()),
        }
    }
}

/// An album to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlbum {
    /// Title.
    pub title: String,
    /// Artist.
    pub artist: String,
    /// Price.
    pub price: Decimal,
}

/// Fields to change; `None` keeps the stored value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlbumChanges {
    /// New title.
    pub title: Option<String>,
    /// New artist.
    pub artist: Option<String>,
    /// New price.
    pub price: Option<Decimal>,
}

/// One page of a listing, ordered by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Only this artist (exact match).
    pub artist: Option<String>,
    /// Ids greater than this (the previous page's `next`).
    pub after: Option<i64>,
    /// Page size, already checked against the configured maximum.
    pub limit: u32,
}

/// A page and the cursor of the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The albums.
    pub items: Vec<Album>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<i64>,
}

/// What an album operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// Input breaks a rule; names the field.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// The rule.
        message: String,
    },
    /// No album with this id.
    #[error("album {0} not found")]
    NotFound(i64),
    /// `If-Match` names another version; nothing was changed.
    #[error("the album changed since it was read")]
    PreconditionFailed,
    /// The database failed (logged; clients see "unavailable").
    #[error("storage: {0}")]
    Storage(String),
}

fn invalid(field: &'static str, message: impl Into<String>) -> DomainError {
    DomainError::Invalid {
        field,
        message: message.into(),
    }
}

/// Trims `text` and checks it is 1..=[`MAX_TEXT`] characters.
pub fn clean_text(field: &'static str, text: &str) -> Result<String, DomainError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(invalid(field, format!("at most {MAX_TEXT} characters")));
    }
    Ok(text.to_owned())
}

/// Checks a price fits DECIMAL(10,2) and is not negative.
pub fn check_price(price: Decimal) -> Result<Decimal, DomainError> {
    if price.is_sign_negative() && !price.is_zero() {
        return Err(invalid("price", "must not be negative"));
    }
    if price.normalize().scale() > 2 {
        return Err(invalid("price", "at most two decimal places"));
    }
    if price > MAX_PRICE {
        return Err(invalid("price", format!("at most {MAX_PRICE}")));
    }
    Ok(price.round_dp(2))
}

impl ListQuery {
    /// A listing request checked against the configured page sizes (HTTP and gRPC alike):
    /// `limit` 1..=`max_limit` (default `default_limit`), `artist` trimmed and non-empty.
    pub fn checked(
        artist: Option<&str>,
        after: Option<i64>,
        limit: Option<u32>,
        pagination: &lockstep_service_config::Pagination,
    ) -> Result<ListQuery, DomainError> {
        let limit = limit.unwrap_or(pagination.default_limit);
        if limit == 0 || limit > pagination.max_limit {
            return Err(invalid(
                "limit",
                format!("must be 1-{}", pagination.max_limit),
            ));
        }
        Ok(ListQuery {
            artist: artist.map(|a| clean_text("artist", a)).transpose()?,
            after,
            limit,
        })
    }
}

impl NewAlbum {
    /// The album with its fields checked and trimmed.
    pub fn validated(self) -> Result<NewAlbum, DomainError> {
        Ok(NewAlbum {
            title: clean_text("title", &self.title)?,
            artist: clean_text("artist", &self.artist)?,
            price: check_price(self.price)?,
        })
    }
}

impl AlbumChanges {
    /// The changes with every given field checked.
    pub fn validated(self) -> Result<AlbumChanges, DomainError> {
        Ok(AlbumChanges {
            title: self.title.map(|t| clean_text("title", &t)).transpose()?,
            artist: self.artist.map(|a| clean_text("artist", &a)).transpose()?,
            price: self.price.map(check_price).transpose()?,
        })
    }
}

/// Where albums live. Implementations make every write atomic: a failed call changes nothing.
/// `expect` (a request's `If-Match`) is compared with the stored album's [`Album::etag`] in the
/// write's own transaction.
pub trait AlbumStore: lockstep_service_kit::http::Probe {
    /// Stores a validated album; with `once`, at most once per idempotency key (see
    /// `lockstep_service_kit::idempotency`).
    fn create(
        &self,
        album: NewAlbum,
        once: Option<&Once<Album>>,
    ) -> impl Future<Output = Result<Answer<Album>, DomainError>> + Send;
    /// One album.
    fn get(&self, id: i64) -> impl Future<Output = Result<Album, DomainError>> + Send;
    /// A page of albums.
    fn list(&self, query: ListQuery) -> impl Future<Output = Result<Page, DomainError>> + Send;
    /// Applies validated changes.
    fn update(
        &self,
        id: i64,
        changes: AlbumChanges,
        expect: Option<&Condition>,
    ) -> impl Future<Output = Result<Album, DomainError>> + Send;
    /// Deletes one album.
    fn delete(
        &self,
        id: i64,
        expect: Option<&Condition>,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn prices() {
        let d = |s| Decimal::from_str(s).unwrap();
        assert_eq!(check_price(d("19.9")).unwrap(), d("19.90"));
        assert_eq!(check_price(d("0")).unwrap(), d("0"));
        assert_eq!(
            check_price(d("19.900")).unwrap(),
            d("19.90"),
            "trailing zeros are fine"
        );
        for bad in ["-0.01", "1.001", "100000000.00"] {
            assert!(
                matches!(
                    check_price(d(bad)),
                    Err(DomainError::Invalid { field: "price", .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            check_price(MAX_PRICE).unwrap(),
            d("9999999.99") * d("10") + d("0.09")
        );
    }

    #[test]
    fn texts() {
        assert_eq!(clean_text("title", "  Blue  ").unwrap(), "Blue");
        assert!(clean_text("title", "   ").is_err());
        assert!(
            clean_text("artist", &"é".repeat(MAX_TEXT)).is_ok(),
            "characters, not bytes"
        );
        assert!(clean_text("artist", &"x".repeat(MAX_TEXT + 1)).is_err());
    }
}
