//! Features for global models that pool all regions: for region `r` at forecast origin `t`
//! (the last observed period), a fixed-length row made only of observations `y[..=t]` of that
//! region and of the other regions in its group (its country), plus the calendar.
//!
//! Every feature is computed from slices that end at the origin, so a feature cannot see the
//! future by construction; `leakage` tests in this module and on the real GED panel change
//! every value after an origin and check that no feature at or before it moves. The features
//! are computed on the series rather than as polars expressions because each is a function of
//! (series, origin) and the global models consume them as rows, not as frame columns.
//!
//! Count features are on the log1p scale (fatality counts are heavy-tailed).

use crate::data::series::RegionSeries;
use chrono::Datelike;

/// Names of the feature columns, in row order.
pub const FEATURE_NAMES: [&str; 23] = [
    "lag1",
    "lag2",
    "lag3",
    "lag4",
    "lag5",
    "lag6",
    "lag7",
    "lag8",
    "lag9",
    "lag10",
    "lag11",
    "lag12",
    "mean3",
    "mean6",
    "mean12",
    "max12",
    "months_since_event",
    "history_length",
    "target_month_sin",
    "target_month_cos",
    "group_lag1",
    "group_mean12",
    "group_size",
];

/// Number of features.
pub const N_FEATURES: usize = FEATURE_NAMES.len();

/// Cap of the time-since-event and history features (periods): older is "long ago".
pub const CAP: f64 = 120.0;

fn l(v: f64) -> f64 {
    v.max(0.0).ln_1p()
}

/// `log1p` of the mean of `y[t+1-w ..= t]` (shorter at the start of the series).
fn window_mean(y: &[f64], t: usize, w: usize) -> f64 {
    let a = (t + 1).saturating_sub(w);
    l(y[a..=t].iter().sum::<f64>() / (t + 1 - a) as f64)
}

/// The features of every region at origin `t` for horizon `h`: `rows[r]` has
/// [`N_FEATURES`] values. `groups[r]` names the region's group (country) for the spatial lag:
/// the mean over the *other* regions of the group (0 with no other region). Every series must
/// reach `t` and share the calendar of `series[0]`.
pub fn features_at(series: &[RegionSeries], groups: &[String], t: usize, h: usize) -> Vec<[f64; N_FEATURES]> {
    // group sums of lag 1 and of the 12-period mean, for the leave-one-out spatial lag
    let mut sums: std::collections::HashMap<&str, (f64, f64, usize)> = std::collections::HashMap::new();
    let own: Vec<(f64, f64)> = series
        .iter()
        .map(|s| {
            let a = (t + 1).saturating_sub(12);
            (s.y[t], s.y[a..=t].iter().sum::<f64>() / (t + 1 - a) as f64)
        })
        .collect();
    for (g, (v1, v12)) in groups.iter().zip(&own) {
        let e = sums.entry(g.as_str()).or_insert((0.0, 0.0, 0));
        e.0 += v1;
        e.1 += v12;
        e.2 += 1;
    }
    let target = series
        .first()
        .and_then(|s| s.ds.get(t).copied())
        .and_then(|d| d.checked_add_months(chrono::Months::new(h as u32)));
    let month = target.map_or(0.0, |d| d.month0() as f64);
    let angle = std::f64::consts::TAU * month / 12.0;
    series
        .iter()
        .zip(groups)
        .zip(&own)
        .map(|((s, g), (v1, v12))| {
            let y = &s.y[..=t];
            let mut row = [0.0; N_FEATURES];
            for k in 0..12 {
                row[k] = if t >= k { l(y[t - k]) } else { 0.0 };
            }
            row[12] = window_mean(y, t, 3);
            row[13] = window_mean(y, t, 6);
            row[14] = window_mean(y, t, 12);
            row[15] = l(y[(t + 1).saturating_sub(12)..=t]
                .iter()
                .fold(0.0, |m, v| m.max(*v)));
            row[16] = y
                .iter()
                .rposition(|v| *v > 0.0)
                .map_or(CAP, |i| ((t - i) as f64).min(CAP));
            row[17] = y
                .iter()
                .position(|v| *v > 0.0)
                .map_or(0.0, |i| ((t - i + 1) as f64).min(CAP));
            row[18] = angle.sin();
            row[19] = angle.cos();
            let (s1, s12, n) = sums[g.as_str()];
            if n > 1 {
                let others = (n - 1) as f64;
                row[20] = l((s1 - v1) / others);
                row[21] = l((s12 - v12) / others);
            }
            row[22] = (n as f64).ln();
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::region::country_of;

    fn series(id: &str, y: Vec<f64>) -> RegionSeries {
        crate::data::series::monthly_series(id, y)
    }

    #[test]
    fn features_by_hand() {
        let a = series("1/a", vec![0.0, 3.0, 0.0, 0.0, 7.0]);
        let b = series("1/b", vec![1.0, 1.0, 1.0, 1.0, 1.0]);
        let c = series("2/c", vec![0.0; 5]);
        let groups: Vec<String> = [&a, &b, &c].iter().map(|s| country_of(&s.region_id)).collect();
        let rows = features_at(&[a, b, c], &groups, 4, 2);
        let r = rows[0];
        assert_eq!(r[0], 7f64.ln_1p());
        assert_eq!(r[1], 0.0);
        assert_eq!(r[3], 3f64.ln_1p());
        assert_eq!(r[4], 0.0); // lag 5 exists (value 0)
        assert_eq!(r[5], 0.0); // lag 6 is before the series
        assert!((r[12] - (7.0f64 / 3.0).ln_1p()).abs() < 1e-12);
        assert_eq!(r[16], 0.0); // an event in the origin month
        assert_eq!(r[17], 4.0); // first event in month 1 → 4 months of history
        // target month: May 2020 + 2 = July (month0 6)
        assert!((r[19] - (std::f64::consts::TAU * 6.0 / 12.0).cos()).abs() < 1e-12);
        // spatial lag: the other region of country 1 only
        assert_eq!(r[20], 1f64.ln_1p());
        assert_eq!(rows[2][20], 0.0); // alone in country 2
        assert_eq!(rows[2][16], CAP); // never an event
    }

    #[test]
    fn changing_the_future_changes_no_feature_at_or_before_the_origin() {
        let make = |future: f64| {
            let y: Vec<f64> = (0..40)
                .map(|t| if t > 25 { future } else { (t % 4) as f64 })
                .collect();
            let z: Vec<f64> = (0..40)
                .map(|t| if t > 25 { future * 2.0 } else { (t % 3) as f64 })
                .collect();
            vec![series("1/a", y), series("1/b", z)]
        };
        let groups = vec!["1".to_string(), "1".to_string()];
        let (calm, storm) = (make(0.0), make(500.0));
        for t in 0..=25 {
            for h in 1..=6 {
                assert_eq!(
                    features_at(&calm, &groups, t, h),
                    features_at(&storm, &groups, t, h),
                    "t={t} h={h}"
                );
            }
        }
        assert_ne!(
            features_at(&calm, &groups, 26, 1),
            features_at(&storm, &groups, 26, 1)
        );
    }
}
