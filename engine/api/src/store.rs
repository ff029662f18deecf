//! What the service reads from disk: run folders and partner packages, resolved from names that
//! were checked first (never a raw path from the request), with every file checked against the
//! sha256 its manifest lists before it is served, and kept in a small in-memory cache.

use super::ApiError;
use chrono::NaiveDate;
use polars::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use vigil_core::output::{LATEST, Manifest, OutputRecord, read_latest, sha256_bytes};
use vigil_share::export::{Agreement, ExportManifest};

/// Whether `name` may name a job, run, table, chart, package or file: ASCII letters, digits,
/// `.`, `_` and `-`, at most 128 characters, not starting with a dot. So no separator, no `..`,
/// no hidden or temporary folder (`.tmp-…`) and no encoding trick survives: the check runs on
/// the decoded name.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A complete run, as the service sees it.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// The job's name.
    pub job: String,
    /// Its folder.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Arc<Manifest>,
    /// Whether `latest` points at it.
    pub latest: bool,
}

impl Run {
    /// The manifest's record of `file`, or 404: only listed files are ever served.
    pub fn output(&self, file: &str) -> Result<&OutputRecord, ApiError> {
        self.manifest
            .outputs
            .iter()
            .find(|o| o.file == file)
            .ok_or_else(ApiError::not_found)
    }
}

/// A partner package.
#[derive(Debug, Clone)]
pub(crate) struct Package {
    /// Its folder name (`<partner>-<run id>`).
    pub name: String,
    /// Its folder.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Arc<ExportManifest>,
}

/// Something read from disk and checked.
#[derive(Clone)]
enum Cached {
    Bytes(Arc<Vec<u8>>),
    Frame(Arc<DataFrame>),
    Manifest(Arc<Manifest>),
    Package(Arc<ExportManifest>),
}

/// Files already read, keyed by path and what was made of them (bytes, frame, manifest), and
/// checked against their modification time.
struct Cache {
    entries: HashMap<(PathBuf, &'static str), (Option<SystemTime>, usize, Cached)>,
    bytes: usize,
}

/// The service's view of the runs and exports folders.
pub(crate) struct Store {
    runs: PathBuf,
    exports: PathBuf,
    agreements: PathBuf,
    cache: Mutex<Cache>,
    cache_budget: usize,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// A real folder (not a link) at `path`.
fn is_real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

impl Store {
    /// A store over the given folders; they may not exist yet (then they are empty).
    pub fn new(runs: &Path, exports: &Path, agreements: &Path, cache_budget: usize) -> Store {
        Store {
            runs: runs.to_path_buf(),
            exports: exports.to_path_buf(),
            agreements: agreements.to_path_buf(),
            cache: Mutex::new(Cache {
                entries: HashMap::new(),
                bytes: 0,
            }),
            cache_budget,
        }
    }

    /// Reads `path` through the cache: `load` turns its bytes into the cached value (of kind
    /// `kind`), with its size in bytes. A file changed on disk since it was cached is read again.
    fn cached(
        &self,
        path: &Path,
        kind: &'static str,
        load: impl FnOnce(Vec<u8>) -> Result<(Cached, usize), ApiError>,
    ) -> Result<Cached, ApiError> {
        let stamp = modified(path);
        if let Ok(cache) = self.cache.lock()
            && let Some((s, _, v)) = cache.entries.get(&(path.to_path_buf(), kind))
            && *s == stamp
        {
            return Ok(v.clone());
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ApiError::not_found()),
            Err(e) => {
                return Err(ApiError::internal(format!("reading {}: {e}", path.display())));
            }
        };
        let (value, size) = load(bytes)?;
        if let Ok(mut cache) = self.cache.lock() {
            // A simple bound: when the budget is spent, start again. Run files never change, so
            // what is dropped is only read again.
            if cache.bytes + size > self.cache_budget {
                cache.entries.clear();
                cache.bytes = 0;
            }
            if size <= self.cache_budget {
                cache.bytes += size;
                if let Some((_, old, _)) = cache
                    .entries
                    .insert((path.to_path_buf(), kind), (stamp, size, value.clone()))
                {
                    cache.bytes -= old;
                }
            }
        }
        Ok(value)
    }

    /// Job folders, sorted.
    pub fn jobs(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(&self.runs)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| valid_name(n) && is_real_dir(&self.runs.join(n)))
            .collect();
        out.sort();
        out
    }

    fn manifest(&self, dir: &Path) -> Result<Arc<Manifest>, ApiError> {
        let path = dir.join("manifest.json");
        match self.cached(&path, "manifest", |bytes| {
            let m: Manifest = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::internal(format!("{}: not a vigil manifest: {e}", path.display())))?;
            Ok((Cached::Manifest(Arc::new(m)), bytes.len()))
        })? {
            Cached::Manifest(m) => Ok(m),
            _ => Err(ApiError::internal("cache holds another kind of value".into())),
        }
    }

    /// The complete runs of `job`, oldest first (by run id, which starts with the as-of date).
    pub fn runs(&self, job: &str) -> Result<Vec<Run>, ApiError> {
        let job_dir = self.job_dir(job)?;
        let latest = read_latest(&job_dir);
        let mut names: Vec<String> = std::fs::read_dir(&job_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| valid_name(n) && n != LATEST && is_real_dir(&job_dir.join(n)))
            .collect();
        names.sort();
        Ok(names
            .into_iter()
            .filter_map(|n| {
                let dir = job_dir.join(&n);
                let manifest = self.manifest(&dir).ok()?;
                (manifest.status == "complete" && manifest.run_id == n).then(|| Run {
                    job: job.to_string(),
                    latest: latest.as_deref() == Some(n.as_str()),
                    dir,
                    manifest,
                })
            })
            .collect())
    }

    fn job_dir(&self, job: &str) -> Result<PathBuf, ApiError> {
        let dir = self.runs.join(job);
        if valid_name(job) && is_real_dir(&dir) {
            Ok(dir)
        } else {
            Err(ApiError::not_found())
        }
    }

    /// Run `run` (an id, or `latest`) of `job`.
    pub fn run(&self, job: &str, run: &str) -> Result<Run, ApiError> {
        let job_dir = self.job_dir(job)?;
        let latest = read_latest(&job_dir);
        let id = if run == LATEST {
            latest.clone().ok_or_else(ApiError::not_found)?
        } else {
            run.to_string()
        };
        let dir = job_dir.join(&id);
        if !valid_name(&id) || id == LATEST || !is_real_dir(&dir) {
            return Err(ApiError::not_found());
        }
        let manifest = self.manifest(&dir)?;
        if manifest.status != "complete" || manifest.run_id != id {
            return Err(ApiError::not_found());
        }
        Ok(Run {
            job: job.to_string(),
            latest: latest.as_deref() == Some(id.as_str()),
            dir,
            manifest,
        })
    }

    /// The bytes of `file` (listed in `manifest` with `sha256`) under `dir`, checked.
    fn checked_bytes(&self, dir: &Path, file: &str, sha256: &str) -> Result<Arc<Vec<u8>>, ApiError> {
        let path = dir.join(file);
        match self.cached(&path, "bytes", |bytes| {
            check_sha(&path, &bytes, sha256)?;
            let n = bytes.len();
            Ok((Cached::Bytes(Arc::new(bytes)), n))
        })? {
            Cached::Bytes(b) => Ok(b),
            _ => Err(ApiError::internal("cache holds another kind of value".into())),
        }
    }

    /// The bytes of a run output, checked against the manifest.
    pub fn bytes(&self, run: &Run, rec: &OutputRecord) -> Result<Arc<Vec<u8>>, ApiError> {
        self.checked_bytes(&run.dir, &rec.file, &rec.sha256)
    }

    /// A parquet output of a run as a frame, checked against the manifest.
    pub fn frame(&self, run: &Run, rec: &OutputRecord) -> Result<Arc<DataFrame>, ApiError> {
        let path = run.dir.join(&rec.file);
        match self.cached(&path, "frame", |bytes| {
            check_sha(&path, &bytes, &rec.sha256)?;
            let df = ParquetReader::new(std::io::Cursor::new(bytes))
                .finish()
                .map_err(|e| ApiError::internal(format!("reading {}: {e}", path.display())))?;
            let size = df.estimated_size();
            Ok((Cached::Frame(Arc::new(df)), size))
        })? {
            Cached::Frame(f) => Ok(f),
            _ => Err(ApiError::internal("cache holds another kind of value".into())),
        }
    }

    /// Partner packages, sorted by name.
    pub fn packages(&self) -> Vec<Package> {
        let mut names: Vec<String> = std::fs::read_dir(&self.exports)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| valid_name(n))
            .collect();
        names.sort();
        names.iter().filter_map(|n| self.package(n).ok()).collect()
    }

    /// The package `name`.
    pub fn package(&self, name: &str) -> Result<Package, ApiError> {
        let dir = self.exports.join(name);
        if !valid_name(name) || !is_real_dir(&dir) {
            return Err(ApiError::not_found());
        }
        let path = dir.join("manifest.json");
        let manifest = match self.cached(&path, "package", |bytes| {
            let m: ExportManifest = serde_json::from_slice(&bytes).map_err(|e| {
                ApiError::internal(format!("{}: not a package manifest: {e}", path.display()))
            })?;
            Ok((Cached::Package(Arc::new(m)), bytes.len()))
        })? {
            Cached::Package(m) => m,
            _ => return Err(ApiError::internal("cache holds another kind of value".into())),
        };
        Ok(Package {
            name: name.to_string(),
            dir,
            manifest,
        })
    }

    /// The bytes of a file of a package (its manifest, or a file the manifest lists), checked.
    pub fn package_file(&self, package: &Package, file: &str) -> Result<Arc<Vec<u8>>, ApiError> {
        if file == "manifest.json" {
            let path = package.dir.join(file);
            return std::fs::read(&path)
                .map(Arc::new)
                .map_err(|e| ApiError::internal(format!("reading {}: {e}", path.display())));
        }
        let (_, sha) = package
            .manifest
            .files
            .iter()
            .find(|(f, _)| f == file)
            .ok_or_else(ApiError::not_found)?;
        self.checked_bytes(&package.dir, file, sha)
    }

    /// Whether `partner` holds an agreement valid on `today`, and if not, why (for the 403).
    pub fn agreement_valid(&self, partner: &str, today: NaiveDate) -> Result<(), String> {
        let mut found: Vec<Agreement> = Vec::new();
        for entry in std::fs::read_dir(&self.agreements)
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            match Agreement::load(&path) {
                Ok(a) if a.partner == partner => found.push(a),
                Ok(_) => {}
                Err(e) => tracing::warn!("skipping agreement {}: {e}", path.display()),
            }
        }
        if found.iter().any(|a| a.start <= today && today <= a.expires) {
            return Ok(());
        }
        Err(match found.iter().map(|a| a.expires).max() {
            Some(last) if last < today => format!("the agreement with {partner} expired on {last}"),
            Some(_) => format!("the agreement with {partner} is not yet in force"),
            None => format!("there is no agreement on file for {partner}"),
        })
    }
}

/// 500 when a file no longer matches its manifest: it was changed after the run, and is never
/// served (`vigil verify` says more).
fn check_sha(path: &Path, bytes: &[u8], want: &str) -> Result<(), ApiError> {
    if sha256_bytes(bytes) == want {
        Ok(())
    } else {
        tracing::error!(
            "{} does not match the sha256 in its manifest; not served (run `vigil verify`)",
            path.display()
        );
        Err(ApiError::internal(
            "a file does not match its manifest and is not served; an administrator has been told".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn names_with_separators_dots_or_encodings_are_refused() {
        for ok in [
            "monthly",
            "2021-12-31-139a1ef651",
            "01-432-sector-north.svg",
            "a..b",
        ] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "", "..", ".", ".tmp-x", "../etc", "a/b", "a\\b", "%2e%2e", "a b", "a\0b", "é", "x%2Fy",
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(!valid_name(&"a".repeat(129)));
    }
}
