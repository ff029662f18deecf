//! Scale-out: one shard's local models (`vigil run --shard i/n`) and the merge of the parts.

use crate::inputs::{ingest_all, input_records, panel_of, run_id};
use crate::spec::{Overrides, ValidSpec};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::time::Instant;
use vigil_core::data::series::{RegionSeries, region_series};
use vigil_core::forecast::local::{LocalPart, local_part, merge_local_parts};
use vigil_core::forecast::shard::{PartHeader, Shard, read_part, write_part};

/// What a shard did.
pub enum ShardOutcome {
    /// Its part file was written.
    Written {
        part: PathBuf,
        regions: usize,
        seconds: f64,
    },
    /// The part exists already (same run and shard): nothing was done.
    AlreadyDone { part: PathBuf },
}

/// Runs one shard of a job (`vigil run --shard i/n`): ingest, quality gates and panel as the
/// whole job does, then the local models' backtests and forecasts of this shard's regions,
/// written as one part file under `OUT/<job>/<run id>.parts/`. `vigil merge` does the rest.
pub fn run_shard(spec: &ValidSpec, overrides: &Overrides, shard: Shard, force: bool) -> Result<ShardOutcome> {
    let started = Instant::now();
    let records = input_records(spec)?;
    let id = run_id(spec, overrides, &records);
    let job_dir = spec.out_dir.join(&spec.name);
    let part = vigil_core::forecast::shard::parts_dir(&job_dir, &id).join(shard.file_name());
    if part.is_file() && !force {
        return Ok(ShardOutcome::AlreadyDone { part });
    }
    tracing::info!(
        "run {id}, shard {shard}: local models of every {}th region",
        shard.count
    );
    let ing = ingest_all(spec, None)?;
    let gates = spec.quality.check(&ing.quality);
    if !gates.passed {
        anyhow::bail!(
            "shard {shard}: quality gate failed ({}); the merge would fail the same way",
            gates.failures.join("; ")
        );
    }
    crate::failpoint::failpoint(&format!("shard_{}", shard.index))?;
    let panel = panel_of(spec, &ing.incidents)?;
    let series = region_series(&panel.frame, &spec.forecast.target)?;
    let regions = shard.regions(series.len());
    let local = local_part(
        &series,
        &regions,
        &spec.local_models()?,
        &spec.backtest(),
        &spec.pooled(),
    )?;
    let header = PartHeader {
        run_id: id,
        shard,
        engine_version: vigil_core::VERSION.to_string(),
    };
    write_part(&part, &header, &local)?;
    Ok(ShardOutcome::Written {
        part,
        regions: regions.len(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Reads and merges the parts of `shards` shards of run `id`; names every missing part.
pub fn merged_parts(job_dir: &Path, id: &str, shards: usize, series: &[RegionSeries]) -> Result<LocalPart> {
    let dir = vigil_core::forecast::shard::parts_dir(job_dir, id);
    let all: Vec<Shard> = (0..shards).map(|index| Shard { index, count: shards }).collect();
    let missing: Vec<String> = all
        .iter()
        .filter(|s| !dir.join(s.file_name()).is_file())
        .map(|s| s.index.to_string())
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "cannot merge run {id}: {} of {shards} shard parts are missing (shards {}) in {}; \
             run them (vigil run SPEC --shard i/{shards}, with the same spec, inputs, --as-of and \
             --set) and merge again",
            missing.len(),
            missing.join(", "),
            dir.display()
        );
    }
    let mut parts = Vec::with_capacity(shards);
    for s in &all {
        let (header, part) = read_part(&dir.join(s.file_name()))?;
        if header.run_id != id || header.shard != *s || header.engine_version != vigil_core::VERSION {
            anyhow::bail!(
                "{}: part of run {} shard {} by vigil {}, expected run {id} shard {s} by vigil {}; rerun that shard",
                dir.join(s.file_name()).display(),
                header.run_id,
                header.shard,
                header.engine_version,
                vigil_core::VERSION
            );
        }
        parts.push(part);
    }
    tracing::info!("merging {shards} shard parts from {}", dir.display());
    Ok(merge_local_parts(series, parts)?)
}
