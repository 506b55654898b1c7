//! The `notes` table (encrypted) and its plaintext twin `plain_notes` (benchmark control).

use lockstep_field_encryption::encrypted_column;

encrypted_column!(pub NoteTitle, "notes.title");
encrypted_column!(pub NoteBody, "notes.body");

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

    /// A write needs the tenant's scope before anything is sent: values sealed in a request's
    /// scope and written outside it would commit and then fail the read-back.
    #[async_trait::async_trait]
    impl ActiveModelBehavior for ActiveModel {
        async fn before_save<C>(self, _db: &C, _insert: bool) -> Result<Self, DbErr>
        where
            C: ConnectionTrait,
        {
            lockstep_field_encryption::require_tenant_for_write("notes")?;
            Ok(self)
        }
    }
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
