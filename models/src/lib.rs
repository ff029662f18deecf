//! vigil's forecasting models.
//!
//! The API follows the fit → fitted model → predict shape of augurs and linfa: a [`Forecaster`]
//! holds checked settings, [`Forecaster::fit`] learns from one series and returns a [`Fitted`]
//! model, and [`Fitted::predict`] gives a [`Forecast`] for the next `h` periods. Models for
//! counts never forecast below zero.

mod baselines;

pub use baselines::{Naive, SeasonalNaive};

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
}

/// Point forecasts for periods 1..=h after the last observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// `point[k]` is the forecast for horizon `k + 1`.
    pub point: Vec<f64>,
}

/// A model with checked settings, ready to fit.
pub trait Forecaster: Send + Sync {
    /// The name written in output tables (`naive`, `seasonal_naive`).
    fn name(&self) -> &str;
    /// Learns from `y` (oldest first).
    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>, ModelError>;
}

/// A fitted model.
pub trait Fitted: Send + Sync {
    /// Forecasts the next `h` periods.
    fn predict(&self, h: usize) -> Forecast;
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
