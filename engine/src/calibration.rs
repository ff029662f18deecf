//! Reliability of event probabilities on the backtest: for each model and event, the forecasts
//! are put in ten equal-width probability bins (0–0.1, …, 0.9–1.0) and each bin's mean forecast
//! probability is set against the observed frequency of the event. A calibrated model lies on
//! the diagonal. Probabilities come from a model's predictive distribution where it has one
//! (global models, the ensemble) and otherwise from its quantiles.

use polars::prelude::*;
use vigil_models::Backtest;

use crate::ensemble::row_events;
use crate::error::EngineError;

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
            for r in bt.rows.iter().filter(|r| r.model == mi) {
                let p = row_events(r, &bt.probs, thresholds)[which].clamp(0.0, 1.0);
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

/// The table: `model, threshold, bin, lower, upper, n, mean_forecast, observed` (the last two
/// null for an empty bin).
pub fn reliability_frame(rows: &[ReliabilityRow]) -> Result<DataFrame, EngineError> {
    let opt = |v: f64| (!v.is_nan()).then_some(v);
    DataFrame::new(
        rows.len(),
        vec![
            Column::new(
                "model".into(),
                rows.iter().map(|r| r.model.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "threshold".into(),
                rows.iter().map(|r| r.threshold).collect::<Vec<_>>(),
            ),
            Column::new(
                "bin".into(),
                rows.iter().map(|r| r.bin as i32).collect::<Vec<_>>(),
            ),
            Column::new("lower".into(), rows.iter().map(|r| r.lower).collect::<Vec<_>>()),
            Column::new("upper".into(), rows.iter().map(|r| r.upper).collect::<Vec<_>>()),
            Column::new("n".into(), rows.iter().map(|r| r.n as u64).collect::<Vec<_>>()),
            Column::new(
                "mean_forecast".into(),
                rows.iter().map(|r| opt(r.mean_forecast)).collect::<Vec<_>>(),
            ),
            Column::new(
                "observed".into(),
                rows.iter().map(|r| opt(r.observed)).collect::<Vec<_>>(),
            ),
        ],
    )
    .map_err(EngineError::polars("building the reliability table"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_models::BacktestRow;

    fn row(p_any: f64, y: f64) -> BacktestRow {
        BacktestRow {
            series: 0,
            cutoff: 1,
            horizon: 1,
            model: 0,
            y,
            mean: 0.0,
            quantiles: vec![0.0],
            scale: 1.0,
            fell_back: false,
            events: Some([p_any, 0.0]),
        }
    }

    #[test]
    fn bins_hold_mean_forecasts_and_observed_frequencies() {
        let bt = Backtest {
            models: vec!["m".into()],
            probs: vec![0.5],
            // bin 1: p 0.05 twice, one event; bin 10: p 1.0 once, an event
            rows: vec![row(0.05, 0.0), row(0.05, 3.0), row(1.0, 7.0)],
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
