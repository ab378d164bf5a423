//! The layering the code keeps (ARCHITECTURE.md): HTTP handlers in `server/src/api/` parse,
//! authorize and present — they reach no table (no `Entity::` call, no `ActiveModel`, no
//! `state.db`); nothing outside `api/` imports the HTTP layer, and the store imports neither
//! the service nor the services (no import circles); and transactions begin only in
//! `server/src/db/`, where the writer's turn is taken, so no write transaction can bypass it.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `(file:line, text)` of every line of the files under `dir` containing one of `needles`,
/// outside comments.
fn offending(dir: &Path, needles: &[&str], except: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    let mut out = Vec::new();
    for f in files {
        let name = f.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&f);
        if except.iter().any(|e| name.ends_with(e)) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if needles.iter().any(|n| code.contains(n)) {
                out.push(format!("{}:{}: {}", name.display(), i + 1, code));
            }
        }
    }
    out
}

fn server_src(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("server/src")
        .join(sub)
}

#[test]
fn handlers_reach_no_table() {
    let found = offending(
        &server_src("api"),
        &[
            "Entity::",
            "ActiveModel",
            "state.db",
            "begin_write",
            ".writer()",
        ],
        &[],
    );
    assert!(
        found.is_empty(),
        "HTTP handlers must call services, not the database:\n{}",
        found.join("\n")
    );
}

#[test]
fn transactions_begin_only_where_the_writer_is() {
    let found = offending(
        &server_src(""),
        &["TransactionTrait", ".begin().await", ".begin_with_config("],
        &["server/src/db/mod.rs", "server/src/db/sqlite.rs"],
    );
    assert!(
        found.is_empty(),
        "a transaction begun outside db/ would bypass the writer's turn:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_import_circles() {
    let mut found = offending(&server_src(""), &["crate::api"], &[]);
    found.retain(|l| !l.starts_with("server/src/api/"));
    for f in ["store/", "effects.rs", "db/"] {
        found.extend(
            offending(&server_src(""), &["crate::service"], &[])
                .into_iter()
                .filter(|l| l.starts_with(&format!("server/src/{f}"))),
        );
    }
    assert!(
        found.is_empty(),
        "the HTTP layer is imported by no one, the store by no service:\n{}",
        found.join("\n")
    );
}
