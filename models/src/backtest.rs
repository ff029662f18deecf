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

impl Default for BacktestSettings {
    /// Twelve origins a period apart, horizons 1 to 6, the default quantiles, monthly seasons.
    fn default() -> Self {
        BacktestSettings {
            origins: 12,
            step: 1,
            horizon: 6,
            probs: crate::DEFAULT_PROBS.to_vec(),
            season: 12,
        }
    }
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

/// One forecast of one period in a backtest. Its quantiles are held apart, in
/// [`BacktestRows`], and read through [`RowRef`].
///
/// The positions are narrow integers because a monthly job at 10,000 regions holds 13.5
/// million rows: four `usize` positions and a vector of quantiles per row were 192 bytes a
/// row (2.6 GB), most of the run's memory; this row is 64 bytes and its quantiles are 8 bytes
/// each in one block. [`BacktestRows::push`] refuses positions that do not fit.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BacktestRow {
    /// Position of the series in the input.
    pub series: u32,
    /// Training length at the origin: the forecast is made after observation `cutoff − 1`.
    pub cutoff: u32,
    /// 1-based horizon.
    pub horizon: u16,
    /// Position of the model in [`Backtest::models`].
    pub model: u16,
    /// Whether the fallback's forecast stands in for the model's.
    pub fell_back: bool,
    /// The outcome.
    pub y: f64,
    /// The point forecast.
    pub mean: f64,
    /// MASE scale: mean absolute seasonal-naive error on the training part (NaN when the
    /// training part is no longer than a season).
    pub scale: f64,
    /// `P(y ≥ EVENTS[0])` and `P(y ≥ EVENTS[1])` from the model's own predictive
    /// distribution, when it has one; otherwise scoring reads them off the quantiles.
    pub events: Option<[f64; 2]>,
}

impl BacktestRow {
    /// The period whose outcome the row forecasts (`cutoff + horizon − 1`, with horizon ≥ 1).
    pub fn resolves(&self) -> usize {
        (self.cutoff as usize + usize::from(self.horizon)).saturating_sub(1)
    }
}

/// The positions of a row, as the backtest counts them, before they are narrowed into a
/// [`BacktestRow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowKey {
    /// Position of the series in the input.
    pub series: usize,
    /// Training length at the origin.
    pub cutoff: usize,
    /// 1-based horizon.
    pub horizon: usize,
    /// Position of the model.
    pub model: usize,
}

/// The values of a row other than its positions and quantiles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowValues {
    /// The outcome.
    pub y: f64,
    /// The point forecast.
    pub mean: f64,
    /// MASE scale (see [`BacktestRow::scale`]).
    pub scale: f64,
    /// Whether the fallback's forecast stands in for the model's.
    pub fell_back: bool,
    /// The model's own event probabilities, if any.
    pub events: Option<[f64; 2]>,
}

/// A backtest row with its quantiles: what reading [`BacktestRows`] gives. It dereferences to
/// the [`BacktestRow`], so `r.y`, `r.model` … read as on the row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowRef<'a> {
    row: &'a BacktestRow,
    /// Quantiles at [`Backtest::probs`].
    pub quantiles: &'a [f64],
}

impl std::ops::Deref for RowRef<'_> {
    type Target = BacktestRow;
    fn deref(&self) -> &BacktestRow {
        self.row
    }
}

/// The rows of a backtest, with every row's quantiles in one block beside them (row `i`'s at
/// `i·width .. (i+1)·width`) rather than in a vector per row: a vector's own 24 bytes and its
/// heap block's rounding cost more than its nine quantiles.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RowsParts")]
pub struct BacktestRows {
    width: usize,
    rows: Vec<BacktestRow>,
    quantiles: Vec<f64>,
}

/// [`BacktestRows`] as read from a file, checked before use.
#[derive(serde::Deserialize)]
struct RowsParts {
    width: usize,
    rows: Vec<BacktestRow>,
    quantiles: Vec<f64>,
}

impl TryFrom<RowsParts> for BacktestRows {
    type Error = String;
    fn try_from(p: RowsParts) -> Result<Self, String> {
        if p.rows.len().checked_mul(p.width) != Some(p.quantiles.len()) {
            return Err(format!(
                "backtest rows: {} rows of {} quantiles need {} values, the data has {}",
                p.rows.len(),
                p.width,
                p.rows.len().saturating_mul(p.width),
                p.quantiles.len()
            ));
        }
        Ok(BacktestRows {
            width: p.width,
            rows: p.rows,
            quantiles: p.quantiles,
        })
    }
}

/// `v` as a row's narrow integer, or the error that names it.
fn narrow<T: TryFrom<usize>>(v: usize, what: &str) -> Result<T, ModelError> {
    T::try_from(v).map_err(|_| ModelError::InvalidParams {
        model: "backtest".into(),
        message: format!(
            "{what} {v} is too large for a backtest row (series and origins up to {}, \
             horizons and models up to {})",
            u32::MAX,
            u16::MAX
        ),
    })
}

impl BacktestRows {
    /// No rows; each row will have `width` quantiles.
    pub fn new(width: usize) -> Self {
        Self::with_capacity(width, 0)
    }

    /// No rows, with room for `n` rows of `width` quantiles.
    pub fn with_capacity(width: usize, n: usize) -> Self {
        BacktestRows {
            width,
            rows: Vec::with_capacity(n),
            quantiles: Vec::with_capacity(n.saturating_mul(width)),
        }
    }

    /// Quantiles per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Rows there is room for without moving.
    pub fn capacity(&self) -> usize {
        self.rows.capacity()
    }

    /// Appends a row. Refused (and nothing appended) when a position does not fit the row's
    /// integers or `quantiles` is not `width` long.
    pub fn push(&mut self, key: RowKey, v: RowValues, quantiles: &[f64]) -> Result<(), ModelError> {
        if quantiles.len() != self.width {
            return Err(ModelError::InvalidParams {
                model: "backtest".into(),
                message: format!(
                    "a row has {} quantiles, the backtest records {}",
                    quantiles.len(),
                    self.width
                ),
            });
        }
        let row = BacktestRow {
            series: narrow(key.series, "series position")?,
            cutoff: narrow(key.cutoff, "origin")?,
            horizon: narrow(key.horizon, "horizon")?,
            model: narrow(key.model, "model position")?,
            fell_back: v.fell_back,
            y: v.y,
            mean: v.mean,
            scale: v.scale,
            events: v.events,
        };
        self.rows.push(row);
        self.quantiles.extend_from_slice(quantiles);
        Ok(())
    }

    /// Row `i` with its quantiles.
    pub fn get(&self, i: usize) -> Option<RowRef<'_>> {
        let row = self.rows.get(i)?;
        Some(RowRef {
            row,
            quantiles: &self.quantiles[i * self.width..(i + 1) * self.width],
        })
    }

    /// Every row with its quantiles, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = RowRef<'_>> + ExactSizeIterator + Clone {
        let w = self.width;
        self.rows.iter().enumerate().map(move |(i, row)| RowRef {
            row,
            quantiles: &self.quantiles[i * w..(i + 1) * w],
        })
    }

    /// The rows without their quantiles (a scan of positions and outcomes reads less).
    pub fn rows(&self) -> &[BacktestRow] {
        &self.rows
    }

    /// Every row's quantiles in one block: row `i`'s are at `i·width .. (i+1)·width`.
    pub fn quantiles(&self) -> &[f64] {
        &self.quantiles
    }

    /// Every row, mutable, with its quantiles (which stay as they are).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&mut BacktestRow, &[f64])> {
        let w = self.width;
        let q = &self.quantiles;
        self.rows
            .iter_mut()
            .enumerate()
            .map(move |(i, row)| (row, &q[i * w..(i + 1) * w]))
    }

    /// Keeps the rows for which `keep` is true, in order, with their quantiles.
    pub fn retain(&mut self, mut keep: impl FnMut(&BacktestRow) -> bool) {
        let w = self.width;
        let mut kept = 0;
        for i in 0..self.rows.len() {
            if keep(&self.rows[i]) {
                if kept != i {
                    self.rows[kept] = self.rows[i];
                    self.quantiles.copy_within(i * w..(i + 1) * w, kept * w);
                }
                kept += 1;
            }
        }
        self.rows.truncate(kept);
        self.quantiles.truncate(kept * w);
    }

    /// Reserves room for exactly `n` more rows.
    pub fn reserve_exact(&mut self, n: usize) {
        self.rows.reserve_exact(n);
        self.quantiles.reserve_exact(n.saturating_mul(self.width));
    }

    /// Offers unused room back to the allocator.
    pub fn shrink_to_fit(&mut self) {
        self.rows.shrink_to_fit();
        self.quantiles.shrink_to_fit();
    }

    /// Removes every row (the room stays).
    pub fn clear(&mut self) {
        self.rows.clear();
        self.quantiles.clear();
    }

    /// Moves the rows of `other` to the end. Refused when the widths differ.
    pub fn append(&mut self, mut other: BacktestRows) -> Result<(), ModelError> {
        if other.is_empty() {
            return Ok(());
        }
        if other.width != self.width {
            return Err(ModelError::InvalidParams {
                model: "backtest".into(),
                message: format!(
                    "rows of {} quantiles cannot join rows of {}",
                    other.width, self.width
                ),
            });
        }
        self.rows.append(&mut other.rows);
        self.quantiles.append(&mut other.quantiles);
        Ok(())
    }

    /// Sorts the rows (stably) by `key`, quantiles alongside.
    pub fn sort_by_key<K: Ord>(&mut self, mut key: impl FnMut(&BacktestRow) -> K) {
        // rows often come sorted already (merged shards of consecutive regions): no copy then
        if self.rows.is_sorted_by_key(&mut key) {
            return;
        }
        let mut order: Vec<usize> = (0..self.rows.len()).collect();
        order.sort_by_key(|i| key(&self.rows[*i]));
        let w = self.width;
        let mut rows = Vec::with_capacity(self.rows.len());
        let mut quantiles = Vec::with_capacity(self.quantiles.len());
        for i in order {
            rows.push(self.rows[i]);
            quantiles.extend_from_slice(&self.quantiles[i * w..(i + 1) * w]);
        }
        self.rows = rows;
        self.quantiles = quantiles;
    }
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
    pub rows: BacktestRows,
    /// Every fit that fell back.
    pub fallbacks: Vec<BacktestFallback>,
}

impl Backtest {
    /// Appends the rows of a model computed after the backtest (a pooled model, the ensemble)
    /// under `name`. The rows are reserved exactly: growing alone would double a block of
    /// millions of rows.
    ///
    /// With room reserved up front ([`backtest_with_room`]) the rows do not move.
    pub fn add_model(&mut self, name: String, rows: BacktestRows) -> Result<(), ModelError> {
        self.rows.reserve_exact(rows.len());
        self.rows.append(rows)?;
        self.models.push(name);
        Ok(())
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
    backtest_with_room(series, models, fallback, settings, 0, &mut |_, _| {})
}

/// [`backtest`], with the row vector's capacity reserved for `room` more models appended
/// later with [`Backtest::add_model`] (pooled models, an ensemble). A backtest of millions of
/// rows that grows afterwards is copied whole to a larger block, and for a moment it is held
/// twice; reserved from the start, it never moves.
///
/// `progress(done, total)` is called after each batch of series, with the number of series
/// backtested so far and in all (a job at 50,000 regions spends over an hour here).
pub fn backtest_with_room(
    series: &[&[f64]],
    models: &[&dyn Forecaster],
    fallback: &dyn Forecaster,
    settings: &BacktestSettings,
    room: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Backtest, ModelError> {
    settings.check()?;
    let mut origins = 0;
    for y in series {
        origins += settings.cutoffs(y.len())?.len();
    }
    let mut out = Backtest {
        models: models.iter().map(|m| m.name().to_string()).collect(),
        probs: settings.probs.clone(),
        rows: BacktestRows::with_capacity(
            settings.probs.len(),
            origins * (models.len() + room) * settings.horizon,
        ),
        fallbacks: Vec::new(),
    };
    for (b, batch) in series.chunks(SERIES_PER_BATCH).enumerate() {
        let per_series: Vec<(BacktestRows, Vec<BacktestFallback>)> = batch
            .par_iter()
            .enumerate()
            .map(|(i, y)| series_rows(b * SERIES_PER_BATCH + i, y, models, fallback, settings))
            .collect::<Result<_, ModelError>>()?;
        for (rows, fallbacks) in per_series {
            out.rows.append(rows)?;
            out.fallbacks.extend(fallbacks);
        }
        progress(b * SERIES_PER_BATCH + batch.len(), series.len());
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
) -> Result<(BacktestRows, Vec<BacktestFallback>), ModelError> {
    let cutoffs = settings.cutoffs(y.len())?;
    // exactly the rows this series makes: growing by doubling would leave up to half of the
    // block unused
    let mut rows = BacktestRows::with_capacity(
        settings.probs.len(),
        cutoffs.len() * models.len() * settings.horizon,
    );
    let mut fallbacks = Vec::new();
    let mut q = Vec::with_capacity(settings.probs.len());
    for cutoff in cutoffs {
        let train = &y[..cutoff];
        let scale = seasonal_naive_scale(train, settings.season);
        for (mi, model) in models.iter().enumerate() {
            let (f, _, fell_back) =
                fit_or_fall_back(train, *model, fallback, settings.horizon, &settings.probs)?;
            for k in 0..settings.horizon {
                q.clear();
                q.extend(f.quantiles.iter().map(|at| at[k]));
                rows.push(
                    RowKey {
                        series: s,
                        cutoff,
                        horizon: k + 1,
                        model: mi,
                    },
                    RowValues {
                        y: y[cutoff + k],
                        mean: f.mean[k],
                        scale,
                        fell_back: fell_back.is_some(),
                        events: None,
                    },
                    &q,
                )?;
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
        for r in bt.rows.iter() {
            // the naive forecast is the last training value: the origin's past, never later
            assert_eq!(r.mean, f64::from(r.cutoff - 1));
            assert_eq!(r.y, r.resolves() as f64);
            assert_eq!(r.quantiles.len(), DEFAULT_PROBS.len());
        }
        // series 0..39 with season 12: every seasonal difference is 12
        assert!(bt.rows.rows().iter().all(|r| r.scale == 12.0));
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
        let mut reported = Vec::new();
        let room = backtest_with_room(
            &refs,
            &[&Naive],
            &Naive,
            &settings(2, 1, 3),
            2,
            &mut |done, all| reported.push((done, all)),
        )
        .expect("runs");
        assert_eq!(room.rows, bt.rows);
        let all = ys.len();
        assert_eq!(
            reported,
            [(SERIES_PER_BATCH, all), (2 * SERIES_PER_BATCH, all), (all, all)],
            "progress after each batch"
        );
        assert_eq!(
            room.rows.capacity(),
            3 * bt.rows.len(),
            "room for two more models"
        );
        for (i, r) in bt.rows.iter().enumerate() {
            assert_eq!(r.series as usize, i / 6, "rows in series order");
            assert_eq!(r.y, (r.series as usize + r.resolves()) as f64);
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

    fn key(series: usize, cutoff: usize, horizon: usize, model: usize) -> RowKey {
        RowKey {
            series,
            cutoff,
            horizon,
            model,
        }
    }

    fn values(y: f64) -> RowValues {
        RowValues {
            y,
            mean: y,
            scale: 1.0,
            fell_back: false,
            events: None,
        }
    }

    /// Rows whose outcome is `10 · series + model` and whose quantiles are `[y, y + 0.5]`, so
    /// that a row's quantiles say which row they belong to.
    fn labelled(keys: &[(usize, usize)]) -> BacktestRows {
        let mut rows = BacktestRows::new(2);
        for (series, model) in keys {
            let y = (10 * series + model) as f64;
            rows.push(key(*series, 20, 1, *model), values(y), &[y, y + 0.5])
                .expect("fits");
        }
        rows
    }

    fn aligned(rows: &BacktestRows) -> bool {
        rows.iter().all(|r| r.quantiles == [r.y, r.y + 0.5])
    }

    #[test]
    fn rows_that_do_not_fit_are_refused_and_nothing_is_appended() {
        let mut rows = labelled(&[(0, 0)]);
        let refused = [
            rows.push(key(1, 20, 1, 0), values(1.0), &[1.0]),
            rows.push(key(1, 20, 1, 0), values(1.0), &[1.0, 2.0, 3.0]),
            rows.push(key(1 << 40, 20, 1, 0), values(1.0), &[1.0, 2.0]),
            rows.push(key(1, 20, 70_000, 0), values(1.0), &[1.0, 2.0]),
            rows.push(key(1, 20, 1, 70_000), values(1.0), &[1.0, 2.0]),
        ];
        for r in refused {
            assert!(matches!(r, Err(ModelError::InvalidParams { .. })), "{r:?}");
        }
        assert_eq!((rows.len(), rows.quantiles().len()), (1, 2));
        let joined = rows.append(BacktestRows::new(3)).map(|()| rows.len());
        assert_eq!(joined, Ok(1), "an empty block joins whatever its width");
        let mut three = BacktestRows::new(3);
        three
            .push(key(0, 20, 1, 0), values(0.0), &[0.0; 3])
            .expect("fits");
        assert!(rows.append(three).is_err(), "three quantiles cannot join two");
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn quantiles_follow_their_rows_through_retain_sort_and_append() {
        let mut rows = labelled(&[(2, 0), (0, 1), (1, 0), (0, 0), (2, 1), (1, 1)]);
        rows.retain(|r| r.series != 1);
        assert_eq!(rows.len(), 4);
        assert!(aligned(&rows));
        // stable: within a series, the order of before
        rows.sort_by_key(|r| r.series);
        let order: Vec<(u32, u16)> = rows.iter().map(|r| (r.series, r.model)).collect();
        assert_eq!(order, vec![(0, 1), (0, 0), (2, 0), (2, 1)]);
        assert!(aligned(&rows));
        rows.append(labelled(&[(3, 0)])).expect("same width");
        assert!(aligned(&rows) && rows.len() == 5 && rows.quantiles().len() == 10);
        let got = rows.get(4).expect("row 4");
        assert_eq!((got.series, got.quantiles), (3, &[30.0, 30.5][..]));
        assert!(rows.get(5).is_none());
        for (row, q) in rows.iter_mut() {
            row.mean = q[1];
        }
        assert!(rows.rows().iter().all(|r| r.mean == r.y + 0.5));
    }

    #[test]
    fn rows_read_from_a_file_must_hold_every_rows_quantiles() {
        let rows = labelled(&[(0, 0), (0, 1)]);
        let text = serde_json::to_string(&rows).expect("serialises");
        let back: BacktestRows = serde_json::from_str(&text).expect("reads back");
        assert_eq!(back, rows);
        let cut = text.replace(",1.0,1.5]", "]");
        assert_ne!(cut, text);
        let err = serde_json::from_str::<BacktestRows>(&cut).expect_err("a row's quantiles missing");
        assert!(
            err.to_string()
                .contains("2 rows of 2 quantiles need 4 values, the data has 2"),
            "{err}"
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        let y = [1.0; 30];
        assert!(backtest(&[&y], &[&Naive], &Naive, &settings(0, 1, 2)).is_err());
        assert!(backtest(&[&y], &[&Naive], &Naive, &settings(2, 0, 2)).is_err());
    }
}
