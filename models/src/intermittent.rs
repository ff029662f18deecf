//! Models for intermittent counts: Croston's method (classic and the Syntetos–Boylan
//! approximation) and Teunter–Syntetos–Babai (TSB).
//!
//! Written by hand because no maintained Rust crate provides them; each is a few lines of
//! exponential smoothing. They follow statsforecast's definitions exactly (the golden tests
//! compare within 1e-6), including its simple exponential smoothing: the level starts at the
//! first value and is updated with every later one, and the forecast is the last level.
//! They give point forecasts only; wrap them in [`crate::Conformal`] for quantiles.

use crate::{ModelError, PointFit, PointModel, check_finite};

/// Simple exponential smoothing started at `x[0]`; returns the final level (the forecast).
fn ses(x: &[f64], alpha: f64) -> f64 {
    let mut level = x[0];
    for v in &x[1..] {
        level = alpha * v + (1.0 - alpha) * level;
    }
    level
}

fn check_counts(model: &str, y: &[f64]) -> Result<(), ModelError> {
    check_finite(model, y)?;
    if let Some(index) = y.iter().position(|v| *v < 0.0) {
        return Err(ModelError::InvalidParams {
            model: model.to_string(),
            message: format!("observation {index} is {}; counts cannot be negative", y[index]),
        });
    }
    Ok(())
}

fn check_alpha(model: &str, what: &str, a: f64) -> Result<(), ModelError> {
    if !(a > 0.0 && a <= 1.0) {
        return Err(ModelError::InvalidParams {
            model: model.to_string(),
            message: format!("{what} = {a} must lie in (0, 1]"),
        });
    }
    Ok(())
}

struct Constant(f64);

impl PointFit for Constant {
    fn mean(&self, h: usize) -> Vec<f64> {
        vec![self.0; h]
    }
}

/// Which Croston variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrostonKind {
    /// Croston (1972): demand size over demand interval, both smoothed with α = 0.1.
    Classic,
    /// Syntetos–Boylan approximation: the classic forecast × (1 − α/2) = × 0.95, which removes
    /// the classic method's upward bias.
    Sba,
}

/// Croston's method with smoothing constant 0.1, as in statsforecast.
#[derive(Debug, Clone)]
pub struct Croston {
    kind: CrostonKind,
}

impl Croston {
    /// The smoothing constant for sizes and intervals.
    pub const ALPHA: f64 = 0.1;

    /// Croston's method of the given kind.
    pub fn new(kind: CrostonKind) -> Self {
        Croston { kind }
    }
}

impl PointModel for Croston {
    fn name(&self) -> &str {
        match self.kind {
            CrostonKind::Classic => "croston",
            CrostonKind::Sba => "croston_sba",
        }
    }

    fn min_len(&self) -> usize {
        1
    }

    fn fit_point(&self, y: &[f64]) -> Result<Box<dyn PointFit>, ModelError> {
        check_counts(self.name(), y)?;
        let mut sizes = Vec::new();
        let mut intervals = Vec::new();
        let mut last = 0usize; // position after the previous demand (1-based index of it)
        for (i, v) in y.iter().enumerate() {
            if *v != 0.0 {
                sizes.push(*v);
                intervals.push((i + 1 - last) as f64);
                last = i + 1;
            }
        }
        if sizes.is_empty() {
            return Ok(Box::new(Constant(0.0)));
        }
        let size = ses(&sizes, Self::ALPHA);
        let interval = ses(&intervals, Self::ALPHA);
        let mut mean = if interval != 0.0 { size / interval } else { size };
        if self.kind == CrostonKind::Sba {
            mean *= 1.0 - Self::ALPHA / 2.0;
        }
        Ok(Box::new(Constant(mean)))
    }
}

/// Teunter–Syntetos–Babai: smooths the probability of a demand every period (`alpha_p`) and
/// the demand size only when one occurs (`alpha_d`); the forecast is their product. Unlike
/// Croston it decays towards zero while a region stays quiet.
#[derive(Debug, Clone)]
pub struct Tsb {
    alpha_d: f64,
    alpha_p: f64,
}

impl Tsb {
    /// TSB with smoothing constants for the demand size and the demand probability, each in
    /// (0, 1].
    pub fn new(alpha_d: f64, alpha_p: f64) -> Result<Self, ModelError> {
        check_alpha("tsb", "alpha_d", alpha_d)?;
        check_alpha("tsb", "alpha_p", alpha_p)?;
        Ok(Tsb { alpha_d, alpha_p })
    }
}

impl PointModel for Tsb {
    fn name(&self) -> &str {
        "tsb"
    }

    fn min_len(&self) -> usize {
        1
    }

    fn fit_point(&self, y: &[f64]) -> Result<Box<dyn PointFit>, ModelError> {
        check_counts(self.name(), y)?;
        let sizes: Vec<f64> = y.iter().copied().filter(|v| *v != 0.0).collect();
        if sizes.is_empty() {
            return Ok(Box::new(Constant(0.0)));
        }
        let occurred: Vec<f64> = y.iter().map(|v| f64::from(u8::from(*v != 0.0))).collect();
        let p = ses(&occurred, self.alpha_p);
        let d = ses(&sizes, self.alpha_d);
        Ok(Box::new(Constant(p * d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(m: &dyn PointModel, y: &[f64]) -> f64 {
        m.fit_point(y).map(|f| f.mean(1)[0]).unwrap_or(f64::NAN)
    }

    #[test]
    fn croston_by_hand() {
        // demands 3 (interval 2) and 5 (interval 3): size 3 → 0.1·5 + 0.9·3 = 3.2,
        // interval 2 → 0.1·3 + 0.9·2 = 2.1
        let y = [0.0, 3.0, 0.0, 0.0, 5.0];
        let classic = point(&Croston::new(CrostonKind::Classic), &y);
        assert!((classic - 3.2 / 2.1).abs() < 1e-12);
        let sba = point(&Croston::new(CrostonKind::Sba), &y);
        assert!((sba - 0.95 * 3.2 / 2.1).abs() < 1e-12);
    }

    #[test]
    fn tsb_by_hand() {
        // occurrence 0,1,0,0,1 smoothed with 0.5: 0 → .5 → .25 → .125 → .5625; sizes 3, 5 with
        // 0.2: 3 → 3.4
        let y = [0.0, 3.0, 0.0, 0.0, 5.0];
        let f = Tsb::new(0.2, 0.5).map(|m| point(&m, &y));
        assert!(f.is_ok_and(|f| (f - 0.5625 * 3.4).abs() < 1e-12));
    }

    #[test]
    fn quiet_series_forecast_zero_and_negative_counts_are_refused() {
        assert_eq!(point(&Croston::new(CrostonKind::Sba), &[0.0; 8]), 0.0);
        assert!(Tsb::new(0.1, 0.1).is_ok_and(|m| point(&m, &[0.0; 8]) == 0.0));
        assert!(
            Croston::new(CrostonKind::Classic)
                .fit_point(&[1.0, -2.0])
                .is_err()
        );
        assert!(Tsb::new(0.0, 0.1).is_err());
    }
}
