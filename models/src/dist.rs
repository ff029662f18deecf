//! Predictive distributions for counts: the negative binomial (NB2) and a hurdle that puts
//! mass `1 − p` on zero and shifts a negative binomial by one for the positive part.
//!
//! Quantiles, probabilities and expectations are computed by walking the probability mass
//! function upwards in log space (`log P(k+1) = log P(k) + log ratio`), which stays accurate
//! for means from 1e-4 to thousands without a gamma function. The walk stops where the
//! remaining mass is negligible (far in the tail: the mean plus 60 standard deviations).

use serde::{Deserialize, Serialize};

/// Below this NB2 dispersion the distribution is treated as Poisson.
const POISSON_ALPHA: f64 = 1e-8;

/// A predictive distribution of a count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CountDist {
    /// Negative binomial with mean `mu` and variance `mu + alpha·mu²` (Poisson at `alpha` 0).
    NegBin {
        /// Mean.
        mu: f64,
        /// NB2 dispersion.
        alpha: f64,
    },
    /// `P(Y > 0) = p`, and `Y − 1 | Y > 0` is negative binomial with mean `mu` and dispersion
    /// `alpha`.
    Hurdle {
        /// Probability of a positive count.
        p: f64,
        /// Mean of `Y − 1` given `Y > 0`.
        mu: f64,
        /// NB2 dispersion of the positive part.
        alpha: f64,
    },
}

/// Walks the NB2 pmf: yields `P(0), P(1), …` up to a cap where the tail is negligible.
fn nb_pmf(mu: f64, alpha: f64) -> impl Iterator<Item = f64> {
    let mu = if mu.is_finite() { mu.max(0.0) } else { 0.0 };
    let alpha = if alpha.is_finite() { alpha.max(0.0) } else { 0.0 };
    let sd = (mu + alpha * mu * mu).sqrt();
    let cap = (mu + 60.0 * sd + 100.0).min(1e8) as u64;
    let poisson = alpha < POISSON_ALPHA;
    let r = if poisson { 0.0 } else { 1.0 / alpha };
    let mut log_p = if mu == 0.0 {
        0.0
    } else if poisson {
        -mu
    } else {
        r * (r / (r + mu)).ln()
    };
    let log_q = if poisson || mu == 0.0 {
        0.0
    } else {
        (mu / (mu + r)).ln()
    };
    let log_mu = if mu > 0.0 { mu.ln() } else { f64::NEG_INFINITY };
    (0..=cap).map(move |k| {
        let p = log_p.exp();
        let kf = k as f64;
        log_p += if poisson {
            log_mu - (kf + 1.0).ln()
        } else {
            ((kf + r) / (kf + 1.0)).ln() + log_q
        };
        if mu == 0.0 && k == 0 {
            1.0
        } else if mu == 0.0 {
            0.0
        } else {
            p
        }
    })
}

impl CountDist {
    /// The pmf `P(0), P(1), …` up to where the tail is negligible.
    pub fn pmf(&self) -> Box<dyn Iterator<Item = f64>> {
        match *self {
            CountDist::NegBin { mu, alpha } => Box::new(nb_pmf(mu, alpha)),
            CountDist::Hurdle { p, mu, alpha } => {
                let p = p.clamp(0.0, 1.0);
                Box::new(std::iter::once(1.0 - p).chain(nb_pmf(mu, alpha).map(move |v| p * v)))
            }
        }
    }

    /// The mean.
    pub fn mean(&self) -> f64 {
        match *self {
            CountDist::NegBin { mu, .. } => mu.max(0.0),
            CountDist::Hurdle { p, mu, .. } => p.clamp(0.0, 1.0) * (1.0 + mu.max(0.0)),
        }
    }

    /// Quantiles at `probs` (ascending): the smallest `k` with `P(Y ≤ k) ≥ prob`.
    pub fn quantiles(&self, probs: &[f64]) -> Vec<f64> {
        self.quantiles_and_exceedance(probs, &[]).0
    }

    /// Quantiles at `probs` (ascending) and `P(Y ≥ t)` for each threshold `t`, in one walk
    /// of the pmf that stops as soon as both are known.
    pub fn quantiles_and_exceedance(&self, probs: &[f64], thresholds: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let mut quantiles = vec![f64::NAN; probs.len()];
        let mut below = vec![0.0; thresholds.len()]; // P(Y < t)
        let last = thresholds.iter().fold(0.0f64, |m, t| m.max(t.ceil()));
        let mut cdf = 0.0;
        let mut next_q = 0;
        let mut k = 0.0;
        for (i, p) in self.pmf().enumerate() {
            k = i as f64;
            for (b, t) in below.iter_mut().zip(thresholds) {
                if k < *t {
                    *b += p;
                }
            }
            cdf += p;
            while next_q < probs.len() && cdf >= probs[next_q] {
                quantiles[next_q] = k;
                next_q += 1;
            }
            if next_q == probs.len() && k + 1.0 >= last {
                break;
            }
        }
        // probabilities the walk could not reach (beyond its far-tail cap) get its last count
        for q in &mut quantiles[next_q..] {
            *q = k;
        }
        let exceed = below.iter().map(|b| (1.0 - b).clamp(0.0, 1.0)).collect();
        (quantiles, exceed)
    }

    /// `P(Y ≥ t)` for a threshold `t` (a count; `t ≤ 0` gives 1).
    pub fn prob_at_least(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 1.0;
        }
        let below = t.ceil() as usize; // P(Y ≤ below − 1)
        let cdf: f64 = self.pmf().take(below).sum();
        (1.0 - cdf).clamp(0.0, 1.0)
    }

    /// `P(Y ≤ k)`.
    pub fn cdf(&self, k: usize) -> f64 {
        self.pmf().take(k + 1).sum::<f64>().min(1.0)
    }

    /// `E[log(1 + Y)]`: `expm1` of it is the point forecast that minimises the expected squared
    /// log error.
    pub fn mean_log1p(&self) -> f64 {
        // stop once the mass left is below 1e-13 (its share of the sum is then negligible)
        let (mut sum, mut cdf) = (0.0, 0.0);
        for (k, p) in self.pmf().enumerate() {
            sum += p * (k as f64).ln_1p();
            cdf += p;
            if 1.0 - cdf < 1e-13 {
                break;
            }
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_hand() {
        // scipy.stats.poisson.ppf([0.05, 0.5, 0.95], 4) = [1, 4, 8]
        let d = CountDist::NegBin { mu: 4.0, alpha: 0.0 };
        assert_eq!(d.quantiles(&[0.05, 0.5, 0.95]), vec![1.0, 4.0, 8.0]);
        // scipy.stats.nbinom.ppf([0.05, 0.5, 0.95], n=2, p=1/3) = [0, 3, 11]
        let d = CountDist::NegBin { mu: 4.0, alpha: 0.5 };
        assert_eq!(d.quantiles(&[0.05, 0.5, 0.95]), vec![0.0, 3.0, 11.0]);
        let (q, e) = d.quantiles_and_exceedance(&[0.5], &[1.0, 25.0]);
        assert_eq!(q, vec![3.0]);
        // 1 − nbinom.cdf(0, 2, 1/3) = 1 − 1/9; 1 − nbinom.cdf(24, 2, 1/3)
        assert!((e[0] - 8.0 / 9.0).abs() < 1e-12, "{e:?}");
        assert!((e[1] - d.prob_at_least(25.0)).abs() < 1e-12, "{e:?}");
        let zero = CountDist::NegBin { mu: 0.0, alpha: 0.5 };
        assert_eq!(zero.quantiles(&[0.5, 0.95]), vec![0.0, 0.0]);
        assert_eq!(zero.prob_at_least(1.0), 0.0);
    }

    #[test]
    fn the_hurdle_puts_one_minus_p_on_zero_and_shifts_the_rest() {
        let d = CountDist::Hurdle {
            p: 0.3,
            mu: 0.0,
            alpha: 0.0,
        };
        // Y is 0 with probability 0.7 and exactly 1 otherwise
        assert!((d.cdf(0) - 0.7).abs() < 1e-15);
        assert!((d.prob_at_least(1.0) - 0.3).abs() < 1e-15);
        assert_eq!(d.prob_at_least(2.0), 0.0);
        assert_eq!(d.quantiles(&[0.5, 0.71]), vec![0.0, 1.0]);
        assert!((d.mean() - 0.3).abs() < 1e-15);
        let d = CountDist::Hurdle {
            p: 0.5,
            mu: 3.0,
            alpha: 1.0,
        };
        let total: f64 = d.pmf().sum();
        assert!((total - 1.0).abs() < 1e-12, "{total}");
        let mean: f64 = d.pmf().enumerate().map(|(k, p)| k as f64 * p).sum();
        assert!((mean - d.mean()).abs() < 1e-9, "{mean}");
    }
}
