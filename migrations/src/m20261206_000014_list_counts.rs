//! The management lists' totals from the statistics' counters (issue 17).
//!
//! At province scale a list's first page was quick but its total was not: 档案信息管理 and
//! 去向登记确认 counted 250,000–320,000 index entries per request on PostgreSQL. A list selects
//! its rows by list and status label, which the counters did not hold (a label is the state's
//! in the instance's own definition version, so it cannot be mapped back from the state).
//! `stat_counts` now counts each instance under its list and label as well, so a list whose
//! filter is the caller's scope, the school, the statuses and the types sums a few hundred
//! counters instead.
//!
//! The counters are derived data, recounted from the instances and the roster: the table is
//! created again with the wider key (a primary key cannot be altered on SQLite) and recounted,
//! and `down()` does the same with the narrower key.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum StatCounts {
    Table,
    ProvinceCode,
    SchoolId,
    Cohort,
    Grain,
    Department,
    Major,
    EducationLevel,
    DefKey,
    State,
    TypeCode,
    /// The instance's management list, empty for the roster's counts.
    List,
    /// The instance's status label, empty for the roster's counts.
    Label,
    N,
}

use StatCounts as S;

/// The key before this migration, in the order of the primary key.
const NARROW: [StatCounts; 9] = [
    S::SchoolId,
    S::Cohort,
    S::Grain,
    S::Department,
    S::Major,
    S::EducationLevel,
    S::DefKey,
    S::State,
    S::TypeCode,
];

/// (name, columns) of the secondary indexes: the province's statistics (migration 13) and,
/// with the wider key, a list's total in a province and in a school. The list indexes leave
/// the count out: a transition's upsert then rewrites only the statistics' index besides the
/// row.
fn indexes(wide: bool) -> Vec<(&'static str, Vec<StatCounts>)> {
    let mut v = vec![(
        "idx_stat_counts_province",
        vec![
            S::ProvinceCode,
            S::Grain,
            S::Cohort,
            S::DefKey,
            S::SchoolId,
            S::State,
            S::TypeCode,
            S::N,
        ],
    )];
    if wide {
        v.push((
            "idx_stat_counts_province_list",
            vec![S::ProvinceCode, S::Grain, S::List, S::Label, S::SchoolId],
        ));
        v.push((
            "idx_stat_counts_school_list",
            vec![S::SchoolId, S::Grain, S::List, S::Label],
        ));
    }
    v
}

/// The recount of every counter: the instances at both grains and the roster.
fn recount(wide: bool) -> Vec<String> {
    let (cols, vals) = if wide {
        (", list, label", ", COALESCE(list, ''), label")
    } else {
        ("", "")
    };
    let into = format!(
        "INSERT INTO stat_counts (province_code, school_id, cohort, grain, department, major, \
         education_level, def_key, state, type_code{cols}, n) "
    );
    let roster = if wide { ", '', ''" } else { "" };
    vec![
        format!(
            "{into}SELECT province_code, school_id, cohort, 1, department, major, \
             education_level, def_key, state, COALESCE(type_code, ''){vals}, COUNT(*) \
             FROM instances GROUP BY province_code, school_id, cohort, department, major, \
             education_level, def_key, state, COALESCE(type_code, ''){vals}"
        ),
        format!(
            "{into}SELECT province_code, school_id, cohort, 0, '', '', '', def_key, state, \
             COALESCE(type_code, ''){vals}, COUNT(*) FROM instances \
             GROUP BY province_code, school_id, cohort, def_key, state, \
             COALESCE(type_code, ''){vals}"
        ),
        format!(
            "{into}SELECT province_code, school_id, cohort, 1, department, major, \
             education_level, '_roster', 'on_roster', ''{roster}, COUNT(*) FROM graduates \
             WHERE removed = false \
             GROUP BY province_code, school_id, cohort, department, major, education_level"
        ),
        format!(
            "{into}SELECT province_code, school_id, cohort, 0, '', '', '', '_roster', \
             'on_roster', ''{roster}, COUNT(*) FROM graduates WHERE removed = false \
             GROUP BY province_code, school_id, cohort"
        ),
    ]
}

/// Creates `stat_counts` with the wide or the narrow key, its indexes and its counts.
async fn create(manager: &SchemaManager<'_>, wide: bool) -> Result<(), DbErr> {
    let text = |c: StatCounts| ColumnDef::new(c).string().not_null().to_owned();
    let mut t = Table::create();
    t.table(S::Table)
        .col(text(S::ProvinceCode))
        .col(ColumnDef::new(S::SchoolId).big_integer().not_null())
        .col(ColumnDef::new(S::Cohort).integer().not_null())
        .col(ColumnDef::new(S::Grain).small_integer().not_null())
        .col(text(S::Department))
        .col(text(S::Major))
        .col(text(S::EducationLevel))
        .col(text(S::DefKey))
        .col(text(S::State))
        .col(text(S::TypeCode));
    let mut key = Index::create();
    for c in NARROW {
        key.col(c);
    }
    if wide {
        t.col(text(S::List)).col(text(S::Label));
        key.col(S::List).col(S::Label);
    }
    t.col(ColumnDef::new(S::N).big_integer().not_null())
        .primary_key(&mut key);
    manager.create_table(t.to_owned()).await?;
    for (name, cols) in indexes(wide) {
        let mut i = Index::create();
        i.name(name).table(S::Table);
        for c in cols {
            i.col(c);
        }
        manager.create_index(i.to_owned()).await?;
    }
    let db = manager.get_connection();
    for sql in recount(wide) {
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}

async fn replace(manager: &SchemaManager<'_>, wide: bool) -> Result<(), DbErr> {
    manager
        .drop_table(Table::drop().table(S::Table).to_owned())
        .await?;
    create(manager, wide).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace(manager, false).await
    }
}
