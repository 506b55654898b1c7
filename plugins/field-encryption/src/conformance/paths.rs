//! Scenarios: every SeaORM read/write path, ciphertext at rest, tenant isolation, tampering and
//! the missing-tenant rule.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, FromQueryResult, QueryFilter, Statement,
};

use super::support::{ensure, keyring, new_note, raw_bytes, typed};
use super::{NoteBody, NoteLegacy, Outcome, create_schema, note};
use crate::{Encrypted, Error, with_tenant};

pub(crate) async fn active_model_insert_update_save(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    with_tenant(&keyring(), "acme", async {
        let inserted = new_note("acme", "groceries", "milk, eggs")?
            .insert(db)
            .await?;
        let found = note::Entity::find_by_id(inserted.id)
            .one(db)
            .await?
            .ok_or("inserted row not found")?;
        ensure!(
            found.title.get() == "groceries" && found.body.get() == "milk, eggs",
            "read back {found:?}"
        );
        let mut active: note::ActiveModel = found.into();
        active.body = Set(Encrypted::new("milk, eggs, bread".into())?);
        let updated = active.update(db).await?;
        ensure!(updated.body.get() == "milk, eggs, bread", "update");
        let saved = new_note("acme", "todo", "call mom")?.save(db).await?;
        let id = saved.id.clone().unwrap();
        let again = note::Entity::find_by_id(id)
            .one(db)
            .await?
            .ok_or("saved row not found")?;
        ensure!(again.body.get() == "call mom", "save");
        let all = note::Entity::find().all(db).await?;
        ensure!(all.len() == 2, "{} rows", all.len());
        Outcome::Ok(())
    })
    .await?
}

pub(crate) async fn insert_many_and_update_many(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    with_tenant(&keyring(), "acme", async {
        let models = (0..3)
            .map(|i| new_note("acme", &format!("t{i}"), &format!("b{i}")))
            .collect::<crate::Result<Vec<_>>>()?;
        note::Entity::insert_many(models).exec(db).await?;
        let all = note::Entity::find().all(db).await?;
        let mut bodies: Vec<_> = all.iter().map(|n| n.body.get().clone()).collect();
        bodies.sort();
        ensure!(bodies == ["b0", "b1", "b2"], "{bodies:?}");
        note::Entity::update_many()
            .col_expr(
                note::Column::Body,
                Expr::value(Encrypted::<String, NoteBody>::new("bulk".into())?),
            )
            .filter(note::Column::Tenant.eq("acme"))
            .exec(db)
            .await?;
        let all = note::Entity::find().all(db).await?;
        ensure!(
            all.iter().all(|n| n.body.get() == "bulk"),
            "update_many did not apply"
        );
        Outcome::Ok(())
    })
    .await?
}

#[derive(Debug, FromQueryResult)]
struct BodyRow {
    id: i64,
    body: Encrypted<String, NoteBody>,
}

pub(crate) async fn raw_statement_and_into_json(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    with_tenant(&keyring(), "acme", async {
        let id = new_note("acme", "secret title", "secret body")?
            .insert(db)
            .await?
            .id;
        let stmt = Statement::from_sql_and_values(
            db.get_database_backend(),
            // The tenant column too: `notes.body` is checked against it on every read.
            "SELECT id, tenant, body FROM notes WHERE tenant = ?",
            ["acme".into()],
        );
        let rows = BodyRow::find_by_statement(stmt).all(db).await?;
        ensure!(
            rows.len() == 1 && rows[0].id == id && rows[0].body.get() == "secret body",
            "{rows:?}"
        );
        // into_json decodes by database type, so it carries the envelope, never plaintext.
        let json = note::Entity::find().into_json().all(db).await?;
        let text = serde_json::to_string(&json)?;
        ensure!(
            json.len() == 1 && !text.contains("secret"),
            "into_json leaked plaintext: {text}"
        );
        Outcome::Ok(())
    })
    .await?
}

pub(crate) async fn ciphertext_at_rest(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    with_tenant(&keyring(), "acme", async {
        new_note("acme", "Quarterly numbers", "revenue up 12%")?
            .insert(db)
            .await
    })
    .await??;
    for column in ["title", "body"] {
        let stored = raw_bytes(db, &format!("SELECT {column} FROM notes")).await?;
        let bytes = &stored[0];
        ensure!(
            bytes.starts_with(&crate::envelope::Header::prefix(1)),
            "{column}: no envelope header"
        );
        for needle in [&b"Quarterly"[..], b"revenue", b"12%"] {
            ensure!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{column}: plaintext at rest"
            );
        }
    }
    Ok(())
}

pub(crate) async fn cross_tenant_and_moved_values_fail(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    let ring = keyring();
    let id = with_tenant(&ring, "acme", async {
        new_note("acme", "acme title", "acme body")?
            .insert(db)
            .await
    })
    .await??
    .id;
    let err = with_tenant(&ring, "globex", note::Entity::find_by_id(id).one(db))
        .await?
        .err()
        .ok_or("globex read acme's note")?;
    // The row says acme: refused before opening, by the tenant column.
    ensure!(
        matches!(typed(&err), Some(Error::TenantMismatch { row_tenant, .. }) if row_tenant == "acme"),
        "cross-tenant read: {err}"
    );
    // Relabelled as globex's, acme's values still do not open under globex's keys.
    db.execute_unprepared("UPDATE notes SET tenant = 'globex'")
        .await?;
    let err = with_tenant(&ring, "globex", note::Entity::find_by_id(id).one(db))
        .await?
        .err()
        .ok_or("globex read acme's relabelled note")?;
    ensure!(
        matches!(typed(&err), Some(Error::Authentication { .. })),
        "relabelled cross-tenant read: {err}"
    );
    // And in acme's scope the row labelled globex no longer reads as acme's (it did).
    let err = with_tenant(&ring, "acme", note::Entity::find_by_id(id).one(db))
        .await?
        .err()
        .ok_or("a row labelled globex read in acme's scope")?;
    ensure!(
        matches!(typed(&err), Some(Error::TenantMismatch { row_tenant, .. }) if row_tenant == "globex"),
        "mislabelled row: {err}"
    );
    db.execute_unprepared("UPDATE notes SET tenant = 'acme'")
        .await?;
    // Body moved into the title column of the same row: the column is bound into the AAD.
    db.execute_unprepared("UPDATE notes SET title = body")
        .await?;
    let err = with_tenant(&ring, "acme", note::Entity::find_by_id(id).one(db))
        .await?
        .err()
        .ok_or("moved value opened")?;
    ensure!(
        matches!(typed(&err), Some(Error::Authentication { place }) if place.column == "notes.title"),
        "moved value: {err}"
    );
    Ok(())
}

pub(crate) async fn tampered_values_fail(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    let ring = keyring();
    let id = with_tenant(&ring, "acme", async {
        new_note("acme", "t", "pay 100 to bob")?.insert(db).await
    })
    .await??
    .id;
    let mut body = raw_bytes(db, "SELECT body FROM notes").await?.remove(0);
    let last = body.len() - 20;
    body[last] ^= 0x01;
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE notes SET body = ? WHERE id = ?",
        [body.into(), id.into()],
    ))
    .await?;
    let err = with_tenant(&ring, "acme", note::Entity::find_by_id(id).one(db))
        .await?
        .err()
        .ok_or("tampered value opened")?;
    ensure!(
        matches!(typed(&err), Some(Error::Authentication { .. })),
        "tamper: {err}"
    );
    Ok(())
}

pub(crate) async fn missing_tenant_never_writes(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    let err = Encrypted::<String, NoteBody>::new("no scope".into())
        .err()
        .ok_or("sealed without a tenant")?;
    ensure!(
        matches!(err, Error::MissingTenant { ref column } if column == "notes.body"),
        "{err}"
    );
    let ring = keyring();
    with_tenant(&ring, "acme", async {
        new_note("acme", "t", "b")?.insert(db).await
    })
    .await??;
    // Sealed inside the scope, written outside it: refused before anything is sent (without the
    // guard the row was committed and the read-back failed, so a retry duplicated it).
    let sealed = with_tenant(&ring, "acme", async { new_note("acme", "t2", "b2") }).await??;
    let err = sealed
        .insert(db)
        .await
        .err()
        .ok_or("a write outside the scope succeeded")?;
    ensure!(
        matches!(typed(&err), Some(Error::MissingTenant { .. })),
        "{err}"
    );
    let rows = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM notes",
        ))
        .await?
        .ok_or("count")?
        .try_get_by::<i64, _>(0)?;
    ensure!(rows == 1, "{rows} rows: the refused write was committed");
    let err = note::Entity::find()
        .all(db)
        .await
        .err()
        .ok_or("read without a tenant")?;
    ensure!(
        matches!(typed(&err), Some(Error::MissingTenant { .. })),
        "{err}"
    );
    ensure!(
        crate::spawn_in_tenant(async {}).is_err(),
        "spawn_in_tenant outside a scope"
    );
    let (carried, plain_spawn) = with_tenant(&ring, "acme", async {
        let carried = crate::spawn_in_tenant(async {
            Encrypted::<String, NoteBody>::new("x".into()).is_ok()
        })?
        .await?;
        let plain =
            tokio::spawn(async { Encrypted::<String, NoteBody>::new("x".into()).is_ok() }).await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>((carried, plain))
    })
    .await??;
    ensure!(
        carried && !plain_spawn,
        "scope propagation: carried {carried}, plain spawn {plain_spawn}"
    );
    let n = note::Entity::find().into_json().all(db).await?.len();
    ensure!(n == 1, "{n} rows");
    Ok(())
}

/// `update_many().col_expr(col, Expr::value("plain"))` type-checks and would store plaintext in
/// an encrypted column; with [`crate::sealed_check`] on the column the database refuses it and
/// the row keeps its sealed value. Sealed values still pass the guard.
pub(crate) async fn plaintext_through_col_expr_is_refused(db: &DatabaseConnection) -> Outcome {
    super::create_guarded_schema(db).await?;
    with_tenant(&keyring(), "acme", async {
        new_note("acme", "t", "sealed body")?.insert(db).await?;
        let plain = note::Entity::update_many()
            .col_expr(note::Column::Body, Expr::value("plain"))
            .filter(note::Column::Tenant.eq("acme"))
            .exec(db)
            .await;
        ensure!(plain.is_err(), "plaintext accepted: {plain:?}");
        let raw = db
            .execute_unprepared(
                "UPDATE notes SET legacy = 'aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVs'",
            )
            .await;
        ensure!(
            raw.is_err(),
            "base64 plaintext accepted in the base64 column: {raw:?}"
        );
        // Plaintext that starts like an envelope's Base64 and is long enough: the guard
        // checked two characters and a length, so these were stored verbatim.
        let look_alike = "AgEAAAAB plaintext that merely starts like an envelope, long enough";
        let bulk = note::Entity::update_many()
            .col_expr(note::Column::Legacy, Expr::value(look_alike))
            .filter(note::Column::Tenant.eq("acme"))
            .exec(db)
            .await;
        ensure!(
            bulk.is_err(),
            "update_many stored plaintext in the base64 column: {bulk:?}"
        );
        for bad in [
            look_alike.replace(' ', "x"),
            format!("{}A", "AgEAAAAB".repeat(6)),
            format!("{}=A", &"AgEAAAAB".repeat(6)[..46]),
            "agEAAAAB".repeat(6),
            "AgEAAAAB".repeat(5),
        ] {
            let raw = db
                .execute_unprepared(&format!("UPDATE notes SET legacy = '{bad}'"))
                .await;
            ensure!(
                raw.is_err(),
                "`{bad}` accepted in the base64 column: {raw:?}"
            );
        }
        let all = note::Entity::find().all(db).await?;
        ensure!(
            all.len() == 1 && all[0].body.get() == "sealed body" && all[0].legacy.is_none(),
            "row changed"
        );
        note::Entity::update_many()
            .col_expr(
                note::Column::Body,
                Expr::value(Encrypted::<String, NoteBody>::new("bulk".into())?),
            )
            .exec(db)
            .await?;
        let all = note::Entity::find().all(db).await?;
        ensure!(all[0].body.get() == "bulk", "sealed update refused");
        let sealed = Encrypted::<String, NoteLegacy>::new("legacy bulk".into())?;
        note::Entity::update_many()
            .col_expr(note::Column::Legacy, Expr::value(Some(sealed)))
            .exec(db)
            .await?;
        let all = note::Entity::find().all(db).await?;
        ensure!(
            all[0].legacy.as_ref().map(|l| l.get().as_str()) == Some("legacy bulk"),
            "a sealed Base64 value was refused by its guard"
        );
        Outcome::Ok(())
    })
    .await?
}
