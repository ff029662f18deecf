//! Reliability of event probabilities on the backtest: for each model and event, the forecasts
//! are put in ten equal-width probability bins (0–0.1, …, 0.9–1.0) and each bin's mean forecast
//! probability is set against the observed frequency of the event. A calibrated model lies on
//! the diagonal. Probabilities come from a model's predictive distribution where it has one
//! (global models, the ensemble) and otherwise from its quantiles.
//!
//! The ensemble's probabilities can be recalibrated with Platt scaling ([`recalibrate`]),
//! fitted at each backtest origin on the outcomes already observed, so that the reliability
//! table shows what a user would have been told. It is off by default: on the shipped GED data
//! it made the ensemble's P(any fatality) worse out of sample (expected calibration error
//! 0.046 → 0.063, Brier 0.108 → 0.112), because violence in 2020–21 did not follow the
//! calibration of the years before.

use crate::Backtest;
use crate::ensemble::row_events;

/// Number of probability bins.
pub const BINS: usize = 10;

/// One bin of one model's reliability table.
#[derive(Debug, Clone, PartialEq)]
pub struct ReliabilityRow {
    /// The model.
    pub model: String,
    /// The event threshold (`y ≥ threshold`).
    pub threshold: f64,
    /// Bin number, 1..=[`BINS`].
    pub bin: usize,
    /// Lower edge of the bin (inclusive).
    pub lower: f64,
    /// Upper edge (exclusive, except 1.0 for the last bin).
    pub upper: f64,
    /// Forecasts in the bin.
    pub n: usize,
    /// Mean forecast probability in the bin (NaN when empty).
    pub mean_forecast: f64,
    /// Observed frequency of the event in the bin (NaN when empty).
    pub observed: f64,
}

/// The reliability table of every model in `bt` for both event thresholds.
pub fn reliability(bt: &Backtest, thresholds: [f64; 2]) -> Vec<ReliabilityRow> {
    let mut out = Vec::new();
    for (mi, model) in bt.models.iter().enumerate() {
        for (which, threshold) in thresholds.iter().enumerate() {
            let mut sum_p = [0.0; BINS];
            let mut hits = [0usize; BINS];
            let mut n = [0usize; BINS];
            for r in bt.rows.iter().filter(|r| usize::from(r.model) == mi) {
                let p = row_events(&r, r.quantiles, &bt.probs, thresholds)[which].clamp(0.0, 1.0);
                let b = ((p * BINS as f64) as usize).min(BINS - 1);
                sum_p[b] += p;
                n[b] += 1;
                hits[b] += usize::from(r.y >= *threshold);
            }
            for b in 0..BINS {
                let empty = n[b] == 0;
                out.push(ReliabilityRow {
                    model: model.clone(),
                    threshold: *threshold,
                    bin: b + 1,
                    lower: b as f64 / BINS as f64,
                    upper: (b + 1) as f64 / BINS as f64,
                    n: n[b],
                    mean_forecast: if empty { f64::NAN } else { sum_p[b] / n[b] as f64 },
                    observed: if empty {
                        f64::NAN
                    } else {
                        hits[b] as f64 / n[b] as f64
                    },
                });
            }
        }
    }
    out
}

/// The expected calibration error of one model and threshold: the mean absolute gap between
/// forecast and observed frequency, weighted by the rows in each bin.
pub fn calibration_error(rows: &[ReliabilityRow], model: &str, threshold: f64) -> f64 {
    let mine: Vec<&ReliabilityRow> = rows
        .iter()
        .filter(|r| r.model == model && r.threshold == threshold && r.n > 0)
        .collect();
    let total: usize = mine.iter().map(|r| r.n).sum();
    if total == 0 {
        return f64::NAN;
    }
    mine.iter()
        .map(|r| r.n as f64 * (r.mean_forecast - r.observed).abs())
        .sum::<f64>()
        / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BacktestRows, RowKey, RowValues};

    /// Rows of one model with their own event probabilities `P(y ≥ 1)` and outcomes.
    fn rows(p_and_y: &[(f64, f64)]) -> BacktestRows {
        let mut rows = BacktestRows::new(1);
        for (p_any, y) in p_and_y {
            let key = RowKey {
                series: 0,
                cutoff: 1,
                horizon: 1,
                model: 0,
            };
            let values = RowValues {
                y: *y,
                mean: 0.0,
                scale: 1.0,
                fell_back: false,
                events: Some([*p_any, 0.0]),
            };
            rows.push(key, values, &[0.0]).expect("a row that fits");
        }
        rows
    }

    #[test]
    fn platt_scaling_repairs_probabilities_that_are_too_timid() {
        // events happen at 0.8 where the forecast said 0.6, and at 0.2 where it said 0.4
        let mut p = Vec::new();
        let mut hit = Vec::new();
        for i in 0..1000 {
            let high = i % 2 == 0;
            p.push(if high { 0.6 } else { 0.4 });
            hit.push(if high { i % 10 != 0 } else { i % 10 == 1 });
        }
        let fit = fit_platt(&p, &hit).expect("enough events");
        assert!((fit.apply(0.6) - 0.8).abs() < 1e-6, "{}", fit.apply(0.6));
        assert!((fit.apply(0.4) - 0.2).abs() < 1e-6, "{}", fit.apply(0.4));
        assert!(fit_platt(&p[..40], &hit[..40]).is_none(), "too few events to fit");
    }

    #[test]
    fn bins_hold_mean_forecasts_and_observed_frequencies() {
        let bt = Backtest {
            models: vec!["m".into()],
            probs: vec![0.5],
            // bin 1: p 0.05 twice, one event; bin 10: p 1.0 once, an event
            rows: rows(&[(0.05, 0.0), (0.05, 3.0), (1.0, 7.0)]),
            fallbacks: vec![],
        };
        let rows = reliability(&bt, [1.0, 25.0]);
        assert_eq!(rows.len(), 2 * BINS);
        let first = &rows[0];
        assert_eq!((first.bin, first.n), (1, 2));
        assert!((first.mean_forecast - 0.05).abs() < 1e-12 && first.observed == 0.5);
        assert_eq!((rows[9].n, rows[9].observed), (1, 1.0));
        assert!(rows[1].observed.is_nan());
        // |0.05 − 0.5| on 2 rows, |1 − 1| on 1 row
        assert!((calibration_error(&rows, "m", 1.0) - 0.3).abs() < 1e-12);
    }
}

/// Platt recalibration of a probability: `p' = σ(a + b · logit p)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Platt {
    /// Intercept.
    pub a: f64,
    /// Slope on the logit of the raw probability.
    pub b: f64,
}

/// The logit of `p`, with `p` kept inside [1e-4, 1 − 1e-4] so that certain forecasts stay finite.
fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}

impl Platt {
    /// The recalibrated probability.
    pub fn apply(&self, p: f64) -> f64 {
        let z = self.a + self.b * logit(p);
        1.0 / (1.0 + (-z).exp())
    }
}

/// Rows and events of each class a Platt fit needs before it replaces the raw probabilities.
pub const PLATT_MIN_EVENTS: usize = 30;

/// Fits Platt scaling (a logistic GLM of the event on the logit of the raw probability) to
/// forecasts `p` and outcomes `hit`; `None` with fewer than [`PLATT_MIN_EVENTS`] events or
/// non-events, or when the fit fails (then the raw probabilities stand).
pub fn fit_platt(p: &[f64], hit: &[bool]) -> Option<Platt> {
    let events = hit.iter().filter(|h| **h).count();
    if events < PLATT_MIN_EVENTS || hit.len() - events < PLATT_MIN_EVENTS {
        return None;
    }
    let x: Vec<f64> = p.iter().map(|v| logit(*v)).collect();
    let y: Vec<f64> = hit.iter().map(|h| f64::from(u8::from(*h))).collect();
    let glm = crate::glm::Glm::new(crate::glm::Family::Binomial, 1e-6);
    let fit = glm.fit(&x, 1, &y).ok()?;
    Some(Platt {
        a: fit.coef[0],
        b: fit.coef[1],
    })
}

/// Recalibrates the event probabilities of model `model` in `bt` with Platt scaling, honestly:
/// the rows of each origin are recalibrated with a fit on that model's rows (all horizons)
/// whose outcomes were observed before the origin. Returns the fits on every row, for the
/// final forecast (`None` where there were too few events).
pub fn recalibrate(bt: &mut Backtest, model: usize, thresholds: [f64; 2]) -> [Option<Platt>; 2] {
    let probs = bt.probs.clone();
    let raw: Vec<(usize, usize, [f64; 2], f64)> = bt
        .rows
        .iter()
        .filter(|r| usize::from(r.model) == model)
        .map(|r| {
            let e = row_events(&r, r.quantiles, &probs, thresholds);
            (r.cutoff as usize, usize::from(r.horizon), e, r.y)
        })
        .collect();
    let fit_before = |cutoff: Option<usize>, which: usize| {
        let (p, hit): (Vec<f64>, Vec<bool>) = raw
            .iter()
            .filter(|(c, h, _, _)| cutoff.is_none_or(|cut| c + h - 1 < cut))
            .map(|(_, _, e, y)| (e[which], *y >= thresholds[which]))
            .unzip();
        fit_platt(&p, &hit)
    };
    let mut cutoffs: Vec<usize> = raw.iter().map(|(c, _, _, _)| *c).collect();
    cutoffs.sort_unstable();
    cutoffs.dedup();
    let fits: std::collections::BTreeMap<usize, [Option<Platt>; 2]> = cutoffs
        .iter()
        .map(|c| (*c, [fit_before(Some(*c), 0), fit_before(Some(*c), 1)]))
        .collect();
    for (r, q) in bt.rows.iter_mut().filter(|(r, _)| usize::from(r.model) == model) {
        let e = row_events(r, q, &probs, thresholds);
        let f = fits.get(&(r.cutoff as usize)).copied().unwrap_or([None, None]);
        r.events = Some([
            f[0].map_or(e[0], |p| p.apply(e[0])),
            f[1].map_or(e[1], |p| p.apply(e[1])),
        ]);
    }
    [fit_before(None, 0), fit_before(None, 1)]
}
