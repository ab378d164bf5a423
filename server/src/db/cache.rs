//! Rows kept in process, invalidated exactly on write.
//!
//! Every table a cache reads from has a generation. Each write statement through the writer
//! bumps the generation of the table it names when it runs, and again once the transaction
//! holding it has committed (or rolled back); a statement the storage layer cannot read a
//! table from (`execute_unprepared`) bumps them all. A cached row remembers the generation
//! read *before* it was loaded, and is served only while that is still current — so a row
//! loaded while a write was under way is dropped once the write commits. Caches load only
//! from the read pool (committed data), never inside a write transaction.
//!
//! The generations are the process's own: on SQLite the server is the file's one writer, so
//! they see every write. On PostgreSQL several servers may share the database, so the caches
//! are off there ([`Db::caches_rows`]) until writes are announced across processes.

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Db;

/// The tables rows are cached from.
const TABLES: [&str; 7] = [
    "graduates",
    "schools",
    "provinces",
    "employers",
    "employer_warnings",
    "tokens",
    "accounts",
];

static GENERATIONS: [AtomicU64; TABLES.len()] = [const { AtomicU64::new(0) }; TABLES.len()];

/// Figures for `GET /metrics`.
pub static HITS: AtomicU64 = AtomicU64::new(0);
pub static MISSES: AtomicU64 = AtomicU64::new(0);

/// The index of the cached table a write statement names, if any (`None` for other tables);
/// `Err` when the statement's table cannot be read (every table then counts as written).
fn written_table(sql: &str) -> Result<Option<usize>, ()> {
    let s = sql.trim_start();
    let rest = ["INSERT INTO ", "UPDATE ", "DELETE FROM ", "REPLACE INTO "]
        .iter()
        .find_map(|k| {
            s.get(..k.len())
                .filter(|p| p.eq_ignore_ascii_case(k))
                .map(|_| &s[k.len()..])
        });
    let Some(rest) = rest else {
        // A read (or a statement of the transaction itself) writes no table.
        let head = s.get(..6).unwrap_or(s);
        return if head.eq_ignore_ascii_case("SELECT") {
            Ok(None)
        } else {
            Err(())
        };
    };
    let name: String = rest
        .trim_start()
        .trim_start_matches('"')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    Ok(TABLES.iter().position(|t| *t == name))
}

/// The set of cached tables a transaction wrote (bits by [`TABLES`] index).
#[derive(Default)]
pub struct Touched(AtomicU64);

impl Touched {
    /// Records (and bumps now) the tables a statement writes.
    pub fn statement(&self, sql: &str) {
        let bits = match written_table(sql) {
            Ok(None) => 0,
            Ok(Some(i)) => 1 << i,
            Err(()) => (1 << TABLES.len()) - 1,
        };
        if bits != 0 {
            bump(bits);
            self.0.fetch_or(bits, Ordering::SeqCst);
        }
    }

    /// Bumps what was written again, once the statement or transaction is over.
    pub fn finish(&self) {
        bump(self.0.swap(0, Ordering::SeqCst));
    }
}

impl Drop for Touched {
    fn drop(&mut self) {
        self.finish();
    }
}

fn bump(bits: u64) {
    for (i, g) in GENERATIONS.iter().enumerate() {
        if bits & (1 << i) != 0 {
            g.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The generation of some tables: the sum of theirs (it changes whenever one of them does).
fn generation(tables: u64) -> u64 {
    GENERATIONS
        .iter()
        .enumerate()
        .filter(|(i, _)| tables & (1 << i) != 0)
        .map(|(_, g)| g.load(Ordering::SeqCst))
        .sum()
}

/// Values read from some tables, by key.
pub struct RowCache<K, V> {
    /// The tables read (bits by [`TABLES`] index).
    tables: u64,
    rows: moka::sync::Cache<K, (u64, V)>,
}

impl<K, V> RowCache<K, V>
where
    K: Hash + Eq + Send + Sync + Clone + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A cache of values read from `tables` (each one of [`TABLES`]).
    pub fn new(tables: &[&str], capacity: u64) -> RowCache<K, V> {
        let bits = tables.iter().fold(0, |bits, table| {
            let i = TABLES
                .iter()
                .position(|t| t == table)
                .unwrap_or_else(|| panic!("{table} is not a cached table"));
            bits | (1 << i)
        });
        RowCache {
            tables: bits,
            rows: moka::sync::Cache::new(capacity),
        }
    }

    /// Forgets one value (it is also dropped by any write to its tables).
    pub fn forget(&self, key: &K) {
        self.rows.invalidate(key);
    }

    pub fn forget_all(&self) {
        self.rows.invalidate_all();
    }

    /// The cached value of `key`, if it is current.
    pub fn get(&self, db: &Db, key: &K) -> Option<V> {
        if !db.caches_rows() {
            return None;
        }
        let g = generation(self.tables);
        match self.rows.get(key) {
            Some((at, v)) if at == g => {
                HITS.fetch_add(1, Ordering::Relaxed);
                Some(v)
            }
            _ => {
                MISSES.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// The generation to store a value under: read before loading it.
    pub fn stamp(&self) -> u64 {
        generation(self.tables)
    }

    pub fn put(&self, db: &Db, stamp: u64, key: K, value: V) {
        if db.caches_rows() {
            self.rows.insert(key, (stamp, value));
        }
    }

    /// The values of `keys`: the current cached ones, the others loaded together by `load`
    /// (given the missing keys) and kept.
    pub async fn get_many<E, F, Fut>(
        &self,
        db: &Db,
        keys: Vec<K>,
        load: F,
    ) -> Result<std::collections::HashMap<K, V>, E>
    where
        F: FnOnce(Vec<K>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<(K, V)>, E>>,
    {
        let mut out = std::collections::HashMap::with_capacity(keys.len());
        let mut missing = Vec::new();
        for k in keys {
            match self.get(db, &k) {
                Some(v) => {
                    out.insert(k, v);
                }
                None => missing.push(k),
            }
        }
        if !missing.is_empty() {
            let stamp = self.stamp();
            for (k, v) in load(missing).await? {
                self.put(db, stamp, k.clone(), v.clone());
                out.insert(k, v);
            }
        }
        Ok(out)
    }

    /// The value of `key`: cached, or loaded from the read pool with `load`.
    pub async fn get_or_load<E, F, Fut>(&self, db: &Db, key: K, load: F) -> Result<Option<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Option<V>, E>>,
    {
        if let Some(v) = self.get(db, &key) {
            return Ok(Some(v));
        }
        let stamp = self.stamp();
        let v = load().await?;
        if let Some(v) = &v {
            self.put(db, stamp, key, v.clone());
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_statements_name_their_table() {
        let i = |t: &str| TABLES.iter().position(|x| *x == t).unwrap();
        assert_eq!(
            written_table(r#"UPDATE "schools" SET "name" = ?"#),
            Ok(Some(i("schools")))
        );
        assert_eq!(
            written_table(r#"INSERT INTO "employer_warnings" ("a") VALUES (?)"#),
            Ok(Some(i("employer_warnings")))
        );
        assert_eq!(
            written_table("delete from provinces where code = ?"),
            Ok(Some(i("provinces")))
        );
        assert_eq!(written_table(r#"INSERT INTO "history" ("a")"#), Ok(None));
        assert_eq!(
            written_table(r#"SELECT "schools"."id" FROM "schools""#),
            Ok(None)
        );
        assert_eq!(written_table("PRAGMA optimize"), Err(()));
        assert_eq!(
            written_table("WITH x AS (SELECT 1) UPDATE schools"),
            Err(())
        );
    }
}
