//! Entity of the `transfer_numbers` table: the transfer number (转递编号) a school generated for
//! a graduate with a reported destination, stale once an important field changed.

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "transfer_numbers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub graduate_id: i64,
    pub kind: String,
    pub school_id: i64,
    pub department: String,
    pub number: String,
    pub stale: bool,
    pub generated_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
