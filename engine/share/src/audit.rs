//! The audit log: append-only, hash-chained JSON lines.
//!
//! Every release (a run, a partner export, a deletion under the retention policy) appends one
//! line: sequence number, time, who, what, which agreement, and the sha256 of what was released.
//! Each entry holds the hash of the entry before it (`prev`) and its own hash over all of its
//! fields, so editing an entry breaks its own hash, and removing or reordering entries breaks the
//! chain at the next one. Removing the *last* entries leaves a shorter chain that is valid by
//! itself: the head file beside the log (`<log>.head`, the last sequence number and hash, written
//! with every append) catches that, and a copy of the head kept elsewhere (each partner
//! package's manifest carries it) catches a rewrite of both.
//!
//! Appends take an exclusive lock on the log file, so concurrent writers cannot interleave.

use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write as _};
use std::path::{Path, PathBuf};
use vigil_core::error::EngineError;
use vigil_core::output::sha256_bytes;

/// The log's file name inside a runs folder.
pub const LOG: &str = "audit.jsonl";

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A file that an entry accounts for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFile {
    /// Its path, as the action saw it.
    pub file: String,
    /// Its sha256 (empty for a deleted folder).
    pub sha256: String,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1, 2, 3, … with no gaps.
    pub seq: u64,
    /// When (UTC, RFC 3339).
    pub time: String,
    /// Who: `VIGIL_ACTOR`, else the user and host.
    pub actor: String,
    /// What: `run`, `export`, `delete`, …
    pub action: String,
    /// What it was done to: a run id, an export folder, a deleted path.
    pub subject: String,
    /// The agreement it was done under, if any.
    pub agreement: Option<String>,
    /// The files released or removed, with their hashes.
    pub files: Vec<AuditFile>,
    /// Anything else a reader needs (e.g. the retention rule that applied).
    pub note: String,
    /// The hash of the entry before (or [`GENESIS`]).
    pub prev: String,
    /// sha256 of this entry's JSON with `hash` empty.
    pub hash: String,
}

impl AuditEntry {
    /// The hash this entry should carry.
    pub fn compute_hash(&self) -> String {
        let mut unhashed = self.clone();
        unhashed.hash = String::new();
        // Serialising a struct of strings and vectors cannot fail.
        let text = serde_json::to_string(&unhashed).unwrap_or_default();
        sha256_bytes(text.as_bytes())
    }
}

/// The head file: the last entry's sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    /// Sequence number of the last entry.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}

/// What someone did, to be appended.
#[derive(Debug, Clone, Default)]
pub struct AuditRecord {
    /// `run`, `export`, `delete`, …
    pub action: String,
    /// What it was done to.
    pub subject: String,
    /// The agreement, if any.
    pub agreement: Option<String>,
    /// Files released or removed.
    pub files: Vec<AuditFile>,
    /// Anything else.
    pub note: String,
}

/// Who is acting: `VIGIL_ACTOR`, else `USER@host`.
pub fn actor() -> String {
    if let Ok(a) = std::env::var("VIGIL_ACTOR")
        && !a.trim().is_empty()
    {
        return a;
    }
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("{user}@{}", host_name())
}

/// This machine's host name (Linux: the kernel's; else `HOSTNAME`, else "unknown").
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The head file of log `log`.
pub fn head_path(log: &Path) -> PathBuf {
    let mut name = log.file_name().unwrap_or_default().to_os_string();
    name.push(".head");
    log.with_file_name(name)
}

/// A line number and the entry on it (or why it is not one).
type Line = (usize, Result<AuditEntry, String>);

fn read_entries(log: &Path) -> Result<Vec<Line>, EngineError> {
    let file = match std::fs::File::open(log) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(EngineError::io(log, e)),
    };
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| EngineError::io(log, e))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push((i + 1, serde_json::from_str(&line).map_err(|e| e.to_string())));
    }
    Ok(out)
}

/// Appends `record` to the log at `log` (created if missing) and returns the entry.
pub fn append(log: &Path, record: AuditRecord) -> Result<AuditEntry, EngineError> {
    if let Some(dir) = log.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| EngineError::io(log, e))?;
    file.lock().map_err(|e| EngineError::io(log, e))?;
    let last = read_entries(log)?
        .into_iter()
        .next_back()
        .map(|(line, e)| {
            e.map_err(|m| EngineError::Invalid {
                context: format!("audit log {} line {line}", log.display()),
                message: format!("unreadable entry ({m}); run `vigil audit verify` and repair first"),
            })
        })
        .transpose()?;
    let mut entry = AuditEntry {
        seq: last.as_ref().map_or(1, |e| e.seq + 1),
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        actor: actor(),
        action: record.action,
        subject: record.subject,
        agreement: record.agreement,
        files: record.files,
        note: record.note,
        prev: last.map_or_else(|| GENESIS.to_string(), |e| e.hash),
        hash: String::new(),
    };
    entry.hash = entry.compute_hash();
    let line = serde_json::to_string(&entry).map_err(|e| EngineError::Json {
        path: log.to_path_buf(),
        source: e,
    })?;
    file.write_all(format!("{line}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| EngineError::io(log, e))?;
    let head = AuditHead {
        seq: entry.seq,
        hash: entry.hash.clone(),
    };
    let head_file = head_path(log);
    let tmp = head_file.with_extension("head.tmp");
    let text = serde_json::to_string(&head).map_err(|e| EngineError::Json {
        path: head_file.clone(),
        source: e,
    })?;
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &head_file))
        .map_err(|e| EngineError::io(&head_file, e))?;
    drop(file);
    Ok(entry)
}

/// What `vigil audit verify` found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditCheck {
    /// Entries read.
    pub entries: usize,
    /// Every break in the chain, with its line number and what it means.
    pub problems: Vec<String>,
    /// The last entry's sequence number and hash.
    pub head: Option<AuditHead>,
}

/// Checks the whole log: each entry's hash, the chain of `prev` hashes, the sequence numbers,
/// and the last entry against the head file.
pub fn verify(log: &Path) -> Result<AuditCheck, EngineError> {
    let mut check = AuditCheck::default();
    let mut prev = GENESIS.to_string();
    let mut expected_seq = 1;
    for (line, entry) in read_entries(log)? {
        check.entries += 1;
        let e = match entry {
            Ok(e) => e,
            Err(m) => {
                check
                    .problems
                    .push(format!("line {line}: not an audit entry ({m}): edited"));
                continue;
            }
        };
        if e.compute_hash() != e.hash {
            check.problems.push(format!(
                "line {line} (entry {}): its content does not match its hash: the entry was edited",
                e.seq
            ));
        }
        if e.prev != prev {
            check.problems.push(format!(
                "line {line} (entry {}): it does not follow the entry before it (prev hash differs): \
                 an entry before it was removed, inserted or moved",
                e.seq
            ));
        }
        if e.seq != expected_seq {
            check.problems.push(format!(
                "line {line}: sequence number {} where {expected_seq} was due: entries were removed, \
                 inserted or reordered",
                e.seq
            ));
        }
        expected_seq = e.seq + 1;
        prev = e.hash.clone();
        check.head = Some(AuditHead {
            seq: e.seq,
            hash: e.hash,
        });
    }
    let head_file = head_path(log);
    match std::fs::read_to_string(&head_file) {
        Ok(text) => match serde_json::from_str::<AuditHead>(&text) {
            Ok(h) if Some(&h) == check.head.as_ref() => {}
            Ok(h) => check.problems.push(format!(
                "the log ends at entry {} but {} records entry {} ({}): entries were removed from the end",
                check.head.as_ref().map_or(0, |x| x.seq),
                head_file.display(),
                h.seq,
                h.hash
            )),
            Err(e) => check
                .problems
                .push(format!("{} is unreadable ({e})", head_file.display())),
        },
        Err(_) if check.entries == 0 => {}
        Err(e) => check.problems.push(format!(
            "{} is missing or unreadable ({e}): cannot tell whether entries were removed from the end",
            head_file.display()
        )),
    }
    Ok(check)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn log_with(n: usize) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.jsonl");
        for i in 0..n {
            append(
                &log,
                AuditRecord {
                    action: "export".into(),
                    subject: format!("run-{i}"),
                    agreement: Some("partner-a".into()),
                    files: vec![AuditFile {
                        file: "cells.parquet".into(),
                        sha256: sha256_bytes(format!("{i}").as_bytes()),
                    }],
                    note: String::new(),
                },
            )
            .unwrap();
        }
        (dir, log)
    }

    fn lines(log: &Path) -> Vec<String> {
        std::fs::read_to_string(log)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    fn write(log: &Path, lines: &[String]) {
        std::fs::write(log, lines.join("\n") + "\n").unwrap();
    }

    #[test]
    fn an_untouched_log_verifies_and_every_kind_of_tampering_is_named() {
        let (_d, log) = log_with(5);
        let ok = verify(&log).unwrap();
        assert_eq!(ok.entries, 5);
        assert!(ok.problems.is_empty(), "{:?}", ok.problems);
        assert_eq!(ok.head.as_ref().unwrap().seq, 5);
        let original = lines(&log);

        // Edited: one character of entry 3's subject.
        let mut edited = original.clone();
        edited[2] = edited[2].replace("run-2", "run-9");
        write(&log, &edited);
        let p = verify(&log).unwrap().problems;
        assert!(
            p.iter().any(|m| m.contains("entry 3") && m.contains("edited")),
            "{p:?}"
        );

        // Deleted: entry 2.
        let mut deleted = original.clone();
        deleted.remove(1);
        write(&log, &deleted);
        let p = verify(&log).unwrap().problems;
        assert!(p.iter().any(|m| m.contains("removed")), "{p:?}");

        // Reordered: entries 3 and 4 swapped.
        let mut swapped = original.clone();
        swapped.swap(2, 3);
        write(&log, &swapped);
        let p = verify(&log).unwrap().problems;
        assert!(
            p.iter().any(|m| m.contains("reordered") || m.contains("moved")),
            "{p:?}"
        );

        // Truncated: the last entry removed; the chain alone is valid, the head is not.
        write(&log, &original[..4]);
        let p = verify(&log).unwrap().problems;
        assert!(p.iter().any(|m| m.contains("removed from the end")), "{p:?}");

        // Restored: fine again, and appending continues the chain.
        write(&log, &original);
        assert!(verify(&log).unwrap().problems.is_empty());
        let e = append(&log, AuditRecord::default()).unwrap();
        assert_eq!(e.seq, 6);
        assert!(verify(&log).unwrap().problems.is_empty());
    }
}
