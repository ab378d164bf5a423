//! An upload belongs to the one instance whose form first used it: the same stamped image
//! cannot be handed in again as another application's evidence (SPEC.md 6.3).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Uploads {
    Table,
    InstanceId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Uploads::Table)
                    .add_column(ColumnDef::new(Uploads::InstanceId).big_integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Uploads::Table)
                    .drop_column(Uploads::InstanceId)
                    .to_owned(),
            )
            .await
    }
}
