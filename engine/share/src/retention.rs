//! Retention: runs and partner packages are deleted once they are older than the policy allows,
//! and every deletion is written to the audit log first.
//!
//! A run's age is taken from its manifest's `created_at`; a package's from its manifest's. The
//! run `latest` points at is never deleted, nor is anything without a readable manifest (a
//! folder vigil did not write, or a failed run's `.failed` folder, is left for a human).

use crate::audit::{AuditFile, AuditRecord, append};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use vigil_core::error::EngineError;

/// A retention policy (TOML).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Runs older than this many days are deleted (the latest run of each job is kept).
    pub runs_days: i64,
    /// Partner packages older than this many days are deleted.
    pub exports_days: i64,
}

impl Policy {
    /// Reads and checks a policy file.
    pub fn load(path: &Path) -> Result<Policy, EngineError> {
        let text = std::fs::read_to_string(path).map_err(|e| EngineError::io(path, e))?;
        let p: Policy = toml::from_str(&text).map_err(|e| EngineError::Invalid {
            context: format!("retention policy {}", path.display()),
            message: e.to_string(),
        })?;
        if p.runs_days < 1 || p.exports_days < 1 {
            return Err(EngineError::Invalid {
                context: format!("retention policy {}", path.display()),
                message: "runs_days and exports_days must be at least 1".into(),
            });
        }
        Ok(p)
    }
}

/// One folder the policy removes (or would, in a dry run).
#[derive(Debug, Clone, PartialEq)]
pub struct Expired {
    /// The folder.
    pub path: PathBuf,
    /// `run` or `export`.
    pub kind: &'static str,
    /// When it was created.
    pub created_at: String,
    /// Its age in days.
    pub age_days: i64,
}

fn created_at(folder: &Path) -> Option<DateTime<Utc>> {
    let text = std::fs::read_to_string(folder.join("manifest.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    DateTime::parse_from_rfc3339(v["created_at"].as_str()?)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn subfolders(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir() && !p.is_symlink())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// What `policy` removes from the runs folder `runs` and the packages folder `exports` at `now`.
pub fn expired(policy: &Policy, runs: &Path, exports: &Path, now: DateTime<Utc>) -> Vec<Expired> {
    let mut out = Vec::new();
    let mut consider = |folder: PathBuf, kind: &'static str, days: i64| {
        if let Some(t) = created_at(&folder) {
            let age = (now - t).num_days();
            if age > days {
                out.push(Expired {
                    path: folder,
                    kind,
                    created_at: t.to_rfc3339(),
                    age_days: age,
                });
            }
        }
    };
    for job in subfolders(runs) {
        let latest = std::fs::read_link(job.join("latest")).ok();
        for run in subfolders(&job) {
            let name = run.file_name().map(PathBuf::from);
            let hidden = run
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if hidden || name == latest {
                continue;
            }
            consider(run, "run", policy.runs_days);
        }
    }
    for package in subfolders(exports) {
        consider(package, "export", policy.exports_days);
    }
    out
}

/// Deletes `folders`, recording each in the audit log `log` before it goes.
pub fn delete(folders: &[Expired], policy_path: &Path, log: &Path) -> Result<(), EngineError> {
    for f in folders {
        let manifest = f.path.join("manifest.json");
        let sha = vigil_core::output::sha256_file(&manifest).unwrap_or_default();
        append(
            log,
            AuditRecord {
                action: "delete".into(),
                subject: f.path.display().to_string(),
                agreement: None,
                files: vec![AuditFile {
                    file: "manifest.json".into(),
                    sha256: sha,
                }],
                note: format!(
                    "{} created {} ({} days old), past the retention policy {}",
                    f.kind,
                    f.created_at,
                    f.age_days,
                    policy_path.display()
                ),
            },
        )?;
        std::fs::remove_dir_all(&f.path).map_err(|e| EngineError::io(&f.path, e))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn folder(dir: &Path, created: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("manifest.json"),
            format!("{{\"created_at\": \"{created}\"}}"),
        )
        .unwrap();
    }

    #[test]
    fn old_runs_and_packages_go_the_latest_run_stays_and_each_deletion_is_audited() {
        let tmp = tempfile::tempdir().unwrap();
        let runs = tmp.path().join("runs");
        let exports = tmp.path().join("exports");
        folder(&runs.join("monthly/old"), "2025-01-01T00:00:00Z");
        folder(&runs.join("monthly/oldest-but-latest"), "2024-01-01T00:00:00Z");
        folder(&runs.join("monthly/new"), "2026-11-01T00:00:00Z");
        std::fs::create_dir_all(runs.join("monthly/not-vigils")).unwrap();
        std::os::unix::fs::symlink("oldest-but-latest", runs.join("monthly/latest")).unwrap();
        folder(&exports.join("p-old"), "2026-01-01T00:00:00Z");
        folder(&exports.join("p-new"), "2026-11-20T00:00:00Z");
        let policy = Policy {
            runs_days: 365,
            exports_days: 90,
        };
        let now = DateTime::parse_from_rfc3339("2026-11-25T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let gone = expired(&policy, &runs, &exports, now);
        let names: Vec<_> = gone
            .iter()
            .map(|e| e.path.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["old", "p-old"]);
        let log = runs.join("audit.jsonl");
        delete(&gone, Path::new("policy.toml"), &log).unwrap();
        assert!(!runs.join("monthly/old").exists() && !exports.join("p-old").exists());
        assert!(runs.join("monthly/oldest-but-latest").exists() && runs.join("monthly/not-vigils").exists());
        let check = crate::audit::verify(&log).unwrap();
        assert_eq!(check.entries, 2);
        assert!(check.problems.is_empty());
    }
}
