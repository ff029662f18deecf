//! Seasonality of a region's series: the month-of-year (season-of-cycle) profile with a block
//! bootstrap band, the STL decomposition's seasonal and trend strength, and the peak season.
//!
//! * **Profile.** Over the last `cycles` full cycles (default 10 years of months), the mean of
//!   each season (month), and its index: the season's mean over the overall mean (1 = an average
//!   month). The band is the 5th–95th percentile of the index over `bootstrap` resamples of whole
//!   cycles with replacement (a moving-block bootstrap with blocks of one cycle, which keeps the
//!   within-year dependence). A season is **peak** when the band's lower end is above 1.
//! * **Strength.** STL (Cleveland et al. 1990, through the `stlrs` crate that augurs' MSTL uses)
//!   with period 12, seasonal window 13, trend window 21, low-pass window 13, degree 1 throughout,
//!   no jumps, 2 inner and no robustness iterations: the settings the golden test pins against
//!   statsmodels. Seasonal strength is Hyndman and Athanasopoulos' `F_s = max(0, 1 −
//!   Var(R)/Var(S + R))`, trend strength `F_t` likewise with the trend.
//! * **Insufficient data.** Fewer than `min_cycles` full cycles, fewer than `min_nonzero`
//!   non-zero periods in the window, or an all-zero window: the status says so and no profile is
//!   given, rather than a profile made of noise.

use augurs::mstl::stlrs;
use vigil_models::rng::SplitMix64;

/// How seasonality is measured.
#[derive(Debug, Clone, PartialEq)]
pub struct SeasonalitySettings {
    /// Periods per cycle (12 for months).
    pub period: usize,
    /// Full cycles used, counted back from the end of the series.
    pub cycles: usize,
    /// Bootstrap resamples for the band.
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
    /// Fewest full cycles for a profile.
    pub min_cycles: usize,
    /// Fewest non-zero periods in the window for a profile.
    pub min_nonzero: usize,
}

impl Default for SeasonalitySettings {
    fn default() -> Self {
        SeasonalitySettings {
            period: 12,
            cycles: 10,
            bootstrap: 500,
            seed: 20261125,
            min_cycles: 3,
            min_nonzero: 12,
        }
    }
}

/// A region's seasonality.
#[derive(Debug, Clone, PartialEq)]
pub struct Seasonality {
    /// `ok` or `insufficient_data`.
    pub status: &'static str,
    /// Why the data are insufficient, if they are.
    pub reason: Option<String>,
    /// Position of the window's first value in the series.
    pub start: usize,
    /// Values in the window.
    pub len: usize,
    /// Per season (`season[k]` is the calendar season of the k-th entry): mean, index, band and
    /// peak flag. Empty when the data are insufficient.
    pub seasons: Vec<SeasonStat>,
    /// STL seasonal strength (NaN when insufficient).
    pub seasonal_strength: f64,
    /// STL trend strength (NaN when insufficient).
    pub trend_strength: f64,
    /// STL trend, seasonal and remainder over the window (empty when insufficient).
    pub components: Vec<[f64; 3]>,
}

/// One season's statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct SeasonStat {
    /// 0-based season of the cycle (0 = January for months).
    pub season: usize,
    /// Mean of the season's values in the window.
    pub mean: f64,
    /// Mean over the window's overall mean.
    pub index: f64,
    /// 5th percentile of the bootstrapped index.
    pub index_lo: f64,
    /// 95th percentile of the bootstrapped index.
    pub index_hi: f64,
    /// The band's lower end is above 1.
    pub peak: bool,
}

/// The STL settings the module uses, for a series with `period` periods per cycle.
pub fn stl_params(period: usize) -> stlrs::StlParams {
    let odd = |v: usize| if v.is_multiple_of(2) { v + 1 } else { v };
    let mut p = stlrs::params();
    p.seasonal_length(13)
        .trend_length(odd((1.5 * period as f64 / (1.0 - 1.5 / 13.0)).ceil() as usize))
        .low_pass_length(odd(period))
        .seasonal_degree(1)
        .trend_degree(1)
        .low_pass_degree(1)
        .seasonal_jump(1)
        .trend_jump(1)
        .low_pass_jump(1)
        .inner_loops(2)
        .outer_loops(0)
        .robust(false);
    p
}

/// Profile per season of the cycle means over the cycles `blocks` (each a start position).
fn index_of(y: &[f64], blocks: &[usize], period: usize) -> Option<Vec<f64>> {
    let mut sums = vec![0.0; period];
    for b in blocks {
        for (k, s) in sums.iter_mut().enumerate() {
            *s += y[b + k];
        }
    }
    let total: f64 = sums.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let mean = total / period as f64;
    Some(sums.iter().map(|s| s / mean).collect())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let pos = p * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Measures the seasonality of `y`, whose first value falls in season `first_season` (0-based;
/// the month of the first period minus one).
pub fn seasonality(y: &[f64], first_season: usize, s: &SeasonalitySettings) -> Seasonality {
    let p = s.period;
    let cycles = (y.len() / p).min(s.cycles);
    let len = cycles * p;
    let start = y.len() - len;
    let window = &y[start..];
    let insufficient = |reason: String| Seasonality {
        status: "insufficient_data",
        reason: Some(reason),
        start,
        len,
        seasons: Vec::new(),
        seasonal_strength: f64::NAN,
        trend_strength: f64::NAN,
        components: Vec::new(),
    };
    if cycles < s.min_cycles.max(2) {
        return insufficient(format!(
            "{cycles} full cycle(s) of {p} periods; at least {} needed",
            s.min_cycles.max(2)
        ));
    }
    let nonzero = window.iter().filter(|v| **v != 0.0).count();
    if nonzero < s.min_nonzero {
        return insufficient(format!(
            "{nonzero} non-zero period(s) in the last {len}; at least {} needed",
            s.min_nonzero
        ));
    }
    let blocks: Vec<usize> = (0..cycles).map(|c| c * p).collect();
    let Some(index) = index_of(window, &blocks, p) else {
        return insufficient("the window is all zeros".into());
    };
    let mut rng = SplitMix64::new(s.seed);
    let mut draws: Vec<Vec<f64>> = vec![Vec::with_capacity(s.bootstrap); p];
    for _ in 0..s.bootstrap {
        let sample: Vec<usize> = (0..cycles).map(|_| rng.below(cycles) * p).collect();
        // A resample of all-zero cycles has no index; it counts as a flat profile.
        let idx = index_of(window, &sample, p).unwrap_or_else(|| vec![1.0; p]);
        for (k, v) in idx.into_iter().enumerate() {
            draws[k].push(v);
        }
    }
    let overall = window.iter().sum::<f64>() / len as f64;
    let first = (first_season + start) % p;
    let mut seasons: Vec<SeasonStat> = (0..p)
        .map(|k| {
            let mut d = std::mem::take(&mut draws[k]);
            d.sort_by(f64::total_cmp);
            let (lo, hi) = if d.is_empty() {
                (f64::NAN, f64::NAN)
            } else {
                (percentile(&d, 0.05), percentile(&d, 0.95))
            };
            SeasonStat {
                season: (first + k) % p,
                mean: index[k] * overall,
                index: index[k],
                index_lo: lo,
                index_hi: hi,
                peak: lo > 1.0,
            }
        })
        .collect();
    seasons.sort_by_key(|x| x.season);
    let (fs, ft, components) = match stl_params(p).fit(window, p) {
        Ok(fit) => (
            fit.seasonal_strength(),
            fit.trend_strength(),
            (0..len)
                .map(|t| [fit.trend()[t], fit.seasonal()[t], fit.remainder()[t]])
                .collect(),
        ),
        Err(_) => (f64::NAN, f64::NAN, Vec::new()),
    };
    Seasonality {
        status: "ok",
        reason: None,
        start,
        len,
        seasons,
        seasonal_strength: fs,
        trend_strength: ft,
        components,
    }
}

/// Two tables. The profile: one row per region and season, `level, region_id, status (ok |
/// insufficient_data), reason, window_start, window_end, season (1..period: the month for
/// monthly data), mean, index, index_lo, index_hi, peak, seasonal_strength, trend_strength`; a
/// region with insufficient data has one row with a null season and null statistics. The STL
/// decomposition: one row per region with a profile and period of its window, `level,
/// region_id, ds, value, trend, seasonal, remainder`.
pub fn seasonality_frames(
    series: &[crate::data::series::RegionSeries],
    level: crate::Level,
    frequency: crate::Frequency,
    s: &SeasonalitySettings,
) -> Result<(polars::prelude::DataFrame, polars::prelude::DataFrame), crate::EngineError> {
    use crate::data::period::to_epoch_days;
    use chrono::Datelike;
    use polars::prelude::*;
    use rayon::prelude::*;
    let (mut d_region, mut d_ds, mut d_val) = (Vec::new(), Vec::new(), Vec::new());
    let mut d_parts: [Vec<f64>; 3] = Default::default();
    let mut region = Vec::new();
    let (mut status, mut reason) = (Vec::new(), Vec::new());
    let (mut w0, mut w1) = (Vec::new(), Vec::new());
    let mut season = Vec::new();
    let mut stats: [Vec<Option<f64>>; 6] = Default::default();
    let mut peak = Vec::new();
    // each region's profile in parallel (each bootstrap has its own seeded generator), the
    // tables in region order
    let results: Vec<Option<Seasonality>> = series
        .par_iter()
        .map(|r| {
            let first = r.ds.first()?;
            let first_season = match frequency {
                crate::Frequency::Month => first.month0() as usize,
                crate::Frequency::Quarter => first.month0() as usize / 3,
                _ => 0,
            };
            Some(seasonality(&r.y, first_season, s))
        })
        .collect();
    for (r, got) in series.iter().zip(results) {
        let Some(got) = got else { continue };
        for (k, parts) in got.components.iter().enumerate() {
            d_region.push(r.region_id.as_str());
            d_ds.push(Some(to_epoch_days(r.ds[got.start + k])));
            d_val.push(r.y[got.start + k]);
            for (col, v) in d_parts.iter_mut().zip(parts) {
                col.push(*v);
            }
        }
        let window = (r.ds.get(got.start).copied(), r.ds.last().copied());
        let finite = |v: f64| v.is_finite().then_some(v);
        let mut push = |st: Option<&SeasonStat>| {
            region.push(r.region_id.clone());
            status.push(got.status);
            reason.push(got.reason.clone());
            w0.push(window.0.map(to_epoch_days));
            w1.push(window.1.map(to_epoch_days));
            season.push(st.map(|x| x.season as u32 + 1));
            let v = st.map(|x| [x.mean, x.index, x.index_lo, x.index_hi]);
            for (k, col) in stats.iter_mut().enumerate().take(4) {
                col.push(v.and_then(|v| finite(v[k])));
            }
            stats[4].push(finite(got.seasonal_strength));
            stats[5].push(finite(got.trend_strength));
            peak.push(st.map(|x| x.peak));
        };
        if got.seasons.is_empty() {
            push(None);
        } else {
            for st in &got.seasons {
                push(Some(st));
            }
        }
    }
    let ctx = "building the seasonality table";
    let n = region.len();
    let date = crate::data::period::date_column;
    let [mean, index, lo, hi, fs, ft] = stats;
    let profile = DataFrame::new(
        n,
        vec![
            Column::new("level".into(), vec![level.as_str(); n]),
            Column::new("region_id".into(), region),
            Column::new("status".into(), status),
            Column::new("reason".into(), reason),
            date("window_start", w0)?,
            date("window_end", w1)?,
            Column::new("season".into(), season),
            Column::new("mean".into(), mean),
            Column::new("index".into(), index),
            Column::new("index_lo".into(), lo),
            Column::new("index_hi".into(), hi),
            Column::new("peak".into(), peak),
            Column::new("seasonal_strength".into(), fs),
            Column::new("trend_strength".into(), ft),
        ],
    )
    .map_err(crate::EngineError::polars(ctx))?;
    let m = d_region.len();
    let [trend, seasonal, remainder] = d_parts;
    let decomposition = DataFrame::new(
        m,
        vec![
            Column::new("level".into(), vec![level.as_str(); m]),
            Column::new("region_id".into(), d_region),
            date("ds", d_ds)?,
            Column::new("value".into(), d_val),
            Column::new("trend".into(), trend),
            Column::new("seasonal".into(), seasonal),
            Column::new("remainder".into(), remainder),
        ],
    )
    .map_err(crate::EngineError::polars("building the decomposition table"))?;
    Ok((profile, decomposition))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_summer_peak_is_found_and_calendar_aligned() {
        // Starts in March (season 2); July and August (6, 7) carry five times the rest.
        let y: Vec<f64> = (0..120)
            .map(|t| {
                let month = (t + 2) % 12;
                let base = if month == 6 || month == 7 { 50.0 } else { 10.0 };
                base + ((t * 7) % 5) as f64
            })
            .collect();
        let s = seasonality(&y, 2, &SeasonalitySettings::default());
        assert_eq!(s.status, "ok");
        let peaks: Vec<usize> = s.seasons.iter().filter(|x| x.peak).map(|x| x.season).collect();
        assert_eq!(peaks, vec![6, 7]);
        assert!(s.seasonal_strength > 0.9, "{}", s.seasonal_strength);
        assert!(
            s.seasons
                .iter()
                .all(|x| x.index_lo <= x.index && x.index <= x.index_hi)
        );
    }

    #[test]
    fn sparse_regions_get_no_profile() {
        let mut y = vec![0.0; 120];
        y[50] = 3.0;
        let s = seasonality(&y, 0, &SeasonalitySettings::default());
        assert_eq!(s.status, "insufficient_data");
        assert!(s.seasons.is_empty());
        assert!(s.reason.as_deref().unwrap_or("").contains("non-zero"));
        let short = seasonality(&[1.0; 30], 0, &SeasonalitySettings::default());
        assert_eq!(short.status, "insufficient_data");
    }
}
