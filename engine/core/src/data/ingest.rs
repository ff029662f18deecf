//! Ingest: a source table + its schema mapping → canonical incidents, quarantine and a quality
//! report. Every source row ends up in exactly one place: accepted, quarantined (with the rule,
//! field, value and source row number), or excluded by the run's as-of window (counted).

use crate::data::mapping::{FieldKind, FieldMap, SchemaMapping, canonical_field};
use crate::data::period::to_epoch_days;
use crate::data::quality::{InputQuality, Rule};
use crate::data::read::read_columns;
use crate::error::EngineError;
use chrono::{NaiveDate, NaiveDateTime};
use polars::prelude::*;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
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

/// The one arrow array of a rechunked source column.
type TextArray = <StringType as PolarsDataType>::Array;
type NumberArray = <Float64Type as PolarsDataType>::Array;
type DaysArray = <Int32Type as PolarsDataType>::Array;

/// A source column prepared for one kind of canonical field. Columns are held as their single
/// arrow array: the checks read every value of every row, and indexing an array directly costs
/// a fraction of `ChunkedArray::get`, which first finds the chunk.
enum Source {
    Absent,
    Constant(String),
    Text(TextArray),
    Number(NumberArray),
    /// Days since 1970-01-01, as polars stores dates.
    Days(DaysArray),
}

/// `ca` as one array (empty when it has no rows).
fn one_array<T: PolarsDataType>(ca: &ChunkedArray<T>) -> T::Array
where
    T::Array: Clone,
{
    let ca = ca.rechunk();
    match ca.downcast_iter().next() {
        Some(array) => array.clone(),
        None => T::Array::full_null(0, ca.dtype().to_arrow(CompatLevel::newest())),
    }
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
            FieldKind::Date if dtype == DataType::Date => Source::Days(one_array(
                c.cast(&DataType::Int32)
                    .map_err(EngineError::polars(ctx()))?
                    .i32()
                    .map_err(EngineError::polars(ctx()))?,
            )),
            FieldKind::Date if matches!(dtype, DataType::Datetime(_, _)) => {
                let d = c
                    .cast(&DataType::Date)
                    .and_then(|d| d.cast(&DataType::Int32))
                    .map_err(EngineError::polars(ctx()))?;
                Source::Days(one_array(d.i32().map_err(EngineError::polars(ctx()))?))
            }
            FieldKind::Real | FieldKind::Count if dtype.is_primitive_numeric() => {
                let d = c.cast(&DataType::Float64).map_err(EngineError::polars(ctx()))?;
                Source::Number(one_array(d.f64().map_err(EngineError::polars(ctx()))?))
            }
            _ => {
                let d = c.cast(&DataType::String).map_err(EngineError::polars(ctx()))?;
                Source::Text(one_array(d.str().map_err(EngineError::polars(ctx()))?))
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

/// The value of row `i` as text, borrowed where the source holds text.
fn raw_text(source: &Source, i: usize) -> Option<Cow<'_, str>> {
    match source {
        Source::Absent => None,
        Source::Constant(c) => Some(Cow::Borrowed(c.as_str())),
        Source::Text(a) => a.get(i).map(Cow::Borrowed),
        Source::Number(a) => a.get(i).map(|v| Cow::Owned(v.to_string())),
        Source::Days(a) => a.get(i).map(|v| Cow::Owned(day_text(v))),
    }
}

impl Field {
    /// Row `i`'s value, trimmed and recoded; `None` when empty. Borrowed where it can be, so
    /// millions of rows do not mean millions of small allocations.
    fn text(&self, i: usize) -> Option<Cow<'_, str>> {
        let (_, source) = self.sources.first()?;
        let trimmed = match raw_text(source, i)? {
            Cow::Borrowed(b) => Cow::Borrowed(trim(b)),
            Cow::Owned(o) if trim(&o).len() == o.len() => Cow::Owned(o),
            Cow::Owned(o) => Cow::Owned(trim(&o).to_string()),
        };
        if trimmed.is_empty() {
            return None;
        }
        if let Some(mapped) = self.recode.as_ref().and_then(|r| r.get(trimmed.as_ref())) {
            return Some(Cow::Borrowed(mapped.as_str()));
        }
        Some(trimmed)
    }

    fn number_from(&self, source: &(String, Source), i: usize) -> Result<Option<f64>, Problem> {
        match &source.1 {
            Source::Number(a) => Ok(a.get(i).filter(|v| !v.is_nan())),
            other => {
                let Some(raw) = raw_text(other, i) else {
                    return Ok(None);
                };
                let t = trim(&raw);
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

    /// Row `i`'s date as days since 1970-01-01 (a date column's values are taken as they are).
    fn date(&self, i: usize) -> Result<Option<i32>, Problem> {
        let Some(source) = self.sources.first() else {
            return Ok(None);
        };
        if let Source::Days(a) = &source.1 {
            // A date column holds ±5.8 million years; the calendar everything after ingest uses
            // holds ±262,000. Dates beyond it cannot be real incidents, and would stop the run
            // later: they are quarantined here.
            return match a.get(i) {
                Some(d) if !CALENDAR_DAYS.contains(&d) => {
                    let text = day_text(d);
                    Err(Problem {
                        rule: Rule::UnparsableDate,
                        field: self.name,
                        message: format!(
                            "{}: {text} in column '{}' is outside the calendar (years {} to {})",
                            self.name,
                            source.0,
                            chrono::Datelike::year(&NaiveDate::MIN),
                            chrono::Datelike::year(&NaiveDate::MAX)
                        ),
                        value: Some(text),
                    })
                }
                d => Ok(d),
            };
        }
        let Some(raw) = raw_text(&source.1, i) else {
            return Ok(None);
        };
        let t = trim(&raw);
        if t.is_empty() {
            return Ok(None);
        }
        for f in &self.formats {
            if let Ok(d) = NaiveDate::parse_from_str(t, f) {
                return Ok(Some(to_epoch_days(d)));
            }
            if let Ok(dt) = NaiveDateTime::parse_from_str(t, f) {
                return Ok(Some(to_epoch_days(dt.date())));
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

/// `s` without leading and trailing white space. Most values have none: when both ends are
/// printable ASCII (never white space) this is two byte tests, not `str::trim`'s Unicode scan.
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(b)) if a.is_ascii_graphic() && b.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// The days since 1970-01-01 that the calendar (chrono's `NaiveDate`) can hold, worked out once.
static CALENDAR_DAYS: std::sync::LazyLock<std::ops::RangeInclusive<i32>> =
    std::sync::LazyLock::new(|| to_epoch_days(NaiveDate::MIN)..=to_epoch_days(NaiveDate::MAX));

/// A date given as days since 1970-01-01, as text (`2020-01-31`); days beyond the calendar's
/// range (a date column can hold them) are written as a day count instead of failing.
fn day_text(days: i32) -> String {
    match crate::data::period::checked_from_epoch_days(days) {
        Some(d) => d.to_string(),
        None => format!("{days} days from 1970-01-01"),
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

/// One accepted text column of a part. While every value is the source's own (not trimmed,
/// recoded or taken from another field), nothing is copied: the column is finally a gather of
/// the source's views, which share its text buffers. The first value that is not the source's
/// starts a string builder, filled first with the values accepted so far.
struct TextColumn<'f> {
    name: &'static str,
    source: Option<&'f TextArray>,
    built: Option<StringChunkedBuilder>,
    capacity: usize,
}

impl<'f> TextColumn<'f> {
    /// A column named `name` whose values come mostly from `field`'s first source.
    fn new(name: &'static str, field: &'f Field, capacity: usize) -> Self {
        let source = match field.sources.first() {
            Some((_, Source::Text(a))) => Some(a),
            _ => None,
        };
        TextColumn {
            name,
            source,
            built: source
                .is_none()
                .then(|| StringChunkedBuilder::new(name.into(), capacity)),
            capacity,
        }
    }

    /// Appends the value of part row `i`; `accepted` are the part rows accepted before it.
    fn push(&mut self, value: Option<&str>, i: usize, accepted: &[IdxSize]) {
        if let (None, Some(source)) = (&self.built, self.source) {
            // The source's own value is the very same slice (address and length).
            let verbatim = match value {
                Some(v) => source.get(i).is_some_and(|raw| std::ptr::eq(raw, v)),
                None => source.get(i).is_none(),
            };
            if verbatim {
                return;
            }
            let mut b = StringChunkedBuilder::new(self.name.into(), self.capacity);
            for &j in accepted {
                b.append_option(source.get(j as usize));
            }
            self.built = Some(b);
        }
        if let Some(b) = self.built.as_mut() {
            b.append_option(value);
        }
    }

    /// The column of the accepted rows `index`.
    fn finish(self, index: &IdxCa) -> Result<Column, EngineError> {
        match (self.built, self.source) {
            (Some(b), _) => Ok(b.finish().into_column()),
            (None, Some(source)) => StringChunked::with_chunk(self.name.into(), source.clone())
                .take(index)
                .map(IntoColumn::into_column)
                .map_err(EngineError::polars(format!("gathering column {}", self.name))),
            (None, None) => Ok(Column::full_null(self.name.into(), 0, &DataType::String)),
        }
    }
}

/// Accepted rows of one part, column by column (text as gathers of the source's values or in
/// polars' string builders: no allocation per value).
struct Accepted<'f> {
    index: Vec<IdxSize>,
    incident_id: TextColumn<'f>,
    date_start: Vec<i32>,
    date_end: Vec<i32>,
    country_code: TextColumn<'f>,
    country: TextColumn<'f>,
    admin1: TextColumn<'f>,
    admin2: TextColumn<'f>,
    latitude: Vec<Option<f64>>,
    longitude: Vec<Option<f64>>,
    grid_id: Vec<Option<i64>>,
    category: TextColumn<'f>,
    subcategory: TextColumn<'f>,
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

/// FNV-1a (64 bits) of an incident id: a fast first look for ids that repeat. Equal hashes are
/// only suspects; the exact comparison of the ids follows.
fn id_hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Hashes of the incident ids of `df` (rows without one are left out), parts of the frame in
/// parallel: this pass runs before any checking, with nothing else to keep the cores busy.
fn id_hashes(df: &DataFrame, mapping: &SchemaMapping) -> Result<Vec<u64>, EngineError> {
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
fn suspect_hashes(mut hashes: Vec<u64>) -> HashSet<u64> {
    use rayon::slice::ParallelSliceMut;
    hashes.par_sort_unstable();
    hashes.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect()
}

/// Source rows (0-based) whose incident id an earlier row already used, with that first row:
/// the exact comparison, over the rows whose id hash is a suspect, in row order.
struct Duplicates {
    suspects: HashSet<u64>,
    first: HashMap<String, usize>,
    found: HashMap<usize, usize>,
}

impl Duplicates {
    fn new(suspects: HashSet<u64>) -> Self {
        Duplicates {
            suspects,
            first: HashMap::new(),
            found: HashMap::new(),
        }
    }

    /// Looks at the ids of `df`, which holds source rows `offset ..`.
    fn scan(&mut self, df: &DataFrame, offset: usize, mapping: &SchemaMapping) -> Result<(), EngineError> {
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
struct Checker<'a> {
    mapping: &'a SchemaMapping,
    options: &'a IngestOptions,
    /// The extract date and the as-of date, in days since 1970-01-01.
    extracted: i32,
    as_of: i32,
    grid_mapped: bool,
    quality: InputQuality,
    quarantine: Quarantined,
    duplicates: HashMap<usize, usize>,
}

/// What checking one part of a chunk gives.
struct Checked {
    incidents: DataFrame,
    quarantine: Quarantined,
    quality: InputQuality,
}

/// Rows a thread checks at a time: a chunk is cut into parts of this size, checked in parallel
/// and put back in order.
const PART_ROWS: usize = 1 << 16;

impl<'a> Checker<'a> {
    fn new(
        mapping: &'a SchemaMapping,
        options: &'a IngestOptions,
        rows: usize,
        duplicates: HashMap<usize, usize>,
    ) -> Self {
        Checker {
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
    fn check(&mut self, df: &DataFrame, offset: usize) -> Result<DataFrame, EngineError> {
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
    fn check_part(&self, df: &DataFrame, offset: usize) -> Result<Checked, EngineError> {
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
                let country = f_country.text(i);
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
    fn finish(self) -> Result<(DataFrame, InputQuality), EngineError> {
        Ok((
            build_quarantine(&self.options.label, self.quarantine)?,
            self.quality,
        ))
    }
}

/// Reads one input and applies the quality rules.
pub fn ingest(
    path: &Path,
    mapping: &SchemaMapping,
    options: &IngestOptions,
) -> Result<Ingested, EngineError> {
    let columns = mapping.source_columns();
    let separator = mapping.csv.separator_byte();
    let df = read_columns(path, &columns, separator, &mapping.path)?;
    let mut duplicates = Duplicates::new(suspect_hashes(id_hashes(&df, mapping)?));
    duplicates.scan(&df, 0, mapping)?;
    let mut checker = Checker::new(mapping, options, df.height(), duplicates.found);
    let incidents = checker.check(&df, 0)?;
    let (quarantine, quality) = checker.finish()?;
    Ok(Ingested {
        incidents,
        quarantine,
        quality,
    })
}

/// [`ingest`] in chunks of `chunk_rows` source rows, for inputs too large to hold at once: each
/// chunk's accepted incidents go to `sink` as soon as they are checked, so memory does not grow
/// with the input. The result is the same as [`ingest`]'s, cut into pieces: the same rows
/// accepted, quarantined (with the same rules and row numbers; a duplicate id is found across
/// chunks) and counted. Parquet and Arrow IPC inputs are read a chunk at a time; CSV is read
/// whole and then checked in chunks.
pub fn ingest_chunked(
    path: &Path,
    mapping: &SchemaMapping,
    options: &IngestOptions,
    chunk_rows: usize,
    sink: &mut dyn FnMut(DataFrame) -> Result<(), EngineError>,
) -> Result<(DataFrame, InputQuality), EngineError> {
    let columns = mapping.source_columns();
    let separator = mapping.csv.separator_byte();
    let chunk_rows = chunk_rows.max(1);
    let started = std::time::Instant::now();
    let source = crate::data::read::ChunkedSource::open(path, &columns, separator, &mapping.path)?;
    let rows = source.rows();
    // First pass: the ids alone, to find the hashes that repeat.
    let id_field = mapping.fields.get("incident_id");
    let id_columns: Vec<String> = id_field
        .map(|f| f.columns().map(str::to_string).collect())
        .unwrap_or_default();
    let duplicates = if id_columns.is_empty() {
        // A constant id (odd, but allowed): every row after the first repeats it.
        let constant = id_field.and_then(|f| f.constant.as_deref()).is_some();
        (1..rows).filter(|_| constant).map(|r| (r, 0)).collect()
    } else {
        let mut hashes = Vec::with_capacity(rows);
        for offset in (0..rows).step_by(chunk_rows) {
            let df = source.read(&id_columns, offset, chunk_rows)?;
            hashes.extend(id_hashes(&df, mapping)?);
        }
        let mut duplicates = Duplicates::new(suspect_hashes(hashes));
        if !duplicates.suspects.is_empty() {
            for offset in (0..rows).step_by(chunk_rows) {
                duplicates.scan(&source.read(&id_columns, offset, chunk_rows)?, offset, mapping)?;
            }
        }
        duplicates.found
    };
    let ids_read = started.elapsed().as_secs_f64();
    let mut checker = Checker::new(mapping, options, rows, duplicates);
    let (mut reading, mut checking, mut sinking) = (0.0, 0.0, 0.0);
    for offset in (0..rows).step_by(chunk_rows) {
        let t = std::time::Instant::now();
        let df = source.read(&columns, offset, chunk_rows)?;
        reading += t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let incidents = checker.check(&df, offset)?;
        checking += t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        sink(incidents)?;
        sinking += t.elapsed().as_secs_f64();
    }
    tracing::debug!(
        "{}: {rows} rows in chunks of {chunk_rows}: ids {ids_read:.1} s, reading {reading:.1} s, checking {checking:.1} s, the sink {sinking:.1} s",
        options.label
    );
    checker.finish()
}

fn date_column(name: &str, days: Vec<i32>) -> Result<Column, EngineError> {
    crate::data::period::date_column(name, days.into_iter().map(Some).collect())
}

fn build_incidents(
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
    fn append(&mut self, mut other: Quarantined) {
        self.source_row.append(&mut other.source_row);
        self.incident_id.append(&mut other.incident_id);
        self.rule.append(&mut other.rule);
        self.field.append(&mut other.field);
        self.value.append(&mut other.value);
        self.message.append(&mut other.message);
    }
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
    let mut schema = Schema::default();
    for f in &frames {
        for c in f.columns() {
            if schema.get(c.name()).is_none() {
                schema.insert(c.name().clone(), c.dtype().clone());
            }
        }
    }
    let mut out: Option<DataFrame> = None;
    for f in frames {
        let aligned = crate::output::align(&f, &schema)?;
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

/// One input of a job, as [`ingest_job`] takes it.
pub struct JobInput<'a> {
    /// The source file.
    pub path: &'a Path,
    /// Its schema mapping.
    pub mapping: &'a SchemaMapping,
    /// As-of, extract date and label.
    pub options: IngestOptions,
}

/// What [`ingest_job`] gives.
pub struct IngestedJob {
    /// The accepted incidents of every input, summed by geography, category and period (see
    /// [`crate::data::panel::aggregate_incidents`]): every panel of the run is built from this.
    pub aggregated: DataFrame,
    /// Rejected rows of every input.
    pub quarantine: DataFrame,
    /// One quality report per input.
    pub quality: Vec<InputQuality>,
    /// Accepted incidents written.
    pub accepted: u64,
}

/// Rows checked at a time by [`ingest_job`]: memory stays bounded whatever an input's size.
pub const CHUNK_ROWS: usize = 1 << 20;

/// Ingests a job's inputs in chunks ([`ingest_chunked`]): the accepted incidents are written to
/// `incidents` (when given) as they come, input after input in source order, with the canonical
/// columns and every input's extras (nulls where an input has none), and kept in memory only as
/// their aggregate at `frequency`. So a run's memory grows with regions × periods, not with
/// incidents.
pub fn ingest_job(
    inputs: &[JobInput<'_>],
    frequency: crate::Frequency,
    chunk_rows: usize,
    mut incidents: Option<crate::output::TableWriter>,
) -> Result<IngestedJob, EngineError> {
    // Each chunk is folded into one running sum keyed by codes of its text keys: memory stays
    // near the size of the final aggregate however many chunks there are. Summing a chunk and
    // writing it each take about as long as reading and checking it, so each runs on a thread
    // of its own, one chunk behind; a chunk is handed over only once the one before is done, so
    // no checked chunk waits in between.
    let mut quarantine = Vec::new();
    let mut quality = Vec::new();
    let (produced, summed, written) = std::thread::scope(|scope| {
        let (to_sum, sum_rx) = std::sync::mpsc::sync_channel::<DataFrame>(0);
        let (to_write, write_rx) = std::sync::mpsc::sync_channel::<DataFrame>(0);
        let summer = scope.spawn(move || -> Result<_, EngineError> {
            let mut sum = crate::data::panel::AggregateSum::new();
            let busy = each_chunk(sum_rx, |chunk| sum.add(&chunk, frequency))?;
            tracing::debug!("ingest: summing {busy:.1} s ({} cells)", sum.len());
            Ok(sum)
        });
        let writer = scope.spawn(move || -> Result<_, EngineError> {
            let busy = each_chunk(write_rx, |chunk| match incidents.as_mut() {
                Some(w) => w.write(&chunk),
                None => Ok(()),
            })?;
            tracing::debug!("ingest: writing the incidents {busy:.1} s");
            Ok(incidents)
        });
        let produced = inputs.iter().try_for_each(|input| -> Result<(), EngineError> {
            // A send fails only once a consumer has stopped on an error, which is the one
            // reported.
            let stopped = |_| EngineError::Invalid {
                context: format!("ingesting {}", input.path.display()),
                message: "the summing or writing of the incidents stopped".into(),
            };
            let (q, report) = ingest_chunked(
                input.path,
                input.mapping,
                &input.options,
                chunk_rows,
                &mut |chunk| {
                    to_sum.send(chunk.clone()).map_err(stopped)?;
                    to_write.send(chunk).map_err(stopped)
                },
            )?;
            quarantine.push(q);
            quality.push(report);
            Ok(())
        });
        drop((to_sum, to_write));
        (produced, join(summer), join(writer))
    });
    // A consumer's own error first: a failed send only says that one stopped.
    let sum = summed?;
    let incidents = written?;
    produced?;
    let accepted = quality.iter().map(|q| q.rows_accepted).sum();
    if let Some(w) = incidents {
        w.finish()?;
    }
    // In the order the cells first occurred: every use of the aggregate is independent of it.
    let aggregated = sum.finish()?;
    Ok(IngestedJob {
        aggregated,
        quarantine: combine(quarantine)?,
        quality,
        accepted,
    })
}

/// Calls `f` on every chunk `rx` receives until the sender is dropped; returns the seconds
/// spent in `f` (not waiting for chunks), for the debug log.
fn each_chunk(
    rx: std::sync::mpsc::Receiver<DataFrame>,
    mut f: impl FnMut(DataFrame) -> Result<(), EngineError>,
) -> Result<f64, EngineError> {
    let mut busy = 0.0;
    for chunk in rx {
        let t = std::time::Instant::now();
        f(chunk)?;
        busy += t.elapsed().as_secs_f64();
    }
    Ok(busy)
}

/// The result of a scoped thread; its panic, if it panicked, goes on.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// The columns of the incidents table of a job with these inputs: the canonical ones, then each
/// input's extras (in mapping order, first input first) with the type its source gives them.
pub fn incidents_schema(inputs: &[JobInput<'_>]) -> Result<Schema, EngineError> {
    let mut schema: Schema = canonical_schema()
        .into_iter()
        .map(|(n, t)| (PlSmallStr::from(n), t))
        .collect();
    for input in inputs {
        let source = crate::data::read::source_schema(input.path, input.mapping.csv.separator_byte())?;
        for extra in &input.mapping.extras {
            if schema.get(extra.as_str()).is_none() {
                let dtype = source.get(extra.as_str()).cloned().unwrap_or(DataType::String);
                schema.insert(extra.as_str().into(), dtype);
            }
        }
    }
    Ok(schema)
}
