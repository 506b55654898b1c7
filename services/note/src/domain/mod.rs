//! Notes as the business sees them. Every operation is scoped to one tenant; the storage
//! contract makes a note of another tenant indistinguishable from a missing one.

mod list;

use std::future::Future;

use chrono::{DateTime, Utc};
use lockstep_service_kit::idempotency::{Answer, Once};
use lockstep_service_kit::precondition::{Condition, ETag};

pub use list::{Cursor, DEFAULT_PAGE, ListQuery, MAX_PAGE, Page};

/// Longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// Longest body, in bytes.
pub const MAX_BODY: usize = 64 * 1024;
/// Most tags on a note.
pub const MAX_TAGS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG: usize = 40;

/// Whose notes an operation may touch: a user (`sub` of the token) inside a tenant. Notes are
/// owned per user, as in EasyNote; the tenant selects the encryption key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The tenant (key and isolation boundary).
    pub tenant: String,
    /// The user (`sub`).
    pub user: String,
}

/// A stored note, decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Note {
    /// Its entity tag. Every write sets `updated_at` (to the microsecond, under the row's lock),
    /// so the id and the two times tell versions apart without hashing the plaintext into a
    /// header that proxies may log.
    pub fn etag(&self) -> ETag {
        ETag::of(&[
            b"note",
            &self.id.to_be_bytes(),
            &self.created_at.timestamp_micros().to_be_bytes(),
            &self.updated_at.timestamp_micros().to_be_bytes(),
        ])
    }

    /// `PreconditionFailed` unless `expect` (an `If-Match`) names this note as it is now.
    pub fn satisfies(&self, expect: Option<&Condition>) -> Result<(), DomainError> {
        match expect {
            Some(condition) if !condition.matches_strong(&self.etag()) => {
                Err(DomainError::PreconditionFailed)
            }
            _ => Ok(()),
        }
    }
}

/// A note to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNote {
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Tags.
    pub tags: Vec<String>,
}

/// Fields to change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoteChanges {
    /// New title.
    pub title: Option<String>,
    /// New body.
    pub body: Option<String>,
    /// New tags.
    pub tags: Option<Vec<String>>,
}

/// What a note operation can fail with.
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
    /// No note with this id for this tenant.
    #[error("note {0} not found")]
    NotFound(i64),
    /// `If-Match` names another version; nothing was changed.
    #[error("the note changed since it was read")]
    PreconditionFailed,
    /// The tenant has no keys provisioned here: the token names a tenant this deployment does
    /// not serve (a client fault, not an outage).
    #[error("tenant {0} is not provisioned")]
    UnknownTenant(String),
    /// The tenant's keys could not be resolved.
    #[error("tenant keys: {0}")]
    Keys(String),
    /// The database failed, or a stored value failed to decrypt.
    #[error("storage: {0}")]
    Storage(String),
}

fn invalid(field: &'static str, message: impl Into<String>) -> DomainError {
    DomainError::Invalid {
        field,
        message: message.into(),
    }
}

/// Trimmed title, 1..=[`MAX_TITLE`] characters.
pub fn clean_title(title: &str) -> Result<String, DomainError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(invalid("title", "must not be empty"));
    }
    if title.chars().count() > MAX_TITLE {
        return Err(invalid("title", format!("at most {MAX_TITLE} characters")));
    }
    Ok(title.to_owned())
}

fn check_body(body: String) -> Result<String, DomainError> {
    if body.len() > MAX_BODY {
        return Err(invalid("body", format!("at most {MAX_BODY} bytes")));
    }
    Ok(body)
}

fn check_tags(tags: Vec<String>) -> Result<Vec<String>, DomainError> {
    if tags.len() > MAX_TAGS {
        return Err(invalid("tags", format!("at most {MAX_TAGS} tags")));
    }
    tags.into_iter()
        .map(|t| {
            let t = t.trim().to_owned();
            if t.is_empty() || t.chars().count() > MAX_TAG {
                Err(invalid(
                    "tags",
                    format!("each tag has 1-{MAX_TAG} characters"),
                ))
            } else {
                Ok(t)
            }
        })
        .collect()
}

impl NewNote {
    /// Checked and trimmed.
    pub fn validated(self) -> Result<NewNote, DomainError> {
        Ok(NewNote {
            title: clean_title(&self.title)?,
            body: check_body(self.body)?,
            tags: check_tags(self.tags)?,
        })
    }
}

impl NoteChanges {
    /// Every given field checked.
    pub fn validated(self) -> Result<NoteChanges, DomainError> {
        Ok(NoteChanges {
            title: self.title.as_deref().map(clean_title).transpose()?,
            body: self.body.map(check_body).transpose()?,
            tags: self.tags.map(check_tags).transpose()?,
        })
    }
}

/// Where notes live, per owner (a user inside a tenant). `expect` (a request's `If-Match`) is
/// compared with the stored note's [`Note::etag`] in the write's own transaction.
pub trait NoteStore: lockstep_service_kit::http::Probe {
    /// Stores a validated note for `owner`; with `once`, at most once per idempotency key (the
    /// stored answer sealed under the tenant's key, like the note).
    fn create(
        &self,
        owner: &Owner,
        note: NewNote,
        once: Option<&Once<Note>>,
    ) -> impl Future<Output = Result<Answer<Note>, DomainError>> + Send;
    /// One of `owner`'s notes.
    fn get(&self, owner: &Owner, id: i64)
    -> impl Future<Output = Result<Note, DomainError>> + Send;
    /// One page of `owner`'s notes, newest first (see [`ListQuery`]).
    fn list(
        &self,
        owner: &Owner,
        query: &ListQuery,
    ) -> impl Future<Output = Result<Page, DomainError>> + Send;
    /// Applies validated changes.
    fn update(
        &self,
        owner: &Owner,
        id: i64,
        changes: NoteChanges,
        expect: Option<&Condition>,
    ) -> impl Future<Output = Result<Note, DomainError>> + Send;
    /// Deletes one of `owner`'s notes.
    fn delete(
        &self,
        owner: &Owner,
        id: i64,
        expect: Option<&Condition>,
    ) -> impl Future<Output = Result<(), DomainError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let ok = NewNote {
            title: " t ".into(),
            body: "b".into(),
            tags: vec![" x ".into()],
        };
        assert_eq!(ok.validated().unwrap().tags, ["x"]);
        let big = NewNote {
            title: "t".into(),
            body: "b".repeat(MAX_BODY + 1),
            tags: vec![],
        };
        assert!(matches!(
            big.validated(),
            Err(DomainError::Invalid { field: "body", .. })
        ));
        let tags = NewNote {
            title: "t".into(),
            body: String::new(),
            tags: vec!["".into()],
        };
        assert!(matches!(
            tags.validated(),
            Err(DomainError::Invalid { field: "tags", .. })
        ));
        assert!(clean_title(&"é".repeat(MAX_TITLE)).is_ok());
        assert!(clean_title(&"é".repeat(MAX_TITLE + 1)).is_err());
    }
}
