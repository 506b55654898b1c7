//! The album schema as migrations (`lockstep_service_kit::migrate`): run at start-up, or by
//! `album-service migrate` with `database.migrate_on_start: false`. Append new ones; never edit
//! or rename one that shipped. Each must leave a schema the previous release still works with
//! (a rollback runs it against the same database) and be idempotent.

use lockstep_service_kit::database::Database;
use lockstep_service_kit::migrate::{Migration, Step};
use sea_orm::sea_query::Index;
use sea_orm::{ConnectionTrait, Schema};

use super::entity::{Column, Entity};

/// The service's name in the migration ledger.
pub const SERVICE: &str = "album-service";

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "0001_albums",
        up: albums,
    },
    Migration {
        name: "0002_idempotency_keys",
        up: lockstep_service_kit::idempotency::create_table,
    },
    Migration {
        name: "0003_created_at_micros",
        up: created_at_micros,
    },
];

/// `albums` from the entity, and the (artist, id) index the artist filter pages on.
fn albums(db: &Database) -> Step<'_> {
    Box::pin(async move {
        let schema = Schema::new(db.conn().get_database_backend());
        let mut table = schema.create_table_from_entity(Entity);
        db.conn().execute(table.if_not_exists()).await?;
        let index = Index::create()
            .if_not_exists()
            .name("idx_albums_artist_id")
            .table(Entity)
            .col(Column::Artist)
            .col(Column::Id)
            .to_owned();
        db.create_index(&index).await
    })
}

/// `created_at` kept to the microsecond on MySQL-family servers (it was a `TIMESTAMP`: whole
/// seconds, and read through the session time zone). The previous release reads and writes a
/// `DATETIME(6)` unchanged; SQLite stores the text as written. Re-running it changes nothing.
fn created_at_micros(db: &Database) -> Step<'_> {
    Box::pin(async move {
        if db.conn().get_database_backend() == sea_orm::DatabaseBackend::Sqlite {
            return Ok(());
        }
        db.conn()
            .execute_unprepared("ALTER TABLE albums MODIFY created_at DATETIME(6) NOT NULL")
            .await
            .map(|_| ())
    })
}
