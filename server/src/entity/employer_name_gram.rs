//! Entity of the `employer_name_grams` table: the name search index (one row per distinct
//! character bigram of an employer's name).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "employer_name_grams")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub gram: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub employer_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
