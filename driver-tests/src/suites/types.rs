//! Type round trips: every value is written with bound parameters and read back over both the
//! binary (prepared) and the text protocol, which decode through different sqlx code paths.

use anyhow::{Context as _, ensure};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use rust_decimal::Decimal;
use sqlx::mysql::{MySqlPool, MySqlRow};
use sqlx::{AssertSqlSafe, Row as _};

use crate::case;
use crate::fresh::{Case, Ctx};

/// The suite's cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!("types", decimal_edges),
        case!("types", decimal_out_of_range_is_an_error),
        case!("types", fractional_seconds_0_to_6),
        case!("types", time_beyond_a_day_and_negative),
        case!("types", json_documents),
        case!("types", blob_of_3_mib),
        case!("types", integer_extremes),
        case!("types", nulls_of_every_type),
        case!("types", utf8mb4_with_emoji),
        case!("types", timestamp_follows_session_time_zone),
    ]
}

/// Reads `sql` once over each protocol.
async fn both_protocols(pool: &MySqlPool, sql: &str) -> anyhow::Result<[Vec<MySqlRow>; 2]> {
    let binary = sqlx::query(AssertSqlSafe(sql.to_owned()))
        .fetch_all(pool)
        .await?;
    let text = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .fetch_all(pool)
        .await?;
    Ok([binary, text])
}

async fn decimal_edges(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&[
        "CREATE TABLE d (id INT PRIMARY KEY, money DECIMAL(10,2), wide DECIMAL(38,10))",
    ])
    .await?;
    let values = [
        ("0.00", "0"),
        ("0.01", "0.0000000001"),
        ("-99999999.99", "-999999999999999999.9999999999"),
        ("99999999.99", "999999999999999999.9999999999"),
        ("-0.01", "123456789.0123456789"),
    ];
    for (i, (money, wide)) in values.iter().enumerate() {
        sqlx::query("INSERT INTO d VALUES (?, ?, ?)")
            .bind(i as i32)
            .bind(money.parse::<Decimal>()?)
            .bind(wide.parse::<Decimal>()?)
            .execute(ctx.db.pool())
            .await?;
    }
    for rows in both_protocols(ctx.db.pool(), "SELECT money, wide FROM d ORDER BY id").await? {
        for (row, (money, wide)) in rows.iter().zip(values) {
            let got: (Decimal, Decimal) = (row.try_get(0)?, row.try_get(1)?);
            ensure!(
                got == (money.parse()?, wide.parse()?),
                "{got:?} != ({money}, {wide})"
            );
        }
    }
    Ok(())
}

async fn decimal_out_of_range_is_an_error(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&["CREATE TABLE d (money DECIMAL(10,2))"])
        .await?;
    let err = sqlx::query("INSERT INTO d VALUES (?)")
        .bind("100000000.00".parse::<Decimal>()?)
        .execute(ctx.db.pool())
        .await
        .expect_err("strict mode rejects out-of-range decimals");
    let err = lockstep_tidb::Error::from(err);
    ensure!(
        err.server_code() == Some(1264),
        "expected 1264 out of range, got {err}"
    );
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM d")
        .fetch_one(ctx.db.pool())
        .await?;
    ensure!(n == 0, "a rejected value was stored");
    Ok(())
}

async fn fractional_seconds_0_to_6(ctx: Ctx) -> anyhow::Result<()> {
    for fsp in 0..=6u32 {
        let table = format!("t{fsp}");
        ctx.exec_all(&[&format!(
            "CREATE TABLE {table} (dt DATETIME({fsp}), ts TIMESTAMP({fsp}) NULL, tm TIME({fsp}))"
        )])
        .await?;
        // A value exact at this precision, so rounding (MySQL, TiDB) and truncation (MariaDB)
        // agree.
        let unit = 10u32.pow(6 - fsp);
        let micros = 123_456 / unit * unit;
        let dt = NaiveDate::from_ymd_opt(2024, 2, 29)
            .context("date")?
            .and_hms_micro_opt(23, 59, 58, micros)
            .context("time")?;
        let tm = NaiveTime::from_hms_micro_opt(12, 34, 56, micros).context("time")?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table} VALUES (?, ?, ?)"
        )))
        .bind(dt)
        .bind(dt.and_utc())
        .bind(tm)
        .execute(ctx.db.pool())
        .await?;
        for rows in
            both_protocols(ctx.db.pool(), &format!("SELECT dt, ts, tm FROM {table}")).await?
        {
            let got_dt: NaiveDateTime = rows[0].try_get(0)?;
            let got_ts: chrono::DateTime<chrono::Utc> = rows[0].try_get(1)?;
            let got_tm: NaiveTime = rows[0].try_get(2)?;
            ensure!(
                got_dt == dt && got_ts == dt.and_utc() && got_tm == tm,
                "fsp {fsp}: {got_dt} {got_ts} {got_tm} vs {dt} {tm}"
            );
        }
    }
    Ok(())
}

async fn time_beyond_a_day_and_negative(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&[
        "CREATE TABLE t (id INT PRIMARY KEY, tm TIME(6))",
        "INSERT INTO t VALUES (1, '-838:59:59'), (2, '100:00:00.500000'), (3, '838:59:59')",
    ])
    .await?;
    for rows in both_protocols(ctx.db.pool(), "SELECT tm FROM t ORDER BY id").await? {
        let got: Vec<String> = rows
            .iter()
            .map(|r| {
                r.try_get::<sqlx::mysql::types::MySqlTime, _>(0)
                    .map(|t| t.to_string())
            })
            .collect::<Result<_, _>>()?;
        ensure!(
            got == ["-838:59:59", "100:00:00.5", "838:59:59"]
                || got == ["-838:59:59", "100:00:00.500000", "838:59:59"],
            "{got:?}"
        );
    }
    Ok(())
}

async fn json_documents(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&["CREATE TABLE j (id INT PRIMARY KEY, doc JSON)"])
        .await?;
    let docs = [
        serde_json::json!({"a": 1, "b": [true, null, 2.5], "c": {"d": "é😀"}}),
        serde_json::json!([]),
        serde_json::json!("just a string"),
        serde_json::json!({"big": 9007199254740993u64}),
    ];
    for (i, doc) in docs.iter().enumerate() {
        sqlx::query("INSERT INTO j VALUES (?, ?)")
            .bind(i as i32)
            .bind(sqlx::types::Json(doc))
            .execute(ctx.db.pool())
            .await?;
    }
    for rows in both_protocols(ctx.db.pool(), "SELECT doc FROM j ORDER BY id").await? {
        for (row, want) in rows.iter().zip(&docs) {
            let got: sqlx::types::Json<serde_json::Value> = row.try_get(0)?;
            ensure!(&got.0 == want, "{} != {want}", got.0);
        }
    }
    let b: String =
        sqlx::query_scalar("SELECT JSON_UNQUOTE(JSON_EXTRACT(doc, '$.c.d')) FROM j WHERE id = 0")
            .fetch_one(ctx.db.pool())
            .await?;
    ensure!(b == "é😀", "{b}");
    Ok(())
}

async fn blob_of_3_mib(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&["CREATE TABLE b (id INT PRIMARY KEY, data LONGBLOB)"])
        .await?;
    // Under TiDB's 6 MiB entry limit; every byte value appears.
    let data: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    sqlx::query("INSERT INTO b VALUES (1, ?)")
        .bind(&data)
        .execute(ctx.db.pool())
        .await?;
    let got: Vec<u8> = sqlx::query_scalar("SELECT data FROM b WHERE id = 1")
        .fetch_one(ctx.db.pool())
        .await?;
    ensure!(
        got == data,
        "blob differs (len {} vs {})",
        got.len(),
        data.len()
    );
    let len: i64 = sqlx::query_scalar("SELECT LENGTH(data) FROM b")
        .fetch_one(ctx.db.pool())
        .await?;
    ensure!(len == 3 * 1024 * 1024);
    Ok(())
}

async fn integer_extremes(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&["CREATE TABLE i (u BIGINT UNSIGNED, s BIGINT, t TINYINT)"])
        .await?;
    sqlx::query("INSERT INTO i VALUES (?, ?, ?), (?, ?, ?)")
        .bind(u64::MAX)
        .bind(i64::MIN)
        .bind(i8::MIN)
        .bind(0u64)
        .bind(i64::MAX)
        .bind(i8::MAX)
        .execute(ctx.db.pool())
        .await?;
    for rows in both_protocols(ctx.db.pool(), "SELECT u, s, t FROM i ORDER BY u DESC").await? {
        let first: (u64, i64, i8) = (
            rows[0].try_get(0)?,
            rows[0].try_get(1)?,
            rows[0].try_get(2)?,
        );
        let second: (u64, i64, i8) = (
            rows[1].try_get(0)?,
            rows[1].try_get(1)?,
            rows[1].try_get(2)?,
        );
        ensure!(
            first == (u64::MAX, i64::MIN, i8::MIN) && second == (0, i64::MAX, i8::MAX),
            "{first:?} {second:?}"
        );
    }
    Ok(())
}

async fn nulls_of_every_type(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&["CREATE TABLE n (a BIGINT NULL, b DECIMAL(10,2) NULL, c DATETIME(6) NULL, d VARCHAR(10) NULL, e BLOB NULL, f JSON NULL)"]).await?;
    sqlx::query("INSERT INTO n VALUES (?, ?, ?, ?, ?, ?)")
        .bind(None::<i64>)
        .bind(None::<Decimal>)
        .bind(None::<NaiveDateTime>)
        .bind(None::<String>)
        .bind(None::<Vec<u8>>)
        .bind(None::<sqlx::types::Json<serde_json::Value>>)
        .execute(ctx.db.pool())
        .await?;
    for rows in both_protocols(ctx.db.pool(), "SELECT a, b, c, d, e, f FROM n").await? {
        let r = &rows[0];
        ensure!(r.try_get::<Option<i64>, _>(0)?.is_none());
        ensure!(r.try_get::<Option<Decimal>, _>(1)?.is_none());
        ensure!(r.try_get::<Option<NaiveDateTime>, _>(2)?.is_none());
        ensure!(r.try_get::<Option<String>, _>(3)?.is_none());
        ensure!(r.try_get::<Option<Vec<u8>>, _>(4)?.is_none());
        ensure!(
            r.try_get::<Option<sqlx::types::Json<serde_json::Value>>, _>(5)?
                .is_none()
        );
    }
    Ok(())
}

async fn utf8mb4_with_emoji(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&["CREATE TABLE s (v VARCHAR(64) CHARACTER SET utf8mb4)"])
        .await?;
    let text = "😀 🎸 naïve 中文 𝄞 \u{1F469}\u{200D}\u{1F4BB}";
    sqlx::query("INSERT INTO s VALUES (?)")
        .bind(text)
        .execute(ctx.db.pool())
        .await?;
    for rows in both_protocols(ctx.db.pool(), "SELECT v, CHAR_LENGTH(v), LENGTH(v) FROM s").await? {
        let got: String = rows[0].try_get(0)?;
        let chars: i64 = rows[0].try_get(1)?;
        let bytes: i64 = rows[0].try_get(2)?;
        ensure!(got == text, "{got}");
        ensure!(
            chars as usize == text.chars().count() && bytes as usize == text.len(),
            "{chars} chars {bytes} bytes"
        );
    }
    Ok(())
}

async fn timestamp_follows_session_time_zone(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&["CREATE TABLE z (ts TIMESTAMP(0) NULL, dt DATETIME(0))"])
        .await?;
    let at = NaiveDate::from_ymd_opt(2026, 3, 29)
        .context("date")?
        .and_hms_opt(1, 30, 0)
        .context("time")?;
    // sqlx sets the session to UTC, so a DateTime<Utc> is stored as that instant.
    sqlx::query("INSERT INTO z VALUES (?, ?)")
        .bind(at.and_utc())
        .bind(at)
        .execute(ctx.db.pool())
        .await?;
    let mut conn = ctx.connection().await?;
    sqlx::query("SET time_zone = '+08:00'")
        .execute(&mut conn)
        .await?;
    let (ts, dt): (String, String) =
        sqlx::query_as("SELECT CAST(ts AS CHAR), CAST(dt AS CHAR) FROM z")
            .fetch_one(&mut conn)
            .await?;
    ensure!(
        ts == "2026-03-29 09:30:00",
        "TIMESTAMP shown in +08:00: {ts}"
    );
    ensure!(
        dt == "2026-03-29 01:30:00",
        "DATETIME does not move with the zone: {dt}"
    );
    Ok(())
}
