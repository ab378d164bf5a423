//! Organisations, roster and employers beyond the spine: roster restore bookkeeping and the
//! first-login check on graduates, warning employers, an audit log of administrative acts,
//! and the indexes the roster lists and the in-flight checks read.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Graduates {
    Table,
    SchoolId,
    ProvinceCode,
    Removed,
    Cohort,
    HukouInSchool,
    DirectedEmployer,
    RestorePending,
    ReuploadedAt,
    BasicInfoDisputed,
    BasicInfoNote,
    BasicInfoCheckedAt,
}

#[derive(DeriveIden)]
enum Instances {
    Table,
    SchoolId,
    Module,
    IsFinal,
}

#[derive(DeriveIden)]
enum EmployerWarnings {
    Table,
    Id,
    EmployerId,
    SchoolId,
    Reason,
    Active,
    MarkedBy,
    MarkedAt,
    UnmarkReason,
    UnmarkedBy,
    UnmarkedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    AccountId,
    ProvinceCode,
    SchoolId,
    Action,
    TargetKind,
    TargetId,
    Detail,
}

fn idx(name: &str) -> IndexCreateStatement {
    Index::create().name(name).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        let cols = [
            ColumnDef::new(Graduates::DirectedEmployer)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Graduates::RestorePending)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
            ColumnDef::new(Graduates::ReuploadedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(Graduates::BasicInfoDisputed)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
            ColumnDef::new(Graduates::BasicInfoNote)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Graduates::BasicInfoCheckedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ];
        for mut c in cols {
            manager
                .alter_table(
                    Table::alter()
                        .table(Graduates::Table)
                        .add_column(&mut c)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                idx("idx_graduates_school_removed_cohort")
                    .table(Graduates::Table)
                    .col(Graduates::SchoolId)
                    .col(Graduates::Removed)
                    .col(Graduates::Cohort)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                idx("idx_graduates_school_hukou")
                    .table(Graduates::Table)
                    .col(Graduates::SchoolId)
                    .col(Graduates::HukouInSchool)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                idx("idx_graduates_province_removed")
                    .table(Graduates::Table)
                    .col(Graduates::ProvinceCode)
                    .col(Graduates::Removed)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                idx("idx_graduates_restore_pending")
                    .table(Graduates::Table)
                    .col(Graduates::RestorePending)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                idx("idx_instances_school_module_final")
                    .table(Instances::Table)
                    .col(Instances::SchoolId)
                    .col(Instances::Module)
                    .col(Instances::IsFinal)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(EmployerWarnings::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(EmployerWarnings::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(EmployerWarnings::EmployerId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EmployerWarnings::SchoolId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(EmployerWarnings::Reason).string().not_null())
                    .col(
                        ColumnDef::new(EmployerWarnings::Active)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EmployerWarnings::MarkedBy)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EmployerWarnings::MarkedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EmployerWarnings::UnmarkReason)
                            .string()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(EmployerWarnings::UnmarkedBy)
                            .big_integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(EmployerWarnings::UnmarkedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                idx("idx_employer_warnings_pair")
                    .table(EmployerWarnings::Table)
                    .col(EmployerWarnings::EmployerId)
                    .col(EmployerWarnings::SchoolId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                idx("idx_employer_warnings_school_active")
                    .table(EmployerWarnings::Table)
                    .col(EmployerWarnings::SchoolId)
                    .col(EmployerWarnings::Active)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                idx("idx_employer_warnings_employer_active")
                    .table(EmployerWarnings::Table)
                    .col(EmployerWarnings::EmployerId)
                    .col(EmployerWarnings::Active)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(AuditLog::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AuditLog::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditLog::AccountId).big_integer().not_null())
                    .col(ColumnDef::new(AuditLog::ProvinceCode).string().null())
                    .col(ColumnDef::new(AuditLog::SchoolId).big_integer().null())
                    .col(ColumnDef::new(AuditLog::Action).string().not_null())
                    .col(ColumnDef::new(AuditLog::TargetKind).string().not_null())
                    .col(ColumnDef::new(AuditLog::TargetId).string().not_null())
                    .col(ColumnDef::new(AuditLog::Detail).text().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                idx("idx_audit_target")
                    .table(AuditLog::Table)
                    .col(AuditLog::TargetKind)
                    .col(AuditLog::TargetId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                idx("idx_audit_school_at")
                    .table(AuditLog::Table)
                    .col(AuditLog::SchoolId)
                    .col(AuditLog::At)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditLog::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(EmployerWarnings::Table).to_owned())
            .await?;
        for name in [
            "idx_instances_school_module_final",
            "idx_graduates_restore_pending",
            "idx_graduates_province_removed",
            "idx_graduates_school_hukou",
            "idx_graduates_school_removed_cohort",
        ] {
            manager
                .drop_index(Index::drop().name(name).to_owned())
                .await?;
        }
        for col in [
            Graduates::BasicInfoCheckedAt,
            Graduates::BasicInfoNote,
            Graduates::BasicInfoDisputed,
            Graduates::ReuploadedAt,
            Graduates::RestorePending,
            Graduates::DirectedEmployer,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Graduates::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
