//! The quality rules applied to a part of a source, row by row: accepted rows, quarantined
//! rows with their rule, and duplicates across the whole input.

use super::field::*;
use super::schema::*;
use crate::data::mapping::SchemaMapping;
use crate::data::period::to_epoch_days;
use crate::data::quality::{InputQuality, Rule};
use crate::error::EngineError;
use polars::prelude::*;
use std::collections::{HashMap, HashSet};

/// Accepted rows of one part, column by column (text as gathers of the source's values or in
/// polars' string builders: no allocation per value).
pub(super) struct Accepted<'f> {
    pub(super) index: Vec<IdxSize>,
    pub(super) incident_id: TextColumn<'f>,
    pub(super) date_start: Vec<i32>,
    pub(super) date_end: Vec<i32>,
    pub(super) country_code: TextColumn<'f>,
    pub(super) country: TextColumn<'f>,
    pub(super) admin1: TextColumn<'f>,
    pub(super) admin2: TextColumn<'f>,
    pub(super) latitude: Vec<Option<f64>>,
    pub(super) longitude: Vec<Option<f64>>,
    pub(super) grid_id: Vec<Option<i64>>,
    pub(super) category: TextColumn<'f>,
    pub(super) subcategory: TextColumn<'f>,
    pub(super) best: Vec<i64>,
    pub(super) low: Vec<i64>,
    pub(super) high: Vec<i64>,
    pub(super) source_row: Vec<i64>,
}

#[derive(Default)]
pub(super) struct Quarantined {
    pub(super) source_row: Vec<i64>,
    pub(super) incident_id: Vec<Option<String>>,
    pub(super) rule: Vec<&'static str>,
    pub(super) field: Vec<&'static str>,
    pub(super) value: Vec<Option<String>>,
    pub(super) message: Vec<String>,
}

/// FNV-1a (64 bits) of an incident id: a fast first look for ids that repeat. Equal hashes are
/// only suspects; the exact comparison of the ids follows.
pub(super) fn id_hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Hashes of the incident ids of `df` (rows without one are left out), parts of the frame in
/// parallel: this pass runs before any checking, with nothing else to keep the cores busy.
pub(super) fn id_hashes(df: &DataFrame, mapping: &SchemaMapping) -> Result<Vec<u64>, EngineError> {
    use rayon::prelude::*;
    let starts: Vec<usize> = (0..df.height()).step_by(PART_ROWS).collect();
    let parts = starts
        .par_iter()
        .map(|&start| {
            let part = df.slice(start as i64, PART_ROWS);
            let f = prepare(&part, "incident_id", mapping.fields.get("incident_id"))?;
            Ok((0..part.height())
                .filter_map(|i| f.text(i).map(|t| id_hash(&t)))
                .collect::<Vec<u64>>())
        })
        .collect::<Result<Vec<_>, EngineError>>()?;
    Ok(parts.concat())
}

/// The hashes that occur more than once: only ids with one of them can be duplicates. Sorting
/// eight bytes a row instead of keeping every id in a map keeps memory small for large inputs.
pub(super) fn suspect_hashes(mut hashes: Vec<u64>) -> HashSet<u64> {
    use rayon::slice::ParallelSliceMut;
    hashes.par_sort_unstable();
    hashes.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect()
}

/// Source rows (0-based) whose incident id an earlier row already used, with that first row:
/// the exact comparison, over the rows whose id hash is a suspect, in row order.
pub(super) struct Duplicates {
    pub(super) suspects: HashSet<u64>,
    pub(super) first: HashMap<String, usize>,
    pub(super) found: HashMap<usize, usize>,
}

impl Duplicates {
    pub(super) fn new(suspects: HashSet<u64>) -> Self {
        Duplicates {
            suspects,
            first: HashMap::new(),
            found: HashMap::new(),
        }
    }

    /// Looks at the ids of `df`, which holds source rows `offset ..`.
    pub(super) fn scan(
        &mut self,
        df: &DataFrame,
        offset: usize,
        mapping: &SchemaMapping,
    ) -> Result<(), EngineError> {
        if self.suspects.is_empty() {
            return Ok(());
        }
        let f = prepare(df, "incident_id", mapping.fields.get("incident_id"))?;
        for i in 0..df.height() {
            let Some(id) = f.text(i) else { continue };
            if !self.suspects.contains(&id_hash(&id)) {
                continue;
            }
            match self.first.get(id.as_ref()) {
                Some(first) => {
                    self.found.insert(offset + i, *first);
                }
                None => {
                    self.first.insert(id.into_owned(), offset + i);
                }
            }
        }
        Ok(())
    }
}

/// The quality rules, applied chunk after chunk of one input; what carries over between chunks
/// is the quality report, the quarantine and the first row of each suspected duplicate id.
pub(super) struct Checker<'a> {
    pub(super) mapping: &'a SchemaMapping,
    pub(super) options: &'a IngestOptions,
    /// The extract date and the as-of date, in days since 1970-01-01.
    pub(super) extracted: i32,
    pub(super) as_of: i32,
    pub(super) grid_mapped: bool,
    pub(super) quality: InputQuality,
    pub(super) quarantine: Quarantined,
    pub(super) duplicates: HashMap<usize, usize>,
    /// Source rows (0-based) of CSV records with the wrong number of fields → why.
    pub(super) ragged: HashMap<usize, String>,
}

/// What checking one part of a chunk gives.
pub(super) struct Checked {
    pub(super) incidents: DataFrame,
    pub(super) quarantine: Quarantined,
    pub(super) quality: InputQuality,
}

/// Rows a thread checks at a time: a chunk is cut into parts of this size, checked in parallel
/// and put back in order.
pub(super) const PART_ROWS: usize = 1 << 16;

impl<'a> Checker<'a> {
    pub(super) fn new(
        mapping: &'a SchemaMapping,
        options: &'a IngestOptions,
        rows: usize,
        duplicates: HashMap<usize, usize>,
        ragged: &[crate::data::read::RaggedRecord],
    ) -> Self {
        Checker {
            ragged: ragged.iter().map(|r| (r.record, r.message())).collect(),
            mapping,
            options,
            extracted: to_epoch_days(options.extracted.unwrap_or(options.as_of).max(options.as_of)),
            as_of: to_epoch_days(options.as_of),
            grid_mapped: mapping.fields.contains_key("grid_id"),
            quality: InputQuality {
                file: options.label.clone(),
                mapping: mapping.name.clone(),
                rows_read: rows as u64,
                ..Default::default()
            },
            quarantine: Quarantined::default(),
            duplicates,
        }
    }

    /// Checks the rows of `df` (source rows `offset + 1 ..`) and returns the accepted ones as
    /// canonical incidents: parts of the chunk in parallel, results put back in row order.
    pub(super) fn check(&mut self, df: &DataFrame, offset: usize) -> Result<DataFrame, EngineError> {
        use rayon::prelude::*;
        let starts: Vec<usize> = (0..df.height().max(1)).step_by(PART_ROWS).collect();
        let parts: Vec<Checked> = starts
            .par_iter()
            .map(|&start| self.check_part(&df.slice(start as i64, PART_ROWS), offset + start))
            .collect::<Result<_, _>>()?;
        let mut frames = Vec::with_capacity(parts.len());
        for part in parts {
            frames.push(part.incidents);
            self.quarantine.append(part.quarantine);
            let (q, p) = (&mut self.quality, part.quality);
            q.rows_accepted += p.rows_accepted;
            q.rows_quarantined += p.rows_quarantined;
            q.rows_excluded_after_as_of += p.rows_excluded_after_as_of;
            for (rule, n) in p.rules {
                *q.rules.entry(rule).or_default() += n;
            }
            for (rule, n) in p.warnings {
                *q.warnings.entry(rule).or_default() += n;
            }
            for (rule, rows) in p.warning_examples {
                let ex = q.warning_examples.entry(rule).or_default();
                ex.extend(rows);
                ex.truncate(20);
            }
        }
        let mut out = frames.into_iter();
        let mut incidents = out
            .next()
            .ok_or_else(|| EngineError::EmptyPanel("no chunk to check".into()))?;
        for f in out {
            incidents
                .vstack_mut_owned(f)
                .map_err(EngineError::polars("stacking checked rows"))?;
        }
        Ok(incidents)
    }

    /// Checks one part: the rows of `df`, source rows `offset + 1 ..`.
    pub(super) fn check_part(&self, df: &DataFrame, offset: usize) -> Result<Checked, EngineError> {
        let n = df.height();
        let mapping = self.mapping;
        let (extracted, as_of) = (self.extracted, self.as_of);
        let grid_mapped = self.grid_mapped;
        let field = |name: &'static str| prepare(df, name, mapping.fields.get(name));
        let f_id = field("incident_id")?;
        let f_start = field("date_start")?;
        let f_end = field("date_end")?;
        let f_cc = field("country_code")?;
        let f_country = field("country")?;
        let country_falls_back = mapping
            .fields
            .get("country")
            .is_some_and(|m| m.fallback.as_deref() == Some("country_code"));
        let f_a1 = field("admin1")?;
        let f_a2 = field("admin2")?;
        let f_lat = field("latitude")?;
        let f_lon = field("longitude")?;
        let f_grid = field("grid_id")?;
        let f_cat = field("category")?;
        let f_sub = field("subcategory")?;
        let f_best = field("fatalities_best")?;
        let f_low = field("fatalities_low")?;
        let f_high = field("fatalities_high")?;
        let mut part_quality = InputQuality::default();
        let quality = &mut part_quality;
        let mut part_quarantine = Quarantined::default();
        let q = &mut part_quarantine;
        let duplicates = &self.duplicates;
        let text = |name, field| TextColumn::new(name, field, n);
        let mut acc = Accepted {
            index: Vec::with_capacity(n),
            incident_id: text("incident_id", &f_id),
            date_start: Vec::with_capacity(n),
            date_end: Vec::with_capacity(n),
            country_code: text("country_code", &f_cc),
            country: text("country", &f_country),
            admin1: text("admin1", &f_a1),
            admin2: text("admin2", &f_a2),
            latitude: Vec::with_capacity(n),
            longitude: Vec::with_capacity(n),
            grid_id: Vec::with_capacity(n),
            category: text("category", &f_cat),
            subcategory: text("subcategory", &f_sub),
            best: Vec::with_capacity(n),
            low: Vec::with_capacity(n),
            high: Vec::with_capacity(n),
            source_row: Vec::with_capacity(n),
        };
        for i in 0..n {
            let row_no = (offset + i) as i64 + 1;
            let mut problems: Vec<Problem> = Vec::new();
            let mut warnings: Vec<Rule> = Vec::new();
            macro_rules! take {
                ($e:expr) => {
                    match $e {
                        Ok(v) => v,
                        Err(p) => {
                            problems.push(p);
                            None
                        }
                    }
                };
            }

            let id = f_id.text(i);
            match &id {
                None => problems.push(missing("incident_id")),
                Some(id) => {
                    if let Some(first) = duplicates.get(&(offset + i)) {
                        problems.push(Problem {
                            rule: Rule::DuplicateIncidentId,
                            field: "incident_id",
                            value: Some(truncate(id)),
                            message: format!(
                                "incident_id '{}' was already used by source row {}",
                                truncate(id),
                                first + 1
                            ),
                        });
                    }
                }
            }
            let (start, end) = (take!(f_start.date(i)), take!(f_end.date(i)));
            if start.is_some_and(|d| d.1) || end.is_some_and(|d| d.1) {
                warnings.push(Rule::LenientDate);
            }
            let (start, end) = (start.map(|d| d.0), end.map(|d| d.0));
            if start.is_none() && !problems.iter().any(|p| p.field == "date_start") {
                problems.push(missing("date_start"));
            }
            if let (Some(s), Some(e)) = (start, end)
                && e < s
            {
                problems.push(Problem {
                    rule: Rule::DateEndBeforeStart,
                    field: "date_end",
                    value: Some(day_text(e)),
                    message: format!("date_end {} is before date_start {}", day_text(e), day_text(s)),
                });
            }
            if let Some(s) = start
                && s > extracted
            {
                problems.push(Problem {
                    rule: Rule::DateAfterAsOf,
                    field: "date_start",
                    value: Some(day_text(s)),
                    message: format!(
                        "date_start {} is after the data's as-of date {}",
                        day_text(s),
                        day_text(extracted)
                    ),
                });
            }
            let cc = f_cc.text(i);
            if cc.is_none() {
                problems.push(missing("country_code"));
            }
            let country = f_country.text(i);
            if country.is_none() {
                if country_falls_back {
                    warnings.push(Rule::FilledFromFallback);
                } else {
                    problems.push(missing("country"));
                }
            }
            let lat = take!(f_lat.real(i));
            let lon = take!(f_lon.real(i));
            let mut coords_ok = true;
            for (name, value, limit) in [("latitude", lat, 90.0), ("longitude", lon, 180.0)] {
                if let Some(v) = value
                    && !(-limit..=limit).contains(&v)
                {
                    coords_ok = false;
                    problems.push(Problem {
                        rule: Rule::CoordinatesOutOfRange,
                        field: name,
                        value: Some(v.to_string()),
                        message: format!("{name} {v} is outside [-{limit}, {limit}]"),
                    });
                }
            }
            if lat.is_some() != lon.is_some()
                && !problems
                    .iter()
                    .any(|p| p.field == "latitude" || p.field == "longitude")
            {
                coords_ok = false;
                problems.push(Problem {
                    rule: Rule::CoordinatesIncomplete,
                    field: if lat.is_some() { "longitude" } else { "latitude" },
                    value: None,
                    message: "only one of latitude and longitude is given".to_string(),
                });
            }
            let derived_grid = match (lat, lon) {
                (Some(a), Some(o)) if coords_ok => Some(prio_grid_id(a, o)),
                _ => None,
            };
            let grid = if grid_mapped {
                let g = take!(f_grid.count(i));
                if let (Some(g), Some(d)) = (g, derived_grid)
                    && g != d
                {
                    problems.push(Problem {
                        rule: Rule::GridIdMismatch,
                        field: "grid_id",
                        value: Some(g.to_string()),
                        message: format!(
                            "grid_id {g} does not contain ({}, {}); the PRIO-GRID cell there is {d}",
                            lat.unwrap_or_default(),
                            lon.unwrap_or_default()
                        ),
                    });
                }
                g
            } else {
                derived_grid
            };
            let category = f_cat.text(i);
            match &category {
                None => problems.push(missing("category")),
                Some(c) if !mapping.categories.iter().any(|k| k == c) => problems.push(Problem {
                    rule: Rule::UnknownCategory,
                    field: "category",
                    value: Some(truncate(c)),
                    message: format!(
                        "category '{}' is not one of {:?} after recoding; add it to the mapping's recode table or categories",
                        truncate(c),
                        mapping.categories
                    ),
                }),
                Some(_) => {}
            }
            let best = take!(f_best.count(i));
            if best.is_none() && !problems.iter().any(|p| p.field == "fatalities_best") {
                problems.push(missing("fatalities_best"));
            }
            let low = take!(f_low.count(i));
            let high = take!(f_high.count(i));
            if let (Some(b), Some(l), Some(h)) = (best, low, high) {
                if l > h {
                    warnings.push(Rule::LowAboveHigh);
                }
                if b < l || b > h {
                    warnings.push(Rule::BestOutsideLowHigh);
                }
            }

            // A record polars padded or cut: none of its values can be trusted, so the record's
            // own problem is the only one reported.
            if let Some(message) = self.ragged.get(&(offset + i)) {
                problems = vec![Problem {
                    rule: Rule::WrongFieldCount,
                    field: "record",
                    value: None,
                    message: message.clone(),
                }];
            }
            if problems.is_empty() {
                let (Some(id), Some(start), Some(cc), Some(category), Some(best)) =
                    (id, start, cc, category, best)
                else {
                    continue; // unreachable: each None above added a problem
                };
                if start > as_of {
                    quality.rows_excluded_after_as_of += 1;
                    continue;
                }
                for w in warnings {
                    *quality.warnings.entry(w.name().to_string()).or_default() += 1;
                    let ex = quality.warning_examples.entry(w.name().to_string()).or_default();
                    if ex.len() < 20 {
                        ex.push(row_no as u64);
                    }
                }
                // The text columns first: they are told which rows came before this one.
                let before = acc.index.as_slice();
                acc.incident_id.push(Some(&id), i, before);
                // (an empty country is here only where the mapping lets it fall back to the code)
                acc.country
                    .push(Some(country.as_deref().unwrap_or(&cc)), i, before);
                acc.country_code.push(Some(&cc), i, before);
                acc.admin1.push(f_a1.text(i).as_deref(), i, before);
                acc.admin2.push(f_a2.text(i).as_deref(), i, before);
                acc.category.push(Some(&category), i, before);
                acc.subcategory.push(f_sub.text(i).as_deref(), i, before);
                acc.index.push(i as IdxSize);
                acc.date_start.push(start);
                acc.date_end.push(end.unwrap_or(start));
                acc.latitude.push(lat);
                acc.longitude.push(lon);
                acc.grid_id.push(grid);
                acc.best.push(best);
                acc.low.push(low.unwrap_or(best));
                acc.high.push(high.unwrap_or(best));
                acc.source_row.push(row_no);
            } else {
                quality.rows_quarantined += 1;
                let mut rules_seen = Vec::new();
                for p in problems {
                    if !rules_seen.contains(&p.rule) {
                        rules_seen.push(p.rule);
                        *quality.rules.entry(p.rule.name().to_string()).or_default() += 1;
                    }
                    q.source_row.push(row_no);
                    q.incident_id.push(id.as_deref().map(str::to_string));
                    q.rule.push(p.rule.name());
                    q.field.push(p.field);
                    q.value.push(p.value);
                    q.message.push(p.message);
                }
            }
        }
        quality.rows_accepted += acc.index.len() as u64;
        Ok(Checked {
            incidents: build_incidents(df, acc, mapping)?,
            quarantine: part_quarantine,
            quality: part_quality,
        })
    }

    /// The quarantine table and the quality report, once every chunk is checked.
    pub(super) fn finish(self) -> Result<(DataFrame, InputQuality), EngineError> {
        Ok((
            build_quarantine(&self.options.label, self.quarantine)?,
            self.quality,
        ))
    }
}

pub(super) fn date_column(name: &str, days: Vec<i32>) -> Result<Column, EngineError> {
    crate::data::period::date_column(name, days.into_iter().map(Some).collect())
}

pub(super) fn build_incidents(
    source: &DataFrame,
    a: Accepted,
    mapping: &SchemaMapping,
) -> Result<DataFrame, EngineError> {
    let height = a.index.len();
    let dataset = mapping.source_dataset.as_str();
    let idx = IdxCa::from_vec("idx".into(), a.index);
    let mut columns = vec![
        a.incident_id.finish(&idx)?,
        date_column("date_start", a.date_start)?,
        date_column("date_end", a.date_end)?,
        a.country_code.finish(&idx)?,
        a.country.finish(&idx)?,
        a.admin1.finish(&idx)?,
        a.admin2.finish(&idx)?,
        Column::new("latitude".into(), a.latitude),
        Column::new("longitude".into(), a.longitude),
        Column::new("grid_id".into(), a.grid_id),
        a.category.finish(&idx)?,
        a.subcategory.finish(&idx)?,
        Column::new("fatalities_best".into(), a.best),
        Column::new("fatalities_low".into(), a.low),
        Column::new("fatalities_high".into(), a.high),
        Column::new("source_dataset".into(), vec![dataset; height]),
        Column::new("source_row".into(), a.source_row),
    ];
    if !mapping.extras.is_empty() {
        for extra in &mapping.extras {
            let c = source
                .column(extra)
                .and_then(|c| c.take(&idx))
                .map_err(EngineError::polars(format!("carrying extra column {extra}")))?;
            columns.push(c);
        }
    }
    DataFrame::new(height, columns).map_err(EngineError::polars("building the incidents table"))
}

impl Quarantined {
    /// Moves `other`'s rows after this one's.
    pub(super) fn append(&mut self, mut other: Quarantined) {
        self.source_row.append(&mut other.source_row);
        self.incident_id.append(&mut other.incident_id);
        self.rule.append(&mut other.rule);
        self.field.append(&mut other.field);
        self.value.append(&mut other.value);
        self.message.append(&mut other.message);
    }
}

pub(super) fn build_quarantine(label: &str, q: Quarantined) -> Result<DataFrame, EngineError> {
    let height = q.source_row.len();
    DataFrame::new(
        height,
        vec![
            Column::new("source_file".into(), vec![label; height]),
            Column::new("source_row".into(), q.source_row),
            Column::new("incident_id".into(), q.incident_id),
            Column::new("rule".into(), q.rule),
            Column::new("field".into(), q.field),
            Column::new("value".into(), q.value),
            Column::new("message".into(), q.message),
        ],
    )
    .map_err(EngineError::polars("building the quarantine table"))
}
