//! A run's inputs: their hashes and the run id they make, ingest of every input, and the panel.

use crate::spec::{Overrides, ValidSpec};
use anyhow::{Context, Result};
use polars::prelude::DataFrame;
use std::path::{Path, PathBuf};
use vigil_core::Classification;
use vigil_core::data::ingest::IngestOptions;
use vigil_core::data::panel::{Panel, build_panel};
use vigil_core::data::quality::InputQuality;
use vigil_core::output::{InputRecord, sha256_bytes, sha256_file};

/// Everything ingest produced for a spec.
pub struct IngestResult {
    /// The accepted incidents summed by geography, category and period: every panel of the run
    /// is built from it (see `vigil_core::data::panel::aggregate_incidents`).
    pub incidents: DataFrame,
    pub quarantine: DataFrame,
    pub quality: Vec<InputQuality>,
    pub classification: Classification,
    /// Accepted incidents (written to the incidents file, when one was asked for).
    pub accepted: u64,
}

/// The highest classification of the spec's inputs.
pub fn classification_of(spec: &ValidSpec) -> Classification {
    spec.inputs
        .iter()
        .map(|i| i.classification)
        .max()
        .unwrap_or(Classification::Public)
}

/// Ingests every input of the spec, a chunk at a time; the accepted incidents are streamed into
/// `incidents_file` (stamped with the spec's classification and `run_id`) when one is given.
pub fn ingest_all(spec: &ValidSpec, incidents_file: Option<(&Path, &str)>) -> Result<IngestResult> {
    use vigil_core::data::ingest::{CHUNK_ROWS, JobInput, incidents_schema, ingest_job};
    let classification = classification_of(spec);
    let inputs: Vec<JobInput<'_>> = spec
        .inputs
        .iter()
        .map(|input| JobInput {
            path: &input.path,
            mapping: &input.mapping,
            options: IngestOptions {
                as_of: spec.as_of,
                extracted: input.extracted,
                label: input.label.clone(),
            },
        })
        .collect();
    let writer = match incidents_file {
        Some((path, run_id)) => Some(vigil_core::output::TableWriter::create(
            path,
            incidents_schema(&inputs)?,
            Some((classification, run_id)),
        )?),
        None => None,
    };
    let job = ingest_job(&inputs, spec.panel.frequency, CHUNK_ROWS, writer)?;
    for q in &job.quality {
        tracing::info!(
            "ingested {}: {} rows read, {} accepted, {} quarantined, {} after the as-of date",
            q.file,
            q.rows_read,
            q.rows_accepted,
            q.rows_quarantined,
            q.rows_excluded_after_as_of
        );
    }
    Ok(IngestResult {
        incidents: job.aggregated,
        quarantine: job.quarantine,
        quality: job.quality,
        classification,
        accepted: job.accepted,
    })
}

/// Builds the spec's panel.
pub fn panel_of(spec: &ValidSpec, incidents: &DataFrame) -> Result<Panel> {
    Ok(build_panel(incidents, &spec.panel_options())?)
}

/// sha256 of every input and its mapping, read once per run: they name the run and go into
/// the manifest. `rows` is filled in after ingest.
pub fn input_records(spec: &ValidSpec) -> Result<Vec<InputRecord>> {
    spec.inputs
        .iter()
        .map(|input| {
            Ok(InputRecord {
                path: input.label.clone(),
                sha256: sha256_file(&input.path)?,
                rows: 0,
                mapping: input.mapping.name.clone(),
                mapping_sha256: sha256_file(&input.mapping.path)?,
                classification: input.classification,
            })
        })
        .collect()
}

/// The run id: the as-of date and a hash of everything that decides the outputs (spec bytes,
/// command-line overrides, input and mapping contents, vigil's version).
pub fn run_id(spec: &ValidSpec, overrides: &Overrides, inputs: &[InputRecord]) -> String {
    let mut key = String::new();
    key.push_str(&sha256_bytes(&spec.spec_bytes));
    for o in overrides.recorded() {
        key.push_str(&o);
    }
    for input in inputs {
        key.push_str(&input.sha256);
        key.push_str(&input.mapping_sha256);
    }
    key.push_str(vigil_core::VERSION);
    format!("{}-{}", spec.as_of, &sha256_bytes(key.as_bytes())[..10])
}

/// Writes a stage's tables into `dir` (for `vigil ingest` / `vigil panel`).
pub fn write_stage(dir: &Path, tables: Vec<(&str, DataFrame)>, class: Classification) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, mut df) in tables {
        vigil_core::output::write_parquet(&dir.join(name), &mut df, class, "stage")?;
    }
    Ok(())
}

/// What `vigil ingest` and `vigil panel` write into `out`: the incidents, quarantine and
/// quality report, and the panel and its regions with `with_panel`. Everything is written into
/// a hidden folder first and moved into `out` only once every file is complete, so a stage that
/// fails leaves no file that looks like its output.
pub fn write_stage_folder(spec: &ValidSpec, out: &Path, with_panel: bool) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let tmp = TempDir(out.join(format!(".tmp-stage-{}", std::process::id())));
    let dir = &tmp.0;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let ing = ingest_all(spec, Some((&dir.join("incidents.parquet"), "stage")))?;
    let class = ing.classification;
    vigil_core::output::write_json(&dir.join("quality.json"), &ing.quality)?;
    let mut tables = vec![("quarantine.parquet", ing.quarantine)];
    if with_panel {
        let panel = panel_of(spec, &ing.incidents)?;
        tables.push(("panel.parquet", panel.frame));
        tables.push(("regions.parquet", panel.regions));
    }
    write_stage(dir, tables, class)?;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let from = entry?.path();
        let to = out.join(from.file_name().unwrap_or_default());
        std::fs::rename(&from, &to)
            .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

/// A folder removed, with whatever it holds, when the value is dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.0.exists()
            && let Err(e) = std::fs::remove_dir_all(&self.0)
        {
            tracing::warn!("could not remove {}: {e}", self.0.display());
        }
    }
}
