//! Destination registration (issue 12): an item's type in its management list (the
//! destination type of 去向登记管理), indexed for the list's category and type filters; and the
//! catalogues an integrator changed through the admin API, stored so that they outlive a
//! restart (they replace the file of the same name).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Instances {
    Table,
    SchoolId,
    ProvinceCode,
    List,
    /// The value of the definition's `list_type` field (`destination_type`), null for flows
    /// without one.
    TypeCode,
}

#[derive(DeriveIden)]
enum Catalogues {
    Table,
    /// The catalogue's name (`destination_type`).
    Name,
    /// Its YAML (or JSON) text, as the registry reads a catalogue file.
    Source,
    UpdatedAt,
    /// The account that stored it.
    UpdatedBy,
}

const INDEXES: [&str; 2] = [
    "idx_instances_school_list_type",
    "idx_instances_province_list_type",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Instances::Table)
                    .add_column(ColumnDef::new(Instances::TypeCode).string().null())
                    .to_owned(),
            )
            .await?;
        // A school's (and a province's) list filtered by type or by a category's types.
        for (name, scope) in INDEXES.into_iter().zip([
            Instances::SchoolId.into_iden(),
            Instances::ProvinceCode.into_iden(),
        ]) {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Instances::Table)
                        .col(scope)
                        .col(Instances::List)
                        .col(Instances::TypeCode)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Catalogues::Table)
                    .col(
                        ColumnDef::new(Catalogues::Name)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Catalogues::Source).text().not_null())
                    .col(
                        ColumnDef::new(Catalogues::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Catalogues::UpdatedBy).big_integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Catalogues::Table).to_owned())
            .await?;
        for name in INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Instances::Table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Instances::Table)
                    .drop_column(Instances::TypeCode)
                    .to_owned(),
            )
            .await
    }
}
