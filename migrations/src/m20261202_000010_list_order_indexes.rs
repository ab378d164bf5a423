//! Indexes that serve each paged list's default order in every scope (issue 14), so the first
//! page of an inbox or a list reads its rows in order instead of sorting the whole scope:
//! the inbox by opening — the task's id, as tasks are numbered when they open — per school and
//! department (per province, graduate and employer the existing indexes hold that order); the
//! instance list newest first (by id) per school, department, province, graduate, employer and
//! flow; the management lists by last change per school and province; the accounts per school,
//! province and role; the roster by department per province and nationwide. Every task now
//! carries its instance's department (it was set for department tasks only), backfilled here.
//! `--check-query-plans` and `tests/lists.rs` check these orders.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (name, table, columns) of each index this migration creates.
const CREATED: [(&str, &str, &[&str]); 15] = [
    ("idx_tasks_school", "tasks", &["school_id", "role"]),
    (
        "idx_tasks_school_role_department",
        "tasks",
        &["school_id", "role", "department"],
    ),
    ("idx_instances_school", "instances", &["school_id"]),
    (
        "idx_instances_school_department",
        "instances",
        &["school_id", "department"],
    ),
    ("idx_instances_province", "instances", &["province_code"]),
    ("idx_instances_graduate_id", "instances", &["graduate_id"]),
    ("idx_instances_employer_id", "instances", &["employer_id"]),
    ("idx_instances_def_key", "instances", &["def_key"]),
    (
        "idx_instances_school_list_updated",
        "instances",
        &["school_id", "list", "updated_at"],
    ),
    (
        "idx_instances_province_list_updated",
        "instances",
        &["province_code", "list", "updated_at"],
    ),
    (
        "idx_accounts_province_role",
        "accounts",
        &["province_code", "role"],
    ),
    ("idx_accounts_role", "accounts", &["role"]),
    ("idx_accounts_school_id", "accounts", &["school_id"]),
    (
        "idx_graduates_province_department",
        "graduates",
        &["province_code", "department"],
    ),
    ("idx_graduates_department", "graduates", &["department"]),
];

/// (name, table, columns) of each index the new ones replace: the province's graduates are in
/// the new one's prefix; a department's tasks in id order (their opening order) need the
/// department without the opening time after it.
const DROPPED: [(&str, &str, &[&str]); 2] = [
    ("idx_graduates_province", "graduates", &["province_code"]),
    (
        "idx_tasks_school_role",
        "tasks",
        &["school_id", "role", "department", "opened_at"],
    ),
];

fn create(name: &str, table: &str, cols: &[&str]) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(Alias::new(table));
    for c in cols {
        i.col(Alias::new(*c));
    }
    i.to_owned()
}

fn drop(name: &str, table: &str) -> IndexDropStatement {
    Index::drop().name(name).table(Alias::new(table)).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE tasks SET department = \
                 (SELECT i.department FROM instances i WHERE i.id = tasks.instance_id) \
                 WHERE department IS NULL",
            )
            .await?;
        for (name, table, cols) in CREATED {
            manager.create_index(create(name, table, cols)).await?;
        }
        for (name, table, _) in DROPPED {
            manager.drop_index(drop(name, table)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, cols) in DROPPED {
            manager.create_index(create(name, table, cols)).await?;
        }
        for (name, table, _) in CREATED {
            manager.drop_index(drop(name, table)).await?;
        }
        Ok(())
    }
}
