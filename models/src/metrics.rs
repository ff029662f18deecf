//! Forecast scores: point errors, MASE, CRPS, interval coverage, and Brier score and average
//! precision for escalation events.
//!
//! Definitions (all means over the scored rows):
//! * MAE, MSE, RMSE on the point forecast; MSLE = mean of (log1p(ŷ) − log1p(y))², the headline
//!   metric for fatality counts because it weighs a miss of 10 against 0 like one of 1,000
//!   against 100.
//! * MASE: each absolute error divided by its origin's in-sample seasonal-naive MAE (season 12
//!   for months), then averaged. A series whose training part has a zero scale (it never
//!   changes, e.g. all zeros) has no defined MASE: those rows are left out of the MASE mean and
//!   counted in `mase_excluded`, and all other metrics still use them.
//! * CRPS from quantiles: twice the mean pinball loss over the quantile levels, the standard
//!   quantile approximation (for a point mass on a symmetric grid it equals the absolute error).
//! * Coverage at level L: share of outcomes inside [q((1−L)/2), q((1+L)/2)], ends included.
//! * Events are `y ≥ t` for each threshold (1: any fatality; 25: the UCDP threshold of a
//!   conflict-year, applied to a month). Their forecast probability is read off the quantile grid
//!   ([`exceedance`]); the Brier score is the mean squared error of that probability and the
//!   average precision is sklearn's step-wise definition (tied scores form one threshold).

use crate::backtest::{Backtest, RowRef};

/// Mean absolute error.
pub fn mae(y: &[f64], f: &[f64]) -> f64 {
    mean(y.iter().zip(f).map(|(a, b)| (a - b).abs()))
}

/// Mean squared error.
pub fn mse(y: &[f64], f: &[f64]) -> f64 {
    mean(y.iter().zip(f).map(|(a, b)| (a - b).powi(2)))
}

/// Mean squared log error, log1p on both sides (negative values are treated as zero).
pub fn msle(y: &[f64], f: &[f64]) -> f64 {
    mean(y.iter().zip(f).map(|(a, b)| sq_log_err(*a, *b)))
}

fn sq_log_err(y: f64, f: f64) -> f64 {
    (f.max(0.0).ln_1p() - y.max(0.0).ln_1p()).powi(2)
}

/// Mean absolute scaled error with the seasonal-naive MAE of `insample` (season `m`) as scale.
/// NaN when the scale is zero or `insample` is no longer than a season.
pub fn mase(y: &[f64], f: &[f64], insample: &[f64], m: usize) -> f64 {
    let scale = crate::backtest::seasonal_naive_scale(insample, m);
    // NaN (too short) and zero scales both leave MASE undefined.
    if scale.is_nan() || scale <= 0.0 {
        return f64::NAN;
    }
    mae(y, f) / scale
}

/// Pinball (quantile) loss of quantile forecast `q` at probability `p` for outcome `y`.
pub fn pinball(y: f64, q: f64, p: f64) -> f64 {
    let d = y - q;
    (p * d).max((p - 1.0) * d)
}

/// CRPS approximated from quantiles: 2 × the mean pinball loss over the levels.
pub fn crps_quantiles(y: f64, quantiles: &[f64], probs: &[f64]) -> f64 {
    let s: f64 = quantiles.iter().zip(probs).map(|(q, p)| pinball(y, *q, *p)).sum();
    2.0 * s / probs.len() as f64
}

/// Exact CRPS of the empirical distribution of `samples`: E|X − y| − ½ E|X − X′|, computed in
/// O(m log m) from the sorted samples.
pub fn crps_samples(y: f64, samples: &[f64]) -> f64 {
    let m = samples.len();
    if m == 0 {
        return f64::NAN;
    }
    let mut s = samples.to_vec();
    crate::sort_floats(&mut s);
    let mf = m as f64;
    let e1 = s.iter().map(|x| (x - y).abs()).sum::<f64>() / mf;
    // Σ_i Σ_j |x_i − x_j| = 2 Σ_i (2i − m + 1) x_(i) for sorted x (0-based i)
    let pair: f64 = s
        .iter()
        .enumerate()
        .map(|(i, x)| (2.0 * i as f64 - mf + 1.0) * x)
        .sum();
    e1 - pair / (mf * mf)
}

/// Share of `y` inside `[lo, hi]`, ends included.
pub fn coverage(y: &[f64], lo: &[f64], hi: &[f64]) -> f64 {
    mean(
        y.iter()
            .zip(lo.iter().zip(hi))
            .map(|(v, (l, h))| f64::from(u8::from(l <= v && v <= h))),
    )
}

/// Brier score of probabilities `p` for binary outcomes `event`.
pub fn brier(p: &[f64], event: &[bool]) -> f64 {
    mean(
        p.iter()
            .zip(event)
            .map(|(p, e)| (p - f64::from(u8::from(*e))).powi(2)),
    )
}

/// Average precision of `scores` for `event` (sklearn's definition: Σ (Rₙ − Rₙ₋₁) Pₙ over the
/// distinct score thresholds, highest first). NaN when there is no positive case.
pub fn average_precision(scores: &[f64], event: &[bool]) -> f64 {
    let positives = event.iter().filter(|e| **e).count();
    if positives == 0 {
        return f64::NAN;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let (mut tp, mut fp, mut ap, mut prev_recall) = (0usize, 0usize, 0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let s = scores[order[i]];
        while i < order.len() && scores[order[i]] == s {
            if event[order[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        let recall = tp as f64 / positives as f64;
        ap += (recall - prev_recall) * tp as f64 / (tp + fp) as f64;
        prev_recall = recall;
    }
    ap
}

/// Forecast probability that a count is at least `t` (an integer threshold ≥ 1), read off a
/// quantile grid. The predictive CDF F is linear between the grid points (qᵢ, pᵢ), rises
/// linearly from 0 at zero to p₁ at q₁ (counts start at zero), and beyond the top quantile is
/// taken halfway between p_K and 1. `P(Y ≥ t) = 1 − F(t − ½)` (continuity correction). A
/// nine-level grid from 0.025 to 0.975 resolves probabilities to [0.0125, 1].
pub fn exceedance(quantiles: &[f64], probs: &[f64], t: f64) -> f64 {
    let x = t - 0.5;
    let k = probs.len();
    let cdf = match quantiles.iter().rposition(|q| *q <= x) {
        None => {
            if quantiles[0] > 0.0 {
                probs[0] * (x.max(0.0) / quantiles[0]).min(1.0)
            } else {
                0.0
            }
        }
        Some(i) if i + 1 == k => probs[k - 1] + (1.0 - probs[k - 1]) / 2.0,
        Some(i) => {
            let (q0, q1) = (quantiles[i], quantiles[i + 1]);
            probs[i] + (probs[i + 1] - probs[i]) * (x - q0) / (q1 - q0)
        }
    };
    1.0 - cdf
}

fn mean(it: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = it.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { s / n as f64 }
}

/// Scores of one group of backtest rows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scores {
    /// Rows scored.
    pub n: usize,
    /// Mean absolute error.
    pub mae: f64,
    /// Mean squared error.
    pub mse: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean squared log1p error.
    pub msle: f64,
    /// Mean absolute scaled error over rows with a non-zero scale.
    pub mase: f64,
    /// Rows left out of MASE for a zero or undefined scale.
    pub mase_excluded: usize,
    /// CRPS from the quantiles.
    pub crps: f64,
    /// Coverage of the 50% interval (0.25–0.75), NaN if those quantiles are missing.
    pub coverage_50: f64,
    /// Coverage of the 80% interval (0.1–0.9).
    pub coverage_80: f64,
    /// Coverage of the 90% interval (0.05–0.95).
    pub coverage_90: f64,
    /// Coverage of the 95% interval (0.025–0.975).
    pub coverage_95: f64,
    /// Brier score for `y ≥ events[0]` (any fatality).
    pub brier_any: f64,
    /// Brier score for `y ≥ events[1]` (major violence).
    pub brier_major: f64,
    /// Average precision for `y ≥ events[0]`.
    pub ap_any: f64,
    /// Average precision for `y ≥ events[1]`.
    pub ap_major: f64,
}

/// Event thresholds: any fatality (1) and major violence (25), as counts.
pub const EVENTS: [f64; 2] = [1.0, 25.0];

/// Scores `rows`, whose quantiles are at `probs`, with event thresholds `events`.
pub fn score<'a>(rows: impl IntoIterator<Item = RowRef<'a>>, probs: &[f64], events: [f64; 2]) -> Scores {
    let rows: Vec<RowRef<'a>> = rows.into_iter().collect();
    let y: Vec<f64> = rows.iter().map(|r| r.y).collect();
    let f: Vec<f64> = rows.iter().map(|r| r.mean).collect();
    let scaled: Vec<f64> = rows
        .iter()
        .filter(|r| r.scale > 0.0)
        .map(|r| (r.y - r.mean).abs() / r.scale)
        .collect();
    let cover = |level: f64| {
        let tail = (1.0 - level) / 2.0;
        let find = |p: f64| probs.iter().position(|q| (q - p).abs() < 1e-9);
        match (find(tail), find(1.0 - tail)) {
            (Some(a), Some(b)) => mean(
                rows.iter()
                    .map(|r| f64::from(u8::from(r.quantiles[a] <= r.y && r.y <= r.quantiles[b]))),
            ),
            _ => f64::NAN,
        }
    };
    let event_scores = |which: usize| {
        let t = events[which];
        let p: Vec<f64> = rows
            .iter()
            .map(|r| match r.events {
                Some(e) => e[which],
                None => exceedance(r.quantiles, probs, t),
            })
            .collect();
        let e: Vec<bool> = y.iter().map(|v| *v >= t).collect();
        (brier(&p, &e), average_precision(&p, &e))
    };
    let (brier_any, ap_any) = event_scores(0);
    let (brier_major, ap_major) = event_scores(1);
    let mse_v = mse(&y, &f);
    Scores {
        n: rows.len(),
        mae: mae(&y, &f),
        mse: mse_v,
        rmse: mse_v.sqrt(),
        msle: msle(&y, &f),
        mase: mean(scaled.iter().copied()),
        mase_excluded: rows.len() - scaled.len(),
        crps: mean(rows.iter().map(|r| crps_quantiles(r.y, r.quantiles, probs))),
        coverage_50: cover(0.5),
        coverage_80: cover(0.8),
        coverage_90: cover(0.9),
        coverage_95: cover(0.95),
        brier_any,
        brier_major,
        ap_any,
        ap_major,
    }
}

/// Scores of one model at one horizon (`None`: all horizons together).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelScores {
    /// Model name.
    pub model: String,
    /// Horizon, or `None` for all horizons.
    pub horizon: Option<usize>,
    /// The scores.
    pub scores: Scores,
}

/// Scores every model per horizon and over all horizons.
pub fn summarise(bt: &Backtest, events: [f64; 2]) -> Vec<ModelScores> {
    let max_h = bt
        .rows
        .rows()
        .iter()
        .map(|r| usize::from(r.horizon))
        .max()
        .unwrap_or(0);
    let mut out = Vec::new();
    for (mi, name) in bt.models.iter().enumerate() {
        let of_model: Vec<RowRef<'_>> = bt.rows.iter().filter(|r| usize::from(r.model) == mi).collect();
        for h in (1..=max_h).map(Some).chain([None]) {
            let rows = of_model
                .iter()
                .copied()
                .filter(|r| h.is_none_or(|h| usize::from(r.horizon) == h));
            out.push(ModelScores {
                model: name.clone(),
                horizon: h,
                scores: score(rows, &bt.probs, events),
            });
        }
    }
    out
}

/// Mean squared log error of each model on each series: `[series][model]`.
pub fn msle_by_series(bt: &Backtest, n_series: usize) -> Vec<Vec<f64>> {
    let mut sum = vec![vec![0.0; bt.models.len()]; n_series];
    let mut count = vec![vec![0usize; bt.models.len()]; n_series];
    for r in bt.rows.rows() {
        let (s, m) = (r.series as usize, usize::from(r.model));
        sum[s][m] += sq_log_err(r.y, r.mean);
        count[s][m] += 1;
    }
    sum.iter()
        .zip(&count)
        .map(|(s, c)| {
            s.iter()
                .zip(c)
                .map(|(s, c)| if *c == 0 { f64::NAN } else { s / *c as f64 })
                .collect()
        })
        .collect()
}

/// Skill of a model against a reference: `1 − score / reference` (positive = better).
#[derive(Debug, Clone, PartialEq)]
pub struct Skill {
    /// Model name.
    pub model: String,
    /// Horizon, or `None` for all horizons.
    pub horizon: Option<usize>,
    /// The best baseline by MSLE at this horizon.
    pub reference: String,
    /// Skill on MSLE.
    pub msle: f64,
    /// Skill on MAE.
    pub mae: f64,
    /// Skill on CRPS.
    pub crps: f64,
    /// Skill on the Brier score of "any fatality".
    pub brier_any: f64,
}

/// Skill of every model relative to the best of `baselines` (lowest MSLE) at each horizon.
pub fn skill(summary: &[ModelScores], baselines: &[&str]) -> Vec<Skill> {
    let mut out = Vec::new();
    for s in summary {
        let reference = summary
            .iter()
            .filter(|b| b.horizon == s.horizon && baselines.contains(&b.model.as_str()))
            .min_by(|a, b| a.scores.msle.total_cmp(&b.scores.msle));
        let Some(r) = reference else { continue };
        let rel = |m: f64, b: f64| 1.0 - m / b;
        out.push(Skill {
            model: s.model.clone(),
            horizon: s.horizon,
            reference: r.model.clone(),
            msle: rel(s.scores.msle, r.scores.msle),
            mae: rel(s.scores.mae, r.scores.mae),
            crps: rel(s.scores.crps, r.scores.crps),
            brier_any: rel(s.scores.brier_any, r.scores.brier_any),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crps_of_a_point_mass_is_the_absolute_error() {
        let probs = crate::DEFAULT_PROBS;
        for (y, m) in [(3.0, 7.5), (10.0, 2.0), (4.0, 4.0)] {
            let q = vec![m; probs.len()];
            assert!((crps_quantiles(y, &q, &probs) - (y - m).abs()).abs() < 1e-12);
            assert!((crps_samples(y, &[m; 5]) - (y - m).abs()).abs() < 1e-12);
        }
    }

    #[test]
    fn exceedance_reads_the_grid() {
        // The default grid: a point mass at zero leaves half of the top tail, 1.25%.
        let nine = crate::DEFAULT_PROBS;
        assert!((exceedance(&[0.0; 9], &nine, 1.0) - 0.0125).abs() < 1e-12);
        let probs = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95];
        assert!((exceedance(&[0.0; 7], &probs, 1.0) - 0.025).abs() < 1e-12);
        // F(0.5) between q=0 at 0.5 and q=1 at 0.75 → 0.625
        let q = [0.0, 0.0, 0.0, 0.0, 1.0, 3.0, 30.0];
        assert!((exceedance(&q, &probs, 1.0) - 0.375).abs() < 1e-12);
        // F(24.5) between 3 at 0.9 and 30 at 0.95
        assert!((exceedance(&q, &probs, 25.0) - (0.1 - 0.05 * 21.5 / 27.0)).abs() < 1e-12);
        // below the lowest quantile: linear from zero
        let q = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0];
        assert!((exceedance(&q, &probs, 1.0) - (1.0 - 0.05 * 0.05)).abs() < 1e-12);
    }

    #[test]
    fn average_precision_of_a_perfect_ranking_is_one() {
        let s = [0.9, 0.8, 0.2, 0.1];
        assert_eq!(average_precision(&s, &[true, true, false, false]), 1.0);
        assert!(average_precision(&s, &[false; 4]).is_nan());
    }
}
