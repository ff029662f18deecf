//! Fitting one model to every region of a panel, in parallel, with a fallback.

use rayon::prelude::*;

use crate::{Forecast, Forecaster, ModelError};

/// One region's forecast from a panel run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RegionForecast {
    /// Position of the region's series in the input.
    pub index: usize,
    /// The model asked for (its forecast may come from the fallback; see `fell_back`).
    pub model: String,
    /// The forecast.
    pub forecast: Forecast,
    /// What was fitted (e.g. the ETS form), or empty.
    pub detail: String,
    /// Why the model failed and the fallback's forecast was used instead, if it did.
    pub fell_back: Option<String>,
}

/// Fits `model` to `y` and forecasts; if that fails, uses `fallback` and records why.
pub(crate) fn fit_or_fall_back(
    y: &[f64],
    model: &dyn Forecaster,
    fallback: &dyn Forecaster,
    h: usize,
    probs: &[f64],
) -> Result<(Forecast, String, Option<String>), ModelError> {
    match model.fit(y).and_then(|m| Ok((m.predict(h, probs)?, m.detail()))) {
        Ok((f, detail)) => Ok((f, detail, None)),
        Err(why) => {
            let m = fallback.fit(y)?;
            let f = m.predict(h, probs)?;
            Ok((f, format!("fallback {}", fallback.name()), Some(why.to_string())))
        }
    }
}

/// Fits `model` to every series in parallel and forecasts `h` periods with the quantiles at
/// `probs`. A series the model cannot fit gets `fallback`'s forecast, and the reason is kept in
/// [`RegionForecast::fell_back`]. Fails only if the fallback fails too.
pub fn forecast_panel(
    series: &[&[f64]],
    model: &dyn Forecaster,
    fallback: &dyn Forecaster,
    h: usize,
    probs: &[f64],
) -> Result<Vec<RegionForecast>, ModelError> {
    series
        .par_iter()
        .enumerate()
        .map(|(index, y)| {
            let (forecast, detail, fell_back) = fit_or_fall_back(y, model, fallback, h, probs)?;
            Ok(RegionForecast {
                index,
                model: model.name().to_string(),
                forecast,
                detail,
                fell_back,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DEFAULT_PROBS, Naive, SeasonalNaive};

    #[test]
    fn short_series_fall_back_with_a_reason() {
        let long: Vec<f64> = (0..30).map(f64::from).collect();
        let short = [4.0, 5.0];
        let out = SeasonalNaive::new(12)
            .and_then(|m| forecast_panel(&[&long, &short], &m, &Naive, 3, &DEFAULT_PROBS))
            .expect("fallback fits");
        assert_eq!(out[0].fell_back, None);
        assert_eq!(out[0].forecast.mean, vec![18.0, 19.0, 20.0]);
        assert_eq!(out[1].forecast.mean, vec![5.0; 3]);
        assert_eq!(out[1].model, "seasonal_naive");
        let why = out[1].fell_back.as_deref().unwrap_or("");
        assert!(why.contains("needs at least 12"), "{why}");
    }

    #[test]
    fn the_fallbacks_own_failure_is_an_error() {
        let empty: [f64; 0] = [];
        assert!(forecast_panel(&[&empty], &Naive, &Naive, 1, &DEFAULT_PROBS).is_err());
    }
}
