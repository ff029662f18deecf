//! Coherent forecasts across levels: children sum to their parent.
//!
//! **Proportional (top-down) reconciliation.** Each parent keeps its own forecast, and its
//! children share it in proportion to their own forecasts:
//! `child' = child · parent / Σ children`. A child forecast at zero stays at zero, and the
//! children's relative sizes stay what their models said. A region can carry a share only if
//! some region below it can (its own forecast is positive, and so is one of its children's, down
//! to the bottom level); one that cannot gets none, so violence forecast for a unit is never
//! handed to a unit whose cells all forecast zero, and never spread evenly over regions that had
//! none. A top region that cannot carry its forecast takes the children's sum, zero
//! (`bottom_up_zero`). Reconciling level by level from the top
//! (country → admin-1 → …) makes every level coherent with the one above.

use polars::prelude::*;
use std::collections::BTreeMap;

use crate::data::series::{RegionSeries, region_series};
use crate::error::EngineError;

/// One region's point forecasts by horizon at one level.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelForecast {
    /// The region.
    pub region_id: String,
    /// Its parent at the level above (`None` at the top).
    pub parent_id: Option<String>,
    /// The model whose forecast this is.
    pub model: String,
    /// Point forecasts for horizons 1..=H.
    pub base: Vec<f64>,
}

/// How a reconciled forecast came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The top level: its own forecast.
    Top,
    /// A share of the parent in proportion to its own forecast.
    Proportional,
    /// A parent whose children all forecast zero: it takes their sum.
    BottomUpZero,
}

impl Method {
    /// The name in the output table.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Top => "top",
            Method::Proportional => "proportional",
            Method::BottomUpZero => "bottom_up_zero",
        }
    }
}

/// A reconciled forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciled {
    /// The level's name (e.g. `country`).
    pub level: String,
    /// The forecast before and after.
    pub forecast: LevelForecast,
    /// Reconciled point forecasts by horizon.
    pub reconciled: Vec<f64>,
    /// How each horizon's value came about.
    pub method: Vec<Method>,
}

/// Reconciles `levels` (top first; each level's `parent_id`s name regions of the level above)
/// proportionally from the top down. Every region of a lower level must have a parent in the
/// level above, and all forecasts must have the same horizon.
///
/// A region can only carry a share if something below it can: a pass from the bottom up marks,
/// per horizon, the regions whose own forecast is positive and (above the bottom level) that
/// have such a child. Unmarked regions get no share; a top region left unmarked takes the
/// children's sum, zero (`bottom_up_zero`). Every parent's value is then exactly shared among
/// its children, so all levels are coherent.
pub fn reconcile(levels: &[(String, Vec<LevelForecast>)]) -> Result<Vec<Vec<Reconciled>>, EngineError> {
    let bad = |message: String| EngineError::Invalid {
        context: "reconciling forecasts across levels".into(),
        message,
    };
    let Some(horizon) = levels
        .first()
        .and_then(|(_, rows)| rows.first())
        .map(|f| f.base.len())
    else {
        return Ok(levels.iter().map(|_| Vec::new()).collect());
    };
    // each region's parent position in the level above
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(); levels.len()];
    for depth in 0..levels.len() {
        let (name, rows) = &levels[depth];
        if let Some(f) = rows.iter().find(|f| f.base.len() != horizon) {
            return Err(bad(format!(
                "{name} region {} has {} horizons, the others {horizon}",
                f.region_id,
                f.base.len()
            )));
        }
        if depth == 0 {
            continue;
        }
        let index: BTreeMap<&str, usize> = levels[depth - 1]
            .1
            .iter()
            .enumerate()
            .map(|(i, r)| (r.region_id.as_str(), i))
            .collect();
        for f in rows {
            let p = f
                .parent_id
                .as_deref()
                .and_then(|p| index.get(p).copied())
                .ok_or_else(|| {
                    bad(format!(
                        "{name} region {} has no parent among the regions of the level above ({:?})",
                        f.region_id, f.parent_id
                    ))
                })?;
            parents[depth].push(p);
        }
    }
    // bottom-up: the share weight of each region per horizon (0 when it cannot carry a share)
    let mut weight: Vec<Vec<Vec<f64>>> = levels
        .iter()
        .map(|(_, rows)| {
            rows.iter()
                .map(|f| f.base.iter().map(|v| v.max(0.0)).collect())
                .collect()
        })
        .collect();
    for depth in (1..levels.len()).rev() {
        let mut live = vec![vec![false; horizon]; levels[depth - 1].1.len()];
        for (c, p) in parents[depth].iter().enumerate() {
            for k in 0..horizon {
                live[*p][k] |= weight[depth][c][k] > 0.0;
            }
        }
        for (p, l) in live.iter().enumerate() {
            for k in 0..horizon {
                if !l[k] {
                    weight[depth - 1][p][k] = 0.0;
                }
            }
        }
    }
    // top-down: the top keeps its forecast where it can carry it; children share their parent
    let mut out: Vec<Vec<Reconciled>> = Vec::with_capacity(levels.len());
    for (depth, (name, rows)) in levels.iter().enumerate() {
        let level: Vec<Reconciled> = if depth == 0 {
            rows.iter()
                .zip(&weight[0])
                .map(|(f, w)| {
                    let method = (0..horizon)
                        .map(|k| {
                            if w[k] == 0.0 && f.base[k] > 0.0 {
                                Method::BottomUpZero
                            } else {
                                Method::Top
                            }
                        })
                        .collect();
                    Reconciled {
                        level: name.clone(),
                        forecast: f.clone(),
                        reconciled: w.clone(),
                        method,
                    }
                })
                .collect()
        } else {
            let above = &out[depth - 1];
            let mut sums = vec![vec![0.0; horizon]; above.len()];
            for (c, p) in parents[depth].iter().enumerate() {
                for k in 0..horizon {
                    sums[*p][k] += weight[depth][c][k];
                }
            }
            rows.iter()
                .enumerate()
                .map(|(c, f)| {
                    let p = parents[depth][c];
                    let reconciled = (0..horizon)
                        .map(|k| {
                            let s = sums[p][k];
                            if s > 0.0 {
                                weight[depth][c][k] * (above[p].reconciled[k] / s)
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    Reconciled {
                        level: name.clone(),
                        forecast: f.clone(),
                        reconciled,
                        method: vec![Method::Proportional; horizon],
                    }
                })
                .collect()
        };
        out.push(level);
    }
    Ok(out)
}

/// The largest gap `|parent − Σ children|` over every parent and horizon of `levels` (as
/// returned by [`reconcile`]); 0 when coherent.
pub fn coherence_gap(levels: &[Vec<Reconciled>]) -> f64 {
    let mut worst: f64 = 0.0;
    for pair in levels.windows(2) {
        let mut sums: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for c in &pair[1] {
            if let Some(p) = c.forecast.parent_id.as_deref() {
                let e = sums.entry(p).or_insert_with(|| vec![0.0; c.reconciled.len()]);
                for (s, v) in e.iter_mut().zip(&c.reconciled) {
                    *s += v;
                }
            }
        }
        for parent in &pair[0] {
            if let Some(s) = sums.get(parent.forecast.region_id.as_str()) {
                for (a, b) in parent.reconciled.iter().zip(s) {
                    worst = worst.max((a - b).abs());
                }
            }
        }
    }
    worst
}

/// The table: `level, region_id, parent_id, model, horizon, base, reconciled, method`.
pub fn reconciled_frame(levels: &[Vec<Reconciled>]) -> Result<DataFrame, EngineError> {
    let (mut level, mut rid, mut parent, mut model, mut hz, mut base, mut rec, mut method) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for r in levels.iter().flatten() {
        for k in 0..r.reconciled.len() {
            level.push(r.level.clone());
            rid.push(r.forecast.region_id.clone());
            parent.push(r.forecast.parent_id.clone());
            model.push(r.forecast.model.clone());
            hz.push(k as i32 + 1);
            base.push(r.forecast.base[k]);
            rec.push(r.reconciled[k]);
            method.push(r.method[k].as_str());
        }
    }
    let n = level.len();
    DataFrame::new(
        n,
        vec![
            Column::new("level".into(), level),
            Column::new("region_id".into(), rid),
            Column::new("parent_id".into(), parent),
            Column::new("model".into(), model),
            Column::new("horizon".into(), hz),
            Column::new("base".into(), base),
            Column::new("reconciled".into(), rec),
            Column::new("method".into(), method),
        ],
    )
    .map_err(EngineError::polars("building the reconciled forecast table"))
}

/// The forecast a level publishes for each region ([`ForecastStage::published_model`]: the
/// ensemble when the job runs it, else the region's chosen model), with its parent from `parent`.
///
/// [`ForecastStage::published_model`]: crate::forecast::stage::ForecastStage::published_model
pub fn published_forecasts(
    series: &[RegionSeries],
    fc: &crate::forecast::stage::ForecastStage,
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

/// The bottom level under admin-1 units: the piece of each PRIO-GRID cell inside each unit
/// (`<country>/<admin1>/pg<gid>`; a cell that straddles a border has a piece on each side, so
/// pieces nest where whole cells do not), with its mean over the last `window` periods as base
/// forecast for each of `horizon` horizons. The base forecasts only set each piece's share of
/// its unit's reconciled forecast.
///
/// `incidents` are the aggregated incidents panels are built from and `panel` the job's panel
/// options (its level is replaced by admin-2 here).
///
/// # Errors
///
/// When the incidents lack `grid_id` or the pieces' panel cannot be built.
pub fn grid_pieces(
    incidents: &DataFrame,
    panel: &crate::data::panel::PanelOptions,
    target: &str,
    (window, horizon): (usize, usize),
    parent: impl Fn(&str) -> Option<String>,
) -> Result<Vec<LevelForecast>, EngineError> {
    let ctx = "relabelling incidents by grid cell";
    // an admin-2 panel whose admin-2 names are the cells builds exactly these pieces
    let cells: Vec<Option<String>> = incidents
        .column("grid_id")
        .and_then(|c| c.cast(&DataType::Int64))
        .map_err(EngineError::polars(ctx))?
        .i64()
        .map_err(EngineError::polars(ctx))?
        .iter()
        .map(|g| g.map(crate::data::region::grid_id))
        .collect();
    let mut relabelled = incidents.clone();
    relabelled
        .with_column(Column::new("admin2".into(), cells))
        .map_err(EngineError::polars(ctx))?;
    let opts = crate::data::panel::PanelOptions {
        level: crate::Level::Admin2,
        ..panel.clone()
    };
    let s = region_series(
        &crate::data::panel::build_panel(&relabelled, &opts)?.frame,
        target,
    )?;
    tracing::info!("reconcile: {} grid-cell pieces of admin-1 units", s.len());
    let w = window.max(1);
    Ok(s.iter()
        .map(|s| {
            let tail = &s.y[s.y.len().saturating_sub(w)..];
            let mean = tail.iter().sum::<f64>() / tail.len().max(1) as f64;
            LevelForecast {
                region_id: s.region_id.clone(),
                parent_id: parent(&s.region_id),
                model: crate::forecast::catalogue::Model::WindowMean.as_str().into(),
                base: vec![mean; horizon],
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: &str, parent: Option<&str>, base: Vec<f64>) -> LevelForecast {
        LevelForecast {
            region_id: id.into(),
            parent_id: parent.map(Into::into),
            model: "m".into(),
            base,
        }
    }

    #[test]
    fn children_share_the_parent_in_proportion_and_zeros_stay_zero() {
        let levels = vec![
            ("country".to_string(), vec![f("A", None, vec![10.0, 5.0])]),
            (
                "admin1".to_string(),
                vec![
                    f("A/x", Some("A"), vec![1.0, 0.0]),
                    f("A/y", Some("A"), vec![3.0, 0.0]),
                    f("A/z", Some("A"), vec![0.0, 0.0]),
                ],
            ),
        ];
        let r = reconcile(&levels).expect("reconciles");
        assert_eq!(r[1][0].reconciled, vec![2.5, 0.0]);
        assert_eq!(r[1][1].reconciled, vec![7.5, 0.0]);
        assert_eq!(r[1][2].reconciled, vec![0.0, 0.0]);
        // horizon 2: every child at zero, so the parent becomes zero and says why
        assert_eq!(r[0][0].reconciled, vec![10.0, 0.0]);
        assert_eq!(r[0][0].method, vec![Method::Top, Method::BottomUpZero]);
        assert_eq!(coherence_gap(&r), 0.0);
    }

    #[test]
    fn a_unit_whose_cells_all_forecast_zero_gets_no_share_at_any_level() {
        let levels = vec![
            ("country".to_string(), vec![f("A", None, vec![10.0])]),
            (
                "admin1".to_string(),
                vec![f("A/x", Some("A"), vec![4.0]), f("A/y", Some("A"), vec![1.0])],
            ),
            (
                "grid".to_string(),
                vec![
                    f("A/x/pg1", Some("A/x"), vec![0.0]),
                    f("A/y/pg2", Some("A/y"), vec![2.0]),
                    f("A/y/pg3", Some("A/y"), vec![6.0]),
                ],
            ),
        ];
        let r = reconcile(&levels).expect("reconciles");
        // A/x has no cell that can carry violence, so A/y carries all of A
        assert_eq!(r[1][0].reconciled, vec![0.0]);
        assert_eq!(r[1][1].reconciled, vec![10.0]);
        assert_eq!(r[2][1].reconciled, vec![2.5]);
        assert_eq!(r[2][2].reconciled, vec![7.5]);
        assert_eq!(coherence_gap(&r), 0.0);
    }

    #[test]
    fn an_orphan_is_an_error_naming_it() {
        let levels = vec![
            ("country".to_string(), vec![f("A", None, vec![1.0])]),
            ("admin1".to_string(), vec![f("B/x", Some("B"), vec![1.0])]),
        ];
        let e = reconcile(&levels).expect_err("orphan");
        assert!(e.to_string().contains("B/x"), "{e}");
    }
}
