//! Change points in a region's series: Bayesian online change-point detection (BOCPD, Adams and
//! MacKay 2007) through augurs' `changepoint` support.
//!
//! * **Model.** The series is taken on the log1p scale (fatality counts are heavy-tailed) and
//!   standardised to mean 0 and variance 1, so one prior fits every region: a Gaussian with a
//!   Normal–Gamma prior (μ₀ = 0, κ = 1, α = 1, β = 1).
//! * **Hazard instead of a penalty.** BOCPD has no penalty term; the constant hazard 1/λ plays
//!   that role. λ = 60 periods (default) says a change is expected about every five years of
//!   months; a smaller λ finds more, smaller changes.
//! * **Change points** are where the most probable run length restarts. Segments shorter than
//!   `min_segment` periods are merged into the previous one, so a single spike is not reported
//!   as two changes.
//! * A constant series (e.g. all zeros) has no change points.

use augurs::changepoint::dist::NormalGamma;
use augurs::changepoint::{Detector, NormalGammaDetector};

/// How change points are found.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangepointSettings {
    /// Expected periods between changes (the inverse of the constant hazard).
    pub hazard_lambda: f64,
    /// Shortest segment kept.
    pub min_segment: usize,
}

impl Default for ChangepointSettings {
    fn default() -> Self {
        ChangepointSettings {
            hazard_lambda: 60.0,
            min_segment: 6,
        }
    }
}

/// Positions where a new segment starts (each > 0, ascending).
pub fn changepoints(y: &[f64], s: &ChangepointSettings) -> Vec<usize> {
    let n = y.len();
    if n < 2 * s.min_segment.max(1) {
        return Vec::new();
    }
    let x: Vec<f64> = y.iter().map(|v| v.max(0.0).ln_1p()).collect();
    let mean = x.iter().sum::<f64>() / n as f64;
    let sd = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    if sd.is_nan() || sd <= 1e-12 {
        return Vec::new();
    }
    let z: Vec<f64> = x.iter().map(|v| (v - mean) / sd).collect();
    let prior = NormalGamma::new_unchecked(0.0, 1.0, 1.0, 1.0);
    let mut detector = NormalGammaDetector::normal_gamma(s.hazard_lambda, prior);
    let mut starts: Vec<usize> = Vec::new();
    for c in detector.detect_changepoints(&z) {
        if c == 0 || c >= n {
            continue;
        }
        let prev = starts.last().copied().unwrap_or(0);
        if c - prev >= s.min_segment && n - c >= s.min_segment {
            starts.push(c);
        }
    }
    starts
}

/// One row per change point: `level, region_id, ds` (first period of the new segment), `index`,
/// `segment_start` (first period of the segment before), `mean_before`, `mean_after` (the target
/// per period in the segments either side), `change` (after − before).
pub fn changepoints_frame(
    series: &[crate::data::series::RegionSeries],
    level: crate::Level,
    s: &ChangepointSettings,
) -> Result<polars::prelude::DataFrame, crate::EngineError> {
    use crate::data::period::{date_column, to_epoch_days};
    use polars::prelude::*;
    use rayon::prelude::*;
    let (mut region, mut ds, mut index, mut seg) = (vec![], vec![], vec![], vec![]);
    let (mut before, mut after) = (vec![], vec![]);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    // each region's change points in parallel, the table in region order
    let found: Vec<Vec<usize>> = series.par_iter().map(|r| changepoints(&r.y, s)).collect();
    for (r, cps) in series.iter().zip(found) {
        for (k, c) in cps.iter().enumerate() {
            let prev = if k == 0 { 0 } else { cps[k - 1] };
            let next = cps.get(k + 1).copied().unwrap_or(r.y.len());
            region.push(r.region_id.clone());
            ds.push(Some(to_epoch_days(r.ds[*c])));
            index.push(*c as u32);
            seg.push(Some(to_epoch_days(r.ds[prev])));
            before.push(mean(&r.y[prev..*c]));
            after.push(mean(&r.y[*c..next]));
        }
    }
    let n = region.len();
    let change: Vec<f64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    DataFrame::new(
        n,
        vec![
            Column::new("level".into(), vec![level.as_str(); n]),
            Column::new("region_id".into(), region),
            date_column("ds", ds)?,
            Column::new("index".into(), index),
            date_column("segment_start", seg)?,
            Column::new("mean_before".into(), before),
            Column::new("mean_after".into(), after),
            Column::new("change".into(), change),
        ],
    )
    .map_err(crate::EngineError::polars("building the change-point table"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_level_shift_is_found_near_where_it_was_planted() {
        // 60 quiet months (0–2), then 60 violent ones (20–24)
        let y: Vec<f64> = (0..120)
            .map(|t| {
                if t < 60 {
                    (t % 3) as f64
                } else {
                    20.0 + (t % 5) as f64
                }
            })
            .collect();
        let cps = changepoints(&y, &ChangepointSettings::default());
        assert_eq!(cps.len(), 1, "{cps:?}");
        assert!((58..=62).contains(&cps[0]), "{cps:?}");
    }

    #[test]
    fn constant_and_short_series_have_none() {
        let s = ChangepointSettings::default();
        assert!(changepoints(&[0.0; 120], &s).is_empty());
        assert!(changepoints(&[1.0, 50.0, 1.0], &s).is_empty());
    }
}
