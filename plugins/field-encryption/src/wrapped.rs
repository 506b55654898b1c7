//! Envelope key mode: per-tenant data keys (DEKs) wrapped by one master key (KEK) and stored in
//! the database, table `fe_data_keys`.
//!
//! The KEK comes from outside the database (a Kubernetes Secret, a KMS); the database only ever
//! holds wrapped keys, so a database dump alone decrypts nothing. A tenant's first key is created
//! on first use; [`WrappedKeys::rotate`] adds the next key id, which new writes then use while
//! older ids still decrypt. The blind-index key is created once per tenant and kept across
//! rotations, so existing indexes stay valid.

use futures::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, Value};

use crate::envelope;
use crate::error::{Error, Result};
use crate::keys::{KeyMaterial, TenantKeys, validate_tenant};
use crate::provider::KeyProvider;

/// DDL of the wrapped-key table (MySQL, TiDB, MariaDB and SQLite). On MySQL-family servers the
/// tenant column must also be byte-exact: [`WrappedKeys::create_table`] does both.
pub const DATA_KEYS_DDL: &str = "CREATE TABLE IF NOT EXISTS fe_data_keys (
    tenant VARCHAR(64) NOT NULL,
    key_id INTEGER NOT NULL,
    wrapped BLOB NOT NULL,
    blind_wrapped BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT NULL,
    PRIMARY KEY (tenant, key_id)
)";

/// Data keys wrapped under a master key, stored in `fe_data_keys`.
#[derive(Debug, Clone)]
pub struct WrappedKeys {
    kek: KeyMaterial,
    db: DatabaseConnection,
}

impl WrappedKeys {
    /// Uses `kek` to wrap and unwrap the data keys stored through `db`. Call
    /// [`WrappedKeys::create_table`] once (at start-up or in a migration).
    pub fn new(kek: KeyMaterial, db: DatabaseConnection) -> Self {
        WrappedKeys { kek, db }
    }

    /// Creates `fe_data_keys` if it does not exist. On MySQL-family servers a tenant column that
    /// compares under a case-insensitive collation (a table created in such a database, by this
    /// or an earlier version) is moved to `utf8mb4_bin`: there tenant `ACME` shared tenant
    /// `acme`'s data keys. A binary collation already in place — TiDB's default — is left alone
    /// (TiDB cannot change a column's character set, so the charset is kept).
    pub async fn create_table(&self) -> Result<()> {
        self.db.execute_unprepared(DATA_KEYS_DDL).await?;
        // Tables of versions before key states have no `disabled_at`.
        if self
            .db
            .execute_unprepared("SELECT disabled_at FROM fe_data_keys WHERE 1 = 0")
            .await
            .is_err()
        {
            self.db
                .execute_unprepared("ALTER TABLE fe_data_keys ADD COLUMN disabled_at BIGINT NULL")
                .await?;
        }
        if self.db.get_database_backend() != sea_orm::DatabaseBackend::MySql {
            return Ok(());
        }
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                sea_orm::DatabaseBackend::MySql,
                "SELECT COLLATION_NAME FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fe_data_keys' AND COLUMN_NAME = 'tenant'",
            ))
            .await?;
        let collation: Option<String> = match row {
            Some(row) => row.try_get_by(0)?,
            None => None,
        };
        if !collation.as_deref().is_some_and(|c| c.ends_with("_bin")) {
            tracing::warn!(
                ?collation,
                "making fe_data_keys.tenant byte-exact (utf8mb4_bin)"
            );
            self.db
                .execute_unprepared(
                    "ALTER TABLE fe_data_keys MODIFY tenant VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL",
                )
                .await?;
        }
        Ok(())
    }

    fn kek_for(&self, tenant: &str) -> Result<TenantKeys> {
        TenantKeys::new(tenant, 0, &[(0, self.kek.clone())], None)
    }

    /// Wraps `key` for row `key_id` of `tenant`: the tenant (through the key derived from the
    /// master key), the column and the key id are all bound, so a wrapped key moved to another
    /// key id's row, another tenant's or the other column does not unwrap.
    fn wrap(&self, tenant: &str, what: &str, key_id: u32, key: &KeyMaterial) -> Result<Vec<u8>> {
        let id = key_id.to_string();
        let digest = crate::digest::column_digest(what);
        envelope::seal_digest(
            &self.kek_for(tenant)?,
            what,
            &digest,
            Some(&id),
            key.bytes(),
        )
    }

    /// Unwraps row `key_id`'s `what`. A key wrapped before the key id was bound (no row in its
    /// AAD) still unwraps, flagged `true`, so [`WrappedKeys::load`] can wrap it again bound.
    fn unwrap(
        &self,
        tenant: &str,
        what: &str,
        key_id: u32,
        wrapped: &[u8],
    ) -> Result<(KeyMaterial, bool)> {
        let kek = self.kek_for(tenant)?;
        let digest = crate::digest::column_digest(what);
        let id = key_id.to_string();
        let (opened, legacy) = match envelope::open_digest(&kek, what, &digest, Some(&id), wrapped)
        {
            Ok(bytes) => (Ok(bytes), false),
            Err(Error::Authentication { .. }) => (envelope::open(&kek, what, wrapped), true),
            Err(e) => (Err(e), false),
        };
        let bytes = zeroize::Zeroizing::new(opened.map_err(|e| Error::KeyProvider {
            tenant: tenant.into(),
            reason: format!(
                "cannot unwrap {what} of key id {key_id} (wrong master key, or moved from another row?): {e}"
            ),
        })?);
        let key = KeyMaterial::from_slice(&bytes);
        drop(bytes);
        crate::keys::scrub_stack();
        key.map(|k| (k, legacy))
            .map_err(|reason| Error::KeyProvider {
                tenant: tenant.into(),
                reason,
            })
    }

    /// The rows of `tenant` (selected byte for byte) that `condition` keeps, in key-id order.
    async fn select(
        &self,
        columns: &str,
        tenant: &str,
        condition: &str,
    ) -> Result<Vec<sea_orm::QueryResult>> {
        let backend = self.db.get_database_backend();
        Ok(self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "SELECT {columns} FROM fe_data_keys WHERE {} = ?{condition} ORDER BY key_id",
                    crate::jobs::exact(backend, "tenant")
                ),
                [tenant.into()],
            ))
            .await?)
    }

    async fn rows(&self, tenant: &str) -> Result<Vec<(u32, Vec<u8>, Vec<u8>)>> {
        self.select("key_id, wrapped, blind_wrapped", tenant, "")
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get_by::<i64, _>(0)? as u32,
                    r.try_get_by(1)?,
                    r.try_get_by(2)?,
                ))
            })
            .collect::<std::result::Result<_, sea_orm::DbErr>>()
            .map_err(Error::from)
    }

    async fn insert(&self, tenant: &str, key_id: u32, blind: &KeyMaterial) -> Result<()> {
        let dek = KeyMaterial::generate();
        let values: [Value; 5] = [
            tenant.into(),
            i64::from(key_id).into(),
            self.wrap(tenant, "fe_data_keys.wrapped", key_id, &dek)?
                .into(),
            self.wrap(tenant, "fe_data_keys.blind_wrapped", key_id, blind)?
                .into(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
                .into(),
        ];
        let backend = self.db.get_database_backend();
        self.db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                "INSERT INTO fe_data_keys (tenant, key_id, wrapped, blind_wrapped, created_at) VALUES (?, ?, ?, ?, ?)",
                values,
            ))
            .await?;
        Ok(())
    }

    /// Adds the next key id for `tenant` and returns it. Callers then
    /// [`crate::Keyring::invalidate`] the tenant (other processes pick it up after the TTL).
    pub async fn rotate(&self, tenant: &str) -> Result<u32> {
        validate_tenant(tenant)?;
        let rows = self.rows(tenant).await?;
        let blind = match rows.first() {
            Some((id, _, blind)) => {
                self.unwrap(tenant, "fe_data_keys.blind_wrapped", *id, blind)?
                    .0
            }
            None => KeyMaterial::generate(),
        };
        let next = rows.last().map_or(1, |(id, _, _)| id + 1);
        self.insert(tenant, next, &blind).await?;
        Ok(next)
    }

    /// Deletes data key `key_id` of `tenant` once `usage` — a [`crate::retire::keys_in_use`]
    /// report over every table, taken after the last rewrap — shows no value sealed under it;
    /// the current key is never deleted. Other processes stop using it after their key-cache TTL.
    pub async fn retire(
        &self,
        tenant: &str,
        key_id: u32,
        usage: &crate::retire::KeyUsage,
    ) -> Result<()> {
        validate_tenant(tenant)?;
        let current = self.rows(tenant).await?.last().map_or(0, |(id, _, _)| *id);
        crate::retire::ensure_retirable(usage, tenant, key_id, current)?;
        let backend = self.db.get_database_backend();
        self.db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "DELETE FROM fe_data_keys WHERE {} = ? AND key_id = ?",
                    crate::jobs::exact(backend, "tenant")
                ),
                [tenant.into(), i64::from(key_id).into()],
            ))
            .await?;
        Ok(())
    }

    async fn load(&self, tenant: &str) -> Result<TenantKeys> {
        validate_tenant(tenant)?;
        let mut rows = self.rows(tenant).await?;
        if rows.is_empty() {
            // First use. Two processes racing here both try key id 1; the loser's insert hits
            // the primary key and it reads the winner's key.
            if let Err(e) = self.insert(tenant, 1, &KeyMaterial::generate()).await {
                tracing::debug!(tenant, error = %e, "first data key already created elsewhere");
            }
            rows = self.rows(tenant).await?;
        }
        // Before any key is unwrapped: no key is held across an `.await`.
        let disabled = self.disabled_ids(tenant).await?;
        if rows.last().is_some_and(|(id, ..)| disabled.contains(id)) {
            return Err(Error::KeyProvider {
                tenant: tenant.into(),
                reason: "the current data key is disabled: rotate first".into(),
            });
        }
        let (current, blind) = match (rows.last(), rows.first()) {
            (Some((id, _, _)), Some((first, _, blind))) => (
                *id,
                self.unwrap(tenant, "fe_data_keys.blind_wrapped", *first, blind)?
                    .0,
            ),
            _ => {
                return Err(Error::KeyProvider {
                    tenant: tenant.into(),
                    reason: "no data key could be created".into(),
                });
            }
        };
        let keys = rows
            .iter()
            .filter(|(id, ..)| !disabled.contains(id))
            .map(|(id, wrapped, _)| {
                Ok((
                    *id,
                    self.unwrap(tenant, "fe_data_keys.wrapped", *id, wrapped)?.0,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        TenantKeys::new(tenant, current, &keys, Some(blind)).map(|k| k.with_disabled(disabled))
    }

    /// Key ids of `tenant` that were disabled ([`WrappedKeys::disable_key`]).
    async fn disabled_ids(&self, tenant: &str) -> Result<Vec<u32>> {
        self.select("key_id", tenant, " AND disabled_at IS NOT NULL")
            .await?
            .iter()
            .map(|r| Ok(r.try_get_by::<i64, _>(0)? as u32))
            .collect::<std::result::Result<_, sea_orm::DbErr>>()
            .map_err(Error::from)
    }

    /// Disables data key `key_id` of `tenant` for every process (`disabled_at` set): loading
    /// then skips it, and values under it fail with [`Error::KeyDisabled`] (see
    /// [`crate::revoke`]). The current key is refused (rotate first); an unknown id too.
    pub async fn disable_key(&self, tenant: &str, key_id: u32) -> Result<()> {
        validate_tenant(tenant)?;
        let current = self.rows(tenant).await?.last().map_or(0, |(id, ..)| *id);
        if key_id == current {
            return Err(Error::KeyIsCurrent {
                tenant: tenant.into(),
                key_id,
            });
        }
        let backend = self.db.get_database_backend();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let done = self
            .db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "UPDATE fe_data_keys SET disabled_at = COALESCE(disabled_at, ?) WHERE {} = ? AND key_id = ?",
                    crate::jobs::exact(backend, "tenant")
                ),
                [now.into(), tenant.into(), i64::from(key_id).into()],
            ))
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::KeyProvider {
                tenant: tenant.into(),
                reason: format!("no data key {key_id} to disable"),
            });
        }
        Ok(())
    }
}

impl KeyProvider for WrappedKeys {
    fn keys<'a>(&'a self, tenant: &'a str) -> BoxFuture<'a, Result<TenantKeys>> {
        Box::pin(self.load(tenant))
    }

    fn disable<'a>(&'a self, tenant: &'a str, key_id: u32) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.disable_key(tenant, key_id))
    }
}

mod bind;
