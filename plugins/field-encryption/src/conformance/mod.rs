//! A conformance suite for field encryption on a real database: every SeaORM read/write path,
//! ciphertext at rest, tenant isolation, tamper detection, rotation with re-encryption, blind
//! indexes, key providers and the plaintext migration.
//!
//! Enabled by the `conformance` feature. The crate's own tests run it on SQLite (embedded); the
//! `driver-tests` testbench runs it on MariaDB, MySQL and TiDB. Each scenario expects an empty
//! database and creates what it uses with [`create_schema`].

mod exact;
mod index;
mod lifecycle;
mod paths;
mod refused;
mod retire;
mod rows;
mod scenarios;
mod support;
mod versions;

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection};

pub use scenarios::all;

crate::encrypted_column!(pub NoteTitle, "notes.title", Binary, crate::blind::IndexSpec::V1, tenant = "tenant");
crate::encrypted_column!(pub NoteBody, "notes.body", Binary, crate::blind::IndexSpec::V1, tenant = "tenant");
crate::encrypted_column!(pub NoteLegacy, "notes.legacy", Base64, crate::blind::IndexSpec::V1, tenant = "tenant");

/// The entity the scenarios use: two encrypted binary columns, a blind index and an optional
/// base64 column.
pub mod note {
    use sea_orm::entity::prelude::*;

    use super::{NoteBody, NoteLegacy, NoteTitle};
    use crate::{BlindIndex, Encrypted};

    /// One note.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "notes")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Owner tenant (plaintext, for queries and jobs).
        pub tenant: String,
        /// Encrypted title.
        pub title: Encrypted<String, NoteTitle>,
        /// Blind index of the title.
        pub title_idx: BlindIndex<NoteTitle>,
        /// Encrypted body.
        pub body: Encrypted<String, NoteBody>,
        /// Optional encrypted field in a TEXT column.
        pub legacy: Option<Encrypted<String, NoteLegacy>>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    crate::write_checks!(
        ActiveModel,
        "notes",
        tenant = tenant,
        fields = [title, body],
        optional = [legacy],
        before_save
    );
}

/// Creates `notes` (and `plain_notes`, the plaintext twin used by benchmarks) for the
/// connection's backend. No guards on the encrypted columns: scenarios write plaintext (the
/// migration) and tampered bytes there on purpose; see [`create_guarded_schema`].
pub async fn create_schema(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    create_tables(db, false).await
}

/// [`create_schema`] with [`crate::sealed_check`] on every encrypted column of `notes`.
pub async fn create_guarded_schema(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    create_tables(db, true).await
}

async fn create_tables(db: &DatabaseConnection, guarded: bool) -> Result<(), sea_orm::DbErr> {
    let id = match db.get_database_backend() {
        DatabaseBackend::Sqlite => "id INTEGER PRIMARY KEY AUTOINCREMENT",
        _ => "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
    };
    let backend = db.get_database_backend();
    let check = |column, storage| match guarded {
        true => crate::sealed_check(backend, column, storage)
            .map_err(|e| sea_orm::DbErr::Custom(e.to_string())),
        false => Ok(String::new()),
    };
    db.execute_unprepared(&format!(
        "CREATE TABLE notes ({id}, tenant VARCHAR(64) NOT NULL, title BLOB NOT NULL {}, title_idx BINARY(16) NOT NULL, body BLOB NOT NULL {}, legacy TEXT NULL {}){}",
        check("title", crate::Storage::Binary)?,
        check("body", crate::Storage::Binary)?,
        check("legacy", crate::Storage::Base64)?,
        folding_case(backend),
    ))
    .await?;
    db.execute_unprepared("CREATE INDEX notes_title_idx ON notes (tenant, title_idx)")
        .await?;
    db.execute_unprepared(&format!(
        "CREATE TABLE plain_notes ({id}, tenant VARCHAR(64) NOT NULL, title VARCHAR(255) NOT NULL, body TEXT NOT NULL){}",
        folding_case(backend)
    ))
    .await?;
    Ok(())
}

/// On MySQL-family servers, the table option that makes text compare case-insensitively and
/// PAD SPACE (`utf8mb4_general_ci`), as MySQL's and MariaDB's default collations do, whatever the
/// target database's default is: the testbench creates `utf8mb4_bin` databases, which hid every
/// comparison that was not byte-exact. (Changing the database default per scenario was racy:
/// MariaDB takes a new table's collation from the creating connection's session, loaded when it
/// selected the database, so a pooled connection opened earlier kept `utf8mb4_bin`.)
pub(crate) fn folding_case(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::MySql => " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
        _ => "",
    }
}

/// A scenario's outcome: `Err` carries a description of what went wrong.
pub type Outcome = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// One named scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Name, used in test names.
    pub name: &'static str,
    /// The body; gets a connection to an empty database.
    pub run: for<'a> fn(&'a DatabaseConnection) -> futures::future::BoxFuture<'a, Outcome>,
}
