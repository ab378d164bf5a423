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
    /// An API key's kind: `roster` or `identity` (see `auth::KeyKind`).
    pub key_kind: Option<String>,
    /// The account that made this one (an API key's maker).
    pub created_by: Option<i64>,
    /// Failed password logins in a row.
    pub failed_logins: i32,
    /// Password logins are refused until then (too many failures).
    pub locked_until: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
