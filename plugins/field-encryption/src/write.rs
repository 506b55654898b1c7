//! Every check that can refuse a write, run before the statement is sent.
//!
//! SeaORM's `insert` sends the `INSERT`, then reads the row back; the read-back is where a
//! value sealed for another tenant or another row used to fail — after the row was committed.
//! So a write that reported an error had landed (a model sealed for `acme` inserted in
//! `globex`'s scope; an update in the wrong scope; a value bound to row 101 inserted as row 100;
//! on MariaDB in a lax `sql_mode`, a value over the column's size stored truncated). These checks
//! compare what each value was sealed for with the write itself, so such a write fails first and
//! nothing reaches the database:
//!
//! | check | refused with |
//! |---|---|
//! | a tenant is in scope | [`Error::MissingTenant`] |
//! | the row's tenant column is the scope's tenant (byte for byte) | [`Error::WrongScope`] |
//! | each value was sealed (or read) under the scope's tenant | [`Error::WrongScope`] |
//! | a row-bound value is bound to the row being written | [`Error::WrongScope`] |
//! | each value fits its column ([`crate::ColumnBinding::MAX_STORED`]) | [`Error::TooLarge`] |
//!
//! Declare them once per entity with [`write_checks!`](crate::write_checks), then call
//! [`CheckedWrite::check_write`] from `ActiveModelBehavior::before_save`, and yourself before
//! `insert_many`/`update_many` (SeaORM's bulk paths skip `before_save`).

use sea_orm::ActiveValue;

use crate::context::{TenantScope, require};
use crate::error::{Error, Result};
use crate::value::{ColumnBinding, Encrypted, Plaintext};

/// An active model whose encrypted fields can be checked before a write (implemented by
/// [`write_checks!`](crate::write_checks)).
pub trait CheckedWrite {
    /// Runs every check; the error converts into SeaORM's (`?` in `before_save`).
    fn check_write(&self) -> std::result::Result<(), sea_orm::DbErr>;
}

/// The checks of one write, against the tenant in scope.
#[derive(Debug)]
pub struct WriteCheck {
    table: &'static str,
    scope: TenantScope,
}

impl WriteCheck {
    /// Starts the checks of a write to `table`: [`Error::MissingTenant`] without a scope.
    pub fn begin(table: &'static str) -> Result<WriteCheck> {
        Ok(WriteCheck {
            table,
            scope: require(table)?,
        })
    }

    /// The row's tenant column `column` must be the scope's tenant, byte for byte (a
    /// case-insensitive collation would otherwise let `ACME` pass for `acme`).
    pub fn tenant_column(&self, column: &str, value: &ActiveValue<String>) -> Result<()> {
        match present(value) {
            Some(tenant) if tenant.as_bytes() != self.scope.tenant().as_bytes() => {
                Err(Error::WrongScope {
                    column: format!("{}.{column}", self.table),
                    reason: format!(
                        "the row's tenant is `{}`, the scope's `{}`",
                        tenant.chars().take(80).collect::<String>(),
                        self.scope.tenant()
                    ),
                })
            }
            _ => Ok(()),
        }
    }

    /// An encrypted field: sealed under the scope's tenant, for the row being written if its
    /// column is row-bound (`row`: the row's key, if the model has it), within the column's size.
    pub fn field<T: Plaintext, C: ColumnBinding>(
        &self,
        value: &Encrypted<T, C>,
        row: Option<&str>,
    ) -> Result<()> {
        let wrong = |reason: String| Error::WrongScope {
            column: C::NAME.into(),
            reason,
        };
        if value.tenant().as_bytes() != self.scope.tenant().as_bytes() {
            return Err(wrong(format!(
                "the value was sealed for tenant `{}`, the scope is `{}`",
                value.tenant(),
                self.scope.tenant()
            )));
        }
        if C::ROW_KEY.is_some()
            && let Some(row) = row
            && value.row() != Some(row)
        {
            return Err(wrong(format!(
                "the value is bound to row {}, written as row {row}",
                value.row().unwrap_or("(none)")
            )));
        }
        if value.stored_len() > C::MAX_STORED {
            return Err(Error::TooLarge {
                column: C::NAME.into(),
                bytes: value.stored_len(),
                max: C::MAX_STORED,
            });
        }
        Ok(())
    }

    /// [`WriteCheck::field`] for an optional field.
    pub fn optional<T: Plaintext, C: ColumnBinding>(
        &self,
        value: &Option<Encrypted<T, C>>,
        row: Option<&str>,
    ) -> Result<()> {
        value.as_ref().map_or(Ok(()), |v| self.field(v, row))
    }
}

/// The value a write would send: `Set` and `Unchanged` (an insert sends both).
pub fn present<V: Into<sea_orm::Value>>(value: &ActiveValue<V>) -> Option<&V> {
    match value {
        ActiveValue::Set(v) | ActiveValue::Unchanged(v) => Some(v),
        ActiveValue::NotSet => None,
    }
}

/// The row key of a model as the text row binding uses (`Display` of the key).
pub fn row_text<V: Into<sea_orm::Value> + std::fmt::Display>(
    value: &ActiveValue<V>,
) -> Option<String> {
    present(value).map(ToString::to_string)
}

/// Implements [`CheckedWrite`] for an entity's `ActiveModel`:
///
/// ```text
/// lockstep_field_encryption::write_checks!(ActiveModel, "notes", tenant = tenant, row = id,
///     fields = [title, body], optional = [legacy]);
/// ```
///
/// `tenant` names the tenant column's field, `row` the row key's (for row-bound columns; a model
/// without it set yet, such as one whose key the database assigns, skips the row check), then
/// the encrypted fields and the optional (`Option<Encrypted<…>>`) ones. A trailing
/// `before_save` also implements the entity's `ActiveModelBehavior` to run them.
#[macro_export]
macro_rules! write_checks {
    // `…, before_save`: also the entity's `ActiveModelBehavior`, whose `before_save` runs the
    // checks (for entities with no other save logic).
    ($model:ty, $table:literal, tenant = $tenant:ident $(, row = $row:ident)?,
        fields = [$($field:ident),* $(,)?] $(, optional = [$($opt:ident),* $(,)?])?, before_save $(,)?) => {
        $crate::write_checks!($model, $table, tenant = $tenant $(, row = $row)?,
            fields = [$($field),*] $(, optional = [$($opt),*])?);
        #[::sea_orm::entity::prelude::async_trait::async_trait]
        impl ::sea_orm::ActiveModelBehavior for $model {
            async fn before_save<C>(self, _db: &C, _insert: bool) -> ::std::result::Result<Self, ::sea_orm::DbErr>
            where
                C: ::sea_orm::ConnectionTrait,
            {
                $crate::write::CheckedWrite::check_write(&self)?;
                Ok(self)
            }
        }
    };
    ($model:ty, $table:literal, tenant = $tenant:ident $(, row = $row:ident)?,
        fields = [$($field:ident),* $(,)?] $(, optional = [$($opt:ident),* $(,)?])? $(,)?) => {
        impl $crate::write::CheckedWrite for $model {
            fn check_write(&self) -> ::std::result::Result<(), ::sea_orm::DbErr> {
                let check = $crate::write::WriteCheck::begin($table)?;
                check.tenant_column(stringify!($tenant), &self.$tenant)?;
                #[allow(unused_variables)]
                let row: Option<String> = None;
                $( let row = $crate::write::row_text(&self.$row); )?
                $(
                    if let Some(value) = $crate::write::present(&self.$field) {
                        check.field(value, row.as_deref())?;
                    }
                )*
                $($(
                    if let Some(value) = $crate::write::present(&self.$opt) {
                        check.optional(value, row.as_deref())?;
                    }
                )*)?
                Ok(())
            }
        }
    };
}
