//! Entity of the `action_links` table: single-use links for one system action.

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "action_links")]
pub struct Model {
    /// SHA-256 (hex) of the token; the token itself is only in the message sent.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    pub instance_id: i64,
    pub action: String,
    /// The state the instance must still be in.
    pub state: String,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
