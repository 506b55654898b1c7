//! Scenario: a rolling upgrade across envelope versions — version 1 sealing while older readers
//! remain, rewraps that terminate under it, then the switch to version 2.

use sea_orm::{DatabaseConnection, EntityTrait as _};

use super::support::{ensure, key, new_note, raw_bytes};
use super::{Outcome, create_schema};
use crate::retire::{Table, rewrap_table};
use crate::{Keyring, StaticKeys, with_tenant};

/// acme with keys 1 and 2, `current` new writes, sealing envelope `version`.
fn ring(current: u32, version: u8) -> Keyring {
    Keyring::new(StaticKeys::new().with_tenant(
        "acme",
        current,
        vec![(1, key(1)), (2, key(2))],
        Some(key(101)),
    ))
    .seal_version(version)
}

async fn versions(db: &DatabaseConnection) -> Result<Vec<(u8, u8)>, sea_orm::DbErr> {
    let mut heads: Vec<(u8, u8)> = raw_bytes(db, "SELECT body FROM notes")
        .await?
        .iter()
        .map(|b| (b[0], b[5]))
        .collect();
    heads.sort_unstable();
    Ok(heads)
}

/// Rewraps `acme`'s rows under `keyring` twice: what each run wrote (the second must write 0).
async fn rewrap_twice(
    db: &DatabaseConnection,
    table: &Table<'_>,
    keyring: &Keyring,
) -> Result<(crate::retire::TableProgress, crate::retire::TableProgress), crate::Error> {
    let first = with_tenant(keyring, "acme", rewrap_table(db, table, false, |_, _| ())).await??;
    let second = with_tenant(keyring, "acme", rewrap_table(db, table, false, |_, _| ())).await??;
    Ok((first, second))
}

pub(crate) async fn rolling_upgrade_across_envelope_versions(db: &DatabaseConnection) -> Outcome {
    create_schema(db).await?;
    let table = Table {
        table: "notes",
        pk: "id",
        tenant_column: "tenant",
        columns: &super::retire::COLUMNS[..2],
        batch: 2,
    };
    with_tenant(&ring(1, 1), "acme", async {
        for i in 0..3 {
            sea_orm::ActiveModelTrait::insert(new_note("acme", &format!("t{i}"), "b")?, db).await?;
        }
        Outcome::Ok(())
    })
    .await??;
    ensure!(
        versions(db).await? == [(1, 1); 3],
        "{:?}",
        versions(db).await?
    );
    // A rotation while older readers remain: rewrap moves to key 2 and stays version 1, and a
    // second run writes nothing (comparing with a version 2 head rewrote every row each run).
    let (moved, again) = rewrap_twice(db, &table, &ring(2, 1)).await?;
    ensure!(
        moved.written() == 6 && again.written() == 0,
        "{moved:?} then {again:?}"
    );
    ensure!(
        versions(db).await? == [(1, 2); 3],
        "{:?}",
        versions(db).await?
    );
    // Every reader is new: switch to version 2; the values move over once.
    let v2 = ring(2, 2);
    let (upgraded, after) = rewrap_twice(db, &table, &v2).await?;
    ensure!(
        upgraded.written() == 6 && after.written() == 0,
        "{upgraded:?} then {after:?}"
    );
    ensure!(
        versions(db).await? == [(2, 2); 3],
        "{:?}",
        versions(db).await?
    );
    let notes = with_tenant(
        &v2,
        "acme",
        crate::conformance::note::Entity::find().all(db),
    )
    .await??;
    ensure!(
        notes.len() == 3 && notes.iter().all(|n| n.body.get() == "b"),
        "{notes:?}"
    );
    Ok(())
}
