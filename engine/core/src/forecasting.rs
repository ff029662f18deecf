//! The forecasting stage of a job: builds the models a spec names, backtests them on every
//! region, chooses a model per region, forecasts, and turns it all into tables.
//!
//! **Choice rule.** Each region gets the model with the lowest mean squared log error (MSLE)
//! over all of its backtest origins and horizons; ties go to the model listed first. `zero` is
//! scored as a baseline but never chosen (unless it is the only model): it would publish a
//! certainty of no violence, with an interval of width zero, for every region that was quiet
//! through the backtest, and an early warning can never come from it. Because
//! choosing on the same backtest that scores the choice would flatter it, the `selected` row of
//! the metrics table is scored honestly: at each origin a region's model is chosen only from
//! backtest forecasts whose outcomes were already observed at that origin (before the first
//! such outcome exists, the region uses `naive`, or the first model listed).

use crate::ensemble::{ENSEMBLE, MemberForecast, MemberRows, Target, backtest_ensemble, combine};
use crate::error::EngineError;
use crate::features::country_of;
use crate::global::{FeatureCache, GlobalSettings, backtest_global, first_training_period, forecast_global};
use crate::period::{Frequency, to_epoch_days};
use crate::series::{Fallback, RegionSeries};
use polars::prelude::*;
use vigil_models::metrics::{ModelScores, Skill, exceedance, msle_by_series, score, skill, summarise};
use vigil_models::{
    AutoEts, Backtest, BacktestRow, BacktestRows, BacktestSettings, Conflictology, Conformal, Croston,
    CrostonKind, Forecast, Forecaster, GlobalKind, GlobalModel, HistoricMean, MstlEts, Naive, RegionForecast,
    SeasonalNaive, Tsb, WindowMean, Zero, forecast_panel,
};

/// Every model a job can name, simplest first.
pub const MODEL_NAMES: &[&str] = &[
    "zero",
    "naive",
    "seasonal_naive",
    "historic_mean",
    "window_mean",
    "conflictology",
    "auto_ets",
    "mstl_ets",
    "croston_sba",
    "tsb",
];

/// The pooled models a job can name besides [`MODEL_NAMES`]: the global models (one model per
/// horizon across all regions) and the ensemble of every model but `zero`.
pub const POOLED_NAMES: &[&str] = &["global_nb", "hurdle", ENSEMBLE];

/// The global model called `name`, if it is one.
pub fn global_kind(name: &str) -> Option<GlobalKind> {
    [GlobalKind::NegBin, GlobalKind::Hurdle]
        .into_iter()
        .find(|k| k.name() == name)
}

/// The baselines among [`MODEL_NAMES`]; skill is measured against the best of them.
pub const BASELINES: &[&str] = &[
    "zero",
    "naive",
    "seasonal_naive",
    "historic_mean",
    "window_mean",
    "conflictology",
];

/// The name of the honestly scored per-region choice in the metrics table.
pub const SELECTED: &str = "selected";

/// Settings shared by the models of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSettings {
    /// Periods per seasonal cycle (12 for months).
    pub season: usize,
    /// Forecast horizon; conformal quantiles are calibrated for 1..=horizon.
    pub horizon: usize,
    /// Rolling origins used to calibrate conformal quantiles inside each fit.
    pub conformal_windows: usize,
    /// Window of the window mean and of conflictology (periods).
    pub window: usize,
    /// TSB's smoothing constants for demand size and probability.
    pub tsb_alphas: (f64, f64),
}

/// Builds the model called `name` (one of [`MODEL_NAMES`]).
pub fn build_model(name: &str, s: &ModelSettings) -> Result<Box<dyn Forecaster>, EngineError> {
    let ctx = |e| EngineError::Model {
        context: format!("setting up model {name}"),
        source: e,
    };
    let conformal = |inner| Conformal::new(inner, s.conformal_windows, s.horizon);
    Ok(match name {
        "zero" => Box::new(Zero),
        "naive" => Box::new(Naive),
        "seasonal_naive" => Box::new(SeasonalNaive::new(s.season).map_err(ctx)?),
        "historic_mean" => Box::new(HistoricMean),
        "window_mean" => Box::new(WindowMean::new(s.window).and_then(conformal).map_err(ctx)?),
        "conflictology" => Box::new(Conflictology::new(s.window).map_err(ctx)?),
        "auto_ets" => Box::new(AutoEts::default()),
        "mstl_ets" => Box::new(MstlEts::new(s.season).map_err(ctx)?),
        "croston_sba" => Box::new(
            Conformal::new(Croston::new(CrostonKind::Sba), s.conformal_windows, s.horizon).map_err(ctx)?,
        ),
        "tsb" => Box::new(
            Tsb::new(s.tsb_alphas.0, s.tsb_alphas.1)
                .and_then(|m| Conformal::new(m, s.conformal_windows, s.horizon))
                .map_err(ctx)?,
        ),
        other => {
            return Err(EngineError::Model {
                context: format!("model '{other}'"),
                source: vigil_models::ModelError::InvalidParams {
                    model: other.to_string(),
                    message: format!("unknown model; known: {}", MODEL_NAMES.join(", ")),
                },
            });
        }
    })
}

/// The pooled models of a job: global models across regions and the ensemble.
#[derive(Debug, Clone, PartialEq)]
pub struct PooledOptions {
    /// Global models to run (none: local models only).
    pub global: Vec<GlobalKind>,
    /// Their settings, and the event thresholds of every model.
    pub settings: GlobalSettings,
    /// Whether to add the ensemble of all models but `zero`.
    pub ensemble: bool,
    /// Backtest origins before the scored ones from which the ensemble learns its first
    /// weights (not scored).
    pub warmup: usize,
    /// Whether to recalibrate the ensemble's event probabilities with Platt scaling fitted on
    /// the outcomes seen before each origin.
    pub platt: bool,
}

impl PooledOptions {
    /// The models the pooled stage appends to the local backtest: each global model, and the
    /// ensemble when asked for.
    pub fn appended_models(&self) -> usize {
        self.global.len() + usize::from(self.ensemble)
    }

    /// Local models only, with the default event thresholds.
    pub fn local_only() -> Self {
        PooledOptions {
            global: Vec::new(),
            settings: GlobalSettings {
                window: 120,
                l2: 1.0,
                events: vigil_models::metrics::EVENTS,
            },
            ensemble: false,
            warmup: 0,
            platt: false,
        }
    }
}

/// The forecasting stage's results.
pub struct ForecastStage {
    /// The raw backtest.
    pub backtest: Backtest,
    /// Scores per model × horizon and overall, plus the honestly scored [`SELECTED`] choice.
    pub summary: Vec<ModelScores>,
    /// Skill against the best baseline.
    pub skill: Vec<Skill>,
    /// The model chosen for each region.
    pub choices: Vec<Choice>,
    /// Forecasts of every model (in the order of `backtest.models`) for every region.
    pub forecasts: Vec<Vec<RegionForecast>>,
    /// `events[m][r][h − 1]`: probabilities of the event thresholds for model `m`, region `r`
    /// (from the predictive distribution where the model has one, else from its quantiles).
    pub events: Vec<Vec<Vec<[f64; 2]>>>,
    /// The event thresholds.
    pub thresholds: [f64; 2],
    /// The fitted global models of the final forecast, per horizon (not a model whose final
    /// fit failed: naive stands in for it in `forecasts`, and `fallbacks` says why).
    pub global_models: Vec<(String, Vec<GlobalModel>)>,
    /// The ensemble's final weights, `(point, distribution)` per horizon, each over
    /// `backtest.models`.
    pub ensemble_weights: Vec<(Vec<f64>, Vec<f64>)>,
    /// Fits that fell back (final forecasts only; backtest fallbacks are in the backtest).
    pub fallbacks: Vec<Fallback>,
}

impl ForecastStage {
    /// The model whose forecast is published for region `r`: the ensemble when the job runs
    /// it, else the region's chosen model (a position in `backtest.models`).
    pub fn published_model(&self, r: usize) -> usize {
        let models = &self.backtest.models;
        models.iter().position(|m| m == ENSEMBLE).unwrap_or_else(|| {
            models
                .iter()
                .position(|m| *m == self.choices[r].model)
                .unwrap_or(0)
        })
    }
}

/// The model chosen for a region.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The region.
    pub region_id: String,
    /// The chosen model.
    pub model: String,
    /// Its backtest MSLE on this region.
    pub msle: f64,
    /// The naive model's backtest MSLE on this region (NaN if naive was not run).
    pub naive_msle: f64,
}

/// Backtests `models` (and the pooled models of `pooled`) on every region, chooses per
/// region, and forecasts `horizon` periods after the end of each series with every model.
pub fn run_forecasts(
    series: &[RegionSeries],
    models: &[Box<dyn Forecaster>],
    settings: &BacktestSettings,
    pooled: &PooledOptions,
) -> Result<ForecastStage, EngineError> {
    let all: Vec<usize> = (0..series.len()).collect();
    let local = local_part(series, &all, models, settings, pooled)?;
    finish_forecasts(series, models, settings, pooled, local)
}

/// The per-region share of the forecasting stage: every local model's backtest and final
/// forecast for some of the regions. It needs nothing from other regions, so a job can split
/// its regions over shards (processes or cluster tasks) and merge the parts
/// ([`merge_local_parts`]) into exactly what one process computes; the pooled models, which
/// learn from all regions at once, are fitted after the merge ([`finish_forecasts`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LocalPart {
    /// Positions of this part's regions in the job's region list, ascending.
    pub regions: Vec<usize>,
    /// Their ids, to check a merge against the panel it is merged into.
    pub region_ids: Vec<String>,
    /// The local models' backtest; `series` in each row is the region's position in the job.
    pub backtest: Backtest,
    /// `forecasts[m]`: local model `m`'s final forecast of each of this part's regions.
    pub forecasts: Vec<Vec<RegionForecast>>,
}

/// Backtest settings of a run: the scored origins plus the ensemble's warm-up origins when
/// the job runs the ensemble and the series are long enough.
fn run_settings(settings: &BacktestSettings, pooled: &PooledOptions, n: usize) -> BacktestSettings {
    // The ensemble learns its weights from backtest rows resolved before each origin; warm-up
    // origins before the scored ones give it that history from the first scored origin on.
    // They are dropped before anything is scored, so every model is scored on the same origins.
    let warm = BacktestSettings {
        origins: settings.origins + pooled.warmup,
        ..settings.clone()
    };
    if pooled.ensemble && pooled.warmup > 0 && warm.cutoffs(n).is_ok() {
        warm
    } else {
        settings.clone()
    }
}

/// Progress of a long backtest stage in the log: a line a minute at most, so that a
/// scheduler's log shows the stage moving (over an hour at 50,000 regions) without a line per
/// step at small sizes. Shared by threads (the global models' chains report in parallel).
pub(crate) struct StageProgress {
    stage: &'static str,
    units: &'static str,
    clock: std::time::Instant,
    logged: std::sync::Mutex<std::time::Duration>,
}

impl StageProgress {
    /// Starts the stage's clock.
    pub(crate) fn start(stage: &'static str, units: &'static str) -> StageProgress {
        StageProgress {
            stage,
            units,
            clock: std::time::Instant::now(),
            logged: std::sync::Mutex::new(std::time::Duration::ZERO),
        }
    }

    /// `done` of `all` units are done: logs a line if the last was a minute ago (or none yet
    /// and the stage has run a minute) and the stage is not finished. A thread that finds
    /// another logging skips its line.
    pub(crate) fn report(&self, done: usize, all: usize) {
        let elapsed = self.clock.elapsed();
        if let Ok(mut logged) = self.logged.try_lock()
            && done < all
            && elapsed >= *logged + std::time::Duration::from_secs(60)
        {
            *logged = elapsed;
            let line = progress_line(self.stage, done, all, self.units, elapsed.as_secs_f64());
            tracing::info!("{line}");
        }
    }
}

/// A progress line for a stage `done` of `all` `units` (regions, fits) into it after `elapsed`
/// seconds, with the time left if the rest goes at the same pace.
fn progress_line(stage: &str, done: usize, all: usize, units: &str, elapsed: f64) -> String {
    let left = elapsed * (all - done.min(all)) as f64 / done.max(1) as f64;
    format!(
        "backtest: {stage}, {done} of {all} {units} in {}, about {} left",
        minutes(elapsed),
        minutes(left)
    )
}

/// Seconds as "42 s" under two minutes, else as whole minutes ("17 min").
fn minutes(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else {
        format!("{:.0} min", seconds / 60.0)
    }
}

/// Backtests and forecasts the local `models` on the regions at positions `regions` of
/// `series` (see [`LocalPart`]).
pub fn local_part(
    series: &[RegionSeries],
    regions: &[usize],
    models: &[Box<dyn Forecaster>],
    settings: &BacktestSettings,
    pooled: &PooledOptions,
) -> Result<LocalPart, EngineError> {
    let n = series.first().map_or(0, |s| s.y.len());
    let run_settings = run_settings(settings, pooled, n);
    let ys: Vec<&[f64]> = regions.iter().map(|r| series[*r].y.as_slice()).collect();
    let refs: Vec<&dyn Forecaster> = models.iter().map(|m| m.as_ref()).collect();
    let fallback = Naive;
    let clock = std::time::Instant::now();
    let progress = StageProgress::start("local models", "regions");
    // the pooled models' and the ensemble's rows are appended later: reserved now, the rows
    // are never copied to a larger block (at 10,000 regions each such copy held 1.4 GB twice)
    let mut bt = vigil_models::backtest_with_room(
        &ys,
        &refs,
        &fallback,
        &run_settings,
        pooled.appended_models(),
        &mut |done, all| progress.report(done, all),
    )
    .map_err(|e| EngineError::Model {
        context: "backtest".into(),
        source: e,
    })?;
    for (row, _) in bt.rows.iter_mut() {
        // the shard's position becomes the position among all regions; the backtest checked
        // only the shard's positions, so a larger one is refused here, not cut short
        row.series = u32::try_from(regions[row.series as usize]).map_err(|_| EngineError::Invalid {
            context: "backtest".into(),
            message: format!("{} regions are more than a backtest row can number", series.len()),
        })?;
    }
    for f in &mut bt.fallbacks {
        f.series = regions[f.series];
    }
    tracing::info!(
        "backtest: {} local models × {} origins ({} of them warm-up) × {} regions in {:.1} s",
        models.len(),
        run_settings.origins,
        run_settings.origins - settings.origins,
        regions.len(),
        clock.elapsed().as_secs_f64()
    );
    let mut forecasts = Vec::with_capacity(models.len());
    for m in models {
        let mut got =
            forecast_panel(&ys, m.as_ref(), &fallback, settings.horizon, &settings.probs).map_err(|e| {
                EngineError::Model {
                    context: format!("forecasting with {} (and its fallback naive)", m.name()),
                    source: e,
                }
            })?;
        for r in &mut got {
            r.index = regions[r.index];
        }
        forecasts.push(got);
    }
    Ok(LocalPart {
        regions: regions.to_vec(),
        region_ids: regions.iter().map(|r| series[*r].region_id.clone()).collect(),
        backtest: bt,
        forecasts,
    })
}

/// Merges the parts of one job, computed by shards, into the part one process would have
/// computed: rows and forecasts in region order, every region exactly once. Refuses parts
/// that overlap, leave a region out, disagree on the models, or name other regions than
/// `series`.
pub fn merge_local_parts(
    series: &[RegionSeries],
    mut parts: Vec<LocalPart>,
) -> Result<LocalPart, EngineError> {
    let invalid = |message: String| EngineError::Invalid {
        context: "merging shard parts".into(),
        message,
    };
    parts.sort_by_key(|p| p.regions.first().copied());
    let Some(first) = parts.first() else {
        return Err(invalid("no parts to merge".into()));
    };
    let (models, probs) = (first.backtest.models.clone(), first.backtest.probs.clone());
    let width = probs.len();
    let mut owner: Vec<Option<usize>> = vec![None; series.len()];
    for (k, p) in parts.iter().enumerate() {
        if p.backtest.models != models || p.backtest.probs != probs || p.forecasts.len() != models.len() {
            return Err(invalid(format!(
                "part {k} has models {:?}, the first part {:?}: were the shards run with the same spec?",
                p.backtest.models, models
            )));
        }
        for (r, id) in p.regions.iter().zip(&p.region_ids) {
            let Some(s) = series.get(*r).filter(|s| s.region_id == *id) else {
                return Err(invalid(format!(
                    "a part has region {id} at position {r}, which the panel does not: \
                     were the shards run on the same data and as-of date?"
                )));
            };
            if let Some(other) = owner[*r].replace(k) {
                return Err(invalid(format!(
                    "region {} is in two parts ({other} and {k}): were two shard counts mixed?",
                    s.region_id
                )));
            }
        }
    }
    let missing: Vec<&str> = owner
        .iter()
        .zip(series)
        .filter(|(o, _)| o.is_none())
        .map(|(_, s)| s.region_id.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(invalid(format!(
            "{} region(s) are in no part (first: {}): is a shard's part missing?",
            missing.len(),
            missing[0]
        )));
    }
    let mut merged = LocalPart {
        regions: (0..series.len()).collect(),
        region_ids: series.iter().map(|s| s.region_id.clone()).collect(),
        backtest: Backtest {
            models,
            probs,
            rows: BacktestRows::new(width),
            fallbacks: Vec::new(),
        },
        forecasts: vec![Vec::with_capacity(series.len()); first.forecasts.len()],
    };
    merged
        .backtest
        .rows
        .reserve_exact(parts.iter().map(|p| p.backtest.rows.len()).sum());
    for (k, p) in parts.into_iter().enumerate() {
        merged
            .backtest
            .rows
            .append(p.backtest.rows)
            .map_err(|e| invalid(format!("part {k}: {e}")))?;
        merged.backtest.fallbacks.extend(p.backtest.fallbacks);
        for (all, got) in merged.forecasts.iter_mut().zip(p.forecasts) {
            all.extend(got);
        }
    }
    // Stable sorts: within a region, rows keep the order the backtest made them in.
    merged.backtest.rows.sort_by_key(|r| r.series);
    merged.backtest.fallbacks.sort_by_key(|f| f.series);
    for f in &mut merged.forecasts {
        f.sort_by_key(|r| r.index);
    }
    Ok(merged)
}

/// Everything after the local models: the global models' backtest and forecasts (fitted on
/// all regions), the ensemble, scores, choices and the final forecasts of every model.
pub fn finish_forecasts(
    series: &[RegionSeries],
    models: &[Box<dyn Forecaster>],
    settings: &BacktestSettings,
    pooled: &PooledOptions,
    local: LocalPart,
) -> Result<ForecastStage, EngineError> {
    let thresholds = pooled.settings.events;
    let fallback = Naive;
    let members_of =
        |bt: &Backtest| -> Vec<usize> { (0..bt.models.len()).filter(|m| bt.models[*m] != "zero").collect() };
    let n = series.first().map_or(0, |s| s.y.len());
    let run_settings = &run_settings(settings, pooled, n);
    if local.regions.len() != series.len() {
        return Err(EngineError::Invalid {
            context: "forecasting".into(),
            message: format!(
                "the local models cover {} of {} regions: merge every shard first",
                local.regions.len(),
                series.len()
            ),
        });
    }
    let mut bt = local.backtest;
    // room for the pooled models' rows, when the local part came without it (merged shards)
    bt.rows
        .reserve_exact(bt.rows.len() / bt.models.len().max(1) * pooled.appended_models());
    let groups: Vec<String> = series.iter().map(|s| country_of(&s.region_id)).collect();
    let mut cache = (!pooled.global.is_empty()).then(|| FeatureCache::new(series, &groups));
    // The global models' final fits on all data are made now, from the backtest's last fits,
    // so that the feature cache (every region × month's features: 437 MB at 10,000 regions × 240 months)
    // and the fits' designs are gone before the ensemble's rows and the scores are made.
    // A final fit that fails (the hurdle with too few months with events in its window, say)
    // does not end the run: as at a backtest origin, naive stands in for that model in every
    // region, and each region's fallback is recorded with the reason.
    let mut global_final: Vec<Result<crate::global::GlobalForecast, String>> = Vec::new();
    if let Some(cache) = &mut cache {
        let clock = std::time::Instant::now();
        let global_starts = backtest_global(
            series,
            cache,
            &pooled.global,
            &mut bt,
            run_settings,
            &pooled.settings,
        )?;
        tracing::info!(
            "backtest: {} global models, one fit per origin and horizon, in {:.1} s",
            pooled.global.len(),
            clock.elapsed().as_secs_f64()
        );
        // the final fits read the `window` periods that end `h` before the last one, and the
        // last one itself (where they forecast from): nothing older
        cache.forget_before(first_training_period(
            n.saturating_sub(1),
            settings.horizon,
            pooled.settings.window,
        ));
        for (ki, kind) in pooled.global.iter().enumerate() {
            let fitted = forecast_global(
                series,
                cache,
                *kind,
                settings.horizon,
                &settings.probs,
                &pooled.settings,
                global_starts.get(ki).map_or(&[], Vec::as_slice),
            );
            global_final.push(fitted.map_err(|e| {
                tracing::warn!(
                    "{e}; the {} forecast stands in for {} in every region",
                    fallback.name(),
                    kind.name()
                );
                e.to_string()
            }));
        }
    }
    drop(cache);
    let members = members_of(&bt);
    let with_ensemble = pooled.ensemble && members.len() > 1;
    let mut ensemble_weights = Vec::new();
    let mut platt = [None, None];
    if with_ensemble {
        let clock = std::time::Instant::now();
        backtest_ensemble(&mut bt, &members, thresholds).map_err(|e| EngineError::Model {
            context: "backtesting the ensemble".into(),
            source: e,
        })?;
        tracing::info!(
            "backtest: ensemble of {} members, weights learned per origin, in {:.1} s",
            members.len(),
            clock.elapsed().as_secs_f64()
        );
        if pooled.platt {
            let ensemble = bt.models.len() - 1;
            platt = crate::calibration::recalibrate(&mut bt, ensemble, thresholds);
        }
        let index = MemberRows::new(&bt, &members);
        ensemble_weights = (1..=settings.horizon)
            .map(|h| {
                (
                    index.weights(h, None, Target::Point),
                    index.weights(h, None, Target::Distribution),
                )
            })
            .collect();
    }
    if let Some(first) = settings.cutoffs(n).ok().and_then(|c| c.first().copied()) {
        bt.rows.retain(|r| r.cutoff as usize >= first);
        // offer the dropped warm-up rows' space back (a third of the rows in the monthly job);
        // the allocator may keep a block shrunk by less than half where it is (mimalloc does)
        bt.rows.shrink_to_fit();
        bt.fallbacks.retain(|f| f.cutoff >= first);
    }
    let mut summary = summarise(&bt, thresholds);
    let baselines: Vec<&str> = BASELINES.to_vec();
    let sk = skill(&summary, &baselines);
    summary.extend(selected_scores(&bt, series.len(), settings.horizon, thresholds));

    let per_series = msle_by_series(&bt, series.len());
    let naive = bt.models.iter().position(|m| m == "naive");
    let eligible = eligible(&bt.models);
    let choices = series
        .iter()
        .zip(&per_series)
        .map(|(s, scores)| {
            let best = argmin_of(scores, &eligible).unwrap_or(0);
            Choice {
                region_id: s.region_id.clone(),
                model: bt.models[best].clone(),
                msle: scores[best],
                naive_msle: naive.map_or(f64::NAN, |n| scores[n]),
            }
        })
        .collect();

    let mut forecasts = Vec::new();
    let mut events = Vec::new();
    let mut fallbacks = Vec::new();
    let quantile_events = |got: &[RegionForecast]| -> Vec<Vec<[f64; 2]>> {
        got.iter()
            .map(|r| {
                (0..r.forecast.horizon())
                    .map(|k| {
                        let q = r.forecast.quantiles_at(k);
                        [
                            exceedance(&q, &settings.probs, thresholds[0]),
                            exceedance(&q, &settings.probs, thresholds[1]),
                        ]
                    })
                    .collect()
            })
            .collect()
    };
    // the regions where `fallback` stood in for `model`, with the reason each forecast carries
    let fell_back = |model: &str, got: &[RegionForecast]| -> Vec<Fallback> {
        got.iter()
            .filter_map(|r| {
                Some(Fallback {
                    region_id: series[r.index].region_id.clone(),
                    model: model.to_string(),
                    used: fallback.name().to_string(),
                    reason: r.fell_back.clone()?,
                })
            })
            .collect()
    };
    for (m, got) in models.iter().zip(local.forecasts) {
        fallbacks.extend(fell_back(m.name(), &got));
        events.push(quantile_events(&got));
        forecasts.push(got);
    }
    let mut global_models = Vec::new();
    for (kind, g) in pooled.global.iter().zip(global_final) {
        match g {
            Ok(g) => {
                forecasts.push(g.forecasts);
                events.push(g.events);
                global_models.push((kind.name().to_string(), g.models));
            }
            Err(why) => {
                let got = standing_in(series, kind.name(), &fallback, settings, &why)?;
                fallbacks.extend(fell_back(kind.name(), &got));
                events.push(quantile_events(&got));
                forecasts.push(got);
            }
        }
    }
    if with_ensemble {
        let (f, mut e) = ensemble_forecasts(&forecasts, &events, &members, &ensemble_weights);
        for p in e.iter_mut().flatten() {
            for (v, fit) in p.iter_mut().zip(&platt) {
                if let Some(fit) = fit {
                    *v = fit.apply(*v);
                }
            }
        }
        forecasts.push(f);
        events.push(e);
    }
    Ok(ForecastStage {
        backtest: bt,
        summary,
        skill: sk,
        choices,
        forecasts,
        events,
        thresholds,
        global_models,
        ensemble_weights,
        fallbacks,
    })
}

/// `fallback`'s forecast of every region in place of the model `name`, whose final fit failed
/// for the reason `why`: labelled as `name`'s, with `fell_back` set, as a local model's
/// forecast is where its fit fails.
fn standing_in(
    series: &[RegionSeries],
    name: &str,
    fallback: &dyn Forecaster,
    settings: &BacktestSettings,
    why: &str,
) -> Result<Vec<RegionForecast>, EngineError> {
    let ys: Vec<&[f64]> = series.iter().map(|s| s.y.as_slice()).collect();
    let mut got =
        forecast_panel(&ys, fallback, fallback, settings.horizon, &settings.probs).map_err(|e| {
            EngineError::Model {
                context: format!("the {} forecast in place of {name}", fallback.name()),
                source: e,
            }
        })?;
    for r in &mut got {
        r.model = name.to_string();
        r.fell_back = Some(why.to_string());
    }
    Ok(got)
}

/// The ensemble's final forecast of every region from its members' forecasts.
fn ensemble_forecasts(
    forecasts: &[Vec<RegionForecast>],
    events: &[Vec<Vec<[f64; 2]>>],
    members: &[usize],
    weights: &[(Vec<f64>, Vec<f64>)],
) -> (Vec<RegionForecast>, Vec<Vec<[f64; 2]>>) {
    let regions = forecasts.first().map_or(0, Vec::len);
    let horizon = weights.len();
    let probs = forecasts
        .first()
        .and_then(|f| f.first())
        .map(|r| r.forecast.probs.clone())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(regions);
    let mut out_events = Vec::with_capacity(regions);
    for r in 0..regions {
        let mut mean = Vec::with_capacity(horizon);
        let mut quantiles = vec![Vec::with_capacity(horizon); probs.len()];
        let mut ev = Vec::with_capacity(horizon);
        for k in 0..horizon {
            let qs: Vec<Vec<f64>> = members
                .iter()
                .map(|m| forecasts[*m][r].forecast.quantiles_at(k))
                .collect();
            let parts: Vec<MemberForecast<'_>> = members
                .iter()
                .zip(&qs)
                .map(|(m, q)| MemberForecast {
                    mean: forecasts[*m][r].forecast.mean[k],
                    quantiles: q,
                    events: events[*m][r][k],
                })
                .collect();
            let wp: Vec<f64> = members.iter().map(|m| weights[k].0[*m]).collect();
            let wd: Vec<f64> = members.iter().map(|m| weights[k].1[*m]).collect();
            let (m, q, e) = combine(&parts, &wp, &wd);
            mean.push(m);
            for (j, v) in q.into_iter().enumerate() {
                quantiles[j].push(v);
            }
            ev.push(e);
        }
        let used: Vec<String> = members
            .iter()
            .filter(|m| weights.iter().any(|(p, d)| p[**m] > 0.0 || d[**m] > 0.0))
            .map(|m| forecasts[*m][r].model.clone())
            .collect();
        out.push(RegionForecast {
            index: r,
            model: ENSEMBLE.to_string(),
            forecast: Forecast {
                mean,
                probs: probs.clone(),
                quantiles,
                source: vigil_models::QuantileSource::Native,
            },
            detail: format!("weighted: {}", used.join(", ")),
            fell_back: None,
        });
        out_events.push(ev);
    }
    (out, out_events)
}

/// Which models may be chosen for a region: all but `zero`, unless it is the only one.
fn eligible(models: &[String]) -> Vec<bool> {
    let mask: Vec<bool> = models.iter().map(|m| m != "zero").collect();
    if mask.iter().any(|x| *x) {
        mask
    } else {
        vec![true; models.len()]
    }
}

/// Position of the smallest non-NaN value among the eligible; the first on ties.
fn argmin_of(v: &[f64], eligible: &[bool]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, x) in v.iter().enumerate() {
        if x.is_nan() || !eligible[i] {
            continue;
        }
        if best.is_none_or(|b| *x < v[b]) {
            best = Some(i);
        }
    }
    best
}

/// Scores the per-region choice honestly: at each origin, each region's model is the one with
/// the lowest MSLE on that region's backtest rows whose outcome period lies before the origin.
fn selected_scores(bt: &Backtest, n_series: usize, horizon: usize, events: [f64; 2]) -> Vec<ModelScores> {
    let eligible = eligible(&bt.models);
    let default = bt
        .models
        .iter()
        .position(|m| m == "naive")
        .or_else(|| eligible.iter().position(|e| *e))
        .unwrap_or(0);
    // each series' rows by position (8 bytes a row: this runs while every row is held)
    let all = bt.rows.rows();
    let mut by_series: Vec<Vec<usize>> = vec![Vec::new(); n_series];
    for (i, r) in all.iter().enumerate() {
        by_series[r.series as usize].push(i);
    }
    let mut picked: Vec<usize> = Vec::new();
    for positions in &by_series {
        let rows = || positions.iter().map(|i| (*i, &all[*i]));
        let mut cutoffs: Vec<u32> = rows().map(|(_, r)| r.cutoff).collect();
        cutoffs.sort_unstable();
        cutoffs.dedup();
        for c in cutoffs {
            let mut sum = vec![0.0; bt.models.len()];
            let mut cnt = vec![0usize; bt.models.len()];
            for (_, r) in rows().filter(|(_, r)| r.resolves() < c as usize) {
                let m = usize::from(r.model);
                sum[m] += (r.mean.max(0.0).ln_1p() - r.y.max(0.0).ln_1p()).powi(2);
                cnt[m] += 1;
            }
            let means: Vec<f64> = sum
                .iter()
                .zip(&cnt)
                .map(|(s, n)| if *n == 0 { f64::NAN } else { s / *n as f64 })
                .collect();
            let m = argmin_of(&means, &eligible).unwrap_or(default);
            picked.extend(
                rows()
                    .filter(|(_, r)| r.cutoff == c && usize::from(r.model) == m)
                    .map(|(i, _)| i),
            );
        }
    }
    (1..=horizon)
        .map(Some)
        .chain([None])
        .map(|h| ModelScores {
            model: SELECTED.to_string(),
            horizon: h,
            scores: score(
                picked
                    .iter()
                    .filter_map(|i| bt.rows.get(*i))
                    .filter(|r| h.is_none_or(|h| usize::from(r.horizon) == h)),
                &bt.probs,
                events,
            ),
        })
        .collect()
}

/// Column name of a quantile: the percentage with two integer digits and its decimals, without
/// the point: `q05` for 0.05, `q50` for the median, `q025` for 0.025, `q975` for 0.975. Names
/// sort as text in the order of their probabilities only within one number of decimals, so
/// readers should take the order from the table's column order, not from the names.
pub fn quantile_column(p: f64) -> String {
    // Rounded to 1e-6 percent first, so that 0.025 × 100 = 2.5000000000000004 prints as 2.5.
    let pct = (p * 1e8).round() / 1e6;
    let text = format!("{pct}");
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    format!("q{int:0>2}{frac}")
}

fn date_column(name: &str, days: Vec<i32>) -> Result<Column, EngineError> {
    crate::period::date_column(name, days.into_iter().map(Some).collect())
}

/// The backtest in long format: `region_id, cutoff, ds, horizon, model, y, mean, q025 … q975,
/// fell_back`. `cutoff` is the last period of the training data; `ds` the forecast period.
pub fn backtest_frame(series: &[RegionSeries], bt: &Backtest) -> Result<DataFrame, EngineError> {
    backtest_frame_of(series, bt, 0..bt.rows.len())
}

/// Rows of the backtest table built and written at a time by [`write_backtest`]: one parquet
/// row group's worth, so the table never exists whole in memory next to the rows it comes from.
pub const BACKTEST_CHUNK_ROWS: usize = 1 << 18;

/// Writes [`backtest_frame`]'s table to `path` [`BACKTEST_CHUNK_ROWS`] rows at a time (the
/// backtest is a run's largest table: regions × origins × horizons × models); `stamp` is the
/// classification and run id recorded in the file. Returns the rows written.
pub fn write_backtest(
    path: &std::path::Path,
    series: &[RegionSeries],
    bt: &Backtest,
    stamp: (crate::Classification, &str),
) -> Result<u64, EngineError> {
    write_backtest_in_chunks(path, series, bt, stamp, BACKTEST_CHUNK_ROWS)
}

fn write_backtest_in_chunks(
    path: &std::path::Path,
    series: &[RegionSeries],
    bt: &Backtest,
    stamp: (crate::Classification, &str),
    chunk_rows: usize,
) -> Result<u64, EngineError> {
    let n = bt.rows.len();
    let step = chunk_rows.max(1);
    let mut starts = (0..n).step_by(step);
    // an empty backtest still gets a file with the table's columns
    let first = starts.next().map_or(0..0, |a| a..n.min(a + step));
    let first = backtest_frame_of(series, bt, first)?;
    let mut out = crate::output::TableWriter::create(path, first.schema().as_ref().clone(), Some(stamp))?;
    out.write(&first)?;
    drop(first);
    for a in starts {
        out.write(&backtest_frame_of(series, bt, a..n.min(a + step))?)?;
    }
    out.finish()
}

fn backtest_frame_of(
    series: &[RegionSeries],
    bt: &Backtest,
    range: std::ops::Range<usize>,
) -> Result<DataFrame, EngineError> {
    let ctx = "building the backtest table";
    let rows = &bt.rows.rows()[range.clone()];
    let of = |r: &BacktestRow| &series[r.series as usize];
    let mut cols = vec![
        Column::new(
            "region_id".into(),
            rows.iter().map(|r| of(r).region_id.as_str()).collect::<Vec<_>>(),
        ),
        date_column(
            "cutoff",
            rows.iter()
                .map(|r| to_epoch_days(of(r).ds[r.cutoff as usize - 1]))
                .collect(),
        )?,
        date_column(
            "ds",
            rows.iter()
                .map(|r| to_epoch_days(of(r).ds[r.resolves()]))
                .collect(),
        )?,
        Column::new(
            "horizon".into(),
            rows.iter().map(|r| i32::from(r.horizon)).collect::<Vec<_>>(),
        ),
        Column::new(
            "model".into(),
            rows.iter()
                .map(|r| bt.models[usize::from(r.model)].as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new("y".into(), rows.iter().map(|r| r.y).collect::<Vec<_>>()),
        Column::new("mean".into(), rows.iter().map(|r| r.mean).collect::<Vec<_>>()),
    ];
    let (quantiles, width) = (bt.rows.quantiles(), bt.rows.width());
    for (j, p) in bt.probs.iter().enumerate() {
        cols.push(Column::new(
            quantile_column(*p).into(),
            range
                .clone()
                .map(|i| quantiles[i * width + j])
                .collect::<Vec<_>>(),
        ));
    }
    cols.push(Column::new(
        "fell_back".into(),
        rows.iter().map(|r| r.fell_back).collect::<Vec<_>>(),
    ));
    DataFrame::new(rows.len(), cols).map_err(EngineError::polars(ctx))
}

fn nan_to_null(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
}

fn text_col<'a>(name: &str, values: impl Iterator<Item = &'a str>) -> Column {
    Column::new(name.into(), values.collect::<Vec<_>>())
}

/// A float column with NaN (undefined) written as null.
fn score_col(name: &str, values: impl Iterator<Item = f64>) -> Column {
    Column::new(name.into(), values.map(nan_to_null).collect::<Vec<_>>())
}

/// A horizon column; null stands for "all horizons".
fn horizon_col(values: impl Iterator<Item = Option<usize>>) -> Column {
    Column::new(
        "horizon".into(),
        values.map(|h| h.map(|h| h as i32)).collect::<Vec<_>>(),
    )
}

/// Scores per model and horizon (`horizon` null = all horizons): `model, horizon, n, mae, mse,
/// rmse, msle, mase, mase_excluded, crps, coverage_50, coverage_80, coverage_90, coverage_95, brier_any,
/// brier_25, ap_any, ap_25`.
pub fn metrics_frame(summary: &[ModelScores]) -> Result<DataFrame, EngineError> {
    type Get = fn(&vigil_models::metrics::Scores) -> f64;
    let metrics: [(&str, Get); 14] = [
        ("mae", |s| s.mae),
        ("mse", |s| s.mse),
        ("rmse", |s| s.rmse),
        ("msle", |s| s.msle),
        ("mase", |s| s.mase),
        ("crps", |s| s.crps),
        ("coverage_50", |s| s.coverage_50),
        ("coverage_80", |s| s.coverage_80),
        ("coverage_90", |s| s.coverage_90),
        ("coverage_95", |s| s.coverage_95),
        ("brier_any", |s| s.brier_any),
        ("brier_25", |s| s.brier_major),
        ("ap_any", |s| s.ap_any),
        ("ap_25", |s| s.ap_major),
    ];
    let count = |name: &str, get: fn(&ModelScores) -> usize| {
        Column::new(
            name.into(),
            summary.iter().map(|s| get(s) as u64).collect::<Vec<_>>(),
        )
    };
    let mut cols = vec![
        text_col("model", summary.iter().map(|s| s.model.as_str())),
        horizon_col(summary.iter().map(|s| s.horizon)),
        count("n", |s| s.scores.n),
        count("mase_excluded", |s| s.scores.mase_excluded),
    ];
    for (name, get) in metrics {
        cols.push(score_col(name, summary.iter().map(|s| get(&s.scores))));
    }
    DataFrame::new(summary.len(), cols).map_err(EngineError::polars("building the metrics table"))
}

/// Skill against the best baseline: `model, horizon, reference, msle, mae, crps, brier_any`
/// (each `1 − score / reference score`; positive is better).
pub fn skill_frame(skill: &[Skill]) -> Result<DataFrame, EngineError> {
    DataFrame::new(
        skill.len(),
        vec![
            text_col("model", skill.iter().map(|s| s.model.as_str())),
            horizon_col(skill.iter().map(|s| s.horizon)),
            text_col("reference", skill.iter().map(|s| s.reference.as_str())),
            score_col("msle", skill.iter().map(|s| s.msle)),
            score_col("mae", skill.iter().map(|s| s.mae)),
            score_col("crps", skill.iter().map(|s| s.crps)),
            score_col("brier_any", skill.iter().map(|s| s.brier_any)),
        ],
    )
    .map_err(EngineError::polars("building the skill table"))
}

/// The choice per region: `region_id, model, backtest_msle, naive_msle`.
pub fn choices_frame(choices: &[Choice]) -> Result<DataFrame, EngineError> {
    DataFrame::new(
        choices.len(),
        vec![
            text_col("region_id", choices.iter().map(|c| c.region_id.as_str())),
            text_col("model", choices.iter().map(|c| c.model.as_str())),
            score_col("backtest_msle", choices.iter().map(|c| c.msle)),
            score_col("naive_msle", choices.iter().map(|c| c.naive_msle)),
        ],
    )
    .map_err(EngineError::polars("building the model choice table"))
}

/// Forecasts of every model: `region_id, cutoff, ds, horizon, model, chosen, mean, q025 … q975,
/// quantiles_from, fitted, fell_back` sorted by region, model and horizon. `chosen` marks the
/// region's model; `fell_back` holds the reason when the naive fallback stands in.
pub fn forecasts_frame(
    series: &[RegionSeries],
    stage: &ForecastStage,
    probs: &[f64],
    frequency: Frequency,
) -> Result<DataFrame, EngineError> {
    let ctx = "building the forecast table";
    let (mut rid, mut cutoff, mut ds, mut hz, mut model, mut chosen, mut mean) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut source, mut detail, mut fell) = (vec![], vec![], vec![]);
    let mut qs: Vec<Vec<f64>> = vec![Vec::new(); probs.len()];
    for per_model in &stage.forecasts {
        for r in per_model {
            let s = &series[r.index];
            let Some(last) = s.ds.last().copied() else {
                continue;
            };
            let pick = stage.choices[r.index].model == r.model;
            let mut p = last;
            for k in 0..r.forecast.horizon() {
                p = frequency.next(p);
                rid.push(s.region_id.clone());
                cutoff.push(to_epoch_days(last));
                ds.push(to_epoch_days(p));
                hz.push(k as i32 + 1);
                model.push(r.model.clone());
                chosen.push(pick);
                mean.push(r.forecast.mean[k]);
                for (j, q) in qs.iter_mut().enumerate() {
                    q.push(r.forecast.quantiles[j][k]);
                }
                source.push(r.forecast.source.as_str());
                detail.push(r.detail.clone());
                fell.push(r.fell_back.clone());
            }
        }
    }
    let n = rid.len();
    let mut cols = vec![
        Column::new("region_id".into(), rid),
        date_column("cutoff", cutoff)?,
        date_column("ds", ds)?,
        Column::new("horizon".into(), hz),
        Column::new("model".into(), model),
        Column::new("chosen".into(), chosen),
        Column::new("mean".into(), mean),
    ];
    for (p, q) in probs.iter().zip(qs) {
        cols.push(Column::new(quantile_column(*p).into(), q));
    }
    cols.push(Column::new("quantiles_from".into(), source));
    cols.push(Column::new("fitted".into(), detail));
    cols.push(Column::new("fell_back".into(), fell));
    DataFrame::new(n, cols)
        .and_then(|df| df.sort(["region_id", "model", "horizon"], SortMultipleOptions::default()))
        .map_err(EngineError::polars(ctx))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Models as the monthly job builds them, at a test's scale (horizon 3).
    fn small_models(names: &[&str]) -> Vec<Box<dyn Forecaster>> {
        let ms = ModelSettings {
            season: 12,
            horizon: 3,
            conformal_windows: 6,
            window: 12,
            tsb_alphas: (0.1, 0.1),
        };
        names.iter().map(|m| build_model(m, &ms).unwrap()).collect()
    }

    /// A monthly backtest of `origins` origins, step 1, horizon 3, the job's quantiles.
    fn small_settings(origins: usize) -> BacktestSettings {
        BacktestSettings {
            origins,
            step: 1,
            horizon: 3,
            probs: vigil_models::DEFAULT_PROBS.to_vec(),
            season: 12,
        }
    }

    #[test]
    fn shard_parts_merge_into_exactly_the_single_process_part_and_gaps_are_refused() {
        use crate::series::monthly_series;
        use crate::shard::Shard;
        let series: Vec<RegionSeries> = (0..9)
            .map(|r| {
                let y = (0..60)
                    .map(|t| f64::from(((t * (r + 3) + r * 7) % 11) as u32) * f64::from(r as u32 % 3))
                    .collect();
                monthly_series(&format!("r{r}"), y)
            })
            .collect();
        let models = small_models(&["naive", "window_mean", "tsb", "auto_ets"]);
        let settings = small_settings(4);
        // With the ensemble's warm-up origins, as the monthly job runs.
        let pooled = PooledOptions {
            ensemble: true,
            warmup: 2,
            ..PooledOptions::local_only()
        };
        let all: Vec<usize> = (0..series.len()).collect();
        let whole = local_part(&series, &all, &models, &settings, &pooled).unwrap();
        let parts: Vec<LocalPart> = (0..4)
            .rev()
            .map(|i| {
                let s = Shard { index: i, count: 4 };
                local_part(&series, &s.regions(series.len()), &models, &settings, &pooled).unwrap()
            })
            .collect();
        let merged = merge_local_parts(&series, parts.clone()).unwrap();
        assert!(
            merged == whole,
            "merged parts differ from the single-process part"
        );
        // Bit for bit through the part file's encoding.
        let bytes = rmp_serde::to_vec(&whole).unwrap();
        let back: LocalPart = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(rmp_serde::to_vec(&back).unwrap(), bytes);

        let missing = merge_local_parts(&series, parts[1..].to_vec())
            .unwrap_err()
            .to_string();
        assert!(missing.contains("in no part"), "{missing}");
        let mut twice = parts.clone();
        twice.push(parts[0].clone());
        let err = merge_local_parts(&series, twice).unwrap_err().to_string();
        assert!(err.contains("in two parts"), "{err}");
        let mut other = series.clone();
        other[4].region_id = "elsewhere".into();
        let err = merge_local_parts(&other, parts).unwrap_err().to_string();
        assert!(err.contains("which the panel does not"), "{err}");
    }

    #[test]
    fn a_global_model_whose_final_fit_fails_falls_back_to_naive_and_says_why() {
        use crate::series::monthly_series;
        // Events in the first two years only: the final fit's window, the last year, has no
        // month with events, so the hurdle's count part has no rows to be fitted on.
        let series: Vec<RegionSeries> = (0..6)
            .map(|r| {
                let y = (0..48)
                    .map(|t| {
                        if t < 24 {
                            f64::from(((t * (r + 2)) % 5) as u32 + 1)
                        } else {
                            0.0
                        }
                    })
                    .collect();
                monthly_series(&format!("{}/r{r}", r % 2), y)
            })
            .collect();
        let models = small_models(&["naive", "window_mean"]);
        let pooled = PooledOptions {
            global: vec![GlobalKind::Hurdle],
            settings: GlobalSettings {
                window: 12,
                l2: 1.0,
                events: vigil_models::metrics::EVENTS,
            },
            ensemble: true,
            ..PooledOptions::local_only()
        };
        let fc = run_forecasts(&series, &models, &small_settings(3), &pooled).unwrap();
        let at = |name: &str| fc.backtest.models.iter().position(|m| m == name).unwrap();
        let (hurdle, naive) = (at("hurdle"), at("naive"));
        assert!(fc.global_models.is_empty(), "no fitted hurdle to save");
        assert_eq!(fc.fallbacks.len(), series.len(), "one fallback per region");
        for (f, s) in fc.fallbacks.iter().zip(&series) {
            assert_eq!(
                (f.region_id.as_str(), f.model.as_str(), f.used.as_str()),
                (s.region_id.as_str(), "hurdle", "naive")
            );
            assert!(f.reason.contains("fitting hurdle on all data"), "{}", f.reason);
        }
        assert_eq!(fc.forecasts[hurdle].len(), series.len());
        for (h, n) in fc.forecasts[hurdle].iter().zip(&fc.forecasts[naive]) {
            assert_eq!((h.model.as_str(), &h.forecast), ("hurdle", &n.forecast));
            assert_eq!(
                h.fell_back.as_deref(),
                Some(fc.fallbacks[h.index].reason.as_str())
            );
        }
        assert_eq!(fc.events[hurdle], fc.events[naive]);
        // the ensemble still forecasts every region, from its members as they stand
        assert_eq!(fc.forecasts[at("ensemble")].len(), series.len());
    }

    #[test]
    fn the_backtest_written_in_slices_is_the_whole_table() {
        use crate::series::monthly_series;
        let series: Vec<RegionSeries> = (0..5)
            .map(|r| {
                let y = (0..48).map(|t| f64::from(((t * (r + 2)) % 7) as u32)).collect();
                monthly_series(&format!("r{r}"), y)
            })
            .collect();
        let models = small_models(&["naive", "window_mean"]);
        let settings = small_settings(3);
        let fc = run_forecasts(&series, &models, &settings, &PooledOptions::local_only()).unwrap();
        let whole = backtest_frame(&series, &fc.backtest).unwrap();
        assert_eq!(whole.height(), 5 * 3 * 3 * 2);
        let dir = tempfile::tempdir().unwrap();
        let read = |p: &std::path::Path| {
            ParquetReader::new(std::fs::File::open(p).unwrap())
                .finish()
                .unwrap()
        };
        // slices that do not divide the rows, and one slice for everything
        for chunk in [7, 1 << 20] {
            let path = dir.path().join(format!("bt-{chunk}.parquet"));
            let stamp = (crate::Classification::Confidential, "run-1");
            let n = write_backtest_in_chunks(&path, &series, &fc.backtest, stamp, chunk).unwrap();
            assert_eq!(n, whole.height() as u64);
            assert!(read(&path).equals_missing(&whole), "slices of {chunk} rows");
        }
        // no rows: still the table's columns
        let mut empty = fc.backtest.clone();
        empty.rows.clear();
        let path = dir.path().join("empty.parquet");
        let n = write_backtest(
            &path,
            &series,
            &empty,
            (crate::Classification::Confidential, "run-1"),
        )
        .unwrap();
        assert_eq!(n, 0);
        let back = read(&path);
        assert_eq!(back.height(), 0);
        assert_eq!(back.schema(), whole.schema());
    }

    #[test]
    fn progress_lines_say_how_far_and_how_long_is_left() {
        // (done, all, units, elapsed s) and the line; the last two: nothing done yet, or more
        // than all, never divide by zero nor go negative
        let cases = [
            (
                12_288,
                49_344,
                "regions",
                1_020.0,
                "local models, 12288 of 49344 regions in 17 min, about 51 min left",
            ),
            (
                512,
                2_048,
                "regions",
                30.0,
                "local models, 512 of 2048 regions in 30 s, about 90 s left",
            ),
            (
                0,
                10,
                "fits",
                5.0,
                "local models, 0 of 10 fits in 5 s, about 50 s left",
            ),
            (
                11,
                10,
                "fits",
                5.0,
                "local models, 11 of 10 fits in 5 s, about 0 s left",
            ),
        ];
        for (done, all, units, elapsed, line) in cases {
            assert_eq!(
                progress_line("local models", done, all, units, elapsed),
                format!("backtest: {line}")
            );
        }
    }

    #[test]
    fn quantile_columns_are_stable_names() {
        assert_eq!(quantile_column(0.05), "q05");
        assert_eq!(quantile_column(0.5), "q50");
        assert_eq!(quantile_column(0.975), "q975");
        assert_eq!(quantile_column(0.025), "q025", "not q25, the lower quartile");
        assert_eq!(quantile_column(0.25), "q25");
        assert_eq!(quantile_column(0.001), "q001");
        assert_eq!(quantile_column(0.0125), "q0125");
        assert_eq!(quantile_column(1.0), "q100");
    }

    #[test]
    fn argmin_skips_nan_and_ineligible_and_keeps_the_first_tie() {
        let all = [true; 4];
        assert_eq!(argmin_of(&[f64::NAN, 2.0, 1.0, 1.0], &all), Some(2));
        assert_eq!(
            argmin_of(&[0.5, 2.0, 1.0, 1.0], &[false, true, true, true]),
            Some(2)
        );
        assert_eq!(argmin_of(&[f64::NAN], &[true]), None);
    }

    #[test]
    fn zero_is_never_chosen_unless_alone() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(eligible(&names(&["zero", "naive"])), vec![false, true]);
        assert_eq!(eligible(&names(&["zero"])), vec![true]);
    }

    #[test]
    fn every_listed_model_builds() {
        let s = ModelSettings {
            season: 12,
            horizon: 6,
            conformal_windows: 24,
            window: 12,
            tsb_alphas: (0.1, 0.1),
        };
        for name in MODEL_NAMES {
            let m = build_model(name, &s).map(|m| m.name().to_string());
            assert_eq!(m.ok().as_deref(), Some(*name));
        }
        assert!(build_model("prophet", &s).is_err());
    }
}
