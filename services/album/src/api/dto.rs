//! The JSON shapes of the API. Unknown fields are rejected, so a typo is an error, not a no-op.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::{Album, AlbumChanges, NewAlbum, Page};

/// `POST /v1/albums` (serialized again only to fingerprint an `Idempotency-Key`'s request).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAlbum {
    /// 1–200 characters.
    pub title: String,
    /// 1–200 characters.
    pub artist: String,
    /// A decimal string (`"19.99"`) or a JSON number; 0 to 99,999,999.99, two places.
    pub price: Decimal,
}

impl From<CreateAlbum> for NewAlbum {
    fn from(c: CreateAlbum) -> NewAlbum {
        NewAlbum {
            title: c.title,
            artist: c.artist,
            price: c.price,
        }
    }
}

/// `PATCH /v1/albums/{id}`: any subset of the fields.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAlbum {
    /// New title.
    pub title: Option<String>,
    /// New artist.
    pub artist: Option<String>,
    /// New price.
    pub price: Option<Decimal>,
}

impl From<UpdateAlbum> for AlbumChanges {
    fn from(u: UpdateAlbum) -> AlbumChanges {
        AlbumChanges {
            title: u.title,
            artist: u.artist,
            price: u.price,
        }
    }
}

/// An album in responses; the price is a decimal string so no client float rounds it.
#[derive(Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct AlbumDto {
    /// Id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// Artist.
    pub artist: String,
    /// Price, e.g. `"19.99"`.
    pub price: String,
    /// RFC 3339, UTC, microseconds: `2026-12-07T11:25:26.123456Z`.
    #[serde(serialize_with = "lockstep_service_kit::time::serialize")]
    pub created_at: DateTime<Utc>,
}

impl From<Album> for AlbumDto {
    fn from(a: Album) -> AlbumDto {
        AlbumDto {
            id: a.id,
            title: a.title,
            artist: a.artist,
            price: format!("{:.2}", a.price),
            created_at: a.created_at,
        }
    }
}

/// `GET /v1/albums` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Exact artist.
    pub artist: Option<String>,
    /// Cursor from the previous page.
    pub after: Option<i64>,
    /// Page size (default and maximum from `pagination` in the config).
    pub limit: Option<u32>,
}

/// A page of albums.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PageDto {
    /// The albums.
    pub items: Vec<AlbumDto>,
    /// `after` for the next page, absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<i64>,
}

impl From<Page> for PageDto {
    fn from(p: Page) -> PageDto {
        PageDto {
            items: p.items.into_iter().map(AlbumDto::from).collect(),
            next: p.next,
        }
    }
}
