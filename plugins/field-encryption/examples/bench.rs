//! Field-encryption benchmarks, measured side by side in one run.
//!
//! ```text
//! cargo run --release -p lockstep-field-encryption --example bench [-- mysql://root@127.0.0.1:3306/test]
//! ```
//!
//! 1. seal/open of 16 B … 64 KiB against raw `aes-gcm` 0.10 and raw `ring` 0.17 (the AEAD the
//!    plugin uses) encrypt/decrypt of the same buffer;
//! 2. SeaORM insert + select by id of 10,000 rows with two encrypted columns against the same
//!    entity in plaintext, on SQLite in memory and on the MySQL-protocol server given (MariaDB by
//!    default). Blocks of 500 rows alternate between the two sides so drift hits both.
#![allow(unreachable_pub)] // entity modules of a single-file example

use std::hint::black_box;
use std::time::{Duration, Instant};

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use lockstep_field_encryption::digest::column_digest;
use lockstep_field_encryption::envelope::{open_digest, seal_digest};
use lockstep_field_encryption::{
    Encrypted, KeyMaterial, Keyring, StaticKeys, TenantKeys, with_tenant,
};
use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectOptions, ConnectionTrait, Database,
    DatabaseConnection, EntityTrait,
};

lockstep_field_encryption::encrypted_column!(Title, "bench_enc.title");
lockstep_field_encryption::encrypted_column!(Body, "bench_enc.body");

mod enc {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_enc")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub title: lockstep_field_encryption::Encrypted<String, super::Title>,
        pub body: lockstep_field_encryption::Encrypted<String, super::Body>,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

mod plain {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_plain")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub title: String,
        pub body: String,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

/// Raw `ring` AES-256-GCM as a caller without the envelope would use it: one allocation for
/// ciphertext and tag, like `raw.encrypt` and like a seal.
fn ring_encrypt(key: &LessSafeKey, nonce: [u8; 12], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(data);
    let nonce = ring::aead::Nonce::assume_unique_for_key(nonce);
    key.seal_in_place_append_tag(nonce, ring::aead::Aad::empty(), &mut out)
        .expect("ring seal");
    out
}

fn ring_decrypt(key: &LessSafeKey, nonce: [u8; 12], sealed: &[u8]) -> Vec<u8> {
    let mut out = sealed.to_vec();
    let nonce = ring::aead::Nonce::assume_unique_for_key(nonce);
    let len = key
        .open_in_place(nonce, ring::aead::Aad::empty(), &mut out)
        .expect("ring open")
        .len();
    out.truncate(len);
    out
}

fn micro() {
    let keys = TenantKeys::new("acme", 1, &[(1, KeyMaterial::new([7; 32]))], None).expect("keys");
    let raw = Aes256Gcm::new(&[7u8; 32].into());
    let ring_key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).expect("ring key"));
    // As `Encrypted<T, C>` seals: the column digest is a compile-time constant.
    const BODY: [u8; 10] = column_digest("notes.body");
    let seal = |data: &[u8]| seal_digest(&keys, "notes.body", &BODY, None, data);
    let open = |env: &[u8]| open_digest(&keys, "notes.body", &BODY, None, env);
    println!(
        "seal/open vs raw aes-gcm 0.10 and raw ring 0.17 (ns per operation, best of 11 interleaved rounds)"
    );
    println!(
        "{:>6} {:>7} {:>6} {:>6} {:>7} {:>6} {:>7} {:>6} {:>6} {:>7} {:>6}",
        "bytes",
        "aes-gcm",
        "ring",
        "seal",
        "/aesgcm",
        "/ring",
        "aes-gcm",
        "ring",
        "open",
        "/aesgcm",
        "/ring"
    );
    for (size, iters) in [
        (16usize, 200_000u32),
        (256, 200_000),
        (1024, 100_000),
        (65_536, 2_000),
    ] {
        let data = vec![0x5Au8; size];
        let n = [3u8; 12];
        let nonce = Nonce::from(n);
        let raw_ct = raw.encrypt(&nonce, data.as_slice()).expect("raw encrypt");
        let ring_ct = ring_encrypt(&ring_key, n, &data);
        let env = seal(&data).expect("seal");
        let mut best = [Duration::MAX; 6];
        for _ in 0..11 {
            let timings = [
                time(iters, || {
                    drop(black_box(
                        raw.encrypt(&nonce, black_box(data.as_slice()))
                            .expect("enc"),
                    ))
                }),
                time(iters, || {
                    drop(black_box(ring_encrypt(&ring_key, n, black_box(&data))))
                }),
                time(iters, || {
                    drop(black_box(seal(black_box(&data)).expect("seal")))
                }),
                time(iters, || {
                    drop(black_box(
                        raw.decrypt(&nonce, black_box(raw_ct.as_slice()))
                            .expect("dec"),
                    ))
                }),
                time(iters, || {
                    drop(black_box(ring_decrypt(&ring_key, n, black_box(&ring_ct))))
                }),
                time(iters, || {
                    drop(black_box(open(black_box(&env)).expect("open")))
                }),
            ];
            for (b, t) in best.iter_mut().zip(timings) {
                *b = (*b).min(t);
            }
        }
        let ns = |d: Duration| d.as_nanos() as f64 / f64::from(iters);
        let [ae, re, se, ad, rd, op] = best.map(ns);
        println!(
            "{size:>6} {ae:>7.0} {re:>6.0} {se:>6.0} {:>7.3} {:>6.3} {ad:>7.0} {rd:>6.0} {op:>6.0} {:>7.3} {:>6.3}",
            se / ae,
            se / re,
            op / ad,
            op / rd
        );
    }
}

fn time(iters: u32, mut f: impl FnMut()) -> Duration {
    let started = Instant::now();
    for _ in 0..iters {
        f();
    }
    started.elapsed()
}

async fn orm(
    label: &str,
    db: &DatabaseConnection,
    keyring: &Keyring,
) -> Result<(), Box<dyn std::error::Error>> {
    let id = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Sqlite => "id INTEGER PRIMARY KEY AUTOINCREMENT",
        _ => "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
    };
    db.execute_unprepared("DROP TABLE IF EXISTS bench_enc")
        .await?;
    db.execute_unprepared("DROP TABLE IF EXISTS bench_plain")
        .await?;
    db.execute_unprepared(&format!(
        "CREATE TABLE bench_enc ({id}, title BLOB NOT NULL, body BLOB NOT NULL)"
    ))
    .await?;
    db.execute_unprepared(&format!(
        "CREATE TABLE bench_plain ({id}, title VARCHAR(255) NOT NULL, body TEXT NOT NULL)"
    ))
    .await?;
    let body = "x".repeat(200);
    let (mut t_plain, mut t_enc) = (Duration::ZERO, Duration::ZERO);
    for block in 0..20i64 {
        let ids = (block * 500 + 1)..=(block * 500 + 500);
        let plain_side = async {
            let started = Instant::now();
            for i in ids.clone() {
                plain::ActiveModel {
                    title: Set(format!("title {i}")),
                    body: Set(body.clone()),
                    ..Default::default()
                }
                .insert(db)
                .await?;
            }
            for i in ids.clone() {
                let row = plain::Entity::find_by_id(i)
                    .one(db)
                    .await?
                    .ok_or("missing row")?;
                black_box(row.body.len());
            }
            Ok::<_, Box<dyn std::error::Error>>(started.elapsed())
        };
        let enc_side = with_tenant(keyring, "acme", async {
            let started = Instant::now();
            for i in ids.clone() {
                enc::ActiveModel {
                    title: Set(Encrypted::new(format!("title {i}"))?),
                    body: Set(Encrypted::new(body.clone())?),
                    ..Default::default()
                }
                .insert(db)
                .await?;
            }
            for i in ids.clone() {
                let row = enc::Entity::find_by_id(i)
                    .one(db)
                    .await?
                    .ok_or("missing row")?;
                black_box(row.body.get().len());
            }
            Ok::<_, Box<dyn std::error::Error>>(started.elapsed())
        });
        if block % 2 == 0 {
            t_plain += plain_side.await?;
            t_enc += enc_side.await??;
        } else {
            t_enc += enc_side.await??;
            t_plain += plain_side.await?;
        }
    }
    println!(
        "{label:<28} plaintext {:>7.2} s   encrypted {:>7.2} s   ratio {:.3}",
        t_plain.as_secs_f64(),
        t_enc.as_secs_f64(),
        t_enc.as_secs_f64() / t_plain.as_secs_f64()
    );
    db.execute_unprepared("DROP TABLE bench_enc").await?;
    db.execute_unprepared("DROP TABLE bench_plain").await?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    micro();
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "mysql://root@127.0.0.1:3306/test".into());
    if url == "--micro-only" {
        return Ok(());
    }
    let keyring = Keyring::new(StaticKeys::new().with_tenant(
        "acme",
        1,
        vec![(1, KeyMaterial::generate())],
        None,
    ));
    println!("\nSeaORM: 10,000 inserts + 10,000 selects by id, two encrypted columns (200 B body)");
    let sqlite = Database::connect(
        ConnectOptions::new("sqlite::memory:")
            .max_connections(1)
            .to_owned(),
    )
    .await?;
    orm("SQLite (in memory)", &sqlite, &keyring).await?;
    let server = Database::connect(url.as_str()).await?;
    let version = server
        .query_one_raw(sea_orm::Statement::from_string(
            server.get_database_backend(),
            "SELECT VERSION()",
        ))
        .await?;
    let version: String = version
        .map(|r| r.try_get_by(0))
        .transpose()?
        .unwrap_or_default();
    orm(&format!("server {version}"), &server, &keyring).await?;
    Ok(())
}
