//! Hardening (issue 10): API keys carry their kind and their maker; failed logins lock an
//! account for a while; an administrator can retire a definition version.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    /// `roster` (the employment management system) or `identity` (the identity provider);
    /// null for accounts that are not API keys.
    KeyKind,
    /// The account that created this one (an API key's maker); null for bootstrap rows.
    CreatedBy,
    /// Failed password logins since the last success or lockout.
    FailedLogins,
    /// Until when password logins are refused after too many failures.
    LockedUntil,
}

#[derive(DeriveIden)]
enum Definitions {
    Table,
    /// When an administrator retired the version: never active again, still loaded for the
    /// instances pinned to it.
    RetiredAt,
}

/// One column per statement: SQLite alters one column at a time.
fn columns() -> Vec<(DynIden, ColumnDef)> {
    vec![
        (
            Accounts::Table.into_iden(),
            ColumnDef::new(Accounts::KeyKind).string().null().to_owned(),
        ),
        (
            Accounts::Table.into_iden(),
            ColumnDef::new(Accounts::CreatedBy)
                .big_integer()
                .null()
                .to_owned(),
        ),
        (
            Accounts::Table.into_iden(),
            ColumnDef::new(Accounts::FailedLogins)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
        ),
        (
            Accounts::Table.into_iden(),
            ColumnDef::new(Accounts::LockedUntil)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ),
        (
            Definitions::Table.into_iden(),
            ColumnDef::new(Definitions::RetiredAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, mut col) in columns() {
            manager
                .alter_table(Table::alter().table(table).add_column(&mut col).to_owned())
                .await?;
        }
        // Keys made before kinds existed were roster keys of the management system.
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE accounts SET key_kind = 'roster' WHERE role = 'integrator' AND key_kind IS NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, col) in columns().into_iter().rev() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Alias::new(col.get_column_name()))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
