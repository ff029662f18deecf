//! The local models' share of the forecasting stage: every region's backtest and final
//! forecast, by region, so that shards can compute parts and a merge can join them.

use crate::data::series::RegionSeries;
use crate::error::EngineError;
use crate::forecast::pooled::PooledOptions;
use crate::forecast::progress::StageProgress;
use vigil_models::{
    Backtest, BacktestRows, BacktestSettings, Forecaster, Naive, RegionForecast, forecast_panel,
};

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
pub(crate) fn run_settings(
    settings: &BacktestSettings,
    pooled: &PooledOptions,
    n: usize,
) -> BacktestSettings {
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
