//! Run folders: outputs are written into a hidden temporary folder beside the final one, the
//! manifest last, and the folder is renamed into place only when everything is written. A crash
//! leaves at most a `.tmp-…` folder without a manifest, never a run that looks complete. The
//! `latest` link moves only after the rename.

use crate::data::classification::Classification;
use crate::error::EngineError;
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Name of the link to the newest complete run.
pub const LATEST: &str = "latest";
/// The report's file name in a run folder.
pub const REPORT: &str = "report.html";
/// Prefix of temporary run folders.
pub const TMP_PREFIX: &str = ".tmp-";

/// sha256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, EngineError> {
    let mut f = std::fs::File::open(path).map_err(|e| EngineError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| EngineError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// sha256 of bytes, as lowercase hex.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One input of a run, as recorded in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputRecord {
    /// Path as written in the job spec.
    pub path: String,
    /// sha256 of the file.
    pub sha256: String,
    /// Rows in the file.
    pub rows: u64,
    /// The schema mapping used.
    pub mapping: String,
    /// sha256 of the mapping file.
    pub mapping_sha256: String,
    /// Declared classification.
    pub classification: Classification,
}

/// One output file of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutputRecord {
    /// Path inside the run folder.
    pub file: String,
    /// sha256 of the file.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Rows, for tables.
    pub rows: Option<u64>,
    /// Classification of what it was made from.
    pub classification: Classification,
    /// What the file holds.
    pub description: String,
}

/// How long a stage took.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Timing {
    /// Stage name.
    pub stage: String,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// `manifest.json`: everything needed to know what a run is and to check it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// The run's id (also its folder name).
    pub run_id: String,
    /// The job's name.
    pub job: String,
    /// `complete`, or `failed_quality_gate`.
    pub status: String,
    /// The run's as-of date.
    pub as_of: String,
    /// When the run finished (UTC, RFC 3339).
    pub created_at: String,
    /// vigil's version.
    pub engine_version: String,
    /// The job spec's path.
    pub spec_path: String,
    /// sha256 of the job spec file.
    pub spec_sha256: String,
    /// Command-line settings that changed the spec (`as_of=…`).
    pub overrides: Vec<String>,
    /// Highest classification among the inputs.
    pub classification: Classification,
    /// Inputs.
    pub inputs: Vec<InputRecord>,
    /// Outputs (the manifest itself excluded).
    pub outputs: Vec<OutputRecord>,
    /// Stage timings.
    pub timings: Vec<Timing>,
    /// Things a reader should know (fallbacks, excluded rows, …).
    pub warnings: Vec<String>,
    /// How many shards computed the local models (absent for a run done in one process).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shards: Option<usize>,
}

/// A run being written.
#[derive(Debug)]
pub struct RunWriter {
    job_dir: PathBuf,
    run_id: String,
    tmp: PathBuf,
    outputs: Vec<OutputRecord>,
    committed: bool,
}

impl RunWriter {
    /// Starts a run `run_id` under `job_dir`, in a fresh temporary folder.
    pub fn create(job_dir: &Path, run_id: &str) -> Result<Self, EngineError> {
        std::fs::create_dir_all(job_dir).map_err(|e| EngineError::io(job_dir, e))?;
        let tmp = job_dir.join(format!("{TMP_PREFIX}{run_id}-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| EngineError::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| EngineError::io(&tmp, e))?;
        Ok(RunWriter {
            job_dir: job_dir.to_path_buf(),
            run_id: run_id.to_string(),
            tmp,
            outputs: Vec::new(),
            committed: false,
        })
    }

    /// The temporary folder outputs are written into.
    pub fn dir(&self) -> &Path {
        &self.tmp
    }

    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Where the run will be once committed.
    pub fn final_dir(&self) -> PathBuf {
        self.job_dir.join(&self.run_id)
    }

    /// Writes a table as zstd parquet, with the classification and run id as key-value
    /// metadata, and records it.
    pub fn write_parquet(
        &mut self,
        file: &str,
        df: &mut DataFrame,
        classification: Classification,
        description: &str,
    ) -> Result<(), EngineError> {
        let path = self.tmp.join(file);
        write_parquet(&path, df, classification, &self.run_id)?;
        self.record(file, Some(df.height() as u64), classification, description)
    }

    /// Writes the table of catalogue entry `output` (see [`super::catalogue`]), records it with
    /// the entry's description, and returns the file's sha256 (which a later file may cite).
    pub fn write_table(
        &mut self,
        output: &super::catalogue::Output,
        df: &mut DataFrame,
        classification: Classification,
    ) -> Result<String, EngineError> {
        self.write_parquet(output.file, df, classification, output.description)?;
        Ok(self.outputs.last().map(|o| o.sha256.clone()).unwrap_or_default())
    }

    /// Records the file of catalogue entry `output`, written by someone else into
    /// [`RunWriter::dir`], with the entry's description.
    pub fn record_output(
        &mut self,
        output: &super::catalogue::Output,
        rows: Option<u64>,
        classification: Classification,
    ) -> Result<(), EngineError> {
        self.record(output.file, rows, classification, output.description)
    }

    /// Writes a value as pretty JSON and records it.
    pub fn write_json<T: Serialize>(
        &mut self,
        file: &str,
        value: &T,
        classification: Classification,
        description: &str,
    ) -> Result<(), EngineError> {
        let path = self.tmp.join(file);
        write_json(&path, value)?;
        self.record(file, None, classification, description)
    }

    /// Records a file someone else wrote into [`RunWriter::dir`].
    pub fn record(
        &mut self,
        file: &str,
        rows: Option<u64>,
        classification: Classification,
        description: &str,
    ) -> Result<(), EngineError> {
        let path = self.tmp.join(file);
        let bytes = std::fs::metadata(&path)
            .map_err(|e| EngineError::io(&path, e))?
            .len();
        self.outputs.push(OutputRecord {
            file: file.to_string(),
            sha256: sha256_file(&path)?,
            bytes,
            rows,
            classification,
            description: description.to_string(),
        });
        Ok(())
    }

    /// Outputs recorded so far.
    pub fn outputs(&self) -> &[OutputRecord] {
        &self.outputs
    }

    /// Writes the manifest, renames the folder into place (replacing an older run of the same id
    /// when `replace`), and points `latest` at it. Returns the run folder.
    /// Refuses (and writes nothing) if any output is marked below the run's classification: data
    /// leave at a lower level only through a partner export.
    pub fn commit(mut self, mut manifest: Manifest, replace: bool) -> Result<PathBuf, EngineError> {
        if let Some(low) = self
            .outputs
            .iter()
            .find(|o| o.classification < manifest.classification)
        {
            return Err(EngineError::Run {
                path: self.tmp.clone(),
                message: format!(
                    "{} is marked {} but the run is derived from {} inputs; a run cannot release \
                     anything below its inputs' level (use vigil export under an agreement)",
                    low.file,
                    low.classification.as_str(),
                    manifest.classification.as_str()
                ),
            });
        }
        manifest.outputs = self.outputs.clone();
        write_json(&self.tmp.join("manifest.json"), &manifest)?;
        sync_dir(&self.tmp);
        let target = self.final_dir();
        self.move_into_place(&target, replace)?;
        self.committed = true;
        point_latest(&self.job_dir, &self.run_id)?;
        Ok(target)
    }

    /// Keeps what was written for inspection under `<run_id>.<suffix>` (e.g. `failed`) with the
    /// given manifest, without moving `latest`. Returns that folder.
    pub fn keep_as(mut self, suffix: &str, mut manifest: Manifest) -> Result<PathBuf, EngineError> {
        manifest.outputs = self.outputs.clone();
        write_json(&self.tmp.join("manifest.json"), &manifest)?;
        let target = self.job_dir.join(format!("{}.{suffix}", self.run_id));
        self.move_into_place(&target, true)?;
        self.committed = true;
        Ok(target)
    }

    fn move_into_place(&self, target: &Path, replace: bool) -> Result<(), EngineError> {
        let mut old = None;
        if target.exists() {
            if !replace {
                return Err(EngineError::Run {
                    path: target.to_path_buf(),
                    message: "a run with this id already exists; pass --force to replace it".into(),
                });
            }
            let aside = self
                .job_dir
                .join(format!("{TMP_PREFIX}old-{}-{}", self.run_id, std::process::id()));
            std::fs::rename(target, &aside).map_err(|e| EngineError::io(target, e))?;
            old = Some(aside);
        }
        std::fs::rename(&self.tmp, target).map_err(|e| EngineError::io(&self.tmp, e))?;
        sync_dir(&self.job_dir);
        if let Some(old) = old {
            std::fs::remove_dir_all(&old).map_err(|e| EngineError::io(&old, e))?;
        }
        Ok(())
    }
}

impl Drop for RunWriter {
    /// A run dropped before commit (an error on the way) removes its temporary folder. A killed
    /// process cannot clean up: its `.tmp-…` folder has no manifest and is never `latest`.
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Points `job_dir/latest` at `run_id` atomically (a new link renamed over the old one).
pub fn point_latest(job_dir: &Path, run_id: &str) -> Result<(), EngineError> {
    let link = job_dir.join(LATEST);
    let tmp = job_dir.join(format!("{TMP_PREFIX}latest-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(run_id, &tmp).map_err(|e| EngineError::io(&tmp, e))?;
    #[cfg(not(unix))]
    std::fs::write(&tmp, run_id).map_err(|e| EngineError::io(&tmp, e))?;
    std::fs::rename(&tmp, &link).map_err(|e| EngineError::io(&link, e))?;
    sync_dir(job_dir);
    Ok(())
}

/// The run id `latest` points at, if any.
pub fn read_latest(job_dir: &Path) -> Option<String> {
    let link = job_dir.join(LATEST);
    match std::fs::read_link(&link) {
        Ok(target) => target.to_str().map(str::to_string),
        Err(_) => std::fs::read_to_string(&link).ok().map(|s| s.trim().to_string()),
    }
}

/// Writes a table as zstd parquet with `vigil.classification` and `vigil.run_id` key-value
/// metadata. The bytes depend only on the table and the metadata, so identical runs write
/// identical files.
pub fn write_parquet(
    path: &Path,
    df: &mut DataFrame,
    classification: Classification,
    run_id: &str,
) -> Result<(), EngineError> {
    let file = std::fs::File::create(path).map_err(|e| EngineError::io(path, e))?;
    write_parquet_to(file, df, classification, run_id, &path.display().to_string())
}

/// [`write_parquet`] into any writer (the HTTP API writes into its response); `what` names the
/// table in an error.
pub fn write_parquet_to<W: Write>(
    writer: W,
    df: &mut DataFrame,
    classification: Classification,
    run_id: &str,
    what: &str,
) -> Result<(), EngineError> {
    let kv = KeyValueMetadata::from_static(vec![
        (
            "vigil.classification".to_string(),
            classification.as_str().to_string(),
        ),
        ("vigil.run_id".to_string(), run_id.to_string()),
    ]);
    ParquetWriter::new(writer)
        .with_compression(ParquetCompression::Zstd(None))
        .with_key_value_metadata(Some(kv))
        .finish(df)
        .map_err(EngineError::polars(format!("writing {what}")))?;
    Ok(())
}

/// A parquet table written a batch at a time (zstd, with vigil's key-value metadata when a
/// classification is given), for tables too large to hold in memory at once.
pub struct TableWriter {
    path: PathBuf,
    writer: polars::io::parquet::write::BatchedWriter<std::fs::File>,
    schema: Schema,
    rows: u64,
}

impl TableWriter {
    /// Creates `path` for tables of `schema`; `stamp` is the classification and run id to record
    /// in the file's metadata (as [`write_parquet`] does).
    pub fn create(
        path: &Path,
        schema: Schema,
        stamp: Option<(Classification, &str)>,
    ) -> Result<Self, EngineError> {
        let file = std::fs::File::create(path).map_err(|e| EngineError::io(path, e))?;
        let kv = stamp.map(|(c, run_id)| {
            KeyValueMetadata::from_static(vec![
                ("vigil.classification".to_string(), c.as_str().to_string()),
                ("vigil.run_id".to_string(), run_id.to_string()),
            ])
        });
        let writer = ParquetWriter::new(file)
            .with_compression(ParquetCompression::Zstd(None))
            .with_key_value_metadata(kv)
            .batched(&schema)
            .map_err(EngineError::polars(format!("writing {}", path.display())))?;
        Ok(TableWriter {
            path: path.to_path_buf(),
            writer,
            schema,
            rows: 0,
        })
    }

    /// The schema every batch is cast to.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Appends `df`, its columns put in the table's order and cast to its types (a column the
    /// batch lacks is written as nulls).
    pub fn write(&mut self, df: &DataFrame) -> Result<(), EngineError> {
        let aligned = align(df, &self.schema)?;
        self.writer
            .write_batch(&aligned)
            .map_err(EngineError::polars(format!("writing {}", self.path.display())))?;
        self.rows += df.height() as u64;
        Ok(())
    }

    /// Finishes the file; returns the rows written.
    pub fn finish(self) -> Result<u64, EngineError> {
        self.writer
            .finish()
            .map_err(EngineError::polars(format!("writing {}", self.path.display())))?;
        Ok(self.rows)
    }
}

/// `df` with exactly the columns of `schema`, in its order and types; missing ones as nulls.
pub fn align(df: &DataFrame, schema: &Schema) -> Result<DataFrame, EngineError> {
    let h = df.height();
    let cols: Vec<Column> = schema
        .iter()
        .map(|(name, dtype)| match df.column(name) {
            Ok(c) => c
                .cast(dtype)
                .map_err(EngineError::polars(format!("aligning column {name}"))),
            Err(_) => Ok(Column::full_null(name.clone(), h, dtype)),
        })
        .collect::<Result<_, _>>()?;
    DataFrame::new(h, cols).map_err(EngineError::polars("aligning a table"))
}

/// Writes pretty JSON with a trailing newline.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), EngineError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| EngineError::Json {
        path: path.to_path_buf(),
        source: e,
    })?;
    text.push('\n');
    let mut f = std::fs::File::create(path).map_err(|e| EngineError::io(path, e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| EngineError::io(path, e))?;
    f.sync_all().map_err(|e| EngineError::io(path, e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_run_cannot_commit_an_output_marked_below_its_inputs() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = RunWriter::create(tmp.path(), "r1").unwrap();
        w.write_json("a.json", &1, Classification::Confidential, "ok")
            .unwrap();
        w.write_json("b.json", &2, Classification::Public, "too low")
            .unwrap();
        let manifest = Manifest {
            run_id: "r1".into(),
            job: "j".into(),
            status: "complete".into(),
            as_of: "2021-12-31".into(),
            created_at: String::new(),
            engine_version: String::new(),
            spec_path: String::new(),
            spec_sha256: String::new(),
            overrides: Vec::new(),
            classification: Classification::Confidential,
            inputs: Vec::new(),
            outputs: Vec::new(),
            timings: Vec::new(),
            warnings: Vec::new(),
            shards: None,
        };
        let err = w.commit(manifest, false).unwrap_err().to_string();
        assert!(err.contains("b.json is marked public"), "{err}");
        assert!(!tmp.path().join("r1").exists(), "nothing committed");
        assert!(read_latest(tmp.path()).is_none());
    }
}
