//! Moving data keys wrapped before key ids were bound into their AAD over to bound wraps.

use sea_orm::{ConnectionTrait, Statement};

use super::WrappedKeys;
use crate::envelope;
use crate::error::{Error, Result};
use crate::keys::{TenantKeys, validate_tenant};

impl WrappedKeys {
    /// Wraps every data key of `tenant` that was wrapped before key ids were bound again, bound
    /// to its key id; returns how many rows it rewrote. Until then such rows still unwrap (that
    /// is how they were written), and a wrapped key moved between two of them would too: run it
    /// once per tenant after upgrading, until it returns 0.
    pub async fn bind_key_ids(&self, tenant: &str) -> Result<u32> {
        validate_tenant(tenant)?;
        let rows = self.rows(tenant).await?;
        // All key work first, with no `.await` in between: the data keys are only ever in this
        // stack frame's callees (then scrubbed), never in the future's own state.
        let updates = self.rebound(tenant, &rows)?;
        let mut written = 0;
        for (key_id, new, old) in updates {
            written += u32::from(self.store_rebound(tenant, key_id, new, old).await?);
        }
        Ok(written)
    }

    /// For every row wrapped before key ids were bound: its two values wrapped again, bound.
    #[allow(clippy::type_complexity)]
    fn rebound(
        &self,
        tenant: &str,
        rows: &[(u32, Vec<u8>, Vec<u8>)],
    ) -> Result<Vec<(u32, [Vec<u8>; 2], [Vec<u8>; 2])>> {
        let kek = self.kek_for(tenant)?;
        let mut updates = Vec::new();
        for (id, wrapped, blind) in rows {
            let w = rebind(&kek, "fe_data_keys.wrapped", *id, wrapped)?;
            let b = rebind(&kek, "fe_data_keys.blind_wrapped", *id, blind)?;
            if w.is_some() || b.is_some() {
                let new = [
                    w.unwrap_or_else(|| wrapped.clone()),
                    b.unwrap_or_else(|| blind.clone()),
                ];
                updates.push((*id, new, [wrapped.clone(), blind.clone()]));
            }
        }
        drop(kek);
        crate::keys::scrub_stack();
        Ok(updates)
    }

    /// Writes row `key_id`'s values bound, with a compare-and-set on both old values (a
    /// concurrent run on another replica wins). Whether it wrote.
    async fn store_rebound(
        &self,
        tenant: &str,
        key_id: u32,
        new: [Vec<u8>; 2],
        old: [Vec<u8>; 2],
    ) -> Result<bool> {
        let backend = self.db.get_database_backend();
        let [new_wrapped, new_blind] = new;
        let [old_wrapped, old_blind] = old;
        let done = self
            .db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "UPDATE fe_data_keys SET wrapped = ?, blind_wrapped = ? WHERE {} = ? AND key_id = ? AND {} = ? AND {} = ?",
                    crate::jobs::exact(backend, "tenant"),
                    crate::jobs::exact(backend, "wrapped"),
                    crate::jobs::exact(backend, "blind_wrapped"),
                ),
                [
                    new_wrapped.into(),
                    new_blind.into(),
                    tenant.into(),
                    i64::from(key_id).into(),
                    old_wrapped.into(),
                    old_blind.into(),
                ],
            ))
            .await?;
        let bound = done.rows_affected() == 1;
        tracing::info!(
            tenant,
            key_id,
            bound,
            "data key wrapped again, bound to its key id"
        );
        Ok(bound)
    }
}

/// `wrapped` sealed again bound to `key_id`, if it was wrapped unbound (before key ids were
/// bound); `None` when it is bound already. The plaintext key lives in a `Zeroizing` buffer.
fn rebind(kek: &TenantKeys, what: &str, key_id: u32, wrapped: &[u8]) -> Result<Option<Vec<u8>>> {
    let digest = crate::digest::column_digest(what);
    let id = key_id.to_string();
    match envelope::open_digest(kek, what, &digest, Some(&id), wrapped) {
        Ok(bytes) => {
            drop(zeroize::Zeroizing::new(bytes));
            Ok(None)
        }
        Err(Error::Authentication { .. }) => {
            let plain = zeroize::Zeroizing::new(envelope::open(kek, what, wrapped)?);
            Ok(Some(envelope::seal_digest(
                kek,
                what,
                &digest,
                Some(&id),
                &plain,
            )?))
        }
        Err(e) => Err(e),
    }
}
