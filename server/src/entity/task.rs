//! Entity of the `tasks` table.

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub instance_id: i64,
    pub role: String,
    pub province_code: String,
    pub school_id: i64,
    pub department: Option<String>,
    pub graduate_id: i64,
    pub employer_id: Option<i64>,
    pub def_key: String,
    pub state: String,
    pub opened_at: DateTimeUtc,
    /// When the answer is due (the state's timer), if it is.
    pub due_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
