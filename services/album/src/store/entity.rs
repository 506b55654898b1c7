//! The `albums` table.

use sea_orm::entity::prelude::*;

/// One row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "albums")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Title.
    #[sea_orm(column_type = "String(StringLen::N(200))")]
    pub title: String,
    /// Artist (indexed for the filter).
    #[sea_orm(column_type = "String(StringLen::N(200))")]
    pub artist: String,
    /// Price.
    #[sea_orm(column_type = "Decimal(Some((10, 2)))")]
    pub price: Decimal,
    /// Creation time (UTC).
    pub created_at: ChronoDateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
