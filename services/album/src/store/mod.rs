//! Albums in SQL through SeaORM: MySQL/TiDB through the Lockstep driver (writes in its retrying
//! transactions), or an embedded SQLite file when the config names no database.

pub mod entity;
pub mod schema;

use std::sync::Arc;

use lockstep_service_config::AlbumConfig;
use lockstep_service_kit::database::{Database, OpenError};
use lockstep_service_kit::idempotency::{self, Answer, InClear, Once};
use lockstep_service_kit::migrate::prepare_schema;
use lockstep_service_kit::precondition::Condition;
use lockstep_tidb::RetryPolicy;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::domain::{Album, AlbumChanges, AlbumStore, DomainError, ListQuery, NewAlbum, Page};
use entity::{ActiveModel, Column, Entity, Model};

/// The SeaORM store.
#[derive(Clone, Debug)]
pub struct SeaStore {
    db: Database,
    policy: Arc<RetryPolicy>,
    /// `policy` for reads, which may run twice: a broken link is retried, and a connection
    /// used moments ago is handed out without a ping first (`lockstep_tidb`'s
    /// `alive-bypass-window`).
    reads: Arc<RetryPolicy>,
}

fn storage(e: impl std::fmt::Display) -> DomainError {
    DomainError::Storage(e.to_string())
}

/// A domain error raised inside a retried transaction travels as `Error::Work` (never retried).
fn from_txn(e: lockstep_tidb::Error) -> DomainError {
    lockstep_service_kit::database::work_error::<DomainError>(e).unwrap_or_else(storage)
}

fn work(e: DomainError) -> lockstep_tidb::Error {
    lockstep_tidb::Error::Work(Box::new(e))
}

/// The album `id`, locked for the rest of the transaction, if `expect` names it as it is.
async fn locked(
    txn: &sea_orm::DatabaseTransaction,
    id: i64,
    expect: Option<&Condition>,
) -> Result<Model, lockstep_tidb::Error> {
    let Some(current) = Entity::find_by_id(id).lock_exclusive().one(txn).await? else {
        return Err(work(DomainError::NotFound(id)));
    };
    to_album(current.clone()).satisfies(expect).map_err(work)?;
    Ok(current)
}

fn to_album(m: Model) -> Album {
    Album {
        id: m.id,
        title: m.title,
        artist: m.artist,
        // SQLite hands DECIMAL back through f64; two places recover the stored value exactly.
        price: m.price.round_dp(2),
        created_at: m.created_at,
    }
}

impl SeaStore {
    /// Opens the database `config` names (its SQLite file when `database.url_env` is unset) and
    /// creates the table if missing.
    pub async fn open(config: &AlbumConfig) -> Result<SeaStore, OpenError> {
        let db = Database::open(config).await?;
        SeaStore::on(db, config.database.migrate_on_start).await
    }

    /// Opens a MySQL/TiDB `url`, or the SQLite file `sqlite_path` when `url` is `None`.
    pub async fn connect(
        url: Option<&str>,
        sqlite_path: &str,
        max_connections: u32,
    ) -> Result<SeaStore, OpenError> {
        SeaStore::on(
            Database::connect(url, sqlite_path, max_connections).await?,
            true,
        )
        .await
    }

    /// Migrates the schema (or checks it is current when `migrate` is false) and wraps `db`.
    async fn on(db: Database, migrate: bool) -> Result<SeaStore, OpenError> {
        prepare_schema(&db, schema::SERVICE, schema::MIGRATIONS, migrate).await?;
        // The driver's policy: the URL's attempt time-out and retry budget, counted in its
        // retry metrics.
        let policy = db
            .tidb()
            .as_ref()
            .map_or_else(RetryPolicy::default, |tidb| tidb.retry_policy());
        let store = SeaStore {
            reads: Arc::new(RetryPolicy {
                idempotent: true,
                ..policy.clone()
            }),
            policy: Arc::new(policy),
            db,
        };
        Ok(store)
    }

    /// A SeaORM connection (tests, tools).
    pub fn connection(&self) -> DatabaseConnection {
        self.db.conn()
    }
}

impl AlbumStore for SeaStore {
    async fn create(
        &self,
        album: NewAlbum,
        once: Option<&Once<Album>>,
    ) -> Result<Answer<Album>, DomainError> {
        let insert = || {
            self.db.transaction_with_retry(&self.policy, |txn| {
                let (album, once) = (album.clone(), once.cloned());
                Box::pin(async move {
                    let model = ActiveModel {
                        title: Set(album.title),
                        artist: Set(album.artist),
                        price: Set(album.price),
                        created_at: Set(lockstep_service_kit::time::now()),
                        ..Default::default()
                    }
                    .insert(txn)
                    .await?;
                    let album = to_album(model);
                    idempotency::remember(txn, once.as_ref(), &album, &InClear).await?;
                    Ok(album)
                })
            })
        };
        idempotency::run(&self.db.conn(), once, &InClear, insert, from_txn).await
    }

    async fn get(&self, id: i64) -> Result<Album, DomainError> {
        // The hottest route: on MySQL/TiDB one prepared point select straight on the driver's
        // pool (SeaORM builds the statement anew per call: a third of this route's CPU, see
        // services/bench/README.md), as idempotent work: retried on a broken link, and without
        // sqlx's ping on a connection used moments ago. Same columns, same rounding as
        // `to_album`.
        if let Some(tidb) = self.db.tidb() {
            let row: Option<(
                i64,
                String,
                String,
                rust_decimal::Decimal,
                chrono::DateTime<chrono::Utc>,
            )> = tidb
                .run_with_retry(&self.reads, |_, pool| async move {
                    sqlx::query_as(
                        "SELECT id, title, artist, price, created_at FROM albums WHERE id = ?",
                    )
                    .bind(id)
                    .fetch_optional(pool)
                    .await
                    .map_err(|e| lockstep_tidb::Error::from(e).into())
                })
                .await
                .map_err(storage)?;
            let (id, title, artist, price, created_at) = row.ok_or(DomainError::NotFound(id))?;
            return Ok(to_album(Model {
                id,
                title,
                artist,
                price,
                created_at,
            }));
        }
        Entity::find_by_id(id)
            .one(&self.db.conn())
            .await
            .map_err(storage)?
            .map(to_album)
            .ok_or(DomainError::NotFound(id))
    }

    async fn list(&self, query: ListQuery) -> Result<Page, DomainError> {
        let mut select = Entity::find().order_by_asc(Column::Id);
        if let Some(artist) = &query.artist {
            select = select.filter(Column::Artist.eq(artist.as_str()));
            // The filter is exact on every backend. MySQL-family collations are case- and
            // trailing-space-insensitive (and utf8mb4_general_ci weighs all emoji alike): the
            // indexed `=` narrows, the binary comparison decides.
            if self.db.conn().get_database_backend() == sea_orm::DatabaseBackend::MySql {
                select = select.filter(sea_orm::sea_query::Expr::cust_with_values(
                    "CAST(artist AS BINARY) = ?",
                    [artist.as_str()],
                ));
            }
        }
        if let Some(after) = query.after {
            select = select.filter(Column::Id.gt(after));
        }
        let mut rows = select
            .limit(u64::from(query.limit) + 1)
            .all(&self.db.conn())
            .await
            .map_err(storage)?;
        let more = rows.len() > query.limit as usize;
        rows.truncate(query.limit as usize);
        let next = more.then(|| rows.last().map(|r| r.id)).flatten();
        Ok(Page {
            items: rows.into_iter().map(to_album).collect(),
            next,
        })
    }

    async fn update(
        &self,
        id: i64,
        changes: AlbumChanges,
        expect: Option<&Condition>,
    ) -> Result<Album, DomainError> {
        let row = self
            .db
            .transaction_with_retry(&self.policy, |txn| {
                let (changes, expect) = (changes.clone(), expect.cloned());
                Box::pin(async move {
                    let mut model: ActiveModel = locked(txn, id, expect.as_ref()).await?.into();
                    if let Some(title) = changes.title {
                        model.title = Set(title);
                    }
                    if let Some(artist) = changes.artist {
                        model.artist = Set(artist);
                    }
                    if let Some(price) = changes.price {
                        model.price = Set(price);
                    }
                    Ok(model.update(txn).await?)
                })
            })
            .await
            .map_err(from_txn)?;
        Ok(to_album(row))
    }

    async fn delete(&self, id: i64, expect: Option<&Condition>) -> Result<(), DomainError> {
        let result = self
            .db
            .transaction_with_retry(&self.policy, |txn| {
                let expect = expect.cloned();
                Box::pin(async move {
                    if expect.is_some() {
                        locked(txn, id, expect.as_ref()).await?;
                    }
                    Ok(Entity::delete_by_id(id).exec(txn).await?)
                })
            })
            .await
            .map_err(from_txn)?;
        if result.rows_affected == 0 {
            return Err(DomainError::NotFound(id));
        }
        Ok(())
    }
}

impl lockstep_service_kit::http::Probe for SeaStore {
    async fn ping(&self) -> Result<(), String> {
        self.db.ping().await
    }

    fn pool_state(&self) -> (i64, i64) {
        self.db.pool_state()
    }
}
