//! The control album GET by id is measured against: axum and sqlx and nothing else — the same
//! point select on the same `albums` table, a pool of the same size, the same JSON shape — so
//! the ratio prices what the album service adds (its layers, SeaORM, the TiDB driver) on any
//! machine.
//!
//! `BENCH_DATABASE_URL=mysql://… PORT=18090 MAX_CONNECTIONS=16 lockstep-bench-bare`
//!
//! `TEST_BEFORE_ACQUIRE=false` turns off sqlx's ping before each use of a pooled connection
//! (on by default, as in sqlx): the round trips the album service's reads make.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use sqlx::MySqlPool;
use sqlx::mysql::MySqlPoolOptions;

#[derive(serde::Serialize)]
struct Album {
    id: i64,
    title: String,
    artist: String,
    price: String,
    created_at: String,
}

type Row = (i64, String, String, Decimal, DateTime<Utc>);

async fn one(
    State(pool): State<MySqlPool>,
    Path(id): Path<i64>,
) -> Result<axum::Json<Album>, StatusCode> {
    let row: Option<Row> =
        sqlx::query_as("SELECT id, title, artist, price, created_at FROM albums WHERE id = ?")
            .bind(id)
            .fetch_optional(&pool)
            .await
            .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    let (id, title, artist, price, created_at) = row.ok_or(StatusCode::NOT_FOUND)?;
    Ok(axum::Json(Album {
        id,
        title,
        artist,
        price: format!("{price:.2}"),
        created_at: created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
    }))
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}: {text:?} is not a number")),
        Err(_) => Ok(default),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("BENCH_DATABASE_URL")
        .map_err(|_| anyhow::anyhow!("set BENCH_DATABASE_URL (mysql://…/database)"))?;
    let pool = MySqlPoolOptions::new()
        .max_connections(env_or("MAX_CONNECTIONS", 16)?)
        .test_before_acquire(env_or("TEST_BEFORE_ACQUIRE", true)?)
        .connect(&url)
        .await?;
    let app = Router::new()
        .route("/v1/albums/{id}", get(one))
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", env_or("PORT", 18090u16)?)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
