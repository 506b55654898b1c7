//! Scenario: a write that reports an error changes no row. Each case used to return an error
//! *after* the row was committed (SeaORM's read-back failed, not the write); now every check
//! runs before the statement is sent ([`crate::write`]), and each case counts the rows.

use sea_orm::ActiveValue::{Set, Unchanged};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use sea_orm::{EntityTrait as _, TransactionTrait};

use super::support::{ensure, keyring, new_note, typed};
use super::{Outcome, create_schema, note};
use crate::blind::IndexSpec;
use crate::{Encrypted, Error, with_tenant};

crate::encrypted_column!(pub(crate) DocBody, "docs.body", Binary, IndexSpec::V1, row = "id", tenant = "tenant");

/// A table whose rows the application numbers, with a row-bound column.
pub(crate) mod doc {
    use sea_orm::entity::prelude::*;

    use super::DocBody;
    use crate::Encrypted;

    /// One document.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "docs")]
    pub(crate) struct Model {
        /// Application-assigned key, bound into `body`'s AAD.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        /// Owner tenant.
        pub tenant: String,
        /// Row-bound.
        pub body: Encrypted<String, DocBody>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    crate::write_checks!(
        ActiveModel,
        "docs",
        tenant = tenant,
        row = id,
        fields = [body],
        before_save
    );
}

async fn count(db: &impl ConnectionTrait, table: &str) -> Result<i64, sea_orm::DbErr> {
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        format!("SELECT COUNT(*) FROM {table}"),
    ))
    .await?
    .ok_or_else(|| sea_orm::DbErr::RecordNotFound("count".into()))?
    .try_get_by::<i64, _>(0)
}

fn refused(err: &sea_orm::DbErr, what: &str) -> Outcome {
    ensure!(
        matches!(
            typed(err),
            Some(Error::WrongScope { .. } | Error::TooLarge { .. })
        ),
        "{what}: not refused before sending: {err}"
    );
    Ok(())
}

pub(crate) async fn refused_writes_change_no_row(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    db.execute_unprepared(&format!(
        "CREATE TABLE docs (id BIGINT NOT NULL PRIMARY KEY, tenant VARCHAR(64) NOT NULL, body BLOB NOT NULL){}",
        super::folding_case(db.get_database_backend())
    ))
    .await?;
    let ring = keyring();

    // A model sealed for acme, inserted in globex's scope (its tenant column says acme).
    let acme_model =
        with_tenant(&ring, "acme", async { new_note("acme", "t", "acme's") }).await??;
    let err = with_tenant(&ring, "globex", acme_model.clone().insert(db))
        .await?
        .err()
        .ok_or("acme's model inserted in globex's scope")?;
    refused(&err, "insert in another tenant's scope")?;
    // The same values under a row labelled globex: the values were sealed for acme.
    let mut relabelled = acme_model.clone();
    relabelled.tenant = Set("globex".into());
    let err = with_tenant(&ring, "globex", relabelled.insert(db))
        .await?
        .err()
        .ok_or("acme's values inserted as globex's")?;
    refused(&err, "values sealed for another tenant")?;
    // In acme's scope, a row labelled globex (the tenant column bound to the scope).
    let mut mislabelled = acme_model.clone();
    mislabelled.tenant = Set("globex".into());
    let err = with_tenant(&ring, "acme", mislabelled.insert(db))
        .await?
        .err()
        .ok_or("a row labelled globex written in acme's scope")?;
    refused(&err, "tenant column")?;
    // A case variant of the tenant passes a _ci collation but not this check.
    let mut variant = acme_model.clone();
    variant.tenant = Set("ACME".into());
    let err = with_tenant(&ring, "acme", variant.insert(db))
        .await?
        .err()
        .ok_or("tenant ACME written in acme's scope")?;
    refused(&err, "case-variant tenant")?;
    ensure!(
        count(db, "notes").await? == 0,
        "a refused insert left a row"
    );

    // An update in the wrong scope: acme's note, changed in globex's scope.
    let stored = with_tenant(&ring, "acme", acme_model.insert(db)).await??;
    let mut change: note::ActiveModel = stored.clone().into();
    change.body = Set(with_tenant(&ring, "acme", async {
        Encrypted::new("changed".to_owned())
    })
    .await??);
    let err = with_tenant(&ring, "globex", change.update(db))
        .await?
        .err()
        .ok_or("acme's note updated in globex's scope")?;
    refused(&err, "update in another tenant's scope")?;
    let now = with_tenant(&ring, "acme", note::Entity::find_by_id(stored.id).one(db))
        .await??
        .ok_or("the note")?;
    ensure!(now.body.get() == "acme's", "the refused update was stored");

    // A row-bound value for row 101 inserted as row 100.
    let for_101 = with_tenant(&ring, "acme", async {
        Encrypted::<String, DocBody>::new_for_row("bound".to_owned(), 101)
    })
    .await??;
    let wrong_row = doc::ActiveModel {
        id: Set(100),
        tenant: Set("acme".into()),
        body: Set(for_101.clone()),
    };
    let err = with_tenant(&ring, "acme", wrong_row.insert(db))
        .await?
        .err()
        .ok_or("a value bound to row 101 inserted as row 100")?;
    refused(&err, "row binding")?;
    ensure!(count(db, "docs").await? == 0, "the refused row exists");
    let right_row = doc::ActiveModel {
        id: Set(101),
        tenant: Set("acme".into()),
        body: Set(for_101),
    };
    with_tenant(&ring, "acme", right_row.insert(db)).await??;
    ensure!(count(db, "docs").await? == 1, "the row-bound insert");
    // Unchanged values are checked too (an insert sends them).
    let read = with_tenant(&ring, "acme", doc::Entity::find_by_id(101).one(db))
        .await??
        .ok_or("doc 101")?;
    let copy = doc::ActiveModel {
        id: Set(102),
        tenant: Unchanged("acme".into()),
        body: Unchanged(read.body),
    };
    let err = with_tenant(&ring, "acme", copy.insert(db))
        .await?
        .err()
        .ok_or("row 101's value copied into row 102")?;
    refused(&err, "unchanged row-bound value")?;

    too_large_values_are_refused_in_a_lax_sql_mode(db, &ring).await
}

/// Over the column's size: refused before sending, also where the server would store it
/// truncated (MariaDB/MySQL with `sql_mode = ''`: 65,535 bytes stored, an error returned).
async fn too_large_values_are_refused_in_a_lax_sql_mode(
    db: &DatabaseConnection,
    ring: &crate::Keyring,
) -> Outcome {
    let before = count(db, "notes").await?;
    let big = with_tenant(ring, "acme", async {
        new_note("acme", "t", &"x".repeat(70_000))
    })
    .await??;
    // One connection for the session setting and the insert.
    let txn = db.begin().await?;
    let lax = db.get_database_backend() == DatabaseBackend::MySql;
    if lax {
        txn.execute_unprepared("SET SESSION sql_mode = ''").await?;
    }
    let outcome = with_tenant(ring, "acme", big.insert(&txn)).await?;
    if lax {
        txn.execute_unprepared("SET SESSION sql_mode = @@GLOBAL.sql_mode")
            .await?;
    }
    txn.commit().await?;
    let err = outcome.err().ok_or("a 70,000-byte value was stored")?;
    ensure!(
        matches!(typed(&err), Some(Error::TooLarge { bytes, max: 65_535, .. }) if *bytes > 70_000),
        "too large: {err}"
    );
    ensure!(
        count(db, "notes").await? == before,
        "the refused value was stored"
    );
    Ok(())
}
