//! Coherent forecasts across levels: children sum to their parent.
//!
//! **Proportional (top-down) reconciliation.** Each parent keeps its own forecast, and its
//! children share it in proportion to their own forecasts:
//! `child' = child · parent / Σ children`. A child forecast at zero stays at zero, and the
//! children's relative sizes stay what their models said. When every child of a parent is at
//! zero there is nothing to share in proportion, so the parent takes the children's sum (zero)
//! and the row says so (`bottom_up_zero`): a forecast of violence that no child region carries
//! is not spread evenly over regions that had none. Reconciling level by level from the top
//! (country → admin-1 → …) makes every level coherent with the one above.

use polars::prelude::*;
use std::collections::BTreeMap;

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
pub fn reconcile(levels: &[(String, Vec<LevelForecast>)]) -> Result<Vec<Vec<Reconciled>>, EngineError> {
    let bad = |message: String| EngineError::Invalid {
        context: "reconciling forecasts across levels".into(),
        message,
    };
    let mut out: Vec<Vec<Reconciled>> = Vec::with_capacity(levels.len());
    for (depth, (name, rows)) in levels.iter().enumerate() {
        if depth == 0 {
            out.push(
                rows.iter()
                    .map(|f| Reconciled {
                        level: name.clone(),
                        forecast: f.clone(),
                        reconciled: f.base.iter().map(|v| v.max(0.0)).collect(),
                        method: vec![Method::Top; f.base.len()],
                    })
                    .collect(),
            );
            continue;
        }
        let above = out.last_mut().ok_or_else(|| bad("no level above".into()))?;
        let index: BTreeMap<&str, usize> = above
            .iter()
            .enumerate()
            .map(|(i, r)| (r.forecast.region_id.as_str(), i))
            .collect();
        let horizon = above.first().map_or(0, |r| r.reconciled.len());
        // children's base sums per parent and horizon
        let mut sums = vec![vec![0.0; horizon]; above.len()];
        let mut parent_of = Vec::with_capacity(rows.len());
        for f in rows {
            let p = f
                .parent_id
                .as_deref()
                .and_then(|p| index.get(p).copied())
                .ok_or_else(|| {
                    bad(format!(
                        "{} region {} has no parent among the regions of the level above ({:?})",
                        name, f.region_id, f.parent_id
                    ))
                })?;
            if f.base.len() != horizon {
                return Err(bad(format!(
                    "{} region {} has {} horizons, its parent {}",
                    name,
                    f.region_id,
                    f.base.len(),
                    horizon
                )));
            }
            for (s, v) in sums[p].iter_mut().zip(&f.base) {
                *s += v.max(0.0);
            }
            parent_of.push(p);
        }
        // parents whose children all forecast zero take the children's sum
        for (p, parent) in above.iter_mut().enumerate() {
            let has_children = parent_of.contains(&p);
            for (k, sum) in sums[p].iter().enumerate() {
                if has_children && *sum == 0.0 && parent.reconciled[k] != 0.0 {
                    parent.reconciled[k] = 0.0;
                    parent.method[k] = Method::BottomUpZero;
                }
            }
        }
        let level: Vec<Reconciled> = rows
            .iter()
            .zip(&parent_of)
            .map(|(f, p)| {
                let target = &above[*p].reconciled;
                let reconciled: Vec<f64> = (0..horizon)
                    .map(|k| {
                        let s = sums[*p][k];
                        if s > 0.0 {
                            f.base[k].max(0.0) * (target[k] / s)
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
            .collect();
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
    fn an_orphan_is_an_error_naming_it() {
        let levels = vec![
            ("country".to_string(), vec![f("A", None, vec![1.0])]),
            ("admin1".to_string(), vec![f("B/x", Some("B"), vec![1.0])]),
        ];
        let e = reconcile(&levels).expect_err("orphan");
        assert!(e.to_string().contains("B/x"), "{e}");
    }
}
