//! Early-warning alerts: one row per region and horizon that has a reason for concern, with
//! the alert level, every reason in words, and the features that pushed the model's alarm up.
//!
//! Reasons and their levels:
//!
//! * **major** (`high`): the probability of a major month, `P(y ≥ events[1])`, is at least
//!   `major_probability`;
//! * **onset** (`elevated`): `P(y ≥ events[0])` is at least `onset_probability` in a region with
//!   no event in the last `quiet_periods` periods;
//! * **surge** (`elevated`, horizon 1): the last observed value is above the 95% quantile that the
//!   previous run forecast for it;
//! * **hotspot** (`watch`, horizon 1): a PRIO-GRID cell in the region is an emerging hot spot
//!   (new, consecutive or intensifying) in the latest hot-spot analysis.
//!
//! The alert level is the highest level among the reasons. Drivers are the features with the
//! largest contributions (coefficient × standardised value) to the global model's linear
//! predictor for that region and horizon: for the hurdle model, the logit of `P(y > 0)`.

use polars::prelude::*;
use std::collections::BTreeMap;

use crate::data::series::RegionSeries;
use crate::error::EngineError;
use crate::forecast::global::FeatureCache;
use vigil_models::GlobalModel;

/// Thresholds of the alerts (the job spec's `[alerts]`).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    /// `P(y ≥ events[1])` at or above this raises a `high` alert.
    pub major_probability: f64,
    /// `P(y ≥ events[0])` at or above this after a quiet spell raises an `elevated` alert.
    pub onset_probability: f64,
    /// Periods without an event that make a region quiet.
    pub quiet_periods: usize,
    /// How many drivers to name.
    pub drivers: usize,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            major_probability: 0.5,
            onset_probability: 0.5,
            quiet_periods: 3,
            drivers: 3,
        }
    }
}

/// How serious an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertLevel {
    /// Worth a look.
    Watch,
    /// Likely to need attention.
    Elevated,
    /// Major violence is more likely than not (at the default threshold).
    High,
}

impl AlertLevel {
    /// The name in the output table.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertLevel::Watch => "watch",
            AlertLevel::Elevated => "elevated",
            AlertLevel::High => "high",
        }
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The region.
    pub region_id: String,
    /// Horizon (periods after the last observed one).
    pub horizon: usize,
    /// The level: the highest among the reasons.
    pub level: AlertLevel,
    /// `P(y ≥ events[0])`.
    pub p_any: f64,
    /// `P(y ≥ events[1])`.
    pub p_major: f64,
    /// Each reason in words, with its level.
    pub reasons: Vec<(AlertLevel, String)>,
    /// Top drivers, e.g. `lag1 +0.84, mean12 +0.51`.
    pub drivers: String,
}

/// What the alerts are computed from.
pub struct AlertInputs<'a> {
    /// The regions' series (the last value is the last observed period).
    pub series: &'a [RegionSeries],
    /// The event thresholds.
    pub events: [f64; 2],
    /// `probabilities[r][h − 1]`: the published model's event probabilities.
    pub probabilities: &'a [Vec<[f64; 2]>],
    /// The global model per horizon that explains the alarm, with the features it reads.
    pub explain: Option<(&'a [GlobalModel], &'a FeatureCache)>,
    /// Region → (the previous run's 95% quantile for the last observed period, that run's id).
    pub previous_q95: &'a BTreeMap<String, (f64, String)>,
    /// Region → its cells that are emerging hot spots, with their class.
    pub hotspots: &'a BTreeMap<String, Vec<(i64, String)>>,
}

fn periods_quiet(y: &[f64]) -> usize {
    y.iter().rev().take_while(|v| **v <= 0.0).count()
}

/// The alerts, most serious first (level, then `P(major)`, then region and horizon).
pub fn alerts(inputs: &AlertInputs<'_>, settings: &AlertSettings) -> Vec<Alert> {
    let [any, major] = inputs.events;
    let mut out = Vec::new();
    for (r, s) in inputs.series.iter().enumerate() {
        let Some(last) = s.y.last().copied() else {
            continue;
        };
        let quiet = periods_quiet(&s.y);
        for (k, p) in inputs.probabilities[r].iter().enumerate() {
            let h = k + 1;
            let mut reasons: Vec<(AlertLevel, String)> = Vec::new();
            if p[1] >= settings.major_probability {
                reasons.push((
                    AlertLevel::High,
                    format!("P(≥ {major}) = {:.2} ≥ {:.2}", p[1], settings.major_probability),
                ));
            }
            if quiet >= settings.quiet_periods && p[0] >= settings.onset_probability {
                reasons.push((
                    AlertLevel::Elevated,
                    format!(
                        "P(≥ {any}) = {:.2} ≥ {:.2} after {quiet} quiet periods",
                        p[0], settings.onset_probability
                    ),
                ));
            }
            if h == 1 {
                if let Some((q95, run)) = inputs.previous_q95.get(&s.region_id)
                    && last > *q95
                {
                    reasons.push((
                        AlertLevel::Elevated,
                        format!(
                            "surge: observed {last:.0} above the 95% quantile {q95:.1} forecast by run {run}"
                        ),
                    ));
                }
                if let Some(cells) = inputs.hotspots.get(&s.region_id) {
                    let list: Vec<String> = cells
                        .iter()
                        .map(|(g, c)| format!("{} {c}", crate::data::region::grid_id(*g)))
                        .collect();
                    reasons.push((
                        AlertLevel::Watch,
                        format!("emerging hot spot: {}", list.join(", ")),
                    ));
                }
            }
            let Some(level) = reasons.iter().map(|(l, _)| *l).max() else {
                continue;
            };
            let drivers = inputs
                .explain
                .and_then(|(models, cache)| {
                    let m = models.iter().find(|m| m.horizon == h)?;
                    let last_t = s.y.len().checked_sub(1)?;
                    Some(top_drivers(m, &cache.at(r, last_t, h), settings.drivers))
                })
                .unwrap_or_default();
            out.push(Alert {
                region_id: s.region_id.clone(),
                horizon: h,
                level,
                p_any: p[0],
                p_major: p[1],
                reasons,
                drivers,
            });
        }
    }
    out.sort_by(|a, b| {
        b.level
            .cmp(&a.level)
            .then(b.p_major.total_cmp(&a.p_major))
            .then_with(|| a.region_id.cmp(&b.region_id))
            .then(a.horizon.cmp(&b.horizon))
    });
    out
}

/// The `n` features with the largest absolute contributions, signed, in words.
pub fn top_drivers(model: &GlobalModel, row: &[f64], n: usize) -> String {
    let c = model.contributions(row);
    let mut idx: Vec<usize> = (0..c.len()).collect();
    idx.sort_by(|a, b| c[*b].abs().total_cmp(&c[*a].abs()).then(a.cmp(b)));
    idx.into_iter()
        .take(n)
        .map(|j| format!("{} {:+.2}", model.features[j], c[j]))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Region → the 95% quantile that a previous run's chosen model forecast for `period` (the
/// latest forecast of it, i.e. the shortest horizon), from that run's `forecasts.parquet`.
pub fn previous_q95(
    forecasts: &DataFrame,
    period: chrono::NaiveDate,
    run_id: &str,
) -> Result<BTreeMap<String, (f64, String)>, EngineError> {
    let ctx = "reading the previous run's forecasts";
    let day = crate::data::period::to_epoch_days(period);
    let get = |name: &str| forecasts.column(name).map_err(EngineError::polars(ctx));
    let ids = get("region_id")?.str().map_err(EngineError::polars(ctx))?.clone();
    let ds = get("ds")?
        .cast(&DataType::Int32)
        .map_err(EngineError::polars(ctx))?;
    let ds = ds.i32().map_err(EngineError::polars(ctx))?.clone();
    let hz = get("horizon")?
        .cast(&DataType::Int32)
        .map_err(EngineError::polars(ctx))?;
    let hz = hz.i32().map_err(EngineError::polars(ctx))?.clone();
    let chosen = get("chosen")?.bool().map_err(EngineError::polars(ctx))?.clone();
    let q95 = get("q95")?.f64().map_err(EngineError::polars(ctx))?.clone();
    let mut best: BTreeMap<String, (i32, f64)> = BTreeMap::new();
    for i in 0..forecasts.height() {
        if chosen.get(i) != Some(true) || ds.get(i) != Some(day) {
            continue;
        }
        let (Some(id), Some(h), Some(q)) = (ids.get(i), hz.get(i), q95.get(i)) else {
            continue;
        };
        let e = best.entry(id.to_string()).or_insert((h, q));
        if h < e.0 {
            *e = (h, q);
        }
    }
    Ok(best
        .into_iter()
        .map(|(id, (_, q))| (id, (q, run_id.to_string())))
        .collect())
}

/// The table: `region_id, horizon, level, p_any, p_major, reasons, drivers`.
pub fn alerts_frame(alerts: &[Alert]) -> Result<DataFrame, EngineError> {
    DataFrame::new(
        alerts.len(),
        vec![
            Column::new(
                "region_id".into(),
                alerts.iter().map(|a| a.region_id.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "horizon".into(),
                alerts.iter().map(|a| a.horizon as i32).collect::<Vec<_>>(),
            ),
            Column::new(
                "level".into(),
                alerts.iter().map(|a| a.level.as_str()).collect::<Vec<_>>(),
            ),
            Column::new("p_any".into(), alerts.iter().map(|a| a.p_any).collect::<Vec<_>>()),
            Column::new(
                "p_major".into(),
                alerts.iter().map(|a| a.p_major).collect::<Vec<_>>(),
            ),
            Column::new(
                "reasons".into(),
                alerts
                    .iter()
                    .map(|a| {
                        a.reasons
                            .iter()
                            .map(|(l, r)| format!("[{}] {r}", l.as_str()))
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "drivers".into(),
                alerts.iter().map(|a| a.drivers.as_str()).collect::<Vec<_>>(),
            ),
        ],
    )
    .map_err(EngineError::polars("building the alerts table"))
}

/// Classes of the hot-spot analysis that count as emerging for an alert.
const EMERGING: [&str; 3] = ["new hot spot", "consecutive hot spot", "intensifying hot spot"];

/// The alert stage of a run: joins the published model's event probabilities (the ensemble,
/// else each region's chosen model), surges against the previous run's forecasts, emerging hot
/// spots (`hotspots`: every cell's class) mapped from their PRIO-GRID cells to the job's regions
/// through the incidents, and drivers from the hurdle (else the first global) model, then raises
/// the alerts.
///
/// `previous` is the previous complete run of the job (its id and `forecasts.parquet`), if
/// there is one; `incidents` the aggregated incidents the panels are built from.
///
/// # Errors
///
/// When the previous forecasts or the incidents lack a column read here.
pub fn alert_table(
    level: crate::Level,
    incidents: &DataFrame,
    series: &[RegionSeries],
    fc: &crate::forecast::stage::ForecastStage,
    hotspots: &crate::analysis::hotspots::CellClasses,
    previous: Option<(&str, &std::path::Path)>,
    settings: &AlertSettings,
) -> Result<DataFrame, EngineError> {
    use std::collections::BTreeSet;
    let probabilities: Vec<Vec<[f64; 2]>> = (0..series.len())
        .map(|r| {
            let m = fc.published_model(r);
            fc.events[m][r].clone()
        })
        .collect();
    let hurdle = crate::forecast::catalogue::Model::Hurdle.as_str();
    let explain_models = fc
        .global_models
        .iter()
        .find(|(n, _)| n == hurdle)
        .or_else(|| fc.global_models.first())
        .map(|(_, m)| m.as_slice());
    let groups: Vec<String> = series
        .iter()
        .map(|s| crate::data::region::country_of(&s.region_id))
        .collect();
    let cache = explain_models.map(|_| FeatureCache::new(series, &groups));
    let explain = explain_models.zip(cache.as_ref());

    let mut previous_forecasts = BTreeMap::new();
    if let Some((prev_id, prev_forecasts)) = previous
        && let Some(last) = series.first().and_then(|s| s.ds.last().copied())
    {
        let df = crate::data::read::read_parquet(prev_forecasts)?;
        previous_forecasts = previous_q95(&df, last, prev_id)?;
        tracing::info!(
            "alerts: surges against run {prev_id} ({} regions forecast)",
            previous_forecasts.len()
        );
    } else {
        tracing::info!("alerts: no earlier run of this job, so no surge alerts");
    }

    // emerging hot-spot cells → the job's regions that hold events in them
    let ctx = "joining emerging hot spots to the job's regions";
    let int64 = |df: &DataFrame, name: &str| -> Result<Int64Chunked, EngineError> {
        let c = df
            .column(name)
            .and_then(|c| c.cast(&DataType::Int64))
            .map_err(EngineError::polars(ctx))?;
        Ok(c.i64().map_err(EngineError::polars(ctx))?.clone())
    };
    let emerging: BTreeMap<i64, String> = hotspots
        .iter()
        .filter(|(_, c)| EMERGING.contains(&c.as_str()))
        .map(|(g, c)| (*g, c.clone()))
        .collect();
    let text = |name: &str| -> Result<Vec<Option<String>>, EngineError> {
        Ok(incidents
            .column(name)
            .and_then(|c| c.str().cloned())
            .map_err(EngineError::polars(ctx))?
            .iter()
            .map(|v| v.map(str::to_string))
            .collect())
    };
    let (cc, a1, a2) = (text("country_code")?, text("admin1")?, text("admin2")?);
    let grid = int64(incidents, "grid_id")?;
    let mut cells: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for i in 0..incidents.height() {
        let Some(g) = grid.get(i).filter(|g| emerging.contains_key(g)) else {
            continue;
        };
        let unknown = crate::data::region::UNKNOWN;
        let id = crate::data::region::region_id(
            level,
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
            previous_q95: &previous_forecasts,
            hotspots: &hot,
        },
        settings,
    );
    let high = got.iter().filter(|a| a.level == AlertLevel::High).count();
    tracing::info!("alerts: {} region-horizons, {high} high", got.len());
    alerts_frame(&got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(id: &str, y: Vec<f64>) -> RegionSeries {
        crate::data::series::monthly_series(id, y)
    }

    #[test]
    fn each_reason_raises_its_level_and_the_worst_comes_first() {
        let s = vec![
            series("a", vec![50.0, 60.0, 80.0]),
            series("b", vec![3.0, 0.0, 0.0, 0.0]),
            series("c", vec![1.0, 1.0, 1.0]),
            series("d", vec![0.0, 0.0, 0.0]),
        ];
        let probabilities = vec![
            vec![[0.99, 0.7], [0.95, 0.4]],
            vec![[0.6, 0.01], [0.3, 0.0]],
            vec![[0.9, 0.1], [0.9, 0.1]],
            vec![[0.1, 0.0], [0.1, 0.0]],
        ];
        let previous: BTreeMap<String, (f64, String)> = [
            ("a".to_string(), (40.0, "r0".to_string())),
            ("c".to_string(), (5.0, "r0".to_string())),
        ]
        .into_iter()
        .collect();
        let hotspots: BTreeMap<String, Vec<(i64, String)>> =
            [("d".to_string(), vec![(7, "new hot spot".to_string())])]
                .into_iter()
                .collect();
        let got = alerts(
            &AlertInputs {
                series: &s,
                events: [1.0, 25.0],
                probabilities: &probabilities,
                explain: None,
                previous_q95: &previous,
                hotspots: &hotspots,
            },
            &AlertSettings::default(),
        );
        let summary: Vec<(&str, usize, AlertLevel)> = got
            .iter()
            .map(|a| (a.region_id.as_str(), a.horizon, a.level))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("a", 1, AlertLevel::High),
                ("b", 1, AlertLevel::Elevated),
                ("d", 1, AlertLevel::Watch),
            ]
        );
        // a: major probability and a surge (80 > 40); c is below its quantile and busy
        assert_eq!(got[0].reasons.len(), 2);
        assert!(got[0].reasons[1].1.contains("surge"), "{:?}", got[0].reasons);
        assert!(got[1].reasons[0].1.contains("3 quiet periods"));
        let df = alerts_frame(&got).expect("frame");
        assert_eq!(df.height(), 3);
    }
}
