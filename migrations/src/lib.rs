//! gradflow-migrations — the database schema as sea-orm migrations. Runs at server start and
//! as `gradflow migrate`; every migration has a `down()`.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_spine;
mod m20261123_000002_org;
mod m20261123_000003_links;
mod m20261123_000004_upload_use;
mod m20261123_000005_employer_search;
mod m20261201_000006_hardening;
mod m20261201_000007_destination_switches;
mod m20261201_000008_destination_types;
mod m20261202_000009_roster_imports;
mod m20261202_000010_list_order_indexes;
mod m20261203_000011_last_mile;
mod m20261204_000012_statistics;
mod m20261205_000013_scale_indexes;
mod m20261206_000014_list_counts;

pub struct Migrator;

/// The distinct character bigrams of an employer name, lower-cased, in order: the keys of the
/// name search index (`employer_name_grams`). Names shorter than two characters have none.
/// Shared by the migration that backfills the index and the server that maintains it.
pub fn name_grams(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.trim().to_lowercase().chars().collect();
    let mut grams: Vec<String> = chars.windows(2).map(|w| w.iter().collect()).collect();
    let mut seen = std::collections::HashSet::new();
    grams.retain(|g| seen.insert(g.clone()));
    grams
}

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_spine::Migration),
            Box::new(m20261123_000002_org::Migration),
            Box::new(m20261123_000003_links::Migration),
            Box::new(m20261123_000004_upload_use::Migration),
            Box::new(m20261123_000005_employer_search::Migration),
            Box::new(m20261201_000006_hardening::Migration),
            Box::new(m20261201_000007_destination_switches::Migration),
            Box::new(m20261201_000008_destination_types::Migration),
            Box::new(m20261202_000009_roster_imports::Migration),
            Box::new(m20261202_000010_list_order_indexes::Migration),
            Box::new(m20261203_000011_last_mile::Migration),
            Box::new(m20261204_000012_statistics::Migration),
            Box::new(m20261205_000013_scale_indexes::Migration),
            Box::new(m20261206_000014_list_counts::Migration),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm_migration::sea_orm::{
        ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
    };

    /// Every table the spine creates, in alphabetical order.
    const TABLES: [&str; 28] = [
        "accounts",
        "action_links",
        "audit_log",
        "catalogues",
        "counters",
        "definitions",
        "departments",
        "documents",
        "employer_name_grams",
        "employer_warnings",
        "employers",
        "graduates",
        "history",
        "instances",
        "outbox",
        "province_params",
        "provinces",
        "reports",
        "roster_imports",
        "schools",
        "slots",
        "stat_counts",
        "tasks",
        "timers",
        "tokens",
        "transfer_numbers",
        "uploads",
        "verifications",
    ];

    async fn names(db: &DatabaseConnection, kind: &str) -> Vec<String> {
        db.query_all(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT name FROM sqlite_master WHERE type = ? AND name NOT LIKE 'sqlite_%' \
             AND name != 'seaql_migrations' ORDER BY name",
            [kind.into()],
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .collect()
    }

    async fn tables(db: &DatabaseConnection) -> Vec<String> {
        names(db, "table").await
    }

    #[tokio::test]
    async fn employers_registered_before_the_name_index_are_indexed() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        Migrator::up(&db, Some(4)).await.unwrap();
        db.execute_unprepared(
            "INSERT INTO employers (name, credit_code, created_at) \
             VALUES ('华为技术', '91440300708461136T', '2026-11-23T00:00:00Z')",
        )
        .await
        .unwrap();
        Migrator::up(&db, None).await.unwrap();
        let grams: Vec<String> = db
            .query_all(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT gram FROM employer_name_grams ORDER BY gram",
            ))
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.try_get::<String>("", "gram").unwrap())
            .collect();
        let mut expected = name_grams("华为技术");
        expected.sort();
        assert_eq!(grams, expected);
        assert_eq!(grams.len(), 3);
    }

    /// The counters' recount by list and label (migration 14) over instances already there,
    /// and back.
    #[tokio::test]
    async fn list_counts_are_recounted_from_the_instances() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        Migrator::up(&db, Some(13)).await.unwrap();
        for (id, state, label) in [
            (1, "reviewing", "审核中"),
            (2, "reviewing", "审核中"),
            (3, "signed", "签约审核通过"),
        ] {
            db.execute_unprepared(&format!(
                "INSERT INTO instances (id, def_id, def_key, module, list, state, label, vars, \
                 params, province_code, school_id, department, graduate_id, initiator, \
                 initiator_role, is_final, row_version, created_at, updated_at, cohort) \
                 VALUES ({id}, 'online_signing@2', 'online_signing', 'employment', 'signing', \
                 '{state}', '{label}', '{{}}', '{{}}', '32', 7, '文学院', {id}, 'g', 'graduate', \
                 false, 1, '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z', 2027)"
            ))
            .await
            .unwrap();
        }
        let counts = |sql: &'static str| {
            let db = &db;
            async move {
                db.query_all(Statement::from_string(DbBackend::Sqlite, sql))
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| {
                        (
                            r.try_get::<String>("", "k").unwrap(),
                            r.try_get::<i64>("", "n").unwrap(),
                        )
                    })
                    .collect::<Vec<_>>()
            }
        };
        Migrator::up(&db, None).await.unwrap();
        let by_label = "SELECT list || ':' || label || ':' || grain AS k, n FROM stat_counts \
                        ORDER BY k";
        assert_eq!(
            counts(by_label).await,
            [
                ("signing:审核中:0".to_string(), 2),
                ("signing:审核中:1".to_string(), 2),
                ("signing:签约审核通过:0".to_string(), 1),
                ("signing:签约审核通过:1".to_string(), 1),
            ]
        );
        Migrator::down(&db, Some(1)).await.unwrap();
        let by_state = "SELECT state || ':' || grain AS k, n FROM stat_counts ORDER BY k";
        let narrow = counts(by_state).await;
        assert_eq!(
            narrow,
            [
                ("reviewing:0".to_string(), 2),
                ("reviewing:1".to_string(), 2),
                ("signed:0".to_string(), 1),
                ("signed:1".to_string(), 1),
            ]
        );
    }

    #[test]
    fn name_grams_are_distinct_bigrams() {
        assert_eq!(name_grams("有限有限"), vec!["有限", "限有"]);
        assert_eq!(name_grams(" Ab "), vec!["ab"]);
        assert!(name_grams("华").is_empty());
    }

    #[tokio::test]
    async fn up_down_up() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        assert_eq!(tables(&db).await, TABLES, "tables after up");

        let indexes = names(&db, "index").await;
        for name in [
            "slot_unique",
            "idx_schools_code",
            "idx_graduates_candidate_no",
            "idx_history_instance_seq",
            "idx_outbox_key",
            "idx_outbox_pending",
            "idx_instances_list",
            "idx_tasks_school_role_department",
            "idx_tasks_school",
            "idx_instances_school_list_updated",
            "idx_employer_warnings_pair",
            "idx_instances_school_module_final",
            "idx_graduates_school_removed_cohort",
            "idx_instances_school_list_label",
            "idx_action_links_instance",
            "idx_audit_log_school",
            "idx_instances_province_list_label",
            "idx_audit_log_province",
            "idx_instances_school_list_type",
            "idx_instances_province_list_type",
            "idx_reports_province",
            "idx_verifications_number",
            "idx_transfer_numbers_school",
            "idx_stat_counts_province",
            "idx_stat_counts_province_list",
            "idx_stat_counts_school_list",
        ] {
            assert!(
                indexes.iter().any(|i| i == name),
                "{name} missing: {indexes:?}"
            );
        }

        // Defaults apply when a row leaves the column out.
        db.execute_unprepared(
            "INSERT INTO schools (code, name, province_code) VALUES ('10001', 'S', '11')",
        )
        .await
        .unwrap();
        let row = db
            .query_one(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT handler_info, termination_cap, review_mode_hukou, signing_enabled FROM schools",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<String>("", "handler_info").unwrap(), "{}");
        assert_eq!(row.try_get::<i32>("", "termination_cap").unwrap(), 3);
        assert_eq!(
            row.try_get::<String>("", "review_mode_hukou").unwrap(),
            "school"
        );
        assert!(!row.try_get::<bool>("", "signing_enabled").unwrap());

        // slot_unique is what makes a second holder of the same slot fail.
        let slot = "INSERT INTO slots (slot_key, slot, instance_id, graduate_id, acquired_at) \
                    VALUES ('g1:employment', 'employment', 1, 1, '2026-11-23T00:00:00Z')";
        db.execute_unprepared(slot).await.unwrap();
        assert!(db.execute_unprepared(slot).await.is_err());

        Migrator::down(&db, None).await.unwrap();
        assert!(tables(&db).await.is_empty(), "tables left after down");
        assert!(
            names(&db, "index").await.is_empty(),
            "indexes left after down"
        );

        Migrator::up(&db, None).await.unwrap();
        assert_eq!(tables(&db).await, TABLES, "tables after second up");
    }
}
