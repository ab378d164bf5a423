//! The service's life as an operator sees it: the data directory one server owns, the check
//! that it is writable, the signal that stops the server and how that stop reaches the work
//! in flight.
//!
//! * **One server per data directory.** `serve` (and `migrate`) on SQLite take an exclusive
//!   lock on `<data-dir>/gradflow.lock` (an OS file lock: it ends with the process, however it
//!   ends) and write who holds it into the file; a second server on the same directory refuses
//!   to start and names the holder. Two writers on one SQLite file would each believe they are
//!   its one writer.
//! * **Writable or not started.** The data directory is checked by writing into it before the
//!   server listens: a read-only directory fails the start instead of answering `/healthz`
//!   and then 500 on every write.
//! * **Graceful stop.** SIGTERM or SIGINT triggers [`Shutdown`]: the listener stops accepting,
//!   requests in flight run to their end (at most `--shutdown-grace-secs`), the workers finish
//!   the item in hand and give back the leases of what they claimed but did not start, and a
//!   roster import stops after its last committed batch, answering how far it got.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use tokio::sync::watch;

/// The name of the lock file in the data directory.
pub const LOCK_FILE: &str = "gradflow.lock";

/// The stop signal shared by the server, its workers and long requests.
#[derive(Clone)]
pub struct Shutdown {
    tx: std::sync::Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            tx: std::sync::Arc::new(watch::channel(false).0),
        }
    }
}

impl Shutdown {
    /// Asks everything to stop (idempotent).
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Whether the stop was asked for.
    pub fn is_requested(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once the stop is asked for.
    pub async fn requested(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// Waits for SIGTERM or SIGINT (Ctrl-C), then triggers `shutdown`.
pub async fn stop_on_signal(shutdown: Shutdown) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::warn!("signal handlers unavailable; the server stops only when killed");
            return;
        };
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(
            signal = name,
            "stopping: no new connections, finishing requests in flight"
        );
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("stopping: no new connections, finishing requests in flight");
    }
    shutdown.trigger();
}

/// The data directory, held by this process until it ends.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    pub path: PathBuf,
}

/// Creates the data directory if needed, checks that it is writable and, when `exclusive`
/// (SQLite: the database file is in it), locks it for this process. `holder` says who holds
/// it (the address the server listens on) for the message a second server prints.
pub fn claim_data_dir(
    dir: &Path,
    exclusive: bool,
    holder: &str,
) -> anyhow::Result<Option<DataDirLock>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    check_writable(dir)?;
    if !exclusive {
        return Ok(None);
    }
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut who = String::new();
            let _ = file.read_to_string(&mut who);
            let who = who.trim();
            bail!(
                "the data directory {} is in use by another gradflow server ({}); stop it or choose another --data-dir",
                dir.display(),
                if who.is_empty() { "holder unknown" } else { who }
            );
        }
        Err(TryLockError::Error(e)) => {
            return Err(anyhow!(e).context(format!("cannot lock {}", path.display())));
        }
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(
        file,
        "pid {}, {holder}, since {}",
        std::process::id(),
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    )?;
    file.flush()?;
    Ok(Some(DataDirLock { _file: file, path }))
}

/// Writes and removes a probe file, and checks an existing database file opens for writing.
fn check_writable(dir: &Path) -> anyhow::Result<()> {
    let probe = dir.join(format!(".write-check-{}", std::process::id()));
    let written =
        File::create(&probe).and_then(|mut f| f.write_all(b"ok").and_then(|_| f.sync_all()));
    let _ = std::fs::remove_file(&probe);
    written.with_context(|| format!("the data directory {} is not writable", dir.display()))?;
    let db = dir.join("gradflow.sqlite");
    if db.exists() {
        OpenOptions::new()
            .write(true)
            .open(&db)
            .with_context(|| format!("the database file {} is not writable", db.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = claim_data_dir(dir.path(), true, "listening on http://127.0.0.1:1").unwrap();
        assert!(first.is_some());
        let err = claim_data_dir(dir.path(), true, "other")
            .unwrap_err()
            .to_string();
        assert!(err.contains("in use by another gradflow server"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains("127.0.0.1:1"), "{err}");
        drop(first);
        assert!(claim_data_dir(dir.path(), true, "again").unwrap().is_some());
    }

    #[test]
    fn shutdown_resolves_once_triggered() {
        let s = Shutdown::default();
        assert!(!s.is_requested());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let waiting = tokio::spawn({
                let s = s.clone();
                async move { s.requested().await }
            });
            s.trigger();
            waiting.await.unwrap();
        });
        assert!(s.is_requested());
    }
}
