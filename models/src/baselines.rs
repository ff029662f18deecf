//! Baselines the conflict-forecasting field compares against.

use crate::{Fitted, Forecast, Forecaster, ModelError, check_finite};

/// Last value carried forward.
#[derive(Debug, Clone, Default)]
pub struct Naive;

struct NaiveFit {
    last: f64,
}

impl Forecaster for Naive {
    fn name(&self) -> &str {
        "naive"
    }

    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>, ModelError> {
        check_finite(self.name(), y)?;
        let last = *y.last().ok_or_else(|| ModelError::TooShort {
            model: self.name().into(),
            needed: 1,
            got: 0,
        })?;
        Ok(Box::new(NaiveFit { last }))
    }
}

impl Fitted for NaiveFit {
    fn predict(&self, h: usize) -> Forecast {
        Forecast {
            point: vec![self.last; h],
        }
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
            return Err(ModelError::InvalidParams {
                model: "seasonal_naive".into(),
                message: "season length must be at least 1".into(),
            });
        }
        Ok(SeasonalNaive { season })
    }
}

struct SeasonalNaiveFit {
    last_cycle: Vec<f64>,
}

impl Forecaster for SeasonalNaive {
    fn name(&self) -> &str {
        "seasonal_naive"
    }

    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>, ModelError> {
        check_finite(self.name(), y)?;
        if y.len() < self.season {
            return Err(ModelError::TooShort {
                model: self.name().into(),
                needed: self.season,
                got: y.len(),
            });
        }
        Ok(Box::new(SeasonalNaiveFit {
            last_cycle: y[y.len() - self.season..].to_vec(),
        }))
    }
}

impl Fitted for SeasonalNaiveFit {
    fn predict(&self, h: usize) -> Forecast {
        let m = self.last_cycle.len();
        Forecast {
            point: (0..h).map(|k| self.last_cycle[k % m]).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_repeats_the_last_value() {
        let f = Naive.fit(&[1.0, 5.0, 3.0]).map(|m| m.predict(3));
        assert_eq!(
            f,
            Ok(Forecast {
                point: vec![3.0, 3.0, 3.0]
            })
        );
    }

    #[test]
    fn seasonal_naive_repeats_the_last_cycle() {
        let y: Vec<f64> = (0..14).map(f64::from).collect();
        let m = SeasonalNaive::new(4)
            .and_then(|s| s.fit(&y))
            .map(|m| m.predict(6));
        assert_eq!(
            m,
            Ok(Forecast {
                point: vec![10.0, 11.0, 12.0, 13.0, 10.0, 11.0]
            })
        );
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
}
