//! vigil's forecasting models.
//!
//! The API follows the fit → fitted model → predict shape of augurs, linfa and statsforecast:
//!
//! * a [`Forecaster`] holds checked settings (constructors refuse bad ones);
//! * [`Forecaster::fit`] learns from one series and returns a [`Fitted`] model;
//! * [`Fitted::predict`] gives a [`Forecast`] for the next `h` periods: the mean and the
//!   quantiles asked for.
//!
//! Quantiles come from a model's own predictive distribution where it has one (the normal
//! errors of ETS, the resampled history of conflictology) and otherwise from
//! [`Conformal`] calibration on the model's own rolling-origin residuals per horizon.
//! Every model here forecasts counts, so means and quantiles are never below zero.
//!
//! [`forecast_panel`] fits one model to every region in parallel with a fallback;
//! [`backtest()`] runs rolling-origin backtests; [`metrics`] scores them.

pub mod backtest;
mod baselines;
pub mod calibration;
mod conformal;
pub mod dist;
pub mod ensemble;
mod ets;
pub mod glm;
pub mod global;
mod intermittent;
pub mod metrics;
pub mod rng;
mod runner;
pub mod stacking;

pub use backtest::{
    Backtest, BacktestRow, BacktestRows, BacktestSettings, RowKey, RowRef, RowValues, backtest,
    backtest_with_room,
};
pub use baselines::{Conflictology, HistoricMean, Naive, SeasonalNaive, WindowMean, Zero};
pub use conformal::{Conformal, MIN_WINDOWS as MIN_CONFORMAL_WINDOWS, PointFit, PointModel};
pub use dist::CountDist;
pub use ets::{AutoEts, MstlEts};
pub use global::{GlobalKind, GlobalModel};
pub use intermittent::{Croston, CrostonKind, Tsb};
pub use runner::{RegionForecast, forecast_panel};

/// The quantile probabilities every model reports unless asked for others.
pub const DEFAULT_PROBS: [f64; 9] = [0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975];

/// Why a model could not be fitted or asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// The series is shorter than the model needs.
    #[error("{model} needs at least {needed} observations, the series has {got}")]
    TooShort {
        /// The model's name.
        model: String,
        /// Observations needed.
        needed: usize,
        /// Observations given.
        got: usize,
    },
    /// The series holds a value the model cannot use.
    #[error("{model}: observation {index} is {value}; values must be finite")]
    NotFinite {
        /// The model's name.
        model: String,
        /// Position in the series.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A setting is out of range.
    #[error("{model}: invalid setting: {message}")]
    InvalidParams {
        /// The model's name.
        model: String,
        /// What is wrong.
        message: String,
    },
    /// The underlying estimator failed (e.g. the optimiser found no model).
    #[error("{model}: fit failed: {message}")]
    FitFailed {
        /// The model's name.
        model: String,
        /// The estimator's message.
        message: String,
    },
}

/// Where a forecast's quantiles came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum QuantileSource {
    /// The model's own predictive distribution.
    Native,
    /// Empirical quantiles of out-of-sample residuals (conformal calibration).
    Conformal,
}

impl QuantileSource {
    /// The name written in output tables.
    pub fn as_str(self) -> &'static str {
        match self {
            QuantileSource::Native => "native",
            QuantileSource::Conformal => "conformal",
        }
    }
}

/// A forecast for periods 1..=h after the last observation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Forecast {
    /// `mean[k]` is the point forecast (the predictive mean) for horizon `k + 1`.
    pub mean: Vec<f64>,
    /// The quantile probabilities, ascending, each in (0, 1).
    pub probs: Vec<f64>,
    /// `quantiles[j][k]` is the `probs[j]` quantile for horizon `k + 1`; non-decreasing in `j`.
    pub quantiles: Vec<Vec<f64>>,
    /// Where the quantiles came from.
    pub source: QuantileSource,
}

impl Forecast {
    /// Number of horizons.
    pub fn horizon(&self) -> usize {
        self.mean.len()
    }

    /// The quantiles at probability `p` (matched within 1e-9), if they were asked for.
    pub fn quantile(&self, p: f64) -> Option<&[f64]> {
        self.probs
            .iter()
            .position(|q| (q - p).abs() < 1e-9)
            .map(|j| self.quantiles[j].as_slice())
    }

    /// The central interval covering `level` (e.g. 0.8 → the 0.1 and 0.9 quantiles), if both
    /// ends were asked for.
    pub fn interval(&self, level: f64) -> Option<(&[f64], &[f64])> {
        let tail = (1.0 - level) / 2.0;
        Some((self.quantile(tail)?, self.quantile(1.0 - tail)?))
    }

    /// The quantiles of horizon `k` (0-based), one per probability.
    pub fn quantiles_at(&self, k: usize) -> Vec<f64> {
        self.quantiles.iter().map(|q| q[k]).collect()
    }

    /// Raises every value below zero to zero (counts are never negative) and makes the
    /// quantiles of each horizon non-decreasing.
    pub(crate) fn clip_nonnegative(mut self) -> Self {
        for v in &mut self.mean {
            *v = v.max(0.0);
        }
        for q in &mut self.quantiles {
            for v in q.iter_mut() {
                *v = v.max(0.0);
            }
        }
        self.sort_quantiles();
        self
    }

    fn sort_quantiles(&mut self) {
        for k in 0..self.mean.len() {
            let mut prev = f64::NEG_INFINITY;
            for q in &mut self.quantiles {
                if q[k] < prev {
                    q[k] = prev;
                }
                prev = q[k];
            }
        }
    }

    /// A forecast whose horizon-k distribution is normal with mean `mean[k]` and standard
    /// deviation `sd[k]` (not clipped).
    pub(crate) fn normal(mean: Vec<f64>, sd: &[f64], probs: &[f64]) -> Self {
        let quantiles = probs
            .iter()
            .map(|&p| {
                let z = normal_ppf(p);
                mean.iter().zip(sd).map(|(m, s)| m + z * s).collect()
            })
            .collect();
        Forecast {
            mean,
            probs: probs.to_vec(),
            quantiles,
            source: QuantileSource::Native,
        }
    }
}

/// A model with checked settings, ready to fit.
pub trait Forecaster: Send + Sync {
    /// The name written in output tables (`naive`, `auto_ets`, …).
    fn name(&self) -> &str;
    /// Learns from `y` (oldest first).
    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>, ModelError>;
}

/// A fitted model.
pub trait Fitted: Send + Sync {
    /// Forecasts the next `h` periods with the quantiles at `probs` (each in (0, 1)).
    fn predict(&self, h: usize, probs: &[f64]) -> Result<Forecast, ModelError>;

    /// A one-line description of what was fitted (e.g. the ETS form chosen), or empty.
    fn detail(&self) -> String {
        String::new()
    }
}

/// Checks that quantile probabilities are ascending and inside (0, 1).
pub fn check_probs(model: &str, probs: &[f64]) -> Result<(), ModelError> {
    let bad = |message: String| {
        Err(ModelError::InvalidParams {
            model: model.to_string(),
            message,
        })
    };
    for (i, p) in probs.iter().enumerate() {
        if !(*p > 0.0 && *p < 1.0) {
            return bad(format!(
                "quantile probability {p} must lie strictly between 0 and 1"
            ));
        }
        if i > 0 && probs[i - 1] >= *p {
            return bad(format!("quantile probabilities must be ascending, got {probs:?}"));
        }
    }
    Ok(())
}

pub(crate) fn check_finite(model: &str, y: &[f64]) -> Result<(), ModelError> {
    match y.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(ModelError::NotFinite {
            model: model.to_string(),
            index,
            value: y[index],
        }),
        None => Ok(()),
    }
}

pub(crate) fn check_len(model: &str, y: &[f64], needed: usize) -> Result<(), ModelError> {
    if y.len() < needed {
        return Err(ModelError::TooShort {
            model: model.to_string(),
            needed,
            got: y.len(),
        });
    }
    Ok(())
}

/// The standard normal quantile function.
pub(crate) fn normal_ppf(p: f64) -> f64 {
    distrs::Normal::ppf(p, 0.0, 1.0)
}

/// The `p` quantile of `sorted` (ascending) with linear interpolation between order statistics
/// (Hyndman and Fan's type 7, numpy's default).
pub(crate) fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let pos = p * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo])
        }
    }
}

pub(crate) fn sort_floats(v: &mut [f64]) {
    v.sort_by(f64::total_cmp);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type7_quantiles_match_numpy() {
        // numpy.quantile([1, 2, 4, 10], [0.1, 0.5, 0.9]) = [1.3, 3.0, 8.2]
        let s = [1.0, 2.0, 4.0, 10.0];
        for (p, want) in [(0.1, 1.3), (0.5, 3.0), (0.9, 8.2)] {
            assert!((quantile_sorted(&s, p) - want).abs() < 1e-12, "p={p}");
        }
    }

    #[test]
    fn clipping_keeps_quantiles_ordered_and_nonnegative() {
        let f = Forecast::normal(vec![0.5], &[2.0], &DEFAULT_PROBS).clip_nonnegative();
        let q = f.quantiles_at(0);
        assert!(q.iter().all(|v| *v >= 0.0));
        assert!(q.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(q[0], 0.0);
        let p95 = DEFAULT_PROBS
            .iter()
            .position(|p| *p == 0.95)
            .expect("0.95 is on the default grid");
        assert!((q[p95] - (0.5 + 1.6448536269514722 * 2.0)).abs() < 1e-9);
    }

    #[test]
    fn probabilities_are_checked() {
        assert!(check_probs("m", &[0.1, 0.9]).is_ok());
        assert!(check_probs("m", &[0.9, 0.1]).is_err());
        assert!(check_probs("m", &[0.0, 0.5]).is_err());
        assert!(check_probs("m", &[0.5, 1.0]).is_err());
    }
}
