//! Roster imports with rejected rows (issue 14): the rows and why, kept so that the importer
//! downloads them as an XLSX error report (`GET /roster/imports/{id}/errors`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RosterImports {
    Table,
    Id,
    /// The account that imported (the administrator is 0).
    AccountId,
    /// `json`, `csv` or `xlsx`.
    Source,
    /// The rejected rows as a JSON array (row, candidate_no, field, label, code, message).
    Errors,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RosterImports::Table)
                    .col(
                        ColumnDef::new(RosterImports::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(RosterImports::AccountId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(RosterImports::Source).string().not_null())
                    .col(ColumnDef::new(RosterImports::Errors).text().not_null())
                    .col(
                        ColumnDef::new(RosterImports::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RosterImports::Table).to_owned())
            .await
    }
}
