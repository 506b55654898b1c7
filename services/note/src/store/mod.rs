//! Notes in SQL: titles and bodies sealed with the tenant's key (lockstep-field-encryption) inside
//! a tenant scope, exact-title search through the blind index, every query filtered by tenant
//! and owner (the token's `sub`).

pub mod answers;
pub mod entity;
pub mod schema;
mod upgrade;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lockstep_field_encryption::{BlindIndex, Encrypted, Keyring, seal_indexed, with_tenant};
use lockstep_service_config::NoteConfig;
use lockstep_service_kit::database::{Database, OpenError};
use lockstep_service_kit::idempotency::{self, Answer, Once};
use lockstep_service_kit::migrate::prepare_schema;
use lockstep_service_kit::precondition::Condition as Precondition;
use lockstep_tidb::RetryPolicy;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use crate::domain::{DomainError, ListQuery, NewNote, Note, NoteChanges, NoteStore, Owner, Page};
use entity::{NoteTitle, note, plain};

/// The SeaORM store with the tenant keyring.
#[derive(Clone)]
pub struct SeaStore {
    db: Database,
    keyring: Arc<Keyring>,
    policy: Arc<RetryPolicy>,
}

impl std::fmt::Debug for SeaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaStore")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

fn storage(e: impl std::fmt::Display) -> DomainError {
    DomainError::Storage(e.to_string())
}

fn from_txn(e: lockstep_tidb::Error) -> DomainError {
    lockstep_service_kit::database::work_error::<DomainError>(e).unwrap_or_else(storage)
}

fn work(e: impl std::error::Error + Send + Sync + 'static) -> lockstep_tidb::Error {
    lockstep_tidb::Error::Work(Box::new(e))
}

/// `owner`'s note `id`, locked for the rest of the transaction, if `expect` names it as it is.
async fn locked(
    txn: &sea_orm::DatabaseTransaction,
    owner: &Owner,
    id: i64,
    expect: Option<&Precondition>,
) -> Result<note::Model, lockstep_tidb::Error> {
    let current = note::Entity::find_by_id(id)
        .filter(note::Column::Tenant.eq(owner.tenant.as_str()))
        .filter(note::Column::Owner.eq(owner.user.as_str()))
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| work(DomainError::NotFound(id)))?;
    to_note(current.clone()).satisfies(expect).map_err(work)?;
    Ok(current)
}

fn tags_json(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".into())
}

fn parse_tags(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn to_note(m: note::Model) -> Note {
    Note {
        id: m.id,
        title: m.title.into_inner(),
        body: m.body.into_inner(),
        tags: parse_tags(&m.tags),
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// Runs `fut` with `tenant`'s keys in scope.
async fn scoped<T>(
    keyring: &Keyring,
    tenant: &str,
    fut: impl std::future::Future<Output = Result<T, DomainError>>,
) -> Result<T, DomainError> {
    with_tenant(keyring, tenant, fut)
        .await
        .map_err(|e| match e {
            lockstep_field_encryption::Error::NoKeys { tenant } => {
                DomainError::UnknownTenant(tenant)
            }
            other => DomainError::Keys(other.to_string()),
        })?
}

impl SeaStore {
    /// Opens the database `config` names and creates the tables if missing.
    pub async fn open(config: &NoteConfig, keyring: Keyring) -> Result<SeaStore, OpenError> {
        let db = Database::open(config).await?;
        SeaStore::on(db, keyring, config.database.migrate_on_start).await
    }

    /// Opens a MySQL/TiDB `url`, or the SQLite file `sqlite_path` when `url` is `None`.
    pub async fn connect(
        url: Option<&str>,
        sqlite_path: &str,
        keyring: Keyring,
    ) -> Result<SeaStore, OpenError> {
        SeaStore::on(Database::connect(url, sqlite_path, 8).await?, keyring, true).await
    }

    /// Migrates the schema (or checks it is current when `migrate` is false) and wraps `db`.
    async fn on(db: Database, keyring: Keyring, migrate: bool) -> Result<SeaStore, OpenError> {
        prepare_schema(&db, schema::SERVICE, schema::MIGRATIONS, migrate).await?;
        // The driver's policy: the URL's attempt time-out and retry budget, counted in its
        // retry metrics.
        let policy = db
            .tidb()
            .as_ref()
            .map_or_else(RetryPolicy::default, |tidb| tidb.retry_policy());
        let store = SeaStore {
            db,
            keyring: Arc::new(keyring),
            policy: Arc::new(policy),
        };
        Ok(store)
    }

    /// The keyring (its seal counts are exported as metrics).
    pub fn keyring(&self) -> Arc<Keyring> {
        self.keyring.clone()
    }

    /// The connection (tests look at the stored bytes).
    pub fn connection(&self) -> sea_orm::DatabaseConnection {
        self.db.conn()
    }

    async fn find(&self, owner: &Owner, id: i64) -> Result<note::Model, DomainError> {
        note::Entity::find_by_id(id)
            .filter(note::Column::Tenant.eq(owner.tenant.as_str()))
            .filter(note::Column::Owner.eq(owner.user.as_str()))
            .one(&self.db.conn())
            .await
            .map_err(storage)?
            .ok_or(DomainError::NotFound(id))
    }

    /// Plaintext control: insert.
    pub async fn create_plain(&self, tenant: &str, n: NewNote) -> Result<Note, DomainError> {
        let now = stamp();
        let m = plain::ActiveModel {
            tenant: Set(tenant.to_owned()),
            title: Set(n.title),
            body: Set(n.body),
            tags: Set(tags_json(&n.tags)),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&self.db.conn())
        .await
        .map_err(storage)?;
        Ok(plain_note(m))
    }

    /// Plaintext control: read (same filters as [`NoteStore::get`], no decryption).
    pub async fn get_plain(&self, tenant: &str, id: i64) -> Result<Note, DomainError> {
        plain::Entity::find_by_id(id)
            .filter(plain::Column::Tenant.eq(tenant))
            .one(&self.db.conn())
            .await
            .map_err(storage)?
            .map(plain_note)
            .ok_or(DomainError::NotFound(id))
    }
}

fn plain_note(m: plain::Model) -> Note {
    Note {
        id: m.id,
        title: m.title,
        body: m.body,
        tags: parse_tags(&m.tags),
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// Now, to the microsecond: what MySQL's `DATETIME(6)` keeps, so a note reads back (and pages
/// by its cursor) the same on every backend.
fn stamp() -> DateTime<Utc> {
    chrono::SubsecRound::trunc_subsecs(Utc::now(), 6)
}

impl NoteStore for SeaStore {
    async fn create(
        &self,
        owner: &Owner,
        n: NewNote,
        once: Option<&Once<Note>>,
    ) -> Result<Answer<Note>, DomainError> {
        let insert = || {
            self.db.transaction_with_retry(&self.policy, |txn| {
                let (n, owner, once) = (n.clone(), owner.clone(), once.cloned());
                Box::pin(async move {
                    let (title, title_idx) =
                        seal_indexed::<String, NoteTitle>(n.title).map_err(work)?;
                    let now = stamp();
                    let m = note::ActiveModel {
                        tenant: Set(owner.tenant),
                        owner: Set(owner.user),
                        title: Set(title),
                        title_idx: Set(title_idx),
                        body: Set(Encrypted::new(n.body).map_err(work)?),
                        tags: Set(tags_json(&n.tags)),
                        created_at: Set(now),
                        updated_at: Set(now),
                        ..Default::default()
                    }
                    .insert(txn)
                    .await?;
                    let note = to_note(m);
                    idempotency::remember(txn, once.as_ref(), &note, &answers::Sealed).await?;
                    Ok(note)
                })
            })
        };
        scoped(&self.keyring, &owner.tenant, async {
            idempotency::run(&self.db.conn(), once, &answers::Sealed, insert, from_txn).await
        })
        .await
    }

    async fn get(&self, owner: &Owner, id: i64) -> Result<Note, DomainError> {
        scoped(&self.keyring, &owner.tenant, async {
            Ok(to_note(self.find(owner, id).await?))
        })
        .await
    }

    async fn list(&self, owner: &Owner, query: &ListQuery) -> Result<Page, DomainError> {
        scoped(&self.keyring, &owner.tenant, async {
            let mut select = note::Entity::find()
                .filter(note::Column::Tenant.eq(owner.tenant.as_str()))
                .filter(note::Column::Owner.eq(owner.user.as_str()));
            if let Some(title) = &query.title {
                let idx = BlindIndex::<NoteTitle>::of(title).map_err(storage)?;
                select = select.filter(note::Column::TitleIdx.eq(idx));
            }
            if let Some(from) = query.created_from {
                select = select.filter(note::Column::CreatedAt.gte(from));
            }
            if let Some(before) = query.created_before {
                select = select.filter(note::Column::CreatedAt.lt(before));
            }
            if let Some(after) = query.after {
                // Keyset: strictly older than the cursor's note in (created_at, id) order.
                select = select.filter(
                    Condition::any()
                        .add(note::Column::CreatedAt.lt(after.created_at))
                        .add(
                            Condition::all()
                                .add(note::Column::CreatedAt.eq(after.created_at))
                                .add(note::Column::Id.lt(after.id)),
                        ),
                );
            }
            let rows = select
                .order_by_desc(note::Column::CreatedAt)
                .order_by_desc(note::Column::Id)
                .limit(u64::from(query.limit) + 1)
                .all(&self.db.conn())
                .await
                .map_err(storage)?;
            let mut page = Page::from_rows(rows.into_iter().map(to_note).collect(), query.limit);
            // The index is 16 bytes of a keyed hash: confirm against the decrypted title (the
            // cursor still comes from the last row read, so paging goes on past a mismatch).
            if let Some(title) = &query.title {
                page.items.retain(|n| &n.title == title);
            }
            Ok(page)
        })
        .await
    }

    async fn update(
        &self,
        owner: &Owner,
        id: i64,
        changes: NoteChanges,
        expect: Option<&Precondition>,
    ) -> Result<Note, DomainError> {
        scoped(&self.keyring, &owner.tenant, async {
            let m = self
                .db
                .transaction_with_retry(&self.policy, |txn| {
                    let (changes, owner, expect) =
                        (changes.clone(), owner.clone(), expect.cloned());
                    Box::pin(async move {
                        let current = locked(txn, &owner, id, expect.as_ref()).await?;
                        let mut model: note::ActiveModel = current.into();
                        if let Some(title) = changes.title {
                            let (title, idx) =
                                seal_indexed::<String, NoteTitle>(title).map_err(work)?;
                            model.title = Set(title);
                            model.title_idx = Set(idx);
                        }
                        if let Some(body) = changes.body {
                            model.body = Set(Encrypted::new(body).map_err(work)?);
                        }
                        if let Some(tags) = changes.tags {
                            model.tags = Set(tags_json(&tags));
                        }
                        model.updated_at = Set(stamp());
                        Ok(model.update(txn).await?)
                    })
                })
                .await
                .map_err(from_txn)?;
            Ok(to_note(m))
        })
        .await
    }

    /// In the tenant's scope like every other route, though a delete needs no key: a tenant
    /// without keys is refused the same way everywhere (403 `tenant_not_provisioned`; DELETE
    /// answered 404 while GET and PATCH answered 403).
    async fn delete(
        &self,
        owner: &Owner,
        id: i64,
        expect: Option<&Precondition>,
    ) -> Result<(), DomainError> {
        scoped(&self.keyring, &owner.tenant, async {
            let deleted = self
                .db
                .transaction_with_retry(&self.policy, |txn| {
                    let (owner, expect) = (owner.clone(), expect.cloned());
                    Box::pin(async move {
                        if expect.is_some() {
                            locked(txn, &owner, id, expect.as_ref()).await?;
                        }
                        let result = note::Entity::delete_many()
                            .filter(note::Column::Id.eq(id))
                            .filter(note::Column::Tenant.eq(owner.tenant.as_str()))
                            .filter(note::Column::Owner.eq(owner.user.as_str()))
                            .exec(txn)
                            .await?;
                        Ok(result.rows_affected)
                    })
                })
                .await
                .map_err(from_txn)?;
            if deleted == 0 {
                return Err(DomainError::NotFound(id));
            }
            Ok(())
        })
        .await
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
