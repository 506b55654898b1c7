//! CRUD of the seed's `albums` table over the binary (prepared) protocol, the text protocol and
//! SeaORM on the driver's pool.

use anyhow::ensure;
use rust_decimal::Decimal;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, QueryOrder};

use crate::case;
use crate::fresh::{Case, Ctx};

/// The seed's table, as the album service uses it.
pub const ALBUMS_DDL: &str = "CREATE TABLE albums (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    title VARCHAR(255) NOT NULL,
    artist VARCHAR(255) NOT NULL,
    price DECIMAL(10,2) NOT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY artist (artist)
)";

/// SeaORM entity of `albums`.
pub mod album {
    use sea_orm::entity::prelude::*;

    /// One album row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "albums")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Title.
        pub title: String,
        /// Artist.
        pub artist: String,
        /// Price, DECIMAL(10,2).
        pub price: Decimal,
        /// Insert time.
        pub created_at: DateTime,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The suite's cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!("crud", prepared_protocol_crud),
        case!("crud", text_protocol_crud),
        case!("crud", sea_orm_crud_on_the_driver_pool),
    ]
}

async fn prepared_protocol_crud(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&[ALBUMS_DDL]).await?;
    let pool = ctx.db.pool();
    let rows = [
        ("Blue Train", "John Coltrane", "56.99"),
        ("Jeru", "Gerry Mulligan", "17.99"),
        ("Sarah Vaughan", "Sarah Vaughan", "39.99"),
    ];
    let mut ids = Vec::new();
    for (title, artist, price) in rows {
        let done = sqlx::query("INSERT INTO albums (title, artist, price) VALUES (?, ?, ?)")
            .bind(title)
            .bind(artist)
            .bind(price.parse::<Decimal>()?)
            .execute(pool)
            .await?;
        ids.push(done.last_insert_id());
    }
    let (title, price): (String, Decimal) =
        sqlx::query_as("SELECT title, price FROM albums WHERE id = ?")
            .bind(ids[1])
            .fetch_one(pool)
            .await?;
    ensure!(
        title == "Jeru" && price == "17.99".parse::<Decimal>()?,
        "read back {title} {price}"
    );

    let updated = sqlx::query("UPDATE albums SET price = price + ? WHERE artist = ?")
        .bind(Decimal::new(100, 2))
        .bind("John Coltrane")
        .execute(pool)
        .await?
        .rows_affected();
    ensure!(updated == 1, "updated {updated} rows");
    let price: Decimal = sqlx::query_scalar("SELECT price FROM albums WHERE id = ?")
        .bind(ids[0])
        .fetch_one(pool)
        .await?;
    ensure!(
        price == "57.99".parse::<Decimal>()?,
        "price after update {price}"
    );

    let deleted = sqlx::query("DELETE FROM albums WHERE id = ?")
        .bind(ids[2])
        .execute(pool)
        .await?
        .rows_affected();
    ensure!(deleted == 1);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM albums")
        .fetch_one(pool)
        .await?;
    ensure!(left == 2, "{left} rows left");
    let missing = sqlx::query("SELECT id FROM albums WHERE id = ?")
        .bind(ids[2])
        .fetch_optional(pool)
        .await?;
    ensure!(missing.is_none());
    Ok(())
}

async fn text_protocol_crud(ctx: Ctx) -> anyhow::Result<()> {
    use sqlx::Row as _;
    ctx.exec_all(&[
        ALBUMS_DDL,
        "INSERT INTO albums (title, artist, price) VALUES ('Kind of Blue', 'Miles Davis', 9.99), ('A Love Supreme', 'John Coltrane', 12.50)",
        "UPDATE albums SET price = 10.49 WHERE title = 'Kind of Blue'",
        "DELETE FROM albums WHERE title = 'A Love Supreme'",
    ])
    .await?;
    // raw_sql uses the text protocol: values arrive as strings and are decoded by sqlx.
    let rows = sqlx::raw_sql("SELECT title, artist, price FROM albums ORDER BY id")
        .fetch_all(ctx.db.pool())
        .await?;
    ensure!(rows.len() == 1, "{} rows", rows.len());
    let price: Decimal = rows[0].try_get("price")?;
    let title: String = rows[0].try_get("title")?;
    ensure!(
        title == "Kind of Blue" && price == "10.49".parse::<Decimal>()?,
        "{title} {price}"
    );
    Ok(())
}

async fn sea_orm_crud_on_the_driver_pool(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&[ALBUMS_DDL]).await?;
    let conn = ctx.db.sea_orm();
    let now = chrono::Utc::now().naive_utc();
    let inserted = album::ActiveModel {
        title: Set("Giant Steps".into()),
        artist: Set("John Coltrane".into()),
        price: Set("23.99".parse()?),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&conn)
    .await?;
    let mut active: album::ActiveModel = inserted.clone().into();
    active.price = Set("19.99".parse()?);
    let updated = active.update(&conn).await?;
    ensure!(updated.price == "19.99".parse::<Decimal>()?);

    let by_artist = album::Entity::find()
        .filter(album::Column::Artist.eq("John Coltrane"))
        .order_by_asc(album::Column::Id)
        .all(&conn)
        .await?;
    ensure!(by_artist.len() == 1 && by_artist[0].title == "Giant Steps");
    // The SeaORM connection shares the driver's pool: a row written through it is visible to
    // plain sqlx on the same pool.
    let via_sqlx: String = sqlx::query_scalar("SELECT title FROM albums WHERE id = ?")
        .bind(inserted.id)
        .fetch_one(ctx.db.pool())
        .await?;
    ensure!(via_sqlx == "Giant Steps");
    album::Entity::delete_by_id(inserted.id).exec(&conn).await?;
    ensure!(
        album::Entity::find_by_id(inserted.id)
            .one(&conn)
            .await?
            .is_none()
    );
    Ok(())
}
