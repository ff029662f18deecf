//! The model registry: every global model a run trains is saved under the run folder, in
//! `models/<name>/`, with
//!
//! * `model.json`: the fitted models (one per horizon: coefficients, feature scaling,
//!   dispersion) and what is needed to predict with them (target, quantile levels, event
//!   thresholds), every number written so that it reads back bit for bit;
//! * `card.json`: the model card: training window, data, spec and model hashes, features,
//!   hyperparameters and backtest scores;
//! * `forecast.parquet`: the forecast it made.
//!
//! [`reproduce`] reads a saved model and the run's `panel.parquet` (checking both against the
//! hashes in the card), rebuilds the features at the run's last period and predicts again; the
//! table it returns, written with [`crate::output::write_parquet`] and the card's run id and
//! classification, is byte-identical to `forecast.parquet`.

use chrono::NaiveDate;
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use vigil_models::GlobalModel;
use vigil_models::metrics::ModelScores;

use crate::data::period::{Frequency, to_epoch_days};
use crate::data::region::country_of;
use crate::data::series::{RegionSeries, region_series};
use crate::error::EngineError;
use crate::forecast::global::{FeatureCache, GlobalForecast, predict_all};
use crate::forecast::tables::quantile_column;
use crate::output::sha256_file;
use crate::{Classification, Level};

/// Version of the saved-model format.
pub const FORMAT: u32 = 1;

/// A saved model: per-horizon fits and how to predict with them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedModel {
    /// Format version ([`FORMAT`]).
    pub format: u32,
    /// The model's name (`global_nb`, `hurdle`).
    pub name: String,
    /// Panel column forecast.
    pub target: String,
    /// Geographic level of the regions.
    pub level: Level,
    /// Time step.
    pub frequency: Frequency,
    /// Quantile levels of the forecast.
    pub probs: Vec<f64>,
    /// Event thresholds whose probabilities are forecast.
    pub events: [f64; 2],
    /// The fitted model of each horizon (`horizons[h − 1]`).
    pub horizons: Vec<GlobalModel>,
}

/// Training data of a saved model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingWindow {
    /// The first period whose features were used (the longest horizon's earliest origin).
    pub first_origin: String,
    /// The last period observed: targets end here, forecasts start after it.
    pub last_observed: String,
    /// Training periods per region and horizon.
    pub periods_per_region: usize,
    /// Regions.
    pub regions: usize,
    /// Training rows of each horizon's fit.
    pub rows: Vec<usize>,
}

/// Scores of the model on the run's backtest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardScores {
    /// Horizon (`None`: all horizons).
    pub horizon: Option<usize>,
    /// Rows scored.
    pub n: usize,
    /// Mean squared log error.
    pub msle: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// CRPS from the quantiles.
    pub crps: f64,
    /// Coverage of the 80% interval.
    pub coverage_80: f64,
    /// Brier score of `y ≥ events[0]`.
    pub brier_any: f64,
}

/// A model card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// The model.
    pub model: String,
    /// What it is, in a sentence.
    pub description: String,
    /// The run that trained it.
    pub run_id: String,
    /// Classification of the data it was trained on (and of its outputs).
    pub classification: Classification,
    /// Engine version.
    pub engine_version: String,
    /// Training data.
    pub training: TrainingWindow,
    /// sha256 of the run's `panel.parquet`, the data the features come from.
    pub panel_sha256: String,
    /// sha256 of the job spec.
    pub spec_sha256: String,
    /// sha256 of `model.json`.
    pub model_sha256: String,
    /// sha256 of `forecast.parquet`.
    pub forecast_sha256: String,
    /// Feature names, in column order.
    pub features: Vec<String>,
    /// Ridge penalty on the standardised features.
    pub l2: f64,
    /// NB2 dispersion of the count part per horizon.
    pub dispersion: Vec<f64>,
    /// Backtest scores per horizon and overall.
    pub backtest: Vec<CardScores>,
}

/// The forecast table of a global model: `region_id, cutoff, ds, horizon, model, mean,
/// q025 … q975, p_ge_<t1>, p_ge_<t2>` in region and horizon order.
pub fn model_forecast_frame(
    series: &[RegionSeries],
    forecast: &GlobalForecast,
    probs: &[f64],
    events: [f64; 2],
    frequency: Frequency,
) -> Result<DataFrame, EngineError> {
    let (mut rid, mut cutoff, mut ds, mut hz, mut model, mut mean) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut qs: Vec<Vec<f64>> = vec![Vec::new(); probs.len()];
    let mut ev: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for (r, f) in forecast.forecasts.iter().enumerate() {
        let s = &series[f.index];
        let Some(last) = s.ds.last().copied() else {
            continue;
        };
        let mut p = last;
        for k in 0..f.forecast.horizon() {
            p = frequency.next(p);
            rid.push(s.region_id.clone());
            cutoff.push(Some(to_epoch_days(last)));
            ds.push(Some(to_epoch_days(p)));
            hz.push(k as i32 + 1);
            model.push(f.model.clone());
            mean.push(f.forecast.mean[k]);
            for (j, q) in qs.iter_mut().enumerate() {
                q.push(f.forecast.quantiles[j][k]);
            }
            ev[0].push(forecast.events[r][k][0]);
            ev[1].push(forecast.events[r][k][1]);
        }
    }
    let n = rid.len();
    let mut cols = vec![
        Column::new("region_id".into(), rid),
        crate::data::period::date_column("cutoff", cutoff)?,
        crate::data::period::date_column("ds", ds)?,
        Column::new("horizon".into(), hz),
        Column::new("model".into(), model),
        Column::new("mean".into(), mean),
    ];
    for (p, q) in probs.iter().zip(qs) {
        cols.push(Column::new(quantile_column(*p).into(), q));
    }
    let [e0, e1] = ev;
    cols.push(Column::new(event_column(events[0]).into(), e0));
    cols.push(Column::new(event_column(events[1]).into(), e1));
    DataFrame::new(n, cols).map_err(EngineError::polars("building a model's forecast table"))
}

/// Column name of an event probability: `p_ge_1`, `p_ge_25`, `p_ge_2.5`.
pub fn event_column(threshold: f64) -> String {
    format!("p_ge_{threshold}")
}

/// Where a run keeps model `name`.
pub fn model_dir(run: &Path, name: &str) -> PathBuf {
    run.join("models").join(name)
}

/// Card scores of `model` from a run's backtest summary.
pub fn card_scores(summary: &[ModelScores], model: &str) -> Vec<CardScores> {
    summary
        .iter()
        .filter(|s| s.model == model)
        .map(|s| CardScores {
            horizon: s.horizon,
            n: s.scores.n,
            msle: s.scores.msle,
            mae: s.scores.mae,
            crps: s.scores.crps,
            coverage_80: s.scores.coverage_80,
            brier_any: s.scores.brier_any,
        })
        .collect()
}

/// The training window of per-horizon models fitted at the last period of `series` with
/// `window` periods per region.
pub fn training_window(series: &[RegionSeries], models: &[GlobalModel], window: usize) -> TrainingWindow {
    let ds: &[NaiveDate] = series.first().map_or(&[], |s| s.ds.as_slice());
    let n = ds.len();
    let longest = models.iter().map(|m| m.horizon).max().unwrap_or(1);
    let first = (n.saturating_sub(1 + longest) + 1).saturating_sub(window);
    let date = |i: usize| ds.get(i).map_or_else(String::new, |d| d.to_string());
    TrainingWindow {
        first_origin: date(first),
        last_observed: date(n.saturating_sub(1)),
        periods_per_region: window,
        regions: series.len(),
        rows: models.iter().map(|m| m.rows).collect(),
    }
}

/// Errors specific to reading a saved model.
fn invalid(dir: &Path, message: String) -> EngineError {
    EngineError::Invalid {
        context: format!("saved model {}", dir.display()),
        message,
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, EngineError> {
    let text = std::fs::read_to_string(path).map_err(|e| EngineError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| EngineError::Json {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Reads model `name` of the run in `run`, checks it and the run's panel against the card's
/// hashes, and forecasts again from the panel's last period. Returns the forecast table and
/// the card (whose run id and classification the table is to be written with).
pub fn reproduce(run: &Path, name: &str) -> Result<(DataFrame, ModelCard), EngineError> {
    let dir = model_dir(run, name);
    if !dir.is_dir() {
        let mut known: Vec<String> = std::fs::read_dir(run.join("models"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        known.sort();
        return Err(invalid(
            &dir,
            format!(
                "no such model in run {} (saved models: {})",
                run.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    }
    let card: ModelCard = read_json(&dir.join("card.json"))?;
    let model_path = dir.join("model.json");
    let got = sha256_file(&model_path)?;
    if got != card.model_sha256 {
        return Err(invalid(
            &dir,
            format!(
                "model.json has sha256 {got}, the card says {}: the file was changed after the run",
                card.model_sha256
            ),
        ));
    }
    let saved: SavedModel = read_json(&model_path)?;
    if saved.format != FORMAT {
        return Err(invalid(
            &dir,
            format!("format {} (this vigil reads format {FORMAT})", saved.format),
        ));
    }
    let panel_path = run.join("panel.parquet");
    let got = sha256_file(&panel_path)?;
    if got != card.panel_sha256 {
        return Err(invalid(
            &dir,
            format!(
                "{} has sha256 {got}, the card says {}: the model's data changed",
                panel_path.display(),
                card.panel_sha256
            ),
        ));
    }
    let panel = crate::data::read::read_parquet(&panel_path)?;
    let series = region_series(&panel, &saved.target)?;
    let n = series.first().map_or(0, |s| s.y.len());
    if n == 0 || series.iter().any(|s| s.y.len() != n) {
        return Err(invalid(
            &dir,
            format!("{} is empty or not a balanced panel", panel_path.display()),
        ));
    }
    let groups: Vec<String> = series.iter().map(|s| country_of(&s.region_id)).collect();
    let cache = FeatureCache::new(&series, &groups);
    let forecast = predict_all(
        series.len(),
        &cache,
        n - 1,
        &saved.horizons,
        &saved.probs,
        saved.events,
    );
    let frame = model_forecast_frame(&series, &forecast, &saved.probs, saved.events, saved.frequency)?;
    Ok((frame, card))
}

/// What a model card says about the job that trained the model.
#[derive(Debug, Clone)]
pub struct CardJob<'a> {
    /// The panel column forecast.
    pub target: &'a str,
    /// The job's geographic level.
    pub level: Level,
    /// The panel's period.
    pub frequency: Frequency,
    /// Periods of history the global models train on (the spec's `forecast.global_window`).
    pub global_window: usize,
    /// Ridge penalty of the global models.
    pub l2: f64,
    /// sha256 of the job spec's bytes.
    pub spec_sha256: String,
}

/// Saves every global model of the run with its card and forecast under `models/<name>/`
/// (`model.json`, `forecast.parquet`, `card.json`). `panel_sha256` is the hash of the run's
/// panel.parquet, which the card cites (the models were trained on it), so the panel is
/// written first.
///
/// # Errors
///
/// When a file cannot be written.
pub fn save_models(
    writer: &mut crate::output::RunWriter,
    series: &[RegionSeries],
    fc: &crate::forecast::stage::ForecastStage,
    job: &CardJob<'_>,
    panel_sha256: &str,
    class: Classification,
) -> Result<(), EngineError> {
    use crate::forecast::catalogue::Model;
    for (name, horizons) in &fc.global_models {
        let Some(m) = fc.backtest.models.iter().position(|x| x == name) else {
            continue;
        };
        let dir = format!("models/{name}");
        let path = writer.dir().join(&dir);
        std::fs::create_dir_all(&path).map_err(|e| EngineError::io(&path, e))?;
        let saved = SavedModel {
            format: FORMAT,
            name: name.clone(),
            target: job.target.to_string(),
            level: job.level,
            frequency: job.frequency,
            probs: vigil_models::DEFAULT_PROBS.to_vec(),
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
        let mut df = model_forecast_frame(
            series,
            &forecast,
            &vigil_models::DEFAULT_PROBS,
            fc.thresholds,
            job.frequency,
        )?;
        writer.write_parquet(
            &format!("{dir}/forecast.parquet"),
            &mut df,
            class,
            &format!("the forecast of {name}, reproducible with `vigil forecast --model RUN/{name}`"),
        )?;
        let sha = |file: &str| sha256_file(&writer.dir().join(format!("{dir}/{file}")));
        let card = ModelCard {
            model: name.clone(),
            description: if name == Model::Hurdle.as_str() {
                "logistic GLM for P(any fatality) and a negative binomial GLM for the count once positive, one per horizon, pooled across regions".into()
            } else {
                "negative binomial (NB2) GLM with ML dispersion, one per horizon, pooled across regions"
                    .into()
            },
            run_id: writer.run_id().to_string(),
            classification: class,
            engine_version: crate::VERSION.to_string(),
            training: training_window(series, horizons, job.global_window),
            panel_sha256: panel_sha256.to_string(),
            spec_sha256: job.spec_sha256.clone(),
            model_sha256: sha("model.json")?,
            forecast_sha256: sha("forecast.parquet")?,
            features: horizons.first().map(|h| h.features.clone()).unwrap_or_default(),
            l2: job.l2,
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
