//! Panels: zero-filled region × period counts of events and fatalities.
//!
//! Every region has a row for every period of its span, with 0 where nothing happened: absence of
//! events is a count of zero, never a missing row. A row with no admin unit (or no grid cell)
//! counts in an explicit `unknown` region of its country instead of being dropped.

use crate::data::period::{Frequency, from_epoch_days, to_epoch_days};
use crate::data::region::Level;
use crate::data::region::{UNKNOWN, region_id};
use crate::error::EngineError;
use chrono::NaiveDate;
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The panel columns a job can forecast.
pub const TARGETS: [&str; 4] = ["events", "fatalities_best", "fatalities_low", "fatalities_high"];

/// The column a job forecasts when its spec names none.
pub const DEFAULT_TARGET: &str = "fatalities_best";

/// How to build a panel.
#[derive(Debug, Clone)]
pub struct PanelOptions {
    /// Geographic level.
    pub level: Level,
    /// Time step.
    pub frequency: Frequency,
    /// First period of every region's span; `None` = the period of the earliest incident.
    pub start: Option<NaiveDate>,
    /// The last period of every span is the one containing this date.
    pub as_of: NaiveDate,
}

/// What went into a panel.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PanelReport {
    /// Incidents counted in the panel.
    pub incidents_in_panel: u64,
    /// Incidents dated before the configured start (left out, counted here).
    pub incidents_before_start: u64,
    /// Incidents dated after the as-of date (left out, counted here).
    pub incidents_after_as_of: u64,
    /// Number of regions.
    pub regions: u64,
    /// Number of periods in the span.
    pub periods: u64,
    /// First period (`ds`) of the span.
    pub span_start: String,
    /// Last period (`ds`) of the span.
    pub span_end: String,
    /// Categories with their own columns.
    pub categories: Vec<String>,
}

/// A built panel.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Long frame: `region_id, ds, events, fatalities_best, fatalities_low, fatalities_high`,
    /// then `events_<category>` and `fatalities_<category>` per category; sorted by region, ds.
    pub frame: DataFrame,
    /// One row per region: id, name, level, country, admin units, cell, span and totals.
    pub regions: DataFrame,
    /// Counts of what went in and what was left out.
    pub report: PanelReport,
}

/// A column-name-safe form of a category (`state_based`, `attack_on_civilians`).
pub fn category_slug(category: &str) -> String {
    let mut s: String = category
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    s.trim_matches('_').to_string()
}

struct RegionAttrs {
    name: String,
    country_code: String,
    country: String,
    admin1: Option<String>,
    admin2: Option<String>,
    grid_id: Option<i64>,
}

fn strs(df: &DataFrame, name: &str) -> Result<StringChunked, EngineError> {
    let c = df
        .column(name)
        .map_err(EngineError::polars(format!("panel: column {name}")))?;
    let c = c
        .cast(&DataType::String)
        .map_err(EngineError::polars(format!("panel: column {name}")))?;
    Ok(c.str()
        .map_err(EngineError::polars(format!("panel: column {name}")))?
        .clone())
}

/// Column `name` of `df` as 64-bit integers.
fn i64s(df: &DataFrame, name: &str) -> Result<Int64Chunked, EngineError> {
    let c = df
        .column(name)
        .and_then(|c| c.cast(&DataType::Int64))
        .map_err(EngineError::polars(format!("panel: column {name}")))?;
    Ok(c.i64()
        .map_err(EngineError::polars(format!("panel: column {name}")))?
        .clone())
}

/// Optional column of an incidents frame: how many incidents the row stands for, in a frame made
/// by [`aggregate_incidents`]; without it every row is one incident.
pub const WEIGHT: &str = "n_incidents";

/// The geography, category and period columns that [`aggregate_incidents`] keeps.
const AGGREGATE_KEYS: [&str; 7] = [
    "country_code",
    "country",
    "admin1",
    "admin2",
    "grid_id",
    "category",
    "date_start",
];

/// Incidents summed to one row per country, admin units, cell, category and period (of
/// `frequency`, dated by its first day in `date_start` and `date_end`), with the fatality sums and
/// the number of incidents in [`WEIGHT`]. [`build_panel`] gives the same panel, at any level and
/// for the same frequency, from this frame as from the incidents themselves, at a fraction of
/// the rows: a run builds several panels, and millions of incidents need not be kept. A frame
/// that is already aggregated is aggregated again by summing its weights (so chunks can be
/// combined). Rows are sorted by the keys, so the result does not depend on row order.
pub fn aggregate_incidents(incidents: &DataFrame, frequency: Frequency) -> Result<DataFrame, EngineError> {
    aggregate(incidents, frequency, true)
}

/// [`aggregate_incidents`] with the rows in no particular order (cheaper, for a chunk that is
/// aggregated again with the others).
pub fn aggregate_chunk(incidents: &DataFrame, frequency: Frequency) -> Result<DataFrame, EngineError> {
    aggregate(incidents, frequency, false)
}

fn aggregate(incidents: &DataFrame, frequency: Frequency, sorted: bool) -> Result<DataFrame, EngineError> {
    let ctx = |what: &str| format!("aggregating incidents: {what}");
    let days = incidents
        .column("date_start")
        .and_then(|c| c.cast(&DataType::Int32))
        .map_err(EngineError::polars(ctx("date_start")))?;
    let periods: Vec<Option<i32>> = days
        .i32()
        .map_err(EngineError::polars(ctx("date_start")))?
        .iter()
        .map(|d| d.map(|d| to_epoch_days(frequency.period_start(from_epoch_days(d)))))
        .collect();
    let period = Column::new("date_start".into(), periods)
        .cast(&DataType::Date)
        .map_err(EngineError::polars(ctx("periods")))?;
    let weighted = incidents.column(WEIGHT).is_ok();
    let mut frame = incidents
        .select(AGGREGATE_KEYS[..6].iter().copied().chain([
            "fatalities_best",
            "fatalities_low",
            "fatalities_high",
        ]))
        .map_err(EngineError::polars(ctx("columns")))?;
    frame
        .with_column(period)
        .map_err(EngineError::polars(ctx("periods")))?;
    let count = if weighted {
        frame
            .with_column(
                incidents
                    .column(WEIGHT)
                    .map_err(EngineError::polars(ctx("weights")))?
                    .clone(),
            )
            .map_err(EngineError::polars(ctx("weights")))?;
        col(WEIGHT).sum()
    } else {
        len()
    };
    let keys: Vec<Expr> = AGGREGATE_KEYS.iter().map(|k| col(*k)).collect();
    let mut lf = frame
        .lazy()
        .group_by(keys)
        .agg([
            col("fatalities_best").sum().cast(DataType::Int64),
            col("fatalities_low").sum().cast(DataType::Int64),
            col("fatalities_high").sum().cast(DataType::Int64),
            count.cast(DataType::Int64).alias(WEIGHT),
        ])
        .with_column(col("date_start").alias("date_end"));
    if sorted {
        lf = lf.sort(
            AGGREGATE_KEYS,
            SortMultipleOptions::default().with_nulls_last(true),
        );
    }
    lf.collect().map_err(EngineError::polars(ctx("summing")))
}

/// Running sum of incidents, or of aggregates of them, by the keys of [`aggregate_incidents`]:
/// what [`crate::data::ingest::ingest_job`] keeps between chunks. The text keys are stored once each
/// and rows refer to them by 4-byte codes, so the sum of a 50M-event input (3.8 million cells)
/// holds 44 bytes a cell plus its index, where summing the chunks' aggregates again with a
/// group-by on the six key columns (four of them text) had made that last group-by the ingest's
/// memory peak. Hand-written because a group-by over every chunk so far is what it replaces:
/// the sum is folded in one chunk at a time.
#[derive(Debug, Default)]
pub struct AggregateSum {
    /// Country code, country, admin1, admin2 and category values, each column apart.
    text: [Interner; 5],
    /// Distinct geographies: codes of country code, country, admin1 and admin2, and the cell.
    geos: Vec<([u32; 4], Option<i64>)>,
    geo_index: HashMap<([u32; 4], Option<i64>), u32, KeyHash>,
    /// One entry per cell of the sum, in the order they first occurred.
    keys: Vec<CellKey>,
    /// Fatalities best, low and high, and the incidents, of each cell of `keys`.
    sums: Vec<[i64; 4]>,
    index: HashMap<CellKey, u32, KeyHash>,
}

/// polars' own fast hasher (foldhash), with fixed seeds. (The sum's row order does not depend
/// on it: rows come in the order their cells first occurred.)
type KeyHash = PlFixedStateQuality;

/// Geography code, category code, period (epoch days of its first day; `i32::MIN` for none).
type CellKey = (u32, u32, i32);

fn too_many(what: &str) -> EngineError {
    EngineError::Invalid {
        context: "aggregating incidents".into(),
        message: format!("more than 4 billion {what}; split the input"),
    }
}

/// The code of a missing text value.
const NULL_CODE: u32 = u32::MAX;

#[derive(Debug, Default)]
struct Interner {
    codes: HashMap<Box<str>, u32, KeyHash>,
    values: Vec<Box<str>>,
}

impl Interner {
    fn code(&mut self, value: Option<&str>) -> Result<u32, EngineError> {
        let Some(value) = value else { return Ok(NULL_CODE) };
        if let Some(&c) = self.codes.get(value) {
            return Ok(c);
        }
        let c = u32::try_from(self.values.len())
            .ok()
            .filter(|&c| c != NULL_CODE)
            .ok_or_else(|| too_many("distinct values in a key column"))?;
        self.values.push(value.into());
        self.codes.insert(value.into(), c);
        Ok(c)
    }

    fn value(&self, code: u32) -> Option<&str> {
        (code != NULL_CODE).then(|| &*self.values[code as usize])
    }
}

impl AggregateSum {
    /// An empty sum.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cells summed so far.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether nothing has been added.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds canonical incidents, or an aggregate of them (a frame with [`WEIGHT`], whose rows
    /// count that many incidents each), with their dates cut to periods of `frequency`.
    /// Missing fatalities count as 0, as in [`aggregate_incidents`].
    pub fn add(&mut self, frame: &DataFrame, frequency: Frequency) -> Result<(), EngineError> {
        let ctx = |what: &str| format!("aggregating incidents: column {what}");
        let i64s = |name: &str| i64s(frame, name);
        let columns = ["country_code", "country", "admin1", "admin2", "category"]
            .into_iter()
            .map(|name| strs(frame, name))
            .collect::<Result<Vec<_>, _>>()?;
        let grid = i64s("grid_id")?;
        let days = frame
            .column("date_start")
            .and_then(|c| c.cast(&DataType::Int32))
            .map_err(EngineError::polars(ctx("date_start")))?;
        let days = days.i32().map_err(EngineError::polars(ctx("date_start")))?;
        let best = i64s("fatalities_best")?;
        let low = i64s("fatalities_low")?;
        let high = i64s("fatalities_high")?;
        let weight = frame.column(WEIGHT).is_ok().then(|| i64s(WEIGHT)).transpose()?;

        let mut text_iters: Vec<_> = columns.iter().map(|c| c.iter()).collect();
        let mut grid_iter = grid.iter();
        let mut days_iter = days.iter();
        let (mut best, mut low, mut high) = (best.iter(), low.iter(), high.iter());
        let mut weight_iter = weight.as_ref().map(|w| w.iter());
        // Neighbouring rows mostly share their values: the last one of each column is kept.
        let mut last_text: [Option<(Option<&str>, u32)>; 5] = [None; 5];
        let mut last_day: Option<(Option<i32>, i32)> = None;
        for _ in 0..frame.height() {
            let mut codes = [0u32; 5];
            for (k, it) in text_iters.iter_mut().enumerate() {
                let value = it.next().flatten();
                codes[k] = match last_text[k] {
                    Some((v, c)) if v == value => c,
                    _ => {
                        let c = self.text[k].code(value)?;
                        last_text[k] = Some((value, c));
                        c
                    }
                };
            }
            let cell = grid_iter.next().flatten();
            let day = days_iter.next().flatten();
            let period = match last_day {
                Some((d, p)) if d == day => p,
                _ => {
                    let p = day.map_or(i32::MIN, |d| {
                        to_epoch_days(frequency.period_start(from_epoch_days(d)))
                    });
                    last_day = Some((day, p));
                    p
                }
            };
            let geo_key = ([codes[0], codes[1], codes[2], codes[3]], cell);
            let geo = match self.geo_index.get(&geo_key) {
                Some(&g) => g,
                None => {
                    let g = u32::try_from(self.geos.len()).map_err(|_| too_many("geographies"))?;
                    self.geos.push(geo_key);
                    self.geo_index.insert(geo_key, g);
                    g
                }
            };
            let add = [
                best.next().flatten().unwrap_or(0),
                low.next().flatten().unwrap_or(0),
                high.next().flatten().unwrap_or(0),
                weight_iter
                    .as_mut()
                    .map_or(1, |w| w.next().flatten().unwrap_or(0)),
            ];
            let key = (geo, codes[4], period);
            let slot = match self.index.get(&key) {
                Some(&i) => &mut self.sums[i as usize],
                None => {
                    let i = u32::try_from(self.keys.len()).map_err(|_| too_many("cells"))?;
                    self.keys.push(key);
                    self.sums.push([0; 4]);
                    self.index.insert(key, i);
                    &mut self.sums[i as usize]
                }
            };
            for (s, a) in slot.iter_mut().zip(add) {
                *s = s.checked_add(a).ok_or_else(|| EngineError::Invalid {
                    context: "aggregating incidents".into(),
                    message: "a sum of fatalities or incidents exceeds the 64-bit integer range".into(),
                })?;
            }
        }
        Ok(())
    }

    /// The sum as the frame [`aggregate_chunk`] gives (the same columns and types; rows in the
    /// order their cells first occurred).
    pub fn finish(self) -> Result<DataFrame, EngineError> {
        let Self {
            text,
            geos,
            geo_index,
            keys,
            sums,
            index,
        } = self;
        drop((geo_index, index));
        let n = keys.len();
        let names = ["country_code", "country", "admin1", "admin2"];
        let mut columns: Vec<Column> = Vec::with_capacity(12);
        for (k, name) in names.iter().enumerate() {
            let values: Vec<Option<&str>> = keys
                .iter()
                .map(|&(g, _, _)| text[k].value(geos[g as usize].0[k]))
                .collect();
            columns.push(Column::new((*name).into(), values));
        }
        let grid: Vec<Option<i64>> = keys.iter().map(|&(g, _, _)| geos[g as usize].1).collect();
        columns.push(Column::new("grid_id".into(), grid));
        let category: Vec<Option<&str>> = keys.iter().map(|&(_, c, _)| text[4].value(c)).collect();
        columns.push(Column::new("category".into(), category));
        let period: Vec<Option<i32>> = keys
            .iter()
            .map(|&(_, _, p)| (p != i32::MIN).then_some(p))
            .collect();
        let period = Column::new("date_start".into(), period)
            .cast(&DataType::Date)
            .map_err(EngineError::polars("aggregating incidents: periods".to_string()))?;
        columns.push(period.clone());
        for (j, name) in ["fatalities_best", "fatalities_low", "fatalities_high", WEIGHT]
            .iter()
            .enumerate()
        {
            let values: Vec<i64> = sums.iter().map(|s| s[j]).collect();
            columns.push(Column::new((*name).into(), values));
        }
        columns.push(period.with_name("date_end".into()));
        DataFrame::new(n, columns).map_err(EngineError::polars("aggregating incidents: the sum".to_string()))
    }
}

/// Builds the zero-filled panel from canonical incidents (or from their aggregate, see
/// [`aggregate_incidents`]).
pub fn build_panel(incidents: &DataFrame, options: &PanelOptions) -> Result<Panel, EngineError> {
    let n = incidents.height();
    let ctx = |what: &str| format!("panel: {what}");
    // How many incidents each row stands for.
    let weight = incidents
        .column(WEIGHT)
        .is_ok()
        .then(|| i64s(incidents, WEIGHT))
        .transpose()?;
    let w = |i: usize| -> u64 { weight.as_ref().map_or(1, |w| w.get(i).unwrap_or(0).max(0) as u64) };
    let cc = strs(incidents, "country_code")?;
    let country = strs(incidents, "country")?;
    let a1 = strs(incidents, "admin1")?;
    let a2 = strs(incidents, "admin2")?;
    let grid = i64s(incidents, "grid_id")?;
    let start_days = incidents
        .column("date_start")
        .and_then(|c| c.cast(&DataType::Int32))
        .map_err(EngineError::polars(ctx("date_start")))?;
    let start_days = start_days
        .i32()
        .map_err(EngineError::polars(ctx("date_start")))?
        .clone();

    let as_of_period = options.frequency.period_start(options.as_of);
    let earliest = start_days.iter().flatten().min().map(from_epoch_days);
    let span_start = match (options.start, earliest) {
        (Some(s), _) => options.frequency.period_start(s),
        (None, Some(e)) => options.frequency.period_start(e),
        (None, None) => {
            return Err(EngineError::EmptyPanel(
                "no incidents and no panel start configured".into(),
            ));
        }
    };
    if span_start > as_of_period {
        return Err(EngineError::EmptyPanel(format!(
            "the panel would start at {span_start}, after the as-of period {as_of_period}"
        )));
    }
    let periods = options.frequency.periods(span_start, options.as_of);

    let mut report = PanelReport {
        span_start: span_start.to_string(),
        span_end: as_of_period.to_string(),
        periods: periods.len() as u64,
        ..Default::default()
    };
    // Each row's position in `periods`; none for rows outside the span.
    let mut period_of: Vec<Option<usize>> = Vec::with_capacity(n);
    let mut slots: Vec<IdxSize> = Vec::with_capacity(n);
    let mut regions: BTreeMap<String, RegionAttrs> = BTreeMap::new();
    // Rows share few geographies: each distinct (country code, country, admin units, cell) gets
    // its region id and attributes once (`slot`), and rows only look their key up, borrowing
    // the text, so millions of rows cost no allocation each.
    type GeoKey<'k> = (
        Option<&'k str>,
        Option<&'k str>,
        Option<&'k str>,
        Option<&'k str>,
        Option<i64>,
    );
    let mut slot_of: HashMap<GeoKey<'_>, (IdxSize, bool)> = HashMap::new();
    let mut slot_ids: Vec<String> = Vec::new();
    let mut slot_attrs: Vec<Option<RegionAttrs>> = Vec::new();
    for i in 0..n {
        let Some(d) = start_days.get(i).map(from_epoch_days) else {
            return Err(EngineError::EmptyPanel(format!(
                "incident at position {i} has no date_start"
            )));
        };
        let p = options.frequency.period_start(d);
        let inside = p >= span_start && p <= as_of_period;
        if p < span_start {
            report.incidents_before_start += w(i);
        } else if p > as_of_period {
            report.incidents_after_as_of += w(i);
        }
        period_of.push(if inside {
            Some(periods.binary_search(&p).map_err(|_| EngineError::Invalid {
                context: ctx("zero-filling"),
                message: format!("period {p} of incident at position {i} is not among the panel's periods"),
            })?)
        } else {
            None
        });
        let key: GeoKey<'_> = (cc.get(i), country.get(i), a1.get(i), a2.get(i), grid.get(i));
        let next = slot_ids.len() as IdxSize;
        let entry = slot_of.entry(key).or_insert((next, false));
        if entry.0 == next {
            let code = key.0.unwrap_or(UNKNOWN).to_string();
            let admin1 = key.2.map(str::to_string);
            let admin2 = key.3.map(str::to_string);
            let a1s = admin1.as_deref().unwrap_or(UNKNOWN);
            let a2s = admin2.as_deref().unwrap_or(UNKNOWN);
            let cname = key.1.unwrap_or(&code).to_string();
            let id = region_id(options.level, &code, a1s, a2s, key.4);
            let (id, attrs) = match options.level {
                Level::Country => (
                    id,
                    RegionAttrs {
                        name: cname.clone(),
                        country_code: code.clone(),
                        country: cname,
                        admin1: None,
                        admin2: None,
                        grid_id: None,
                    },
                ),
                Level::Admin1 => (
                    id,
                    RegionAttrs {
                        name: format!("{a1s} ({cname})"),
                        country_code: code.clone(),
                        country: cname,
                        admin1: Some(a1s.to_string()),
                        admin2: None,
                        grid_id: None,
                    },
                ),
                Level::Admin2 => (
                    id,
                    RegionAttrs {
                        name: format!("{a2s}, {a1s} ({cname})"),
                        country_code: code.clone(),
                        country: cname,
                        admin1: Some(a1s.to_string()),
                        admin2: Some(a2s.to_string()),
                        grid_id: None,
                    },
                ),
                Level::Grid => match key.4 {
                    Some(g) => (
                        id,
                        RegionAttrs {
                            name: format!("PRIO-GRID {g} ({cname})"),
                            country_code: code.clone(),
                            country: cname,
                            admin1: None,
                            admin2: None,
                            grid_id: Some(g),
                        },
                    ),
                    None => (
                        id,
                        RegionAttrs {
                            name: format!("unknown cell ({cname})"),
                            country_code: code.clone(),
                            country: cname,
                            admin1: None,
                            admin2: None,
                            grid_id: None,
                        },
                    ),
                },
            };
            slot_ids.push(id);
            slot_attrs.push(Some(attrs));
        }
        let slot = entry.0 as usize;
        if inside
            && !entry.1
            && let Some(attrs) = slot_attrs[slot].take()
        {
            entry.1 = true;
            let id = slot_ids[slot].clone();
            // Where rows disagree (another spelling of the country, or a grid cell on a border),
            // the smallest country code and name win, so the result does not depend on row order.
            match regions.get_mut(&id) {
                Some(existing)
                    if (&attrs.country_code, &attrs.country)
                        < (&existing.country_code, &existing.country) =>
                {
                    *existing = attrs;
                }
                Some(_) => {}
                None => {
                    regions.insert(id.clone(), attrs);
                }
            }
        }
        slots.push(slot as IdxSize);
    }
    report.incidents_in_panel = (0..n).filter(|&i| period_of[i].is_some()).map(w).sum();
    if regions.is_empty() {
        return Err(EngineError::EmptyPanel(format!(
            "none of the {n} incidents falls between {span_start} and {as_of_period}"
        )));
    }

    let category = strs(incidents, "category")?;
    let mut cats: Vec<String> = category.iter().flatten().map(str::to_string).collect();
    cats.sort();
    cats.dedup();
    report.categories = cats.clone();
    let i64s = |name: &str| i64s(incidents, name);
    let (best, low, high) = (
        i64s("fatalities_best")?,
        i64s("fatalities_low")?,
        i64s("fatalities_high")?,
    );

    // The zero-filled panel: every region (in id order) × every period (in time order), each
    // kept row added into its cell. The panel is dense by construction, so a cell is a position
    // in columns allocated up front; this replaces a polars group-by, a cross join of regions
    // and periods, a join and a sort, which took most of a 10M-event panel's time after ingest.
    let rank: HashMap<&str, usize> = regions
        .keys()
        .enumerate()
        .map(|(r, id)| (id.as_str(), r))
        .collect();
    let slot_rank: Vec<Option<usize>> = slot_ids.iter().map(|id| rank.get(id.as_str()).copied()).collect();
    let period_days: Vec<i32> = periods.iter().map(|p| to_epoch_days(*p)).collect();
    let category_index: HashMap<&str, usize> =
        cats.iter().enumerate().map(|(k, c)| (c.as_str(), k)).collect();
    let (n_regions, n_periods) = (regions.len(), periods.len());
    let cells = n_regions
        .checked_mul(n_periods)
        .ok_or_else(|| EngineError::Invalid {
            context: ctx("zero-filling"),
            message: format!("{n_regions} regions × {n_periods} periods is too many cells"),
        })?;
    // events, fatalities best, low, high, then events and fatalities of each category.
    let mut sums: Vec<Vec<i64>> = vec![vec![0; cells]; 4 + 2 * cats.len()];
    let overflow = || EngineError::Invalid {
        context: ctx("zero-filling"),
        message: "a sum of fatalities or incidents exceeds the 64-bit integer range".into(),
    };
    for i in 0..n {
        let Some(p) = period_of[i] else {
            continue;
        };
        // A kept row's region is in the list: the first kept row of its geography added it.
        let Some(r) = slot_rank[slots[i] as usize] else {
            return Err(EngineError::Invalid {
                context: ctx("zero-filling"),
                message: format!("incident at position {i} has no region in the panel"),
            });
        };
        let cell = r * n_periods + p;
        let events = weight.as_ref().map_or(1, |w| w.get(i).unwrap_or(0));
        let b = best.get(i).unwrap_or(0);
        let mut add = |column: usize, v: i64| -> Result<(), EngineError> {
            let s = &mut sums[column][cell];
            *s = s.checked_add(v).ok_or_else(overflow)?;
            Ok(())
        };
        add(0, events)?;
        add(1, b)?;
        add(2, low.get(i).unwrap_or(0))?;
        add(3, high.get(i).unwrap_or(0))?;
        if let Some(&k) = category.get(i).and_then(|c| category_index.get(c)) {
            add(4 + 2 * k, events)?;
            add(5 + 2 * k, b)?;
        }
    }
    let mut names = vec![
        "events".to_string(),
        "fatalities_best".into(),
        "fatalities_low".into(),
        "fatalities_high".into(),
    ];
    for c in &cats {
        let s = category_slug(c);
        names.push(format!("events_{s}"));
        names.push(format!("fatalities_{s}"));
    }
    let mut columns = vec![
        StringChunked::from_iter_values(
            "region_id".into(),
            regions
                .keys()
                .flat_map(|id| std::iter::repeat_n(id.as_str(), n_periods)),
        )
        .into_column(),
        crate::data::period::date_column(
            "ds",
            (0..n_regions)
                .flat_map(|_| period_days.iter().map(|&d| Some(d)))
                .collect(),
        )?,
    ];
    columns.extend(
        names
            .iter()
            .zip(sums)
            .map(|(name, values)| Column::new(name.as_str().into(), values)),
    );
    let frame = DataFrame::new(cells, columns).map_err(EngineError::polars(ctx("zero-filling")))?;
    report.regions = regions.len() as u64;

    let region_table = build_regions(&frame, &regions, options.level, span_start, as_of_period)?;
    Ok(Panel {
        frame,
        regions: region_table,
        report,
    })
}

fn build_regions(
    frame: &DataFrame,
    regions: &BTreeMap<String, RegionAttrs>,
    level: Level,
    span_start: NaiveDate,
    span_end: NaiveDate,
) -> Result<DataFrame, EngineError> {
    let ctx = "panel: region table";
    let totals = frame.clone().lazy().group_by([col("region_id")]).agg([
        col("events").sum().alias("events_total"),
        col("fatalities_best").sum().alias("fatalities_total"),
        col("ds")
            .filter(col("events").gt(lit(0i64)))
            .min()
            .alias("first_event"),
        col("ds")
            .filter(col("events").gt(lit(0i64)))
            .max()
            .alias("last_event"),
    ]);
    let r = regions.len();
    let attrs = DataFrame::new(
        r,
        vec![
            Column::new("region_id".into(), regions.keys().cloned().collect::<Vec<_>>()),
            Column::new(
                "region_name".into(),
                regions.values().map(|a| a.name.clone()).collect::<Vec<_>>(),
            ),
            Column::new("level".into(), vec![level.as_str(); r]),
            Column::new(
                "country_code".into(),
                regions
                    .values()
                    .map(|a| a.country_code.clone())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "country".into(),
                regions.values().map(|a| a.country.clone()).collect::<Vec<_>>(),
            ),
            Column::new(
                "admin1".into(),
                regions.values().map(|a| a.admin1.clone()).collect::<Vec<_>>(),
            ),
            Column::new(
                "admin2".into(),
                regions.values().map(|a| a.admin2.clone()).collect::<Vec<_>>(),
            ),
            Column::new(
                "grid_id".into(),
                regions.values().map(|a| a.grid_id).collect::<Vec<_>>(),
            ),
            Column::new("span_start".into(), vec![to_epoch_days(span_start); r])
                .cast(&DataType::Date)
                .map_err(EngineError::polars(ctx))?,
            Column::new("span_end".into(), vec![to_epoch_days(span_end); r])
                .cast(&DataType::Date)
                .map_err(EngineError::polars(ctx))?,
        ],
    )
    .map_err(EngineError::polars(ctx))?;
    attrs
        .lazy()
        .join(
            totals,
            [col("region_id")],
            [col("region_id")],
            JoinArgs::new(JoinType::Left),
        )
        .sort(["region_id"], SortMultipleOptions::default())
        .collect()
        .map_err(EngineError::polars(ctx))
}
