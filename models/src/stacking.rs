//! Stacking: the convex combination of several forecasts' quantiles that scores best on past
//! outcomes.
//!
//! The CRPS of a weighted average of quantiles is a sum of pinball losses of a linear function
//! of the weights, so it is convex in them. The weights are searched on a grid of the simplex
//! (steps of `1/steps`), which keeps the answer deterministic and free of an optimiser's
//! tolerances; [`stack_crps_exhaustive`] scores every grid point. [`stack_crps`] finds the same
//! grid point with far fewer scorings: each scoring also gives a subgradient, and convexity makes
//! `F(g) + s·(w − g)` a lower bound of the score at every other grid point `w` (Kelley's cutting
//! planes). It scores the grid point whose bound is lowest until every unscored point's bound
//! exceeds the best score by more than the rounding error of the sums, so every point that
//! could win or tie is scored exactly as the exhaustive search scores it, and ties go to the
//! same point. No crate offers quantile stacking on the simplex, so it is written here.

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

/// The score of grid weights `w` (in steps): the CRPS of the averaged quantiles summed over the
/// rows, and, when `grad` is given, a subgradient of that sum with respect to the weights.
/// Both searches score through this one function, so a grid point gets the same total in each.
fn score<Q: AsRef<[f64]>>(
    quantiles: &[Vec<Q>],
    y: &[f64],
    probs: &[f64],
    w: &[usize],
    steps: usize,
    mut grad: Option<(&mut [f64], &mut [f64])>,
) -> f64 {
    let k = probs.len();
    let mut combined = vec![0.0; k];
    let mut total = 0.0;
    if let Some((g, a)) = grad.as_mut() {
        g.iter_mut().for_each(|v| *v = 0.0);
        a.iter_mut().for_each(|v| *v = 0.0);
    }
    let scale = 2.0 / k as f64;
    for (row, obs) in y.iter().enumerate() {
        combined.iter_mut().for_each(|c| *c = 0.0);
        for (member, wi) in w.iter().enumerate() {
            if *wi == 0 {
                continue;
            }
            let f = *wi as f64 / steps as f64;
            for (c, q) in combined.iter_mut().zip(quantiles[member][row].as_ref()) {
                *c += f * q;
            }
        }
        total += crps_quantiles(*obs, &combined, probs);
        if let Some((g, a)) = grad.as_mut() {
            // d pinball / d q is −p below the outcome and 1 − p above it (−p at it: any value
            // in [−p, 1 − p] is a subgradient there)
            for (member, (gm, am)) in g.iter_mut().zip(a.iter_mut()).enumerate() {
                let (mut s, mut abs) = (0.0, 0.0);
                for ((c, p), q) in combined.iter().zip(probs).zip(quantiles[member][row].as_ref()) {
                    let d = if *c > *obs { 1.0 - p } else { -p };
                    s += d * q;
                    abs += (d * q).abs();
                }
                *gm += scale * s;
                *am += scale * abs;
            }
        }
    }
    total
}

fn equal_weights(m: usize) -> Vec<f64> {
    vec![1.0 / m as f64; m]
}

fn to_weights(w: &[usize], steps: usize) -> Vec<f64> {
    w.iter().map(|v| *v as f64 / steps as f64).collect()
}

/// [`stack_crps`] by scoring every grid point: the reference the faster search is tested
/// against.
pub fn stack_crps_exhaustive<Q: AsRef<[f64]>>(
    quantiles: &[Vec<Q>],
    y: &[f64],
    probs: &[f64],
    steps: usize,
) -> Vec<f64> {
    let m = quantiles.len();
    if m == 0 {
        return Vec::new();
    }
    if y.is_empty() || steps == 0 {
        return equal_weights(m);
    }
    let mut best: Option<(f64, Vec<usize>)> = None;
    for w in compositions(m, steps) {
        let total = score(quantiles, y, probs, &w, steps, None);
        if best.as_ref().is_none_or(|(b, _)| total < *b) {
            best = Some((total, w));
        }
    }
    best.map_or_else(|| equal_weights(m), |(_, w)| to_weights(&w, steps))
}

/// How far, relative to the sums involved, a computed lower bound may be from the exact one:
/// the scores and subgradients are sums of up to rows × levels terms, whose rounding error is
/// bounded by about that count × 1.1e-16 of the sum of their magnitudes; 1e-8 covers ten
/// million rows of ten levels. A larger value only costs extra scorings, never the answer.
const BOUND_SLACK: f64 = 1e-8;

/// The weights (summing to 1, on a grid of `1/steps`) of the average of `quantiles[member][row]`
/// (each at levels `probs`) with the lowest mean CRPS against `y[row]`. Ties go to the earlier
/// grid point, which favours the earlier members; with no rows, equal weights. The same answer
/// as [`stack_crps_exhaustive`], from a few dozen scorings instead of every grid point (module
/// docs).
pub fn stack_crps<Q: AsRef<[f64]>>(quantiles: &[Vec<Q>], y: &[f64], probs: &[f64], steps: usize) -> Vec<f64> {
    cutting_planes(quantiles, y, probs, steps).0
}

/// [`stack_crps`] and how many grid points it scored.
fn cutting_planes<Q: AsRef<[f64]>>(
    quantiles: &[Vec<Q>],
    y: &[f64],
    probs: &[f64],
    steps: usize,
) -> (Vec<f64>, usize) {
    let m = quantiles.len();
    if m == 0 {
        return (Vec::new(), 0);
    }
    if y.is_empty() || steps == 0 {
        return (equal_weights(m), 0);
    }
    // the bounds need finite numbers; a non-finite one makes every total NaN or infinite,
    // where the exhaustive search's order of comparison decides, so leave it to that search
    let finite = y.iter().all(|v| v.is_finite())
        && quantiles.iter().all(|member| {
            member
                .iter()
                .all(|row| row.as_ref().iter().all(|v| v.is_finite()))
        });
    let grid = compositions(m, steps);
    if !finite || probs.iter().any(|p| !p.is_finite()) {
        return (stack_crps_exhaustive(quantiles, y, probs, steps), grid.len());
    }
    let points: Vec<Vec<f64>> = grid.iter().map(|w| to_weights(w, steps)).collect();
    let mut bound = vec![f64::NEG_INFINITY; grid.len()];
    let mut scored = vec![false; grid.len()];
    let (mut g, mut a) = (vec![0.0; m], vec![0.0; m]);
    let mut slack: f64 = 0.0;
    // start from the grid point nearest equal weights (the first of them)
    let centre = 1.0 / m as f64;
    let mut next = (0..grid.len())
        .min_by(|i, j| {
            let d = |k: &usize| points[*k].iter().map(|v| (v - centre).powi(2)).sum::<f64>();
            d(i).total_cmp(&d(j)).then(i.cmp(j))
        })
        .unwrap_or(0);
    let mut best = (f64::INFINITY, usize::MAX);
    let mut scorings = 0;
    loop {
        scorings += 1;
        let f = score(quantiles, y, probs, &grid[next], steps, Some((&mut g, &mut a)));
        scored[next] = true;
        if f < best.0 || (f == best.0 && next < best.1) {
            best = (f, next);
        }
        let largest = a.iter().fold(0.0_f64, |acc, v| acc.max(*v));
        slack = slack.max(BOUND_SLACK * (f.abs() + 2.0 * m as f64 * largest));
        let at = &points[next];
        for (b, w) in bound.iter_mut().zip(&points) {
            let cut = f + g
                .iter()
                .zip(w.iter().zip(at))
                .map(|(s, (wi, ai))| s * (wi - ai))
                .sum::<f64>();
            *b = b.max(cut);
        }
        // the unscored point with the lowest bound, if it could still win or tie
        let candidate = (0..grid.len())
            .filter(|i| !scored[*i])
            .min_by(|i, j| bound[*i].total_cmp(&bound[*j]).then(i.cmp(j)));
        match candidate {
            Some(c) if bound[c] <= best.0 + slack + BOUND_SLACK * best.0.abs() => next = c,
            _ => break,
        }
    }
    (to_weights(&grid[best.1], steps), scorings)
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

    /// Count-like outcomes and members of different bias and spread, some members repeated
    /// (whole lines of tied weights) and some quantiles equal to the outcome (kinks).
    fn instance(seed: u64, m: usize, rows: usize, probs: &[f64]) -> (Vec<Vec<Vec<f64>>>, Vec<f64>) {
        let mut rng = crate::rng::SplitMix64::new(seed);
        let y: Vec<f64> = (0..rows).map(|_| rng.below(12) as f64).collect();
        let mut q: Vec<Vec<Vec<f64>>> = Vec::new();
        for member in 0..m {
            if member > 0 && rng.below(4) == 0 {
                let copy = q[rng.below(member)].clone();
                q.push(copy);
                continue;
            }
            let (bias, spread) = (rng.normal() * 2.0, 0.5 + 3.0 * rng.uniform());
            q.push(
                y.iter()
                    .map(|v| {
                        let centre = if rng.below(3) == 0 {
                            *v
                        } else {
                            (v + bias + rng.normal()).round()
                        };
                        probs
                            .iter()
                            .map(|p| (centre + spread * (p - 0.5) * 4.0).max(0.0))
                            .collect()
                    })
                    .collect(),
            );
        }
        (q, y)
    }

    #[test]
    fn cutting_planes_find_the_exhaustive_searchs_point_with_fewer_scorings() {
        let probs = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95];
        let mut total_scorings = 0;
        let mut cases = 0;
        for seed in 0..120 {
            let m = 1 + (seed as usize % 5);
            let rows = [1, 3, 40, 400][seed as usize % 4];
            let (q, y) = instance(seed, m, rows, &probs);
            let (fast, scorings) = cutting_planes(&q, &y, &probs, 10);
            assert_eq!(
                fast,
                stack_crps_exhaustive(&q, &y, &probs, 10),
                "seed {seed}, {m} members, {rows} rows"
            );
            if m == 5 {
                total_scorings += scorings;
                cases += 1;
            }
        }
        // 1,001 grid points for five members; the bounds must spare most of them
        let mean = total_scorings as f64 / cases as f64;
        assert!(mean < 100.0, "mean scorings {mean}");
    }

    #[test]
    fn identical_members_tie_and_the_earlier_member_wins_as_in_the_exhaustive_search() {
        let probs = [0.1, 0.5, 0.9];
        let (q, y) = instance(7, 1, 50, &probs);
        let same = vec![q[0].clone(), q[0].clone(), q[0].clone()];
        assert_eq!(stack_crps(&same, &y, &probs, 10), vec![1.0, 0.0, 0.0]);
        assert_eq!(
            stack_crps(&same, &y, &probs, 10),
            stack_crps_exhaustive(&same, &y, &probs, 10)
        );
    }

    #[test]
    fn a_non_finite_number_gets_the_exhaustive_searchs_answer() {
        let probs = [0.1, 0.5, 0.9];
        let (mut q, y) = instance(3, 3, 20, &probs);
        q[1][4][2] = f64::NAN;
        assert_eq!(
            stack_crps(&q, &y, &probs, 10),
            stack_crps_exhaustive(&q, &y, &probs, 10)
        );
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
