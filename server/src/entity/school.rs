//! Entity of the `schools` table.

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "schools")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub code: String,
    pub name: String,
    pub province_code: String,
    pub review_mode_employment: String,
    pub review_mode_archive: String,
    pub review_mode_hukou: String,
    pub signing_enabled: bool,
    /// 补登开关 (on by default; irreversible once anyone acted).
    pub supplement_enabled: bool,
    /// 填报去向登记 (on by default; irreversible once anyone acted).
    pub destination_enabled: bool,
    pub archive_enabled: bool,
    pub hukou_enabled: bool,
    pub termination_cap: i32,
    #[sea_orm(column_type = "Text")]
    pub handler_info: String,
    pub settings_saved: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
