//! Memory under hostile input: the server's resident memory while it is sent what used to cost
//! it gigabytes. The server runs in its own process; its peak RSS (`VmHWM`) is read after each
//! phase (the peak only grows, so each line shows the most any phase so far took):
//!
//! 1. four 300 MB bodies at once to an endpoint that needs no token (declared, and chunked);
//! 2. four 12000×12000 PNGs (a few hundred KB each) uploaded at once;
//! 3. an XLSX export of `--rows` list items (inserted directly, default 100,000), while
//!    `/healthz` is polled (its slowest answer is printed);
//! 4. four 19 MB evidence files uploaded at once (accepted: their bodies are what it costs);
//! 5. logins of unknown users and wrong passwords, timed (they should take the same time).
//!
//! ```sh
//! cargo run --release --example abuse [-- --rows 100000] [-- --database-url postgres://…]
//! ```

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use clap::Parser;
use sea_orm::EntityTrait;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

#[derive(Parser)]
struct Args {
    /// List items the export writes.
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// PostgreSQL URL; SQLite in a temporary directory when absent.
    #[arg(long)]
    database_url: Option<String>,
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_compression(png::Compression::Fast);
        let mut writer = enc.write_header().expect("png");
        let mut stream = writer.stream_writer().expect("png");
        let row = vec![255u8; w as usize];
        for _ in 0..h {
            stream.write_all(&row).expect("png");
        }
        stream.finish().expect("png");
    }
    out
}

/// Uploads `bytes` four times at once (`query` after `/uploads`); the statuses.
async fn upload_four(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
    bytes: &[u8],
) -> Vec<u16> {
    let ups = (0..4).map(|_| {
        http.post(format!("{base}/api/v1/uploads{query}"))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
    });
    futures::future::join_all(ups)
        .await
        .into_iter()
        .map(|r| r.map(|r| r.status().as_u16()).unwrap_or(0))
        .collect()
}

/// Sends `head` and then `bytes` of body over a raw connection; the status line's code.
async fn raw(addr: &str, head: String, bytes: usize) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.ok();
    let chunk = vec![b' '; 1 << 20];
    let mut sent = 0;
    while sent < bytes {
        if s.write_all(&chunk).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    let mut buf = [0u8; 64];
    let n = tokio::io::AsyncReadExt::read(&mut s, &mut buf)
        .await
        .unwrap_or(0);
    String::from_utf8_lossy(&buf[..n])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if let Some(r) = support::serve_if_child().await {
        return r;
    }
    let args = Args::parse();
    let server = support::start(args.database_url.as_deref()).await?;
    let http = reqwest::Client::new();
    let (base, admin) = (server.base.clone(), server.admin.clone());
    let addr = base.trim_start_matches("http://").to_string();
    let post = |path: &str, token: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let ok = |r: reqwest::Response| async move {
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "{status} {v}");
        Ok::<Value, anyhow::Error>(v)
    };
    ok(post(
        "/api/v1/admin/provinces",
        &admin,
        json!({"code": "32", "name": "江苏省", "employment_enabled": true}),
    )
    .await?)
    .await?;
    let school = ok(post("/api/v1/admin/schools", &admin, json!({"code": "10284", "name": "南京大学", "province_code": "32", "signing_enabled": true, "departments": ["计算机系"]})).await?).await?["id"].as_i64().unwrap();
    let g = ok(post(&format!("/api/v1/admin/schools/{school}/graduates"), &admin, json!([{"candidate_no": "26320102150001", "id_number": "11010519491231002X", "name": "张三", "department": "计算机系"}])).await?).await?["ids"][0].as_i64().unwrap();
    let grad = ok(post("/api/v1/admin/accounts", &admin, json!({"username": "g1", "role": "graduate", "province_code": "32", "school_id": school, "department": "计算机系", "graduate_id": g})).await?).await?["token"].as_str().unwrap().to_string();
    let school_tok = ok(post(
        "/api/v1/admin/accounts",
        &admin,
        json!({"username": "s1", "role": "school", "province_code": "32", "school_id": school}),
    )
    .await?)
    .await?["token"]
        .as_str()
        .unwrap()
        .to_string();
    let rss = |phase: &str| {
        println!(
            "{phase:<58} peak RSS {:>7.1} MiB",
            support::peak_rss_mib(server.pid).unwrap_or(0.0)
        );
    };
    println!(
        "gradflow abuse: backend={}",
        if args.database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    );
    rss("after start and setup");

    // 1. Four 300 MB bodies without a token, declared and chunked.
    let t = Instant::now();
    let declared = (0..4).map(|_| {
        raw(
            &addr,
            format!("POST /api/v1/employers/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", 300u64 << 20),
            300 << 20,
        )
    });
    let chunked = (0..4).map(|_| async {
        let mut s = tokio::net::TcpStream::connect(&addr).await.expect("connect");
        s.write_all(b"POST /api/v1/employers/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").await.ok();
        let piece = vec![b' '; 1 << 20];
        for _ in 0..300 {
            let frame = [format!("{:x}\r\n", piece.len()).as_bytes(), &piece, b"\r\n"].concat();
            if s.write_all(&frame).await.is_err() {
                break;
            }
        }
    });
    let (codes, _) = tokio::join!(
        futures::future::join_all(declared),
        futures::future::join_all(chunked)
    );
    rss(&format!(
        "4×300 MB declared + 4×300 MB chunked, no token ({codes:?}, {:.1}s)",
        t.elapsed().as_secs_f64()
    ));

    // 2. Four 12000×12000 PNGs.
    let big = png(12_000, 12_000);
    let t = Instant::now();
    let codes = upload_four(&http, &base, &grad, "", &big).await;
    rss(&format!(
        "4×12000×12000 PNG ({} KB each, {codes:?}, {:.1}s)",
        big.len() >> 10,
        t.elapsed().as_secs_f64()
    ));

    // 3. The export, with /healthz polled meanwhile.
    let cfg = gradflow_server::config::Config {
        data_dir: server.dir.path().to_path_buf(),
        database_url: args.database_url.clone(),
        ..Default::default()
    };
    let db = gradflow_server::db::connect(&cfg).await?;
    let now = chrono::Utc::now();
    for chunk in (0..args.rows).collect::<Vec<_>>().chunks(1000) {
        use gradflow_server::entity::instance;
        use sea_orm::Set;
        let rows = chunk.iter().map(|i| instance::ActiveModel {
            def_id: Set("online_signing@1".into()),
            def_key: Set("online_signing".into()),
            module: Set("employment".into()),
            list: Set(Some("signing".into())),
            state: Set("reviewing".into()),
            label: Set("学生已同意签约，等待学院/学校审核".into()),
            status_detail: Set(None),
            review: Set(None),
            vars: Set(json!({"employer_name": format!("示例单位{i}"), "agreement_no": format!("NO{i:08}")}).to_string()),
            params: Set("{}".into()),
            province_code: Set("32".into()),
            school_id: Set(school),
            department: Set("计算机系".into()),
            graduate_id: Set(g),
            employer_id: Set(None),
            initiator: Set("graduate:1".into()),
            initiator_role: Set("graduate".into()),
            is_final: Set(false),
            row_version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
        instance::Entity::insert_many(rows)
            .exec(&db.writer().await)
            .await?;
    }
    rss(&format!("after inserting {} list items", args.rows));
    let t = Instant::now();
    let done = std::sync::atomic::AtomicBool::new(false);
    let export = async {
        let r = http
            .get(format!("{base}/api/v1/lists/signing/export?status=all"))
            .bearer_auth(&school_tok)
            .send()
            .await
            .expect("export");
        let status = r.status().as_u16();
        let bytes = r.bytes().await.map(|b| b.len()).unwrap_or(0);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (status, bytes)
    };
    let polls = async {
        let mut worst = Duration::ZERO;
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let t = Instant::now();
            if http.get(format!("{base}/healthz")).send().await.is_err() {
                break;
            }
            worst = worst.max(t.elapsed());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        worst
    };
    let ((status, bytes), worst) = tokio::join!(export, polls);
    rss(&format!(
        "export of {} rows ({status}, {} KB, {:.1}s; slowest /healthz {} ms)",
        args.rows,
        bytes >> 10,
        t.elapsed().as_secs_f64(),
        worst.as_millis()
    ));
    // 4. Four 19 MB evidence files.
    let mut mp4 = b"\0\0\0\x18ftypmp42".to_vec();
    mp4.resize(19 << 20, 7);
    let t = Instant::now();
    let codes = upload_four(&http, &base, &grad, "?purpose=evidence", &mp4).await;
    rss(&format!(
        "4×19 MB evidence ({codes:?}, {:.1}s)",
        t.elapsed().as_secs_f64()
    ));

    // 5. Logins: an unknown user against a wrong password (medians of eight each; twenty
    // failures from one address would lock it out).
    for i in 0..2 {
        ok(post("/api/v1/admin/accounts", &admin, json!({"username": format!("timing{i}"), "role": "province", "province_code": "32", "password": "正确的密码2026!"})).await?).await?;
    }
    let times = |user: String| {
        let http = &http;
        let base = &base;
        async move {
            let t = Instant::now();
            let r = http
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"username": user, "password": "wrong-password"}))
                .send()
                .await
                .expect("login");
            (t.elapsed(), r.status().as_u16())
        }
    };
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for i in 0..8 {
        unknown.push(times(format!("nobody{i}")).await);
        wrong.push(times(format!("timing{}", i % 2)).await);
    }
    let median = |v: &mut Vec<(Duration, u16)>| {
        v.sort();
        v[v.len() / 2]
    };
    let (u, w) = (median(&mut unknown), median(&mut wrong));
    println!(
        "login, median of 8: unknown user {:.1} ms ({}), wrong password {:.1} ms ({})",
        u.0.as_secs_f64() * 1000.0,
        u.1,
        w.0.as_secs_f64() * 1000.0,
        w.1
    );
    std::io::stdout().flush().ok();
    Ok(())
}
