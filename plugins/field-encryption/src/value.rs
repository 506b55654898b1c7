//! `Encrypted<T, C>`: a SeaORM column value that is sealed when it is built and opened when it is
//! read, so every SeaORM path that converts values — `ActiveModel` insert/update/save,
//! `insert_many`, `update_many` with values, `find*`/`into_model`, raw `Statement` +
//! `FromQueryResult` — only ever moves ciphertext to the database.
//!
//! SeaORM has no after-load hook and its bulk paths skip `ActiveModelBehavior`, which is why the
//! work sits in the value type (`Into<Value>` and `TryGetable`) rather than in model hooks.
//! `Select::into_json()` decodes columns by their database type, not by the model, so it returns
//! the stored envelope (as SeaORM renders bytes), never plaintext; serialise the model instead.

use std::fmt;
use std::marker::PhantomData;

use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, QueryResult, TryGetError, TryGetable, Value};

use crate::context::{current, require};
use crate::envelope::{self, Header};
use crate::error::{Error, Result};
use crate::keys::TenantKeys;

mod binding;

pub use binding::{Column, ColumnBinding, Storage};

/// A value type that can be encrypted: turned into bytes and back.
pub trait Plaintext: Sized + Clone + PartialEq + Send + Sync + 'static {
    /// The bytes to seal; `Err` when the value cannot be encoded (nothing is written then).
    fn to_bytes(&self) -> std::result::Result<Vec<u8>, String>;
    /// Rebuilds the value from opened bytes.
    fn from_bytes(bytes: Vec<u8>) -> std::result::Result<Self, String>;
}

impl Plaintext for String {
    fn to_bytes(&self) -> std::result::Result<Vec<u8>, String> {
        Ok(self.as_bytes().to_vec())
    }
    fn from_bytes(bytes: Vec<u8>) -> std::result::Result<Self, String> {
        String::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())
    }
}

impl Plaintext for Vec<u8> {
    fn to_bytes(&self) -> std::result::Result<Vec<u8>, String> {
        Ok(self.clone())
    }
    fn from_bytes(bytes: Vec<u8>) -> std::result::Result<Self, String> {
        Ok(bytes)
    }
}

/// Any serde type, stored as JSON inside the envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Json<T>(pub T);

impl<T> Plaintext for Json<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + Clone + PartialEq + Send + Sync + 'static,
{
    fn to_bytes(&self) -> std::result::Result<Vec<u8>, String> {
        serde_json::to_vec(&self.0).map_err(|e| e.to_string())
    }
    fn from_bytes(bytes: Vec<u8>) -> std::result::Result<Self, String> {
        serde_json::from_slice(&bytes)
            .map(Json)
            .map_err(|e| e.to_string())
    }
}

fn place_of<C: ColumnBinding>(keys: &TenantKeys) -> crate::error::Place {
    crate::error::Place {
        tenant: keys.tenant().into(),
        column: C::NAME.into(),
    }
}

/// A field encrypted under the tenant's key for column `C`. Holds the plaintext for the program
/// and the envelope for the database; `Debug` shows neither.
pub struct Encrypted<T, C> {
    plain: T,
    envelope: Vec<u8>,
    /// The tenant whose keys sealed or opened it, and the row it is bound to: what a write is
    /// checked against before it is sent ([`crate::write::WriteCheck`]).
    tenant: std::sync::Arc<str>,
    row: Option<Box<str>>,
    column: PhantomData<C>,
}

impl<T: Plaintext, C: ColumnBinding> Encrypted<T, C> {
    /// Seals `value` with the tenant in scope; [`Error::MissingTenant`] outside a scope,
    /// [`Error::RowKeyRequired`] for a row-bound column.
    pub fn new(value: T) -> Result<Self> {
        let scope = require(C::NAME)?;
        Self::seal_with(scope.keys(), value)
    }

    /// Seals `value` of a row-bound column for the row whose key is `row`.
    pub fn new_for_row(value: T, row: impl fmt::Display) -> Result<Self> {
        let scope = require(C::NAME)?;
        Self::seal_in(scope.keys(), value, Some(&row.to_string()))
    }

    /// Seals `value` with explicit keys.
    pub fn seal_with(keys: &TenantKeys, value: T) -> Result<Self> {
        Self::seal_in(keys, value, None)
    }

    fn seal_in(keys: &TenantKeys, value: T, row: Option<&str>) -> Result<Self> {
        if C::ROW_KEY.is_some() != row.is_some() {
            return Err(match row {
                None => Error::RowKeyRequired {
                    column: C::NAME.into(),
                },
                Some(_) => Error::Encode {
                    place: place_of::<C>(keys),
                    reason: "the column is not row-bound".into(),
                },
            });
        }
        let bytes = value.to_bytes().map_err(|reason| Error::Encode {
            place: place_of::<C>(keys),
            reason,
        })?;
        let envelope = envelope::seal_digest(keys, C::NAME, &C::DIGEST, row, &bytes)?;
        Ok(Encrypted {
            plain: value,
            envelope,
            tenant: keys.tenant_arc(),
            row: row.map(Into::into),
            column: PhantomData,
        })
    }

    /// Opens a stored envelope with explicit keys.
    pub fn open_with(keys: &TenantKeys, envelope: Vec<u8>) -> Result<Self> {
        Self::open_in(keys, false, None, envelope)
    }

    fn open_in(
        keys: &TenantKeys,
        allow_plaintext: bool,
        row: Option<&str>,
        envelope: Vec<u8>,
    ) -> Result<Self> {
        // A row-bound column never opens without its row: an unbound value copied in must fail.
        if C::ROW_KEY.is_some() && row.is_none() {
            return Err(Error::RowKeyRequired {
                column: C::NAME.into(),
            });
        }
        let place = || crate::error::Place {
            tenant: keys.tenant().into(),
            column: C::NAME.into(),
        };
        if allow_plaintext && !envelope::may_be_envelope(&envelope) {
            // Migration mode: a value that cannot be an envelope was written before encryption;
            // anything that may be one (damaged or truncated included) must open or fail.
            let plain = T::from_bytes(envelope).map_err(|reason| Error::Decode {
                place: place(),
                reason,
            })?;
            return Self::seal_in(keys, plain, row);
        }
        let bytes = match envelope::open_digest(keys, C::NAME, &C::DIGEST, row, &envelope) {
            // Migration to row binding: values sealed before it carry no row.
            Err(Error::Authentication { .. })
                if row.is_some() && current().is_some_and(|s| s.unbound_rows_allowed()) =>
            {
                envelope::open_digest(keys, C::NAME, &C::DIGEST, None, &envelope)?
            }
            other => other?,
        };
        let plain = T::from_bytes(bytes).map_err(|reason| Error::Decode {
            place: place(),
            reason,
        })?;
        Ok(Encrypted {
            plain,
            envelope,
            tenant: keys.tenant_arc(),
            row: row.map(Into::into),
            column: PhantomData,
        })
    }

    /// Opens with the tenant in scope.
    pub fn open(envelope: Vec<u8>) -> Result<Self> {
        Self::open_for_row(envelope, None)
    }

    /// Opens a row-bound column's value read from the row whose key is `row` (an integer or text
    /// key column; `None` for columns that are not row-bound).
    pub fn open_for_row(envelope: Vec<u8>, row: Option<&str>) -> Result<Self> {
        let scope = require(C::NAME)?;
        Self::open_in(scope.keys(), scope.plaintext_reads_allowed(), row, envelope)
    }

    /// The plaintext.
    pub fn get(&self) -> &T {
        &self.plain
    }

    /// Takes the plaintext.
    pub fn into_inner(self) -> T {
        self.plain
    }

    /// The envelope as stored.
    pub fn envelope(&self) -> &[u8] {
        &self.envelope
    }

    /// The tenant whose keys sealed (or opened) this value.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The row a row-bound value is sealed for.
    pub fn row(&self) -> Option<&str> {
        self.row.as_deref()
    }

    /// How many bytes the column stores for this value: the envelope, or its Base64.
    pub fn stored_len(&self) -> usize {
        match C::STORAGE {
            Storage::Binary => self.envelope.len(),
            Storage::Base64 => self.envelope.len().div_ceil(3) * 4,
        }
    }

    /// The key id that sealed this value.
    pub fn key_id(&self) -> u32 {
        Header::parse(&self.envelope).map(|h| h.key_id).unwrap_or(0)
    }

    fn to_value(&self) -> Value {
        match C::STORAGE {
            Storage::Binary => Value::Bytes(Some(self.envelope.clone())),
            Storage::Base64 => Value::String(Some(envelope::to_base64(&self.envelope))),
        }
    }

    fn from_stored(stored: Stored, row: Option<&str>) -> Result<Self> {
        let bytes = match stored {
            Stored::Bytes(b) => b,
            // Migration mode in a Base64 column: text that cannot be an envelope's Base64 is
            // the value written before encryption, as `jobs::encrypt_plaintext_rows` reads it.
            Stored::Text(t)
                if current().is_some_and(|s| s.plaintext_reads_allowed())
                    && !envelope::may_be_envelope_text(&t) =>
            {
                t.into_bytes()
            }
            Stored::Text(t) => envelope::from_base64(&t, C::NAME)?,
        };
        Self::open_for_row(bytes, row)
    }
}

/// The row key of a row-bound column `C` from the same result row, as text.
fn row_key<C: ColumnBinding>(res: &QueryResult) -> Result<Option<String>> {
    let Some(name) = C::ROW_KEY else {
        return Ok(None);
    };
    if let Ok(id) = res.try_get::<i64>("", name) {
        return Ok(Some(id.to_string()));
    }
    res.try_get::<String>("", name)
        .map(Some)
        .map_err(|_| Error::RowKeyMissing {
            column: C::NAME.into(),
            row_key: name.into(),
        })
}

/// A row whose tenant column ([`ColumnBinding::TENANT_COLUMN`]) is not the scope's tenant, byte
/// for byte, does not open: a row labelled `globex` but sealed under acme's key would otherwise
/// read as acme's data in acme's scope (and a case-insensitive collation can hand `ACME`'s rows
/// to a query for `acme`).
fn check_row_tenant<C: ColumnBinding>(res: &QueryResult) -> Result<()> {
    let Some(name) = C::TENANT_COLUMN else {
        return Ok(());
    };
    let scope = require(C::NAME)?;
    let row_tenant: String = res.try_get("", name).map_err(|_| Error::RowKeyMissing {
        column: C::NAME.into(),
        row_key: name.into(),
    })?;
    if row_tenant.as_bytes() == scope.tenant().as_bytes() {
        Ok(())
    } else {
        Err(Error::TenantMismatch {
            column: C::NAME.into(),
            tenant: scope.tenant().into(),
            row_tenant: row_tenant.chars().take(80).collect(),
        })
    }
}

enum Stored {
    Bytes(Vec<u8>),
    Text(String),
}

impl<T: Clone, C> Clone for Encrypted<T, C> {
    fn clone(&self) -> Self {
        Encrypted {
            plain: self.plain.clone(),
            envelope: self.envelope.clone(),
            tenant: self.tenant.clone(),
            row: self.row.clone(),
            column: PhantomData,
        }
    }
}

/// Equal when the plaintexts are equal (two seals of one value differ in nonce).
impl<T: PartialEq, C> PartialEq for Encrypted<T, C> {
    fn eq(&self, other: &Self) -> bool {
        self.plain == other.plain
    }
}

impl<T, C: ColumnBinding> fmt::Debug for Encrypted<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Encrypted<{}>(***, {} bytes)",
            C::NAME,
            self.envelope.len()
        )
    }
}

impl<T: Plaintext, C: ColumnBinding> From<Encrypted<T, C>> for Value {
    fn from(value: Encrypted<T, C>) -> Value {
        value.to_value()
    }
}

impl<T: Plaintext, C: ColumnBinding> TryGetable for Encrypted<T, C> {
    fn try_get_by<I: ColIdx>(
        res: &QueryResult,
        index: I,
    ) -> std::result::Result<Self, TryGetError> {
        let stored = match C::STORAGE {
            Storage::Binary => Stored::Bytes(<Vec<u8> as TryGetable>::try_get_by(res, index)?),
            Storage::Base64 => Stored::Text(<String as TryGetable>::try_get_by(res, index)?),
        };
        let row = row_key::<C>(res).map_err(|e| TryGetError::DbErr(e.into_db_err()))?;
        check_row_tenant::<C>(res).map_err(|e| TryGetError::DbErr(e.into_db_err()))?;
        Self::from_stored(stored, row.as_deref()).map_err(|e| TryGetError::DbErr(e.into_db_err()))
    }
}

impl<T: Plaintext, C: ColumnBinding> ValueType for Encrypted<T, C> {
    fn try_from(v: Value) -> std::result::Result<Self, ValueTypeErr> {
        let stored = match v {
            Value::Bytes(Some(b)) => Stored::Bytes(b),
            Value::String(Some(s)) => Stored::Text(s),
            _ => return Err(ValueTypeErr),
        };
        // A bare value carries no row: row-bound columns are read through `TryGetable` only.
        Self::from_stored(stored, None).map_err(|_| ValueTypeErr)
    }

    fn type_name() -> String {
        format!("Encrypted<{}>", C::NAME)
    }

    fn array_type() -> ArrayType {
        match C::STORAGE {
            Storage::Binary => ArrayType::Bytes,
            Storage::Base64 => ArrayType::String,
        }
    }

    fn column_type() -> ColumnType {
        match C::STORAGE {
            Storage::Binary => ColumnType::Blob,
            Storage::Base64 => ColumnType::Text,
        }
    }
}

impl<T: Plaintext, C: ColumnBinding> Nullable for Encrypted<T, C> {
    fn null() -> Value {
        match C::STORAGE {
            Storage::Binary => Value::Bytes(None),
            Storage::Base64 => Value::String(None),
        }
    }
}

impl<T: Plaintext, C: ColumnBinding> sea_orm::IntoActiveValue<Encrypted<T, C>> for Encrypted<T, C> {
    fn into_active_value(self) -> sea_orm::ActiveValue<Encrypted<T, C>> {
        sea_orm::ActiveValue::Set(self)
    }
}

/// Serialises the plaintext: models go out through APIs as the program sees them.
impl<T: Plaintext + serde::Serialize, C> serde::Serialize for Encrypted<T, C> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.plain.serialize(s)
    }
}

/// The explicit form of [`Encrypted::new`]: seals for `tenant` without a scope (jobs, tools).
pub async fn seal_with<T: Plaintext, C: ColumnBinding>(
    keyring: &crate::Keyring,
    tenant: &str,
    value: T,
) -> Result<Encrypted<T, C>> {
    Encrypted::seal_with(&*keyring.resolve(tenant).await?, value)
}

/// The explicit form of [`Encrypted::open`]: opens a stored envelope for `tenant`.
pub async fn open_with<T: Plaintext, C: ColumnBinding>(
    keyring: &crate::Keyring,
    tenant: &str,
    envelope: Vec<u8>,
) -> Result<Encrypted<T, C>> {
    Encrypted::open_with(&*keyring.resolve(tenant).await?, envelope)
}

#[cfg(test)]
mod tests;
