//! Conformal quantiles for models that give only a point forecast.
//!
//! Croston's method, TSB and the window mean have no valid predictive distribution of their
//! own. [`Conformal`] gives them one from their own out-of-sample errors, in the way of
//! statsforecast's `ConformalIntervals`: at fit time the model is refitted at `windows`
//! rolling origins at the end of the training series (origin `n − horizon − w` for
//! `w = 0..windows`), and for each horizon `k` the signed errors `y − ŷ` are kept. The `p`
//! quantile of horizon `k` is the point forecast plus the `p` quantile of those errors (linear
//! interpolation between order statistics), clipped at zero. Signed rather than absolute errors
//! keep the skew of count data: a mostly-zero region gets a lower bound of zero and a long
//! upper tail. Horizons beyond the calibrated `horizon` reuse the last calibrated horizon's
//! errors. Only data before the forecast origin is used, so backtests stay honest.

use crate::{
    Fitted, Forecast, Forecaster, ModelError, QuantileSource, check_probs, quantile_sorted, sort_floats,
};

/// A model that gives only point forecasts.
pub trait PointModel: Send + Sync {
    /// The name written in output tables.
    fn name(&self) -> &str;
    /// The shortest series the model can fit.
    fn min_len(&self) -> usize;
    /// Learns from `y` (oldest first).
    fn fit_point(&self, y: &[f64]) -> Result<Box<dyn PointFit>, ModelError>;
}

/// A fitted point-forecast model.
pub trait PointFit: Send + Sync {
    /// Point forecasts for horizons 1..=h.
    fn mean(&self, h: usize) -> Vec<f64>;
}

/// A [`PointModel`] with conformal quantiles; see the module documentation.
#[derive(Debug, Clone)]
pub struct Conformal<P> {
    inner: P,
    windows: usize,
    horizon: usize,
}

/// The fewest calibration windows worth having: fewer errors than this give no usable tails.
pub const MIN_WINDOWS: usize = 5;

impl<P: PointModel> Conformal<P> {
    /// Calibrates `inner` on `windows` rolling origins for horizons 1..=`horizon`.
    pub fn new(inner: P, windows: usize, horizon: usize) -> Result<Self, ModelError> {
        if windows < MIN_WINDOWS {
            return Err(ModelError::InvalidParams {
                model: inner.name().to_string(),
                message: format!("conformal calibration needs at least {MIN_WINDOWS} windows, got {windows}"),
            });
        }
        if horizon == 0 {
            return Err(ModelError::InvalidParams {
                model: inner.name().to_string(),
                message: "conformal calibration horizon must be at least 1".into(),
            });
        }
        Ok(Conformal {
            inner,
            windows,
            horizon,
        })
    }

    /// The wrapped model.
    pub fn inner(&self) -> &P {
        &self.inner
    }
}

struct ConformalFit {
    point: Box<dyn PointFit>,
    /// `errors[k]`: sorted signed errors of horizon `k + 1`.
    errors: Vec<Vec<f64>>,
}

impl<P: PointModel> Forecaster for Conformal<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>, ModelError> {
        let n = y.len();
        // The earliest calibration origin must still leave the model enough history.
        let needed = self.inner.min_len() + self.horizon + MIN_WINDOWS - 1;
        if n < needed {
            return Err(ModelError::TooShort {
                model: format!("{} (conformal calibration)", self.name()),
                needed,
                got: n,
            });
        }
        let point = self.inner.fit_point(y)?;
        let usable = (n - self.horizon - self.inner.min_len() + 1).min(self.windows);
        let mut errors = vec![Vec::with_capacity(usable); self.horizon];
        for w in 0..usable {
            let cutoff = n - self.horizon - w;
            let fit = self.inner.fit_point(&y[..cutoff])?;
            for (k, f) in fit.mean(self.horizon).into_iter().enumerate() {
                errors[k].push(y[cutoff + k] - f);
            }
        }
        for e in &mut errors {
            sort_floats(e);
        }
        Ok(Box::new(ConformalFit { point, errors }))
    }
}

impl Fitted for ConformalFit {
    fn predict(&self, h: usize, probs: &[f64]) -> Result<Forecast, ModelError> {
        check_probs("conformal", probs)?;
        let mean = self.point.mean(h);
        let last = self.errors.len() - 1;
        let quantiles = probs
            .iter()
            .map(|&p| {
                mean.iter()
                    .enumerate()
                    .map(|(k, m)| m + quantile_sorted(&self.errors[k.min(last)], p))
                    .collect()
            })
            .collect();
        Ok(Forecast {
            mean,
            probs: probs.to_vec(),
            quantiles,
            source: QuantileSource::Conformal,
        }
        .clip_nonnegative())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WindowMean;

    #[test]
    fn quantiles_are_the_point_plus_rolling_errors() {
        // Window mean of 1 = naive. Series 0..=9: every one-step error is +1, two-step +2.
        let y: Vec<f64> = (0..10).map(f64::from).collect();
        let model = WindowMean::new(1).and_then(|m| Conformal::new(m, 5, 2));
        let f = model
            .and_then(|m| m.fit(&y))
            .and_then(|m| m.predict(3, &[0.1, 0.9]));
        let f = f.expect("fits");
        assert_eq!(f.mean, vec![9.0; 3]);
        assert_eq!(f.quantiles[0], vec![10.0, 11.0, 11.0]);
        assert_eq!(f.source, QuantileSource::Conformal);
    }

    #[test]
    fn short_series_are_refused_with_the_length_needed() {
        let model = WindowMean::new(3).and_then(|m| Conformal::new(m, 12, 6));
        let err = model.and_then(|m| m.fit(&[1.0; 10])).err();
        assert!(
            matches!(
                err,
                Some(ModelError::TooShort {
                    needed: 13,
                    got: 10,
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn too_few_windows_are_refused() {
        assert!(WindowMean::new(3).and_then(|m| Conformal::new(m, 2, 6)).is_err());
    }
}
