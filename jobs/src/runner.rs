//! Runs a checked job spec stage by stage and writes the run folder.

use crate::spec::{Overrides, ValidSpec};
use anyhow::{Context, Result};
use polars::prelude::{DataFrame, SortMultipleOptions};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use vigil_core::Classification;
use vigil_core::analysis::changepoints::{ChangepointSettings, changepoints_frame};
use vigil_core::analysis::hotspots::{HotspotSettings, hotspots_frame};
use vigil_core::analysis::seasonality::{SeasonalitySettings, seasonality_frames};
use vigil_core::analysis::trend::{TrendSettings, trend_frame};
use vigil_core::data::ingest::IngestOptions;
use vigil_core::data::panel::{Panel, PanelOptions, PanelReport, build_panel};
use vigil_core::data::quality::{GateResult, InputQuality, QualityGates};
use vigil_core::data::read::{float_values, read_parquet, text_values};
use vigil_core::data::series::{Fallback, RegionSeries, fallbacks_frame, level_change, region_series};
use vigil_core::forecast::catalogue::{Model, ModelSettings};
use vigil_core::forecast::features::country_of;
use vigil_core::forecast::global::GlobalSettings;
use vigil_core::forecast::global::{FeatureCache, GlobalForecast};
use vigil_core::forecast::local::{LocalPart, local_part, merge_local_parts};
use vigil_core::forecast::pooled::PooledOptions;
use vigil_core::forecast::reconcile::{LevelForecast, coherence_gap, reconcile, reconciled_frame};
use vigil_core::forecast::shard::{PartHeader, Shard, read_part, write_part};
use vigil_core::forecast::stage::ForecastStage;
use vigil_core::forecast::stage::{finish_forecasts, run_forecasts};
use vigil_core::forecast::tables::{
    choices_frame, forecasts_frame, metrics_frame, reliability_frame, skill_frame, write_backtest,
};
use vigil_core::output::{InputRecord, Manifest, RunWriter, Timing, sha256_bytes, sha256_file};
use vigil_models::calibration::{ReliabilityRow, calibration_error, reliability};
use vigil_models::metrics::ModelScores;
use vigil_models::{BacktestSettings, DEFAULT_PROBS, Forecaster};
use vigil_report::charts::{
    CellMap, ForecastBand, ForecastLine, HeatmapChart, Reference, SeriesChart, SmallMultiples, TrendPanel,
    XyChart, XyCurve, render_cell_map, render_heatmap, render_series_chart, render_small_multiples,
    render_xy_chart,
};

/// The job stopped because a quality gate failed; the message names the input and figures.
#[derive(Debug)]
pub struct GateFailed {
    pub folder: PathBuf,
    pub failures: Vec<String>,
}

impl std::fmt::Display for GateFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "quality gate failed:")?;
        for x in &self.failures {
            write!(f, "\n  - {x}")?;
        }
        write!(
            f,
            "\nquarantine and quality report kept in {}",
            self.folder.display()
        )
    }
}

impl std::error::Error for GateFailed {}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// A new run folder, with the seconds of each stage.
    Complete {
        folder: PathBuf,
        seconds: f64,
        stages: Vec<(String, f64)>,
    },
    /// An identical run already exists: nothing was done.
    AlreadyDone { folder: PathBuf },
}

/// `quality.json`.
#[derive(Debug, Serialize)]
struct QualityFile<'a> {
    as_of: String,
    inputs: &'a [InputQuality],
    gates: &'a GateResult,
    panel: Option<&'a PanelReport>,
}

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
    let job = ingest_job(&inputs, spec.frequency, CHUNK_ROWS, writer)?;
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
    panel_at(spec, incidents, spec.level)
}

/// Builds the spec's panel at `level` instead of the spec's own (hotspots need grid cells,
/// the change table every level).
fn panel_at(spec: &ValidSpec, incidents: &DataFrame, level: vigil_core::Level) -> Result<Panel> {
    let opts = PanelOptions {
        level,
        frequency: spec.frequency,
        start: spec.start,
        as_of: spec.as_of,
    };
    Ok(build_panel(incidents, &opts)?)
}

/// sha256 of every input and its mapping, read once per run: they name the run and go into
/// the manifest. `rows` is filled in after ingest.
fn input_records(spec: &ValidSpec) -> Result<Vec<InputRecord>> {
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
fn run_id(spec: &ValidSpec, overrides: &Overrides, inputs: &[InputRecord]) -> String {
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

fn models(spec: &ValidSpec) -> Result<Vec<Box<dyn Forecaster>>> {
    let settings = ModelSettings {
        season: spec.frequency.periods_per_year(),
        horizon: spec.horizon,
        conformal_windows: spec.conformal_windows,
        window: spec.model_window,
        tsb_alphas: spec.tsb_alphas,
    };
    Ok(spec
        .models
        .iter()
        .filter_map(|m| m.build(&settings))
        .collect::<Result<Vec<_>, _>>()?)
}

/// The pooled models (global models and the ensemble) the spec asks for.
fn pooled(spec: &ValidSpec) -> PooledOptions {
    PooledOptions {
        global: spec.models.iter().filter_map(|m| m.global_kind()).collect(),
        settings: GlobalSettings {
            window: spec.global_window,
            l2: spec.global_l2,
            events: spec.events,
        },
        ensemble: spec.models.contains(&Model::Ensemble),
        warmup: spec.ensemble_warmup,
        platt: spec.platt,
    }
}

/// Logs the overall backtest scores, one line per model.
fn log_scores(summary: &[ModelScores]) {
    tracing::info!(
        "backtest, all horizons: {:<15} {:>7} {:>9} {:>9} {:>6} {:>6} {:>6}",
        "model",
        "msle",
        "mae",
        "crps",
        "cov80",
        "cov90",
        "cov95"
    );
    for s in summary.iter().filter(|s| s.horizon.is_none()) {
        tracing::info!(
            "backtest, all horizons: {:<15} {:>7.3} {:>9.2} {:>9.2} {:>6.3} {:>6.3} {:>6.3}",
            s.model,
            s.scores.msle,
            s.scores.mae,
            s.scores.crps,
            s.scores.coverage_80,
            s.scores.coverage_90,
            s.scores.coverage_95
        );
    }
}

/// Where the local models' per-region work comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// Computed here, for every region.
    Here,
    /// Merged from the part files of this many shards (`vigil merge`).
    Merge(usize),
}

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
    let gates = QualityGates {
        max_quarantined_fraction: spec.max_quarantined_fraction,
    }
    .check(&ing.quality);
    if !gates.passed {
        anyhow::bail!(
            "shard {shard}: quality gate failed ({}); the merge would fail the same way",
            gates.failures.join("; ")
        );
    }
    failpoint(&format!("shard_{}", shard.index))?;
    let panel = panel_of(spec, &ing.incidents)?;
    let series = region_series(&panel.frame, &spec.target)?;
    let regions = shard.regions(series.len());
    let bt_settings = backtest_settings(spec);
    let local = local_part(&series, &regions, &models(spec)?, &bt_settings, &pooled(spec))?;
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
fn merged_parts(job_dir: &Path, id: &str, shards: usize, series: &[RegionSeries]) -> Result<LocalPart> {
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

/// Backtest settings of the spec.
fn backtest_settings(spec: &ValidSpec) -> BacktestSettings {
    BacktestSettings {
        origins: spec.origins,
        step: spec.step,
        horizon: spec.horizon,
        probs: DEFAULT_PROBS.to_vec(),
        season: spec.frequency.periods_per_year(),
    }
}

/// Runs the whole job, or (with `Local::Merge`) finishes it from its shards' parts. `force`
/// redoes a run that already exists.
pub fn run(spec: &ValidSpec, overrides: &Overrides, force: bool, local: Local) -> Result<Outcome> {
    let started = Instant::now();
    let mut records = input_records(spec)?;
    let id = run_id(spec, overrides, &records);
    let job_dir = spec.out_dir.join(&spec.name);
    let existing = job_dir.join(&id);
    if existing.join("manifest.json").is_file() && !force {
        return Ok(Outcome::AlreadyDone { folder: existing });
    }
    // One run of the job at a time; released when this function returns (or unwinds).
    let _lock = crate::lock::acquire(&job_dir, &id)?;
    // An identical run may have finished while we waited for nothing: check again under the lock.
    if existing.join("manifest.json").is_file() && !force {
        return Ok(Outcome::AlreadyDone { folder: existing });
    }
    let mut writer = RunWriter::create(&job_dir, &id)?;
    tracing::info!("run {id}: writing into {}", writer.dir().display());
    let mut timings = Vec::new();
    let mut warnings = Vec::new();
    let progress = crate::progress::Progress::start();
    let mut stage = |name: &str, t: Instant| {
        progress.done(name);
        timings.push(Timing {
            stage: name.to_string(),
            seconds: t.elapsed().as_secs_f64(),
        })
    };

    let t = Instant::now();
    let incidents_file = writer.dir().join("incidents.parquet");
    let ing = ingest_all(spec, Some((&incidents_file, &id)))?;
    stage("ingest", t);
    let class = ing.classification;
    for (record, q) in records.iter_mut().zip(&ing.quality) {
        record.rows = q.rows_read;
    }
    for q in &ing.quality {
        if q.rows_excluded_after_as_of > 0 {
            warnings.push(format!(
                "{}: {} valid rows dated after the as-of date {} are outside this run's window",
                q.file, q.rows_excluded_after_as_of, spec.as_of
            ));
        }
        for (w, n) in &q.warnings {
            warnings.push(format!(
                "{}: {n} rows kept with warning {w} (see quality.json)",
                q.file
            ));
        }
    }
    let gates = QualityGates {
        max_quarantined_fraction: spec.max_quarantined_fraction,
    }
    .check(&ing.quality);
    let mut quarantine = ing.quarantine.sort(
        ["source_file", "source_row", "rule"],
        SortMultipleOptions::default(),
    )?;
    writer.write_parquet(
        "quarantine.parquet",
        &mut quarantine,
        class,
        "rejected source rows: one row per broken rule",
    )?;
    let manifest = |status: &str, outputs_warnings: Vec<String>, timings: Vec<Timing>| Manifest {
        run_id: id.clone(),
        job: spec.name.clone(),
        status: status.to_string(),
        as_of: spec.as_of.to_string(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        engine_version: vigil_core::VERSION.to_string(),
        spec_path: spec.spec_path.display().to_string(),
        spec_sha256: sha256_bytes(&spec.spec_bytes),
        overrides: overrides.recorded(),
        classification: class,
        inputs: records.clone(),
        outputs: Vec::new(),
        timings,
        warnings: outputs_warnings,
        shards: match local {
            Local::Here => None,
            Local::Merge(n) => Some(n),
        },
    };
    if !gates.passed {
        let qf = QualityFile {
            as_of: spec.as_of.to_string(),
            inputs: &ing.quality,
            gates: &gates,
            panel: None,
        };
        writer.write_json(
            "quality.json",
            &qf,
            class,
            "rows read, accepted, quarantined per rule; gates",
        )?;
        // The failed folder keeps what explains the failure, not the accepted incidents.
        std::fs::remove_file(&incidents_file)
            .with_context(|| format!("removing {}", incidents_file.display()))?;
        let folder = writer.keep_as("failed", manifest("failed_quality_gate", warnings, timings))?;
        return Err(GateFailed {
            folder,
            failures: gates.failures,
        }
        .into());
    }

    let t = Instant::now();
    let panel = panel_of(spec, &ing.incidents)?;
    stage("panel", t);
    tracing::info!(
        "panel: {} regions × {} periods ({} .. {}), {} incidents",
        panel.report.regions,
        panel.report.periods,
        panel.report.span_start,
        panel.report.span_end,
        panel.report.incidents_in_panel
    );

    let t = Instant::now();
    let series = region_series(&panel.frame, &spec.target)?;
    let models = models(spec)?;
    let bt_settings = backtest_settings(spec);
    tracing::info!(
        "backtest: {} regions × {} origins (step {}) × {} models, horizons 1..{}",
        series.len(),
        spec.origins,
        spec.step,
        models.len(),
        spec.horizon
    );
    let mut fc = match local {
        Local::Here => run_forecasts(&series, &models, &bt_settings, &pooled(spec))?,
        Local::Merge(shards) => {
            let part = merged_parts(&job_dir, &id, shards, &series)?;
            finish_forecasts(&series, &models, &bt_settings, &pooled(spec), part)?
        }
    };
    stage("backtest_and_forecast", t);
    log_scores(&fc.summary);
    let mut forecasts = forecasts_frame(&series, &fc, &bt_settings.probs, spec.frequency)?;
    // The backtest is the run's largest table (regions × origins × horizons × models): it is
    // written now, a slice at a time, and not held to the end of the run.
    let backtest_rows = write_backtest(
        &writer.dir().join("backtest.parquet"),
        &series,
        &fc.backtest,
        (class, &id),
    )?;
    writer.record(
        "backtest.parquet",
        Some(backtest_rows),
        class,
        "rolling-origin backtest in long format: every model, origin and horizon",
    )?;
    let mut metrics = metrics_frame(&fc.summary)?;
    let mut skill = skill_frame(&fc.skill)?;
    let mut choices = choices_frame(&fc.choices)?;
    let reliability_rows = reliability(&fc.backtest, fc.thresholds);
    // Nothing after this point reads the backtest's rows (they are in backtest.parquet, the
    // metrics and the reliability table now), and they are most of the run's memory.
    fc.backtest.rows = Default::default();
    let fc_thresholds = fc.thresholds;
    let fc_skill = fc.skill.clone();
    for m in &fc.backtest.models {
        tracing::debug!(
            "calibration error of P(y >= {}) for {m}: {:.3}",
            fc_thresholds[0],
            calibration_error(&reliability_rows, m, fc_thresholds[0])
        );
    }
    let mut reliability_df = reliability_frame(&reliability_rows)?;
    let t = Instant::now();
    let mut reconciled = reconcile_levels(spec, &ing.incidents, &series, &fc, &bt_settings, &mut warnings)?;
    stage("reconcile", t);
    // the model each region publishes (one rule: ForecastStage::published_model)
    let published: std::collections::HashMap<String, String> = series
        .iter()
        .enumerate()
        .map(|(r, s)| {
            (
                s.region_id.clone(),
                fc.backtest.models[fc.published_model(r)].clone(),
            )
        })
        .collect();
    let fallbacks = fc.fallbacks.clone();
    warnings.extend(backtest_fallback_warning(
        &fc.backtest,
        series.len(),
        spec.origins,
    ));
    let t = Instant::now();
    let period = spec.frequency.periods_per_year();
    let trend_settings = TrendSettings {
        window: spec.mk_window,
        seasonal_window: spec.cycles * period,
        period,
        alpha: spec.alpha,
    };
    let mut trend = trend_frame(&series, spec.level, &trend_settings)?;
    let season_settings = SeasonalitySettings {
        period,
        cycles: spec.cycles,
        bootstrap: spec.bootstrap,
        ..SeasonalitySettings::default()
    };
    let (mut seasonality, mut decomposition) =
        seasonality_frames(&series, spec.level, spec.frequency, &season_settings)?;
    let mut changes = changepoints_frame(
        &series,
        spec.level,
        &ChangepointSettings {
            hazard_lambda: spec.hazard_lambda,
            ..ChangepointSettings::default()
        },
    )?;
    stage("trends", t);

    // Hotspots live on PRIO-GRID cells whatever the job's level.
    let t = Instant::now();
    // (only the cells' series and names are used from here on: the panel frame, cells ×
    // periods × every count column, is let go at once)
    let Panel {
        frame: grid_frame,
        regions: grid_regions,
        ..
    } = panel_at(spec, &ing.incidents, vigil_core::Level::Grid)?;
    let grid_series = region_series(&grid_frame, &spec.target)?;
    drop(grid_frame);
    let cell_country = region_lookup(&grid_regions, "country_code")?;
    let mut hotspots = hotspots_frame(
        &grid_series,
        &cell_country,
        &HotspotSettings {
            step_len: period,
            steps: spec.cycles,
            alpha: spec.alpha,
        },
    )?;
    // country code → name, through the cells
    let cell_names = region_lookup(&grid_regions, "country")?;
    let country_names: std::collections::HashMap<String, String> = cell_country
        .iter()
        .filter_map(|(cell, code)| Some((code.clone(), cell_names.get(cell)?.clone())))
        .collect();
    let mapped = hotspot_maps(spec, &mut writer, &hotspots, &cell_country, &country_names, class)?;
    tracing::info!("hotspots: maps of {mapped} countries");
    stage("hotspots", t);

    let t = Instant::now();
    let job_dir = spec.out_dir.join(&spec.name);
    let mut alerts = alert_table(spec, &job_dir, &id, &ing.incidents, &series, &fc, &hotspots)?;
    stage("alerts", t);

    // Rolling and year-on-year change at every level of the hierarchy, in one table. It is
    // written a level at a time and never held whole: with tens of thousands of regions it has
    // tens of millions of rows (PRIO-GRID cells and admin-2 units × periods), and no later stage
    // needs it in memory (the report reads what it uses back from the file).
    let t = Instant::now();
    let change_rows = {
        let path = writer.dir().join("change.parquet");
        let schema = level_change(spec.level, &[], spec.window)?
            .schema()
            .as_ref()
            .clone();
        let mut out = vigil_core::output::TableWriter::create(&path, schema, Some((class, &id)))?;
        for level in vigil_core::Level::ALL {
            let other;
            let s: &[RegionSeries] = if level == spec.level {
                &series
            } else if level == vigil_core::Level::Grid {
                &grid_series
            } else {
                other = region_series(&panel_at(spec, &ing.incidents, level)?.frame, &spec.target)?;
                &other
            };
            out.write(&level_change(level, s, spec.window)?)?;
        }
        out.finish()?
    };
    writer.record(
        "change.parquet",
        Some(change_rows),
        class,
        "rolling sums and their change on a year earlier",
    )?;
    drop(grid_series);
    stage("change", t);
    summarise_fallbacks(&fallbacks, &mut warnings);

    let t = Instant::now();
    let charted = charts(
        spec,
        &mut writer,
        &panel,
        &series,
        &forecasts,
        &published,
        &alerts,
        class,
    )?;
    reliability_chart(spec, &mut writer, &reliability_rows, fc_thresholds[0], class)?;
    skill_chart(spec, &mut writer, &fc_skill, class)?;
    heatmap_chart(spec, &mut writer, &panel, &series, class)?;
    seasonal_chart(spec, &mut writer, &panel, &series, &seasonality, class)?;
    trends_chart(spec, &mut writer, &panel, &series, &trend, class)?;
    stage("charts", t);
    tracing::info!("charts: {charted} regions");

    let qf = QualityFile {
        as_of: spec.as_of.to_string(),
        inputs: &ing.quality,
        gates: &gates,
        panel: Some(&panel.report),
    };
    writer.write_json(
        "quality.json",
        &qf,
        class,
        "rows read, accepted, quarantined per rule; gates; panel counts",
    )?;
    writer.record(
        "incidents.parquet",
        Some(ing.accepted),
        class,
        "accepted incidents in the canonical schema",
    )?;
    let (mut frame, mut regions) = (panel.frame, panel.regions);
    writer.write_parquet(
        "panel.parquet",
        &mut frame,
        class,
        "zero-filled region × period counts",
    )?;
    writer.write_parquet(
        "regions.parquet",
        &mut regions,
        class,
        "one row per region: names, level, span, totals",
    )?;
    writer.write_parquet(
        "forecasts.parquet",
        &mut forecasts,
        class,
        "forecasts with quantiles per region, model and horizon; `chosen` marks each region's backtest pick, `published` the forecast the report, charts and alerts use",
    )?;
    writer.write_parquet(
        "metrics.parquet",
        &mut metrics,
        class,
        "backtest scores per model and horizon (horizon null = all)",
    )?;
    writer.write_parquet(
        "skill.parquet",
        &mut skill,
        class,
        "skill of each model against the best baseline",
    )?;
    writer.write_parquet(
        "reliability.parquet",
        &mut reliability_df,
        class,
        "reliability of event probabilities on the backtest: forecast vs observed frequency in ten probability bins per model and threshold",
    )?;
    if let Some(df) = reconciled.as_mut() {
        writer.write_parquet(
            "reconciled.parquet",
            df,
            class,
            "point forecasts made coherent across levels (children sum to parents), proportional from the top",
        )?;
    }
    writer.write_parquet(
        "alerts.parquet",
        &mut alerts,
        class,
        "early-warning alerts per region and horizon: level, probabilities, reasons and drivers",
    )?;
    writer.write_parquet(
        "model_choice.parquet",
        &mut choices,
        class,
        "the model chosen for each region and its backtest MSLE",
    )?;
    writer.write_parquet(
        "trend.parquet",
        &mut trend,
        class,
        "Mann-Kendall, Hamed-Rao and seasonal Mann-Kendall tests with Sen's slope per region",
    )?;
    writer.write_parquet(
        "seasonality.parquet",
        &mut seasonality,
        class,
        "seasonal profile per region and season, with bootstrap band, peaks and STL strength",
    )?;
    writer.write_parquet(
        "decomposition.parquet",
        &mut decomposition,
        class,
        "STL trend, seasonal and remainder per region and period of the seasonality window",
    )?;
    writer.write_parquet(
        "changepoints.parquet",
        &mut changes,
        class,
        "change points per region (BOCPD) with the level before and after",
    )?;
    writer.write_parquet(
        "hotspots.parquet",
        &mut hotspots,
        class,
        "Getis-Ord Gi* per PRIO-GRID cell and year with emerging hot-spot classes",
    )?;
    save_models(spec, &mut writer, &series, &fc, class)?;
    let mut fb = fallbacks_frame(&fallbacks)?;
    writer.write_parquet(
        "fallbacks.parquet",
        &mut fb,
        class,
        "regions where a model could not be fitted",
    )?;

    // the report last, so that it lists every other file
    let provenance: vigil_report::report::Provenance = writer
        .outputs()
        .iter()
        .map(|o| (o.file.clone(), o.sha256.clone()))
        .collect();
    let meta = vigil_report::report::ReportMeta {
        job: spec.name.clone(),
        run_id: id.clone(),
        as_of: spec.as_of.to_string(),
        classification: class,
    };
    let html = vigil_report::report::render(writer.dir(), &meta, &provenance)?;
    let report_path = writer.dir().join(vigil_report::report::REPORT);
    std::fs::write(&report_path, html).with_context(|| format!("writing {}", report_path.display()))?;
    writer.record(
        vigil_report::report::REPORT,
        None,
        class,
        "the report: findings, alerts, charts, data quality and provenance in one offline HTML file",
    )?;

    failpoint("before_commit")?;
    timings.push(Timing {
        stage: "total".into(),
        seconds: started.elapsed().as_secs_f64(),
    });
    let stages: Vec<(String, f64)> = timings.iter().map(|t| (t.stage.clone(), t.seconds)).collect();
    let folder = writer.commit(manifest("complete", warnings, timings), force)?;
    // Every release is accounted for in the hash-chained audit log of the runs folder.
    let manifest_sha = sha256_file(&folder.join("manifest.json"))?;
    vigil_share::audit::append(
        &spec.out_dir.join(vigil_share::audit::LOG),
        vigil_share::audit::AuditRecord {
            action: "run".into(),
            subject: format!("{}/{id}", spec.name),
            agreement: None,
            files: vec![vigil_share::audit::AuditFile {
                file: "manifest.json".into(),
                sha256: manifest_sha,
            }],
            note: format!("classification {}", class.marking()),
        },
    )?;
    if let Local::Merge(_) = local {
        // The parts served their purpose; the run folder now holds everything they held.
        let parts = vigil_core::forecast::shard::parts_dir(&job_dir, &id);
        if let Err(e) = std::fs::remove_dir_all(&parts) {
            tracing::warn!("could not remove {}: {e}", parts.display());
        }
    }
    Ok(Outcome::Complete {
        folder,
        seconds: started.elapsed().as_secs_f64(),
        stages,
    })
}

/// The manifest's warning about the backtest's fallbacks: for each model, in how many of the
/// scored region × origin forecasts naive stood in. A global model's fallback is recorded once
/// per horizon and a local model's once per fit; here each counts once per region and origin,
/// so the two compare, and the count is of the same things as its total.
fn backtest_fallback_warning(bt: &vigil_models::Backtest, regions: usize, origins: usize) -> Option<String> {
    // each model's (region, origin) pairs where naive stood in
    let mut per_model: std::collections::BTreeMap<usize, std::collections::BTreeSet<(usize, usize)>> =
        Default::default();
    for f in &bt.fallbacks {
        per_model.entry(f.model).or_default().insert((f.series, f.cutoff));
    }
    if per_model.is_empty() {
        return None;
    }
    let of = regions * origins;
    let each: Vec<String> = per_model
        .iter()
        .map(|(m, pairs)| {
            format!(
                "for {} in {} of {of}",
                bt.models.get(*m).map_or("?", String::as_str),
                pairs.len()
            )
        })
        .collect();
    Some(format!(
        "backtest: naive stood in {} region-origins (see fell_back in backtest.parquet)",
        each.join(", ")
    ))
}

/// Test hook: `VIGIL_FAILPOINT=<name>` makes the run fail at that point, to prove that a run
/// that dies midway leaves no folder that looks complete.
fn failpoint(name: &str) -> Result<()> {
    if std::env::var("VIGIL_FAILPOINT").is_ok_and(|v| v == name) {
        anyhow::bail!("failpoint {name} triggered (VIGIL_FAILPOINT)");
    }
    Ok(())
}

fn summarise_fallbacks(fallbacks: &[Fallback], warnings: &mut Vec<String>) {
    let mut by_model: std::collections::BTreeMap<(&str, &str), usize> = Default::default();
    for f in fallbacks {
        *by_model.entry((f.model.as_str(), f.used.as_str())).or_default() += 1;
    }
    for ((model, used), n) in by_model {
        warnings.push(format!(
            "{model} could not be fitted in {n} region(s); {used} used instead (see fallbacks.parquet)"
        ));
    }
}

/// The ASCII letter a Latin letter with a diacritic is filed under (`á` → `a`); other
/// characters that are not ASCII letters or digits become `-`.
fn ascii_letter(c: char) -> char {
    const FOLDS: [(&str, char); 7] = [
        ("àáâãäåā", 'a'),
        ("ç", 'c'),
        ("èéêëē", 'e'),
        ("ìíîïī", 'i'),
        ("ñ", 'n'),
        ("òóôõöøō", 'o'),
        ("ùúûüū", 'u'),
    ];
    if c.is_ascii_alphanumeric() {
        return c;
    }
    FOLDS
        .iter()
        .find(|(from, _)| from.contains(c))
        .map_or('-', |(_, to)| *to)
}

/// File-name-safe form of a region id.
fn slug(s: &str) -> String {
    let mut out: String = s.to_lowercase().chars().map(ascii_letter).collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').chars().take(60).collect()
}

/// Rank of an alert level in the chart order: high first, regions without an alert last.
/// The model region `region` publishes, from the map built with
/// [`vigil_core::forecast::stage::ForecastStage::published_model`].
fn published_model<'a>(published: &'a std::collections::HashMap<String, String>, region: &str) -> &'a str {
    published.get(region).map_or("naive", String::as_str)
}

fn alert_rank(level: Option<&str>) -> u8 {
    match level {
        Some("high") => 0,
        Some("elevated") => 1,
        Some("watch") => 2,
        _ => 3,
    }
}

/// The regions the fan charts show, most urgent first: by the highest alert level the region
/// has at any horizon, then by the published model's forecast total over the horizon, then by
/// id. Regions with neither an alert nor a forecast above zero are left out.
fn chart_regions<'a>(
    series: &'a [RegionSeries],
    fc: &[Point],
    published: &std::collections::HashMap<String, String>,
    alerts: &DataFrame,
) -> Result<Vec<&'a RegionSeries>> {
    let mut level: std::collections::HashMap<String, u8> = std::collections::HashMap::new();
    let ids = alerts.column("region_id")?.str()?;
    let levels = alerts.column("level")?.str()?;
    for (id, l) in ids.iter().zip(levels.iter()) {
        if let Some(id) = id {
            let r = alert_rank(l);
            let best = level.entry(id.to_string()).or_insert(r);
            *best = (*best).min(r);
        }
    }
    let mut total: std::collections::HashMap<&str, f64> = std::collections::HashMap::new();
    for p in fc {
        if p.1 == published_model(published, &p.0) && p.3[0].is_finite() {
            *total.entry(p.0.as_str()).or_default() += p.3[0];
        }
    }
    let mut ranked: Vec<(&RegionSeries, u8, f64)> = series
        .iter()
        .map(|s| {
            (
                s,
                level.get(&s.region_id).copied().unwrap_or(alert_rank(None)),
                total.get(s.region_id.as_str()).copied().unwrap_or(0.0),
            )
        })
        .filter(|(_, l, t)| *l < alert_rank(None) || *t > 0.0)
        .collect();
    ranked.sort_by(|a, b| {
        a.1.cmp(&b.1)
            .then_with(|| b.2.total_cmp(&a.2))
            .then_with(|| a.0.region_id.cmp(&b.0.region_id))
    });
    Ok(ranked.into_iter().map(|(s, _, _)| s).collect())
}

/// Fan charts for the top regions by alert, then by forecast (see [`chart_regions`]).
#[allow(clippy::too_many_arguments)]
fn charts(
    spec: &ValidSpec,
    writer: &mut RunWriter,
    panel: &Panel,
    series: &[RegionSeries],
    forecasts: &DataFrame,
    published: &std::collections::HashMap<String, String>,
    alerts: &DataFrame,
    class: Classification,
) -> Result<usize> {
    if spec.top_regions == 0 {
        return Ok(0);
    }
    let year = spec.frequency.periods_per_year();
    let names = region_lookup(&panel.regions, "region_name")?;
    let dir = writer.dir().join("charts");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let fc = forecast_points(forecasts)?;
    let ranked = chart_regions(series, &fc, published, alerts)?;
    let mut n = 0;
    for (rank, s) in ranked.into_iter().take(spec.top_regions).enumerate() {
        let keep = (year * 5).min(s.y.len());
        let history: Vec<_> = s.ds[s.ds.len() - keep..]
            .iter()
            .copied()
            .zip(s.y[s.y.len() - keep..].iter().copied())
            .collect();
        let mut lines_data: Vec<(String, Vec<(chrono::NaiveDate, f64)>)> = Vec::new();
        // The region's published model (the ensemble, else its chosen model) as a fan chart
        // around its median, and naive for reference. The median, not the table's point
        // forecast: that one minimises squared log error and sits below the median of a skewed
        // distribution, sometimes below its 25% quantile, which would look wrong inside the fan.
        let pick = published_model(published, &s.region_id);
        let mut shown = vec![(pick, "q50", format!("{} (median)", pick.replace('_', " ")))];
        if pick != "naive" {
            shown.push(("naive", "mean", "naive".to_string()));
        }
        let points = |m: &str, col: &str| -> Vec<(chrono::NaiveDate, f64)> {
            fc.iter()
                .filter(|p| p.0 == s.region_id && p.1 == m)
                .filter_map(|p| Some((p.2, p.3[FAN_COLUMNS.iter().position(|c| *c == col)?])))
                .collect()
        };
        for (m, col, label) in shown {
            let pts = points(m, col);
            if !pts.is_empty() {
                lines_data.push((label, pts));
            }
        }
        let lines: Vec<ForecastLine<'_>> = lines_data
            .iter()
            .map(|(l, p)| ForecastLine { label: l, points: p })
            .collect();
        let bands_data: Vec<(&str, Vec<_>, Vec<_>)> = [
            ("95% interval", "q025", "q975"),
            ("90% interval", "q05", "q95"),
            ("80% interval", "q10", "q90"),
            ("50% interval", "q25", "q75"),
        ]
        .iter()
        .map(|(label, lo, hi)| (*label, points(pick, lo), points(pick, hi)))
        .filter(|(_, lo, hi)| !lo.is_empty() && lo.len() == hi.len())
        .collect();
        let bands: Vec<ForecastBand<'_>> = bands_data
            .iter()
            .map(|(label, lo, hi)| ForecastBand {
                label,
                lower: lo,
                upper: hi,
            })
            .collect();
        let name = names
            .get(&s.region_id)
            .cloned()
            .unwrap_or_else(|| s.region_id.clone());
        let subtitle = format!(
            "{} per {}, {} level, as of {}",
            spec.target.replace('_', " "),
            spec.frequency,
            spec.level,
            spec.as_of
        );
        let footer = chart_footer(spec, writer);
        let marking = class.marking();
        let chart = SeriesChart {
            title: &name,
            subtitle: &subtitle,
            y_label: &spec.target.replace('_', " "),
            history: &history,
            forecasts: &lines,
            bands: &bands,
            footer: &footer,
            classification: &marking,
        };
        let stem = format!("{:02}-{}", rank + 1, slug(&s.region_id));
        let (svg, png) = (format!("charts/{stem}.svg"), format!("charts/{stem}.png"));
        render_series_chart(&chart, &writer.dir().join(&svg), &writer.dir().join(&png))?;
        let what = format!("history and forecasts for {name}");
        record_chart(writer, &svg, &png, class, &what)?;
        n += 1;
    }
    Ok(n)
}

/// Classes of the hot-spot analysis that count as emerging for an alert.
const EMERGING: [&str; 3] = ["new hot spot", "consecutive hot spot", "intensifying hot spot"];

/// The alerts of the run: probabilities from the published model (the ensemble, else each
/// region's chosen model), surges against the previous run of the job, emerging hot spots, and
/// drivers from the hurdle (else the global NB) model.
#[allow(clippy::too_many_arguments)]
fn alert_table(
    spec: &ValidSpec,
    job_dir: &Path,
    run_id: &str,
    incidents: &DataFrame,
    series: &[RegionSeries],
    fc: &ForecastStage,
    hotspots: &DataFrame,
) -> Result<DataFrame> {
    use std::collections::{BTreeMap, BTreeSet};
    use vigil_core::alerts::{AlertInputs, alerts, alerts_frame, previous_q95};
    let probabilities: Vec<Vec<[f64; 2]>> = (0..series.len())
        .map(|r| {
            let m = fc.published_model(r);
            fc.events[m][r].clone()
        })
        .collect();
    let explain_models = fc
        .global_models
        .iter()
        .find(|(n, _)| n == "hurdle")
        .or_else(|| fc.global_models.first())
        .map(|(_, m)| m.as_slice());
    let groups: Vec<String> = series.iter().map(|s| country_of(&s.region_id)).collect();
    let cache = explain_models.map(|_| FeatureCache::new(series, &groups));
    let explain = explain_models.zip(cache.as_ref());

    // the previous complete run of this job, by as-of date
    let mut previous = BTreeMap::new();
    if let Some((prev_id, prev_dir)) = previous_run(job_dir, run_id, &spec.as_of.to_string())
        && let Some(last) = series.first().and_then(|s| s.ds.last().copied())
    {
        let df = read_parquet(&prev_dir.join("forecasts.parquet"))?;
        previous = previous_q95(&df, last, &prev_id)?;
        tracing::info!(
            "alerts: surges against run {prev_id} ({} regions forecast)",
            previous.len()
        );
    } else {
        tracing::info!("alerts: no earlier run of this job, so no surge alerts");
    }

    // emerging hot-spot cells → the job's regions that hold events in them
    let ids = hotspots
        .column("grid_id")?
        .cast(&polars::prelude::DataType::Int64)?;
    let ids = ids.i64()?.clone();
    let classes = hotspots.column("class")?.str()?.clone();
    let mut emerging: BTreeMap<i64, String> = BTreeMap::new();
    for (g, c) in ids.iter().zip(classes.iter()) {
        if let (Some(g), Some(c)) = (g, c)
            && EMERGING.contains(&c)
        {
            emerging.insert(g, c.to_string());
        }
    }
    let text = |name: &str| -> Result<Vec<Option<String>>> {
        Ok(incidents
            .column(name)?
            .str()?
            .iter()
            .map(|v| v.map(str::to_string))
            .collect())
    };
    let (cc, a1, a2) = (text("country_code")?, text("admin1")?, text("admin2")?);
    let grid = incidents
        .column("grid_id")?
        .cast(&polars::prelude::DataType::Int64)?;
    let grid = grid.i64()?.clone();
    let mut cells: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for i in 0..incidents.height() {
        let Some(g) = grid.get(i).filter(|g| emerging.contains_key(g)) else {
            continue;
        };
        let unknown = vigil_core::data::panel::UNKNOWN;
        let id = vigil_core::data::panel::region_id(
            spec.level,
            cc[i].as_deref().unwrap_or(unknown),
            a1[i].as_deref().unwrap_or(unknown),
            a2[i].as_deref().unwrap_or(unknown),
            Some(g),
        );
        cells.entry(id).or_default().insert(g);
    }
    let hot: BTreeMap<String, Vec<(i64, String)>> = cells
        .into_iter()
        .map(|(id, gs)| (id, gs.into_iter().map(|g| (g, emerging[&g].clone())).collect()))
        .collect();

    let got = alerts(
        &AlertInputs {
            series,
            events: fc.thresholds,
            probabilities: &probabilities,
            explain,
            previous_q95: &previous,
            hotspots: &hot,
        },
        &spec.alerts,
    );
    let high = got
        .iter()
        .filter(|a| a.level == vigil_core::alerts::AlertLevel::High)
        .count();
    tracing::info!("alerts: {} region-horizons, {high} high", got.len());
    Ok(alerts_frame(&got)?)
}

/// The latest complete run of the job before `as_of` (other than `run_id`): its id and folder.
fn previous_run(job_dir: &Path, run_id: &str, as_of: &str) -> Option<(String, PathBuf)> {
    let mut best: Option<(String, String, PathBuf)> = None;
    for entry in std::fs::read_dir(job_dir).ok()?.flatten() {
        let dir = entry.path();
        let Ok(text) = std::fs::read_to_string(dir.join("manifest.json")) else {
            continue;
        };
        let Ok(m) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let (Some(id), Some(date)) = (m["run_id"].as_str(), m["as_of"].as_str()) else {
            continue;
        };
        // `latest` is a link to a run already listed under its own name
        if m["status"] != "complete" || id == run_id || date >= as_of || entry.file_name() != id {
            continue;
        }
        if best
            .as_ref()
            .is_none_or(|(d, i, _)| (date, id) > (d.as_str(), i.as_str()))
        {
            best = Some((date.to_string(), id.to_string(), dir));
        }
    }
    best.map(|(_, id, dir)| (id, dir))
}

/// Saves every global model of the run with its card and forecast under `models/<name>/`.
fn save_models(
    spec: &ValidSpec,
    writer: &mut RunWriter,
    series: &[RegionSeries],
    fc: &ForecastStage,
    class: Classification,
) -> Result<()> {
    use vigil_core::forecast::registry::{
        FORMAT, ModelCard, SavedModel, card_scores, model_forecast_frame, training_window,
    };
    let panel_sha256 = writer
        .outputs()
        .iter()
        .find(|o| o.file == "panel.parquet")
        .map(|o| o.sha256.clone())
        .context("the panel must be written before the models that read it")?;
    for (name, horizons) in &fc.global_models {
        let Some(m) = fc.backtest.models.iter().position(|x| x == name) else {
            continue;
        };
        let dir = format!("models/{name}");
        std::fs::create_dir_all(writer.dir().join(&dir))
            .with_context(|| format!("creating {dir} in the run folder"))?;
        let saved = SavedModel {
            format: FORMAT,
            name: name.clone(),
            target: spec.target.clone(),
            level: spec.level,
            frequency: spec.frequency,
            probs: DEFAULT_PROBS.to_vec(),
            events: fc.thresholds,
            horizons: horizons.clone(),
        };
        writer.write_json(
            &format!("{dir}/model.json"),
            &saved,
            class,
            &format!("the fitted {name} model, one per horizon"),
        )?;
        let forecast = GlobalForecast {
            models: horizons.clone(),
            forecasts: fc.forecasts[m].clone(),
            events: fc.events[m].clone(),
        };
        let mut df = model_forecast_frame(series, &forecast, &DEFAULT_PROBS, fc.thresholds, spec.frequency)?;
        writer.write_parquet(
            &format!("{dir}/forecast.parquet"),
            &mut df,
            class,
            &format!("the forecast of {name}, reproducible with `vigil forecast --model RUN/{name}`"),
        )?;
        let sha =
            |file: &str| -> Result<String> { Ok(sha256_file(&writer.dir().join(format!("{dir}/{file}")))?) };
        let card = ModelCard {
            model: name.clone(),
            description: match name.as_str() {
                "hurdle" => "logistic GLM for P(any fatality) and a negative binomial GLM for the count once positive, one per horizon, pooled across regions".into(),
                _ => "negative binomial (NB2) GLM with ML dispersion, one per horizon, pooled across regions".into(),
            },
            run_id: writer.run_id().to_string(),
            classification: class,
            engine_version: vigil_core::VERSION.to_string(),
            training: training_window(series, horizons, spec.global_window),
            panel_sha256: panel_sha256.clone(),
            spec_sha256: sha256_bytes(&spec.spec_bytes),
            model_sha256: sha("model.json")?,
            forecast_sha256: sha("forecast.parquet")?,
            features: horizons.first().map(|h| h.features.clone()).unwrap_or_default(),
            l2: spec.global_l2,
            dispersion: horizons.iter().map(|h| h.dispersion).collect(),
            backtest: card_scores(&fc.summary, name),
        };
        writer.write_json(
            &format!("{dir}/card.json"),
            &card,
            class,
            &format!(
                "model card of {name}: training window, hashes, features, hyperparameters, backtest scores"
            ),
        )?;
    }
    Ok(())
}

/// The forecast a level publishes for each region: the ensemble when the job runs it, else the
/// region's chosen model.
fn published(
    series: &[RegionSeries],
    fc: &ForecastStage,
    parent: impl Fn(&str) -> Option<String>,
) -> Vec<LevelForecast> {
    series
        .iter()
        .enumerate()
        .map(|(r, s)| {
            let m = fc.published_model(r);
            let f = &fc.forecasts[m][r];
            LevelForecast {
                region_id: s.region_id.clone(),
                parent_id: parent(&s.region_id),
                model: f.model.clone(),
                base: f.forecast.mean.clone(),
            }
        })
        .collect()
}

/// Forecasts the levels above the job's (country, then admin-1 for an admin-2 job) with the
/// same models and reconciles all of them proportionally from the top. `None` for a country
/// job (nothing above it) and for a grid job (cells do not nest in admin units).
fn reconcile_levels(
    spec: &ValidSpec,
    incidents: &DataFrame,
    series: &[RegionSeries],
    fc: &ForecastStage,
    settings: &BacktestSettings,
    warnings: &mut Vec<String>,
) -> Result<Option<DataFrame>> {
    use vigil_core::Level;
    let above: &[Level] = match spec.level {
        Level::Admin1 => &[Level::Country],
        Level::Admin2 => &[Level::Country, Level::Admin1],
        Level::Country | Level::Grid => return Ok(None),
    };
    // a region's parent: its id without the last `/` segment
    let parent = |id: &str| id.rsplit_once('/').map(|(p, _)| p.to_string());
    let mut levels = Vec::new();
    for (i, level) in above.iter().enumerate() {
        let s = region_series(&panel_at(spec, incidents, *level)?.frame, &spec.target)?;
        tracing::info!(
            "reconcile: forecasting {} {level} regions with the same models",
            s.len()
        );
        let f = run_forecasts(&s, &models(spec)?, settings, &pooled(spec))?;
        let rows = published(&s, &f, |id| if i == 0 { None } else { parent(id) });
        levels.push((level.as_str().to_string(), rows));
    }
    levels.push((spec.level.as_str().to_string(), published(series, fc, parent)));
    if spec.level == Level::Admin1 {
        levels.push(("grid".to_string(), grid_pieces(spec, incidents, parent)?));
    }
    let out = reconcile(&levels)?;
    let gap = coherence_gap(&out);
    tracing::info!("reconcile: largest |parent − Σ children| after reconciliation {gap:.3e}");
    if gap > 1e-9 {
        warnings.push(format!(
            "reconciled forecasts are not coherent: a parent differs from its children's sum by {gap:.3e}"
        ));
    }
    Ok(Some(reconciled_frame(&out)?))
}

/// The bottom level under admin-1 units: the piece of each PRIO-GRID cell inside each unit
/// (`<country>/<admin1>/pg<gid>`; a cell that straddles a border has a piece on each side, so
/// pieces nest where whole cells do not), with its mean over the last `backtest.window`
/// periods as base forecast for every horizon. The base forecasts only set each piece's share
/// of its unit's reconciled forecast.
fn grid_pieces(
    spec: &ValidSpec,
    incidents: &DataFrame,
    parent: impl Fn(&str) -> Option<String>,
) -> Result<Vec<LevelForecast>> {
    // an admin-2 panel whose admin-2 names are the cells builds exactly these pieces
    let cells: Vec<Option<String>> = incidents
        .column("grid_id")?
        .cast(&polars::prelude::DataType::Int64)?
        .i64()?
        .iter()
        .map(|g| g.map(|g| format!("pg{g}")))
        .collect();
    let mut relabelled = incidents.clone();
    relabelled.with_column(polars::prelude::Column::new("admin2".into(), cells))?;
    let s = region_series(
        &panel_at(spec, &relabelled, vigil_core::Level::Admin2)?.frame,
        &spec.target,
    )?;
    tracing::info!("reconcile: {} grid-cell pieces of admin-1 units", s.len());
    let w = spec.model_window.max(1);
    Ok(s.iter()
        .map(|s| {
            let tail = &s.y[s.y.len().saturating_sub(w)..];
            let mean = tail.iter().sum::<f64>() / tail.len().max(1) as f64;
            LevelForecast {
                region_id: s.region_id.clone(),
                parent_id: parent(&s.region_id),
                model: "window_mean".into(),
                base: vec![mean; spec.horizon],
            }
        })
        .collect())
}

/// The reliability diagram of P(any fatality) for the pooled models and the best baseline.
fn reliability_chart(
    spec: &ValidSpec,
    writer: &mut RunWriter,
    rows: &[ReliabilityRow],
    threshold: f64,
    class: Classification,
) -> Result<()> {
    let wanted = ["ensemble", "hurdle", "global_nb", "conflictology", "naive"];
    let curves_data: Vec<(&str, Vec<(f64, f64)>)> = wanted
        .iter()
        .map(|m| {
            let pts = rows
                .iter()
                .filter(|r| r.model == *m && r.threshold == threshold && r.n > 0)
                .map(|r| (r.mean_forecast, r.observed))
                .collect::<Vec<_>>();
            (*m, pts)
        })
        .filter(|(_, p)| !p.is_empty())
        .collect();
    if curves_data.is_empty() {
        return Ok(());
    }
    let labels: Vec<String> = curves_data
        .iter()
        .map(|(m, _)| {
            format!(
                "{} (ECE {:.3})",
                m.replace('_', " "),
                calibration_error(rows, m, threshold)
            )
        })
        .collect();
    let curves: Vec<XyCurve<'_>> = curves_data
        .iter()
        .zip(&labels)
        .map(|((_, p), l)| XyCurve {
            label: l,
            points: p,
            band: &[],
        })
        .collect();
    let title = format!(
        "Reliability of P({} ≥ {threshold})",
        spec.target.replace('_', " ")
    );
    let subtitle = format!(
        "backtest, {} origins × horizons 1..{}, {} level; ten probability bins",
        spec.origins, spec.horizon, spec.level
    );
    let footer = chart_footer(spec, writer);
    let marking = class.marking();
    let chart = XyChart {
        title: &title,
        subtitle: &subtitle,
        x_label: "forecast probability (mean in bin)",
        y_label: "observed frequency",
        x_range: (0.0, 1.0),
        y_range: (0.0, 1.0),
        decimals: (1, 1),
        reference: (Reference::Diagonal, "perfect calibration"),
        curves: &curves,
        footer: &footer,
        classification: &marking,
    };
    let dir = writer.dir().join("charts");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let (svg, png) = ("charts/reliability-any.svg", "charts/reliability-any.png");
    render_xy_chart(&chart, &writer.dir().join(svg), &writer.dir().join(png))?;
    let what = "reliability diagram of the probability of any fatality on the backtest";
    record_chart(writer, svg, png, class, what)?;
    Ok(())
}

/// The month-of-year profile (index: the month's mean over the overall mean) of the three most
/// violent regions of the last year that have one, with the bootstrap band.
fn seasonal_chart(
    spec: &ValidSpec,
    writer: &mut RunWriter,
    panel: &Panel,
    series: &[RegionSeries],
    seasonality: &DataFrame,
    class: Classification,
) -> Result<()> {
    let ids = text_values(seasonality, "region_id")?;
    let status = text_values(seasonality, "status")?;
    let season = seasonality
        .column("season")?
        .cast(&polars::prelude::DataType::Float64)?;
    let season = season.f64()?.clone();
    let get = |c: &str| float_values(seasonality, c);
    let (index, lo, hi) = (get("index")?, get("index_lo")?, get("index_hi")?);
    let year = spec.frequency.periods_per_year();
    let ranked: Vec<(&RegionSeries, f64)> = most_violent(series, year)
        .into_iter()
        .filter(|(s, _)| (0..ids.len()).any(|i| ids[i] == s.region_id && status[i] == "ok"))
        .collect();
    let names = region_lookup(&panel.regions, "region_name")?;
    // (region name, index by month, band by month)
    type Profile = (String, Vec<(f64, f64)>, Vec<(f64, f64, f64)>);
    let mut data: Vec<Profile> = Vec::new();
    for (s, _) in ranked.into_iter().take(3) {
        let mut pts = Vec::new();
        let mut band = Vec::new();
        for i in (0..ids.len()).filter(|i| ids[*i] == s.region_id) {
            if let Some(m) = season.get(i)
                && index[i].is_finite()
            {
                pts.push((m, index[i]));
                if lo[i].is_finite() && hi[i].is_finite() {
                    band.push((m, lo[i], hi[i]));
                }
            }
        }
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        band.sort_by(|a, b| a.0.total_cmp(&b.0));
        let name = names
            .get(&s.region_id)
            .cloned()
            .unwrap_or_else(|| s.region_id.clone());
        data.push((name, pts, band));
    }
    if data.is_empty() {
        return Ok(());
    }
    let top = data
        .iter()
        .flat_map(|(_, p, b)| p.iter().map(|x| x.1).chain(b.iter().map(|x| x.2)))
        .fold(1.0f64, f64::max);
    let curves: Vec<XyCurve<'_>> = data
        .iter()
        .map(|(l, p, b)| XyCurve {
            label: l,
            points: p,
            band: b,
        })
        .collect();
    let subtitle = format!(
        "month-of-year index (1 = an average month) with its 90% bootstrap band, last {} years, as of {}",
        spec.cycles, spec.as_of
    );
    let footer = chart_footer(spec, writer);
    let marking = class.marking();
    let y_label = format!("{} index", spec.target.replace('_', " "));
    let chart = XyChart {
        title: "Seasonal profile of the most violent regions",
        subtitle: &subtitle,
        x_label: "month of the year (1 = January)",
        y_label: &y_label,
        x_range: (0.5, 12.5),
        y_range: (0.0, (top * 1.1).min(12.0)),
        decimals: (0, 1),
        reference: (Reference::Horizontal(1.0), "an average month"),
        curves: &curves,
        footer: &footer,
        classification: &marking,
    };
    let (svg, png) = ("charts/seasonal-profile.svg", "charts/seasonal-profile.png");
    render_xy_chart(&chart, &writer.dir().join(svg), &writer.dir().join(png))?;
    let what = "month-of-year profile of the three most violent regions, with bootstrap bands";
    record_chart(writer, svg, png, class, what)?;
    Ok(())
}

/// Small multiples of the six most violent regions of the last year: the Mann-Kendall window
/// of history with Sen's slope line.
fn trends_chart(
    spec: &ValidSpec,
    writer: &mut RunWriter,
    panel: &Panel,
    series: &[RegionSeries],
    trend: &DataFrame,
    class: Classification,
) -> Result<()> {
    let ids = text_values(trend, "region_id")?;
    let tests = text_values(trend, "test")?;
    let directions = text_values(trend, "direction")?;
    let num = |c: &str| float_values(trend, c);
    let (slope, intercept, n, p) = (num("slope")?, num("intercept")?, num("n")?, num("p")?);
    let year = spec.frequency.periods_per_year();
    let ranked = most_violent(series, year);
    let names = region_lookup(&panel.regions, "region_name")?;
    // (region name, history, Sen's line, note)
    type Dated = (chrono::NaiveDate, f64);
    type Row = (String, Vec<Dated>, Option<[Dated; 2]>, String);
    let mut data: Vec<Row> = Vec::new();
    for (s, _) in ranked.into_iter().take(6) {
        let Some(i) = (0..ids.len()).find(|i| ids[*i] == s.region_id && tests[*i] == "mann_kendall") else {
            continue;
        };
        let keep = (n[i].max(0.0) as usize).clamp(1, s.y.len());
        let history: Vec<_> = s.ds[s.ds.len() - keep..]
            .iter()
            .copied()
            .zip(s.y[s.y.len() - keep..].iter().copied())
            .collect();
        let line = (slope[i].is_finite() && intercept[i].is_finite()).then(|| {
            [
                (history[0].0, intercept[i]),
                (history[keep - 1].0, intercept[i] + slope[i] * (keep - 1) as f64),
            ]
        });
        let note = if slope[i].is_finite() {
            let p = if p[i] < 0.001 {
                "p < 0.001".to_string()
            } else {
                format!("p = {:.3}", p[i])
            };
            format!("{:+.1} per {}, {p}: {}", slope[i], spec.frequency, directions[i])
        } else {
            directions[i].clone()
        };
        let name = names
            .get(&s.region_id)
            .cloned()
            .unwrap_or_else(|| s.region_id.clone());
        data.push((name, history, line, note));
    }
    if data.is_empty() {
        return Ok(());
    }
    let panels: Vec<TrendPanel<'_>> = data
        .iter()
        .map(|(t, h, l, note)| TrendPanel {
            title: t,
            history: h,
            trend: *l,
            note,
        })
        .collect();
    let subtitle = format!(
        "{} per {}, the last {} {}s: Mann-Kendall test and Sen's slope, as of {}",
        spec.target.replace('_', " "),
        spec.frequency,
        spec.mk_window,
        spec.frequency,
        spec.as_of
    );
    let footer = chart_footer(spec, writer);
    let marking = class.marking();
    let chart = SmallMultiples {
        title: "Trends in the most violent regions",
        subtitle: &subtitle,
        panels: &panels,
        columns: 3,
        trend_label: "Sen's slope",
        footer: &footer,
        classification: &marking,
    };
    let (svg, png) = ("charts/trends.svg", "charts/trends.png");
    render_small_multiples(&chart, &writer.dir().join(svg), &writer.dir().join(png))?;
    let what = "small multiples of the six most violent regions' trends with Sen's slope";
    record_chart(writer, svg, png, class, what)?;
    Ok(())
}

/// Map categories of the emerging hot-spot classes (the first is the background).
const MAP_CATEGORIES: [&str; 7] = [
    "no pattern",
    "new hot spot",
    "consecutive hot spot",
    "intensifying hot spot",
    "persistent hot spot",
    "other hot spot",
    "cold spot",
];

fn map_category(class: &str) -> usize {
    match class {
        "new hot spot" => 1,
        "consecutive hot spot" => 2,
        "intensifying hot spot" => 3,
        "persistent hot spot" => 4,
        c if c.ends_with("hot spot") => 5,
        c if c.ends_with("cold spot") => 6,
        _ => 0,
    }
}

/// Maps of PRIO-GRID cells coloured by emerging hot-spot class for the (at most three)
/// countries with the most hot or cold cells; returns how many were drawn.
fn hotspot_maps(
    spec: &ValidSpec,
    writer: &mut RunWriter,
    hotspots: &DataFrame,
    cell_country: &std::collections::HashMap<String, String>,
    country_names: &std::collections::HashMap<String, String>,
    class: Classification,
) -> Result<usize> {
    // `country_names`: country code → name
    use std::collections::BTreeMap;
    let ids = text_values(hotspots, "region_id")?;
    let classes = text_values(hotspots, "class")?;
    let gids = hotspots
        .column("grid_id")?
        .cast(&polars::prelude::DataType::Int64)?;
    let gids = gids.i64()?.clone();
    // country → cell → category (one class per cell; the table repeats it per step)
    let mut by_country: BTreeMap<String, BTreeMap<i64, usize>> = BTreeMap::new();
    for i in 0..hotspots.height() {
        let (Some(g), Some(c)) = (gids.get(i), cell_country.get(&ids[i])) else {
            continue;
        };
        by_country
            .entry(c.clone())
            .or_default()
            .insert(g, map_category(&classes[i]));
    }
    let mut ranked: Vec<(String, usize)> = by_country
        .iter()
        .map(|(c, cells)| (c.clone(), cells.values().filter(|k| **k != 0).count()))
        .filter(|(_, n)| *n > 0)
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let footer = chart_footer(spec, writer);
    let marking = class.marking();
    let mut drawn = 0;
    for (country, n) in ranked.into_iter().take(3) {
        let cells: Vec<(i64, usize)> = by_country[&country].iter().map(|(g, k)| (*g, *k)).collect();
        let name = country_names
            .get(&country)
            .cloned()
            .unwrap_or_else(|| country.clone());
        let title = format!("Emerging hot spots: {name}");
        let subtitle = format!(
            "PRIO-GRID cells with events, Getis-Ord Gi* over {} yearly steps to {}; {n} hot or cold cells",
            spec.cycles, spec.as_of
        );
        let chart = CellMap {
            title: &title,
            subtitle: &subtitle,
            cells: &cells,
            categories: &MAP_CATEGORIES,
            footer: &footer,
            classification: &marking,
        };
        std::fs::create_dir_all(writer.dir().join("charts"))?;
        let stem = format!("charts/hotspots-{}", slug(&country));
        let (svg, png) = (format!("{stem}.svg"), format!("{stem}.png"));
        render_cell_map(&chart, &writer.dir().join(&svg), &writer.dir().join(&png))?;
        let what = format!("emerging hot-spot classes of the PRIO-GRID cells of {name}");
        record_chart(writer, &svg, &png, class, &what)?;
        drawn += 1;
    }
    Ok(drawn)
}

/// The regions with violence in their last `periods` periods, most first (ties by id), with
/// their totals.
fn most_violent(series: &[RegionSeries], periods: usize) -> Vec<(&RegionSeries, f64)> {
    let mut ranked: Vec<(&RegionSeries, f64)> = series
        .iter()
        .map(|s| (s, s.y.iter().rev().take(periods).sum::<f64>()))
        .filter(|(_, v)| *v > 0.0)
        .collect();
    ranked.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then_with(|| a.0.region_id.cmp(&b.0.region_id))
    });
    ranked
}

/// Periods shown by the heatmap, and its most regions.
const HEATMAP_PERIODS: usize = 24;
const HEATMAP_REGIONS: usize = 20;

/// Region × period heatmap of the last [`HEATMAP_PERIODS`] periods for the regions with the
/// largest totals over them.
fn heatmap_chart(
    spec: &ValidSpec,
    writer: &mut RunWriter,
    panel: &Panel,
    series: &[RegionSeries],
    class: Classification,
) -> Result<()> {
    let Some(first) = series.first() else {
        return Ok(());
    };
    let n = first.y.len();
    let keep = HEATMAP_PERIODS.min(n);
    let mut ranked = most_violent(series, keep);
    ranked.truncate(HEATMAP_REGIONS);
    if ranked.is_empty() {
        return Ok(());
    }
    let names = region_lookup(&panel.regions, "region_name")?;
    let rows: Vec<String> = ranked
        .iter()
        .map(|(s, _)| {
            names
                .get(&s.region_id)
                .cloned()
                .unwrap_or_else(|| s.region_id.clone())
        })
        .collect();
    let values: Vec<Vec<f64>> = ranked.iter().map(|(s, _)| s.y[n - keep..].to_vec()).collect();
    let columns = &first.ds[n - keep..];
    let subtitle = format!(
        "the {} {} regions with the most {} in the last {keep} {}s, as of {}",
        rows.len(),
        spec.level,
        spec.target.replace('_', " "),
        spec.frequency,
        spec.as_of
    );
    let value_label = format!("{} per {}", spec.target.replace('_', " "), spec.frequency);
    let footer = chart_footer(spec, writer);
    let marking = class.marking();
    let chart = HeatmapChart {
        title: "Where and when: the most violent regions",
        subtitle: &subtitle,
        rows: &rows,
        columns,
        values: &values,
        value_label: &value_label,
        footer: &footer,
        classification: &marking,
    };
    let (svg, png) = ("charts/heatmap.svg", "charts/heatmap.png");
    render_heatmap(&chart, &writer.dir().join(svg), &writer.dir().join(png))?;
    let what = "region × period heatmap of the most violent regions";
    record_chart(writer, svg, png, class, what)?;
    Ok(())
}

/// Backtest skill by horizon: MSLE skill (1 − MSLE / the best baseline's MSLE at the same
/// horizon) of the pooled models and the local models, one line each.
fn skill_chart(
    spec: &ValidSpec,
    writer: &mut RunWriter,
    skill: &[vigil_models::metrics::Skill],
    class: Classification,
) -> Result<()> {
    // the pooled models and the strongest local ones; all models are in skill.parquet
    let wanted = [
        "ensemble",
        "hurdle",
        "global_nb",
        "conflictology",
        "window_mean",
        "auto_ets",
        "tsb",
        "naive",
    ];
    let models: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|m| skill.iter().any(|s| s.model == *m))
        .collect();
    let data: Vec<(String, Vec<(f64, f64)>)> = models
        .iter()
        .map(|m| {
            let mut pts: Vec<(f64, f64)> = skill
                .iter()
                .filter(|s| s.model == *m && s.msle.is_finite())
                .filter_map(|s| s.horizon.map(|h| (h as f64, s.msle)))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            (m.replace('_', " "), pts)
        })
        .filter(|(_, p)| !p.is_empty())
        .collect();
    if data.is_empty() {
        return Ok(());
    }
    let lo = data
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(0.0f64, f64::min);
    let hi = data
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(0.0f64, f64::max);
    let curves: Vec<XyCurve<'_>> = data
        .iter()
        .map(|(l, p)| XyCurve {
            label: l,
            points: p,
            band: &[],
        })
        .collect();
    let title = "Backtest skill by horizon";
    let subtitle = format!(
        "MSLE skill against the best baseline at each horizon (above 0: better), {} origins, {} level",
        spec.origins, spec.level
    );
    let footer = chart_footer(spec, writer);
    let marking = class.marking();
    let chart = XyChart {
        title,
        subtitle: &subtitle,
        x_label: "horizon (periods ahead)",
        y_label: "MSLE skill",
        x_range: (0.5, spec.horizon as f64 + 0.5),
        y_range: ((lo * 1.1).max(-1.0), (hi * 1.1).max(0.05)),
        decimals: (0, 2),
        reference: (Reference::Horizontal(0.0), "no skill"),
        curves: &curves,
        footer: &footer,
        classification: &marking,
    };
    let (svg, png) = ("charts/skill-by-horizon.svg", "charts/skill-by-horizon.png");
    render_xy_chart(&chart, &writer.dir().join(svg), &writer.dir().join(png))?;
    let what = "MSLE skill of every model by horizon against the best baseline";
    record_chart(writer, svg, png, class, what)?;
    Ok(())
}

/// The source line of every chart: the inputs and the run.
fn chart_footer(spec: &ValidSpec, writer: &RunWriter) -> String {
    format!("Source: {}; vigil run {}", sources(spec), writer.run_id())
}

/// Records a chart's SVG and PNG files in the run.
fn record_chart(
    writer: &mut RunWriter,
    svg: &str,
    png: &str,
    class: Classification,
    what: &str,
) -> Result<()> {
    writer.record(svg, None, class, what)?;
    writer.record(png, None, class, what)?;
    Ok(())
}

fn sources(spec: &ValidSpec) -> String {
    let mut names: Vec<&str> = spec
        .inputs
        .iter()
        .map(|i| i.mapping.source_dataset.as_str())
        .collect();
    names.dedup();
    names.join(" / ")
}

/// Region id → the text column `column` of a panel's region table (`region_name`,
/// `country_code`, …).
fn region_lookup(regions: &DataFrame, column: &str) -> Result<std::collections::HashMap<String, String>> {
    let ids = regions.column("region_id")?.str()?.clone();
    let values = regions.column(column)?.str()?.clone();
    Ok(ids
        .iter()
        .zip(values.iter())
        .filter_map(|(i, v)| Some((i?.to_string(), v?.to_string())))
        .collect())
}

/// Columns of a forecast that a fan chart draws.
const FAN_COLUMNS: [&str; 10] = [
    "mean", "q025", "q05", "q10", "q25", "q50", "q75", "q90", "q95", "q975",
];

/// (region, model, period, values of [`FAN_COLUMNS`]).
type Point = (String, String, chrono::NaiveDate, [f64; 10]);

fn forecast_points(df: &DataFrame) -> Result<Vec<Point>> {
    let ids = df.column("region_id")?.str()?.clone();
    let models = df.column("model")?.str()?.clone();
    let ds = df.column("ds")?.cast(&polars::prelude::DataType::Int32)?;
    let ds = ds.i32()?.clone();
    let values = FAN_COLUMNS
        .iter()
        .map(|c| Ok(df.column(c)?.f64()?.clone()))
        .collect::<Result<Vec<_>>>()?;
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let (Some(r), Some(m), Some(d)) = (ids.get(i), models.get(i), ds.get(i)) else {
            continue;
        };
        let mut v = [f64::NAN; 10];
        for (slot, col) in v.iter_mut().zip(&values) {
            *slot = col.get(i).unwrap_or(f64::NAN);
        }
        out.push((
            r.to_string(),
            m.to_string(),
            vigil_core::data::period::from_epoch_days(d),
            v,
        ));
    }
    Ok(out)
}

/// Writes a stage's tables into `dir` (for `vigil ingest` / `vigil panel`).
pub fn write_stage(dir: &Path, tables: Vec<(&str, DataFrame)>, class: Classification) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, mut df) in tables {
        vigil_core::output::write_parquet(&dir.join(name), &mut df, class, "stage")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{backtest_fallback_warning, previous_run, slug};

    #[test]
    fn the_previous_run_is_the_latest_complete_one_before_the_as_of_date() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let write = |id: &str, as_of: &str, status: &str| {
            let dir = tmp.path().join(id);
            std::fs::create_dir_all(&dir).expect("dir");
            let m = serde_json::json!({"run_id": id, "as_of": as_of, "status": status});
            std::fs::write(dir.join("manifest.json"), m.to_string()).expect("manifest");
        };
        write("2021-10-31-a", "2021-10-31", "complete");
        write("2021-11-30-b", "2021-11-30", "complete");
        write("2021-12-15-c", "2021-12-15", "failed_quality_gate");
        write("2022-01-31-d", "2022-01-31", "complete");
        write("2021-12-31-e", "2021-12-31", "complete");
        let got = previous_run(tmp.path(), "2021-12-31-e", "2021-12-31").map(|(id, _)| id);
        assert_eq!(got.as_deref(), Some("2021-11-30-b"));
        assert!(previous_run(tmp.path(), "x", "2021-10-31").is_none());
        assert!(previous_run(&tmp.path().join("missing"), "x", "2030-01-01").is_none());
    }

    #[test]
    fn the_backtest_fallback_warning_counts_region_origins_per_model() {
        use vigil_models::backtest::BacktestFallback;
        use vigil_models::{Backtest, BacktestRows};
        let fell = |model, series, cutoff| BacktestFallback {
            series,
            cutoff,
            model,
            reason: "too short".into(),
        };
        let mut bt = Backtest {
            models: vec!["naive".into(), "auto_ets".into(), "hurdle".into()],
            probs: vec![0.5],
            rows: BacktestRows::new(1),
            fallbacks: vec![],
        };
        assert_eq!(backtest_fallback_warning(&bt, 4, 3), None);
        // auto_ets once (one fit, all horizons); hurdle per horizon: 2 region-origins × 6
        bt.fallbacks.push(fell(1, 0, 40));
        for h in 0..6 {
            bt.fallbacks.push(fell(2, 1, 40 + h % 2));
        }
        assert_eq!(
            backtest_fallback_warning(&bt, 4, 3).as_deref(),
            Some(
                "backtest: naive stood in for auto_ets in 1 of 12, for hurdle in 2 of 12 region-origins (see fell_back in backtest.parquet)"
            )
        );
    }

    #[test]
    fn slugs_fold_accents_and_keep_ids_readable() {
        assert_eq!(slug("70/Michoacán state"), "70-michoacan-state");
        assert_eq!(slug("432/Ménaka région"), "432-menaka-region");
        assert_eq!(slug("pg153000"), "pg153000");
        assert_eq!(slug("482/unknown"), "482-unknown");
    }
}
