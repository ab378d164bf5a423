//! The registration's last mile (issue 16): four-prohibitions reports (违反“四不准”行为举报) —
//! kept apart from the flows so that nothing a school may read can hold or link them, and
//! naming no reporter — verification authorizations (核验授权) with their numbers, and the
//! schools' transfer numbers (转递编号).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Reports {
    Table,
    Id,
    /// The province the report goes to (the authority above the school).
    ProvinceCode,
    /// The school reported.
    SchoolId,
    /// The category's code (`prohibition` code table).
    Category,
    Content,
    /// The evidence files as a JSON array (`path`, `content_type`, `size`, `sha256`), moved
    /// out of the uploads (whose rows name the uploader) when the report was filed.
    Evidence,
    CreatedAt,
    HandledAt,
    HandledBy,
    HandlingNote,
    RowVersion,
}

#[derive(DeriveIden, Clone)]
enum Verifications {
    Table,
    Id,
    GraduateId,
    SchoolId,
    ProvinceCode,
    /// `archive` or `hukou`.
    Kind,
    /// The verification number (核验编号).
    Number,
    /// The end of validity (23:59:59 China time of the chosen day).
    ValidUntil,
    /// `active` (生效中), `expired` (已过期), `closed` (the graduate closed it), `void` (the data
    /// it covers changed).
    Status,
    /// The graduate's confirmation instance, and its `row_version` when the graduate
    /// authorized: any later step of the confirmation (a change reset it) voids the
    /// authorization — confirm and authorize again.
    InstanceId,
    ConfirmationVersion,
    CreatedAt,
    EndedAt,
}

#[derive(DeriveIden)]
enum Graduates {
    Table,
    /// When the identity provider confirmed the real-person identity check (实人认证).
    IdentityCheckedAt,
}

#[derive(DeriveIden, Clone)]
enum TransferNumbers {
    Table,
    Id,
    GraduateId,
    /// `archive` (档案信息转递) or `hukou` (户口信息转递).
    Kind,
    SchoolId,
    Department,
    Number,
    /// An important field changed since the number was generated.
    Stale,
    GeneratedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Graduates::Table)
                    .add_column(
                        ColumnDef::new(Graduates::IdentityCheckedAt).timestamp_with_time_zone(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Reports::Table)
                    .col(
                        ColumnDef::new(Reports::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Reports::ProvinceCode).string().not_null())
                    .col(ColumnDef::new(Reports::SchoolId).big_integer().not_null())
                    .col(ColumnDef::new(Reports::Category).string().not_null())
                    .col(ColumnDef::new(Reports::Content).text().not_null())
                    .col(ColumnDef::new(Reports::Evidence).text().not_null())
                    .col(
                        ColumnDef::new(Reports::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Reports::HandledAt).timestamp_with_time_zone())
                    .col(ColumnDef::new(Reports::HandledBy).big_integer())
                    .col(ColumnDef::new(Reports::HandlingNote).text())
                    .col(
                        ColumnDef::new(Reports::RowVersion)
                            .integer()
                            .not_null()
                            .default(1),
                    )
                    .to_owned(),
            )
            .await?;
        // The province's list, newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_reports_province")
                    .table(Reports::Table)
                    .col(Reports::ProvinceCode)
                    .col(Reports::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Verifications::Table)
                    .col(
                        ColumnDef::new(Verifications::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Verifications::GraduateId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Verifications::SchoolId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Verifications::ProvinceCode)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Verifications::Kind).string().not_null())
                    .col(ColumnDef::new(Verifications::Number).string().not_null())
                    .col(
                        ColumnDef::new(Verifications::ValidUntil)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Verifications::Status).string().not_null())
                    .col(
                        ColumnDef::new(Verifications::InstanceId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Verifications::ConfirmationVersion)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Verifications::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Verifications::EndedAt).timestamp_with_time_zone())
                    .to_owned(),
            )
            .await?;
        for (name, cols, unique) in [
            (
                "idx_verifications_number",
                &[Verifications::Number][..],
                true,
            ),
            (
                "idx_verifications_graduate",
                &[Verifications::GraduateId, Verifications::Kind][..],
                false,
            ),
            (
                "idx_verifications_status_until",
                &[Verifications::Status, Verifications::ValidUntil][..],
                false,
            ),
            (
                "idx_verifications_school",
                &[Verifications::SchoolId, Verifications::Kind][..],
                false,
            ),
        ] {
            let mut idx = Index::create();
            idx.name(name).table(Verifications::Table);
            for c in cols {
                idx.col(c.clone());
            }
            if unique {
                idx.unique();
            }
            manager.create_index(idx.to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(TransferNumbers::Table)
                    .col(
                        ColumnDef::new(TransferNumbers::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(TransferNumbers::GraduateId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(TransferNumbers::Kind).string().not_null())
                    .col(
                        ColumnDef::new(TransferNumbers::SchoolId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(TransferNumbers::Department)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(TransferNumbers::Number).string().not_null())
                    .col(
                        ColumnDef::new(TransferNumbers::Stale)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(TransferNumbers::GeneratedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(TransferNumbers::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols, unique) in [
            (
                "idx_transfer_numbers_number",
                &[TransferNumbers::Number][..],
                true,
            ),
            (
                "idx_transfer_numbers_school",
                &[
                    TransferNumbers::SchoolId,
                    TransferNumbers::Stale,
                    TransferNumbers::UpdatedAt,
                ][..],
                false,
            ),
        ] {
            let mut idx = Index::create();
            idx.name(name).table(TransferNumbers::Table);
            for c in cols {
                idx.col(c.clone());
            }
            if unique {
                idx.unique();
            }
            manager.create_index(idx.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            TransferNumbers::Table.into_iden(),
            Verifications::Table.into_iden(),
            Reports::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}
