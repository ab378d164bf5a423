//! Entity of the `instances` table.

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "instances")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub def_id: String,
    pub def_key: String,
    pub module: String,
    pub list: Option<String>,
    /// The item's type in its list: the value of the definition's `list_type` field.
    pub type_code: Option<String>,
    pub state: String,
    pub label: String,
    pub status_detail: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub review: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub vars: String,
    #[sea_orm(column_type = "Text")]
    pub params: String,
    pub province_code: String,
    pub school_id: i64,
    pub department: String,
    pub graduate_id: i64,
    pub employer_id: Option<i64>,
    /// The graduate's major, education level and cohort when the instance started: where it
    /// is counted (`stat_counts`).
    pub major: String,
    pub education_level: String,
    pub cohort: i32,
    pub initiator: String,
    pub initiator_role: String,
    pub is_final: bool,
    pub row_version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
