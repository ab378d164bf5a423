//! Entity of the `verifications` table: a graduate's verification authorizations (核验授权) of
//! their archive or hukou data, each with its verification number (核验编号).

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "verifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub graduate_id: i64,
    pub school_id: i64,
    pub province_code: String,
    pub kind: String,
    pub number: String,
    pub valid_until: DateTimeUtc,
    pub status: String,
    pub instance_id: i64,
    pub confirmation_version: i32,
    pub created_at: DateTimeUtc,
    pub ended_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
