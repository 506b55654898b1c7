//! Blind indexes: equality search over encrypted columns.
//!
//! ```text
//!  V1 (default):  HMAC-SHA256(blind key, "lsbi" ‖ len ‖ "table.column" ‖ plaintext)[..16]
//!  V2:            HMAC-SHA256(blind key, "lsbi2" ‖ len ‖ tenant ‖ len ‖ "table.column" ‖
//!                             normaliser flags ‖ normalised plaintext)[..16]
//! ```
//!
//! Same plaintext, same tenant, same column → same index, so `WHERE title_idx = ?` finds exact
//! matches without decrypting. Version 2 binds the tenant id too (two tenants that share a blind
//! key — a misconfiguration, a copied Secret — still get unrelated indexes) and can normalise
//! text first: `trim`, `lowercase`, Unicode `nfc`, so `" Alice@Example.COM"` finds
//! `"alice@example.com"`. A column opts in with its [`IndexSpec`] (`encrypted_column!`'s fourth
//! argument); its existing rows then need [`crate::reindex::reindex`], and until that has run
//! [`BlindIndex::search_terms`] gives both the new and the old index to search with.
//!
//! Leakage, stated plainly: anyone who can read the index column learns which rows of one tenant
//! share a value in that column (equality patterns and frequencies), nothing about the values
//! themselves without the key. Tenants and columns use separate index spaces, so nothing links
//! across them. 128 bits makes accidental collisions negligible. Use it for fields searched by
//! exact value only; low-cardinality fields (a boolean, a status) leak their distribution.

use std::fmt;
use std::marker::PhantomData;

use hmac::{Hmac, Mac};
use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, QueryResult, TryGetError, TryGetable, Value};
use sha2::Sha256;

use crate::context::require;
use crate::error::{Error, Result};
use crate::keys::TenantKeys;
use crate::value::{ColumnBinding, Encrypted, Plaintext};

/// Bytes kept of the HMAC.
pub const INDEX_LEN: usize = 16;

pub use crate::index_spec::IndexSpec;

/// The blind index of a value of column `C` for one tenant.
pub struct BlindIndex<C> {
    tag: [u8; INDEX_LEN],
    column: PhantomData<C>,
}

impl<C: ColumnBinding> BlindIndex<C> {
    /// The index of `value` for the tenant in scope.
    pub fn of<T: Plaintext>(value: &T) -> Result<Self> {
        Self::with(require(C::NAME)?.keys(), value)
    }

    /// The index of `value` with explicit keys.
    pub fn with<T: Plaintext>(keys: &TenantKeys, value: &T) -> Result<Self> {
        Self::with_spec(keys, value, C::INDEX)
    }

    /// The indexes to search for `value` while a column moves to a new [`IndexSpec`]: the
    /// column's own and, if it differs, the version 1 index rows written before still carry.
    /// `WHERE idx IN (…)` finds both until [`crate::reindex::reindex`] has run.
    pub fn search_terms<T: Plaintext>(value: &T) -> Result<Vec<Self>> {
        let scope = require(C::NAME)?;
        let keys = scope.keys();
        let mut terms = vec![Self::with_spec(keys, value, C::INDEX)?];
        if C::INDEX != IndexSpec::V1 {
            terms.push(Self::with_spec(keys, value, IndexSpec::V1)?);
        }
        Ok(terms)
    }

    /// The index of `value` under `spec` (the column's own is [`ColumnBinding::INDEX`]).
    pub fn with_spec<T: Plaintext>(keys: &TenantKeys, value: &T, spec: IndexSpec) -> Result<Self> {
        let key = keys.blind_key().ok_or_else(|| Error::KeyProvider {
            tenant: keys.tenant().into(),
            reason: "no blind-index key configured".into(),
        })?;
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(key.bytes()).map_err(|_| Error::KeyProvider {
                tenant: keys.tenant().into(),
                reason: "blind-index key rejected".into(),
            })?;
        let encode = |reason: String| Error::Encode {
            place: crate::error::Place {
                tenant: keys.tenant().into(),
                column: C::NAME.into(),
            },
            reason,
        };
        // A spec built field by field with normalisers but no tenant binding is version 2 too:
        // version 1 never normalises, and ignoring the normalisers would be a silent fallback.
        if spec.tenant_bound || spec.flags() != 0 {
            mac.update(b"lsbi2");
            mac.update(&(keys.tenant().len() as u16).to_be_bytes());
            mac.update(keys.tenant().as_bytes());
            mac.update(&(C::NAME.len() as u16).to_be_bytes());
            mac.update(C::NAME.as_bytes());
            mac.update(&[spec.flags()]);
            let bytes = zeroize::Zeroizing::new(value.to_bytes().map_err(encode)?);
            mac.update(&zeroize::Zeroizing::new(
                spec.normalise(bytes.to_vec()).map_err(encode)?,
            ));
        } else {
            mac.update(b"lsbi");
            mac.update(&(C::NAME.len() as u16).to_be_bytes());
            mac.update(C::NAME.as_bytes());
            mac.update(&zeroize::Zeroizing::new(value.to_bytes().map_err(encode)?));
        }
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; INDEX_LEN];
        tag.copy_from_slice(&full[..INDEX_LEN]);
        Ok(BlindIndex {
            tag,
            column: PhantomData,
        })
    }

    /// The index bytes.
    pub fn as_bytes(&self) -> &[u8; INDEX_LEN] {
        &self.tag
    }
}

/// Seals `value` and computes its blind index in one step, so the two columns are always
/// written together.
pub fn seal_indexed<T: Plaintext, C: ColumnBinding>(
    value: T,
) -> Result<(Encrypted<T, C>, BlindIndex<C>)> {
    let index = BlindIndex::of(&value)?;
    Ok((Encrypted::new(value)?, index))
}

impl<C> Clone for BlindIndex<C> {
    fn clone(&self) -> Self {
        BlindIndex {
            tag: self.tag,
            column: PhantomData,
        }
    }
}

impl<C> PartialEq for BlindIndex<C> {
    fn eq(&self, other: &Self) -> bool {
        self.tag == other.tag
    }
}

impl<C: ColumnBinding> fmt::Debug for BlindIndex<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlindIndex<{}>(", C::NAME)?;
        self.tag
            .iter()
            .take(4)
            .try_for_each(|b| write!(f, "{b:02x}"))?;
        f.write_str("…)")
    }
}

impl<C: ColumnBinding> From<BlindIndex<C>> for Value {
    fn from(index: BlindIndex<C>) -> Value {
        Value::Bytes(Some(index.tag.to_vec()))
    }
}

fn from_bytes<C>(bytes: &[u8]) -> Option<BlindIndex<C>> {
    let tag: [u8; INDEX_LEN] = bytes.try_into().ok()?;
    Some(BlindIndex {
        tag,
        column: PhantomData,
    })
}

impl<C: ColumnBinding> TryGetable for BlindIndex<C> {
    fn try_get_by<I: ColIdx>(
        res: &QueryResult,
        index: I,
    ) -> std::result::Result<Self, TryGetError> {
        let bytes = <Vec<u8> as TryGetable>::try_get_by(res, index)?;
        from_bytes(&bytes).ok_or_else(|| {
            TryGetError::DbErr(
                Error::MalformedEnvelope {
                    column: C::NAME.into(),
                    reason: format!("blind index of {} bytes", bytes.len()),
                }
                .into_db_err(),
            )
        })
    }
}

impl<C: ColumnBinding> ValueType for BlindIndex<C> {
    fn try_from(v: Value) -> std::result::Result<Self, ValueTypeErr> {
        match v {
            Value::Bytes(Some(b)) => from_bytes(&b).ok_or(ValueTypeErr),
            _ => Err(ValueTypeErr),
        }
    }
    fn type_name() -> String {
        format!("BlindIndex<{}>", C::NAME)
    }
    fn array_type() -> ArrayType {
        ArrayType::Bytes
    }
    fn column_type() -> ColumnType {
        ColumnType::Binary(INDEX_LEN as u32)
    }
}

impl<C: ColumnBinding> Nullable for BlindIndex<C> {
    fn null() -> Value {
        Value::Bytes(None)
    }
}

impl<C: ColumnBinding> sea_orm::IntoActiveValue<BlindIndex<C>> for BlindIndex<C> {
    fn into_active_value(self) -> sea_orm::ActiveValue<BlindIndex<C>> {
        sea_orm::ActiveValue::Set(self)
    }
}
