//! Scenario: row binding — a value copied to another row of the same tenant and column stops
//! opening once the column is row-bound, and existing rows move over with `bind_rows`.

use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, FromQueryResult, Statement};

use super::support::{ensure, keyring, new_note, typed};
use super::{Outcome, create_schema, note};
use crate::blind::IndexSpec;
use crate::jobs::{Target, bind_rows};
use crate::{Encrypted, Error, with_tenant};
use sea_orm::EntityTrait as _;

crate::encrypted_column!(pub(crate) BoundBody, "notes.body", Binary, IndexSpec::V1, row = "id");

#[derive(Debug, FromQueryResult)]
struct BoundRow {
    id: i64,
    body: Encrypted<String, BoundBody>,
}

/// Selected without the row key: reading it must fail, so its field is never read.
#[derive(Debug, FromQueryResult)]
#[allow(dead_code)]
struct BodyOnly {
    body: Encrypted<String, BoundBody>,
}

async fn body_bytes(db: &DatabaseConnection, id: i64) -> Result<Vec<u8>, sea_orm::DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT body FROM notes WHERE id = ?",
            [id.into()],
        ))
        .await?
        .ok_or_else(|| sea_orm::DbErr::RecordNotFound(format!("note {id}")))?;
    row.try_get_by(0)
}

async fn set_body(db: &DatabaseConnection, id: i64, bytes: Vec<u8>) -> Result<(), sea_orm::DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE notes SET body = ? WHERE id = ?",
        [bytes.into(), id.into()],
    ))
    .await?;
    Ok(())
}

async fn bound_rows(db: &DatabaseConnection) -> Result<Vec<BoundRow>, sea_orm::DbErr> {
    BoundRow::find_by_statement(Statement::from_string(
        db.get_database_backend(),
        "SELECT id, body FROM notes ORDER BY id",
    ))
    .all(db)
    .await
}

pub(crate) async fn row_binding_stops_values_moving_between_rows(
    db: &DatabaseConnection,
) -> Outcome {
    create_schema(db).await?;
    let ring = keyring();
    with_tenant(&ring, "acme", async {
        new_note("acme", "t1", "one")?.insert(db).await?;
        new_note("acme", "t2", "two")?.insert(db).await?;
        // Without row binding, row 2's value copied into row 1 opens as row 1's.
        let (one, two) = (body_bytes(db, 1).await?, body_bytes(db, 2).await?);
        set_body(db, 1, two.clone()).await?;
        let moved = note::Entity::find_by_id(1).one(db).await?.ok_or("row 1")?;
        ensure!(
            moved.body.get() == "two",
            "unbound copy did not open: the gap this closes"
        );
        set_body(db, 1, one).await?;
        // The column becomes row-bound: old values fail until migrated (typed error)...
        let strict = bound_rows(db).await;
        ensure!(
            strict
                .as_ref()
                .err()
                .and_then(typed)
                .is_some_and(|e| matches!(e, Error::Authentication { .. })),
            "unbound value opened as bound: {strict:?}"
        );
        Outcome::Ok(())
    })
    .await??;
    // ...or open in the migration mode, while bind_rows moves them over.
    let migrating = keyring().allow_unbound_rows(true);
    with_tenant(&migrating, "acme", async {
        let rows = bound_rows(db).await?;
        ensure!(rows.len() == 2 && rows[1].body.get() == "two", "{rows:?}");
        let target = Target {
            table: "notes",
            pk: "id",
            tenant_column: "tenant",
            column: "body",
            batch: 10,
        };
        let done = bind_rows::<BoundBody>(db, target, None, |_| ()).await?;
        ensure!(done.written == 2, "{done:?}");
        let again = bind_rows::<BoundBody>(db, target, None, |_| ()).await?;
        ensure!(again.written == 0, "{again:?}");
        Outcome::Ok(())
    })
    .await??;
    with_tenant(&ring, "acme", async {
        let rows = bound_rows(db).await?;
        let bodies: Vec<_> = rows.iter().map(|r| (r.id, r.body.get().as_str())).collect();
        ensure!(bodies == [(1, "one"), (2, "two")], "{bodies:?}");
        // Now a copied value fails to open in the other row, and only there.
        set_body(db, 1, body_bytes(db, 2).await?).await?;
        let copied = bound_rows(db).await;
        ensure!(
            copied
                .as_ref()
                .err()
                .and_then(typed)
                .is_some_and(|e| matches!(e, Error::Authentication { .. })),
            "a value copied between rows opened: {copied:?}"
        );
        // New values need the row key; a read needs the row-key column.
        let unbound = Encrypted::<String, BoundBody>::new("x".into());
        ensure!(
            matches!(unbound, Err(Error::RowKeyRequired { .. })),
            "{unbound:?}"
        );
        let sealed = Encrypted::<String, BoundBody>::new_for_row("fresh".to_owned(), 1)?;
        set_body(db, 1, sealed.envelope().to_vec()).await?;
        ensure!(
            bound_rows(db).await?[0].body.get() == "fresh",
            "bound value did not open"
        );
        let without_id = BodyOnly::find_by_statement(Statement::from_string(
            db.get_database_backend(),
            "SELECT body FROM notes WHERE id = 1",
        ))
        .one(db)
        .await;
        ensure!(
            without_id
                .as_ref()
                .err()
                .and_then(typed)
                .is_some_and(|e| matches!(e, Error::RowKeyMissing { .. })),
            "{without_id:?}"
        );
        Outcome::Ok(())
    })
    .await?
}

/// Version 1 envelopes carry no row: in a row-bound column they used to open in any row
/// (swapped between rows, `Ok("secret-of-row-2")`), and `bind_rows` skipped them (it rewrote 4
/// of 8 values, then 0). Now they open bound only in the migration mode, `bind_rows` upgrades
/// every one, and afterwards no swapped value opens.
pub(crate) async fn row_binding_covers_version_1_values(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    let (v1, v2) = (keyring().seal_version(1), keyring());
    for (ring, first) in [(&v1, 1), (&v2, 5)] {
        with_tenant(ring, "acme", async {
            for i in first..first + 4 {
                new_note("acme", "t", &format!("secret-of-row-{i}"))?
                    .insert(db)
                    .await?;
            }
            Outcome::Ok(())
        })
        .await??;
    }
    ensure!(body_bytes(db, 1).await?[0] == 1, "row 1 is not version 1");
    // Swapped version 1 values: refused bound, also in each other's rows.
    let (one, two) = (body_bytes(db, 1).await?, body_bytes(db, 2).await?);
    set_body(db, 1, two.clone()).await?;
    set_body(db, 2, one.clone()).await?;
    let swapped = with_tenant(
        &v2,
        "acme",
        BoundRow::find_by_statement(Statement::from_string(
            db.get_database_backend(),
            "SELECT id, body FROM notes WHERE id IN (1, 2) ORDER BY id",
        ))
        .all(db),
    )
    .await?;
    ensure!(
        swapped
            .as_ref()
            .err()
            .and_then(typed)
            .is_some_and(|e| matches!(e, Error::Authentication { .. })),
        "swapped version 1 values opened: {swapped:?}"
    );
    set_body(db, 1, one).await?;
    set_body(db, 2, two).await?;
    let target = Target {
        table: "notes",
        pk: "id",
        tenant_column: "tenant",
        column: "body",
        batch: 3,
    };
    let migrating = keyring().allow_unbound_rows(true);
    with_tenant(&migrating, "acme", async {
        ensure!(bound_rows(db).await?.len() == 8, "migration-mode read");
        let done = bind_rows::<BoundBody>(db, target, None, |_| ()).await?;
        ensure!(
            done.written == 8,
            "bind_rows upgraded {} of 8",
            done.written
        );
        let again = bind_rows::<BoundBody>(db, target, None, |_| ()).await?;
        ensure!(again.written == 0, "{again:?}");
        Outcome::Ok(())
    })
    .await??;
    for id in 1..=8 {
        ensure!(
            body_bytes(db, id).await?[0] == 2,
            "row {id} still version 1"
        );
    }
    with_tenant(&v2, "acme", async {
        let rows = bound_rows(db).await?;
        ensure!(
            rows.iter()
                .all(|r| *r.body.get() == format!("secret-of-row-{}", r.id)),
            "{rows:?}"
        );
        set_body(db, 1, body_bytes(db, 2).await?).await?;
        ensure!(
            bound_rows(db).await.is_err(),
            "a swapped bound value opened"
        );
        Outcome::Ok(())
    })
    .await?
}
