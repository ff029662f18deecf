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
//! CRPS on those rows ([`crate::stacking`]). Other members get no weight. The ensemble
//! row at `c` therefore uses no outcome at or after `c`, and its backtest score is honest.
//! The final forecast uses weights from every backtest row.
//!
//! **Combination.** The point forecast is combined on the log1p scale,
//! `expm1(Σ w·log1p(mean))`, the scale of MSLE; the quantiles are the weighted average of the
//! members' quantiles at each level (quantile averaging keeps them ordered), and event
//! probabilities are averaged linearly.

use crate::metrics::{crps_quantiles, exceedance};
use crate::{Backtest, BacktestRow, BacktestRows, ModelError, RowKey, RowRef, RowValues};

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

fn loss(r: RowRef<'_>, target: Target, probs: &[f64]) -> f64 {
    match target {
        Target::Point => (r.mean.max(0.0).ln_1p() - r.y.max(0.0).ln_1p()).powi(2),
        Target::Distribution => crps_quantiles(r.y, r.quantiles, probs),
    }
}

/// Members with rows in `rows` and their mean loss, best first (ties keep the members' order).
fn ranked<'a>(
    rows: impl Iterator<Item = RowRef<'a>>,
    members: &[usize],
    n_models: usize,
    target: Target,
    probs: &[f64],
) -> Vec<(usize, f64)> {
    let mut sum = vec![0.0; n_models];
    let mut cnt = vec![0usize; n_models];
    for r in rows {
        let m = usize::from(r.model);
        sum[m] += loss(r, target, probs);
        cnt[m] += 1;
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
fn stacked_weights(rows: &[RowRef<'_>], scored: &[(usize, f64)], n_models: usize, probs: &[f64]) -> Vec<f64> {
    use std::collections::BTreeMap;
    let top: Vec<usize> = scored.iter().take(STACK).map(|(m, _)| *m).collect();
    // (series, origin, horizon) → the outcome and each stacked member's quantiles, borrowed
    // from the rows (a copy of them was most of the ensemble stage's memory)
    type Key = (u32, u32, u16);
    type Seen<'a> = (f64, [Option<&'a [f64]>; STACK]);
    let mut by_key: BTreeMap<Key, Seen<'_>> = BTreeMap::new();
    for r in rows {
        if let Some(i) = top.iter().position(|m| *m == usize::from(r.model)) {
            let e = by_key
                .entry((r.series, r.cutoff, r.horizon))
                .or_insert_with(|| (r.y, [None; STACK]));
            e.1[i] = Some(r.quantiles);
        }
    }
    let mut y = Vec::with_capacity(by_key.len());
    let mut q: Vec<Vec<&[f64]>> = vec![Vec::with_capacity(by_key.len()); top.len()];
    for (obs, got) in by_key.into_values() {
        let got = &got[..top.len()];
        if got.iter().all(Option::is_some) {
            y.push(obs);
            for (i, g) in got.iter().copied().enumerate() {
                q[i].push(g.unwrap_or_default());
            }
        }
    }
    let stacked = crate::stacking::stack_crps(&q, &y, probs, STACK_STEPS);
    let mut w = vec![0.0; n_models];
    for (m, v) in top.iter().zip(stacked) {
        w[*m] = v;
    }
    w
}

/// Weights over `bt.models` for `target` at horizon `h` and origin `cutoff` (`None` = from
/// every row). To learn the weights of many origins and horizons, build [`MemberRows`] once.
pub fn weights(
    bt: &Backtest,
    members: &[usize],
    h: usize,
    cutoff: Option<usize>,
    target: Target,
) -> Vec<f64> {
    MemberRows::new(bt, members).weights(h, cutoff, target)
}

/// The members' backtest rows of each horizon, in the backtest's order, with the period whose
/// outcome each forecasts; built once, so that the weights of one origin and horizon read that
/// horizon's rows only. (Each origin and horizon scanned every row of the backtest before, 216
/// times in the monthly job: 12.8 million rows at 10,000 regions, most of the
/// ensemble stage's time.) The weights are the same, bit for bit.
pub struct MemberRows<'a> {
    bt: &'a Backtest,
    members: &'a [usize],
    /// `[h − 1]`: (period resolved, row), or `None` when the backtest is too large for
    /// 4-byte positions (then every call scans the rows).
    by_horizon: Option<Vec<Vec<(u32, u32)>>>,
}

impl<'a> MemberRows<'a> {
    /// Indexes the rows of `members` (positions in `bt.models`).
    pub fn new(bt: &'a Backtest, members: &'a [usize]) -> Self {
        let mut by_horizon: Vec<Vec<(u32, u32)>> = Vec::new();
        let mut fits = true;
        for (i, r) in bt.rows.rows().iter().enumerate() {
            let h = usize::from(r.horizon);
            if h == 0 || !members.contains(&usize::from(r.model)) {
                continue;
            }
            let (Ok(at), Ok(row)) = (u32::try_from(r.resolves()), u32::try_from(i)) else {
                fits = false;
                break;
            };
            if by_horizon.len() < h {
                by_horizon.resize_with(h, Vec::new);
            }
            by_horizon[h - 1].push((at, row));
        }
        MemberRows {
            bt,
            members,
            by_horizon: fits.then_some(by_horizon),
        }
    }

    /// The members' rows resolved before `cutoff` (all with `None`), in the backtest's order;
    /// of horizon `h` only, when given.
    fn resolved(&self, h: Option<usize>, cutoff: Option<usize>) -> Vec<RowRef<'a>> {
        let before = |at: usize| cutoff.is_none_or(|c| at < c);
        match (h, &self.by_horizon) {
            (Some(h), Some(index)) => index
                .get(h.wrapping_sub(1))
                .map(|rows| {
                    rows.iter()
                        .filter(|(at, _)| before(*at as usize))
                        .filter_map(|(_, i)| self.bt.rows.get(*i as usize))
                        .collect()
                })
                .unwrap_or_default(),
            _ => self
                .bt
                .rows
                .iter()
                .filter(|r| self.members.contains(&usize::from(r.model)))
                .filter(|r| before(r.resolves()))
                .filter(|r| h.is_none_or(|h| usize::from(r.horizon) == h))
                .collect(),
        }
    }

    /// Weights over `bt.models` for `target` at horizon `h` and origin `cutoff` (`None` = from
    /// every row): [`weights`].
    pub fn weights(&self, h: usize, cutoff: Option<usize>, target: Target) -> Vec<f64> {
        let bt = self.bt;
        let n = bt.models.len();
        // the rows of horizon h resolved before the origin, or of every horizon when there
        // are none of h
        let at_h = self.resolved(Some(h), cutoff);
        let rows = if at_h.is_empty() {
            self.resolved(None, cutoff)
        } else {
            at_h
        };
        let scored = ranked(rows.iter().copied(), self.members, n, target, &bt.probs);
        if scored.is_empty() {
            let mut w = vec![0.0; n];
            for m in self.members {
                w[*m] = 1.0 / self.members.len() as f64;
            }
            return w;
        }
        match target {
            Target::Point => inverse_score_weights(&scored, n),
            Target::Distribution => stacked_weights(&rows, &scored, n, &bt.probs),
        }
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

/// Event probabilities of a backtest row (whose quantiles are `quantiles`): its own, or read
/// off its quantiles.
pub fn row_events(r: &BacktestRow, quantiles: &[f64], probs: &[f64], events: [f64; 2]) -> [f64; 2] {
    r.events.unwrap_or_else(|| {
        [
            exceedance(quantiles, probs, events[0]),
            exceedance(quantiles, probs, events[1]),
        ]
    })
}

/// Appends the ensemble of `members` to `bt` as a new model with honest weights per origin.
pub fn backtest_ensemble(bt: &mut Backtest, members: &[usize], events: [f64; 2]) -> Result<(), ModelError> {
    use std::collections::HashMap;
    let mi = bt.models.len();
    let all = bt.rows.rows();
    // the members' rows grouped by (series, origin, horizon): their positions, sorted stably
    // by the key, so each group keeps the backtest's order (8 bytes a row, where a map of
    // vectors of references was three times that)
    let mut order: Vec<usize> = (0..all.len())
        .filter(|i| members.contains(&usize::from(all[*i].model)))
        .collect();
    let key = |i: &usize| (all[*i].series, all[*i].cutoff, all[*i].horizon);
    order.sort_by_key(key);
    // the weights of every origin and horizon, learned in parallel
    let mut pairs: Vec<(u32, u16)> = order.iter().map(|i| (all[*i].cutoff, all[*i].horizon)).collect();
    pairs.sort_unstable();
    pairs.dedup();
    let learned: HashMap<(u32, u16), (Vec<f64>, Vec<f64>)> = {
        use rayon::prelude::*;
        let index = MemberRows::new(bt, members);
        pairs
            .par_iter()
            .map(|(cutoff, horizon)| {
                let (c, h) = (*cutoff as usize, usize::from(*horizon));
                let w = (
                    index.weights(h, Some(c), Target::Point),
                    index.weights(h, Some(c), Target::Distribution),
                );
                ((*cutoff, *horizon), w)
            })
            .collect()
    };
    let same = |a: &usize, b: &usize| key(a) == key(b);
    let mut rows = BacktestRows::with_capacity(bt.rows.width(), order.chunk_by(same).count());
    for group in order.chunk_by(same) {
        let got: Vec<RowRef<'_>> = group.iter().filter_map(|i| bt.rows.get(*i)).collect();
        let Some(first) = got.first().copied() else {
            continue;
        };
        let (wp, wd) = &learned[&(first.cutoff, first.horizon)];
        let parts: Vec<MemberForecast<'_>> = got
            .iter()
            .map(|r| MemberForecast {
                mean: r.mean,
                quantiles: r.quantiles,
                events: row_events(r, r.quantiles, &bt.probs, events),
            })
            .collect();
        let ws: Vec<f64> = got.iter().map(|r| wp[usize::from(r.model)]).collect();
        let wsd: Vec<f64> = got.iter().map(|r| wd[usize::from(r.model)]).collect();
        let (mean, quantiles, ev) = combine(&parts, &ws, &wsd);
        let fell_back = got.iter().any(|r| {
            let m = usize::from(r.model);
            r.fell_back && (wp[m] > 0.0 || wd[m] > 0.0)
        });
        rows.push(
            RowKey {
                series: first.series as usize,
                cutoff: first.cutoff as usize,
                horizon: usize::from(first.horizon),
                model: mi,
            },
            RowValues {
                y: first.y,
                mean,
                scale: first.scale,
                fell_back,
                events: Some(ev),
            },
            &quantiles,
        )?;
    }
    bt.add_model(ENSEMBLE.to_string(), rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends a row of series `series` whose quantiles are `q`.
    fn push(
        rows: &mut BacktestRows,
        series: usize,
        (model, cutoff, horizon): (usize, usize, usize),
        mean: f64,
        y: f64,
        q: &[f64],
    ) {
        let key = RowKey {
            series,
            cutoff,
            horizon,
            model,
        };
        let values = RowValues {
            y,
            mean,
            scale: 1.0,
            fell_back: false,
            events: None,
        };
        rows.push(key, values, q).expect("a row that fits");
    }

    #[test]
    fn weights_use_only_outcomes_seen_before_the_origin() {
        let bt = Backtest {
            models: vec!["a".into(), "b".into()],
            probs: vec![0.1, 0.9],
            rows: {
                // origin 10: a is right, b is wrong; origin 11: the reverse
                let mut rows = BacktestRows::new(2);
                for (model, cutoff, mean) in [(0, 10, 5.0), (1, 10, 50.0), (0, 11, 50.0), (1, 11, 5.0)] {
                    push(&mut rows, 0, (model, cutoff, 1), mean, 5.0, &[mean, mean]);
                }
                rows
            },
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

    /// The index of the rows by horizon gives the weights of a scan of every row, bit for bit,
    /// at every origin and horizon: before anything is resolved, when only other horizons are
    /// (the fallback to all horizons), for a horizon no row has, and from every row.
    #[test]
    fn indexed_weights_are_the_scans_bit_for_bit() {
        let mut state = 7u64;
        let mut draw = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut rows = BacktestRows::new(3);
        // four models (the fourth not a member), in blocks as the backtest appends them
        for model in 0..4 {
            for series in 0..5 {
                for cutoff in 20..30 {
                    for horizon in 1..=3 {
                        let mean = 20.0 * draw();
                        let (lo, hi) = (mean * draw(), mean * (1.0 + 2.0 * draw()));
                        let y = (30.0 * draw()).floor();
                        push(
                            &mut rows,
                            series,
                            (model, cutoff, horizon),
                            mean,
                            y,
                            &[lo, mean, hi],
                        );
                    }
                }
            }
        }
        let bt = Backtest {
            models: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            probs: vec![0.1, 0.5, 0.9],
            rows,
            fallbacks: vec![],
        };
        let members = [0, 1, 2];
        let index = MemberRows::new(&bt, &members);
        let scan = MemberRows {
            by_horizon: None,
            ..MemberRows::new(&bt, &members)
        };
        assert!(index.by_horizon.is_some());
        let bits = |w: Vec<f64>| w.into_iter().map(f64::to_bits).collect::<Vec<_>>();
        let mut learned = 0;
        for target in [Target::Point, Target::Distribution] {
            for h in 1..=4 {
                for cutoff in (19..33).map(Some).chain([None]) {
                    let w = index.weights(h, cutoff, target);
                    assert_eq!(
                        bits(w.clone()),
                        bits(scan.weights(h, cutoff, target)),
                        "{target:?} h {h} at {cutoff:?}"
                    );
                    assert_eq!(w[3], 0.0, "not a member");
                    learned += usize::from(w[..3].iter().any(|v| *v != 1.0 / 3.0));
                }
            }
        }
        // most of them learned something (equal weights only before anything is resolved)
        assert!(learned > 80, "{learned}");
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
