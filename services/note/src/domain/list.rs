//! Listing a tenant's notes: newest first, filtered by creation time and optionally by exact
//! title, in pages joined by a cursor.
//!
//! The order is `(created_at, id)` descending, not `id`: TiDB hands out `AUTO_INCREMENT` ids in
//! per-server batches, so ids do not follow creation across servers. The cursor is the last
//! item's `(created_at, id)`, so a page after it is a keyset query (no `OFFSET` that rescans
//! and skips or repeats rows when notes are added or deleted meanwhile). There is no keyword
//! search: titles and bodies are ciphertext, and the blind index matches whole titles only;
//! an index per word would tell the database which notes share words.

use chrono::{DateTime, Utc};

use super::{DomainError, Note, clean_title, invalid};

/// Most notes in one page.
pub const MAX_PAGE: u32 = 100;
/// Notes in a page when the request does not say.
pub const DEFAULT_PAGE: u32 = 20;

/// Where a page starts: after the note created at `created_at` with id `id`, going back in time.
/// Its text form (`<microseconds since 1970>-<id>`) is opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The last listed note's creation time (microsecond precision, as stored).
    pub created_at: DateTime<Utc>,
    /// The last listed note's id.
    pub id: i64,
}

impl Cursor {
    /// The cursor after `note`.
    pub fn after(note: &Note) -> Cursor {
        Cursor {
            created_at: note.created_at,
            id: note.id,
        }
    }

    /// The text clients send back.
    pub fn encode(&self) -> String {
        format!("{}-{}", self.created_at.timestamp_micros(), self.id)
    }

    /// Parses [`Cursor::encode`]'s text; anything else is an `Invalid` error naming `cursor`.
    pub fn decode(text: &str) -> Result<Cursor, DomainError> {
        let bad = || invalid("cursor", "not a cursor from a previous page");
        let (micros, id) = text.split_once('-').ok_or_else(bad)?;
        let micros: i64 = micros.parse().map_err(|_| bad())?;
        let id: i64 = id.parse().map_err(|_| bad())?;
        let created_at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
        if id <= 0 || micros < 0 {
            return Err(bad());
        }
        Ok(Cursor { created_at, id })
    }
}

/// A validated list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Only notes with exactly this title (trimmed).
    pub title: Option<String>,
    /// Only notes created at or after this time.
    pub created_from: Option<DateTime<Utc>>,
    /// Only notes created before this time.
    pub created_before: Option<DateTime<Utc>>,
    /// Continue after this note.
    pub after: Option<Cursor>,
    /// At most this many notes, 1..=[`MAX_PAGE`].
    pub limit: u32,
}

impl ListQuery {
    /// Checks each part; errors name the query parameter.
    pub fn new(
        title: Option<&str>,
        created_from: Option<DateTime<Utc>>,
        created_before: Option<DateTime<Utc>>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<ListQuery, DomainError> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(invalid("limit", format!("must be 1-{MAX_PAGE}")));
        }
        if let (Some(from), Some(before)) = (created_from, created_before)
            && from >= before
        {
            return Err(invalid("created_before", "must be later than created_from"));
        }
        Ok(ListQuery {
            title: title.map(clean_title).transpose()?,
            created_from,
            created_before,
            after: cursor.map(Cursor::decode).transpose()?,
            limit,
        })
    }
}

/// One page of notes, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The notes.
    pub items: Vec<Note>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

impl Page {
    /// A page from up to `limit + 1` rows in list order: the extra row only says there is more.
    pub fn from_rows(mut rows: Vec<Note>, limit: u32) -> Page {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = more.then(|| rows.last().map(Cursor::after)).flatten();
        Page { items: rows, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(id: i64, micros: i64) -> Note {
        let at = DateTime::from_timestamp_micros(micros).unwrap();
        Note {
            id,
            title: "t".into(),
            body: String::new(),
            tags: vec![],
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let c = Cursor::after(&note(42, 1_764_523_201_123_456));
        assert_eq!(c.encode(), "1764523201123456-42");
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        for bad in [
            "",
            "12",
            "a-1",
            "1-b",
            "1-0",
            "-5-1",
            "1-2-3",
            "99999999999999999999-1",
        ] {
            assert!(
                matches!(
                    Cursor::decode(bad),
                    Err(DomainError::Invalid {
                        field: "cursor",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn queries_are_checked() {
        let at = |s| DateTime::from_timestamp(s, 0);
        assert_eq!(
            ListQuery::new(None, None, None, None, None).unwrap().limit,
            20
        );
        for limit in [0, MAX_PAGE + 1] {
            assert!(matches!(
                ListQuery::new(None, None, None, None, Some(limit)),
                Err(DomainError::Invalid { field: "limit", .. })
            ));
        }
        assert!(matches!(
            ListQuery::new(None, at(10), at(10), None, None),
            Err(DomainError::Invalid {
                field: "created_before",
                ..
            })
        ));
        assert!(matches!(
            ListQuery::new(Some("  "), None, None, None, None),
            Err(DomainError::Invalid { field: "title", .. })
        ));
        let q = ListQuery::new(Some(" x "), at(1), at(2), Some("5-7"), Some(3)).unwrap();
        assert_eq!(
            (q.title.as_deref(), q.after.map(|c| c.id)),
            (Some("x"), Some(7))
        );
    }

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_exist() {
        let rows = vec![note(3, 30), note(2, 20), note(1, 10)];
        let page = Page::from_rows(rows.clone(), 2);
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.next.map(|c| c.id), Some(2));
        assert_eq!(Page::from_rows(rows.clone(), 3).next, None);
        assert_eq!(Page::from_rows(rows, 5).next, None);
    }
}
