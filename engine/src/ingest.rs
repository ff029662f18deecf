//! Ingest: a source table + its schema mapping → canonical incidents, quarantine and a quality
//! report. Every source row ends up in exactly one place: accepted, quarantined (with the rule,
//! field, value and source row number), or excluded by the run's as-of window (counted).

use crate::error::EngineError;
use crate::mapping::{FieldKind, FieldMap, SchemaMapping, canonical_field};
use crate::period::to_epoch_days;
use crate::quality::{InputQuality, Rule};
use crate::read::read_columns;
use chrono::{NaiveDate, NaiveDateTime};
use polars::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Settings of one ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// The run's as-of date: rows starting later are outside the run's window.
    pub as_of: NaiveDate,
    /// The date the input was extracted. Rows dated after it are impossible and quarantined
    /// (`date_after_as_of`); rows between `as_of` and it are excluded from the window and counted.
    /// `None` means the extract date is the as-of date.
    pub extracted: Option<NaiveDate>,
    /// How the input is named in reports (usually the path as written in the job spec).
    pub label: String,
}

/// The result of ingesting one input.
#[derive(Debug, Clone)]
pub struct Ingested {
    /// Canonical incidents (see [`canonical_schema`]) plus the mapping's extras.
    pub incidents: DataFrame,
    /// One row per broken rule per rejected source row (see [`quarantine_schema`]).
    pub quarantine: DataFrame,
    /// Counts per rule.
    pub quality: InputQuality,
}

/// Column names and types of the canonical incidents table (before extras).
pub fn canonical_schema() -> Vec<(&'static str, DataType)> {
    vec![
        ("incident_id", DataType::String),
        ("date_start", DataType::Date),
        ("date_end", DataType::Date),
        ("country_code", DataType::String),
        ("country", DataType::String),
        ("admin1", DataType::String),
        ("admin2", DataType::String),
        ("latitude", DataType::Float64),
        ("longitude", DataType::Float64),
        ("grid_id", DataType::Int64),
        ("category", DataType::String),
        ("subcategory", DataType::String),
        ("fatalities_best", DataType::Int64),
        ("fatalities_low", DataType::Int64),
        ("fatalities_high", DataType::Int64),
        ("source_dataset", DataType::String),
        ("source_row", DataType::Int64),
    ]
}

/// Column names and types of the quarantine table.
pub fn quarantine_schema() -> Vec<(&'static str, DataType)> {
    vec![
        ("source_file", DataType::String),
        ("source_row", DataType::Int64),
        ("incident_id", DataType::String),
        ("rule", DataType::String),
        ("field", DataType::String),
        ("value", DataType::String),
        ("message", DataType::String),
    ]
}

/// The PRIO-GRID cell (0.5°) that contains a point: `row * 720 + col + 1`, rows from the south
/// pole, columns from the antimeridian. Points on the north pole or the antimeridian's east edge
/// fall in the last row or column.
pub fn prio_grid_id(latitude: f64, longitude: f64) -> i64 {
    let row = (((latitude + 90.0) / 0.5).floor() as i64).clamp(0, 359);
    let col = (((longitude + 180.0) / 0.5).floor() as i64).clamp(0, 719);
    row * 720 + col + 1
}

/// A source column prepared for one kind of canonical field.
enum Source {
    Absent,
    Constant(String),
    Text(StringChunked),
    Number(Float64Chunked),
    Days(Int32Chunked),
}

struct Field {
    name: &'static str,
    formats: Vec<String>,
    recode: Option<BTreeMap<String, String>>,
    sources: Vec<(String, Source)>,
}

fn prepare(df: &DataFrame, name: &'static str, map: Option<&FieldMap>) -> Result<Field, EngineError> {
    let kind = canonical_field(name).map_or(FieldKind::Text, |f| f.kind);
    let Some(map) = map else {
        return Ok(Field {
            name,
            formats: Vec::new(),
            recode: None,
            sources: vec![(String::new(), Source::Absent)],
        });
    };
    let ctx = || format!("preparing field {name}");
    let mut sources = Vec::new();
    if let Some(c) = &map.constant {
        sources.push((String::new(), Source::Constant(c.clone())));
    }
    for column in map.columns() {
        let c = df.column(column).map_err(EngineError::polars(ctx()))?.rechunk();
        let dtype = c.dtype().clone();
        let source = match kind {
            FieldKind::Date if dtype == DataType::Date => Source::Days(
                c.cast(&DataType::Int32)
                    .map_err(EngineError::polars(ctx()))?
                    .i32()
                    .map_err(EngineError::polars(ctx()))?
                    .clone(),
            ),
            FieldKind::Date if matches!(dtype, DataType::Datetime(_, _)) => {
                let d = c
                    .cast(&DataType::Date)
                    .and_then(|d| d.cast(&DataType::Int32))
                    .map_err(EngineError::polars(ctx()))?;
                Source::Days(d.i32().map_err(EngineError::polars(ctx()))?.clone())
            }
            FieldKind::Real | FieldKind::Count if dtype.is_primitive_numeric() => {
                let d = c.cast(&DataType::Float64).map_err(EngineError::polars(ctx()))?;
                Source::Number(d.f64().map_err(EngineError::polars(ctx()))?.clone())
            }
            _ => {
                let d = c.cast(&DataType::String).map_err(EngineError::polars(ctx()))?;
                Source::Text(d.str().map_err(EngineError::polars(ctx()))?.clone())
            }
        };
        sources.push((column.to_string(), source));
    }
    let formats = if map.formats.is_empty() {
        vec!["%Y-%m-%d".to_string()]
    } else {
        map.formats.clone()
    };
    Ok(Field {
        name,
        formats,
        recode: map.recode.clone(),
        sources,
    })
}

/// One broken rule on one row.
struct Problem {
    rule: Rule,
    field: &'static str,
    value: Option<String>,
    message: String,
}

fn raw_text(source: &Source, i: usize) -> Option<String> {
    match source {
        Source::Absent => None,
        Source::Constant(c) => Some(c.clone()),
        Source::Text(ca) => ca.get(i).map(str::to_string),
        Source::Number(ca) => ca.get(i).map(|v| v.to_string()),
        Source::Days(ca) => ca.get(i).map(|v| crate::period::from_epoch_days(v).to_string()),
    }
}

impl Field {
    fn text(&self, i: usize) -> Option<String> {
        let (_, source) = self.sources.first()?;
        let value = raw_text(source, i)?;
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        match self.recode.as_ref().and_then(|r| r.get(value)) {
            Some(mapped) => Some(mapped.clone()),
            None => Some(value.to_string()),
        }
    }

    fn number_from(&self, source: &(String, Source), i: usize) -> Result<Option<f64>, Problem> {
        match &source.1 {
            Source::Number(ca) => Ok(ca.get(i).filter(|v| !v.is_nan())),
            other => {
                let Some(raw) = raw_text(other, i) else {
                    return Ok(None);
                };
                let t = raw.trim();
                if t.is_empty() {
                    return Ok(None);
                }
                match t.parse::<f64>() {
                    Ok(v) if v.is_finite() => Ok(Some(v)),
                    _ => Err(Problem {
                        rule: Rule::UnparsableNumber,
                        field: self.name,
                        message: format!(
                            "{}: '{}' in column '{}' is not a number",
                            self.name,
                            truncate(t),
                            source.0
                        ),
                        value: Some(truncate(t)),
                    }),
                }
            }
        }
    }

    fn real(&self, i: usize) -> Result<Option<f64>, Problem> {
        match self.sources.first() {
            Some(s) => self.number_from(s, i),
            None => Ok(None),
        }
    }

    /// Sum of the field's columns as a non-negative whole number.
    fn count(&self, i: usize) -> Result<Option<i64>, Problem> {
        let mut total: Option<f64> = None;
        for s in &self.sources {
            if let Some(v) = self.number_from(s, i)? {
                if v < 0.0 {
                    return Err(Problem {
                        rule: Rule::NegativeCount,
                        field: self.name,
                        message: format!(
                            "{}: {v} in column '{}' is negative; counts must be 0 or more",
                            self.name, s.0
                        ),
                        value: Some(v.to_string()),
                    });
                }
                if v.fract() != 0.0 {
                    return Err(Problem {
                        rule: Rule::NonIntegerCount,
                        field: self.name,
                        message: format!("{}: {v} in column '{}' is not a whole number", self.name, s.0),
                        value: Some(v.to_string()),
                    });
                }
                total = Some(total.unwrap_or(0.0) + v);
            }
        }
        Ok(total.map(|v| v as i64))
    }

    fn date(&self, i: usize) -> Result<Option<NaiveDate>, Problem> {
        let Some(source) = self.sources.first() else {
            return Ok(None);
        };
        if let Source::Days(ca) = &source.1 {
            return Ok(ca.get(i).map(crate::period::from_epoch_days));
        }
        let Some(raw) = raw_text(&source.1, i) else {
            return Ok(None);
        };
        let t = raw.trim();
        if t.is_empty() {
            return Ok(None);
        }
        for f in &self.formats {
            if let Ok(d) = NaiveDate::parse_from_str(t, f) {
                return Ok(Some(d));
            }
            if let Ok(dt) = NaiveDateTime::parse_from_str(t, f) {
                return Ok(Some(dt.date()));
            }
        }
        Err(Problem {
            rule: Rule::UnparsableDate,
            field: self.name,
            message: format!(
                "{}: '{}' in column '{}' matches none of the formats {:?}",
                self.name,
                truncate(t),
                source.0,
                self.formats
            ),
            value: Some(truncate(t)),
        })
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 200 {
        s.chars().take(200).collect::<String>() + "…"
    } else {
        s.to_string()
    }
}

fn missing(field: &'static str) -> Problem {
    Problem {
        rule: Rule::MissingRequiredField,
        field,
        value: None,
        message: format!("{field}: required field is empty"),
    }
}

#[derive(Default)]
struct Accepted {
    index: Vec<IdxSize>,
    incident_id: Vec<String>,
    date_start: Vec<i32>,
    date_end: Vec<i32>,
    country_code: Vec<String>,
    country: Vec<String>,
    admin1: Vec<Option<String>>,
    admin2: Vec<Option<String>>,
    latitude: Vec<Option<f64>>,
    longitude: Vec<Option<f64>>,
    grid_id: Vec<Option<i64>>,
    category: Vec<String>,
    subcategory: Vec<Option<String>>,
    best: Vec<i64>,
    low: Vec<i64>,
    high: Vec<i64>,
    source_row: Vec<i64>,
}

#[derive(Default)]
struct Quarantined {
    source_row: Vec<i64>,
    incident_id: Vec<Option<String>>,
    rule: Vec<&'static str>,
    field: Vec<&'static str>,
    value: Vec<Option<String>>,
    message: Vec<String>,
}

/// Reads one input and applies the quality rules.
pub fn ingest(
    path: &Path,
    mapping: &SchemaMapping,
    options: &IngestOptions,
) -> Result<Ingested, EngineError> {
    let columns = mapping.source_columns();
    let separator = mapping.csv.separator.as_bytes().first().copied().unwrap_or(b',');
    let df = read_columns(path, &columns, separator, &mapping.path)?;
    let n = df.height();

    let field = |name: &'static str| prepare(&df, name, mapping.fields.get(name));
    let f_id = field("incident_id")?;
    let f_start = field("date_start")?;
    let f_end = field("date_end")?;
    let f_cc = field("country_code")?;
    let f_country = field("country")?;
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
    let grid_mapped = mapping.fields.contains_key("grid_id");

    let extracted = options.extracted.unwrap_or(options.as_of).max(options.as_of);
    let mut quality = InputQuality {
        file: options.label.clone(),
        mapping: mapping.name.clone(),
        rows_read: n as u64,
        ..Default::default()
    };
    let mut acc = Accepted::default();
    let mut q = Quarantined::default();
    let mut first_seen: HashMap<String, usize> = HashMap::new();

    for i in 0..n {
        let row_no = i as i64 + 1;
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
                if let Some(first) = first_seen.get(id) {
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
                } else {
                    first_seen.insert(id.clone(), i);
                }
            }
        }
        let start = take!(f_start.date(i));
        let end = take!(f_end.date(i));
        if start.is_none() && !problems.iter().any(|p| p.field == "date_start") {
            problems.push(missing("date_start"));
        }
        if let (Some(s), Some(e)) = (start, end)
            && e < s
        {
            problems.push(Problem {
                rule: Rule::DateEndBeforeStart,
                field: "date_end",
                value: Some(e.to_string()),
                message: format!("date_end {e} is before date_start {s}"),
            });
        }
        if let Some(s) = start
            && s > extracted
        {
            problems.push(Problem {
                rule: Rule::DateAfterAsOf,
                field: "date_start",
                value: Some(s.to_string()),
                message: format!("date_start {s} is after the data's as-of date {extracted}"),
            });
        }
        let cc = f_cc.text(i);
        if cc.is_none() {
            problems.push(missing("country_code"));
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
            Some(c) if !mapping.categories.contains(c) => problems.push(Problem {
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

        if problems.is_empty() {
            let (Some(id), Some(start), Some(cc), Some(category), Some(best)) =
                (id, start, cc, category, best)
            else {
                continue; // unreachable: each None above added a problem
            };
            if start > options.as_of {
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
            acc.index.push(i as IdxSize);
            acc.incident_id.push(id);
            acc.date_start.push(to_epoch_days(start));
            acc.date_end.push(to_epoch_days(end.unwrap_or(start)));
            acc.country.push(f_country.text(i).unwrap_or_else(|| cc.clone()));
            acc.country_code.push(cc);
            acc.admin1.push(f_a1.text(i));
            acc.admin2.push(f_a2.text(i));
            acc.latitude.push(lat);
            acc.longitude.push(lon);
            acc.grid_id.push(grid);
            acc.category.push(category);
            acc.subcategory.push(f_sub.text(i));
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
                q.incident_id.push(id.clone());
                q.rule.push(p.rule.name());
                q.field.push(p.field);
                q.value.push(p.value);
                q.message.push(p.message);
            }
        }
    }
    quality.rows_accepted = acc.index.len() as u64;

    let incidents = build_incidents(&df, acc, mapping)?;
    let quarantine = build_quarantine(&options.label, q)?;
    Ok(Ingested {
        incidents,
        quarantine,
        quality,
    })
}

fn date_column(name: &str, days: Vec<i32>) -> Result<Column, EngineError> {
    crate::period::date_column(name, days.into_iter().map(Some).collect())
}

fn build_incidents(
    source: &DataFrame,
    a: Accepted,
    mapping: &SchemaMapping,
) -> Result<DataFrame, EngineError> {
    let height = a.index.len();
    let dataset = mapping.source_dataset.as_str();
    let mut columns = vec![
        Column::new("incident_id".into(), a.incident_id),
        date_column("date_start", a.date_start)?,
        date_column("date_end", a.date_end)?,
        Column::new("country_code".into(), a.country_code),
        Column::new("country".into(), a.country),
        Column::new("admin1".into(), a.admin1),
        Column::new("admin2".into(), a.admin2),
        Column::new("latitude".into(), a.latitude),
        Column::new("longitude".into(), a.longitude),
        Column::new("grid_id".into(), a.grid_id),
        Column::new("category".into(), a.category),
        Column::new("subcategory".into(), a.subcategory),
        Column::new("fatalities_best".into(), a.best),
        Column::new("fatalities_low".into(), a.low),
        Column::new("fatalities_high".into(), a.high),
        Column::new("source_dataset".into(), vec![dataset; height]),
        Column::new("source_row".into(), a.source_row),
    ];
    if !mapping.extras.is_empty() {
        let idx = IdxCa::from_vec("idx".into(), a.index);
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

fn build_quarantine(label: &str, q: Quarantined) -> Result<DataFrame, EngineError> {
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

/// Stacks several inputs' incident tables into one. Extras missing from an input are added as
/// nulls, so every input keeps its declared extras.
pub fn combine(frames: Vec<DataFrame>) -> Result<DataFrame, EngineError> {
    let mut all: Vec<(String, DataType)> = Vec::new();
    for f in &frames {
        for c in f.columns() {
            if !all.iter().any(|(n, _)| n == c.name().as_str()) {
                all.push((c.name().to_string(), c.dtype().clone()));
            }
        }
    }
    let mut out: Option<DataFrame> = None;
    for f in frames {
        let h = f.height();
        let cols: Vec<Column> = all
            .iter()
            .map(|(name, dtype)| match f.column(name) {
                Ok(c) => c
                    .cast(dtype)
                    .map_err(EngineError::polars(format!("aligning column {name}"))),
                Err(_) => Ok(Column::full_null(name.as_str().into(), h, dtype)),
            })
            .collect::<Result<_, _>>()?;
        let aligned = DataFrame::new(h, cols).map_err(EngineError::polars("aligning inputs"))?;
        match &mut out {
            None => out = Some(aligned),
            Some(o) => {
                o.vstack_mut_owned(aligned)
                    .map_err(EngineError::polars("stacking inputs"))?;
            }
        }
    }
    out.ok_or_else(|| EngineError::EmptyPanel("the job has no inputs".to_string()))
}
