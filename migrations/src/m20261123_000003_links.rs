//! Single-use action links (an employer uploading the stamped agreement from an SMS link,
//! SPEC.md 4.2) and the index the management lists filter by status label.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ActionLinks {
    Table,
    TokenHash,
    InstanceId,
    Action,
    State,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    SchoolId,
    ProvinceCode,
    Id,
}

#[derive(DeriveIden)]
enum Instances {
    Table,
    ProvinceCode,
    SchoolId,
    List,
    Label,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ActionLinks::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ActionLinks::TokenHash)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ActionLinks::InstanceId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ActionLinks::Action).string().not_null())
                    .col(ColumnDef::new(ActionLinks::State).string().not_null())
                    .col(
                        ColumnDef::new(ActionLinks::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ActionLinks::UsedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ActionLinks::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_action_links_instance")
                    .table(ActionLinks::Table)
                    .col(ActionLinks::InstanceId)
                    .to_owned(),
            )
            .await?;
        // Management lists: a school's list filtered by status label.
        manager
            .create_index(
                Index::create()
                    .name("idx_instances_school_list_label")
                    .table(Instances::Table)
                    .col(Instances::SchoolId)
                    .col(Instances::List)
                    .col(Instances::Label)
                    .to_owned(),
            )
            .await?;
        // A province's read-only view of the same lists.
        manager
            .create_index(
                Index::create()
                    .name("idx_instances_province_list_label")
                    .table(Instances::Table)
                    .col(Instances::ProvinceCode)
                    .col(Instances::List)
                    .col(Instances::Label)
                    .to_owned(),
            )
            .await?;
        // The audit log as a school or a province reads it.
        for (name, col) in [
            ("idx_audit_log_school", AuditLog::SchoolId),
            ("idx_audit_log_province", AuditLog::ProvinceCode),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditLog::Table)
                        .col(col)
                        .col(AuditLog::Id)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_instances_province_list_label")
                    .table(Instances::Table)
                    .to_owned(),
            )
            .await?;
        for name in ["idx_audit_log_school", "idx_audit_log_province"] {
            manager
                .drop_index(Index::drop().name(name).table(AuditLog::Table).to_owned())
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("idx_instances_school_list_label")
                    .table(Instances::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ActionLinks::Table).to_owned())
            .await
    }
}
