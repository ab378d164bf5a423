//! A real PostgreSQL server for the end-to-end tests: one per test process, started lazily
//! with `initdb` and `pg_ctl` from the machine's PostgreSQL installation on a temporary
//! directory and a free loopback port, and shared by every test of the process ([`pg`]).
//! Each test takes its own fresh database from it ([`PgServer::create_database`]).
//!
//! - Binaries: `$GRADFLOW_TEST_PG_BIN` if set, else the directory of `initdb` found on `PATH`
//!   (symlinks resolved, so `/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb`
//!   gives the full bin directory with `createdb` and `psql`), else the highest version under
//!   `/usr/lib/postgresql/*/bin`. Missing binaries are a test failure with a clear message,
//!   never a skip: CI installs them (`.ci/run`).
//! - Root: PostgreSQL refuses to run as root, so when the tests run as uid 0 (as in CI) the
//!   server tools run as the `postgres` system user (`runuser -u postgres -- ...`) and the
//!   temporary directory (under `/tmp`, which that user can reach) is chowned to it. Client
//!   tools (`createdb`, `psql`) connect over TCP and run as the current user.
//! - The server is tuned for throwaway data: `fsync`, `synchronous_commit` and
//!   `full_page_writes` are off; trust authentication for user `gradflow`, no password.
//! - Shutdown: nothing in the test process stops the server (statics are never dropped).
//!   Instead a detached watchdog, started with the server in its own process group (so a
//!   group kill of the test process by the test runner does not take it down too), polls the
//!   test process id every second; once the process is gone it runs
//!   `pg_ctl stop -m immediate` and removes the temporary directory. So the server never
//!   outlives the test process by more than about a second.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The system user that runs the server when the tests run as root.
const PG_SYSTEM_USER: &str = "postgres";
/// Role created by `initdb -U`; the owner of every test database.
pub const PG_USER: &str = "gradflow";

/// A running PostgreSQL server owned by this test process.
pub struct PgServer {
    /// TCP port on 127.0.0.1.
    pub port: u16,
    bin: PathBuf,
    base: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    as_system_user: bool,
    counter: AtomicUsize,
}

/// The shared server of this test process, started on first use. Blocking work runs on
/// tokio's blocking pool; concurrent first callers wait for the same start.
pub async fn pg() -> &'static PgServer {
    match tokio::task::spawn_blocking(pg_blocking).await {
        Ok(server) => server,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("starting PostgreSQL was cancelled: {e}"),
    }
}

/// Same as [`pg`] for synchronous tests (blocks the calling thread during the start).
pub fn pg_blocking() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(PgServer::start)
}

fn has_server_tools(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|b| dir.join(b).is_file())
}

/// Where the PostgreSQL binaries live; panics with instructions when there are none.
pub fn find_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GRADFLOW_TEST_PG_BIN") {
        let dir = PathBuf::from(dir);
        assert!(
            has_server_tools(&dir),
            "GRADFLOW_TEST_PG_BIN={} has no initdb, pg_ctl and postgres",
            dir.display()
        );
        return dir;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if !initdb.is_file() {
                continue;
            }
            // Debian links a few tools into /usr/local/bin or /usr/bin; the real bin
            // directory (with createdb and psql) is where the link points.
            if let Some(real) = std::fs::canonicalize(&initdb)
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
            {
                if has_server_tools(&real) {
                    return real;
                }
            }
            if has_server_tools(&dir) {
                return dir;
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let version = e.file_name().to_str()?.parse::<u32>().ok()?;
                    Some((version, e.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    if let Some((_, dir)) = versions
        .into_iter()
        .rev()
        .find(|(_, dir)| has_server_tools(dir))
    {
        return dir;
    }
    panic!(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH nor under \
         /usr/lib/postgresql/*/bin. The PostgreSQL end-to-end tests need a real server: install \
         it once with `apt-get install -y --no-install-recommends postgresql` (README, first \
         lines; .ci/run does this) or point GRADFLOW_TEST_PG_BIN at the bin directory."
    );
}

/// `runuser` (util-linux), which root's PATH has in /usr/sbin but a trimmed PATH may lack.
fn runuser() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join("runuser"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "running as root, so PostgreSQL must run as `{PG_SYSTEM_USER}` via `runuser`, \
                 which was not found (Debian package util-linux)"
            )
        })
}

fn is_root() -> bool {
    match std::fs::metadata("/proc/self") {
        Ok(m) => m.uid() == 0,
        Err(_) => Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free loopback port")
        .port()
}

fn describe(what: &str, out: &Output) -> String {
    format!(
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl PgServer {
    /// A server tool (initdb, pg_ctl) run as the user that may own the cluster.
    fn server_command(bin: &Path, as_system_user: bool, program: &str, cwd: &Path) -> Command {
        let exe = bin.join(program);
        let mut c = if as_system_user {
            let mut c = Command::new(runuser());
            c.args(["-u", PG_SYSTEM_USER, "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        // The cluster user may not be allowed into the test's working directory.
        c.current_dir(cwd).stdin(Stdio::null());
        c
    }

    /// A client tool (createdb, psql) from the same installation, run as the current user.
    pub fn client_command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        let mut c = if exe.is_file() {
            Command::new(exe)
        } else {
            Command::new(program)
        };
        c.current_dir(&self.base).stdin(Stdio::null());
        c
    }

    fn start() -> PgServer {
        let bin = find_bin_dir();
        let as_system_user = is_root();
        if as_system_user {
            let known = Command::new("id")
                .args(["-u", PG_SYSTEM_USER])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            assert!(
                known,
                "running as root, so PostgreSQL must run as the `{PG_SYSTEM_USER}` system user, \
                 which does not exist (the Debian package `postgresql` creates it)"
            );
        }
        // As root, $TMPDIR may be private to root; /tmp is reachable by the cluster user.
        let root = if as_system_user {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let base = tempfile::Builder::new()
            .prefix("gradflow-pg-")
            .tempdir_in(&root)
            .unwrap_or_else(|e| panic!("create a directory under {}: {e}", root.display()))
            .keep();
        let data = base.join("data");
        let socket_dir = base.join("sock");
        std::fs::create_dir_all(&socket_dir).unwrap();
        if as_system_user {
            let ok = Command::new("chown")
                .args(["-R", &format!("{PG_SYSTEM_USER}:")])
                .arg(&base)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "chown -R {PG_SYSTEM_USER}: {} failed", base.display());
        }
        let mut server = PgServer {
            port: 0,
            bin,
            base,
            data,
            socket_dir,
            as_system_user,
            counter: AtomicUsize::new(0),
        };
        // Stop and clean up when this process ends, however it ends (also if the start
        // below fails: `pg_ctl stop` on a stopped cluster is harmless).
        server.spawn_watchdog();

        let out = server
            .tool("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                PG_USER,
                "--encoding=UTF8",
                "--locale=C",
            ])
            .arg("-D")
            .arg(&server.data)
            .output()
            .unwrap_or_else(|e| panic!("run initdb from {}: {e}", server.bin.display()));
        assert!(out.status.success(), "{}", describe("initdb", &out));

        let log = server.base.join("server.log");
        let mut failures = Vec::new();
        for _attempt in 0..5 {
            let port = free_port();
            let opts = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                server.socket_dir.display()
            );
            let out = server
                .tool("pg_ctl")
                .args(["-w", "-t", "120", "-D"])
                .arg(&server.data)
                .args(["-o", &opts, "-l"])
                .arg(&log)
                .arg("start")
                .output()
                .unwrap_or_else(|e| panic!("run pg_ctl from {}: {e}", server.bin.display()));
            if out.status.success() {
                server.port = port;
                return server;
            }
            // Most likely another process took the port in between; try another one.
            failures.push(describe(&format!("pg_ctl start on port {port}"), &out));
            let _ = server
                .tool("pg_ctl")
                .args(["-D"])
                .arg(&server.data)
                .args(["stop", "-m", "immediate"])
                .output();
        }
        panic!(
            "PostgreSQL did not start after {} attempts:\n{}\n--- server log\n{}",
            failures.len(),
            failures.join("\n"),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn tool(&self, program: &str) -> Command {
        Self::server_command(&self.bin, self.as_system_user, program, &self.base)
    }

    fn spawn_watchdog(&self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = format!(
            "{}'{}' -D '{}' stop -m immediate",
            if self.as_system_user {
                format!("'{}' -u {PG_SYSTEM_USER} -- ", runuser().display())
            } else {
                String::new()
            },
            pg_ctl.display(),
            self.data.display()
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; \
             rm -rf '{base}'",
            pid = std::process::id(),
            base = self.base.display()
        );
        // Detached on purpose: it must outlive this process, so nobody waits for it; its own
        // process group keeps it alive when the test runner kills the test's group.
        #[allow(clippy::zombie_processes)]
        let _watchdog = Command::new("sh")
            .args(["-c", &script])
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn the PostgreSQL watchdog");
    }

    /// Creates a fresh, uniquely named database and returns its URL
    /// (`postgres://gradflow@127.0.0.1:PORT/NAME`).
    pub fn create_database(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let name = format!("gradflow_{}_{n}", std::process::id());
        let out = self
            .client_command("createdb")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", PG_USER, "-E", "UTF8", &name])
            .output()
            .expect("run createdb");
        assert!(
            out.status.success(),
            "{}",
            describe(&format!("createdb {name}"), &out)
        );
        self.url(&name)
    }

    /// The URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://{PG_USER}@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs `psql URL -tAc SQL` and returns its trimmed output; panics if psql fails.
    pub fn psql(&self, url: &str, sql: &str) -> String {
        let out = self
            .client_command("psql")
            .args([url, "-v", "ON_ERROR_STOP=1", "-tAc", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "{}",
            describe(&format!("psql {url} -c {sql:?}"), &out)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The directory holding the server binaries.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// The unix socket directory (the server also listens on 127.0.0.1).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The temporary directory holding the cluster, its socket and its log.
    pub fn base_dir(&self) -> &Path {
        &self.base
    }
}
