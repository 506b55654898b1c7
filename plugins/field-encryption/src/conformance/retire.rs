//! Scenarios: retiring a key — the report of values per key, one rewrap over every encrypted
//! column, a stale replica caught by the report, quarantine of undecryptable rows, and data
//! keys of case-variant tenants kept apart.

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use super::support::{ensure, key, keyring, new_note};
use super::{NoteLegacy, Outcome, create_schema};
use crate::retire::{Column, KeyUsage, Table, keys_in_use, rewrap_table};
use crate::{Error, Keyring, StaticKeys, WrappedKeys, with_tenant};

/// Every encrypted column of `notes`.
pub(crate) const COLUMNS: [Column<'static>; 3] = [
    Column::of::<super::NoteTitle>("title"),
    Column::of::<super::NoteBody>("body"),
    Column::of::<super::NoteLegacy>("legacy"),
];

fn notes() -> Table<'static> {
    Table {
        table: "notes",
        pk: "id",
        tenant_column: "tenant",
        columns: &COLUMNS,
        batch: 4,
    }
}

/// acme on key 2 with key 1 still readable (after a rotation); globex unchanged.
fn rotated() -> Keyring {
    Keyring::new(
        StaticKeys::new()
            .with_tenant("acme", 2, vec![(1, key(1)), (2, key(3))], Some(key(101)))
            .with_tenant("globex", 1, vec![(1, key(2))], Some(key(102))),
    )
}

async fn insert(db: &DatabaseConnection, ring: &Keyring, tenant: &str, n: usize) -> Outcome {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    with_tenant(ring, tenant, async {
        for i in 0..n {
            let mut note = new_note(tenant, &format!("t{i}"), &format!("b{i}"))?;
            if i % 2 == 0 {
                note.legacy = Set(Some(crate::Encrypted::<String, NoteLegacy>::new(format!(
                    "l{i}"
                ))?));
            }
            note.insert(db).await?;
        }
        Outcome::Ok(())
    })
    .await?
}

fn on_key(usage: &KeyUsage, tenant: &str, key_id: u32) -> u64 {
    usage.sealed_under(tenant, key_id).0
}

pub(crate) async fn retiring_a_key_waits_for_every_column_and_every_replica(
    db: &DatabaseConnection,
) -> Outcome {
    create_schema(db).await?;
    let (v1, v2) = (keyring(), rotated());
    insert(db, &v1, "acme", 6).await?;
    insert(db, &v1, "globex", 2).await?;
    let usage = keys_in_use(db, &notes()).await?;
    // 6 titles + 6 bodies + 3 legacy values of acme's on key 1; globex's 5 are its own.
    ensure!(
        on_key(&usage, "acme", 1) == 15 && on_key(&usage, "globex", 1) == 5,
        "{usage:?}"
    );
    ensure!(
        matches!(
            usage.check_retirable("acme", 1),
            Err(Error::KeyInUse { rows: 15, .. })
        ),
        "key 1 retirable with 15 values on it"
    );
    // One job, every column: nothing of acme's is left on key 1; globex untouched.
    let done = with_tenant(&v2, "acme", rewrap_table(db, &notes(), false, |_, _| ())).await??;
    ensure!(done.written() == 15, "{done:?}");
    let usage = keys_in_use(db, &notes()).await?;
    ensure!(
        on_key(&usage, "acme", 1) == 0
            && on_key(&usage, "acme", 2) == 15
            && on_key(&usage, "globex", 1) == 5,
        "{usage:?}"
    );
    // A replica whose cached keys predate the rotation writes a row on key 1 after the job
    // reported done: the report shows it and retiring refuses (key files in a scratch dir).
    let dir = std::env::temp_dir().join(format!(
        "lsfe-retire-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos()
    ));
    std::fs::create_dir(&dir)?;
    let outcome = retire_files(db, &v2, &v1, &dir).await;
    std::fs::remove_dir_all(&dir)?;
    outcome
}

/// The second half of the scenario above, with key files in `dir`.
async fn retire_files(
    db: &DatabaseConnection,
    v2: &Keyring,
    v1: &Keyring,
    dir: &std::path::Path,
) -> Outcome {
    insert(db, v1, "acme", 1).await?;
    let usage = keys_in_use(db, &notes()).await?;
    ensure!(
        on_key(&usage, "acme", 1) == 3,
        "stale replica's row not counted: {usage:?}"
    );
    for (name, byte) in [("acme.1.key", 1u8), ("acme.2.key", 3)] {
        let path = dir.join(name);
        std::fs::write(&path, [byte; 32])?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    }
    let files = crate::FileKeys::new(dir);
    let refused = files.retire("acme", 1, &usage);
    ensure!(
        matches!(refused, Err(Error::KeyInUse { rows: 3, .. })),
        "{refused:?}"
    );
    ensure!(
        dir.join("acme.1.key").exists(),
        "key file deleted while in use"
    );
    ensure!(
        matches!(
            files.retire("acme", 2, &usage),
            Err(Error::KeyIsCurrent { .. })
        ),
        "the current key was retirable"
    );
    // destroy scans every table itself, and only a disabled key.
    let tables = [notes()];
    let undisabled = files.destroy(db, &tables, "acme", 1).await;
    ensure!(
        matches!(&undisabled, Err(Error::KeyProvider { reason, .. }) if reason.contains("not disabled")),
        "{undisabled:?}"
    );
    files.disable_key("acme", 1)?;
    files.disable_key("acme", 1)?;
    let in_use = files.destroy(db, &tables, "acme", 1).await;
    ensure!(
        matches!(in_use, Err(Error::KeyInUse { rows: 3, .. })),
        "destroyed while 3 values use it: {in_use:?}"
    );
    ensure!(
        dir.join("acme.1.key").exists(),
        "key file deleted while in use"
    );
    // Enabled again (the marker removed), the documented procedure: rewrap until it writes
    // nothing, disable, destroy.
    std::fs::remove_file(dir.join("acme.1.disabled"))?;
    let again = with_tenant(v2, "acme", rewrap_table(db, &notes(), false, |_, _| ())).await??;
    ensure!(again.written() == 3, "{again:?}");
    let last = with_tenant(v2, "acme", rewrap_table(db, &notes(), false, |_, _| ())).await??;
    ensure!(last.written() == 0, "{last:?}");
    files.disable_key("acme", 1)?;
    files.destroy(db, &tables, "acme", 1).await?;
    ensure!(
        !dir.join("acme.1.key").exists() && !dir.join("acme.1.disabled").exists(),
        "key file or marker not deleted"
    );
    Ok(())
}

pub(crate) async fn undecryptable_rows_are_named_or_quarantined(
    db: &DatabaseConnection,
) -> Outcome {
    create_schema(db).await?;
    insert(db, &keyring(), "acme", 5).await?;
    let backend = db.get_database_backend();
    // Row 3's body: one flipped ciphertext byte, header (key 1) intact.
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT body FROM notes WHERE id = 3",
        ))
        .await?;
    let mut body: Vec<u8> = rows.first().ok_or("row 3")?.try_get_by(0)?;
    body[20] ^= 1;
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "UPDATE notes SET body = ? WHERE id = 3",
        [body.into()],
    ))
    .await?;
    let v2 = rotated();
    let stopped = with_tenant(&v2, "acme", rewrap_table(db, &notes(), false, |_, _| ())).await?;
    ensure!(
        matches!(&stopped, Err(Error::Row { table, pk: 3, source }) if table == "notes" && matches!(**source, Error::Authentication { .. })),
        "{stopped:?}"
    );
    ensure!(
        stopped
            .as_ref()
            .err()
            .is_some_and(|e| e.to_string().contains("row 3")),
        "message lacks the pk"
    );
    let done = with_tenant(&v2, "acme", rewrap_table(db, &notes(), true, |_, _| ())).await??;
    ensure!(done.quarantined() == vec![3], "{done:?}");
    let usage = keys_in_use(db, &notes()).await?;
    ensure!(
        on_key(&usage, "acme", 1) == 1,
        "only the damaged value stays on key 1: {usage:?}"
    );
    ensure!(
        usage.check_retirable("acme", 1).is_err(),
        "a quarantined row must keep the key"
    );
    Ok(())
}

/// Under a case-insensitive collation `WHERE tenant = 'ACME'` finds acme's data keys: tenant
/// ACME was handed acme's key, and with an exact lookup its own first key collided with acme's
/// primary key. Each tenant gets its own row and key; retiring one touches only its own.
pub(crate) async fn wrapped_keys_of_case_variant_tenants_stay_apart(
    db: &DatabaseConnection,
) -> Outcome {
    // The table as an earlier version created it in a case-insensitive database; create_table
    // must make its tenant column byte-exact.
    db.execute_unprepared(&format!(
        "{}{}",
        crate::wrapped::DATA_KEYS_DDL,
        super::folding_case(db.get_database_backend())
    ))
    .await?;
    let provider = WrappedKeys::new(key(9), db.clone());
    provider.create_table().await?;
    let ring = Keyring::new(provider.clone());
    ring.resolve("acme").await?;
    ring.resolve("ACME").await?;
    ensure!(provider.rotate("ACME").await? == 2, "ACME's second key id");
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT tenant, key_id FROM fe_data_keys ORDER BY key_id",
        ))
        .await?;
    let mut got: Vec<(String, i64)> = rows
        .iter()
        .map(|r| Ok((r.try_get_by::<String, _>(0)?, r.try_get_by::<i64, _>(1)?)))
        .collect::<Result<_, sea_orm::DbErr>>()?;
    got.sort();

    ensure!(
        got == [
            ("ACME".to_owned(), 1),
            ("ACME".to_owned(), 2),
            ("acme".to_owned(), 1)
        ],
        "data keys: {got:?}"
    );
    // Retiring ACME's key 1 (no values on it) leaves acme's key 1 in place.
    // A scan of the (empty) notes table: ACME has no value on key 1.
    create_schema(db).await?;
    let usage = keys_in_use(db, &notes()).await?;
    provider.retire("ACME", 1, &usage).await?;
    ring.invalidate("acme");
    ensure!(ring.resolve("acme").await?.has_key(1), "acme lost its key");
    Ok(())
}
