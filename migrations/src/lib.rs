//! gradflow-migrations — the database schema as sea-orm migrations. Runs at server start and
//! as `gradflow migrate`; every migration has a `down()`.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_spine;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261123_000001_spine::Migration)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

    async fn tables(db: &sea_orm_migration::sea_orm::DatabaseConnection) -> Vec<String> {
        db.query_all(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'seaql_migrations' ORDER BY name",
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .collect()
    }

    #[tokio::test]
    async fn up_down_up() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        let t = tables(&db).await;
        assert_eq!(t.len(), 18, "{t:?}");
        for name in ["instances", "slots", "outbox", "timers", "tasks", "history"] {
            assert!(t.contains(&name.to_string()), "{name} missing: {t:?}");
        }
        Migrator::down(&db, None).await.unwrap();
        assert!(tables(&db).await.is_empty());
        Migrator::up(&db, None).await.unwrap();
        assert_eq!(tables(&db).await.len(), 18);
    }
}
