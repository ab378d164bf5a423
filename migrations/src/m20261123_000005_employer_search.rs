//! Employer name search at national scale: a posting list of the name's character bigrams
//! (`employer_name_grams`), so "contains" searches are driven by an index instead of a scan of
//! every employer. Existing employers are indexed by the migration.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

use crate::name_grams;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EmployerNameGrams {
    Table,
    Gram,
    EmployerId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EmployerNameGrams::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(EmployerNameGrams::Gram).string().not_null())
                    .col(
                        ColumnDef::new(EmployerNameGrams::EmployerId)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(EmployerNameGrams::Gram)
                            .col(EmployerNameGrams::EmployerId),
                    )
                    .to_owned(),
            )
            .await?;
        // Backfill: employers registered before this migration.
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let rows = db
            .query_all(Statement::from_string(
                backend,
                "SELECT id, name FROM employers",
            ))
            .await?;
        for chunk in rows.chunks(500) {
            let mut insert = Query::insert()
                .into_table(EmployerNameGrams::Table)
                .columns([EmployerNameGrams::Gram, EmployerNameGrams::EmployerId])
                .to_owned();
            let mut any = false;
            for row in chunk {
                let id: i64 = row.try_get("", "id")?;
                let name: String = row.try_get("", "name")?;
                for gram in name_grams(&name) {
                    insert.values_panic([gram.into(), id.into()]);
                    any = true;
                }
            }
            if any {
                db.execute(backend.build(&insert)).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EmployerNameGrams::Table).to_owned())
            .await
    }
}
