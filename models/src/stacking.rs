//! Stacking: the convex combination of several forecasts' quantiles that scores best on past
//! outcomes.
//!
//! The CRPS of a weighted average of quantiles is a sum of pinball losses of a linear function
//! of the weights, so it is convex in them; with the handful of members an ensemble stacks, an
//! exhaustive search of the simplex on a grid (steps of `1/steps`) finds the best grid point
//! deterministically, without an optimiser's tolerances. No crate offers quantile stacking on
//! the simplex, so it is written here.

use crate::metrics::crps_quantiles;

/// Every weight vector of `m` members on the simplex with steps of `1/steps`, in a fixed order.
fn compositions(m: usize, steps: usize) -> Vec<Vec<usize>> {
    fn rec(m: usize, left: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if cur.len() + 1 == m {
            cur.push(left);
            out.push(cur.clone());
            cur.pop();
            return;
        }
        for k in (0..=left).rev() {
            cur.push(k);
            rec(m, left - k, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    if m > 0 {
        rec(m, steps, &mut Vec::with_capacity(m), &mut out);
    }
    out
}

/// The weights (summing to 1, on a grid of `1/steps`) of the average of `quantiles[member][row]`
/// (each at levels `probs`) with the lowest mean CRPS against `y[row]`. Ties go to the earlier
/// grid point, which favours the earlier members; with no rows, equal weights.
pub fn stack_crps(quantiles: &[Vec<Vec<f64>>], y: &[f64], probs: &[f64], steps: usize) -> Vec<f64> {
    let m = quantiles.len();
    if m == 0 {
        return Vec::new();
    }
    if y.is_empty() || steps == 0 {
        return vec![1.0 / m as f64; m];
    }
    let k = probs.len();
    let mut best: Option<(f64, Vec<usize>)> = None;
    let mut combined = vec![0.0; k];
    for w in compositions(m, steps) {
        let mut total = 0.0;
        for (row, obs) in y.iter().enumerate() {
            combined.iter_mut().for_each(|c| *c = 0.0);
            for (member, wi) in w.iter().enumerate() {
                if *wi == 0 {
                    continue;
                }
                let f = *wi as f64 / steps as f64;
                for (c, q) in combined.iter_mut().zip(&quantiles[member][row]) {
                    *c += f * q;
                }
            }
            total += crps_quantiles(*obs, &combined, probs);
        }
        if best.as_ref().is_none_or(|(b, _)| total < *b) {
            best = Some((total, w));
        }
    }
    best.map_or_else(
        || vec![1.0 / m as f64; m],
        |(_, w)| w.iter().map(|v| *v as f64 / steps as f64).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_covers_the_simplex_once() {
        let c = compositions(3, 10);
        assert_eq!(c.len(), 66); // C(12, 2)
        assert!(c.iter().all(|w| w.iter().sum::<usize>() == 10));
        assert_eq!(c[0], vec![10, 0, 0]);
    }

    #[test]
    fn a_perfect_member_takes_all_the_weight_and_two_halves_make_a_whole() {
        let probs = [0.1, 0.5, 0.9];
        let y = [4.0, 10.0, 0.0];
        let exact: Vec<Vec<f64>> = y.iter().map(|v| vec![*v; 3]).collect();
        let off: Vec<Vec<f64>> = y.iter().map(|v| vec![v + 50.0; 3]).collect();
        assert_eq!(
            stack_crps(&[off.clone(), exact.clone()], &y, &probs, 10),
            vec![0.0, 1.0]
        );
        // one member 5 too low, the other 5 too high: their average is exact
        let low: Vec<Vec<f64>> = y.iter().map(|v| vec![v - 5.0; 3]).collect();
        let high: Vec<Vec<f64>> = y.iter().map(|v| vec![v + 5.0; 3]).collect();
        assert_eq!(stack_crps(&[low, high], &y, &probs, 10), vec![0.5, 0.5]);
        assert_eq!(stack_crps(&[off, exact], &[], &probs, 10), vec![0.5, 0.5]);
    }
}
