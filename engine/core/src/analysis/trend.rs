//! Monotonic trend tests: Mann-Kendall (with the tie correction, optionally with Hamed and Rao's
//! autocorrelation correction), the seasonal Mann-Kendall test, and Sen's slope.
//!
//! Written by hand because no maintained Rust crate implements them; they follow pymannkendall's
//! definitions, and the golden tests compare S, Z, p and the slopes with it to 1e-6.
//!
//! * `S = Σ_{i<j} sign(x_j − x_i)`.
//! * `Var(S) = [n(n−1)(2n+5) − Σ_t t(t−1)(2t+5)] / 18`, the sum over groups of tied values.
//! * `Z = (S − 1)/√Var(S)` if `S > 0`, `(S + 1)/√Var(S)` if `S < 0`, else 0 (continuity
//!   correction); `p = 2(1 − Φ(|Z|))`; `τ = S / (n(n−1)/2)`.
//! * Sen's slope: the median of `(x_j − x_i)/(j − i)` over `i < j`; intercept
//!   `median(x) − slope · (n − 1)/2`.
//! * Hamed–Rao: `Var(S)` is multiplied by `1 + 2/(n(n−1)(n−2)) Σ_k (n−k)(n−k−1)(n−k−2) ρ_k`, the
//!   sum over lags `k` whose autocorrelation `ρ_k` of the ranks of the Sen-detrended series is
//!   significant at level α (|ρ_k| > z_{1−α/2}/√n).
//! * Seasonal test: S and Var(S) are summed over the seasons (each season's values in time
//!   order); Z and p as above; seasonal Sen's slope is the median over seasons of the
//!   within-season pairwise slopes, per cycle.
//!
//! Missing values are not accepted: vigil's panels are zero-filled, so every series is complete.

/// The result of a Mann-Kendall test.
#[derive(Debug, Clone, PartialEq)]
pub struct MannKendall {
    /// Observations used.
    pub n: usize,
    /// The S statistic.
    pub s: f64,
    /// Variance of S (tie-corrected, and autocorrelation-corrected for Hamed–Rao).
    pub var_s: f64,
    /// Standard normal test statistic, with continuity correction.
    pub z: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// Kendall's tau.
    pub tau: f64,
    /// Sen's slope (per period; per cycle for the seasonal test).
    pub slope: f64,
    /// Sen's intercept.
    pub intercept: f64,
}

impl MannKendall {
    /// `increasing`, `decreasing` or `no trend` at level `alpha` (two-sided).
    pub fn direction(&self, alpha: f64) -> &'static str {
        if self.p >= alpha || self.s == 0.0 {
            "no trend"
        } else if self.s > 0.0 {
            "increasing"
        } else {
            "decreasing"
        }
    }
}

fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

fn normal_cdf(z: f64) -> f64 {
    distrs::Normal::cdf(z, 0.0, 1.0)
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// S of `x`.
fn s_stat(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        for j in i + 1..x.len() {
            s += sign(x[j] - x[i]);
        }
    }
    s
}

/// Tie-corrected variance of S.
fn var_s(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mut sorted = x.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j] == sorted[i] {
            j += 1;
        }
        let t = (j - i) as f64;
        ties += t * (t - 1.0) * (2.0 * t + 5.0);
        i = j;
    }
    (n * (n - 1.0) * (2.0 * n + 5.0) - ties) / 18.0
}

fn z_and_p(s: f64, var: f64) -> (f64, f64) {
    let z = if s > 0.0 {
        (s - 1.0) / var.sqrt()
    } else if s < 0.0 {
        (s + 1.0) / var.sqrt()
    } else {
        0.0
    };
    if !z.is_finite() {
        return (0.0, 1.0);
    }
    (z, 2.0 * (1.0 - normal_cdf(z.abs())))
}

/// Sen's slope and intercept of `x` against `0..n`.
pub fn sens_slope(x: &[f64]) -> (f64, f64) {
    let n = x.len();
    let mut d = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            d.push((x[j] - x[i]) / (j - i) as f64);
        }
    }
    let slope = median(&mut d);
    let intercept = median(&mut x.to_vec()) - (n as f64 - 1.0) / 2.0 * slope;
    (slope, intercept)
}

/// The Mann-Kendall test with tie correction. Needs at least 3 values.
pub fn mann_kendall(x: &[f64]) -> Option<MannKendall> {
    let n = x.len();
    if n < 3 {
        return None;
    }
    let s = s_stat(x);
    let var = var_s(x);
    let (z, p) = z_and_p(s, var);
    let (slope, intercept) = sens_slope(x);
    Some(MannKendall {
        n,
        s,
        var_s: var,
        z,
        p,
        tau: s / (0.5 * n as f64 * (n as f64 - 1.0)),
        slope,
        intercept,
    })
}

/// Average ranks (1-based), ties sharing the mean rank.
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|a, b| x[*a].total_cmp(&x[*b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j < idx.len() && x[idx[j]] == x[idx[i]] {
            j += 1;
        }
        let avg = (i + j + 1) as f64 / 2.0;
        for k in &idx[i..j] {
            r[*k] = avg;
        }
        i = j;
    }
    r
}

/// Autocorrelation at lags 0..=max_lag, with the biased (1/n) covariance.
fn acf(x: &[f64], max_lag: usize) -> Vec<f64> {
    let n = x.len();
    let mean = x.iter().sum::<f64>() / n as f64;
    let y: Vec<f64> = x.iter().map(|v| v - mean).collect();
    let c0: f64 = y.iter().map(|v| v * v).sum::<f64>() / n as f64;
    (0..=max_lag.min(n - 1))
        .map(|k| {
            let c: f64 = (0..n - k).map(|t| y[t] * y[t + k]).sum::<f64>() / n as f64;
            c / c0
        })
        .collect()
}

/// The Mann-Kendall test with Hamed and Rao's (1998) variance correction for autocorrelation,
/// using every lag whose autocorrelation is significant at `alpha`. Needs at least 3 values.
pub fn mann_kendall_hamed_rao(x: &[f64], alpha: f64) -> Option<MannKendall> {
    let mut mk = mann_kendall(x)?;
    let n = x.len();
    let nf = n as f64;
    let detrended: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, v)| v - (i as f64 + 1.0) * mk.slope)
        .collect();
    let rho = acf(&ranks(&detrended), n - 1);
    let bound = distrs::Normal::ppf(1.0 - alpha / 2.0, 0.0, 1.0) / nf.sqrt();
    let mut sum = 0.0;
    for (k, r) in rho.iter().enumerate().skip(1) {
        if r.is_finite() && r.abs() > bound {
            let kf = k as f64;
            sum += (nf - kf) * (nf - kf - 1.0) * (nf - kf - 2.0) * r;
        }
    }
    let factor = 1.0 + 2.0 / (nf * (nf - 1.0) * (nf - 2.0)) * sum;
    mk.var_s *= factor;
    let (z, p) = z_and_p(mk.s, mk.var_s);
    mk.z = z;
    mk.p = p;
    Some(mk)
}

/// The seasonal Mann-Kendall test: season `k` holds `x[k], x[k + period], …`. Slope is Sen's
/// seasonal slope per cycle. Needs at least two full cycles.
pub fn seasonal_mann_kendall(x: &[f64], period: usize) -> Option<MannKendall> {
    if period < 2 || x.len() < 2 * period {
        return None;
    }
    let (mut s, mut var, mut pairs) = (0.0, 0.0, 0.0);
    let mut slopes = Vec::new();
    for k in 0..period {
        let season: Vec<f64> = x.iter().skip(k).step_by(period).copied().collect();
        let m = season.len() as f64;
        s += s_stat(&season);
        var += var_s(&season);
        pairs += 0.5 * m * (m - 1.0);
        for i in 0..season.len() {
            for j in i + 1..season.len() {
                slopes.push((season[j] - season[i]) / (j - i) as f64);
            }
        }
    }
    let (z, p) = z_and_p(s, var);
    let slope = median(&mut slopes);
    let n = x.len();
    let intercept = median(&mut x.to_vec()) - (n as f64 - 1.0) / 2.0 / period as f64 * slope;
    Some(MannKendall {
        n,
        s,
        var_s: var,
        z,
        p,
        tau: s / pairs,
        slope,
        intercept,
    })
}

/// Settings of the trend table.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendSettings {
    /// Periods tested by Mann-Kendall and Hamed–Rao, counted back from the end (e.g. 36).
    pub window: usize,
    /// Periods tested by the seasonal test (e.g. 120: ten years of months).
    pub seasonal_window: usize,
    /// Periods per cycle (12 for months).
    pub period: usize,
    /// Significance level of `direction` and of Hamed–Rao's lag selection.
    pub alpha: f64,
}

impl TrendSettings {
    /// Years of periods Mann-Kendall tests when a job does not say.
    pub const DEFAULT_YEARS: usize = 3;
    /// The significance level when a job does not say.
    pub const DEFAULT_ALPHA: f64 = 0.05;
}

/// One row per region and test: `level, region_id, test (mann_kendall | hamed_rao |
/// seasonal_mann_kendall), window_start, window_end (period starts), n, s, var_s, z, p, tau,
/// slope (per period; per cycle for the seasonal test), intercept, direction (increasing |
/// decreasing | no trend | insufficient data)`.
pub fn trend_frame(
    series: &[crate::data::series::RegionSeries],
    level: crate::Level,
    s: &TrendSettings,
) -> Result<polars::prelude::DataFrame, crate::EngineError> {
    use crate::data::period::to_epoch_days;
    use polars::prelude::*;
    use rayon::prelude::*;
    type Test = fn(&[f64], &TrendSettings) -> Option<MannKendall>;
    type Window = fn(&TrendSettings) -> usize;
    let tests: [(&str, Window, Test); 3] = [
        ("mann_kendall", |s| s.window, |x, _| mann_kendall(x)),
        (
            "hamed_rao",
            |s| s.window,
            |x, s| mann_kendall_hamed_rao(x, s.alpha),
        ),
        (
            "seasonal_mann_kendall",
            |s| s.seasonal_window,
            |x, s| seasonal_mann_kendall(x, s.period),
        ),
    ];
    let mut region = Vec::new();
    let mut test_name = Vec::new();
    let (mut w0, mut w1) = (Vec::new(), Vec::new());
    let mut num: [Vec<Option<f64>>; 8] = Default::default();
    let mut n_col = Vec::new();
    let mut direction = Vec::new();
    // the tests of each region in parallel (they are independent), the table in region order;
    // per test, the first position of its window and its result (none for an empty series)
    let results: Vec<Vec<(usize, Option<MannKendall>)>> = series
        .par_iter()
        .map(|r| {
            if r.y.is_empty() {
                return Vec::new();
            }
            tests
                .iter()
                .map(|(_, window, test)| {
                    let start = r.y.len() - window(s).min(r.y.len());
                    (start, test(&r.y[start..], s))
                })
                .collect()
        })
        .collect();
    for (r, got) in series.iter().zip(results) {
        for ((name, _, _), (start, got)) in tests.iter().zip(got) {
            let w = r.y.len() - start;
            region.push(r.region_id.as_str());
            test_name.push(*name);
            w0.push(to_epoch_days(r.ds[start]));
            w1.push(to_epoch_days(r.ds[r.ds.len() - 1]));
            n_col.push(w as u32);
            let vals = got
                .as_ref()
                .map(|m| [m.s, m.var_s, m.z, m.p, m.tau, m.slope, m.intercept, 0.0]);
            for (k, col) in num.iter_mut().enumerate().take(7) {
                col.push(vals.map(|v| v[k]).filter(|v| v.is_finite()));
            }
            direction.push(got.map_or("insufficient data", |m| m.direction(s.alpha)));
        }
    }
    let ctx = "building the trend table";
    let n = region.len();
    let date =
        |name: &str, v: Vec<i32>| crate::data::period::date_column(name, v.into_iter().map(Some).collect());
    let [s_, var_s, z, p, tau, slope, intercept, _] = num;
    DataFrame::new(
        n,
        vec![
            Column::new("level".into(), vec![level.as_str(); n]),
            Column::new("region_id".into(), region),
            Column::new("test".into(), test_name),
            date("window_start", w0)?,
            date("window_end", w1)?,
            Column::new("n".into(), n_col),
            Column::new("s".into(), s_),
            Column::new("var_s".into(), var_s),
            Column::new("z".into(), z),
            Column::new("p".into(), p),
            Column::new("tau".into(), tau),
            Column::new("slope".into(), slope),
            Column::new("intercept".into(), intercept),
            Column::new("direction".into(), direction),
        ],
    )
    .map_err(crate::EngineError::polars(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strictly_rising_series_has_the_largest_s() {
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        let mk = mann_kendall(&x).expect("long enough");
        assert_eq!(mk.s, 45.0);
        assert_eq!(mk.tau, 1.0);
        assert_eq!(mk.slope, 1.0);
        assert_eq!(mk.direction(0.05), "increasing");
    }

    #[test]
    fn a_constant_series_has_no_trend() {
        let mk = mann_kendall(&[3.0; 12]).expect("long enough");
        assert_eq!((mk.s, mk.z, mk.p), (0.0, 0.0, 1.0));
        assert_eq!(mk.direction(0.05), "no trend");
    }

    #[test]
    fn ties_share_average_ranks() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    }

    #[test]
    fn too_short_series_are_not_tested() {
        assert!(mann_kendall(&[1.0, 2.0]).is_none());
        assert!(seasonal_mann_kendall(&[1.0; 20], 12).is_none());
    }
}
