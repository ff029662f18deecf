//! The forecast stage's typed results as the tables a run writes.

use crate::data::period::{Frequency, to_epoch_days};
use crate::data::series::RegionSeries;
use crate::error::EngineError;
use crate::forecast::choice::Choice;
use crate::forecast::stage::ForecastStage;
use polars::prelude::*;
use vigil_models::calibration::ReliabilityRow;
use vigil_models::metrics::{ModelScores, Skill};
use vigil_models::{Backtest, BacktestRow};

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
    crate::data::period::date_column(name, days.into_iter().map(Some).collect())
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

pub(crate) fn write_backtest_in_chunks(
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

/// Forecasts of every model: `region_id, cutoff, ds, horizon, model, chosen, published, mean,
/// q025 … q975, quantiles_from, fitted, fell_back` sorted by region, model and horizon. `chosen`
/// marks the region's backtest pick; `published` the one forecast per region that the report,
/// charts and alerts use ([`ForecastStage::published_model`]); `fell_back` holds the reason
/// when the naive fallback stands in.
pub fn forecasts_frame(
    series: &[RegionSeries],
    stage: &ForecastStage,
    probs: &[f64],
    frequency: Frequency,
) -> Result<DataFrame, EngineError> {
    let ctx = "building the forecast table";
    let (mut rid, mut cutoff, mut ds, mut hz, mut model, mut chosen, mut published, mut mean) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut source, mut detail, mut fell) = (vec![], vec![], vec![]);
    let mut qs: Vec<Vec<f64>> = vec![Vec::new(); probs.len()];
    for (m, per_model) in stage.forecasts.iter().enumerate() {
        for r in per_model {
            let publishes = stage.published_model(r.index) == m;
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
                published.push(publishes);
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
        Column::new("published".into(), published),
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

/// The table: `model, threshold, bin, lower, upper, n, mean_forecast, observed` (the last two
/// null for an empty bin).
pub fn reliability_frame(rows: &[ReliabilityRow]) -> Result<DataFrame, EngineError> {
    let opt = |v: f64| (!v.is_nan()).then_some(v);
    DataFrame::new(
        rows.len(),
        vec![
            Column::new(
                "model".into(),
                rows.iter().map(|r| r.model.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "threshold".into(),
                rows.iter().map(|r| r.threshold).collect::<Vec<_>>(),
            ),
            Column::new(
                "bin".into(),
                rows.iter().map(|r| r.bin as i32).collect::<Vec<_>>(),
            ),
            Column::new("lower".into(), rows.iter().map(|r| r.lower).collect::<Vec<_>>()),
            Column::new("upper".into(), rows.iter().map(|r| r.upper).collect::<Vec<_>>()),
            Column::new("n".into(), rows.iter().map(|r| r.n as u64).collect::<Vec<_>>()),
            Column::new(
                "mean_forecast".into(),
                rows.iter().map(|r| opt(r.mean_forecast)).collect::<Vec<_>>(),
            ),
            Column::new(
                "observed".into(),
                rows.iter().map(|r| opt(r.observed)).collect::<Vec<_>>(),
            ),
        ],
    )
    .map_err(EngineError::polars("building the reliability table"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
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
}
