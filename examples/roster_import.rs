//! Roster import benchmark: a province's employment management system uploads N graduates of
//! ten schools through the real HTTP server — once as a CSV file, again as the same file (every
//! row an update), and as JSON batches — and the figures are printed.
//!
//! ```sh
//! cargo run --release --example roster_import -- --rows 100000 [--database-url URL]
//! ```
//!
//! A benchmark: it prints figures and asserts nothing about speed (it does check that every
//! row was stored).

mod support;

use std::time::Instant;

use clap::Parser;
use serde_json::{json, Value};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    #[arg(long, default_value_t = 5_000)]
    batch: usize,
    #[arg(long)]
    database_url: Option<String>,
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: &[u8; 11] = b"10X98765432";

/// A valid resident ID number for graduate `i` (born 2003–2004, Nanjing 鼓楼区).
fn id_number(i: usize) -> String {
    let day = 1 + (i % 28);
    let month = 1 + (i / 28) % 12;
    let year = 2003 + (i / 336) % 2;
    let seq = (i / 672) % 1000;
    let first17 = format!("320106{year}{month:02}{day:02}{seq:03}");
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    format!("{first17}{}", CHECK[(sum % 11) as usize] as char)
}

fn school_code(i: usize) -> String {
    format!("{}", 10280 + i % 10)
}

fn csv(rows: usize, suffix: &str) -> Vec<u8> {
    let mut out = String::from("考生号,姓名,身份证号,院校代码,学历,性别,培养方式,生源所在地,毕业日期,院系,专业,档案是否转入学校,户口是否转入学校,手机号码\n");
    for i in 0..rows {
        out.push_str(&format!(
            "27{i:012},学生{i}{suffix},{},{},本科,{},10,320106,2027-06-30,院系{},专业{},是,{},138{:08}\n",
            id_number(i),
            school_code(i),
            if i % 2 == 0 { "男" } else { "女" },
            i % 20,
            i % 50,
            if i % 3 == 0 { "是" } else { "否" },
            i % 100_000_000,
        ));
    }
    out.into_bytes()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if let Some(r) = support::serve_if_child().await {
        return r;
    }
    let args = Args::parse();
    let server = support::start(args.database_url.as_deref()).await?;
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let admin = server.admin.clone();
    let post = |path: &str, token: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let must = |r: reqwest::Response| async move {
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "{status} {v}");
        Ok::<Value, anyhow::Error>(v)
    };

    // Setup (not measured): a province, ten schools, a province account and its API key.
    must(
        post(
            "/api/v1/admin/provinces",
            &admin,
            json!({"code": "32", "name": "江苏省"}),
        )
        .await?,
    )
    .await?;
    for s in 0..10 {
        must(
            post(
                "/api/v1/admin/schools",
                &admin,
                json!({"code": school_code(s), "name": format!("学校{s}"), "province_code": "32"}),
            )
            .await?,
        )
        .await?;
    }
    let p = must(
        post(
            "/api/v1/admin/accounts",
            &admin,
            json!({"username": "p32", "role": "province", "province_code": "32"}),
        )
        .await?,
    )
    .await?;
    let key = must(
        post(
            "/api/v1/api-keys",
            p["token"].as_str().unwrap(),
            json!({"name": "江苏省就业管理系统"}),
        )
        .await?,
    )
    .await?;
    let key = key["key"].as_str().unwrap().to_string();
    let backend = if args.database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    println!(
        "gradflow roster import: backend={backend} rows={}",
        args.rows
    );

    let upload = |bytes: Vec<u8>| {
        http.post(format!("{base}/api/v1/roster/files"))
            .bearer_auth(&key)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
    };
    let report = |what: &str, v: &Value, started: Instant, size: Option<usize>| {
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{what:<26} {:>7.2} s  {:>8.0} rows/s  created {:>6} updated {:>6} rejected {}{}",
            secs,
            args.rows as f64 / secs,
            v["created"],
            v["updated"],
            v["rejected_rows"],
            size.map(|s| format!("  ({:.1} MB)", s as f64 / 1e6))
                .unwrap_or_default()
        );
    };

    let file = csv(args.rows, "");
    let size = file.len();
    let t = Instant::now();
    let v = must(upload(file).await?).await?;
    report("CSV file, new rows", &v, t, Some(size));
    anyhow::ensure!(
        v["created"].as_u64() == Some(args.rows as u64),
        "not every row stored: {v}"
    );

    let file = csv(args.rows, "改");
    let t = Instant::now();
    let v = must(upload(file).await?).await?;
    report("CSV file, every row updated", &v, t, None);
    anyhow::ensure!(
        v["updated"].as_u64() == Some(args.rows as u64),
        "not every row updated: {v}"
    );

    let t = Instant::now();
    let mut total = json!({"created": 0, "updated": 0, "rejected_rows": 0});
    for start in (0..args.rows).step_by(args.batch) {
        let rows: Vec<Value> = (start..(start + args.batch).min(args.rows))
            .map(|i| json!({"candidate_no": format!("27{i:012}"), "name": format!("学生{i}"), "id_number": id_number(i),
                "school_code": school_code(i), "education_level": "本科", "training_mode": "10", "cohort": 2027,
                "department": format!("院系{}", i % 20), "major": format!("专业{}", i % 50)}))
            .collect();
        let v = must(post("/api/v1/roster/graduates", &key, json!({"rows": rows})).await?).await?;
        for k in ["created", "updated", "rejected_rows"] {
            total[k] = json!(total[k].as_u64().unwrap_or(0) + v[k].as_u64().unwrap_or(0));
        }
    }
    report(&format!("JSON batches of {}", args.batch), &total, t, None);
    if let Some(rss) = support::peak_rss_mib(server.pid) {
        println!("server peak RSS: {rss:.0} MiB");
    }
    Ok(())
}
