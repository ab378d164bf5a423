//! Indexes that serve each paged list's default order in every scope (issue 14), so the first
//! page of an inbox or a list reads its rows in order instead of sorting the whole scope:
//! the inbox by opening time (a school's, a province's, a graduate's, an employer's,
//! everyone's, by flow or department) and by department; the instance list newest first (by id) per school,
//! department, province, graduate, employer and flow; the management lists by last change per
//! school, province and nationwide; the accounts per school, province and role; the roster by
//! department per province and nationwide. `--check-query-plans` and `tests/lists.rs` check
//! them. Every task now carries its instance's department (it was set for department tasks
//! only), backfilled here.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (name, table, columns) of each index this migration creates.
const CREATED: [(&str, &str, &[&str]); 21] = [
    (
        "idx_tasks_school_role_opened",
        "tasks",
        &["school_id", "role", "opened_at"],
    ),
    (
        "idx_tasks_province_role_opened",
        "tasks",
        &["province_code", "role", "opened_at"],
    ),
    (
        "idx_tasks_graduate_role_opened",
        "tasks",
        &["graduate_id", "role", "opened_at"],
    ),
    (
        "idx_tasks_employer_role_opened",
        "tasks",
        &["employer_id", "role", "opened_at"],
    ),
    ("idx_tasks_opened", "tasks", &["opened_at"]),
    ("idx_tasks_key_opened", "tasks", &["def_key", "opened_at"]),
    (
        "idx_tasks_department_opened",
        "tasks",
        &["department", "opened_at"],
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
        "idx_instances_list_updated",
        "instances",
        &["list", "updated_at"],
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

/// (name, table, columns) of each index the new ones make redundant (a prefix of a new one).
const DROPPED: [(&str, &str, &[&str]); 4] = [
    (
        "idx_tasks_province_role",
        "tasks",
        &["province_code", "role"],
    ),
    ("idx_tasks_graduate", "tasks", &["graduate_id", "role"]),
    ("idx_tasks_employer", "tasks", &["employer_id", "role"]),
    ("idx_graduates_province", "graduates", &["province_code"]),
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
