//! Automatic exponential smoothing (ETS) through augurs, a port of statsforecast's AutoETS.
//!
//! augurs selects among the non-seasonal ETS models (additive or multiplicative errors; no,
//! additive or damped trend; multiplicative errors only for strictly positive data) by AICc.
//! It has no seasonal ETS, so [`MstlEts`] covers seasonality the way statsforecast's `MSTL`
//! does: MSTL removes the seasonal component, AutoETS forecasts the seasonally adjusted series,
//! and the last seasonal cycle is added back.
//!
//! Both give normal prediction intervals; the quantiles here are the normal quantiles with the
//! horizon's standard deviation recovered from augurs' 80% interval (exact for the normal
//! intervals augurs computes). With `nonnegative` (the default, for counts) means and
//! quantiles are clipped at zero.

use augurs::ets::AutoETS;
use augurs::mstl::MSTLModel;
use augurs::{Fit, Predict};

use crate::{Fitted, Forecast, Forecaster, ModelError, check_finite, check_probs, normal_ppf};

/// The interval level read from augurs to recover each horizon's standard deviation.
const LEVEL: f64 = 0.8;

fn failed(model: &str, e: impl std::fmt::Display) -> ModelError {
    ModelError::FitFailed {
        model: model.to_string(),
        message: e.to_string(),
    }
}

/// Turns augurs' point forecast and 80% interval into a forecast with any quantiles.
fn from_augurs(
    model: &str,
    f: augurs::Forecast,
    probs: &[f64],
    nonnegative: bool,
) -> Result<Forecast, ModelError> {
    let z = normal_ppf(0.5 + LEVEL / 2.0);
    let upper = f
        .intervals
        .map(|i| i.upper)
        .ok_or_else(|| failed(model, "the model returned no prediction interval"))?;
    let sd: Vec<f64> = f
        .point
        .iter()
        .zip(&upper)
        .map(|(p, u)| ((u - p) / z).max(0.0))
        .collect();
    if let Some(k) = f.point.iter().chain(&sd).position(|v| !v.is_finite()) {
        return Err(failed(model, format!("non-finite forecast at position {k}")));
    }
    let out = Forecast::normal(f.point, &sd, probs);
    Ok(if nonnegative { out.clip_nonnegative() } else { out })
}

/// AutoETS over the non-seasonal ETS models.
#[derive(Debug, Clone)]
pub struct AutoEts {
    nonnegative: bool,
}

impl Default for AutoEts {
    fn default() -> Self {
        AutoEts { nonnegative: true }
    }
}

impl AutoEts {
    /// Whether to clip forecasts at zero (default true: counts).
    pub fn nonnegative(mut self, yes: bool) -> Self {
        self.nonnegative = yes;
        self
    }
}

struct AutoEtsFit {
    fit: augurs::ets::FittedAutoETS,
    nonnegative: bool,
}

impl Forecaster for AutoEts {
    fn name(&self) -> &str {
        "auto_ets"
    }

    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>, ModelError> {
        check_finite(self.name(), y)?;
        let fit = AutoETS::non_seasonal()
            .fit(y)
            .map_err(|e| failed(self.name(), e))?;
        Ok(Box::new(AutoEtsFit {
            fit,
            nonnegative: self.nonnegative,
        }))
    }
}

impl Fitted for AutoEtsFit {
    fn predict(&self, h: usize, probs: &[f64]) -> Result<Forecast, ModelError> {
        check_probs("auto_ets", probs)?;
        let f = self.fit.predict(h, LEVEL).map_err(|e| failed("auto_ets", e))?;
        from_augurs("auto_ets", f, probs, self.nonnegative)
    }

    fn detail(&self) -> String {
        let m = self.fit.model();
        format!("ETS({}) AICc {:.2}", m.model_type(), m.aicc())
    }
}

/// MSTL decomposition with AutoETS on the seasonally adjusted series.
#[derive(Debug, Clone)]
pub struct MstlEts {
    period: usize,
    nonnegative: bool,
}

impl MstlEts {
    /// Seasonal period (12 for monthly data); needs at least two full cycles of data.
    pub fn new(period: usize) -> Result<Self, ModelError> {
        if period < 2 {
            return Err(ModelError::InvalidParams {
                model: "mstl_ets".into(),
                message: format!("seasonal period {period} must be at least 2"),
            });
        }
        Ok(MstlEts {
            period,
            nonnegative: true,
        })
    }

    /// Whether to clip forecasts at zero (default true: counts).
    pub fn nonnegative(mut self, yes: bool) -> Self {
        self.nonnegative = yes;
        self
    }
}

struct MstlEtsFit {
    fit: augurs::mstl::FittedMSTLModel,
    nonnegative: bool,
}

impl Forecaster for MstlEts {
    fn name(&self) -> &str {
        "mstl_ets"
    }

    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>, ModelError> {
        check_finite(self.name(), y)?;
        crate::check_len(self.name(), y, 2 * self.period)?;
        let model = MSTLModel::new(vec![self.period], AutoETS::non_seasonal().into_trend_model());
        let fit = model.fit(y).map_err(|e| failed(self.name(), e))?;
        Ok(Box::new(MstlEtsFit {
            fit,
            nonnegative: self.nonnegative,
        }))
    }
}

impl Fitted for MstlEtsFit {
    fn predict(&self, h: usize, probs: &[f64]) -> Result<Forecast, ModelError> {
        check_probs("mstl_ets", probs)?;
        let f = self.fit.predict(h, LEVEL).map_err(|e| failed("mstl_ets", e))?;
        from_augurs("mstl_ets", f, probs, self.nonnegative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trending_series_is_forecast_upwards_with_widening_intervals() {
        let y: Vec<f64> = (0..60)
            .map(|t| 10.0 + 2.0 * t as f64 + if t % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let f = AutoEts::default()
            .fit(&y)
            .and_then(|m| m.predict(6, &crate::DEFAULT_PROBS));
        let f = f.expect("fits");
        assert!(f.mean[0] > 125.0 && f.mean[5] > f.mean[0], "{:?}", f.mean);
        let (lo, hi) = f.interval(0.8).expect("asked for");
        assert!(hi[5] - lo[5] > hi[0] - lo[0]);
    }

    #[test]
    fn mstl_needs_two_cycles() {
        let err = MstlEts::new(12).and_then(|m| m.fit(&[1.0; 20])).err();
        assert!(
            matches!(err, Some(ModelError::TooShort { needed: 24, .. })),
            "{err:?}"
        );
    }
}
