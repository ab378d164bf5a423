//! Entity of the `definitions` table.

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "definitions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub key: String,
    pub version: i32,
    pub province: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub source: String,
    pub hash: String,
    pub origin: String,
    pub created_at: DateTimeUtc,
    /// When an administrator retired the version (never active again).
    pub retired_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
