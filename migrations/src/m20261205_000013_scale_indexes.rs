//! Indexes measured at province scale (issue 17, `examples/season.rs`, 900,000 graduates):
//! - a management list whose status filter is one label (补登管理's 审核中, …) read that label's
//!   rows through `(school_id | province_code, list, label)` and sorted them all by last change
//!   before returning the first page; with the change time after the label the first page is
//!   read in order;
//! - the province's statistics read ~30,000 counters per request through
//!   `(province_code, grain, cohort, def_key)`, each counter then looked up in the table; the
//!   index now holds what they read (school, state, type, count);
//! - a school's inbox counts (per flow and state, with the overdue ones) and its total read
//!   every open task of the school from the table; `idx_tasks_school_counts` holds them;
//! - 登记确认统计 read every confirmation and every agreement of its scope; it now reads the
//!   counters and only the destinations the management system delivered (started by its
//!   intake): `idx_instances_*_initiator`;
//! - the province's schools (its statistics, its settings) are read by code.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (name, table, columns before, columns after): indexes rebuilt under the same name.
const REBUILT: [(&str, &str, &[&str], &[&str]); 4] = [
    (
        "idx_instances_school_list_label",
        "instances",
        &["school_id", "list", "label"],
        &["school_id", "list", "label", "updated_at"],
    ),
    (
        "idx_instances_province_list_label",
        "instances",
        &["province_code", "list", "label"],
        &["province_code", "list", "label", "updated_at"],
    ),
    (
        "idx_stat_counts_province",
        "stat_counts",
        &["province_code", "grain", "cohort", "def_key"],
        &[
            "province_code",
            "grain",
            "cohort",
            "def_key",
            "school_id",
            "state",
            "type_code",
            "n",
        ],
    ),
    (
        "idx_schools_province",
        "schools",
        &["province_code"],
        &["province_code", "code"],
    ),
];

/// (name, table, columns) of the indexes this migration adds.
const CREATED: [(&str, &str, &[&str]); 1] = [(
    "idx_tasks_school_counts",
    "tasks",
    &[
        "school_id",
        "role",
        "department",
        "def_key",
        "state",
        "due_at",
    ],
)];

fn create(name: &str, table: &str, cols: &[&str]) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(Alias::new(table));
    for c in cols {
        i.col(Alias::new(*c));
    }
    i.to_owned()
}

async fn rebuild(
    manager: &SchemaManager<'_>,
    name: &str,
    table: &str,
    cols: &[&str],
) -> Result<(), DbErr> {
    manager
        .drop_index(Index::drop().name(name).table(Alias::new(table)).to_owned())
        .await?;
    manager.create_index(create(name, table, cols)).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _, after) in REBUILT {
            rebuild(manager, name, table, after).await?;
        }
        for (name, table, cols) in CREATED {
            manager.create_index(create(name, table, cols)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in CREATED {
            manager
                .drop_index(Index::drop().name(name).table(Alias::new(table)).to_owned())
                .await?;
        }
        for (name, table, before, _) in REBUILT {
            rebuild(manager, name, table, before).await?;
        }
        Ok(())
    }
}
