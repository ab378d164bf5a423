//! Destination registration (issue 12): a school's 补登 and 填报去向登记 switches, separate from
//! online signing and on by default (SPEC.md 2.2 as corrected).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Schools {
    Table,
    /// 补登开关: the paper agreement supplement.
    SupplementEnabled,
    /// 填报去向登记: the destination registration flows.
    DestinationEnabled,
}

fn columns() -> Vec<ColumnDef> {
    vec![
        ColumnDef::new(Schools::SupplementEnabled)
            .boolean()
            .not_null()
            .default(true)
            .to_owned(),
        ColumnDef::new(Schools::DestinationEnabled)
            .boolean()
            .not_null()
            .default(true)
            .to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        for mut col in columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(Schools::Table)
                        .add_column(&mut col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in columns().into_iter().rev() {
            manager
                .alter_table(
                    Table::alter()
                        .table(Schools::Table)
                        .drop_column(Alias::new(col.get_column_name()))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
