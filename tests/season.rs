//! The season generator (`gradflow_server::season`, what the province-scale benchmark writes) at
//! a small scale, on SQLite and PostgreSQL: every state of every flow stands in some instance; a removed graduate's instances stand where the removal took
//! them, remembering the state a restore returns them to; a confirmation is 未上报 only where
//! nothing holds the graduate's agreement slot; the roster counts only the graduates on it.

mod support;

use std::collections::{HashMap, HashSet};

use gradflow_server::entity::{graduate, instance, slot};
use gradflow_server::season::{generate, Options};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Map, Value};

async fn generated(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let config = gradflow_server::config::Config {
        data_dir: dir.path().into(),
        database_url,
        root: env!("CARGO_MANIFEST_DIR").into(),
        ..Default::default()
    };
    let state = gradflow_server::init(config).await.unwrap();
    let opts = Options {
        graduates: 2_400,
        schools: 3,
        big_school: 1_200,
        employers: 40,
        removed_per_mille: 50,
        ..Default::default()
    };
    let s = generate(&state, &opts, &|_, _| {}).await.unwrap();
    assert_eq!(s.graduates, 2_400);
    // With one graduate in twenty removed, every state of every flow stands in some instance.
    assert!(s.missed.is_empty(), "{:?} of {:?}", s.missed, s.states);
    for flow in [
        "online_signing",
        "archive_registration",
        "registration_confirmation",
    ] {
        assert!(
            s.states[flow].contains_key("invalidated"),
            "{flow}: {:?}",
            s.states
        );
    }

    let conn = &state.db.conn;
    let grads = graduate::Entity::find().all(conn).await.unwrap();
    let removed: HashSet<i64> = grads.iter().filter(|g| g.removed).map(|g| g.id).collect();
    assert!(
        !removed.is_empty() && removed.len() < grads.len() / 10,
        "{}",
        removed.len()
    );
    let rows = instance::Entity::find().all(conn).await.unwrap();
    assert_eq!(rows.len() as u64, s.instances);
    let snap = state.registry.snapshot();
    let mut invalidated = 0;
    for r in &rows {
        let def = &snap
            .definitions()
            .find(|d| d.def.id().to_string() == r.def_id)
            .unwrap()
            .def;
        let vars: Map<String, Value> = serde_json::from_str(&r.vars).unwrap();
        let before = vars
            .get(gradflow_engine::definition::STATE_BEFORE_REACTION)
            .and_then(Value::as_str);
        if r.state == "invalidated" {
            invalidated += 1;
            assert!(removed.contains(&r.graduate_id), "{r:?}");
            let st = before.and_then(|b| def.state(b));
            assert!(st.is_some(), "a restore needs where it stood: {r:?}");
        } else if removed.contains(&r.graduate_id) {
            // What the removal leaves: the states it does not react in (finished ones).
            let st = def.state(&r.state).unwrap();
            let reacts = def.reactions.iter().any(|x| {
                x.event == "graduate.removed" && gradflow_engine::apply::reacts_in(x, &r.state, st)
            });
            assert!(!reacts, "the removal reacts in {}: {r:?}", r.state);
        }
    }
    assert!(invalidated > 0);

    // 未上报 only where nothing holds the agreement slot.
    let holders: HashSet<i64> = slot::Entity::find()
        .filter(slot::Column::Slot.eq("agreement"))
        .all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.graduate_id)
        .collect();
    let unreported: Vec<&instance::Model> =
        rows.iter().filter(|r| r.state == "unreported").collect();
    assert!(!unreported.is_empty());
    for r in unreported {
        assert!(!holders.contains(&r.graduate_id), "{r:?}");
    }

    // The roster's counts: the graduates on it, per school.
    let mut on_roster: HashMap<i64, i64> = HashMap::new();
    for g in grads.iter().filter(|g| !g.removed) {
        *on_roster.entry(g.school_id).or_default() += 1;
    }
    let mut counted: HashMap<i64, i64> = HashMap::new();
    let sql = "SELECT school_id, CAST(SUM(n) AS BIGINT) AS n FROM stat_counts \
               WHERE def_key = '_roster' AND grain = 0 GROUP BY school_id";
    for r in conn
        .query_all(state.db.stmt(sql, Vec::new()))
        .await
        .unwrap()
    {
        counted.insert(
            r.try_get("", "school_id").unwrap(),
            r.try_get("", "n").unwrap(),
        );
    }
    assert_eq!(counted, on_roster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_season_on_sqlite() {
    generated(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_season_on_postgres() {
    let url = support::pg::pg().await.create_database();
    generated(Some(url)).await;
}
