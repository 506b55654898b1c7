//! Scenarios: the jobs compare bytes, not collation-equal text. On MySQL-family servers a
//! `VARCHAR`/`TEXT` column compares case-insensitively and ignores trailing spaces; these
//! scenarios fail there unless every comparison a job makes is byte-exact (on SQLite they hold
//! by default and guard against a regression in the SQL).

use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, Statement, Value};

use super::support::{ensure, key, new_note};
use super::{NoteLegacy, Outcome, create_schema};
use crate::jobs::{Target, compare_and_set, encrypt_plaintext_rows, rewrap};
use crate::{Encrypted, Keyring, StaticKeys, envelope, with_tenant};

fn legacy_target() -> Target<'static> {
    Target {
        table: "notes",
        pk: "id",
        tenant_column: "tenant",
        column: "legacy",
        batch: 5,
    }
}

async fn legacy_text(db: &DatabaseConnection, id: i64) -> Result<Option<String>, sea_orm::DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT legacy FROM notes WHERE id = ?",
            [id.into()],
        ))
        .await?;
    row.map(|r| r.try_get_by::<Option<String>, _>(0))
        .transpose()
        .map(Option::flatten)
}

async fn insert_plain_legacy(
    db: &DatabaseConnection,
    tenant: &str,
    text: &str,
) -> Result<(), sea_orm::DbErr> {
    let values: [Value; 4] = [
        tenant.into(),
        b"t".to_vec().into(),
        vec![0u8; 16].into(),
        text.into(),
    ];
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "INSERT INTO notes (tenant, title, title_idx, body, legacy) VALUES (?, ?, ?, 'b', ?)",
        values,
    ))
    .await?;
    Ok(())
}

/// The job's compare-and-set after a concurrent case-only or trailing-space edit must match no
/// row: the edit stays, the job counts the row as skipped.
pub(crate) async fn compare_and_set_is_byte_exact(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    let backend = db.get_database_backend();
    for (i, (read, edited)) in [("Hello", "hello"), ("note", "note "), ("Straße", "STRASSE")]
        .into_iter()
        .enumerate()
    {
        insert_plain_legacy(db, "acme", read).await?;
        let id = i as i64 + 1;
        // The application edits the row after the job read `read` …
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE notes SET legacy = ? WHERE id = ?",
            [edited.into(), id.into()],
        ))
        .await?;
        // … and the job's write must then miss.
        let cas = compare_and_set(backend, legacy_target(), id, "sealed".into(), read.into())?;
        let done = db.execute_raw(cas).await?;
        ensure!(
            done.rows_affected() == 0,
            "{read:?} matched the concurrent edit {edited:?}: the edit was overwritten"
        );
        let now = legacy_text(db, id).await?;
        ensure!(now.as_deref() == Some(edited), "row {id} holds {now:?}");
    }
    Ok(())
}

/// Tenant `ACME` is not tenant `acme`: the plaintext job of one never reads the other's rows.
pub(crate) async fn jobs_select_the_exact_tenant(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    let ring = Keyring::new(
        StaticKeys::new()
            .with_tenant("acme", 1, vec![(1, key(1))], None)
            .with_tenant("ACME", 1, vec![(1, key(2))], None),
    );
    for tenant in ["acme", "ACME", "acme", "ACME"] {
        insert_plain_legacy(db, tenant, &format!("{tenant} text")).await?;
    }
    let progress = with_tenant(
        &ring,
        "acme",
        encrypt_plaintext_rows::<NoteLegacy>(db, legacy_target(), None, |_| ()),
    )
    .await??;
    ensure!(
        progress.scanned == 2 && progress.written == 2,
        "acme's job saw {progress:?}"
    );
    for id in [2, 4] {
        let text = legacy_text(db, id).await?;
        ensure!(
            text.as_deref() == Some("ACME text"),
            "ACME's row {id} was touched by acme's job: {text:?}"
        );
    }
    Ok(())
}

/// Key 1 → key 27: in base64 their envelope prefixes are `AgEAAAAB` and `AgEAAAAb`, equal under
/// a case-insensitive collation. Rewrap must still find and move every key-1 row.
pub(crate) async fn base64_rewrap_between_case_variant_key_ids(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    let before =
        Keyring::new(StaticKeys::new().with_tenant("acme", 1, vec![(1, key(1))], Some(key(101))));
    with_tenant(&before, "acme", async {
        for i in 0..7 {
            let mut model = new_note("acme", "t", "b")?;
            model.legacy = sea_orm::ActiveValue::Set(Some(Encrypted::<String, NoteLegacy>::new(
                format!("legacy {i}"),
            )?));
            model.insert(db).await?;
        }
        Outcome::Ok(())
    })
    .await??;
    ensure!(
        envelope::to_base64(&envelope::Header::prefix(1)) == "AgEAAAAB"
            && envelope::to_base64(&envelope::Header::prefix(27)) == "AgEAAAAb",
        "the key ids no longer differ by case in base64"
    );
    let after = Keyring::new(StaticKeys::new().with_tenant(
        "acme",
        27,
        vec![(1, key(1)), (27, key(27))],
        Some(key(101)),
    ));
    let progress = with_tenant(
        &after,
        "acme",
        rewrap::<NoteLegacy>(db, legacy_target(), None, |_| ()),
    )
    .await??;
    ensure!(progress.written == 7, "rewrap to key 27 wrote {progress:?}");
    for id in 1..=7 {
        let text = legacy_text(db, id).await?.ok_or("no legacy value")?;
        ensure!(text.starts_with("AgEAAAAb"), "row {id} is still {text:.8}");
    }
    // Every legacy value now opens with key 27 alone (title and body are other columns, still
    // on key 1: rewrap works per column).
    let only_27 = crate::TenantKeys::new("acme", 27, &[(27, key(27))], None)?;
    for id in 1..=7 {
        let text = legacy_text(db, id).await?.ok_or("no legacy value")?;
        let sealed = envelope::from_base64(&text, "notes.legacy")?;
        let plain = envelope::open(&only_27, "notes.legacy", &sealed)?;
        ensure!(
            plain == format!("legacy {}", id - 1).into_bytes(),
            "row {id} changed"
        );
    }
    Ok(())
}
