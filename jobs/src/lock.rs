//! One run of a job at a time: a lock file in the job's folder.
//!
//! `OUT/<job>/.lock` is created with `create_new` (atomic on local and NFSv3+ file systems) and
//! holds who took it: run id, pid, host and time. It is removed when the run ends, also when it
//! fails with an error or panics. A run that was killed leaves it behind; the next run finds a
//! lock whose process no longer exists on this host and reports it as stale, naming the run
//! and the file to delete, rather than taking it over: a human should look at what the crash
//! left before the job writes there again.

use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The lock file's name inside the job folder.
pub const LOCK_FILE: &str = ".lock";

/// Who holds a lock.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holder {
    /// The run that took it.
    pub run_id: String,
    /// Its process id.
    pub pid: u32,
    /// The host it runs on.
    pub host: String,
    /// When it took the lock (UTC, RFC 3339).
    pub since: String,
}

/// Why a run could not take the lock.
#[derive(Debug)]
pub enum LockError {
    /// Another run holds it (or a run on another host, whose process cannot be checked).
    Locked { path: PathBuf, holder: Holder },
    /// The run that took it is no longer running on this host.
    Stale { path: PathBuf, holder: Holder },
    /// The lock file is unreadable or could not be written.
    Io { path: PathBuf, message: String },
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Locked { path, holder: h } => write!(
                f,
                "the job is locked by run {} (pid {}, host {}, since {}): it is still running; \
                 wait for it to finish. If that process is gone, delete {} and run again.",
                h.run_id,
                h.pid,
                h.host,
                h.since,
                path.display()
            ),
            LockError::Stale { path, holder: h } => write!(
                f,
                "stale lock: run {} (pid {}, host {}, since {}) took the job's lock and is no \
                 longer running (it crashed or was killed). Look at what it left in {} (a \
                 .tmp-{}-{} folder is never used as a run), then delete {} and run again.",
                h.run_id,
                h.pid,
                h.host,
                h.since,
                path.parent()
                    .map_or_else(String::new, |p| p.display().to_string()),
                h.run_id,
                h.pid,
                path.display()
            ),
            LockError::Io { path, message } => write!(f, "lock file {}: {message}", path.display()),
        }
    }
}

impl std::error::Error for LockError {}

/// A held lock; dropping it removes the file.
#[derive(Debug)]
pub struct JobLock {
    path: PathBuf,
}

impl Drop for JobLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether process `pid` exists on this host, or `None` where that cannot be told (no /proc).
fn alive(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return None;
    }
    Some(proc.join(pid.to_string()).exists())
}

/// Takes the lock of the job folder `job_dir` for `run_id`.
pub fn acquire(job_dir: &Path, run_id: &str) -> Result<JobLock, LockError> {
    let path = job_dir.join(LOCK_FILE);
    let io = |message: String| LockError::Io {
        path: path.clone(),
        message,
    };
    std::fs::create_dir_all(job_dir).map_err(|e| io(format!("creating the job folder: {e}")))?;
    let me = Holder {
        run_id: run_id.to_string(),
        pid: std::process::id(),
        host: vigil_share::audit::host_name(),
        since: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(mut f) => {
            let text = serde_json::to_string(&me).map_err(|e| io(e.to_string()))?;
            f.write_all(text.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| io(format!("writing: {e}")))?;
            Ok(JobLock { path })
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text =
                std::fs::read_to_string(&path).map_err(|e| io(format!("exists but cannot be read: {e}")))?;
            let holder: Holder = serde_json::from_str(&text).map_err(|e| {
                io(format!(
                    "exists but is not a vigil lock ({e}); if no run of this job is going on, delete it"
                ))
            })?;
            let here = holder.host == me.host;
            if here && alive(holder.pid) == Some(false) {
                Err(LockError::Stale { path, holder })
            } else {
                Err(LockError::Locked { path, holder })
            }
        }
        Err(e) => Err(io(format!("cannot be created: {e}"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_is_refused_and_a_dead_holder_is_reported_stale() {
        let dir = tempfile::tempdir().unwrap();
        let lock = acquire(dir.path(), "run-a").unwrap();
        match acquire(dir.path(), "run-b") {
            Err(LockError::Locked { holder, .. }) => {
                assert_eq!(holder.run_id, "run-a");
                assert_eq!(holder.pid, std::process::id());
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(lock);
        let again = acquire(dir.path(), "run-b").unwrap();
        std::mem::forget(again);
        // A holder whose pid does not exist on this host: stale, and the file stays.
        let path = dir.path().join(LOCK_FILE);
        let dead = Holder {
            run_id: "run-c".into(),
            pid: u32::MAX - 1,
            host: vigil_share::audit::host_name(),
            since: "2026-01-01T00:00:00Z".into(),
        };
        std::fs::write(&path, serde_json::to_string(&dead).unwrap()).unwrap();
        match acquire(dir.path(), "run-d") {
            Err(e @ LockError::Stale { .. }) => {
                let text = e.to_string();
                assert!(text.contains("run-c") && text.contains("delete"), "{text}");
            }
            other => panic!("expected Stale, got {other:?}"),
        }
        assert!(path.exists(), "a stale lock is reported, not taken over");
        // Garbage in the lock file: an error that says what to do.
        std::fs::write(&path, "x").unwrap();
        let e = acquire(dir.path(), "run-e").unwrap_err().to_string();
        assert!(e.contains("not a vigil lock"), "{e}");
    }
}
