//! The migration runner on SQLite and on the MySQL-protocol server of
//! `DRIVER_TESTS_MARIADB_URL`: order and once-only, a ledger from a newer release (a rollback)
//! accepted, a failure that keeps what ran before it, `require_current`, and on the server two
//! replicas migrating at once and a lock held elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use lockstep_service_kit::database::Database;
use lockstep_service_kit::migrate::{self, MigrateError, Migration, Step};
use sea_orm::ConnectionTrait;

/// Each migration adds a row to `steps`, so the test sees what ran how often.
fn record<'a>(db: &'a Database, name: &'static str) -> Step<'a> {
    Box::pin(async move {
        db.conn()
            .execute_unprepared("CREATE TABLE IF NOT EXISTS steps (name VARCHAR(64) NOT NULL)")
            .await?;
        // Long enough for a second replica to arrive while the first one migrates.
        tokio::time::sleep(Duration::from_millis(200)).await;
        db.conn()
            .execute_unprepared(&format!("INSERT INTO steps (name) VALUES ('{name}')"))
            .await?;
        Ok(())
    })
}

fn one(db: &Database) -> Step<'_> {
    record(db, "0001_one")
}
fn two(db: &Database) -> Step<'_> {
    record(db, "0002_two")
}
fn broken(db: &Database) -> Step<'_> {
    Box::pin(async move {
        db.conn()
            .execute_unprepared("ALTER TABLE no_such_table ADD COLUMN x INTEGER")
            .await?;
        Ok(())
    })
}

const ONE: Migration = Migration {
    name: "0001_one",
    up: one,
};
const TWO: Migration = Migration {
    name: "0002_two",
    up: two,
};

async fn steps(db: &Database) -> Vec<String> {
    let rows = db
        .conn()
        .query_all_raw(sea_orm::Statement::from_string(
            db.conn().get_database_backend(),
            "SELECT name FROM steps ORDER BY name",
        ))
        .await
        .unwrap();
    rows.iter().map(|r| r.try_get_by(0).unwrap()).collect()
}

async fn scenarios(db: &Database) {
    // Fresh: in order, then nothing to do.
    let report = migrate::run(db, "svc", &[ONE, TWO]).await.unwrap();
    assert_eq!(report.applied, ["0001_one", "0002_two"]);
    let again = migrate::run(db, "svc", &[ONE, TWO]).await.unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(again.already, ["0001_one", "0002_two"]);
    assert_eq!(steps(db).await, ["0001_one", "0002_two"], "each ran once");

    // The previous release (it knows only ONE) after TWO was applied: starts, leaves TWO.
    let rollback = migrate::run(db, "svc", &[ONE]).await.unwrap();
    assert_eq!(rollback.newer, ["0002_two"]);
    migrate::require_current(db, "svc", &[ONE]).await.unwrap();

    // Another service's ledger is its own.
    assert_eq!(
        migrate::pending(db, "other", &[ONE]).await.unwrap(),
        ["0001_one"]
    );
    match migrate::require_current(db, "other", &[ONE]).await {
        Err(MigrateError::Pending { pending, .. }) => assert_eq!(pending, ["0001_one"]),
        other => panic!("{other:?}"),
    }

    // A failing migration: what ran before it stays applied and recorded, nothing after it.
    const BROKEN: Migration = Migration {
        name: "0002_broken",
        up: broken,
    };
    let err = migrate::run(db, "third", &[ONE, BROKEN, TWO])
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            MigrateError::Failed {
                name: "0002_broken",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        migrate::pending(db, "third", &[ONE, BROKEN, TWO])
            .await
            .unwrap(),
        ["0002_broken", "0002_two"]
    );
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let db = Database::connect(None, path.to_str().unwrap(), 2)
        .await
        .unwrap();
    scenarios(&db).await;
}

#[tokio::test]
async fn mysql_server() {
    let Some(fresh) = lockstep_service_kit::testing::fresh_database("kit_migrate").await else {
        return;
    };
    let db = Database::connect(Some(&fresh.url), "", 4).await.unwrap();
    scenarios(&db).await;

    // Two replicas start together: each migration runs once, one of them applies it.
    let (a, b) = tokio::join!(
        migrate::run(&db, "pair", &[ONE, TWO]),
        migrate::run(&db, "pair", &[ONE, TWO])
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut applied = [a.applied.clone(), b.applied.clone()].concat();
    applied.sort();
    assert_eq!(applied, ["0001_one", "0002_two"], "{a:?} {b:?}");
    // The earlier scenarios ran each step once for `svc` and once for `third`'s ONE.
    let counts = steps(&db).await;
    assert_eq!(
        counts.iter().filter(|s| *s == "0002_two").count(),
        2,
        "svc and pair, each once: {counts:?}"
    );

    // A lock held by another session: refused after the wait, naming the service.
    let other = Database::connect(Some(&fresh.url), "", 1).await.unwrap();
    let mut holder = other
        .tidb()
        .as_ref()
        .unwrap()
        .pool()
        .acquire()
        .await
        .unwrap();
    let held: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK('lockstep_migrate_busy', 5)")
        .fetch_one(&mut *holder)
        .await
        .unwrap();
    assert_eq!(held, Some(1));
    let err = migrate::run_waiting(&db, "busy", &[ONE], Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MigrateError::Locked { service, .. } if service == "busy"),
        "{err}"
    );
    drop(holder);
    fresh.drop_database().await;
}
