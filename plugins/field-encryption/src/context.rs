//! The tenant in scope: a tokio task-local set by request middleware.
//!
//! `tokio::spawn` does not inherit task-locals, so work moved to another task must carry the
//! scope explicitly with [`spawn_in_tenant`] or [`TenantScope::enter`]; otherwise every seal or
//! open in it fails with [`Error::MissingTenant`] — it never falls back to plaintext.

use std::future::Future;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::keys::TenantKeys;
use crate::provider::Keyring;

/// A tenant's resolved keys plus the read options in force.
#[derive(Debug, Clone)]
pub struct TenantScope {
    keys: Arc<TenantKeys>,
    allow_plaintext_reads: bool,
    allow_unbound_rows: bool,
}

tokio::task_local! {
    static SCOPE: TenantScope;
}

impl TenantScope {
    /// A scope over explicit keys (plaintext reads not allowed).
    pub fn new(keys: Arc<TenantKeys>) -> Self {
        TenantScope {
            keys,
            allow_plaintext_reads: false,
            allow_unbound_rows: false,
        }
    }

    /// The keys.
    pub fn keys(&self) -> &TenantKeys {
        &self.keys
    }

    /// The tenant id.
    pub fn tenant(&self) -> &str {
        self.keys.tenant()
    }

    pub(crate) fn plaintext_reads_allowed(&self) -> bool {
        self.allow_plaintext_reads
    }

    pub(crate) fn unbound_rows_allowed(&self) -> bool {
        self.allow_unbound_rows
    }

    /// Runs `fut` with this scope as the current tenant.
    pub async fn enter<F: Future>(self, fut: F) -> F::Output {
        SCOPE.scope(self, fut).await
    }

    /// Runs a synchronous closure with this scope as the current tenant.
    pub fn enter_sync<R>(self, f: impl FnOnce() -> R) -> R {
        SCOPE.sync_scope(self, f)
    }
}

/// Resolves `tenant`'s keys through `keyring`, then runs `fut` with that tenant in scope.
pub async fn with_tenant<F: Future>(keyring: &Keyring, tenant: &str, fut: F) -> Result<F::Output> {
    let keys = keyring.resolve(tenant).await?;
    let scope = TenantScope {
        keys,
        allow_plaintext_reads: keyring.plaintext_reads_allowed(),
        allow_unbound_rows: keyring.unbound_rows_allowed(),
    };
    Ok(scope.enter(fut).await)
}

/// The scope in force, if any.
pub fn current() -> Option<TenantScope> {
    SCOPE.try_with(Clone::clone).ok()
}

/// The scope in force, or [`Error::MissingTenant`] naming `column`.
pub(crate) fn require(column: &str) -> Result<TenantScope> {
    current().ok_or_else(|| Error::MissingTenant {
        column: column.to_owned(),
    })
}

/// For `ActiveModelBehavior::before_save` of an entity with encrypted columns: refuses the write
/// before anything is sent when no tenant is in scope.
///
/// Values sealed inside a scope can be written outside it; SeaORM then commits the row and fails
/// on reading it back (the read needs the tenant's keys), so the caller sees an error for a
/// committed write and a retry duplicates the row. With this guard the write fails first and
/// nothing is committed:
///
/// ```text
/// impl ActiveModelBehavior for ActiveModel {
///     async fn before_save<C: ConnectionTrait>(self, _db: &C, _insert: bool) -> Result<Self, DbErr> {
///         lockstep_field_encryption::require_tenant_for_write("notes")?;
///         Ok(self)
///     }
/// }
/// ```
pub fn require_tenant_for_write(table: &str) -> std::result::Result<(), sea_orm::DbErr> {
    require(table).map(|_| ()).map_err(Error::into_db_err)
}

/// `tokio::spawn` that carries the current tenant into the new task. Fails with
/// [`Error::MissingTenant`] when called outside a tenant scope, so that work meant for a tenant
/// cannot silently run without one.
pub fn spawn_in_tenant<F>(fut: F) -> Result<tokio::task::JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let scope = current().ok_or_else(|| Error::MissingTenant {
        column: "(spawned task)".into(),
    })?;
    Ok(tokio::spawn(scope.enter(fut)))
}
