//! Scenarios: blind index version 2 — tenant-bound, normalised — and moving a column's existing
//! rows to it.

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, Value};

use super::support::{ensure, key, keyring, new_note};
use super::{NoteTitle, Outcome, create_schema};
use crate::blind::IndexSpec;
use crate::jobs::Target;
use crate::reindex::reindex;
use crate::{BlindIndex, KeyMaterial, TenantKeys, with_tenant};

crate::encrypted_column!(
    pub(crate) TitleV2,
    "notes.title",
    Binary,
    IndexSpec::V2.trim().lowercase().nfc()
);

/// Ids of acme's notes whose title index is one of `terms`.
async fn find(
    db: &DatabaseConnection,
    terms: Vec<BlindIndex<TitleV2>>,
) -> Result<Vec<i64>, sea_orm::DbErr> {
    let marks = vec!["?"; terms.len()].join(", ");
    let mut values: Vec<Value> = terms.into_iter().map(Value::from).collect();
    values.insert(0, "acme".into());
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            format!("SELECT id FROM notes WHERE tenant = ? AND title_idx IN ({marks}) ORDER BY id"),
            values,
        ))
        .await?;
    rows.iter().map(|r| r.try_get_by::<i64, _>(0)).collect()
}

pub(crate) async fn blind_index_v2_normalises_binds_the_tenant_and_migrates(
    db: &DatabaseConnection,
) -> Outcome {
    create_schema(db).await?;
    let ring = keyring();
    let titles = ["Hello", "  hello  ", "Caf\u{e9}", "other"];
    with_tenant(&ring, "acme", async {
        for title in titles {
            sea_orm::ActiveModelTrait::insert(new_note("acme", title, "b")?, db).await?;
        }
        // Before the migration: the version 1 term still finds the exact old spelling.
        let terms = BlindIndex::<TitleV2>::search_terms(&"Hello".to_owned())?;
        ensure!(terms.len() == 2, "{} terms", terms.len());
        let before = find(db, terms).await?;
        ensure!(before == [1], "before reindex: {before:?}");
        let target = Target {
            table: "notes",
            pk: "id",
            tenant_column: "tenant",
            column: "title",
            batch: 3,
        };
        let done = reindex::<String, TitleV2>(db, target, "title_idx", |_| ()).await?;
        ensure!(done.written == 4 && done.scanned == 4, "{done:?}");
        let again = reindex::<String, TitleV2>(db, target, "title_idx", |_| ()).await?;
        ensure!(again.written == 0, "second run wrote {again:?}");
        // After: trimmed, lowercased and NFC-normalised spellings find the same rows.
        let hello = find(db, vec![BlindIndex::<TitleV2>::of(&" HELLO\t".to_owned())?]).await?;
        ensure!(hello == [1, 2], "hello: {hello:?}");
        let cafe = find(
            db,
            vec![BlindIndex::<TitleV2>::of(&"cafe\u{301}".to_owned())?],
        )
        .await?;
        ensure!(cafe == [3], "café, decomposed: {cafe:?}");
        Outcome::Ok(())
    })
    .await??;
    // Two tenants that share a blind-index key: version 1 indexes coincide, version 2 do not.
    let shared =
        |tenant| TenantKeys::new(tenant, 1, &[(1, key(1))], Some(KeyMaterial::new([7; 32])));
    let (acme, globex) = (shared("acme")?, shared("globex")?);
    let value = "same".to_owned();
    ensure!(
        BlindIndex::<NoteTitle>::with(&acme, &value)?
            == BlindIndex::<NoteTitle>::with(&globex, &value)?,
        "version 1 was expected to ignore the tenant"
    );
    ensure!(
        BlindIndex::<TitleV2>::with(&acme, &value)?
            != BlindIndex::<TitleV2>::with(&globex, &value)?,
        "version 2 indexes of two tenants coincide"
    );
    Ok(())
}

/// A blind-index column added to a table that already had rows holds NULLs: `reindex` fills them
/// (its compare-and-set said `= NULL`, which is never true, so it never did).
pub(crate) async fn reindex_fills_null_indexes(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    db.execute_unprepared(&format!(
        "CREATE TABLE titled (id BIGINT NOT NULL PRIMARY KEY, tenant VARCHAR(64) NOT NULL, title BLOB NOT NULL, title_idx BINARY(16) NULL){}",
        super::folding_case(db.get_database_backend())
    ))
    .await?;
    let ring = keyring();
    with_tenant(&ring, "acme", async {
        for (id, title) in [(1i64, "Hello"), (2, "world")] {
            let sealed = crate::Encrypted::<String, TitleV2>::new(title.to_owned())?;
            db.execute_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                "INSERT INTO titled (id, tenant, title, title_idx) VALUES (?, 'acme', ?, NULL)",
                [id.into(), sealed.envelope().to_vec().into()],
            ))
            .await?;
        }
        let target = Target {
            table: "titled",
            pk: "id",
            tenant_column: "tenant",
            column: "title",
            batch: 10,
        };
        let done = reindex::<String, TitleV2>(db, target, "title_idx", |_| ()).await?;
        ensure!(done.written == 2, "NULL indexes filled: {done:?}");
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT title_idx FROM titled ORDER BY id",
            ))
            .await?;
        let want = BlindIndex::<TitleV2>::of(&"hello".to_owned())?;
        let first: Option<Vec<u8>> = rows[0].try_get_by(0)?;
        ensure!(
            first.as_deref() == Some(&want.as_bytes()[..]),
            "row 1's index"
        );
        let again = reindex::<String, TitleV2>(db, target, "title_idx", |_| ()).await?;
        ensure!(again.written == 0, "{again:?}");
        Outcome::Ok(())
    })
    .await?
}
