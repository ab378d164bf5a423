//! Employer name search benchmark: N employers with realistic names (city, brand, trade, legal
//! form) are written to a real database with their name index, then a set of searches runs
//! through the index (as `GET /employers?q=` does) and as a plain `LIKE '%q%'` scan. Both must
//! find the same employers; the figures are printed.
//!
//! ```sh
//! cargo run --release --example employer_search -- --employers 1000000 [--database-url URL]
//! ```
//!
//! A benchmark: it prints figures and asserts nothing about speed (it does check that the
//! index answers exactly what the scan answers).

use std::time::Instant;

use clap::Parser;
use gradflow_server::api::paged;
use gradflow_server::config::Config;
use gradflow_server::employer_index::{self, name_grams};
use gradflow_server::entity::employer;
use sea_orm::{ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Statement};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    employers: usize,
    #[arg(long)]
    database_url: Option<String>,
}

const CITIES: [&str; 12] = [
    "南京", "苏州", "无锡", "常州", "徐州", "南通", "杭州", "宁波", "上海", "北京", "深圳", "成都",
];
const BRAND: &str = "华中天科信达通宇泰恒瑞博创新源鑫海星辰云智联合众安康盛德金成远航美嘉";
const TRADES: [&str; 10] = [
    "网络科技",
    "信息技术",
    "生物医药",
    "建筑工程",
    "教育咨询",
    "新能源",
    "电子商务",
    "智能制造",
    "文化传媒",
    "物流",
];
const FORMS: [&str; 4] = ["有限公司", "股份有限公司", "有限责任公司", "集团有限公司"];

fn name(i: usize) -> String {
    let brand: Vec<char> = BRAND.chars().collect();
    let n = brand.len();
    let mut x = i.wrapping_mul(2_654_435_761) ^ (i >> 7);
    let mut pick = |m: usize| {
        let v = x % m;
        x /= m;
        v
    };
    let (a, b, c) = (pick(n), pick(n), pick(n));
    format!(
        "{}{}{}{}{}{}",
        CITIES[i % CITIES.len()],
        brand[a],
        brand[b],
        if i.is_multiple_of(3) {
            brand[c].to_string()
        } else {
            String::new()
        },
        TRADES[(i / 12) % TRADES.len()],
        FORMS[(i / 120) % FORMS.len()],
    )
}

/// A valid-looking, unique 18-character code (the benchmark does not check it).
fn code(i: usize) -> String {
    format!("91320100MA{i:08}")
}

async fn exec(db: &impl ConnectionTrait, sql: String) {
    db.execute(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("insert");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let cfg = Config {
        data_dir: dir.path().to_path_buf(),
        database_url: args.database_url.clone(),
        ..Config::default()
    };
    let db = gradflow_server::db::connect(&cfg).await?;
    let conn = &db.conn;
    let backend = if args.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };

    let t = Instant::now();
    let batch = 1_000;
    let mut grams_total = 0usize;
    for start in (0..args.employers).step_by(batch) {
        let end = (start + batch).min(args.employers);
        let rows: Vec<String> = (start..end)
            .map(|i| {
                format!(
                    "({}, '{}', '{}', '2026-11-23T00:00:00Z')",
                    i + 1,
                    name(i),
                    code(i)
                )
            })
            .collect();
        exec(
            conn,
            format!(
                "INSERT INTO employers (id, name, credit_code, created_at) VALUES {}",
                rows.join(",")
            ),
        )
        .await;
        let grams: Vec<String> = (start..end)
            .flat_map(|i| {
                name_grams(&name(i))
                    .into_iter()
                    .map(move |g| format!("('{g}', {})", i + 1))
            })
            .collect();
        grams_total += grams.len();
        exec(
            conn,
            format!(
                "INSERT INTO employer_name_grams (gram, employer_id) VALUES {}",
                grams.join(",")
            ),
        )
        .await;
    }
    // What autovacuum would have done by the time anyone searches (PostgreSQL's index-only
    // scans need the visibility map); SQLite gathers statistics.
    let tidy = if backend == "PostgreSQL" {
        "VACUUM ANALYZE"
    } else {
        "ANALYZE"
    };
    exec(conn, tidy.into()).await;
    println!(
        "{backend}: {} employers, {grams_total} index rows, written in {:.1} s",
        args.employers,
        t.elapsed().as_secs_f64()
    );

    let probe = name(args.employers / 2);
    let queries = [
        probe.clone(),
        probe.chars().skip(2).take(4).collect::<String>(),
        "网络科技".to_string(),
        "智能制造集团".to_string(),
        "南京华".to_string(),
        "不存在的单位".to_string(),
        "有限公司".to_string(),
    ];
    println!("| query | matches | index: first page | scan: first page |");
    println!("|---|---|---|---|");
    for q in queries {
        let t = Instant::now();
        let scan_query = employer::Entity::find()
            .filter(sea_orm::ColumnTrait::like(
                &employer::Column::Name,
                format!("%{q}%").as_str(),
            ))
            .order_by_asc(employer::Column::Name)
            .order_by_asc(employer::Column::Id);
        let scanned = paged(
            conn,
            scan_query,
            None,
            None,
            &gradflow_server::api::PAGE_SIZE,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.body.message))?;
        let scan_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let indexed = match employer_index::search(conn, &q).await {
            Ok(query) => paged(conn, query, None, None, &gradflow_server::api::PAGE_SIZE).await,
            Err(e) => Err(e),
        };
        let index_ms = t.elapsed().as_secs_f64() * 1e3;
        match indexed {
            Ok(found) => {
                let ids = |r: &[employer::Model]| r.iter().map(|e| e.id).collect::<Vec<_>>();
                let total = found.total;
                assert_eq!(
                    total, scanned.total,
                    "{q}: index and scan disagree on the total"
                );
                assert_eq!(
                    ids(&found.rows),
                    ids(&scanned.rows),
                    "{q}: index and scan disagree"
                );
                println!("| {q} | {total} | {index_ms:.1} ms | {scan_ms:.1} ms |");
            }
            Err(e) => println!(
                "| {q} | {} (refused: {}) | {index_ms:.1} ms | {scan_ms:.1} ms |",
                scanned.total, e.body.code
            ),
        }
    }
    Ok(())
}
