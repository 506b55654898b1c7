//! Scenarios: keys over time — rotation with re-encryption, blind indexes, base64 storage,
//! wrapped data keys and the plaintext migration.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, Statement,
};

use super::support::{ensure, key, keyring, new_note, raw_bytes, typed};
use super::{NoteBody, NoteLegacy, NoteTitle, Outcome, create_schema, note};
use crate::jobs::{Target, encrypt_plaintext_rows, rewrap};
use crate::{BlindIndex, Encrypted, Error, Keyring, StaticKeys, WrappedKeys, with_tenant};

pub(crate) async fn rotation_and_rewrap_with_concurrent_writes(db: &DatabaseConnection) -> Outcome {
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
            header[..6] == crate::envelope::Header::prefix(2),
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

pub(crate) async fn blind_index_finds_exact_rows_per_tenant(db: &DatabaseConnection) -> Outcome {
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

pub(crate) async fn base64_text_column(db: &DatabaseConnection) -> Outcome {
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
            text.starts_with("AgEAAAAB") && !text.contains("TEXT"),
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

pub(crate) async fn wrapped_keys_in_the_database(db: &DatabaseConnection) -> Outcome {
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
    wrapped_keys_are_bound_to_their_key_id(db, &provider).await?;
    // Disabled through the keyring: refused at once by the set in use, and by every keyring
    // that loads afterwards (the provider records it).
    let in_use = ring.resolve("acme").await?;
    crate::envelope::open(
        &in_use,
        "notes.body",
        &crate::envelope::seal(&in_use, "notes.body", b"x")?,
    )?;
    let err = ring
        .disable("acme", 2)
        .await
        .err()
        .ok_or("the current key was disabled")?;
    ensure!(matches!(err, Error::KeyIsCurrent { .. }), "{err}");
    ring.disable("acme", 1).await?;
    for keys in [
        in_use,
        Keyring::new(provider.clone()).resolve("acme").await?,
    ] {
        let err = with_tenant_keys_open(&keys, first.envelope())
            .err()
            .ok_or("key 1 still opens")?;
        ensure!(matches!(err, Error::KeyDisabled { key_id: 1, .. }), "{err}");
    }
    Ok(())
}

fn with_tenant_keys_open(keys: &crate::TenantKeys, envelope: &[u8]) -> crate::Result<Vec<u8>> {
    crate::envelope::open_digest(
        keys,
        "notes.body",
        &<NoteBody as crate::ColumnBinding>::DIGEST,
        None,
        envelope,
    )
}

/// The key id is in each wrapped key's AAD: data keys swapped between key ids do not unwrap
/// (they did, so values sealed under key 2 were opened with key 1's bytes). A row wrapped before
/// that is still read, and `bind_key_ids` wraps it again bound.
async fn wrapped_keys_are_bound_to_their_key_id(
    db: &DatabaseConnection,
    provider: &WrappedKeys,
) -> Outcome {
    let swap = |a: i64, b: i64| {
        format!(
            "UPDATE fe_data_keys SET wrapped = (SELECT w FROM (SELECT wrapped AS w FROM fe_data_keys WHERE tenant = 'acme' AND key_id = {b}) AS x) WHERE tenant = 'acme' AND key_id = {a}"
        )
    };
    let rows = raw_bytes(
        db,
        "SELECT wrapped FROM fe_data_keys WHERE tenant = 'acme' ORDER BY key_id",
    )
    .await?;
    db.execute_unprepared(&swap(1, 2)).await?;
    let err = Keyring::new(provider.clone())
        .resolve("acme")
        .await
        .err()
        .ok_or("a data key moved to another key id unwrapped")?;
    ensure!(
        matches!(&err, Error::KeyProvider { reason, .. } if reason.contains("key id 1")),
        "{err}"
    );
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE fe_data_keys SET wrapped = ? WHERE tenant = 'acme' AND key_id = 1",
        [rows[0].clone().into()],
    ))
    .await?;
    Keyring::new(provider.clone()).resolve("acme").await?;

    // A row wrapped the old way (no key id in the AAD): read, then wrapped again bound.
    let kek = crate::TenantKeys::new("globex", 0, &[(0, key(9))], None)?;
    let dek = crate::envelope::seal(&kek, "fe_data_keys.wrapped", &[7u8; 32])?;
    let blind = crate::envelope::seal(&kek, "fe_data_keys.blind_wrapped", &[8u8; 32])?;
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "INSERT INTO fe_data_keys (tenant, key_id, wrapped, blind_wrapped, created_at) VALUES ('globex', 1, ?, ?, 0)",
        [dek.clone().into(), blind.into()],
    ))
    .await?;
    let legacy = Keyring::new(StaticKeys::new().with_tenant(
        "globex",
        1,
        vec![(1, crate::KeyMaterial::new([7u8; 32]))],
        None,
    ));
    let sealed = with_tenant(&legacy, "globex", async {
        Encrypted::<String, NoteBody>::new("old".into())
    })
    .await??;
    let opened = with_tenant(&Keyring::new(provider.clone()), "globex", async {
        Encrypted::<String, NoteBody>::open(sealed.envelope().to_vec())
    })
    .await??;
    ensure!(opened.get() == "old", "a legacy wrapped key did not unwrap");
    ensure!(
        provider.bind_key_ids("globex").await? == 1,
        "the legacy row was not bound"
    );
    ensure!(provider.bind_key_ids("globex").await? == 0, "bound twice");
    ensure!(
        provider.bind_key_ids("acme").await? == 0,
        "acme's rows were already bound"
    );
    let now = raw_bytes(
        db,
        "SELECT wrapped FROM fe_data_keys WHERE tenant = 'globex'",
    )
    .await?;
    ensure!(now[0] != dek, "the legacy row was not wrapped again");
    let bound = crate::envelope::open_digest(
        &kek,
        "fe_data_keys.wrapped",
        &crate::digest::column_digest("fe_data_keys.wrapped"),
        Some("1"),
        &now[0],
    )?;
    ensure!(
        bound == [7u8; 32],
        "the rewrapped row is not bound to key id 1"
    );
    Ok(())
}

pub(crate) async fn plaintext_migration(db: &DatabaseConnection) -> Outcome {
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
