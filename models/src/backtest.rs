//! Rolling-origin backtests.
//!
//! For each series of length `n`, the origins are the training lengths
//! `c = n − horizon − k·step` for `k = origins−1, …, 0`: the last origin leaves exactly
//! `horizon` observations to forecast, so every origin is scored on all horizons 1..=horizon.
//! Every model is refitted at every origin on `y[..c]` only, so nothing after the origin leaks
//! into a forecast. A model that cannot fit at an origin is replaced there by the fallback,
//! and the row says so; its score is what the job would have published.

use rayon::prelude::*;

use crate::runner::fit_or_fall_back;
use crate::{Forecaster, ModelError, check_probs};

/// How a backtest runs.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestSettings {
    /// Number of forecast origins (at least 1).
    pub origins: usize,
    /// Periods between consecutive origins (at least 1).
    pub step: usize,
    /// Forecast horizons 1..=horizon at each origin.
    pub horizon: usize,
    /// Quantile probabilities to record.
    pub probs: Vec<f64>,
    /// Season length for MASE's seasonal-naive scale (12 for months).
    pub season: usize,
}

impl BacktestSettings {
    /// Checks the settings, naming the one that is wrong.
    pub fn check(&self) -> Result<(), ModelError> {
        let bad = |message: String| {
            Err(ModelError::InvalidParams {
                model: "backtest".into(),
                message,
            })
        };
        if self.origins == 0 {
            return bad("origins must be at least 1".into());
        }
        if self.step == 0 {
            return bad("step must be at least 1 period".into());
        }
        if self.horizon == 0 {
            return bad("horizon must be at least 1 period".into());
        }
        if self.season == 0 {
            return bad("season must be at least 1 period".into());
        }
        check_probs("backtest", &self.probs)
    }

    /// Training lengths of the origins for a series of length `n`, oldest first.
    pub fn cutoffs(&self, n: usize) -> Result<Vec<usize>, ModelError> {
        let span = self.horizon + (self.origins - 1) * self.step;
        if n <= span {
            return Err(ModelError::TooShort {
                model: format!(
                    "backtest ({} origins, step {}, horizon {})",
                    self.origins, self.step, self.horizon
                ),
                needed: span + 1,
                got: n,
            });
        }
        Ok((0..self.origins)
            .rev()
            .map(|k| n - self.horizon - k * self.step)
            .collect())
    }
}

/// One forecast of one period in a backtest.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BacktestRow {
    /// Position of the series in the input.
    pub series: usize,
    /// Training length at the origin: the forecast is made after observation `cutoff − 1`.
    pub cutoff: usize,
    /// 1-based horizon.
    pub horizon: usize,
    /// Position of the model in [`Backtest::models`].
    pub model: usize,
    /// The outcome.
    pub y: f64,
    /// The point forecast.
    pub mean: f64,
    /// Quantiles at [`Backtest::probs`].
    pub quantiles: Vec<f64>,
    /// MASE scale: mean absolute seasonal-naive error on the training part (NaN when the
    /// training part is no longer than a season).
    pub scale: f64,
    /// Whether the fallback's forecast stands in for the model's.
    pub fell_back: bool,
    /// `P(y ≥ EVENTS[0])` and `P(y ≥ EVENTS[1])` from the model's own predictive
    /// distribution, when it has one; otherwise scoring reads them off the quantiles.
    pub events: Option<[f64; 2]>,
}

/// A model that fell back at an origin.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BacktestFallback {
    /// Series position.
    pub series: usize,
    /// Training length at the origin.
    pub cutoff: usize,
    /// Model position.
    pub model: usize,
    /// Why the model failed.
    pub reason: String,
}

/// The result of [`backtest`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Backtest {
    /// Model names, in the order given.
    pub models: Vec<String>,
    /// Quantile probabilities of every row.
    pub probs: Vec<f64>,
    /// One row per series × origin × model × horizon.
    pub rows: Vec<BacktestRow>,
    /// Every fit that fell back.
    pub fallbacks: Vec<BacktestFallback>,
}

impl Backtest {
    /// Appends the rows of a model computed after the backtest (a pooled model, the ensemble)
    /// under `name`. The rows are reserved exactly: `extend` alone would double a vector of
    /// millions of rows.
    ///
    /// With room reserved up front ([`backtest_with_room`]) the rows do not move.
    pub fn add_model(&mut self, name: String, rows: Vec<BacktestRow>) {
        self.models.push(name);
        self.rows.reserve_exact(rows.len());
        self.rows.extend(rows);
    }
}

/// Mean absolute seasonal-naive error of `y` with season `m`; NaN if `y` is too short.
pub fn seasonal_naive_scale(y: &[f64], m: usize) -> f64 {
    if y.len() <= m {
        return f64::NAN;
    }
    let s: f64 = (m..y.len()).map(|t| (y[t] - y[t - m]).abs()).sum();
    s / (y.len() - m) as f64
}

/// Series backtested at a time. Each batch's rows are moved into the result before the next
/// batch starts, so the rows exist twice (per series, then in the result) for one batch only,
/// not for the whole backtest (at 10,000 regions that was 1.2 GB more at the end of the local
/// models). The batch is large enough that waiting for its slowest series costs little.
const SERIES_PER_BATCH: usize = 512;

/// Runs a rolling-origin backtest of every model on every series (series in parallel).
pub fn backtest(
    series: &[&[f64]],
    models: &[&dyn Forecaster],
    fallback: &dyn Forecaster,
    settings: &BacktestSettings,
) -> Result<Backtest, ModelError> {
    backtest_with_room(series, models, fallback, settings, 0)
}

/// [`backtest`], with the row vector's capacity reserved for `room` more models appended
/// later with [`Backtest::add_model`] (pooled models, an ensemble). A backtest of millions of
/// rows that grows afterwards is copied whole to a larger block, and for a moment it is held
/// twice; reserved from the start, it never moves.
pub fn backtest_with_room(
    series: &[&[f64]],
    models: &[&dyn Forecaster],
    fallback: &dyn Forecaster,
    settings: &BacktestSettings,
    room: usize,
) -> Result<Backtest, ModelError> {
    settings.check()?;
    let mut origins = 0;
    for y in series {
        origins += settings.cutoffs(y.len())?.len();
    }
    let mut out = Backtest {
        models: models.iter().map(|m| m.name().to_string()).collect(),
        probs: settings.probs.clone(),
        rows: Vec::with_capacity(origins * (models.len() + room) * settings.horizon),
        fallbacks: Vec::new(),
    };
    for (b, batch) in series.chunks(SERIES_PER_BATCH).enumerate() {
        let per_series: Vec<(Vec<BacktestRow>, Vec<BacktestFallback>)> = batch
            .par_iter()
            .enumerate()
            .map(|(i, y)| series_rows(b * SERIES_PER_BATCH + i, y, models, fallback, settings))
            .collect::<Result<_, ModelError>>()?;
        for (rows, fallbacks) in per_series {
            out.rows.extend(rows);
            out.fallbacks.extend(fallbacks);
        }
    }
    Ok(out)
}

/// The backtest rows of series `s` (and its fallbacks), origin by origin.
fn series_rows(
    s: usize,
    y: &[f64],
    models: &[&dyn Forecaster],
    fallback: &dyn Forecaster,
    settings: &BacktestSettings,
) -> Result<(Vec<BacktestRow>, Vec<BacktestFallback>), ModelError> {
    let cutoffs = settings.cutoffs(y.len())?;
    // exactly the rows this series makes: growing by doubling would leave up to half of the
    // block unused
    let mut rows = Vec::with_capacity(cutoffs.len() * models.len() * settings.horizon);
    let mut fallbacks = Vec::new();
    for cutoff in cutoffs {
        let train = &y[..cutoff];
        let scale = seasonal_naive_scale(train, settings.season);
        for (mi, model) in models.iter().enumerate() {
            let (f, _, fell_back) =
                fit_or_fall_back(train, *model, fallback, settings.horizon, &settings.probs)?;
            for k in 0..settings.horizon {
                rows.push(BacktestRow {
                    series: s,
                    cutoff,
                    horizon: k + 1,
                    model: mi,
                    y: y[cutoff + k],
                    mean: f.mean[k],
                    quantiles: f.quantiles_at(k),
                    scale,
                    fell_back: fell_back.is_some(),
                    events: None,
                });
            }
            if let Some(reason) = fell_back {
                fallbacks.push(BacktestFallback {
                    series: s,
                    cutoff,
                    model: mi,
                    reason,
                });
            }
        }
    }
    Ok((rows, fallbacks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DEFAULT_PROBS, Naive, SeasonalNaive};

    fn settings(origins: usize, step: usize, horizon: usize) -> BacktestSettings {
        BacktestSettings {
            origins,
            step,
            horizon,
            probs: DEFAULT_PROBS.to_vec(),
            season: 12,
        }
    }

    #[test]
    fn origins_end_where_the_last_horizon_meets_the_data() {
        assert_eq!(settings(3, 2, 6).cutoffs(100), Ok(vec![90, 92, 94]));
        assert!(matches!(
            settings(3, 2, 6).cutoffs(10),
            Err(ModelError::TooShort {
                needed: 11,
                got: 10,
                ..
            })
        ));
    }

    #[test]
    fn every_origin_is_refitted_on_its_past_only() {
        let y: Vec<f64> = (0..40).map(f64::from).collect();
        let bt = backtest(&[&y], &[&Naive], &Naive, &settings(4, 1, 3)).expect("runs");
        assert_eq!(bt.rows.len(), 4 * 3);
        for r in &bt.rows {
            // the naive forecast is the last training value: the origin's past, never later
            assert_eq!(r.mean, (r.cutoff - 1) as f64);
            assert_eq!(r.y, (r.cutoff + r.horizon - 1) as f64);
        }
        // series 0..39 with season 12: every seasonal difference is 12
        assert!(bt.rows.iter().all(|r| r.scale == 12.0));
    }

    #[test]
    fn series_past_one_batch_keep_their_positions_and_order() {
        // series s is s, s + 1, s + 2, …: a row's outcome names its series
        let ys: Vec<Vec<f64>> = (0..SERIES_PER_BATCH * 2 + 37)
            .map(|s| (0..20).map(|t| (s + t) as f64).collect())
            .collect();
        let refs: Vec<&[f64]> = ys.iter().map(Vec::as_slice).collect();
        let bt = backtest(&refs, &[&Naive], &Naive, &settings(2, 1, 3)).expect("runs");
        assert_eq!(bt.rows.len(), ys.len() * 2 * 3);
        assert_eq!(bt.rows.capacity(), bt.rows.len(), "reserved exactly");
        let room = backtest_with_room(&refs, &[&Naive], &Naive, &settings(2, 1, 3), 2).expect("runs");
        assert_eq!(room.rows, bt.rows);
        assert_eq!(
            room.rows.capacity(),
            3 * bt.rows.len(),
            "room for two more models"
        );
        for (i, r) in bt.rows.iter().enumerate() {
            assert_eq!(r.series, i / 6, "rows in series order");
            assert_eq!(r.y, (r.series + r.cutoff + r.horizon - 1) as f64);
        }
        // a series too short for the origins is refused, whichever batch it is in
        let mut short = refs.clone();
        short[SERIES_PER_BATCH + 5] = &ys[0][..4];
        assert!(matches!(
            backtest(&short, &[&Naive], &Naive, &settings(2, 1, 3)),
            Err(ModelError::TooShort { .. })
        ));
    }

    #[test]
    fn a_failing_model_falls_back_per_origin() {
        let y = [1.0; 16];
        let sn = SeasonalNaive::new(12).expect("valid");
        let bt = backtest(&[&y], &[&sn], &Naive, &settings(3, 1, 2)).expect("runs");
        // cutoffs 12, 13, 14 all reach one season, so none fall back …
        assert!(bt.fallbacks.is_empty());
        let bt = backtest(&[&y[..13]], &[&sn], &Naive, &settings(3, 1, 2)).expect("runs");
        // … but cutoffs 9, 10, 11 do
        assert_eq!(bt.fallbacks.len(), 3);
        assert!(bt.rows.iter().all(|r| r.fell_back));
    }

    #[test]
    fn bad_settings_are_refused() {
        let y = [1.0; 30];
        assert!(backtest(&[&y], &[&Naive], &Naive, &settings(0, 1, 2)).is_err());
        assert!(backtest(&[&y], &[&Naive], &Naive, &settings(2, 0, 2)).is_err());
    }
}
