//! Global count models: one model fitted across all regions for one horizon (the
//! "stepshifter" design), from rows of features known at an origin and the count `h` periods
//! later.
//!
//! * [`GlobalKind::NegBin`]: a negative binomial (NB2) GLM with a log link; the dispersion α
//!   is estimated by maximum likelihood, alternating with the coefficients, and the predictive
//!   distribution is that negative binomial.
//! * [`GlobalKind::Hurdle`]: a logistic GLM for `P(y > 0)`, and the NB2 model above fitted to
//!   `y − 1` on the positive rows only for the size of the violence once it happens.
//!
//! Features are standardised with the training rows' means and standard deviations before the
//! fit (so one ridge penalty treats every feature alike); the model keeps them, so a saved model
//! predicts from raw feature rows. A model serialises to JSON with every number round-tripping
//! exactly, which is what lets a saved model reproduce a forecast byte for byte.

use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::dist::CountDist;
use crate::glm::{Family, Glm, GlmFit};

/// Which global model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GlobalKind {
    /// Negative binomial (NB2) GLM, log link, dispersion by maximum likelihood; its predictive
    /// distribution is that negative binomial.
    NegBin,
    /// Logistic `P(y > 0)` and a shifted negative binomial for the positive part.
    Hurdle,
}

impl GlobalKind {
    /// The model's name in outputs.
    pub fn name(self) -> &'static str {
        match self {
            GlobalKind::NegBin => "global_nb",
            GlobalKind::Hurdle => "hurdle",
        }
    }
}

/// A fitted global model for one horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalModel {
    /// Which model.
    pub kind: GlobalKind,
    /// The horizon it forecasts.
    pub horizon: usize,
    /// Feature names, in column order.
    pub features: Vec<String>,
    /// Means of the training features (subtracted before the fit).
    pub center: Vec<f64>,
    /// Standard deviations of the training features (1 for a constant feature).
    pub scale: Vec<f64>,
    /// The count GLM: the mean of `y` (NegBin) or of `y − 1` on positive rows (Hurdle).
    pub count: GlmFit,
    /// NB2 dispersion α of the count part (maximum likelihood).
    pub dispersion: f64,
    /// The logistic GLM for `P(y > 0)` (Hurdle only).
    pub zero: Option<GlmFit>,
    /// Training rows.
    pub rows: usize,
    /// Training rows with a positive count.
    pub positive_rows: usize,
    /// The ridge penalty used.
    pub l2: f64,
}

/// The maximum-likelihood NB2 dispersion α for counts `y` with known means `mu`, over
/// [1e-6, 1e3] (counts are rounded to integers). It solves the score equation in `r = 1/α`,
///
/// `Σ_i [ Σ_{j<y_i} 1/(r + j) + log(r / (r + μ_i)) + 1 − (r + y_i)/(r + μ_i) ] = 0`,
///
/// on `log r`, by Newton steps kept inside a bracket that bisection shrinks whenever a step
/// would leave it (the safeguarded Newton of Numerical Recipes' `rtsafe`): the score is
/// decreasing in `r` and its sign is far less sensitive to rounding than the flat likelihood
/// itself, so α comes out to near machine precision in a handful of passes over the data instead
/// of the fifty of plain bisection. Unlike the Pearson moment estimator, it is not dominated by
/// the few huge counts that follow a near-zero mean in conflict data.
pub fn nb_alpha_ml(y: &[f64], mu: &[f64]) -> f64 {
    nb_alpha_ml_near(y, mu, None)
}

/// [`nb_alpha_ml`] searched from `near`, a dispersion close to the answer (in a fit, the
/// previous iteration's α): Newton's method starts there instead of first bracketing the whole
/// range, so a nearby answer takes two or three passes over the data instead of eight or so.
/// The answer is the same to the search's precision. A `near` that is not strictly inside
/// (1e-6, 1e3) is ignored.
pub fn nb_alpha_ml_near(y: &[f64], mu: &[f64], near: Option<f64>) -> f64 {
    alpha_ml(&counts(y), mu, near)
}

/// Counts rounded to integers, as the dispersion's score takes them.
fn counts(y: &[f64]) -> Vec<usize> {
    y.iter().map(|v| v.max(0.0).round() as usize).collect()
}

/// [`nb_alpha_ml_near`] on counts already rounded (a fit searches α once per step, on the same
/// counts).
fn alpha_ml(counts: &[usize], mu: &[f64], near: Option<f64>) -> f64 {
    let top = counts.iter().copied().max().unwrap_or(0);
    // The score and its derivative in log r.
    let score = |log_r: f64| -> (f64, f64) {
        let r = log_r.exp();
        // Σ_{j<k} 1/(r + j) and Σ_{j<k} 1/(r + j)² for every k up to the largest count
        let mut harmonic = Vec::with_capacity(top + 1);
        let (mut h1, mut h2) = (0.0, 0.0);
        for j in 0..=top {
            harmonic.push((h1, h2));
            let inv = 1.0 / (r + j as f64);
            h1 += inv;
            h2 += inv * inv;
        }
        let (mut f, mut df) = (0.0, 0.0);
        for (k, m) in counts.iter().zip(mu) {
            let m = m.max(1e-12);
            let rm = r + m;
            let (a, b) = harmonic[*k];
            f += a + (r / rm).ln() + 1.0 - (r + *k as f64) / rm;
            df += -b + 1.0 / r - 1.0 / rm - (m - *k as f64) / (rm * rm);
        }
        (f, df * r)
    };
    // r from 1e-3 (α = 1e3) to 1e6 (α = 1e-6); the likelihood rises in r while the score is > 0
    let (mut lo, mut hi) = (1e-3f64.ln(), 1e6f64.ln());
    let mut x;
    let (mut f, mut df);
    match near.map(|a| -a.ln()).filter(|x| *x > lo && *x < hi) {
        Some(start) => {
            // the root is above the start while the score is positive there; should it be
            // beyond a bound, the steps end at that bound as the checks below would
            x = start;
            (f, df) = score(x);
            if f > 0.0 {
                lo = x;
            } else {
                hi = x;
            }
        }
        None => {
            if score(hi).0 >= 0.0 {
                return 1e-6;
            }
            if score(lo).0 <= 0.0 {
                return 1e3;
            }
            x = 0.5 * (lo + hi);
            (f, df) = score(x);
        }
    }
    let mut step_before = hi - lo;
    let mut step = step_before;
    for _ in 0..200 {
        // Newton's step unless it leaves the bracket or shrinks too slowly; then bisect.
        let newton = x - f / df;
        let bisect = df.is_nan()
            || df >= 0.0
            || newton <= lo
            || newton >= hi
            || (2.0 * f).abs() > (step_before * df).abs();
        step_before = step;
        if bisect {
            step = 0.5 * (hi - lo);
            x = lo + step;
        } else {
            step = x - newton;
            x = newton;
        }
        if step.abs() <= 1e-13 * x.abs().max(1.0) {
            break;
        }
        (f, df) = score(x);
        if f > 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        if hi - lo <= 1e-13 * x.abs().max(1.0) {
            break;
        }
    }
    (-x).exp()
}

/// A negative binomial regression with the coefficients and α estimated jointly by maximum
/// likelihood (penalised by `l2`), from a Poisson start. `x` holds `y.len()` rows of `k`
/// columns. Returns the fit and α.
///
/// Each iteration takes one Newton step on the coefficients at the current α, then sets α to
/// its maximum at the new means ([`nb_alpha_ml`]), until both settle: the coefficients' step
/// below the GLM tolerance and α's relative change below 1e-9. Every step raises the
/// likelihood, so this climbs to the maximum that R's `MASS::glm.nb` reaches by alternating
/// whole fits; for NB2 the coefficients and α are orthogonal (their expected cross-information
/// is zero), so the coupling is weak and a step each converges nearly as fast as the full
/// Newton iteration on both. In the global models' backtest of a 1,000-region job, a fit from
/// the previous origin's took 3.9 Newton steps on average (each forming X'WX; the GLM's steps
/// have since reused it once they are small), against 8.6 (in 3.7 whole fits) for the
/// alternation, and landed closer to the maximum (see the golden test against statsmodels).
pub fn fit_negbin(x: &[f64], k: usize, y: &[f64], l2: f64) -> Result<(GlmFit, f64), ModelError> {
    fit_negbin_from(x, k, y, l2, None)
}

/// [`fit_negbin`] from a start, coefficients on the scale of `x` and α (e.g. the fit of the
/// previous origin of a backtest, whose data differ by a month), instead of the Poisson fit:
/// the same maximum, to the same tolerances, in fewer steps. An unusable start (wrong length,
/// α not positive and finite) is ignored.
pub fn fit_negbin_from(
    x: &[f64],
    k: usize,
    y: &[f64],
    l2: f64,
    start: Option<(&[f64], f64)>,
) -> Result<(GlmFit, f64), ModelError> {
    let start = start.filter(|(coef, a)| coef.len() == k + 1 && *a > 0.0 && a.is_finite());
    let counts = counts(y);
    // (the Poisson start's Newton steps are counted in the fit's)
    let (coef, mut alpha, before) = match start {
        Some((coef, a)) => (coef.to_vec(), a, 0),
        None => {
            let poisson = Glm::new(Family::Poisson, l2).fit(x, k, y)?;
            let mu: Vec<f64> = x.chunks(k.max(1)).map(|r| poisson.mean(r)).collect();
            let alpha = alpha_ml(&counts, &mu, None);
            (poisson.coef, alpha, poisson.iterations)
        }
    };
    let glm = Glm::new(Family::NegBin { alpha }, l2);
    let mut newton = glm.newton(x, k, y, Some(&coef))?;
    let mut mu = vec![0.0; y.len()];
    while newton.iterations() < glm.max_iter {
        let converged = newton.step()?;
        for (m, e) in mu.iter_mut().zip(newton.eta()) {
            *m = glm.family.inverse_link(*e);
        }
        let next = alpha_ml(&counts, &mu, Some(alpha));
        let settled = (next.ln() - alpha.ln()).abs() < 1e-9;
        if next != alpha {
            alpha = next;
            newton.set_alpha(alpha);
        }
        if converged && settled {
            let mut fit = newton.finish()?;
            fit.iterations += before;
            return Ok((fit, alpha));
        }
    }
    Err(newton.no_convergence())
}

impl GlobalModel {
    /// Fits a global model on `n` rows of `names.len()` features (row after row in `x`) and
    /// the non-negative counts `y`, with ridge penalty `l2` on the standardised features.
    pub fn fit(
        kind: GlobalKind,
        horizon: usize,
        names: &[&str],
        x: &[f64],
        y: &[f64],
        l2: f64,
    ) -> Result<GlobalModel, ModelError> {
        Self::fit_from(kind, horizon, names, x, y, l2, None)
    }

    /// [`GlobalModel::fit`] starting from the coefficients and dispersion of `start`, a model of
    /// the same kind and features fitted on similar data (the previous origin of a backtest).
    /// The maximum is the same, to the fit's tolerances; it is reached in fewer Newton steps.
    /// A start of another kind or with other features is ignored.
    pub fn fit_from(
        kind: GlobalKind,
        horizon: usize,
        names: &[&str],
        x: &[f64],
        y: &[f64],
        l2: f64,
        start: Option<&GlobalModel>,
    ) -> Result<GlobalModel, ModelError> {
        Self::fit_owned(kind, horizon, names, x.to_vec(), y, l2, start)
    }

    /// [`GlobalModel::fit_from`] on features the caller gives up: they are standardised in
    /// place instead of into a copy, so a fit on a large design holds it once, not twice.
    pub fn fit_owned(
        kind: GlobalKind,
        horizon: usize,
        names: &[&str],
        mut x: Vec<f64>,
        y: &[f64],
        l2: f64,
        start: Option<&GlobalModel>,
    ) -> Result<GlobalModel, ModelError> {
        let k = names.len();
        let n = y.len();
        if x.len() != n * k {
            return Err(ModelError::InvalidParams {
                model: kind.name().into(),
                message: format!("{} feature values for {n} rows of {k} features", x.len()),
            });
        }
        // column means and variances, in one pass over the rows each (the same sums, in the
        // same order, as column by column, without striding through memory k times)
        let mut center = vec![0.0; k];
        let mut scale = vec![1.0; k];
        let mut sq = vec![0.0; k];
        for row in x.chunks_exact(k.max(1)) {
            for (c, v) in center.iter_mut().zip(row) {
                *c += v;
            }
        }
        for c in &mut center {
            *c /= n.max(1) as f64;
        }
        for row in x.chunks_exact(k.max(1)) {
            for ((s, v), m) in sq.iter_mut().zip(row).zip(&center) {
                *s += (v - m).powi(2);
            }
        }
        for (s, v) in scale.iter_mut().zip(&sq) {
            let v = v / n.max(1) as f64;
            if v > 1e-12 {
                *s = v.sqrt();
            }
        }
        let start = start.filter(|s| {
            s.kind == kind && s.features.len() == k && s.features.iter().zip(names).all(|(a, b)| a == b)
        });
        // a start's coefficients re-expressed for this fit's standardisation: the same linear
        // predictor of the raw features
        let carry = |from: &GlobalModel, fit: &GlmFit| -> Vec<f64> {
            let mut coef = Vec::with_capacity(k + 1);
            let shift: f64 = (0..k)
                .map(|j| fit.coef[j + 1] * (center[j] - from.center[j]) / from.scale[j])
                .sum();
            coef.push(fit.coef[0] + shift);
            coef.extend((0..k).map(|j| fit.coef[j + 1] * scale[j] / from.scale[j]));
            coef
        };
        for row in x.chunks_mut(k.max(1)) {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (*v - center[j]) / scale[j];
            }
        }
        let z = x;
        let positive_rows = y.iter().filter(|v| **v > 0.0).count();
        // the count part's start (NegBin: the whole model; Hurdle: the positive part)
        let count_start = start.map(|s| (carry(s, &s.count), s.dispersion));
        let count_from = count_start.as_ref().map(|(c, a)| (c.as_slice(), *a));
        let (count, dispersion, zero) = match kind {
            GlobalKind::NegBin => {
                let (fit, a) = fit_negbin_from(&z, k, y, l2, count_from)?;
                (fit, a, None)
            }
            GlobalKind::Hurdle => {
                let any: Vec<f64> = y.iter().map(|v| f64::from(u8::from(*v > 0.0))).collect();
                let zero = if positive_rows == n || positive_rows == 0 {
                    // Every row had an event (a country-level series, say) or none did: the
                    // logistic part has no maximum, and the data say P(y > 0) is 1 or 0. A logit
                    // of ±40 is that probability to machine precision, finite for model.json.
                    let mut coef = vec![0.0; k + 1];
                    coef[0] = if positive_rows == n { 40.0 } else { -40.0 };
                    GlmFit {
                        family: Family::Binomial,
                        coef,
                        iterations: 0,
                    }
                } else {
                    // (a start whose zero part was certain, fitted in no step, is no start)
                    let from =
                        start.and_then(|s| s.zero.as_ref().filter(|z| z.iterations > 0).map(|z| carry(s, z)));
                    Glm::new(Family::Binomial, l2).fit_from(&z, k, &any, from.as_deref())?
                };
                // The count part is fitted on the rows with events. They are moved to the front
                // of the design it owns, in order, rather than copied out: at 10,000 regions the
                // copy was 130 MB for each of the two fits that run at once.
                let mut z = z;
                let mut yp = Vec::with_capacity(positive_rows);
                for (i, v) in y.iter().enumerate() {
                    if *v > 0.0 {
                        let kept = yp.len();
                        if kept != i {
                            z.copy_within(i * k..(i + 1) * k, kept * k);
                        }
                        yp.push(v - 1.0);
                    }
                }
                z.truncate(yp.len() * k);
                let (fit, a) = fit_negbin_from(&z, k, &yp, l2, count_from)?;
                (fit, a, Some(zero))
            }
        };
        Ok(GlobalModel {
            kind,
            horizon,
            features: names.iter().map(|s| s.to_string()).collect(),
            center,
            scale,
            count,
            dispersion,
            zero,
            rows: n,
            positive_rows,
            l2,
        })
    }

    fn standardise(&self, row: &[f64]) -> Vec<f64> {
        row.iter()
            .enumerate()
            .map(|(j, v)| (v - self.center[j]) / self.scale[j])
            .collect()
    }

    /// The predictive distribution for one row of raw features.
    pub fn distribution(&self, row: &[f64]) -> CountDist {
        let z = self.standardise(row);
        let mu = self.count.mean(&z);
        match &self.zero {
            Some(zero) => CountDist::Hurdle {
                p: zero.mean(&z),
                mu,
                alpha: self.dispersion,
            },
            None => CountDist::NegBin {
                mu,
                alpha: self.dispersion,
            },
        }
    }

    /// Each feature's contribution to the linear predictor for one row: coefficient ×
    /// standardised value, in [`GlobalModel::features`] order. For the hurdle these are the
    /// terms of the logit of `P(y > 0)`, the part that raises or lowers the alarm.
    pub fn contributions(&self, row: &[f64]) -> Vec<f64> {
        let z = self.standardise(row);
        let fit = self.zero.as_ref().unwrap_or(&self.count);
        fit.coef[1..].iter().zip(&z).map(|(b, v)| b * v).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// A Poisson draw by inversion (small means only).
    fn poisson(rng: &mut SplitMix64, mu: f64) -> f64 {
        let u = rng.uniform();
        let (mut k, mut p) = (0.0, (-mu).exp());
        let mut cdf = p;
        while cdf < u && k < 1000.0 {
            k += 1.0;
            p *= mu / k;
            cdf += p;
        }
        k
    }

    /// `n` rows of two features and a count, each drawn by `draw`: features row after row, counts.
    fn draws(
        seed: u64,
        n: usize,
        mut draw: impl FnMut(&mut SplitMix64) -> ([f64; 2], f64),
    ) -> (Vec<f64>, Vec<f64>) {
        let mut rng = SplitMix64::new(seed);
        let (mut x, mut y) = (Vec::with_capacity(2 * n), Vec::with_capacity(n));
        for _ in 0..n {
            let (row, count) = draw(&mut rng);
            x.extend(row);
            y.push(count);
        }
        (x, y)
    }

    #[test]
    fn poisson_data_give_no_dispersion_and_the_true_coefficients() {
        let (x, y) = draws(7, 4000, |rng| {
            let a = rng.uniform() * 2.0;
            let b = rng.uniform();
            ([a, b], poisson(rng, (0.2 + 0.6 * a - 0.5 * b).exp()))
        });
        let m = GlobalModel::fit(GlobalKind::NegBin, 1, &["a", "b"], &x, &y, 0.0).expect("fits");
        assert!(m.dispersion < 0.02, "{}", m.dispersion);
        // back on the raw scale: slope = coefficient / scale
        let slope_a = m.count.coef[1] / m.scale[0];
        assert!((slope_a - 0.6).abs() < 0.06, "{slope_a}");
        let d = m.distribution(&[1.0, 0.5]);
        assert!(
            (d.mean() - (0.2f64 + 0.6 - 0.25).exp()).abs() < 0.15,
            "{}",
            d.mean()
        );
    }

    /// A fit started from the model of slightly different data (the previous origin) reaches
    /// the maximum a cold fit reaches, for both kinds, in fewer Newton steps.
    #[test]
    fn a_warm_start_reaches_the_same_maximum_in_fewer_steps() {
        let (x, y) = draws(21, 3000, |rng| {
            let a = rng.uniform() * 3.0;
            let b = rng.normal();
            let mu = (-1.0 + 0.7 * a + 0.3 * b).exp();
            // overdispersed: a gamma-like mixing of the Poisson mean
            let mixing = -rng.uniform().max(1e-12).ln();
            ([a, b], poisson(rng, mu * mixing))
        });
        let (earlier, later) = ((0..2700), (300..3000));
        for kind in [GlobalKind::NegBin, GlobalKind::Hurdle] {
            let fit = |rows: std::ops::Range<usize>, start: Option<&GlobalModel>| {
                GlobalModel::fit_from(
                    kind,
                    1,
                    &["a", "b"],
                    &x[rows.start * 2..rows.end * 2],
                    &y[rows],
                    0.5,
                    start,
                )
                .expect("fits")
            };
            let before = fit(earlier.clone(), None);
            let cold = fit(later.clone(), None);
            let warm = fit(later.clone(), Some(&before));
            for (c, w) in cold.count.coef.iter().zip(&warm.count.coef) {
                assert!(
                    (c - w).abs() < 1e-7,
                    "{kind:?}: {:?} {:?}",
                    cold.count.coef,
                    warm.count.coef
                );
            }
            assert!((cold.dispersion / warm.dispersion - 1.0).abs() < 1e-7, "{kind:?}");
            if let (Some(c), Some(w)) = (&cold.zero, &warm.zero) {
                assert!(
                    c.coef.iter().zip(&w.coef).all(|(c, w)| (c - w).abs() < 1e-7),
                    "{c:?} {w:?}"
                );
                assert!(w.iterations < c.iterations, "{} {}", w.iterations, c.iterations);
            }
            // (a cold fit's count includes its Poisson start's steps)
            assert!(
                warm.count.iterations < cold.count.iterations,
                "{kind:?}: {} {}",
                warm.count.iterations,
                cold.count.iterations
            );
        }
    }

    #[test]
    fn the_dispersion_of_geometric_counts_is_one() {
        // a geometric count with mean μ is NB2 with α = 1
        let mut rng = SplitMix64::new(3);
        let mu: Vec<f64> = (0..20000).map(|i| 0.5 + f64::from(i % 10)).collect();
        let y: Vec<f64> = mu
            .iter()
            .map(|m| {
                let p = 1.0 / (1.0 + m);
                (rng.uniform().max(1e-300).ln() / (1.0 - p).ln()).floor()
            })
            .collect();
        let a = nb_alpha_ml(&y, &mu);
        assert!((a - 1.0).abs() < 0.05, "{a}");
        // Poisson-like counts (y = μ exactly) have no extra dispersion
        let flat: Vec<f64> = mu.iter().map(|m| m.round()).collect();
        assert!(nb_alpha_ml(&flat, &flat) <= 1e-6);
    }

    /// Searched from any start, near or far, at a bound or unusable, the dispersion is the one
    /// found by bracketing the whole range, including answers at the range's bounds.
    #[test]
    fn the_dispersion_is_the_same_from_any_start() {
        let mut rng = SplitMix64::new(5);
        let mu: Vec<f64> = (0..5000).map(|i| 0.2 + f64::from(i % 17)).collect();
        // counts with α of about 0.5, Poisson-like counts (α at its lower bound) and counts
        // far more dispersed than α = 1e3 allows (at its upper bound)
        let mixed: Vec<f64> = mu
            .iter()
            .map(|m| {
                let g = -rng.uniform().max(1e-12).ln() * 0.5 - rng.uniform().max(1e-12).ln() * 0.5;
                poisson(&mut rng, m * g)
            })
            .collect();
        let flat: Vec<f64> = mu.iter().map(|m| m.round()).collect();
        let wild: Vec<f64> = (0..5000)
            .map(|i| if i % 1000 == 0 { 5000.0 } else { 0.0 })
            .collect();
        for y in [&mixed, &flat, &wild] {
            let whole = nb_alpha_ml(y, &mu);
            for near in [
                0.5,
                0.49,
                1e-5,
                1.0000001e-6,
                1e-6,
                999.0,
                1e3,
                5e3,
                0.0,
                -1.0,
                f64::NAN,
            ] {
                let a = nb_alpha_ml_near(y, &mu, Some(near));
                assert!(
                    (a / whole - 1.0).abs() < 1e-11,
                    "from {near}: {a} against {whole}"
                );
            }
        }
        assert!((nb_alpha_ml(&mixed, &mu) - 0.5).abs() < 0.15);
        assert_eq!(nb_alpha_ml(&flat, &mu), 1e-6);
        assert_eq!(nb_alpha_ml(&wild, &mu), 1e3);
    }

    /// Every row with an event (as at country level): the hurdle's zero part is certain, not
    /// an error, and the counts are still fitted.
    #[test]
    fn a_hurdle_whose_rows_all_have_events_is_certain_of_one() {
        let x: Vec<f64> = (0..60).map(|i| f64::from(i % 6)).collect();
        let y: Vec<f64> = x.iter().map(|v| 3.0 + v).collect();
        let m = GlobalModel::fit(GlobalKind::Hurdle, 1, &["x"], &x, &y, 1.0).expect("fits");
        match m.distribution(&[2.0]) {
            CountDist::Hurdle { p, mu, .. } => {
                assert_eq!(p, 1.0);
                assert!(mu > 1.0, "{mu}");
            }
            other => panic!("{other:?}"),
        }
        assert!(serde_json::to_string(&m).is_ok(), "finite, so it can be saved");
    }

    #[test]
    fn overdispersed_data_are_found_overdispersed_and_the_hurdle_sees_the_zeros() {
        let mut rng = SplitMix64::new(11);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for _ in 0..3000 {
            let a = rng.uniform();
            x.push(a);
            // a gamma-ish mixture: mostly zeros, sometimes large
            let burst = if rng.uniform() < 0.2 + 0.5 * a { 1.0 } else { 0.0 };
            let size = 8.0 * rng.uniform() * (1.0 + a);
            y.push(burst * (1.0 + poisson(&mut rng, size)));
        }
        let nb = GlobalModel::fit(GlobalKind::NegBin, 2, &["a"], &x, &y, 1.0).expect("fits");
        assert!(nb.dispersion > 0.5, "{}", nb.dispersion);
        let h = GlobalModel::fit(GlobalKind::Hurdle, 2, &["a"], &x, &y, 1.0).expect("fits");
        let low = h.distribution(&[0.0]).prob_at_least(1.0);
        let high = h.distribution(&[1.0]).prob_at_least(1.0);
        assert!(
            (low - 0.2).abs() < 0.05 && (high - 0.7).abs() < 0.05,
            "{low} {high}"
        );
        // the saved form predicts exactly what the fitted model does
        let json = serde_json::to_string(&h).expect("serialises");
        let back: GlobalModel = serde_json::from_str(&json).expect("reads");
        assert_eq!(back, h);
        assert_eq!(back.distribution(&[0.3]), h.distribution(&[0.3]));
    }
}
