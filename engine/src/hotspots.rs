//! Spatial hotspots: Getis-Ord Gi* with Benjamini–Hochberg false-discovery control, and the
//! neighbourhoods of PRIO-GRID cells.
//!
//! Written by hand because no maintained Rust crate computes local Gi*; it follows PySAL esda's
//! `G_Local(star=True)` with binary weights (the golden test compares z-scores to 1e-6):
//!
//! `Z_i = (Σ_j w_ij y_j − ȳ W_i) / (s √((n W_i − W_i²)/(n − 1)))`, where the sum runs over the
//! cell's neighbours and the cell itself (`w_ii = 1`), `W_i` counts them, `ȳ` and `s` are the
//! mean and population standard deviation of all `n` cells. p-values are two-sided normal;
//! Benjamini–Hochberg controls the false-discovery rate across the cells of one period.

/// Gi* z-scores of `y` with binary weights: `neighbors[i]` lists the cells next to `i` (not `i`
/// itself). NaN for every cell when all values are equal (no variation to test).
pub fn gi_star(y: &[f64], neighbors: &[Vec<usize>]) -> Vec<f64> {
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    let s = (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    neighbors
        .iter()
        .enumerate()
        .map(|(i, nb)| {
            let w = nb.len() as f64 + 1.0;
            let sum = y[i] + nb.iter().map(|j| y[*j]).sum::<f64>();
            let denom = s * ((n * w - w * w) / (n - 1.0)).sqrt();
            if denom > 0.0 {
                (sum - mean * w) / denom
            } else {
                f64::NAN
            }
        })
        .collect()
}

/// Two-sided normal p-value of a z-score (NaN stays NaN).
pub fn two_sided_p(z: f64) -> f64 {
    2.0 * (1.0 - distrs::Normal::cdf(z.abs(), 0.0, 1.0))
}

/// Benjamini–Hochberg: which p-values are discoveries at false-discovery rate `alpha`. NaN
/// p-values are never discoveries and do not count towards the number of tests.
pub fn benjamini_hochberg(p: &[f64], alpha: f64) -> Vec<bool> {
    let mut idx: Vec<usize> = (0..p.len()).filter(|i| !p[*i].is_nan()).collect();
    idx.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
    let m = idx.len() as f64;
    let cut = idx
        .iter()
        .enumerate()
        .filter(|(k, i)| p[**i] <= (*k as f64 + 1.0) / m * alpha)
        .map(|(k, _)| k + 1)
        .max()
        .unwrap_or(0);
    let mut out = vec![false; p.len()];
    for i in &idx[..cut] {
        out[*i] = true;
    }
    out
}

/// PRIO-GRID: 720 columns of 0.5° from −180°, 360 rows from −90°; `gid = row · 720 + col + 1`.
pub const PRIO_GRID_COLS: i64 = 720;
/// Rows of PRIO-GRID.
pub const PRIO_GRID_ROWS: i64 = 360;

/// The queen neighbours of PRIO-GRID cell `gid` (up to 8; none across the poles, wrapping
/// around the antimeridian).
pub fn prio_grid_queen(gid: i64) -> Vec<i64> {
    let (row, col) = ((gid - 1) / PRIO_GRID_COLS, (gid - 1) % PRIO_GRID_COLS);
    let mut out = Vec::with_capacity(8);
    for dr in -1..=1 {
        for dc in -1..=1 {
            if (dr, dc) == (0, 0) {
                continue;
            }
            let r = row + dr;
            if !(0..PRIO_GRID_ROWS).contains(&r) {
                continue;
            }
            let c = (col + dc).rem_euclid(PRIO_GRID_COLS);
            out.push(r * PRIO_GRID_COLS + c + 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queen_neighbours_wrap_the_antimeridian_but_not_the_poles() {
        // gid 1: row 0, col 0 (south pole row, at −180°)
        let mut nb = prio_grid_queen(1);
        nb.sort_unstable();
        assert_eq!(nb, vec![2, 720, 721, 722, 1440]);
        assert_eq!(prio_grid_queen(360 * 720 / 2 + 100).len(), 8);
    }

    #[test]
    fn bh_rejects_the_step_up_set() {
        // sorted p: .001 .008 .039 .041 .2 → thresholds .01 .02 .03 .04 .05 → largest k with
        // p_k ≤ k/5·0.05 is 2
        let d = benjamini_hochberg(&[0.041, 0.001, 0.2, 0.008, 0.039, f64::NAN], 0.05);
        assert_eq!(d, vec![false, true, false, true, false, false]);
    }

    #[test]
    fn a_flat_field_has_no_z_scores() {
        assert!(
            gi_star(&[2.0; 3], &[vec![1], vec![0, 2], vec![1]])
                .iter()
                .all(|z| z.is_nan())
        );
    }
}
