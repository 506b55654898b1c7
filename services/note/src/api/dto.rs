//! JSON shapes of the note API; unknown fields are rejected.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{NewNote, Note, NoteChanges};

/// `POST /v1/notes`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNote {
    /// 1–200 characters.
    pub title: String,
    /// Up to 64 KiB.
    #[serde(default)]
    pub body: String,
    /// Up to 20 tags of 1–40 characters.
    #[serde(default)]
    pub tags: Vec<String>,
}

impl From<CreateNote> for NewNote {
    fn from(c: CreateNote) -> NewNote {
        NewNote {
            title: c.title,
            body: c.body,
            tags: c.tags,
        }
    }
}

/// `PATCH /v1/notes/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNote {
    /// New title.
    pub title: Option<String>,
    /// New body.
    pub body: Option<String>,
    /// New tags.
    pub tags: Option<Vec<String>>,
}

impl From<UpdateNote> for NoteChanges {
    fn from(u: UpdateNote) -> NoteChanges {
        NoteChanges {
            title: u.title,
            body: u.body,
            tags: u.tags,
        }
    }
}

/// A note in responses.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct NoteDto {
    /// Id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Created: RFC 3339, UTC, microseconds (`2026-12-07T11:25:26.123456Z`).
    #[serde(serialize_with = "lockstep_service_kit::time::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last changed, in the same shape.
    #[serde(serialize_with = "lockstep_service_kit::time::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl From<Note> for NoteDto {
    fn from(n: Note) -> NoteDto {
        NoteDto {
            id: n.id,
            title: n.title,
            body: n.body,
            tags: n.tags,
            created_at: n.created_at,
            updated_at: n.updated_at,
        }
    }
}

/// `GET /v1/notes` query: newest first, optionally filtered; follow `next_cursor` for more.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only notes with exactly this title.
    pub title: Option<String>,
    /// Only notes created at or after this time (RFC 3339, e.g. `2026-11-30T00:00:00Z`).
    pub created_from: Option<DateTime<Utc>>,
    /// Only notes created before this time (RFC 3339).
    pub created_before: Option<DateTime<Utc>>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// At most this many (default 20, max 100).
    pub limit: Option<u32>,
}

/// One page of notes.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotesDto {
    /// Notes, newest first (by creation time, then id).
    pub items: Vec<NoteDto>,
    /// Pass as `cursor` for the next page; absent on the last page. A page may hold fewer
    /// than `limit` notes and still have a next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
