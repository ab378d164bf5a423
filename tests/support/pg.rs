//! A real PostgreSQL server for the tests, one per test process, started with `initdb` and
//! `pg_ctl` from the machine's PostgreSQL packages on a temporary directory and a free port.
//!
//! PostgreSQL refuses to run as root, so as root the binaries run as the `postgres` system user.
//! A detached watchdog stops the server and removes its directory when the test process ends.
//! Missing binaries are a test failure, never a skip: CI installs them (`.ci/run`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

pub struct PgServer {
    pub port: u16,
    bin: PathBuf,
    socket_dir: PathBuf,
    as_postgres: bool,
    counter: AtomicUsize,
}

fn find_bin() -> PathBuf {
    let candidates = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            let mut v: Vec<PathBuf> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect();
            v.sort_by_key(|p| {
                p.parent()
                    .and_then(|p| p.file_name())
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.parse::<u32>().ok())
                    .unwrap_or(0)
            });
            v.reverse();
            v
        })
        .unwrap_or_default();
    for dir in candidates {
        if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
            return dir;
        }
    }
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
                return dir;
            }
        }
    }
    panic!("PostgreSQL binaries (initdb, pg_ctl) not found: install the Debian package `postgresql` (.ci/run does)");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PgServer {
    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn start() -> PgServer {
        let bin = find_bin();
        let as_postgres = is_root();
        let base = std::env::temp_dir().join(format!("gradflow-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let data = base.join("data");
        let socket_dir = base.join("sock");
        std::fs::create_dir_all(&socket_dir).unwrap();
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&base)
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown of {} failed", base.display());
        }
        let mut server = PgServer {
            port: 0,
            bin,
            socket_dir: socket_dir.clone(),
            as_postgres,
            counter: AtomicUsize::new(0),
        };
        let out = server
            .command("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "gradflow",
                "--encoding=UTF8",
                "--locale=C",
                "-D",
            ])
            .arg(&data)
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for attempt in 0..5 {
            let port = free_port();
            let opts = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
                socket_dir.display()
            );
            let out = server
                .command("pg_ctl")
                .args(["-w", "-t", "60", "-D"])
                .arg(&data)
                .args(["-o", &opts, "-l"])
                .arg(base.join("log"))
                .arg("start")
                .output()
                .expect("run pg_ctl");
            if out.status.success() {
                server.port = port;
                break;
            }
            eprintln!(
                "pg_ctl start attempt {attempt} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            server.port != 0,
            "PostgreSQL did not start; see {}",
            base.join("log").display()
        );
        spawn_watchdog(&server, &data, &base);
        server
    }

    /// Creates a fresh database and returns its URL.
    pub fn create_database(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let name = format!("gf_{}_{n}", std::process::id());
        let out = self
            .command("createdb")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "gradflow",
                &name,
            ])
            .output()
            .expect("run createdb");
        assert!(
            out.status.success(),
            "createdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("postgres://gradflow@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs a query with psql and returns its trimmed output.
    pub fn psql(&self, url: &str, sql: &str) -> String {
        let out = self
            .command("psql")
            .args([url, "-tAc", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }
}

fn spawn_watchdog(server: &PgServer, data: &Path, base: &Path) {
    let pg_ctl = server.bin.join("pg_ctl");
    let stop = if server.as_postgres {
        format!(
            "runuser -u postgres -- {} -D {} stop -m immediate",
            pg_ctl.display(),
            data.display()
        )
    } else {
        format!(
            "{} -D {} stop -m immediate",
            pg_ctl.display(),
            data.display()
        )
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {base}",
        pid = std::process::id(),
        base = base.display()
    );
    // The watchdog outlives this process on purpose; nobody waits for it.
    #[allow(clippy::zombie_processes)]
    let _watchdog = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn watchdog");
}

/// The shared server of this test process.
pub fn pg() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(PgServer::start)
}
