//! Runs a checked job spec as a sequence of typed stages and writes the run folder.
//!
//! [`run`] reads as the list of stages: ingest with the quality gates, panel, backtest and
//! forecast, reconcile, trends, hot spots, alerts, change, charts, tables, report, commit. Each
//! stage is a function from typed inputs to a typed output; the `Run` they are methods of
//! carries what every stage shares (the spec, the run writer, the timings and warnings).

use crate::failpoint::failpoint;
use crate::inputs::{IngestResult, classification_of, ingest_all, input_records, panel_of, run_id};
use crate::shards::merged_parts;
use crate::spec::{Overrides, ValidSpec};
use anyhow::{Context, Result};
use polars::prelude::{DataFrame, SortMultipleOptions};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use vigil_core::alerts::alert_table;
use vigil_core::analysis::changepoints::changepoints_frame;
use vigil_core::analysis::hotspots::{CellClasses, hotspots_frame};
use vigil_core::analysis::seasonality::seasonality_frames;
use vigil_core::analysis::trend::trend_frame;
use vigil_core::data::panel::{Panel, PanelReport, build_panel};
use vigil_core::data::quality::{GateResult, InputQuality};
use vigil_core::data::read::region_lookup;
use vigil_core::data::region;
use vigil_core::data::series::{Fallback, RegionSeries, fallbacks_frame, level_change, region_series};
use vigil_core::forecast::reconcile::{
    coherence_gap, grid_pieces, published_forecasts, reconcile, reconciled_frame,
};
use vigil_core::forecast::registry::save_models;
use vigil_core::forecast::stage::{ForecastStage, finish_forecasts, run_forecasts};
use vigil_core::forecast::tables::{
    choices_frame, forecasts_frame, metrics_frame, reliability_frame, skill_frame, write_backtest,
};
use vigil_core::output::{
    InputRecord, Manifest, RunWriter, TableWriter, Timing, catalogue, sha256_bytes, sha256_file,
};
use vigil_core::{Classification, Level};
use vigil_models::calibration::{ReliabilityRow, calibration_error, reliability};
use vigil_models::metrics::ModelScores;
use vigil_report::figures::{RunTables, hotspot_maps, run_charts};

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

/// Where the local models' per-region work comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// Computed here, for every region.
    Here,
    /// Merged from the part files of this many shards (`vigil merge`).
    Merge(usize),
}

/// `quality.json`.
#[derive(Debug, Serialize)]
struct QualityFile<'a> {
    as_of: String,
    inputs: &'a [InputQuality],
    gates: &'a GateResult,
    panel: Option<&'a PanelReport>,
}

/// What every stage of a run shares: the spec, the run's id and writer, and the timings and
/// warnings the manifest records.
struct Run<'a> {
    spec: &'a ValidSpec,
    overrides: &'a Overrides,
    local: Local,
    force: bool,
    id: String,
    job_dir: PathBuf,
    records: Vec<InputRecord>,
    writer: RunWriter,
    class: Classification,
    timings: Vec<Timing>,
    warnings: Vec<String>,
    progress: crate::progress::Progress,
    started: Instant,
}

/// The backtest's scores as tables, and the rows the charts use.
struct Scored {
    forecasts: DataFrame,
    metrics: DataFrame,
    skill: DataFrame,
    choices: DataFrame,
    reliability: DataFrame,
    reliability_rows: Vec<ReliabilityRow>,
}

/// The series of levels other than the job's, built once and reused.
type LevelSeries = Vec<(Level, Vec<RegionSeries>)>;

/// The trend stage's tables.
struct Trends {
    trend: DataFrame,
    seasonality: DataFrame,
    decomposition: DataFrame,
    changepoints: DataFrame,
}

/// The hot-spot stage's table, every cell's class (the alerts use them), and the grid cells'
/// series the change table reuses.
struct Hotspots {
    table: DataFrame,
    classes: CellClasses,
    grid_series: Vec<RegionSeries>,
}

/// Runs the whole job, or (with `Local::Merge`) finishes it from its shards' parts. `force`
/// redoes a run that already exists.
pub fn run(spec: &ValidSpec, overrides: &Overrides, force: bool, local: Local) -> Result<Outcome> {
    let started = Instant::now();
    let records = input_records(spec)?;
    let id = run_id(spec, overrides, &records);
    let job_dir = spec.out_dir.join(&spec.name);
    let existing = job_dir.join(&id);
    let done = || existing.join("manifest.json").is_file() && !force;
    if done() {
        return Ok(Outcome::AlreadyDone { folder: existing });
    }
    // One run of the job at a time; released when this function returns (or unwinds).
    let _lock = crate::lock::acquire(&job_dir, &id)?;
    // An identical run may have finished while we waited for nothing: check again under the lock.
    if done() {
        return Ok(Outcome::AlreadyDone { folder: existing });
    }
    let writer = RunWriter::create(&job_dir, &id)?;
    tracing::info!("run {id}: writing into {}", writer.dir().display());
    let mut run = Run {
        spec,
        overrides,
        local,
        force,
        id,
        job_dir,
        records,
        writer,
        class: classification_of(spec),
        timings: Vec::new(),
        warnings: Vec::new(),
        progress: crate::progress::Progress::start(),
        started,
    };

    let ing = run.stage("ingest", Run::ingest)?;
    let gates = run.check_quality(&ing)?;
    if !gates.passed {
        return Err(run.fail(&ing, gates)?);
    }
    let panel = run.stage("panel", |r| panel_of(r.spec, &ing.incidents))?;
    log_panel(&panel);
    let (series, mut fc) = run.stage("backtest_and_forecast", |r| r.forecast(&panel))?;
    log_scores(&fc.summary);
    let scored = run.score(&series, &mut fc)?;
    let (reconciled, above) = run.stage("reconcile", |r| r.reconcile(&ing.incidents, &series, &fc))?;
    run.warnings.extend(backtest_fallback_warning(
        &fc.backtest,
        series.len(),
        spec.backtest.origins,
    ));
    let trends = run.stage("trends", |r| r.trends(&series))?;
    let hotspots = run.stage("hotspots", |r| r.hotspots(&ing.incidents))?;
    let alerts = run.stage("alerts", |r| r.alerts(&ing.incidents, &series, &fc, &hotspots))?;
    run.stage("change", |r| {
        r.change(&ing.incidents, &series, hotspots.grid_series.as_slice(), above)
    })?;
    summarise_fallbacks(&fc.fallbacks, &mut run.warnings);
    run.stage("charts", |r| {
        r.charts(&panel, &series, &scored, &alerts, &trends, &fc)
    })?;
    let panel_sha256 = run.write_tables(
        &ing,
        &gates,
        panel,
        scored,
        reconciled,
        alerts,
        trends,
        hotspots.table,
    )?;
    let card = spec.card_job();
    save_models(&mut run.writer, &series, &fc, &card, &panel_sha256, run.class)?;
    let mut fallbacks = fallbacks_frame(&fc.fallbacks)?;
    run.writer
        .write_table(&catalogue::FALLBACKS, &mut fallbacks, run.class)?;
    // the report last, so that it lists every other file
    run.report()?;
    run.commit()
}

impl Run<'_> {
    /// Runs `f` as stage `name`: its time goes into the manifest, its end onto the progress line.
    fn stage<T>(&mut self, name: &str, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let t = Instant::now();
        let out = f(self)?;
        self.progress.done(name);
        self.timings.push(Timing {
            stage: name.to_string(),
            seconds: t.elapsed().as_secs_f64(),
        });
        Ok(out)
    }

    /// The run's manifest with the given status.
    fn manifest(&self, status: &str) -> Manifest {
        let spec = self.spec;
        Manifest {
            run_id: self.id.clone(),
            job: spec.name.clone(),
            status: status.to_string(),
            as_of: spec.as_of.to_string(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            engine_version: vigil_core::VERSION.to_string(),
            spec_path: spec.spec_path.display().to_string(),
            spec_sha256: sha256_bytes(&spec.spec_bytes),
            overrides: self.overrides.recorded(),
            classification: self.class,
            inputs: self.records.clone(),
            outputs: Vec::new(),
            timings: self.timings.clone(),
            warnings: self.warnings.clone(),
            shards: match self.local {
                Local::Here => None,
                Local::Merge(n) => Some(n),
            },
        }
    }

    /// Ingests every input, streaming the accepted incidents into the run folder.
    fn ingest(&mut self) -> Result<IngestResult> {
        let file = self.writer.dir().join(catalogue::INCIDENTS.file);
        ingest_all(self.spec, Some((&file, &self.id)))
    }

    /// Records the rows read, warns of rows kept with a warning or dated after the as-of date,
    /// writes the quarantine, and checks the quality gates.
    fn check_quality(&mut self, ing: &IngestResult) -> Result<GateResult> {
        for (record, q) in self.records.iter_mut().zip(&ing.quality) {
            record.rows = q.rows_read;
        }
        for q in &ing.quality {
            if q.rows_excluded_after_as_of > 0 {
                self.warnings.push(format!(
                    "{}: {} valid rows dated after the as-of date {} are outside this run's window",
                    q.file, q.rows_excluded_after_as_of, self.spec.as_of
                ));
            }
            for (w, n) in &q.warnings {
                self.warnings.push(format!(
                    "{}: {n} rows kept with warning {w} (see quality.json)",
                    q.file
                ));
            }
            for n in &q.notices {
                self.warnings.push(format!("{}: {n}", q.file));
            }
        }
        let gates = self.spec.quality.check(&ing.quality);
        let mut quarantine = ing.quarantine.sort(
            ["source_file", "source_row", "rule"],
            SortMultipleOptions::default(),
        )?;
        self.writer
            .write_table(&catalogue::QUARANTINE, &mut quarantine, self.class)?;
        Ok(gates)
    }

    /// Keeps the folder of a run whose quality gate failed, with what explains the failure (the
    /// quarantine and quality.json, not the accepted incidents), and returns the error to report.
    fn fail(self, ing: &IngestResult, gates: GateResult) -> Result<anyhow::Error> {
        let manifest = self.manifest("failed_quality_gate");
        let qf = QualityFile {
            as_of: self.spec.as_of.to_string(),
            inputs: &ing.quality,
            gates: &gates,
            panel: None,
        };
        let mut writer = self.writer;
        // the quality file of a failed run has no panel counts: it stopped before the panel
        writer.write_json(
            catalogue::QUALITY.file,
            &qf,
            self.class,
            "rows read, accepted, quarantined per rule; gates",
        )?;
        let incidents = writer.dir().join(catalogue::INCIDENTS.file);
        std::fs::remove_file(&incidents).with_context(|| format!("removing {}", incidents.display()))?;
        let folder = writer.keep_as("failed", manifest)?;
        Ok(GateFailed {
            folder,
            failures: gates.failures,
        }
        .into())
    }

    /// The backtest and forecasts of every model, here or from the shards' parts.
    fn forecast(&mut self, panel: &Panel) -> Result<(Vec<RegionSeries>, ForecastStage)> {
        let spec = self.spec;
        let series = region_series(&panel.frame, &spec.forecast.target)?;
        let models = spec.local_models()?;
        tracing::info!(
            "backtest: {} regions × {} origins (step {}) × {} models, horizons 1..{}",
            series.len(),
            spec.backtest.origins,
            spec.backtest.step,
            models.len(),
            spec.forecast.horizon
        );
        let fc = match self.local {
            Local::Here => run_forecasts(&series, &models, &spec.backtest(), &spec.pooled())?,
            Local::Merge(shards) => {
                let part = merged_parts(&self.job_dir, &self.id, shards, &series)?;
                finish_forecasts(&series, &models, &spec.backtest(), &spec.pooled(), part)?
            }
        };
        Ok((series, fc))
    }

    /// Writes the backtest (the run's largest table, a slice at a time) and lets its rows go;
    /// scores, skill, choices and reliability as tables.
    fn score(&mut self, series: &[RegionSeries], fc: &mut ForecastStage) -> Result<Scored> {
        let spec = self.spec;
        let probs = spec.backtest().probs;
        let forecasts = forecasts_frame(series, fc, &probs, spec.panel.frequency)?;
        let path = self.writer.dir().join(catalogue::BACKTEST.file);
        let rows = write_backtest(&path, series, &fc.backtest, (self.class, &self.id))?;
        self.writer
            .record_output(&catalogue::BACKTEST, Some(rows), self.class)?;
        let metrics = metrics_frame(&fc.summary)?;
        let skill = skill_frame(&fc.skill)?;
        let choices = choices_frame(&fc.choices)?;
        let reliability_rows = reliability(&fc.backtest, fc.thresholds);
        // Nothing after this point reads the backtest's rows (they are in backtest.parquet, the
        // metrics and the reliability table now), and they are most of the run's memory.
        fc.backtest.rows = Default::default();
        for m in &fc.backtest.models {
            tracing::debug!(
                "calibration error of P(y >= {}) for {m}: {:.3}",
                fc.thresholds[0],
                calibration_error(&reliability_rows, m, fc.thresholds[0])
            );
        }
        Ok(Scored {
            forecasts,
            metrics,
            skill,
            choices,
            reliability: reliability_frame(&reliability_rows)?,
            reliability_rows,
        })
    }

    /// Forecasts the levels above the job's (country, then admin-1 for an admin-2 job) with the
    /// same models and reconciles all of them proportionally from the top. No table for a
    /// country job (nothing above it) and for a grid job (cells do not nest in admin units).
    /// Also returns the series of the levels above, which the change table reuses.
    fn reconcile(
        &mut self,
        incidents: &DataFrame,
        series: &[RegionSeries],
        fc: &ForecastStage,
    ) -> Result<(Option<DataFrame>, LevelSeries)> {
        let spec = self.spec;
        let above: &[Level] = match spec.panel.level {
            Level::Admin1 => &[Level::Country],
            Level::Admin2 => &[Level::Country, Level::Admin1],
            Level::Country | Level::Grid => return Ok((None, Vec::new())),
        };
        // a region's parent: its id without the last `/` segment
        let parent = |id: &str| region::parent(id).map(str::to_string);
        let mut levels = Vec::new();
        let mut kept = Vec::new();
        for (i, level) in above.iter().enumerate() {
            let s = region_series(
                &build_panel(incidents, &spec.panel_options_at(*level))?.frame,
                &spec.forecast.target,
            )?;
            tracing::info!(
                "reconcile: forecasting {} {level} regions with the same models",
                s.len()
            );
            let f = run_forecasts(&s, &spec.local_models()?, &spec.backtest(), &spec.pooled())?;
            let rows = published_forecasts(&s, &f, |id| if i == 0 { None } else { parent(id) });
            levels.push((level.as_str().to_string(), rows));
            kept.push((*level, s));
        }
        levels.push((
            spec.panel.level.as_str().to_string(),
            published_forecasts(series, fc, parent),
        ));
        if spec.panel.level == Level::Admin1 {
            let pieces = grid_pieces(
                incidents,
                &spec.panel_options(),
                &spec.forecast.target,
                (spec.backtest.window, spec.forecast.horizon),
                parent,
            )?;
            levels.push(("grid".to_string(), pieces));
        }
        let out = reconcile(&levels)?;
        let gap = coherence_gap(&out);
        tracing::info!("reconcile: largest |parent − Σ children| after reconciliation {gap:.3e}");
        if gap > 1e-9 {
            self.warnings.push(format!(
                "reconciled forecasts are not coherent: a parent differs from its children's sum by {gap:.3e}"
            ));
        }
        Ok((Some(reconciled_frame(&out)?), kept))
    }

    /// Trend tests, seasonal profiles with their decomposition, and change points.
    fn trends(&mut self, series: &[RegionSeries]) -> Result<Trends> {
        let spec = self.spec;
        let trend = trend_frame(series, spec.panel.level, &spec.trends.trend)?;
        let (seasonality, decomposition) = seasonality_frames(
            series,
            spec.panel.level,
            spec.panel.frequency,
            &spec.trends.seasonality,
        )?;
        let changepoints = changepoints_frame(series, spec.panel.level, &spec.trends.changepoints)?;
        Ok(Trends {
            trend,
            seasonality,
            decomposition,
            changepoints,
        })
    }

    /// Emerging hot spots, which live on PRIO-GRID cells whatever the job's level, and their maps.
    fn hotspots(&mut self, incidents: &DataFrame) -> Result<Hotspots> {
        let spec = self.spec;
        // (only the cells' series and names are used from here on: the panel frame, cells ×
        // periods × every count column, is let go at once)
        let Panel {
            frame: grid_frame,
            regions: grid_regions,
            ..
        } = build_panel(incidents, &spec.panel_options_at(Level::Grid))?;
        let grid_series = region_series(&grid_frame, &spec.forecast.target)?;
        drop(grid_frame);
        let cell_country = region_lookup(&grid_regions, "country_code")?;
        let (table, classes) = hotspots_frame(&grid_series, &cell_country, &spec.trends.hotspots)?;
        // country code → name, through the cells
        let cell_names = region_lookup(&grid_regions, "country")?;
        let country_names: HashMap<String, String> = cell_country
            .iter()
            .filter_map(|(cell, code)| Some((code.clone(), cell_names.get(cell)?.clone())))
            .collect();
        let cfg = spec.charts(self.class);
        let mapped = hotspot_maps(&cfg, &mut self.writer, &classes, &cell_country, &country_names)?;
        tracing::info!("hotspots: maps of {mapped} countries");
        Ok(Hotspots {
            table,
            classes,
            grid_series,
        })
    }

    /// The alerts, with surges against the previous complete run of the job.
    fn alerts(
        &mut self,
        incidents: &DataFrame,
        series: &[RegionSeries],
        fc: &ForecastStage,
        hotspots: &Hotspots,
    ) -> Result<DataFrame> {
        let spec = self.spec;
        let previous = previous_run(&self.job_dir, &self.id, &spec.as_of.to_string())
            .map(|(id, dir)| (id, dir.join(catalogue::FORECASTS.file)));
        Ok(alert_table(
            spec.panel.level,
            incidents,
            series,
            fc,
            &hotspots.classes,
            previous.as_ref().map(|(id, file)| (id.as_str(), file.as_path())),
            &spec.alerts,
        )?)
    }

    /// Rolling and year-on-year change at every level of the hierarchy, in one table. It is
    /// written a level at a time and never held whole: with tens of thousands of regions it has
    /// tens of millions of rows (PRIO-GRID cells and admin-2 units × periods), and no later stage
    /// needs it in memory (the report reads what it uses back from the file). `above` holds the
    /// series reconciliation built already.
    fn change(
        &mut self,
        incidents: &DataFrame,
        series: &[RegionSeries],
        grid_series: &[RegionSeries],
        above: LevelSeries,
    ) -> Result<()> {
        let spec = self.spec;
        let path = self.writer.dir().join(catalogue::CHANGE.file);
        let schema = level_change(spec.panel.level, &[], spec.trends.change_window)?
            .schema()
            .as_ref()
            .clone();
        let mut out = TableWriter::create(&path, schema, Some((self.class, &self.id)))?;
        let mut above = above;
        for level in Level::ALL {
            let built;
            let s: &[RegionSeries] = if level == spec.panel.level {
                series
            } else if level == Level::Grid {
                grid_series
            } else if let Some(i) = above.iter().position(|(l, _)| *l == level) {
                built = above.swap_remove(i).1;
                &built
            } else {
                built = region_series(
                    &build_panel(incidents, &spec.panel_options_at(level))?.frame,
                    &spec.forecast.target,
                )?;
                &built
            };
            out.write(&level_change(level, s, spec.trends.change_window)?)?;
        }
        let rows = out.finish()?;
        self.writer
            .record_output(&catalogue::CHANGE, Some(rows), self.class)?;
        Ok(())
    }

    /// The fan charts, reliability diagram, skill chart, heatmap, seasonal profile and trends.
    fn charts(
        &mut self,
        panel: &Panel,
        series: &[RegionSeries],
        scored: &Scored,
        alerts: &DataFrame,
        trends: &Trends,
        fc: &ForecastStage,
    ) -> Result<()> {
        let tables = RunTables {
            regions: &panel.regions,
            series,
            forecasts: fc,
            alerts,
            reliability: (&scored.reliability_rows, fc.thresholds[0]),
            skill: &fc.skill,
            seasonality: &trends.seasonality,
            trend: &trends.trend,
        };
        let charted = run_charts(&self.spec.charts(self.class), &mut self.writer, &tables)?;
        tracing::info!("charts: {charted} regions");
        Ok(())
    }

    /// Writes every table of the run, in the order the manifest lists them; returns the hash of
    /// panel.parquet, which the model cards cite.
    #[allow(clippy::too_many_arguments)]
    fn write_tables(
        &mut self,
        ing: &IngestResult,
        gates: &GateResult,
        panel: Panel,
        scored: Scored,
        reconciled: Option<DataFrame>,
        mut alerts: DataFrame,
        trends: Trends,
        mut hotspots: DataFrame,
    ) -> Result<String> {
        use catalogue::*;
        let (w, class) = (&mut self.writer, self.class);
        let qf = QualityFile {
            as_of: self.spec.as_of.to_string(),
            inputs: &ing.quality,
            gates,
            panel: Some(&panel.report),
        };
        w.write_json(QUALITY.file, &qf, class, QUALITY.description)?;
        w.record_output(&INCIDENTS, Some(ing.accepted), class)?;
        let (mut frame, mut regions) = (panel.frame, panel.regions);
        let panel_sha256 = w.write_table(&PANEL, &mut frame, class)?;
        w.write_table(&REGIONS, &mut regions, class)?;
        let Scored {
            mut forecasts,
            mut metrics,
            mut skill,
            mut choices,
            mut reliability,
            ..
        } = scored;
        w.write_table(&FORECASTS, &mut forecasts, class)?;
        w.write_table(&METRICS, &mut metrics, class)?;
        w.write_table(&SKILL, &mut skill, class)?;
        w.write_table(&RELIABILITY, &mut reliability, class)?;
        if let Some(mut df) = reconciled {
            w.write_table(&RECONCILED, &mut df, class)?;
        }
        w.write_table(&ALERTS, &mut alerts, class)?;
        w.write_table(&MODEL_CHOICE, &mut choices, class)?;
        let Trends {
            mut trend,
            mut seasonality,
            mut decomposition,
            mut changepoints,
        } = trends;
        w.write_table(&TREND, &mut trend, class)?;
        w.write_table(&SEASONALITY, &mut seasonality, class)?;
        w.write_table(&DECOMPOSITION, &mut decomposition, class)?;
        w.write_table(&CHANGEPOINTS, &mut changepoints, class)?;
        w.write_table(&HOTSPOTS, &mut hotspots, class)?;
        Ok(panel_sha256)
    }

    /// report.html, from every file written so far.
    fn report(&mut self) -> Result<()> {
        let provenance: vigil_report::report::Provenance = self
            .writer
            .outputs()
            .iter()
            .map(|o| (o.file.clone(), o.sha256.clone()))
            .collect();
        let meta = vigil_report::report::ReportMeta {
            job: self.spec.name.clone(),
            run_id: self.id.clone(),
            as_of: self.spec.as_of.to_string(),
            classification: self.class,
        };
        let html = vigil_report::report::render(self.writer.dir(), &meta, &provenance)?;
        let path = self.writer.dir().join(catalogue::REPORT_HTML.file);
        std::fs::write(&path, html).with_context(|| format!("writing {}", path.display()))?;
        self.writer
            .record_output(&catalogue::REPORT_HTML, None, self.class)?;
        Ok(())
    }

    /// Commits the run folder, moves `latest`, and accounts for the run in the audit log.
    fn commit(mut self) -> Result<Outcome> {
        failpoint("before_commit")?;
        self.timings.push(Timing {
            stage: "total".into(),
            seconds: self.started.elapsed().as_secs_f64(),
        });
        let stages: Vec<(String, f64)> = self
            .timings
            .iter()
            .map(|t| (t.stage.clone(), t.seconds))
            .collect();
        let manifest = self.manifest("complete");
        let (spec, id, class) = (self.spec, self.id.clone(), self.class);
        let folder = self.writer.commit(manifest, self.force)?;
        // Every release is accounted for in the hash-chained audit log of the runs folder.
        let manifest_sha = sha256_file(&folder.join(catalogue::MANIFEST.file))?;
        vigil_share::audit::append(
            &spec.out_dir.join(vigil_share::audit::LOG),
            vigil_share::audit::AuditRecord {
                action: "run".into(),
                subject: format!("{}/{id}", spec.name),
                agreement: None,
                files: vec![vigil_share::audit::AuditFile {
                    file: catalogue::MANIFEST.file.into(),
                    sha256: manifest_sha,
                }],
                note: format!("classification {}", class.marking()),
            },
        )?;
        if let Local::Merge(_) = self.local {
            // The parts served their purpose; the run folder now holds everything they held.
            let parts = vigil_core::forecast::shard::parts_dir(&self.job_dir, &id);
            if let Err(e) = std::fs::remove_dir_all(&parts) {
                tracing::warn!("could not remove {}: {e}", parts.display());
            }
        }
        Ok(Outcome::Complete {
            folder,
            seconds: self.started.elapsed().as_secs_f64(),
            stages,
        })
    }
}

/// Logs the panel's size and span.
fn log_panel(panel: &Panel) {
    tracing::info!(
        "panel: {} regions × {} periods ({} .. {}), {} incidents",
        panel.report.regions,
        panel.report.periods,
        panel.report.span_start,
        panel.report.span_end,
        panel.report.incidents_in_panel
    );
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

#[cfg(test)]
mod tests {
    use super::{backtest_fallback_warning, previous_run};

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
}
