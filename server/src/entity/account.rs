//! Entity of the `accounts` table.

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub password_hash: Option<String>,
    pub province_code: Option<String>,
    pub school_id: Option<i64>,
    pub department: Option<String>,
    pub graduate_id: Option<i64>,
    pub employer_id: Option<i64>,
    pub perm_employment: String,
    pub perm_archive: String,
    pub perm_hukou: String,
    pub active: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
