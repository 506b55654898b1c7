//! The `notes` table (encrypted) and its plaintext twin `plain_notes` (benchmark control).

use lockstep_field_encryption::encrypted_column;

use lockstep_field_encryption::blind::IndexSpec;

encrypted_column!(pub NoteTitle, "notes.title", Binary, IndexSpec::V1, tenant = "tenant");

/// Encrypted column `notes.body`: a `MEDIUMBLOB` (a 64 KiB body and its envelope do not fit a
/// `BLOB`), so values up to its 16 MiB pass the write check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoteBody;

impl lockstep_field_encryption::ColumnBinding for NoteBody {
    const NAME: &'static str = "notes.body";
    const STORAGE: lockstep_field_encryption::Storage = lockstep_field_encryption::Storage::Binary;
    const TENANT_COLUMN: Option<&'static str> = Some("tenant");
    const MAX_STORED: usize = (1 << 24) - 1;
}

/// Encrypted notes.
pub mod note {
    use lockstep_field_encryption::{BlindIndex, Encrypted};
    use sea_orm::entity::prelude::*;

    use super::{NoteBody, NoteTitle};

    /// One row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "notes")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Tenant (plaintext: every query filters on it).
        pub tenant: String,
        /// The user who owns the note (the token's `sub`; every query filters on it). Notes
        /// written before owners existed, or by a release without them, have `''`: no user's.
        pub owner: String,
        /// Sealed under the tenant's key, bound to `notes.title`.
        pub title: Encrypted<String, NoteTitle>,
        /// Keyed hash of the title for exact search.
        pub title_idx: BlindIndex<NoteTitle>,
        /// Sealed under the tenant's key, bound to `notes.body`.
        pub body: Encrypted<String, NoteBody>,
        /// JSON array of tags (plaintext).
        pub tags: String,
        /// Created.
        pub created_at: ChronoDateTimeUtc,
        /// Last changed.
        pub updated_at: ChronoDateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    lockstep_field_encryption::write_checks!(
        ActiveModel,
        "notes",
        tenant = tenant,
        fields = [title, body],
        before_save
    );
}

/// The same shape in plaintext: the control the encrypted GET is measured against.
pub mod plain {
    use sea_orm::entity::prelude::*;

    /// One row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "plain_notes")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Owner.
        pub tenant: String,
        /// Title.
        pub title: String,
        /// Body.
        pub body: String,
        /// JSON array of tags.
        pub tags: String,
        /// Created.
        pub created_at: ChronoDateTimeUtc,
        /// Last changed.
        pub updated_at: ChronoDateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
