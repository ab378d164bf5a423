//! Entity of the `employer_warnings` table: one row per (employer, school) pair.

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "employer_warnings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub employer_id: i64,
    pub school_id: i64,
    pub reason: String,
    pub active: bool,
    pub marked_by: i64,
    pub marked_at: DateTimeUtc,
    pub unmark_reason: Option<String>,
    pub unmarked_by: Option<i64>,
    pub unmarked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
