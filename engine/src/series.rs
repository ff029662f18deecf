//! Per-region series taken from a panel, and the simple per-region computations of the first
//! end-to-end job: baseline forecasts and rolling change.

use crate::error::EngineError;
use crate::period::{Frequency, from_epoch_days, to_epoch_days};
use chrono::NaiveDate;
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use vigil_models::Forecaster;

/// One region's series of a panel column, oldest first.
#[derive(Debug, Clone)]
pub struct RegionSeries {
    /// The region.
    pub region_id: String,
    /// Period starts.
    pub ds: Vec<NaiveDate>,
    /// Values.
    pub y: Vec<f64>,
}

/// Splits a panel (sorted by `region_id, ds`) into one series per region of column `target`.
pub fn region_series(panel: &DataFrame, target: &str) -> Result<Vec<RegionSeries>, EngineError> {
    let ctx = || format!("reading column {target} of the panel");
    let ids = panel
        .column("region_id")
        .map_err(EngineError::polars(ctx()))?
        .str()
        .map_err(EngineError::polars(ctx()))?
        .clone();
    let ds = panel
        .column("ds")
        .and_then(|c| c.cast(&DataType::Int32))
        .map_err(EngineError::polars(ctx()))?;
    let ds = ds.i32().map_err(EngineError::polars(ctx()))?.clone();
    let y = panel
        .column(target)
        .and_then(|c| c.cast(&DataType::Float64))
        .map_err(EngineError::polars(ctx()))?;
    let y = y.f64().map_err(EngineError::polars(ctx()))?.clone();
    let mut out: Vec<RegionSeries> = Vec::new();
    for i in 0..panel.height() {
        let id = ids.get(i).unwrap_or_default();
        if out.last().is_none_or(|s| s.region_id != id) {
            out.push(RegionSeries {
                region_id: id.to_string(),
                ds: Vec::new(),
                y: Vec::new(),
            });
        }
        if let Some(s) = out.last_mut() {
            s.ds.push(from_epoch_days(ds.get(i).unwrap_or_default()));
            s.y.push(y.get(i).unwrap_or(0.0));
        }
    }
    Ok(out)
}

/// A region where a model could not be fitted and the fallback was used instead.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fallback {
    /// The region.
    pub region_id: String,
    /// The model that failed.
    pub model: String,
    /// The model used instead.
    pub used: String,
    /// Why it failed.
    pub reason: String,
}

/// The fallbacks as a table: `region_id, model, used, reason`.
pub fn fallbacks_frame(fallbacks: &[Fallback]) -> Result<DataFrame, EngineError> {
    let column = |name: &str, get: fn(&Fallback) -> &String| {
        Column::new(
            name.into(),
            fallbacks.iter().map(|f| get(f).clone()).collect::<Vec<_>>(),
        )
    };
    DataFrame::new(
        fallbacks.len(),
        vec![
            column("region_id", |f| &f.region_id),
            column("model", |f| &f.model),
            column("used", |f| &f.used),
            column("reason", |f| &f.reason),
        ],
    )
    .map_err(EngineError::polars("building the fallbacks table"))
}

/// Forecasts `h` periods after each region's last period with every model. A model that cannot
/// fit a region (e.g. a series shorter than a season) is replaced there by `fallback`, and the
/// region is listed in the returned fallbacks. The frame has `region_id, cutoff, ds, horizon,
/// model, mean`; `model` names the model asked for, so every region has every model's rows.
pub fn forecast(
    series: &[RegionSeries],
    models: &[Box<dyn Forecaster>],
    fallback: &dyn Forecaster,
    h: usize,
    frequency: Frequency,
) -> Result<(DataFrame, Vec<Fallback>), EngineError> {
    let (mut rid, mut cutoff, mut ds, mut hz, mut model, mut mean) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut fallbacks = Vec::new();
    for s in series {
        let Some(last) = s.ds.last().copied() else {
            continue;
        };
        for m in models {
            let fitted = match m.fit(&s.y) {
                Ok(f) => f,
                Err(e) => {
                    fallbacks.push(Fallback {
                        region_id: s.region_id.clone(),
                        model: m.name().to_string(),
                        used: fallback.name().to_string(),
                        reason: e.to_string(),
                    });
                    match fallback.fit(&s.y) {
                        Ok(f) => f,
                        Err(e2) => {
                            fallbacks.push(Fallback {
                                region_id: s.region_id.clone(),
                                model: fallback.name().to_string(),
                                used: "none".into(),
                                reason: e2.to_string(),
                            });
                            continue;
                        }
                    }
                }
            };
            let f = fitted.predict(h);
            let mut p = last;
            for (k, v) in f.point.iter().enumerate() {
                p = frequency.next(p);
                rid.push(s.region_id.clone());
                cutoff.push(to_epoch_days(last));
                ds.push(to_epoch_days(p));
                hz.push(k as i32 + 1);
                model.push(m.name().to_string());
                mean.push(v.max(0.0));
            }
        }
    }
    let n = rid.len();
    let ctx = "building the forecast table";
    let df = DataFrame::new(
        n,
        vec![
            Column::new("region_id".into(), rid),
            Column::new("cutoff".into(), cutoff)
                .cast(&DataType::Date)
                .map_err(EngineError::polars(ctx))?,
            Column::new("ds".into(), ds)
                .cast(&DataType::Date)
                .map_err(EngineError::polars(ctx))?,
            Column::new("horizon".into(), hz),
            Column::new("model".into(), model),
            Column::new("mean".into(), mean),
        ],
    )
    .and_then(|df| df.sort(["region_id", "model", "horizon"], SortMultipleOptions::default()))
    .map_err(EngineError::polars(ctx))?;
    Ok((df, fallbacks))
}

/// Rolling sums over `window` periods and their change against the window one year earlier
/// (`window` periods before). Columns: `region_id, ds, value, rolling_sum, rolling_sum_prev,
/// change, change_pct`. A sum needs a full window (null before); `change_pct` is null when the
/// earlier sum is 0.
pub fn rolling_change(series: &[RegionSeries], window: usize) -> Result<DataFrame, EngineError> {
    let (mut rid, mut ds, mut value, mut sum, mut prev, mut change, mut pct) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let w = window.max(1);
    for s in series {
        let mut sums: Vec<Option<f64>> = Vec::with_capacity(s.y.len());
        let mut running = 0.0;
        for (t, v) in s.y.iter().enumerate() {
            running += v;
            if t >= w {
                running -= s.y[t - w];
            }
            sums.push((t + 1 >= w).then_some(running));
        }
        for t in 0..s.y.len() {
            let cur = sums[t];
            let before = if t >= w { sums[t - w] } else { None };
            rid.push(s.region_id.clone());
            ds.push(to_epoch_days(s.ds[t]));
            value.push(s.y[t]);
            sum.push(cur);
            prev.push(before);
            let c = match (cur, before) {
                (Some(a), Some(b)) => Some(a - b),
                _ => None,
            };
            change.push(c);
            pct.push(match (c, before) {
                (Some(c), Some(b)) if b > 0.0 => Some(100.0 * c / b),
                _ => None,
            });
        }
    }
    let n = rid.len();
    let ctx = "building the rolling change table";
    DataFrame::new(
        n,
        vec![
            Column::new("region_id".into(), rid),
            Column::new("ds".into(), ds)
                .cast(&DataType::Date)
                .map_err(EngineError::polars(ctx))?,
            Column::new("value".into(), value),
            Column::new("rolling_sum".into(), sum),
            Column::new("rolling_sum_prev".into(), prev),
            Column::new("change".into(), change),
            Column::new("change_pct".into(), pct),
        ],
    )
    .map_err(EngineError::polars(ctx))
}
