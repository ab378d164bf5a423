//! Entity of the `stat_counts` table: how many instances stand in each state per school,
//! cohort, department, major, education level, flow, destination type, list and status label
//! (migrations 12 and 14).

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "stat_counts")]
pub struct Model {
    pub province_code: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub school_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub cohort: i32,
    /// `1` per department, major and education level; `0` the school's total.
    #[sea_orm(primary_key, auto_increment = false)]
    pub grain: i16,
    #[sea_orm(primary_key, auto_increment = false)]
    pub department: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub major: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub education_level: String,
    /// The flow, or `_roster` (the graduates on the roster).
    #[sea_orm(primary_key, auto_increment = false)]
    pub def_key: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub state: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub type_code: String,
    /// The instance's management list (empty for the roster's counts; migration 14).
    #[sea_orm(primary_key, auto_increment = false)]
    pub list: String,
    /// The instance's status label in its own definition version (empty for the roster's).
    #[sea_orm(primary_key, auto_increment = false)]
    pub label: String,
    pub n: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
