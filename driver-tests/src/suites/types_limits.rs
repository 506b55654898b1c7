//! Where sqlx 0.9 decodes a MySQL value wrongly without an error, each fact is pinned here (so a
//! fixed sqlx shows up as a failing case and the docs get updated) next to the driver's guard
//! (`lockstep_tidb::types`), checked on both protocols. The plain edge cases of the type system
//! are here too: BIT(1), YEAR, FLOAT extremes, TIMESTAMP, values over 16 MiB.

use anyhow::{Context as _, ensure};
use chrono::{NaiveDateTime, NaiveTime, TimeDelta};
use lockstep_tidb::{Db, ExactDecimal, SignedTime, time_delta};
use sqlx::mysql::types::MySqlTime;
use sqlx::mysql::{MySqlConnection, MySqlRow};
use sqlx::{AssertSqlSafe, Row as _};

use super::failover::FAST;
use crate::case;
use crate::fresh::{Case, Ctx};
use crate::target::TargetKind;

/// The suite's cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "types_limits",
            negative_time_keeps_its_sign_through_signed_time
        ),
        case!("types_limits", decimal_beyond_28_places_reads_exactly),
        case!("types_limits", zero_dates_read_as_null_unless_refused),
        case!("types_limits", bit_year_float_and_timestamp),
        case!(exclusive "types_limits", values_over_16_mib_cross_both_protocols),
    ]
}

/// `sql` over the binary (prepared) and the text protocol, in that order.
async fn both(conn: &mut MySqlConnection, sql: &str) -> anyhow::Result<[MySqlRow; 2]> {
    let binary = sqlx::query(AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut *conn)
        .await?;
    let text = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut *conn)
        .await?;
    Ok([binary, text])
}

async fn negative_time_keeps_its_sign_through_signed_time(ctx: Ctx) -> anyhow::Result<()> {
    let t = |h, m, s, ms| {
        TimeDelta::hours(h)
            + TimeDelta::minutes(m)
            + TimeDelta::seconds(s)
            + TimeDelta::milliseconds(ms)
    };
    let values = [
        ("-01:30:00.250000", -t(1, 30, 0, 250)),
        ("-00:30:00", -t(0, 30, 0, 0)),
        ("-00:00:01", -t(0, 0, 1, 0)),
        ("-838:59:59", -t(838, 59, 59, 0)),
        ("838:59:59", t(838, 59, 59, 0)),
        ("00:00:00", TimeDelta::zero()),
        ("12:00:00.5", t(12, 0, 0, 500)),
    ];
    ctx.exec_all(&["CREATE TABLE t (id INT PRIMARY KEY, tm TIME(6))"])
        .await?;
    for (id, (text, _)) in values.iter().enumerate() {
        sqlx::query("INSERT INTO t VALUES (?, ?)")
            .bind(id as i64)
            .bind(*text)
            .execute(ctx.db.pool())
            .await?;
    }
    let mut conn = ctx.connection().await?;
    for (id, (text, want)) in values.iter().enumerate() {
        let [binary, text_row] =
            both(&mut conn, &format!("SELECT tm FROM t WHERE id = {id}")).await?;
        // The guard: right on both protocols.
        for (protocol, row) in [("binary", &binary), ("text", &text_row)] {
            let SignedTime(got) = row.try_get(0)?;
            ensure!(got == *want, "{protocol}: {text} read as {got}");
        }
    }
    // sqlx: NaiveTime drops the sign on the binary protocol (and refuses on the text one).
    let [binary, text] = both(&mut conn, "SELECT tm FROM t WHERE id = 0").await?;
    let dropped: NaiveTime = binary.try_get(0)?;
    ensure!(
        dropped == NaiveTime::from_hms_micro_opt(1, 30, 0, 250_000).context("time")?,
        "sqlx now decodes a negative TIME as {dropped}: update lockstep_tidb::types and the README"
    );
    ensure!(text.try_get::<NaiveTime, _>(0).is_err());
    // sqlx: MySqlTime over the text protocol drops the sign when the hours are 0 (the sign is
    // parsed from the hours); over binary it is right.
    let [binary, text] = both(&mut conn, "SELECT tm FROM t WHERE id = 1").await?;
    let over_binary = time_delta(&binary.try_get::<MySqlTime, _>(0)?);
    let over_text = time_delta(&text.try_get::<MySqlTime, _>(0)?);
    ensure!(over_binary == -t(0, 30, 0, 0), "{over_binary}");
    ensure!(
        over_text == t(0, 30, 0, 0),
        "sqlx now reads -00:30:00 over text as {over_text}: update lockstep_tidb::types and the README"
    );
    Ok(())
}

async fn decimal_beyond_28_places_reads_exactly(ctx: Ctx) -> anyhow::Result<()> {
    let tiny = "0.000000000000000000000000000001";
    let wide = "12345678901234567890123456789012345.123456789012345678901234567890";
    ctx.exec_all(&[
        "CREATE TABLE d (id INT PRIMARY KEY, v DECIMAL(65,30))",
        &format!("INSERT INTO d VALUES (1, {tiny}), (2, {wide})"),
    ])
    .await?;
    let mut conn = ctx.connection().await?;
    for (id, exact) in [(1, tiny), (2, wide)] {
        let [binary, text] = both(&mut conn, &format!("SELECT v FROM d WHERE id = {id}")).await?;
        for row in [&binary, &text] {
            let got: ExactDecimal = row.try_get(0)?;
            ensure!(got.0 == exact, "{} read as {}", exact, got.0);
            ensure!(
                got.to_decimal().is_err(),
                "{exact} converted without an error"
            );
        }
    }
    // sqlx: rust_decimal rounds 1e-30 to zero without an error, on both protocols.
    let [binary, text] = both(&mut conn, "SELECT v FROM d WHERE id = 1").await?;
    for row in [binary, text] {
        let rounded: rust_decimal::Decimal = row.try_get(0)?;
        ensure!(
            rounded.is_zero(),
            "sqlx now reads 1e-30 as {rounded}: update lockstep_tidb::types and the README"
        );
    }
    Ok(())
}

async fn zero_dates_read_as_null_unless_refused(ctx: Ctx) -> anyhow::Result<()> {
    let mut conn = ctx.connection().await?;
    sqlx::raw_sql(
        "SET SESSION sql_mode = ''; CREATE TABLE z (dt DATETIME NOT NULL); \
         INSERT INTO z VALUES ('0000-00-00 00:00:00')",
    )
    .execute(&mut conn)
    .await?;
    let [binary, text] = both(&mut conn, "SELECT dt FROM z").await?;
    // sqlx: the binary protocol's empty value reads as NULL from a NOT NULL column.
    let null: Option<NaiveDateTime> = binary.try_get(0)?;
    ensure!(
        null.is_none(),
        "sqlx now reads a zero date as {null:?}: update lockstep_tidb::types and the README"
    );
    ensure!(text.try_get::<Option<NaiveDateTime>, _>(0).is_err());
    // The guard: a strict sql_mode from the URL makes the server refuse to store one.
    let url = format!(
        "{}{}set.sql_mode=STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE",
        ctx.url,
        if ctx.url.contains('?') { '&' } else { '?' }
    );
    let strict = Db::connect_with(url.parse()?, FAST).await?;
    let refused = sqlx::query("INSERT INTO z VALUES ('0000-00-00 00:00:00')")
        .execute(strict.pool())
        .await
        .err()
        .context("a zero date was stored under the strict sql_mode")?;
    let code = lockstep_tidb::Error::from(refused).server_code();
    // 1292 ER_TRUNCATED_WRONG_VALUE (MariaDB, MySQL), 1525 ER_WRONG_VALUE (MySQL 8, TiDB)
    ensure!(matches!(code, Some(1292 | 1525)), "error code {code:?}");
    Ok(())
}

async fn bit_year_float_and_timestamp(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&[
        "CREATE TABLE m (b BIT(1), y YEAR, f FLOAT, lo FLOAT, d DOUBLE, ts TIMESTAMP NULL)",
        "INSERT INTO m VALUES (b'1', 2155, 3.40282e38, -1.17549e-38, 4.9e-324, '2026-01-02 03:04:05')",
    ])
    .await?;
    let mut conn = ctx.connection().await?;
    sqlx::raw_sql("SET time_zone = '+00:00'")
        .execute(&mut conn)
        .await?;
    sqlx::query("INSERT INTO m (f, d) VALUES (?, ?)")
        .bind(f32::MAX)
        .bind(f64::MAX)
        .execute(&mut conn)
        .await?;
    // FLOAT's extreme does not round-trip over the text protocol: the server prints a FLOAT
    // with 6 significant digits. DOUBLE's does (17 digits).
    let [binary, text] = both(&mut conn, "SELECT f, d FROM m WHERE y IS NULL").await?;
    ensure!(binary.try_get::<f32, _>(0)? == f32::MAX, "binary: f32::MAX");
    let f: f32 = text.try_get(0)?;
    ensure!(
        f == 3.40282e38 && f != f32::MAX,
        "text: f32::MAX read as {f}: update the README's FLOAT note"
    );
    for row in [&binary, &text] {
        ensure!(row.try_get::<f64, _>(1)? == f64::MAX, "DOUBLE max");
    }
    let [binary, text] = both(
        &mut conn,
        "SELECT b, y, f, lo, d, ts FROM m WHERE y IS NOT NULL",
    )
    .await?;
    for (protocol, row) in [("binary", &binary), ("text", &text)] {
        ensure!(row.try_get::<u8, _>(0)? == 1, "{protocol}: BIT(1) as u8");
        ensure!(row.try_get::<u16, _>(1)? == 2155, "{protocol}: YEAR");
        ensure!(
            row.try_get::<f32, _>(2)? == 3.40282e38,
            "{protocol}: FLOAT max"
        );
        ensure!(
            row.try_get::<f32, _>(3)? == -1.17549e-38,
            "{protocol}: FLOAT min normal"
        );
        ensure!(
            row.try_get::<f64, _>(4)? == 5e-324,
            "{protocol}: DOUBLE min subnormal"
        );
        let ts: chrono::DateTime<chrono::Utc> = row.try_get(5)?;
        ensure!(
            ts.to_rfc3339() == "2026-01-02T03:04:05+00:00",
            "{protocol}: {ts}"
        );
        // A TIMESTAMP is an instant: sqlx refuses it as NaiveDateTime (an error, not a guess).
        ensure!(row.try_get::<NaiveDateTime, _>(5).is_err(), "{protocol}");
    }
    // BIT(1) as bool: binary yes; text refuses (an error, not a wrong value) — read u8 there.
    ensure!(binary.try_get::<bool, _>(0)?);
    ensure!(text.try_get::<bool, _>(0).is_err());
    Ok(())
}

async fn values_over_16_mib_cross_both_protocols(ctx: Ctx) -> anyhow::Result<()> {
    const SIZE: usize = 17 << 20;
    if ctx.kind == TargetKind::Tidb {
        return tidb_refuses_entries_over_its_limit(&ctx, SIZE).await;
    }
    let before: i64 = sqlx::query_scalar("SELECT CAST(@@GLOBAL.max_allowed_packet AS SIGNED)")
        .fetch_one(ctx.db.pool())
        .await?;
    let set = |bytes: i64| format!("SET GLOBAL max_allowed_packet = {bytes}");
    sqlx::raw_sql(AssertSqlSafe(set(64 << 20)))
        .execute(ctx.db.pool())
        .await?;
    let outcome = async {
        // Over 16 MiB a MySQL packet is split in several.
        let mut conn = ctx.connection().await?;
        sqlx::raw_sql("CREATE TABLE big (id INT PRIMARY KEY, body LONGBLOB)")
            .execute(&mut conn)
            .await?;
        let body: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
        sqlx::query("INSERT INTO big VALUES (1, ?)")
            .bind(&body)
            .execute(&mut conn)
            .await?;
        let sql = "SELECT body FROM big WHERE id = 1";
        // The binary protocol reassembles the split packets: the value comes back whole, and
        // the connection is still in step.
        let row = sqlx::query(sql).fetch_one(&mut conn).await?;
        let got: Vec<u8> = row.try_get(0)?;
        ensure!(got == body, "binary: {} bytes came back altered", got.len());
        let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut conn).await?;
        ensure!(one == 1);
        // sqlx: the text protocol returns no row at all, and leaves the rest of the value
        // unread, so the connection's next statement fails. (Closed here, never pooled.)
        let text = sqlx::raw_sql(sql).fetch_optional(&mut conn).await?;
        let next = sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(&mut conn)
            .await;
        ensure!(
            text.is_none() && next.is_err(),
            "sqlx now reads a {SIZE}-byte value over the text protocol ({:?} row, next {next:?}): \
             update lockstep_tidb::types and the README",
            text.map(|r| r.len())
        );
        Ok(())
    }
    .await;
    sqlx::raw_sql(AssertSqlSafe(set(before)))
        .execute(ctx.db.pool())
        .await?;
    outcome
}

/// TiDB caps one row at `txn-entry-size-limit` (6 MiB by default): the row is refused with
/// 8025, so the 16 MiB protocol case cannot arise there.
async fn tidb_refuses_entries_over_its_limit(ctx: &Ctx, size: usize) -> anyhow::Result<()> {
    ctx.exec_all(&["CREATE TABLE big (id INT PRIMARY KEY, body LONGBLOB)"])
        .await?;
    let refused = sqlx::query("INSERT INTO big VALUES (1, ?)")
        .bind(vec![0u8; size])
        .execute(ctx.db.pool())
        .await
        .err()
        .context("TiDB stored a row over its entry size limit")?;
    let code = lockstep_tidb::Error::from(refused).server_code();
    ensure!(code == Some(8025), "error code {code:?}");
    Ok(())
}
