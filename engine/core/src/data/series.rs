//! Per-region series taken from a panel, and the simple per-region computations of the first
//! end-to-end job: rolling change and the fallback table.

use crate::data::period::{from_epoch_days, to_epoch_days};
use crate::error::EngineError;
use chrono::NaiveDate;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

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

/// A monthly series from January 2020 (for tests).
#[cfg(test)]
pub(crate) fn monthly_series(id: &str, y: Vec<f64>) -> RegionSeries {
    let start = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or_default();
    RegionSeries {
        region_id: id.into(),
        ds: (0..y.len() as u32)
            .map(|m| start.checked_add_months(chrono::Months::new(m)).unwrap_or(start))
            .collect(),
        y,
    }
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

/// Rolling sums over `window` periods and their change against the window one year earlier
/// (`window` periods before). Columns: `region_id, ds, value, rolling_sum, rolling_sum_prev,
/// change, change_pct`. A sum needs a full window (null before); `change_pct` is null when the
/// earlier sum is 0.
///
/// The columns are built in place (no `String` or `Option` per row first): at the level of
/// PRIO-GRID cells of a large job this table has tens of millions of rows.
pub fn rolling_change(series: &[RegionSeries], window: usize) -> Result<DataFrame, EngineError> {
    let n: usize = series.iter().map(|s| s.y.len()).sum();
    let mut rid = StringChunkedBuilder::new("region_id".into(), n);
    let (mut ds, mut value) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let column = |name: &str| PrimitiveChunkedBuilder::<Float64Type>::new(name.into(), n);
    let (mut sum, mut prev) = (column("rolling_sum"), column("rolling_sum_prev"));
    let (mut change, mut pct) = (column("change"), column("change_pct"));
    let w = window.max(1);
    let mut sums: Vec<Option<f64>> = Vec::new();
    for s in series {
        sums.clear();
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
            rid.append_value(&s.region_id);
            ds.push(to_epoch_days(s.ds[t]));
            value.push(s.y[t]);
            sum.append_option(cur);
            prev.append_option(before);
            let c = match (cur, before) {
                (Some(a), Some(b)) => Some(a - b),
                _ => None,
            };
            change.append_option(c);
            pct.append_option(match (c, before) {
                (Some(c), Some(b)) if b > 0.0 => Some(100.0 * c / b),
                _ => None,
            });
        }
    }
    let ctx = "building the rolling change table";
    DataFrame::new(
        n,
        vec![
            rid.finish().into_column(),
            Column::new("ds".into(), ds)
                .cast(&DataType::Date)
                .map_err(EngineError::polars(ctx))?,
            Column::new("value".into(), value),
            sum.finish().into_column(),
            prev.finish().into_column(),
            change.finish().into_column(),
            pct.finish().into_column(),
        ],
    )
    .map_err(EngineError::polars(ctx))
}

/// [`rolling_change`] of one level of the hierarchy, with a `level` column first: one part of
/// the run's change table, which holds every level. Every level comes from the same incidents,
/// so a parent's sums equal its children's.
pub fn level_change(
    level: crate::Level,
    series: &[RegionSeries],
    window: usize,
) -> Result<DataFrame, EngineError> {
    let mut df = rolling_change(series, window)?;
    let n = df.height();
    df.insert_column(
        0,
        Column::new_scalar("level".into(), Scalar::from(PlSmallStr::from(level.as_str())), n),
    )
    .map_err(EngineError::polars("building the change table"))?;
    Ok(df)
}
