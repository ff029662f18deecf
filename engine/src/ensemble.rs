//! The ensemble: a weighted combination of the local and global models, with weights learned
//! per horizon from backtest skill, and backtested like any model.
//!
//! **Weights.** Each part of the forecast is weighted by the score it is judged on: the point
//! forecast by MSLE, the distribution (quantiles and event probabilities) by CRPS. For horizon
//! `h` at origin `c`, each member's score is measured on its backtest rows of horizon `h`
//! whose outcome was observed before `c` (all horizons' rows when none of horizon `h` is;
//! equal weights when there are none at all). For the point, the [`TOP`] best members get
//! weights proportional to `1 / MSLE`. For the distribution, the [`STACK`] best members are
//! stacked: the weights on a 0.1 grid of the simplex whose averaged quantiles had the lowest
//! CRPS on those rows ([`vigil_models::stacking`]). Other members get no weight. The ensemble
//! row at `c` therefore uses no outcome at or after `c`, and its backtest score is honest.
//! The final forecast uses weights from every backtest row.
//!
//! **Combination.** The point forecast is combined on the log1p scale,
//! `expm1(Σ w·log1p(mean))`, the scale of MSLE; the quantiles are the weighted average of the
//! members' quantiles at each level (quantile averaging keeps them ordered), and event
//! probabilities are averaged linearly.

use vigil_models::metrics::{crps_quantiles, exceedance};
use vigil_models::{Backtest, BacktestRow};

/// How many of the best members share the weight of the point forecast.
pub const TOP: usize = 3;

/// How many of the best members are stacked for the distribution.
pub const STACK: usize = 5;

/// Grid steps of the stacking weights (0.1).
const STACK_STEPS: usize = 10;

/// The name of the ensemble in outputs.
pub const ENSEMBLE: &str = "ensemble";

/// What a weight rewards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The point forecast: mean squared log error.
    Point,
    /// The distribution: CRPS of the quantiles.
    Distribution,
}

fn loss(r: &BacktestRow, target: Target, probs: &[f64]) -> f64 {
    match target {
        Target::Point => (r.mean.max(0.0).ln_1p() - r.y.max(0.0).ln_1p()).powi(2),
        Target::Distribution => crps_quantiles(r.y, &r.quantiles, probs),
    }
}

/// Members with rows in `rows` and their mean loss, best first (ties keep the members' order).
fn ranked<'a>(
    rows: impl Iterator<Item = &'a BacktestRow>,
    members: &[usize],
    n_models: usize,
    target: Target,
    probs: &[f64],
) -> Vec<(usize, f64)> {
    let mut sum = vec![0.0; n_models];
    let mut cnt = vec![0usize; n_models];
    for r in rows {
        sum[r.model] += loss(r, target, probs);
        cnt[r.model] += 1;
    }
    let mut scored: Vec<(usize, f64)> = members
        .iter()
        .filter(|m| cnt[**m] > 0)
        .map(|m| (*m, sum[*m] / cnt[*m] as f64))
        .collect();
    scored.sort_by(|a, b| a.1.total_cmp(&b.1));
    scored
}

/// Point weights: the [`TOP`] best by MSLE, proportional to `1 / MSLE`.
fn inverse_score_weights(scored: &[(usize, f64)], n_models: usize) -> Vec<f64> {
    let mut w = vec![0.0; n_models];
    for (m, score) in scored.iter().take(TOP) {
        w[*m] = 1.0 / score.max(1e-6);
    }
    let total: f64 = w.iter().sum();
    w.into_iter().map(|v| v / total).collect()
}

/// Distribution weights: the [`STACK`] best by CRPS, stacked on `rows`.
fn stacked_weights(
    rows: &[&BacktestRow],
    scored: &[(usize, f64)],
    n_models: usize,
    probs: &[f64],
) -> Vec<f64> {
    use std::collections::BTreeMap;
    let top: Vec<usize> = scored.iter().take(STACK).map(|(m, _)| *m).collect();
    // (series, origin, horizon) → the outcome and each stacked member's quantiles
    type Key = (usize, usize, usize);
    type Seen<'a> = (f64, Vec<Option<&'a Vec<f64>>>);
    let mut by_key: BTreeMap<Key, Seen<'_>> = BTreeMap::new();
    for r in rows {
        if let Some(i) = top.iter().position(|m| *m == r.model) {
            let e = by_key
                .entry((r.series, r.cutoff, r.horizon))
                .or_insert_with(|| (r.y, vec![None; top.len()]));
            e.1[i] = Some(&r.quantiles);
        }
    }
    let mut y = Vec::with_capacity(by_key.len());
    let mut q: Vec<Vec<Vec<f64>>> = vec![Vec::with_capacity(by_key.len()); top.len()];
    for (obs, got) in by_key.into_values() {
        if got.iter().all(Option::is_some) {
            y.push(obs);
            for (i, g) in got.into_iter().enumerate() {
                q[i].push(g.cloned().unwrap_or_default());
            }
        }
    }
    let stacked = vigil_models::stacking::stack_crps(&q, &y, probs, STACK_STEPS);
    let mut w = vec![0.0; n_models];
    for (m, v) in top.iter().zip(stacked) {
        w[*m] = v;
    }
    w
}

/// Weights over `bt.models` for `target` at horizon `h` and origin `cutoff` (`None` = from
/// every row).
pub fn weights(
    bt: &Backtest,
    members: &[usize],
    h: usize,
    cutoff: Option<usize>,
    target: Target,
) -> Vec<f64> {
    let n = bt.models.len();
    let resolved: Vec<&BacktestRow> = bt
        .rows
        .iter()
        .filter(|r| members.contains(&r.model))
        .filter(|r| cutoff.is_none_or(|c| r.cutoff + r.horizon - 1 < c))
        .collect();
    let at_h: Vec<&BacktestRow> = resolved.iter().copied().filter(|r| r.horizon == h).collect();
    let rows = if at_h.is_empty() { resolved } else { at_h };
    let scored = ranked(rows.iter().copied(), members, n, target, &bt.probs);
    if scored.is_empty() {
        let mut w = vec![0.0; n];
        for m in members {
            w[*m] = 1.0 / members.len() as f64;
        }
        return w;
    }
    match target {
        Target::Point => inverse_score_weights(&scored, n),
        Target::Distribution => stacked_weights(&rows, &scored, n, &bt.probs),
    }
}

/// One member's forecast of one period: mean, quantiles and event probabilities.
pub struct MemberForecast<'a> {
    /// Point forecast.
    pub mean: f64,
    /// Quantiles at the backtest's probabilities.
    pub quantiles: &'a [f64],
    /// Event probabilities.
    pub events: [f64; 2],
}

/// Combines member forecasts with point weights `wp` and distribution weights `wd` (both
/// aligned with `members`).
pub fn combine(members: &[MemberForecast<'_>], wp: &[f64], wd: &[f64]) -> (f64, Vec<f64>, [f64; 2]) {
    let k = members.first().map_or(0, |m| m.quantiles.len());
    let mut log_mean = 0.0;
    let mut q = vec![0.0; k];
    let mut e = [0.0; 2];
    for ((m, wp), wd) in members.iter().zip(wp).zip(wd) {
        log_mean += wp * m.mean.max(0.0).ln_1p();
        for (a, b) in q.iter_mut().zip(m.quantiles) {
            *a += wd * b;
        }
        e[0] += wd * m.events[0];
        e[1] += wd * m.events[1];
    }
    (log_mean.exp_m1(), q, e)
}

/// Event probabilities of a backtest row: its own, or read off its quantiles.
pub fn row_events(r: &BacktestRow, probs: &[f64], events: [f64; 2]) -> [f64; 2] {
    r.events.unwrap_or_else(|| {
        [
            exceedance(&r.quantiles, probs, events[0]),
            exceedance(&r.quantiles, probs, events[1]),
        ]
    })
}

/// Appends the ensemble of `members` to `bt` as a new model with honest weights per origin.
pub fn backtest_ensemble(bt: &mut Backtest, members: &[usize], events: [f64; 2]) {
    use std::collections::HashMap;
    let mi = bt.models.len();
    let mut by_key: HashMap<(usize, usize, usize), Vec<&BacktestRow>> = HashMap::new();
    for r in bt.rows.iter().filter(|r| members.contains(&r.model)) {
        by_key.entry((r.series, r.cutoff, r.horizon)).or_default().push(r);
    }
    let mut keys: Vec<(usize, usize, usize)> = by_key.keys().copied().collect();
    keys.sort_unstable();
    // the weights of every origin and horizon, learned in parallel
    let mut pairs: Vec<(usize, usize)> = keys.iter().map(|(_, c, h)| (*c, *h)).collect();
    pairs.sort_unstable();
    pairs.dedup();
    let learned: HashMap<(usize, usize), (Vec<f64>, Vec<f64>)> = {
        use rayon::prelude::*;
        let shared: &Backtest = bt;
        pairs
            .par_iter()
            .map(|(cutoff, horizon)| {
                let w = (
                    weights(shared, members, *horizon, Some(*cutoff), Target::Point),
                    weights(shared, members, *horizon, Some(*cutoff), Target::Distribution),
                );
                ((*cutoff, *horizon), w)
            })
            .collect()
    };
    let mut rows = Vec::with_capacity(keys.len());
    for key @ (series, cutoff, horizon) in keys {
        let (wp, wd) = &learned[&(cutoff, horizon)];
        let got = &by_key[&key];
        let parts: Vec<MemberForecast<'_>> = got
            .iter()
            .map(|r| MemberForecast {
                mean: r.mean,
                quantiles: &r.quantiles,
                events: row_events(r, &bt.probs, events),
            })
            .collect();
        let ws: Vec<f64> = got.iter().map(|r| wp[r.model]).collect();
        let wsd: Vec<f64> = got.iter().map(|r| wd[r.model]).collect();
        let (mean, quantiles, ev) = combine(&parts, &ws, &wsd);
        let first = got[0];
        rows.push(BacktestRow {
            series,
            cutoff,
            horizon,
            model: mi,
            y: first.y,
            mean,
            quantiles,
            scale: first.scale,
            fell_back: got
                .iter()
                .any(|r| r.fell_back && (wp[r.model] > 0.0 || wd[r.model] > 0.0)),
            events: Some(ev),
        });
    }
    bt.add_model(ENSEMBLE.to_string(), rows);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: usize, cutoff: usize, horizon: usize, mean: f64, y: f64) -> BacktestRow {
        BacktestRow {
            series: 0,
            cutoff,
            horizon,
            model,
            y,
            mean,
            quantiles: vec![mean, mean],
            scale: 1.0,
            fell_back: false,
            events: None,
        }
    }

    #[test]
    fn weights_use_only_outcomes_seen_before_the_origin() {
        let bt = Backtest {
            models: vec!["a".into(), "b".into()],
            probs: vec![0.1, 0.9],
            // origin 10: a is right, b is wrong; origin 11: the reverse
            rows: vec![
                row(0, 10, 1, 5.0, 5.0),
                row(1, 10, 1, 50.0, 5.0),
                row(0, 11, 1, 50.0, 5.0),
                row(1, 11, 1, 5.0, 5.0),
            ],
            fallbacks: vec![],
        };
        // at origin 10 nothing is resolved: equal weights
        let p = Target::Point;
        assert_eq!(weights(&bt, &[0, 1], 1, Some(10), p), vec![0.5, 0.5]);
        // at origin 11 only origin 10's outcome (period 10) is known: a is perfect
        let w = weights(&bt, &[0, 1], 1, Some(11), p);
        assert!(w[0] > 0.99 && w[1] < 0.01, "{w:?}");
        let w = weights(&bt, &[0, 1], 1, Some(11), Target::Distribution);
        assert!(w[0] > 0.99 && w[1] < 0.01, "{w:?}");
        // a member that is not listed gets no weight
        assert_eq!(weights(&bt, &[1], 1, None, p), vec![0.0, 1.0]);
    }

    #[test]
    fn the_ensemble_combines_on_the_log_scale_and_averages_quantiles() {
        let q1 = [0.0, 10.0];
        let q2 = [2.0, 30.0];
        let members = [
            MemberForecast {
                mean: 3.0,
                quantiles: &q1,
                events: [0.2, 0.0],
            },
            MemberForecast {
                mean: 15.0,
                quantiles: &q2,
                events: [0.6, 0.1],
            },
        ];
        let (mean, q, e) = combine(&members, &[0.5, 0.5], &[0.5, 0.5]);
        // expm1(mean(log 4, log 16)) = 8 − 1
        assert!((mean - 7.0).abs() < 1e-12, "{mean}");
        assert_eq!(q, vec![1.0, 20.0]);
        assert!((e[0] - 0.4).abs() < 1e-12 && (e[1] - 0.05).abs() < 1e-12);
    }
}
