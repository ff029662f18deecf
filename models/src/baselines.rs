//! Baselines the conflict-forecasting field compares against: zero, naive, seasonal naive,
//! historic mean, window mean and conflictology.
//!
//! Native predictive distributions: zero is a point mass at 0; naive, seasonal naive and
//! historic mean use normal errors with the variance growth statsforecast documents for them
//! (naive: σ√h; seasonal naive: σ√(⌊(h−1)/m⌋+1); historic mean: σ√(1+1/n)), clipped at zero;
//! conflictology's distribution is the region's own recent history. The window mean has no
//! distribution of its own: wrap it in [`crate::Conformal`].

use crate::{
    Fitted, Forecast, Forecaster, ModelError, PointFit, PointModel, QuantileSource, check_finite, check_len,
    quantile_sorted, sort_floats,
};

fn invalid(model: &str, message: impl Into<String>) -> ModelError {
    ModelError::InvalidParams {
        model: model.into(),
        message: message.into(),
    }
}

/// Root mean square of the differences `y[t] − y[t − lag]`.
fn rms_lag_diff(y: &[f64], lag: usize) -> f64 {
    let n = y.len().saturating_sub(lag);
    if n == 0 {
        return 0.0;
    }
    let ss: f64 = (lag..y.len()).map(|t| (y[t] - y[t - lag]).powi(2)).sum();
    (ss / n as f64).sqrt()
}

/// Always zero: the "no violence" forecast. Hard to beat where most regions are quiet.
#[derive(Debug, Clone, Default)]
pub struct Zero;

struct ZeroFit;

impl Forecaster for Zero {
    fn name(&self) -> &str {
        "zero"
    }

    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>, ModelError> {
        check_finite(self.name(), y)?;
        Ok(Box::new(ZeroFit))
    }
}

impl Fitted for ZeroFit {
    fn predict(&self, h: usize, probs: &[f64]) -> Result<Forecast, ModelError> {
        crate::check_probs("zero", probs)?;
        Ok(Forecast {
            mean: vec![0.0; h],
            probs: probs.to_vec(),
            quantiles: vec![vec![0.0; h]; probs.len()],
            source: QuantileSource::Native,
        })
    }
}

/// Last value carried forward, with random-walk errors.
#[derive(Debug, Clone, Default)]
pub struct Naive;

struct NaiveFit {
    last: f64,
    sigma: f64,
}

impl Forecaster for Naive {
    fn name(&self) -> &str {
        "naive"
    }

    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>, ModelError> {
        check_finite(self.name(), y)?;
        check_len(self.name(), y, 1)?;
        Ok(Box::new(NaiveFit {
            last: y[y.len() - 1],
            sigma: rms_lag_diff(y, 1),
        }))
    }
}

impl Fitted for NaiveFit {
    fn predict(&self, h: usize, probs: &[f64]) -> Result<Forecast, ModelError> {
        crate::check_probs("naive", probs)?;
        let sd: Vec<f64> = (1..=h).map(|k| self.sigma * (k as f64).sqrt()).collect();
        Ok(Forecast::normal(vec![self.last; h], &sd, probs).clip_nonnegative())
    }
}

/// The value of the same season one cycle earlier (e.g. the same month last year).
#[derive(Debug, Clone)]
pub struct SeasonalNaive {
    season: usize,
}

impl SeasonalNaive {
    /// A seasonal naive model with `season` periods per cycle (12 for monthly data).
    pub fn new(season: usize) -> Result<Self, ModelError> {
        if season == 0 {
            return Err(invalid("seasonal_naive", "season length must be at least 1"));
        }
        Ok(SeasonalNaive { season })
    }
}

struct SeasonalNaiveFit {
    last_cycle: Vec<f64>,
    sigma: f64,
}

impl Forecaster for SeasonalNaive {
    fn name(&self) -> &str {
        "seasonal_naive"
    }

    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>, ModelError> {
        check_finite(self.name(), y)?;
        check_len(self.name(), y, self.season)?;
        Ok(Box::new(SeasonalNaiveFit {
            last_cycle: y[y.len() - self.season..].to_vec(),
            sigma: rms_lag_diff(y, self.season),
        }))
    }
}

impl Fitted for SeasonalNaiveFit {
    fn predict(&self, h: usize, probs: &[f64]) -> Result<Forecast, ModelError> {
        crate::check_probs("seasonal_naive", probs)?;
        let m = self.last_cycle.len();
        let mean = (0..h).map(|k| self.last_cycle[k % m]).collect();
        let sd: Vec<f64> = (0..h)
            .map(|k| self.sigma * ((k / m) as f64 + 1.0).sqrt())
            .collect();
        Ok(Forecast::normal(mean, &sd, probs).clip_nonnegative())
    }
}

/// The mean of the whole history.
#[derive(Debug, Clone, Default)]
pub struct HistoricMean;

struct HistoricMeanFit {
    mean: f64,
    sd: f64,
}

impl Forecaster for HistoricMean {
    fn name(&self) -> &str {
        "historic_mean"
    }

    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>, ModelError> {
        check_finite(self.name(), y)?;
        check_len(self.name(), y, 2)?;
        let n = y.len() as f64;
        let mean = y.iter().sum::<f64>() / n;
        let var = y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        Ok(Box::new(HistoricMeanFit {
            mean,
            sd: (var * (1.0 + 1.0 / n)).sqrt(),
        }))
    }
}

impl Fitted for HistoricMeanFit {
    fn predict(&self, h: usize, probs: &[f64]) -> Result<Forecast, ModelError> {
        crate::check_probs("historic_mean", probs)?;
        Ok(Forecast::normal(vec![self.mean; h], &vec![self.sd; h], probs).clip_nonnegative())
    }
}

/// The mean of the last `window` observations. It has no predictive distribution of its own;
/// use it through [`crate::Conformal`].
#[derive(Debug, Clone)]
pub struct WindowMean {
    window: usize,
}

impl WindowMean {
    /// A mean over the last `window` periods (at least 1).
    pub fn new(window: usize) -> Result<Self, ModelError> {
        if window == 0 {
            return Err(invalid("window_mean", "window must be at least 1 period"));
        }
        Ok(WindowMean { window })
    }
}

struct ConstantFit(f64);

impl PointFit for ConstantFit {
    fn mean(&self, h: usize) -> Vec<f64> {
        vec![self.0; h]
    }
}

impl PointModel for WindowMean {
    fn name(&self) -> &str {
        "window_mean"
    }

    fn min_len(&self) -> usize {
        self.window
    }

    fn fit_point(&self, y: &[f64]) -> Result<Box<dyn PointFit>, ModelError> {
        check_finite(self.name(), y)?;
        check_len(self.name(), y, self.window)?;
        let tail = &y[y.len() - self.window..];
        Ok(Box::new(ConstantFit(
            tail.iter().sum::<f64>() / self.window as f64,
        )))
    }
}

/// "Conflictology", the baseline of the VIEWS forecasting competition: the region's own last
/// `window` observations resampled. Its predictive distribution for every horizon is the
/// empirical distribution of those observations, so its mean is their mean and its quantiles
/// their quantiles (linear interpolation between order statistics).
#[derive(Debug, Clone)]
pub struct Conflictology {
    window: usize,
}

impl Conflictology {
    /// Resamples the last `window` periods (at least 1; VIEWS uses 12 months).
    pub fn new(window: usize) -> Result<Self, ModelError> {
        if window == 0 {
            return Err(invalid("conflictology", "window must be at least 1 period"));
        }
        Ok(Conflictology { window })
    }
}

struct ConflictologyFit {
    sorted: Vec<f64>,
}

impl Forecaster for Conflictology {
    fn name(&self) -> &str {
        "conflictology"
    }

    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>, ModelError> {
        check_finite(self.name(), y)?;
        check_len(self.name(), y, self.window)?;
        let mut sorted = y[y.len() - self.window..].to_vec();
        sort_floats(&mut sorted);
        Ok(Box::new(ConflictologyFit { sorted }))
    }
}

impl Fitted for ConflictologyFit {
    fn predict(&self, h: usize, probs: &[f64]) -> Result<Forecast, ModelError> {
        crate::check_probs("conflictology", probs)?;
        let mean = self.sorted.iter().sum::<f64>() / self.sorted.len() as f64;
        Ok(Forecast {
            mean: vec![mean; h],
            probs: probs.to_vec(),
            quantiles: probs
                .iter()
                .map(|&p| vec![quantile_sorted(&self.sorted, p); h])
                .collect(),
            source: QuantileSource::Native,
        }
        .clip_nonnegative())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_PROBS;

    fn mean_of(model: &dyn Forecaster, y: &[f64], h: usize) -> Vec<f64> {
        model
            .fit(y)
            .and_then(|m| m.predict(h, &DEFAULT_PROBS))
            .map(|f| f.mean)
            .unwrap_or_default()
    }

    #[test]
    fn naive_repeats_the_last_value() {
        assert_eq!(mean_of(&Naive, &[1.0, 5.0, 3.0], 3), vec![3.0; 3]);
    }

    #[test]
    fn naive_intervals_widen_with_the_square_root_of_the_horizon() {
        // one-step differences 4, -2 → σ = √10
        let f = Naive.fit(&[1.0, 5.0, 3.0]).and_then(|m| m.predict(4, &[0.9]));
        let q = f.map(|f| f.quantiles[0].clone()).unwrap_or_default();
        let z = 1.2815515655446004;
        for (k, v) in q.iter().enumerate() {
            let want = 3.0 + z * 10f64.sqrt() * ((k + 1) as f64).sqrt();
            assert!((v - want).abs() < 1e-9, "h={}: {v} vs {want}", k + 1);
        }
    }

    #[test]
    fn seasonal_naive_repeats_the_last_cycle() {
        let y: Vec<f64> = (0..14).map(f64::from).collect();
        let m = SeasonalNaive::new(4).map(|s| mean_of(&s, &y, 6));
        assert_eq!(m, Ok(vec![10.0, 11.0, 12.0, 13.0, 10.0, 11.0]));
    }

    #[test]
    fn seasonal_naive_refuses_a_series_shorter_than_a_season() {
        let err = SeasonalNaive::new(12).and_then(|s| s.fit(&[1.0; 5])).err();
        assert_eq!(
            err,
            Some(ModelError::TooShort {
                model: "seasonal_naive".into(),
                needed: 12,
                got: 5
            })
        );
    }

    #[test]
    fn models_refuse_non_finite_values() {
        assert!(matches!(
            Naive.fit(&[1.0, f64::NAN]),
            Err(ModelError::NotFinite { index: 1, .. })
        ));
    }

    #[test]
    fn zero_is_a_point_mass_at_zero() {
        let f = Zero.fit(&[3.0, 9.0]).and_then(|m| m.predict(2, &DEFAULT_PROBS));
        let f = f.expect("zero always fits");
        assert_eq!(f.mean, vec![0.0, 0.0]);
        assert!(f.quantiles.iter().flatten().all(|v| *v == 0.0));
    }

    #[test]
    fn historic_mean_and_its_interval() {
        let y = [2.0, 4.0, 6.0, 8.0];
        let f = HistoricMean.fit(&y).and_then(|m| m.predict(1, &[0.5, 0.975]));
        let f = f.expect("fits");
        assert_eq!(f.mean, vec![5.0]);
        // sample sd = √(20/3); × √(1 + 1/4)
        let sd = (20.0f64 / 3.0 * 1.25).sqrt();
        assert!((f.quantiles[1][0] - (5.0 + 1.959963984540054 * sd)).abs() < 1e-9);
    }

    #[test]
    fn conflictology_resamples_the_recent_window() {
        let y = [100.0, 0.0, 0.0, 1.0, 3.0];
        let f = Conflictology::new(4)
            .and_then(|m| m.fit(&y))
            .and_then(|m| m.predict(2, &[0.5, 0.95]));
        let f = f.expect("fits");
        assert_eq!(f.mean, vec![1.0, 1.0]);
        // numpy.quantile([0, 0, 1, 3], [0.5, 0.95]) = [0.5, 2.7]
        assert!((f.quantiles[0][0] - 0.5).abs() < 1e-12);
        assert!((f.quantiles[1][1] - 2.7).abs() < 1e-12);
    }

    #[test]
    fn window_mean_averages_the_tail() {
        let fit = WindowMean::new(3).and_then(|m| m.fit_point(&[9.0, 1.0, 2.0, 6.0]));
        assert_eq!(fit.map(|f| f.mean(2)), Ok(vec![3.0, 3.0]));
    }

    #[test]
    fn windows_must_be_positive() {
        assert!(WindowMean::new(0).is_err());
        assert!(Conflictology::new(0).is_err());
        assert!(SeasonalNaive::new(0).is_err());
    }
}
