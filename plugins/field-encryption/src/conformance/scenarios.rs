//! The scenarios. Each gets an empty database and returns `Err` with a message on failure.

use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, FromQueryResult, QueryFilter, Statement,
};

use super::{NoteBody, NoteLegacy, NoteTitle, Outcome, Scenario, create_schema, note};
use crate::jobs::{Target, encrypt_plaintext_rows, rewrap};
use crate::{
    BlindIndex, Encrypted, Error, KeyMaterial, Keyring, StaticKeys, WrappedKeys, seal_indexed,
    with_tenant,
};

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+).into());
        }
    };
}

macro_rules! scenario {
    ($f:ident) => {
        Scenario {
            name: stringify!($f),
            run: |db| Box::pin($f(db)),
        }
    };
}

/// Every scenario.
pub fn all() -> Vec<Scenario> {
    vec![
        scenario!(active_model_insert_update_save),
        scenario!(insert_many_and_update_many),
        scenario!(raw_statement_and_into_json),
        scenario!(ciphertext_at_rest),
        scenario!(cross_tenant_and_moved_values_fail),
        scenario!(tampered_values_fail),
        scenario!(missing_tenant_never_writes),
        scenario!(rotation_and_rewrap_with_concurrent_writes),
        scenario!(blind_index_finds_exact_rows_per_tenant),
        scenario!(base64_text_column),
        scenario!(wrapped_keys_in_the_database),
        scenario!(plaintext_migration),
    ]
}

fn key(byte: u8) -> KeyMaterial {
    KeyMaterial::new([byte; 32])
}

/// acme and globex, one key each (id 1), blind-index keys.
fn keyring() -> Keyring {
    Keyring::new(
        StaticKeys::new()
            .with_tenant("acme", 1, vec![(1, key(1))], Some(key(101)))
            .with_tenant("globex", 1, vec![(1, key(2))], Some(key(102))),
    )
}

fn new_note(tenant: &str, title: &str, body: &str) -> crate::Result<note::ActiveModel> {
    let (title, title_idx) = seal_indexed::<String, NoteTitle>(title.to_owned())?;
    Ok(note::ActiveModel {
        tenant: Set(tenant.to_owned()),
        title: Set(title),
        title_idx: Set(title_idx),
        body: Set(Encrypted::new(body.to_owned())?),
        legacy: Set(None),
        ..Default::default()
    })
}

async fn raw_bytes(db: &DatabaseConnection, sql: &str) -> Result<Vec<Vec<u8>>, sea_orm::DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    rows.iter().map(|r| r.try_get_by::<Vec<u8>, _>(0)).collect()
}

fn typed(err: &sea_orm::DbErr) -> Option<&Error> {
    Error::from_db_err(err)
}

async fn active_model_insert_update_save(db: &DatabaseConnection) -> Outcome {
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

async fn insert_many_and_update_many(db: &DatabaseConnection) -> Outcome {
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

async fn raw_statement_and_into_json(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    with_tenant(&keyring(), "acme", async {
        let id = new_note("acme", "secret title", "secret body")?
            .insert(db)
            .await?
            .id;
        let stmt = Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT id, body FROM notes WHERE tenant = ?",
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

async fn ciphertext_at_rest(db: &DatabaseConnection) -> Outcome {
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
            bytes.starts_with(&[1, 1, 0, 0, 0, 1]),
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

async fn cross_tenant_and_moved_values_fail(db: &DatabaseConnection) -> Outcome {
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
    ensure!(
        matches!(typed(&err), Some(Error::Authentication { .. })),
        "cross-tenant read: {err}"
    );
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

async fn tampered_values_fail(db: &DatabaseConnection) -> Outcome {
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

async fn missing_tenant_never_writes(db: &DatabaseConnection) -> Outcome {
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

async fn rotation_and_rewrap_with_concurrent_writes(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    let v1 = keyring();
    with_tenant(&v1, "acme", async {
        for i in 0..120 {
            new_note("acme", &format!("t{i}"), &format!("body-{i}"))?
                .insert(db)
                .await?;
        }
        Outcome::Ok(())
    })
    .await??;
    // Rotation: key 2 becomes current, key 1 still decrypts.
    let v2 = Keyring::new(StaticKeys::new().with_tenant(
        "acme",
        2,
        vec![(1, key(1)), (2, key(3))],
        Some(key(101)),
    ));
    let target = Target {
        table: "notes",
        pk: "id",
        tenant_column: "tenant",
        column: "body",
        batch: 16,
    };
    let writer = with_tenant(&v2, "acme", async {
        for i in 0..40i64 {
            new_note("acme", &format!("n{i}"), &format!("new-{i}"))?
                .insert(db)
                .await?;
            let mut active: note::ActiveModel = note::Entity::find_by_id(i * 3 + 1)
                .one(db)
                .await?
                .ok_or("row")?
                .into();
            active.body = Set(Encrypted::new(format!("updated-{i}"))?);
            active.update(db).await?;
            tokio::task::yield_now().await;
        }
        Outcome::Ok(())
    });
    let mut batches = 0;
    let job = with_tenant(
        &v2,
        "acme",
        rewrap::<NoteBody>(db, target, None, |_| batches += 1),
    );
    let (written, job) = futures::join!(writer, job);
    written??;
    let progress = job??;
    ensure!(
        batches >= 1 && progress.scanned >= progress.written,
        "{progress:?}"
    );
    // Idempotent: nothing left on key 1.
    let again = with_tenant(&v2, "acme", rewrap::<NoteBody>(db, target, None, |_| ())).await??;
    ensure!(again.written == 0, "second run rewrote {again:?}");
    for header in raw_bytes(db, "SELECT body FROM notes").await? {
        ensure!(
            header[..6] == [1, 1, 0, 0, 0, 2],
            "a row is still on key {:?}",
            &header[2..6]
        );
    }
    let notes = with_tenant(&v2, "acme", note::Entity::find().all(db)).await??;
    ensure!(notes.len() == 160, "{} rows", notes.len());
    for n in &notes {
        let want = match n.id {
            id if id > 120 => format!("new-{}", id - 121),
            id if id % 3 == 1 && id < 120 => format!("updated-{}", (id - 1) / 3),
            id => format!("body-{}", id - 1),
        };
        ensure!(
            n.body.get() == &want,
            "row {}: {} != {want}",
            n.id,
            n.body.get()
        );
    }
    Ok(())
}

async fn blind_index_finds_exact_rows_per_tenant(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    let ring = keyring();
    with_tenant(&ring, "acme", async {
        for t in ["alpha", "beta", "alpha"] {
            new_note("acme", t, "x")?.insert(db).await?;
        }
        Outcome::Ok(())
    })
    .await??;
    with_tenant(&ring, "globex", async {
        new_note("globex", "alpha", "y")?.insert(db).await
    })
    .await??;
    let count = |tenant: &'static str, title: &'static str| {
        with_tenant(&ring, tenant, async move {
            let idx = BlindIndex::<NoteTitle>::of(&title.to_string())?;
            let rows = note::Entity::find()
                .filter(note::Column::Tenant.eq(tenant))
                .filter(note::Column::TitleIdx.eq(idx))
                .all(db)
                .await?;
            ensure!(
                rows.iter().all(|r| r.title.get() == title),
                "index matched another title"
            );
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(rows.len())
        })
    };
    let got = (
        count("acme", "alpha").await??,
        count("acme", "beta").await??,
        count("acme", "gamma").await??,
        count("globex", "alpha").await??,
    );
    ensure!(got == (2, 1, 0, 1), "{got:?}");
    let idx = raw_bytes(db, "SELECT title_idx FROM notes ORDER BY id").await?;
    ensure!(
        idx[0] == idx[2] && idx[0] != idx[3],
        "same title must index alike within, not across, tenants"
    );
    Ok(())
}

async fn base64_text_column(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    with_tenant(&keyring(), "acme", async {
        let mut model = new_note("acme", "t", "b")?;
        model.legacy = Set(Some(Encrypted::<String, NoteLegacy>::new(
            "in a TEXT column".into(),
        )?));
        let id = model.insert(db).await?.id;
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT legacy FROM notes",
            ))
            .await?;
        let text: String = rows[0].try_get_by(0)?;
        ensure!(
            text.starts_with("AQEAAAAB") && !text.contains("TEXT"),
            "stored {text}"
        );
        let back = note::Entity::find_by_id(id).one(db).await?.ok_or("row")?;
        ensure!(
            back.legacy.as_ref().map(|l| l.get().as_str()) == Some("in a TEXT column"),
            "round trip"
        );
        Outcome::Ok(())
    })
    .await?
}

async fn wrapped_keys_in_the_database(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    let provider = WrappedKeys::new(key(9), db.clone());
    provider.create_table().await?;
    let ring = Keyring::new(provider.clone());
    let first = with_tenant(&ring, "acme", async {
        Encrypted::<String, NoteBody>::new("v1".into())
    })
    .await??;
    ensure!(first.key_id() == 1, "first key id {}", first.key_id());
    ensure!(
        provider.rotate("acme").await? == 2,
        "rotation did not add key 2"
    );
    ring.invalidate("acme");
    let (second, old) = with_tenant(&ring, "acme", async {
        Ok::<_, Error>((
            Encrypted::<String, NoteBody>::new("v2".into())?,
            Encrypted::<String, NoteBody>::open(first.envelope().to_vec())?,
        ))
    })
    .await??;
    ensure!(second.key_id() == 2 && old.get() == "v1", "rotation");
    let wrapped = raw_bytes(db, "SELECT wrapped FROM fe_data_keys").await?;
    ensure!(
        wrapped.len() == 2
            && wrapped
                .iter()
                .all(|w| w.len() == 32 + crate::envelope::OVERHEAD),
        "wrapped keys stored"
    );
    let wrong = Keyring::new(WrappedKeys::new(key(8), db.clone()));
    let err = wrong
        .resolve("acme")
        .await
        .err()
        .ok_or("wrong master key unwrapped")?;
    ensure!(matches!(err, Error::KeyProvider { .. }), "{err}");
    let _ = Arc::new(());
    Ok(())
}

async fn plaintext_migration(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    let backend = db.get_database_backend();
    for i in 0..30 {
        let values: [sea_orm::Value; 3] = [
            format!("title {i}").into_bytes().into(),
            vec![0u8; 16].into(),
            format!("plain body {i}").into_bytes().into(),
        ];
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            "INSERT INTO notes (tenant, title, title_idx, body) VALUES ('acme', ?, ?, ?)",
            values,
        ))
        .await?;
    }
    let strict = keyring();
    let err = with_tenant(&strict, "acme", note::Entity::find().all(db))
        .await?
        .err()
        .ok_or("plaintext accepted")?;
    ensure!(
        matches!(typed(&err), Some(Error::MalformedEnvelope { .. })),
        "{err}"
    );
    let migrating = keyring().allow_plaintext_reads(true);
    let rows = with_tenant(&migrating, "acme", note::Entity::find().all(db)).await??;
    ensure!(
        rows.len() == 30 && rows[0].body.get() == "plain body 0",
        "migration-mode read"
    );
    for column in ["title", "body"] {
        let target = Target {
            table: "notes",
            pk: "id",
            tenant_column: "tenant",
            column,
            batch: 7,
        };
        let progress = match column {
            "title" => {
                with_tenant(
                    &strict,
                    "acme",
                    encrypt_plaintext_rows::<NoteTitle>(db, target, None, |_| ()),
                )
                .await??
            }
            _ => {
                with_tenant(
                    &strict,
                    "acme",
                    encrypt_plaintext_rows::<NoteBody>(db, target, None, |_| ()),
                )
                .await??
            }
        };
        ensure!(progress.written == 30, "{column}: {progress:?}");
    }
    let target = Target {
        table: "notes",
        pk: "id",
        tenant_column: "tenant",
        column: "body",
        batch: 7,
    };
    let again = with_tenant(
        &strict,
        "acme",
        encrypt_plaintext_rows::<NoteBody>(db, target, None, |_| ()),
    )
    .await??;
    ensure!(
        again.written == 0 && again.scanned == 30,
        "second run: {again:?}"
    );
    let rows = with_tenant(&strict, "acme", note::Entity::find().all(db)).await??;
    ensure!(
        rows.iter()
            .all(|r| r.body.get() == &format!("plain body {}", r.id - 1)),
        "values changed by the migration"
    );
    Ok(())
}
