//! The crate's one error type. Errors name the tenant, table and column involved and never carry
//! plaintext or key bytes.

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where an encrypted value lives: used in errors and in the AAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// Tenant id, if known.
    pub tenant: String,
    /// `table.column`.
    pub column: String,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tenant `{}`, column `{}`", self.tenant, self.column)
    }
}

/// Everything field encryption can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value was sealed or opened outside [`crate::with_tenant`] and without an explicit key
    /// set. Nothing was written or returned.
    #[error(
        "no tenant in scope for column `{column}`: wrap the work in with_tenant(..) or use the explicit *_with form"
    )]
    MissingTenant {
        /// `table.column`.
        column: String,
    },

    /// The envelope names a key id the tenant's key set does not have (removed, or another
    /// tenant's data).
    #[error("unknown key id {key_id} for {place}")]
    UnknownKeyId {
        /// Key id from the envelope header.
        key_id: u32,
        /// Where.
        place: Place,
    },

    /// AES-GCM rejected the value: the tenant, table or column differs from the one it was
    /// sealed for, or the bytes were altered.
    #[error("authentication failed for {place}: wrong tenant or column, or tampered data")]
    Authentication {
        /// Where.
        place: Place,
    },

    /// The stored bytes are not an envelope this version understands.
    #[error("malformed envelope in column `{column}`: {reason}")]
    MalformedEnvelope {
        /// `table.column`.
        column: String,
        /// What is wrong (never the bytes themselves).
        reason: String,
    },

    /// A value could not be encoded to bytes before sealing (e.g. JSON with non-string map
    /// keys); nothing was written.
    #[error("value for {place} does not encode: {reason}")]
    Encode {
        /// Where.
        place: Place,
        /// Encoder message.
        reason: String,
    },

    /// A decrypted value did not decode into the field's type (e.g. invalid UTF-8 or JSON).
    #[error("decrypted value for {place} does not decode: {reason}")]
    Decode {
        /// Where.
        place: Place,
        /// Decoder message.
        reason: String,
    },

    /// The operating system's RNG gave no nonce; nothing was sealed or written.
    #[error("no random nonce for column `{column}`: {reason}")]
    Random {
        /// `table.column`.
        column: String,
        /// What the OS said.
        reason: String,
    },

    /// A tenant id is empty, too long or has characters outside `[A-Za-z0-9_.-]`.
    #[error("invalid tenant id `{0}`")]
    InvalidTenant(String),

    /// The provider has no keys at all for this tenant: it is not provisioned (a client's
    /// token naming a tenant this deployment does not serve), not a failure of the provider.
    #[error("no keys are provisioned for tenant `{tenant}`")]
    NoKeys {
        /// The tenant.
        tenant: String,
    },

    /// The key provider failed for this tenant (unreadable or malformed key material, a
    /// database error).
    #[error("key provider failed for tenant `{tenant}`: {reason}")]
    KeyProvider {
        /// Tenant id.
        tenant: String,
        /// What went wrong (file missing, database error, bad key length, …).
        reason: String,
    },

    /// A job could not process one row; `source` says why. Nothing was written to that row.
    #[error("table `{table}`, row {pk}: {source}")]
    Row {
        /// Table name.
        table: String,
        /// The row's primary key.
        pk: i64,
        /// What failed.
        source: Box<Error>,
    },

    /// A key cannot be retired: rows are still sealed under it (the report counts them).
    #[error(
        "key id {key_id} of tenant `{tenant}` still seals {rows} value(s) in {columns}: rewrap them first"
    )]
    KeyInUse {
        /// The tenant.
        tenant: String,
        /// The key id.
        key_id: u32,
        /// Values still sealed under it.
        rows: u64,
        /// `table.column` list where they are.
        columns: String,
    },

    /// A key cannot be retired because it is the one new writes use.
    #[error("key id {key_id} is tenant `{tenant}`'s current key: rotate before retiring it")]
    KeyIsCurrent {
        /// The tenant.
        tenant: String,
        /// The key id.
        key_id: u32,
    },

    /// A row-bound column's value was sealed without the row's key (use `new_for_row`).
    #[error(
        "column `{column}` is bound to its row: seal with the row's key (Encrypted::new_for_row)"
    )]
    RowKeyRequired {
        /// `table.column`.
        column: String,
    },

    /// A row-bound column was read without its row-key column in the result.
    #[error("column `{column}` is bound to its row, but the query did not select `{row_key}`")]
    RowKeyMissing {
        /// `table.column`.
        column: String,
        /// The row-key column the read needs.
        row_key: String,
    },

    /// The value is sealed under a key that was disabled ([`crate::Keyring::disable`]): kept
    /// for now, but no longer used to open anything.
    #[error("key id {key_id} is disabled for {place}")]
    KeyDisabled {
        /// The disabled key id.
        key_id: u32,
        /// Tenant and column.
        place: Place,
    },

    /// The value is sealed with an envelope version or key id below the tenant's floor
    /// ([`crate::Keyring::with_floor`]): refused once a table was migrated past it.
    #[error(
        "{place}: envelope version {version}, key id {key_id} is below the floor (version {min_version}, key id {min_key_id})"
    )]
    BelowFloor {
        /// Tenant and column.
        place: Place,
        /// The value's envelope version.
        version: u8,
        /// The value's key id.
        key_id: u32,
        /// The lowest version accepted.
        min_version: u8,
        /// The lowest key id accepted.
        min_key_id: u32,
    },

    /// A write was refused before anything was sent: a value sealed for another tenant or
    /// another row, or a row whose tenant column is not the scope's tenant.
    #[error("write to `{column}` refused before sending: {reason}")]
    WrongScope {
        /// `table.column` (or `table.<tenant column>`).
        column: String,
        /// What does not match.
        reason: String,
    },

    /// A read found a row whose tenant column is not the scope's tenant.
    #[error("row of tenant `{row_tenant}` read in tenant `{tenant}`'s scope (column `{column}`)")]
    TenantMismatch {
        /// `table.column`.
        column: String,
        /// The scope's tenant.
        tenant: String,
        /// What the row's tenant column says.
        row_tenant: String,
    },

    /// A column checked against its row's tenant column was read without that column.
    #[error(
        "column `{column}` is checked against the row's tenant, but the query did not select `{tenant_column}`"
    )]
    TenantColumnMissing {
        /// `table.column`.
        column: String,
        /// The tenant column the read needs.
        tenant_column: String,
    },

    /// A value is larger than its column holds; refused before sending, so a server in a lax
    /// `sql_mode` cannot store it truncated.
    #[error("value for `{column}` is {bytes} bytes stored, over the column's {max}")]
    TooLarge {
        /// `table.column`.
        column: String,
        /// Its stored size (the envelope, or its Base64).
        bytes: usize,
        /// [`crate::ColumnBinding::MAX_STORED`].
        max: usize,
    },

    /// A database call failed.
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

impl Error {
    /// A bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::MissingTenant { .. } => "missing_tenant",
            Error::UnknownKeyId { .. } => "unknown_key_id",
            Error::Authentication { .. } => "authentication",
            Error::MalformedEnvelope { .. } => "malformed_envelope",
            Error::Encode { .. } => "encode",
            Error::Decode { .. } => "decode",
            Error::Random { .. } => "random",
            Error::InvalidTenant(_) => "invalid_tenant",
            Error::KeyProvider { .. } => "key_provider",
            Error::NoKeys { .. } => "no_keys",
            Error::Row { source, .. } => source.metric_label(),
            Error::KeyInUse { .. } => "key_in_use",
            Error::KeyIsCurrent { .. } => "key_is_current",
            Error::RowKeyRequired { .. } => "row_key_required",
            Error::RowKeyMissing { .. } => "row_key_missing",
            Error::WrongScope { .. } => "wrong_scope",
            Error::KeyDisabled { .. } => "key_disabled",
            Error::BelowFloor { .. } => "below_floor",
            Error::TenantMismatch { .. } => "tenant_mismatch",
            Error::TooLarge { .. } => "too_large",
            Error::TenantColumnMissing { .. } => "tenant_column_missing",
            Error::Db(_) => "db",
        }
    }

    /// Finds this crate's error inside a SeaORM error (reads through SeaORM wrap it in
    /// `DbErr::TryIntoErr`).
    pub fn from_db_err(err: &sea_orm::DbErr) -> Option<&Error> {
        match err {
            sea_orm::DbErr::TryIntoErr { source, .. } => source.downcast_ref::<Error>(),
            _ => None,
        }
    }

    /// Wraps the error for SeaORM's read path.
    pub(crate) fn into_db_err(self) -> sea_orm::DbErr {
        sea_orm::DbErr::TryIntoErr {
            from: "encrypted column",
            into: "plaintext",
            source: std::sync::Arc::new(self),
        }
    }
}

/// Lets code inside SeaORM calls use `?` on this crate's errors; [`Error::from_db_err`] gets the
/// typed error back.
impl From<Error> for sea_orm::DbErr {
    fn from(err: Error) -> Self {
        match err {
            Error::Db(db) => db,
            other => other.into_db_err(),
        }
    }
}
