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
//!
//! **Emerging hot spots** follow ESRI's Emerging Hot Spot Analysis on a space-time cube of
//! cells × time steps: Gi* per step (spatial neighbours only), a cell is a hot (cold) spot in a
//! step when its z is positive (negative) and significant after BH at `alpha`, and the
//! Mann-Kendall test of its z-scores over the steps says whether clustering intensifies. With
//! `T` steps, `H` hot steps and the final step `T`, the classes are, checked in this order
//! (cold classes mirror the hot ones):
//!
//! 1. **new**: hot in the final step and in no other;
//! 2. **intensifying** / **persistent** / **diminishing**: hot in at least 90% of the steps
//!    including the final one, with z rising significantly / no significant trend / falling
//!    significantly;
//! 3. **consecutive**: hot in an uninterrupted run of at least two steps that ends with the final
//!    step, and never hot before that run;
//! 4. **oscillating**: hot in the final step, and a significant cold spot in some earlier step;
//! 5. **sporadic**: hot in the final step and some earlier steps, never cold;
//! 6. **historical**: not hot in the final step, but hot in at least 90% of the steps;
//! 7. otherwise **no pattern detected**.

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

/// A cell's emerging hot-spot class (see the module documentation).
pub fn emerging_class(z: &[f64], significant: &[bool], alpha: f64) -> String {
    let hot: Vec<bool> = z.iter().zip(significant).map(|(z, s)| *s && *z > 0.0).collect();
    let cold: Vec<bool> = z.iter().zip(significant).map(|(z, s)| *s && *z < 0.0).collect();
    if let Some(c) = class_of(z, &hot, &cold, alpha) {
        return format!("{c} hot spot");
    }
    let neg: Vec<f64> = z.iter().map(|v| -v).collect();
    if let Some(c) = class_of(&neg, &cold, &hot, alpha) {
        return format!("{c} cold spot");
    }
    "no pattern detected".into()
}

/// The hot-spot class of a cell given its hot and cold steps (for cold spots, pass negated z
/// and swap the flags).
fn class_of(z: &[f64], hot: &[bool], cold: &[bool], alpha: f64) -> Option<&'static str> {
    let t = hot.len();
    if t == 0 {
        return None;
    }
    let n_hot = hot.iter().filter(|h| **h).count();
    let mostly = n_hot as f64 >= 0.9 * t as f64;
    let last = hot[t - 1];
    if !last {
        return mostly.then_some("historical");
    }
    if n_hot == 1 {
        return Some("new");
    }
    if mostly {
        let finite: Vec<f64> = z.iter().map(|v| if v.is_finite() { *v } else { 0.0 }).collect();
        let trend = crate::analysis::trend::mann_kendall(&finite).map_or("no trend", |m| m.direction(alpha));
        return Some(match trend {
            "increasing" => "intensifying",
            "decreasing" => "diminishing",
            _ => "persistent",
        });
    }
    let run = hot.iter().rev().take_while(|h| **h).count();
    if run >= 2 && run == n_hot {
        return Some("consecutive");
    }
    if cold.iter().any(|c| *c) {
        return Some("oscillating");
    }
    Some("sporadic")
}

/// PRIO-GRID id → the cell's emerging hot-spot class (`new hot spot`, `no pattern`, …).
pub type CellClasses = std::collections::BTreeMap<i64, String>;

/// One cell's result over the steps of a space-time cube.
#[derive(Debug, Clone, PartialEq)]
pub struct CellHistory {
    /// Gi* z-score per step.
    pub z: Vec<f64>,
    /// Two-sided p per step.
    pub p: Vec<f64>,
    /// Significant after Benjamini–Hochberg within the step.
    pub significant: Vec<bool>,
    /// Mann-Kendall of the z-scores (NaN z counted as 0); `None` with fewer than 3 steps.
    pub trend: Option<crate::analysis::trend::MannKendall>,
    /// The emerging hot-spot class.
    pub class: String,
}

/// Emerging hot-spot analysis of `cube[step][cell]` with `neighbors[cell]` (binary, queen or
/// any other contiguity), FDR-controlled at `alpha` per step.
pub fn emerging_hotspots(cube: &[Vec<f64>], neighbors: &[Vec<usize>], alpha: f64) -> Vec<CellHistory> {
    let n = neighbors.len();
    let mut z = vec![Vec::with_capacity(cube.len()); n];
    let mut p = vec![Vec::with_capacity(cube.len()); n];
    let mut sig = vec![Vec::with_capacity(cube.len()); n];
    for step in cube {
        let zs = gi_star(step, neighbors);
        let ps: Vec<f64> = zs.iter().map(|v| two_sided_p(*v)).collect();
        let ss = benjamini_hochberg(&ps, alpha);
        for c in 0..n {
            z[c].push(zs[c]);
            p[c].push(ps[c]);
            sig[c].push(ss[c]);
        }
    }
    (0..n)
        .map(|c| {
            let finite: Vec<f64> = z[c]
                .iter()
                .map(|v| if v.is_finite() { *v } else { 0.0 })
                .collect();
            HistoryParts {
                class: emerging_class(&z[c], &sig[c], alpha),
                trend: crate::analysis::trend::mann_kendall(&finite),
            }
            .with(
                std::mem::take(&mut z[c]),
                std::mem::take(&mut p[c]),
                std::mem::take(&mut sig[c]),
            )
        })
        .collect()
}

struct HistoryParts {
    class: String,
    trend: Option<crate::analysis::trend::MannKendall>,
}

impl HistoryParts {
    fn with(self, z: Vec<f64>, p: Vec<f64>, significant: Vec<bool>) -> CellHistory {
        CellHistory {
            z,
            p,
            significant,
            trend: self.trend,
            class: self.class,
        }
    }
}

/// Queen neighbours of a `rows × cols` lattice with row-major ids (for tests and fixtures).
pub fn lattice_queen(rows: usize, cols: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows as i64 {
        for c in 0..cols as i64 {
            let mut nb = Vec::new();
            for dr in -1..=1 {
                for dc in -1..=1 {
                    let (rr, cc) = (r + dr, c + dc);
                    if (dr, dc) != (0, 0) && (0..rows as i64).contains(&rr) && (0..cols as i64).contains(&cc)
                    {
                        nb.push((rr * cols as i64 + cc) as usize);
                    }
                }
            }
            out.push(nb);
        }
    }
    out
}

/// How the hotspot table is built.
#[derive(Debug, Clone, PartialEq)]
pub struct HotspotSettings {
    /// Periods per time step of the cube (12: years of months).
    pub step_len: usize,
    /// Time steps, counted back from the last period.
    pub steps: usize,
    /// False-discovery rate per step, and the level of the z-score trend.
    pub alpha: f64,
}

/// Emerging hot spots on PRIO-GRID cells: `series` are the cells of a grid panel (`pg<gid>`;
/// cells with an unknown gid are skipped), `country` maps a cell id to its country code. The
/// study area is every cell with an event in the panel plus its queen neighbours (counted as
/// zero). One row per cell × step: `level` (`grid`), `region_id`, `grid_id`, `country_code` (null
/// for neighbour-only cells), `step` (1 = oldest), `step_start`, `step_end` (first and last period
/// of the step), `value` (the target summed over the step), `gi_z`, `gi_p` (two-sided),
/// `significant` (`hot`, `cold` or null, after BH within the step), `class`, `trend_z`, `trend_p`
/// (Mann-Kendall of the cell's z-scores). Empty when the series are shorter than one step.
///
/// With the table, the class of every cell of the study area by PRIO-GRID id (the same class
/// the table repeats on each of the cell's steps; no cell when the table is empty), for the
/// stages that use the classes, so they need not read them back from the table.
pub fn hotspots_frame(
    series: &[crate::data::series::RegionSeries],
    country: &std::collections::HashMap<String, String>,
    s: &HotspotSettings,
) -> Result<(polars::prelude::DataFrame, CellClasses), crate::EngineError> {
    use crate::data::period::{date_column, to_epoch_days};
    use polars::prelude::*;
    use std::collections::BTreeMap;
    let cells: Vec<(i64, &crate::data::series::RegionSeries)> = series
        .iter()
        .filter_map(|r| crate::data::region::grid_of(&r.region_id).map(|g| (g, r)))
        .collect();
    let len = cells.first().map_or(0, |(_, r)| r.y.len());
    let steps = (len / s.step_len.max(1)).min(s.steps);
    // study area: observed cells and their neighbours, in gid order
    let mut index: BTreeMap<i64, Option<usize>> = BTreeMap::new();
    for (k, (g, _)) in cells.iter().enumerate() {
        index.insert(*g, Some(k));
    }
    for (g, _) in &cells {
        for nb in prio_grid_queen(*g) {
            index.entry(nb).or_insert(None);
        }
    }
    let gids: Vec<i64> = index.keys().copied().collect();
    let pos: std::collections::HashMap<i64, usize> = gids.iter().enumerate().map(|(i, g)| (*g, i)).collect();
    let neighbors: Vec<Vec<usize>> = gids
        .iter()
        .map(|g| {
            prio_grid_queen(*g)
                .iter()
                .filter_map(|n| pos.get(n).copied())
                .collect()
        })
        .collect();
    let start = len - steps * s.step_len;
    let cube: Vec<Vec<f64>> = (0..steps)
        .map(|t| {
            let (a, b) = (start + t * s.step_len, start + (t + 1) * s.step_len);
            gids.iter()
                .map(|g| index[g].map_or(0.0, |k| cells[k].1.y[a..b].iter().sum()))
                .collect()
        })
        .collect();
    let got = if steps == 0 {
        Vec::new()
    } else {
        emerging_hotspots(&cube, &neighbors, s.alpha)
    };
    let ds = cells.first().map(|(_, r)| r.ds.clone()).unwrap_or_default();
    let classes: CellClasses = if steps == 0 {
        CellClasses::new()
    } else {
        got.iter()
            .enumerate()
            .map(|(i, h)| (gids[i], h.class.clone()))
            .collect()
    };
    let mut cols: (Vec<String>, Vec<i64>, Vec<Option<String>>, Vec<u32>) = Default::default();
    let (mut s0, mut s1, mut value, mut z, mut p) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut sig, mut class, mut tz, mut tp) = (vec![], vec![], vec![], vec![]);
    for (i, h) in got.iter().enumerate() {
        let g = gids[i];
        let id = crate::data::region::grid_id(g);
        for t in 0..steps {
            cols.0.push(id.clone());
            cols.1.push(g);
            cols.2.push(country.get(&id).cloned());
            cols.3.push(t as u32 + 1);
            s0.push(Some(to_epoch_days(ds[start + t * s.step_len])));
            s1.push(Some(to_epoch_days(ds[start + (t + 1) * s.step_len - 1])));
            value.push(cube[t][i]);
            z.push(h.z[t].is_finite().then_some(h.z[t]));
            p.push(h.p[t].is_finite().then_some(h.p[t]));
            sig.push(h.significant[t].then_some(if h.z[t] > 0.0 { "hot" } else { "cold" }));
            class.push(h.class.clone());
            tz.push(h.trend.as_ref().map(|m| m.z));
            tp.push(h.trend.as_ref().map(|m| m.p));
        }
    }
    let n = cols.0.len();
    let table = DataFrame::new(
        n,
        vec![
            Column::new("level".into(), vec!["grid"; n]),
            Column::new("region_id".into(), cols.0),
            Column::new("grid_id".into(), cols.1),
            Column::new("country_code".into(), cols.2),
            Column::new("step".into(), cols.3),
            date_column("step_start", s0)?,
            date_column("step_end", s1)?,
            Column::new("value".into(), value),
            Column::new("gi_z".into(), z),
            Column::new("gi_p".into(), p),
            Column::new("significant".into(), sig),
            Column::new("class".into(), class),
            Column::new("trend_z".into(), tz),
            Column::new("trend_p".into(), tp),
        ],
    )
    .map_err(crate::EngineError::polars("building the hotspot table"))?;
    Ok((table, classes))
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

    fn classify(pattern: &str) -> String {
        // H = significant hot, C = significant cold, . = not significant; z rises through the
        // steps for 'u', falls for 'd', else flat
        let (trend, steps) = pattern.split_at(1);
        let t = steps.len();
        let z: Vec<f64> = steps
            .chars()
            .enumerate()
            .map(|(i, c)| {
                let mag = match trend {
                    "u" => 2.0 + i as f64,
                    "d" => 2.0 + (t - i) as f64,
                    _ => 3.0 + if i % 2 == 0 { 0.1 } else { -0.1 },
                };
                match c {
                    'H' => mag,
                    'C' => -mag,
                    _ => 0.5,
                }
            })
            .collect();
        let sig: Vec<bool> = steps.chars().map(|c| c != '.').collect();
        emerging_class(&z, &sig, 0.05)
    }

    #[test]
    fn every_emerging_class_is_recognised() {
        assert_eq!(classify("-.........H"), "new hot spot");
        assert_eq!(classify("-........HH"), "consecutive hot spot");
        assert_eq!(classify("uHHHHHHHHHH"), "intensifying hot spot");
        assert_eq!(classify("-HHHHHHHHHH"), "persistent hot spot");
        assert_eq!(classify("dHHHHHHHHHH"), "diminishing hot spot");
        assert_eq!(classify("-H..H...H.H"), "sporadic hot spot");
        assert_eq!(classify("-H.C.....HH"), "oscillating hot spot");
        assert_eq!(classify("-HHHHHHHHHH."), "historical hot spot");
        assert_eq!(classify("-.........C"), "new cold spot");
        assert_eq!(classify("-CCCCCCCCCC"), "persistent cold spot");
        assert_eq!(classify("-H..C.....C"), "oscillating cold spot");
        assert_eq!(classify("-....H....."), "no pattern detected");
        // "new" wins over "oscillating": the final hot step is the first hot step
        assert_eq!(classify("-C..C.....H"), "new hot spot");
    }

    /// The class found at the centre of a 3 × 3 block planted with `level(step)` in a 24 × 24
    /// lattice of background (`base` + 0–2 per cell) over 10 steps; and the class of a
    /// background cell far from the block.
    fn planted(base: f64, level: &dyn Fn(usize) -> f64) -> (String, String) {
        let (rows, cols, steps) = (24, 24, 10);
        let mut rng = vigil_models::rng::SplitMix64::new(11);
        let mut cube: Vec<Vec<f64>> = (0..steps)
            .map(|_| (0..rows * cols).map(|_| base + rng.below(3) as f64).collect())
            .collect();
        for (t, step) in cube.iter_mut().enumerate() {
            for r in 10..13 {
                for c in 10..13 {
                    step[r * cols + c] = level(t);
                }
            }
        }
        let got = emerging_hotspots(&cube, &lattice_queen(rows, cols), 0.05);
        (got[11 * cols + 11].class.clone(), got[2 * cols + 2].class.clone())
    }

    #[test]
    fn classes_planted_in_a_space_time_cube_are_recovered() {
        type Level<'a> = &'a dyn Fn(usize) -> f64;
        let cases: [(&str, f64, Level); 10] = [
            ("persistent hot spot", 0.0, &|_| 20.0),
            ("new hot spot", 0.0, &|t| if t == 9 { 20.0 } else { 1.0 }),
            ("consecutive hot spot", 0.0, &|t| if t >= 7 { 20.0 } else { 1.0 }),
            ("intensifying hot spot", 0.0, &|t| 3.0 + t as f64),
            ("diminishing hot spot", 0.0, &|t| 12.0 - t as f64),
            ("historical hot spot", 0.0, &|t| if t < 9 { 20.0 } else { 1.0 }),
            ("sporadic hot spot", 0.0, &|t| if t % 3 == 0 { 20.0 } else { 1.0 }),
            ("new cold spot", 10.0, &|t| if t == 9 { 0.0 } else { 11.0 }),
            ("persistent cold spot", 10.0, &|_| 0.0),
            ("no pattern detected", 0.0, &|_| 1.0),
        ];
        for (want, base, level) in cases {
            let (centre, far) = planted(base, level);
            assert_eq!(centre, want);
            assert_eq!(far, "no pattern detected", "background while planting {want}");
        }
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
