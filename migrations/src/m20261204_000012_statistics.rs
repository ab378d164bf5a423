//! Statistics and the inbox at scale (issue 17).
//!
//! - `stat_counts`: how many instances stand in each state, per school, cohort, department,
//!   major, education level, flow and destination type — kept by every transition in its own
//!   transaction (a delta per key, one statement), so that statistics read a few thousand
//!   counter rows instead of millions of instances. Each count is kept at two grains: `1` per
//!   department, major and education level, `0` per school alone (those three empty), which the
//!   province's view by school reads. The roster's own counts (`def_key` `_roster`) are
//!   refreshed per school in the transaction of each roster change.
//! - `instances.major`, `education_level`, `cohort`: the graduate's, as the instance is
//!   counted (taken when it starts), so that a counter's key is the row's own.
//! - `tasks.due_at`: when the task's answer is due (the state's timer), sorted and counted as
//!   overdue by the inbox; `history` by actor, for "done by me".

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Instances {
    Table,
    Major,
    EducationLevel,
    Cohort,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    ProvinceCode,
    SchoolId,
    Role,
    DueAt,
}

#[derive(DeriveIden)]
enum History {
    Table,
    ActorAccountId,
    Id,
}

#[derive(DeriveIden, Clone)]
enum StatCounts {
    Table,
    ProvinceCode,
    SchoolId,
    Cohort,
    /// `1`: per department, major and education level; `0`: the school's total (those empty).
    Grain,
    Department,
    Major,
    EducationLevel,
    /// The flow, or `_roster` for the graduates on the roster.
    DefKey,
    State,
    /// The destination type of a typed list's instance, else empty.
    TypeCode,
    N,
}

/// The columns of a counter's key, in the order of its unique index.
pub const KEY: &str =
    "school_id, cohort, grain, department, major, education_level, def_key, state, type_code";

/// The counters of every instance, at both grains (the backfill, and the recount tests make).
fn backfill_instances() -> String {
    let mut sql = String::new();
    for (grain, dims) in [(1, "department, major, education_level"), (0, "'', '', ''")] {
        let group = if grain == 1 {
            ", department, major, education_level"
        } else {
            ""
        };
        sql.push_str(&format!(
            "INSERT INTO stat_counts (province_code, {KEY}, n) \
             SELECT province_code, school_id, cohort, {grain}, {dims}, def_key, state, \
             COALESCE(type_code, ''), COUNT(*) FROM instances \
             GROUP BY province_code, school_id, cohort{group}, def_key, state, \
             COALESCE(type_code, '');\n"
        ));
    }
    sql
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            ColumnDef::new(Instances::Major)
                .string()
                .not_null()
                .default("")
                .to_owned(),
            ColumnDef::new(Instances::EducationLevel)
                .string()
                .not_null()
                .default("")
                .to_owned(),
            ColumnDef::new(Instances::Cohort)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Instances::Table)
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .add_column(ColumnDef::new(Tasks::DueAt).timestamp_with_time_zone())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE instances SET \
             major = COALESCE((SELECT g.major FROM graduates g WHERE g.id = instances.graduate_id), ''), \
             education_level = COALESCE((SELECT g.education_level FROM graduates g WHERE g.id = instances.graduate_id), ''), \
             cohort = COALESCE((SELECT g.cohort FROM graduates g WHERE g.id = instances.graduate_id), 0)",
        )
        .await?;
        db.execute_unprepared(
            "UPDATE tasks SET due_at = (SELECT MIN(tm.due_at) FROM timers tm \
             WHERE tm.instance_id = tasks.instance_id)",
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(StatCounts::Table)
                    .col(ColumnDef::new(StatCounts::ProvinceCode).string().not_null())
                    .col(
                        ColumnDef::new(StatCounts::SchoolId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(StatCounts::Cohort).integer().not_null())
                    .col(ColumnDef::new(StatCounts::Grain).small_integer().not_null())
                    .col(ColumnDef::new(StatCounts::Department).string().not_null())
                    .col(ColumnDef::new(StatCounts::Major).string().not_null())
                    .col(
                        ColumnDef::new(StatCounts::EducationLevel)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(StatCounts::DefKey).string().not_null())
                    .col(ColumnDef::new(StatCounts::State).string().not_null())
                    .col(ColumnDef::new(StatCounts::TypeCode).string().not_null())
                    .col(ColumnDef::new(StatCounts::N).big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(StatCounts::SchoolId)
                            .col(StatCounts::Cohort)
                            .col(StatCounts::Grain)
                            .col(StatCounts::Department)
                            .col(StatCounts::Major)
                            .col(StatCounts::EducationLevel)
                            .col(StatCounts::DefKey)
                            .col(StatCounts::State)
                            .col(StatCounts::TypeCode),
                    )
                    .to_owned(),
            )
            .await?;
        // The province's view: its schools' totals, per flow.
        manager
            .create_index(
                Index::create()
                    .name("idx_stat_counts_province")
                    .table(StatCounts::Table)
                    .col(StatCounts::ProvinceCode)
                    .col(StatCounts::Grain)
                    .col(StatCounts::Cohort)
                    .col(StatCounts::DefKey)
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared(&backfill_instances()).await?;
        db.execute_unprepared(
            "INSERT INTO stat_counts (province_code, school_id, cohort, grain, department, major, \
             education_level, def_key, state, type_code, n) \
             SELECT province_code, school_id, cohort, 1, department, major, education_level, \
             '_roster', 'on_roster', '', COUNT(*) FROM graduates WHERE removed = false \
             GROUP BY province_code, school_id, cohort, department, major, education_level",
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO stat_counts (province_code, school_id, cohort, grain, department, major, \
             education_level, def_key, state, type_code, n) \
             SELECT province_code, school_id, cohort, 0, '', '', '', '_roster', 'on_roster', '', \
             COUNT(*) FROM graduates WHERE removed = false \
             GROUP BY province_code, school_id, cohort",
        )
        .await?;
        // The inbox by due time, per scope.
        for (name, scope) in [
            ("idx_tasks_school_role_due", Tasks::SchoolId),
            ("idx_tasks_province_role_due", Tasks::ProvinceCode),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Tasks::Table)
                        .col(scope)
                        .col(Tasks::Role)
                        .col(Tasks::DueAt)
                        .to_owned(),
                )
                .await?;
        }
        // "Done by me": the caller's decisions, newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_history_actor")
                    .table(History::Table)
                    .col(History::ActorAccountId)
                    .col(History::Id)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_history_actor")
                    .table(History::Table)
                    .to_owned(),
            )
            .await?;
        for name in ["idx_tasks_school_role_due", "idx_tasks_province_role_due"] {
            manager
                .drop_index(Index::drop().name(name).table(Tasks::Table).to_owned())
                .await?;
        }
        manager
            .drop_table(Table::drop().table(StatCounts::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .drop_column(Tasks::DueAt)
                    .to_owned(),
            )
            .await?;
        for col in [
            Instances::Major,
            Instances::EducationLevel,
            Instances::Cohort,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Instances::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
