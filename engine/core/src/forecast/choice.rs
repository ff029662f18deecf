//! The choice of a model per region, and the honest score of that choice.
//!
//! **Choice rule.** Each region gets the model with the lowest mean squared log error (MSLE)
//! over all of its backtest origins and horizons; ties go to the model listed first. `zero` is
//! scored as a baseline but never chosen (unless it is the only model): it would publish a
//! certainty of no violence, with an interval of width zero, for every region that was quiet
//! through the backtest, and an early warning can never come from it. Because
//! choosing on the same backtest that scores the choice would flatter it, the `selected` row of
//! the metrics table is scored honestly: at each origin a region's model is chosen only from
//! backtest forecasts whose outcomes were already observed at that origin (before the first
//! such outcome exists, the region uses `naive`, or the first model listed).

use crate::forecast::catalogue::SELECTED;
use vigil_models::Backtest;
use vigil_models::metrics::{ModelScores, score};

/// The model chosen for a region.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The region.
    pub region_id: String,
    /// The chosen model.
    pub model: String,
    /// Its backtest MSLE on this region.
    pub msle: f64,
    /// The naive model's backtest MSLE on this region (NaN if naive was not run).
    pub naive_msle: f64,
}

/// Which models may be chosen for a region: all but `zero`, unless it is the only one.
pub(crate) fn eligible(models: &[String]) -> Vec<bool> {
    let mask: Vec<bool> = models.iter().map(|m| m != "zero").collect();
    if mask.iter().any(|x| *x) {
        mask
    } else {
        vec![true; models.len()]
    }
}

/// Position of the smallest non-NaN value among the eligible; the first on ties.
pub(crate) fn argmin_of(v: &[f64], eligible: &[bool]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, x) in v.iter().enumerate() {
        if x.is_nan() || !eligible[i] {
            continue;
        }
        if best.is_none_or(|b| *x < v[b]) {
            best = Some(i);
        }
    }
    best
}

/// Scores the per-region choice honestly: at each origin, each region's model is the one with
/// the lowest MSLE on that region's backtest rows whose outcome period lies before the origin.
pub(crate) fn selected_scores(
    bt: &Backtest,
    n_series: usize,
    horizon: usize,
    events: [f64; 2],
) -> Vec<ModelScores> {
    let eligible = eligible(&bt.models);
    let default = bt
        .models
        .iter()
        .position(|m| m == "naive")
        .or_else(|| eligible.iter().position(|e| *e))
        .unwrap_or(0);
    // each series' rows by position (8 bytes a row: this runs while every row is held)
    let all = bt.rows.rows();
    let mut by_series: Vec<Vec<usize>> = vec![Vec::new(); n_series];
    for (i, r) in all.iter().enumerate() {
        by_series[r.series as usize].push(i);
    }
    let mut picked: Vec<usize> = Vec::new();
    for positions in &by_series {
        let rows = || positions.iter().map(|i| (*i, &all[*i]));
        let mut cutoffs: Vec<u32> = rows().map(|(_, r)| r.cutoff).collect();
        cutoffs.sort_unstable();
        cutoffs.dedup();
        for c in cutoffs {
            let mut sum = vec![0.0; bt.models.len()];
            let mut cnt = vec![0usize; bt.models.len()];
            for (_, r) in rows().filter(|(_, r)| r.resolves() < c as usize) {
                let m = usize::from(r.model);
                sum[m] += (r.mean.max(0.0).ln_1p() - r.y.max(0.0).ln_1p()).powi(2);
                cnt[m] += 1;
            }
            let means: Vec<f64> = sum
                .iter()
                .zip(&cnt)
                .map(|(s, n)| if *n == 0 { f64::NAN } else { s / *n as f64 })
                .collect();
            let m = argmin_of(&means, &eligible).unwrap_or(default);
            picked.extend(
                rows()
                    .filter(|(_, r)| r.cutoff == c && usize::from(r.model) == m)
                    .map(|(i, _)| i),
            );
        }
    }
    (1..=horizon)
        .map(Some)
        .chain([None])
        .map(|h| ModelScores {
            model: SELECTED.to_string(),
            horizon: h,
            scores: score(
                picked
                    .iter()
                    .filter_map(|i| bt.rows.get(*i))
                    .filter(|r| h.is_none_or(|h| usize::from(r.horizon) == h)),
                &bt.probs,
                events,
            ),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    #[test]
    fn argmin_skips_nan_and_ineligible_and_keeps_the_first_tie() {
        let all = [true; 4];
        assert_eq!(argmin_of(&[f64::NAN, 2.0, 1.0, 1.0], &all), Some(2));
        assert_eq!(
            argmin_of(&[0.5, 2.0, 1.0, 1.0], &[false, true, true, true]),
            Some(2)
        );
        assert_eq!(argmin_of(&[f64::NAN], &[true]), None);
    }

    #[test]
    fn zero_is_never_chosen_unless_alone() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(eligible(&names(&["zero", "naive"])), vec![false, true]);
        assert_eq!(eligible(&names(&["zero"])), vec![true]);
    }
}
