//! What names and shapes an encrypted column: [`ColumnBinding`], its storage, and the
//! `encrypted_column!` macro that declares one.

/// How a column stores the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// `BLOB`/`VARBINARY`: the raw envelope.
    Binary,
    /// `TEXT`: the envelope in base64 (about 4/3 the size).
    Base64,
}

/// Names the column an encrypted field lives in; part of the AAD. Declare with
/// [`encrypted_column!`](crate::encrypted_column).
pub trait ColumnBinding: Send + Sync + 'static {
    /// `table.column`.
    const NAME: &'static str;
    /// How the envelope is stored.
    const STORAGE: Storage;
    /// The column's digest in the version 2 AAD, computed at compile time.
    const DIGEST: [u8; crate::digest::DIGEST_LEN] = crate::digest::column_digest(Self::NAME);
    /// How the column's blind index is computed; [`crate::index_spec::IndexSpec::V1`] unless declared.
    const INDEX: crate::index_spec::IndexSpec = crate::index_spec::IndexSpec::V1;
    /// Row binding (CipherSweet-style): the name of the row-key column (an application-assigned
    /// primary key) whose value is bound into the AAD, so a value copied to another row of the
    /// same tenant and column no longer opens. `None` (the default): not row-bound.
    const ROW_KEY: Option<&'static str> = None;
    /// The row's tenant column, if the table has one: a write whose tenant column is not the
    /// scope's tenant is refused before sending, and a read of a row whose tenant column is not
    /// the scope's tenant fails ([`crate::Error::TenantMismatch`]). `None` (the default): not checked.
    const TENANT_COLUMN: Option<&'static str> = None;
    /// The most bytes the column stores (default 65,535: `BLOB`/`TEXT`); a larger value is
    /// refused before sending ([`crate::Error::TooLarge`]). Declare more for `MEDIUMBLOB`.
    const MAX_STORED: usize = 65_535;
}

/// Declares a [`ColumnBinding`] marker type, optionally with its blind-index spec, its row key
/// ([`ColumnBinding::ROW_KEY`]) and its table's tenant column ([`ColumnBinding::TENANT_COLUMN`]).
/// Implement the trait by hand for [`ColumnBinding::MAX_STORED`].
///
/// ```
/// use lockstep_field_encryption::blind::IndexSpec;
/// lockstep_field_encryption::encrypted_column!(pub NoteBody, "notes.body");
/// lockstep_field_encryption::encrypted_column!(pub LegacyTitle, "notes.title", Base64);
/// lockstep_field_encryption::encrypted_column!(
///     pub Email, "users.email", Binary, IndexSpec::V2.trim().lowercase().nfc()
/// );
/// lockstep_field_encryption::encrypted_column!(
///     pub Secret, "docs.secret", Binary, IndexSpec::V1, row = "id", tenant = "tenant"
/// );
/// ```
#[macro_export]
macro_rules! encrypted_column {
    ($vis:vis $name:ident, $column:literal) => {
        $crate::encrypted_column!($vis $name, $column, Binary);
    };
    ($vis:vis $name:ident, $column:literal, $storage:ident) => {
        $crate::encrypted_column!($vis $name, $column, $storage, $crate::index_spec::IndexSpec::V1);
    };
    ($vis:vis $name:ident, $column:literal, $storage:ident, $index:expr) => {
        $crate::encrypted_column!(@define $vis $name, $column, $storage, $index, None, None);
    };
    ($vis:vis $name:ident, $column:literal, $storage:ident, $index:expr, row = $row:literal) => {
        $crate::encrypted_column!(@define $vis $name, $column, $storage, $index, Some($row), None);
    };
    ($vis:vis $name:ident, $column:literal, $storage:ident, $index:expr, tenant = $tenant:literal) => {
        $crate::encrypted_column!(@define $vis $name, $column, $storage, $index, None, Some($tenant));
    };
    ($vis:vis $name:ident, $column:literal, $storage:ident, $index:expr, row = $row:literal, tenant = $tenant:literal) => {
        $crate::encrypted_column!(@define $vis $name, $column, $storage, $index, Some($row), Some($tenant));
    };
    (@define $vis:vis $name:ident, $column:literal, $storage:ident, $index:expr, $row:expr, $tenant:expr) => {
        #[doc = concat!("Encrypted column `", $column, "`.")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis struct $name;
        impl $crate::ColumnBinding for $name {
            const NAME: &'static str = $column;
            const STORAGE: $crate::Storage = $crate::Storage::$storage;
            const INDEX: $crate::index_spec::IndexSpec = $index;
            const ROW_KEY: Option<&'static str> = $row;
            const TENANT_COLUMN: Option<&'static str> = $tenant;
        }
    };
}

/// One encrypted column of a table: its name in the database, its binding (`table.column`,
/// part of the AAD) and how the envelope is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column<'a> {
    /// Column name in the database.
    pub column: &'a str,
    /// The [`ColumnBinding::NAME`] of the field.
    pub binding: &'static str,
    /// The [`ColumnBinding::STORAGE`] of the field.
    pub storage: Storage,
    /// Whether the field is bound to its row ([`ColumnBinding::ROW_KEY`]); its row key is then
    /// the table's primary key.
    pub row_bound: bool,
}

impl<'a> Column<'a> {
    /// The column `column` holding values of binding `C`.
    pub const fn of<C: ColumnBinding>(column: &'a str) -> Self {
        Column {
            column,
            binding: C::NAME,
            storage: C::STORAGE,
            row_bound: C::ROW_KEY.is_some(),
        }
    }
}
