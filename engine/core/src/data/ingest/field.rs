//! Source columns prepared for their canonical field, and the per-value checks of each kind.

use crate::data::mapping::{DEFAULT_EARLIEST, DEFAULT_MAX_COUNT, FieldKind, FieldMap, canonical_field};
use crate::data::period::to_epoch_days;
use crate::data::quality::Rule;
use crate::error::EngineError;
use chrono::{NaiveDate, NaiveDateTime};
use polars::prelude::*;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The one arrow array of a rechunked source column.
pub(super) type TextArray = <StringType as PolarsDataType>::Array;
pub(super) type NumberArray = <Float64Type as PolarsDataType>::Array;
pub(super) type DaysArray = <Int32Type as PolarsDataType>::Array;

/// A source column prepared for one kind of canonical field. Columns are held as their single
/// arrow array: the checks read every value of every row, and indexing an array directly costs
/// a fraction of `ChunkedArray::get`, which first finds the chunk.
pub(super) enum Source {
    Absent,
    Constant(String),
    Text(TextArray),
    Number(NumberArray),
    /// Days since 1970-01-01, as polars stores dates.
    Days(DaysArray),
}

/// `ca` as one array (empty when it has no rows).
pub(super) fn one_array<T: PolarsDataType>(ca: &ChunkedArray<T>) -> T::Array
where
    T::Array: Clone,
{
    let ca = ca.rechunk();
    match ca.downcast_iter().next() {
        Some(array) => array.clone(),
        None => T::Array::full_null(0, ca.dtype().to_arrow(CompatLevel::newest())),
    }
}

pub(super) struct Field {
    pub(super) name: &'static str,
    pub(super) formats: Vec<String>,
    /// Dates a format reads but does not write that way are accepted (with a warning).
    pub(super) lenient: bool,
    /// The earliest plausible date, as days since 1970-01-01 (date fields).
    pub(super) earliest: i32,
    /// The largest plausible count (count fields).
    pub(super) max: i64,
    pub(super) recode: Option<BTreeMap<String, String>>,
    pub(super) sources: Vec<(String, Source)>,
}

pub(super) fn prepare(
    df: &DataFrame,
    name: &'static str,
    map: Option<&FieldMap>,
) -> Result<Field, EngineError> {
    let kind = canonical_field(name).map_or(FieldKind::Text, |f| f.kind);
    let Some(map) = map else {
        return Ok(Field {
            name,
            formats: Vec::new(),
            lenient: false,
            earliest: i32::MIN,
            max: i64::MAX,
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
        lenient: map.lenient,
        // (a checked mapping's `earliest` parses)
        earliest: NaiveDate::parse_from_str(map.earliest.as_deref().unwrap_or(DEFAULT_EARLIEST), "%Y-%m-%d")
            .map_or(i32::MIN, to_epoch_days),
        max: map.max.unwrap_or(DEFAULT_MAX_COUNT),
        recode: map.recode.clone(),
        sources,
    })
}

/// One broken rule on one row.
pub(super) struct Problem {
    pub(super) rule: Rule,
    pub(super) field: &'static str,
    pub(super) value: Option<String>,
    pub(super) message: String,
}

/// The value of row `i` as text, borrowed where the source holds text.
pub(super) fn raw_text(source: &Source, i: usize) -> Option<Cow<'_, str>> {
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
    pub(super) fn text(&self, i: usize) -> Option<Cow<'_, str>> {
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

    pub(super) fn number_from(&self, source: &(String, Source), i: usize) -> Result<Option<f64>, Problem> {
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

    pub(super) fn real(&self, i: usize) -> Result<Option<f64>, Problem> {
        match self.sources.first() {
            Some(s) => self.number_from(s, i),
            None => Ok(None),
        }
    }

    /// Sum of the field's columns as a non-negative whole number.
    pub(super) fn count(&self, i: usize) -> Result<Option<i64>, Problem> {
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
        if let Some(v) = total
            && v > self.max as f64
        {
            let columns: Vec<&str> = self.sources.iter().map(|s| s.0.as_str()).collect();
            return Err(Problem {
                rule: Rule::CountOutOfRange,
                field: self.name,
                message: format!(
                    "{}: {v} (column {}) is above the largest plausible count, {}; if it is real, declare a larger `max` for {} in the mapping",
                    self.name,
                    columns.join(" + "),
                    self.max,
                    self.name
                ),
                value: Some(v.to_string()),
            });
        }
        Ok(total.map(|v| v as i64))
    }

    /// Row `i`'s date as days since 1970-01-01, and whether it was read leniently (not written
    /// as its format writes dates); a date before the field's earliest plausible one is a problem.
    pub(super) fn date(&self, i: usize) -> Result<Option<(i32, bool)>, Problem> {
        let got = self.read_date(i)?;
        match got {
            Some((d, _)) if d < self.earliest => {
                let column = self.sources.first().map_or("", |s| s.0.as_str());
                Err(Problem {
                    rule: Rule::DateOutOfRange,
                    field: self.name,
                    message: format!(
                        "{}: {} in column '{column}' is before the earliest plausible date, {}; if it is real, declare an earlier `earliest` for {} in the mapping",
                        self.name,
                        day_text(d),
                        day_text(self.earliest),
                        self.name
                    ),
                    value: Some(day_text(d)),
                })
            }
            _ => Ok(got),
        }
    }

    /// Row `i`'s date as [`Field::date`] reads it, before the range check (a date column's
    /// values are taken as they are).
    fn read_date(&self, i: usize) -> Result<Option<(i32, bool)>, Problem> {
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
                d => Ok(d.map(|d| (d, false))),
            };
        }
        let Some(raw) = raw_text(&source.1, i) else {
            return Ok(None);
        };
        let t = trim(&raw);
        if t.is_empty() {
            return Ok(None);
        }
        // chrono reads `2021-3-5` with `%Y-%m-%d`: a date counts as written in a format only if
        // the format writes it back the same (names of months and days in any case)
        let mut loose: Option<(i32, &str)> = None;
        for f in &self.formats {
            if let Ok(d) = NaiveDate::parse_from_str(t, f) {
                if written_as(t, f, d.format(f)) {
                    return Ok(Some((to_epoch_days(d), false)));
                }
                loose.get_or_insert((to_epoch_days(d), f));
            }
            if let Ok(dt) = NaiveDateTime::parse_from_str(t, f) {
                if written_as(t, f, dt.format(f)) {
                    return Ok(Some((to_epoch_days(dt.date()), false)));
                }
                loose.get_or_insert((to_epoch_days(dt.date()), f));
            }
        }
        if let Some((days, f)) = loose {
            if self.lenient {
                return Ok(Some((days, true)));
            }
            return Err(Problem {
                rule: Rule::UnparsableDate,
                field: self.name,
                message: format!(
                    "{}: '{}' in column '{}' is not written as the format {f:?} writes dates (zero padding included); correct the source, or declare `lenient = true` for {} in the mapping to accept such dates with a warning",
                    self.name,
                    truncate(t),
                    source.0,
                    self.name
                ),
                value: Some(truncate(t)),
            });
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

/// Whether `t` is written exactly as `format` writes the date it was read as (`written`). ISO
/// dates, by far the most common, are checked without formatting: ten characters, digits but
/// for the dashes at 4 and 7.
fn written_as(t: &str, format: &str, written: impl std::fmt::Display) -> bool {
    if format == "%Y-%m-%d" {
        let b = t.as_bytes();
        return b.len() == 10
            && b.iter().enumerate().all(|(k, c)| {
                if k == 4 || k == 7 {
                    *c == b'-'
                } else {
                    c.is_ascii_digit()
                }
            });
    }
    use std::fmt::Write;
    // a format with a part the value lacks (a time of day for a date) fails to write: not a match
    let mut s = String::new();
    write!(s, "{written}").is_ok() && s.eq_ignore_ascii_case(t)
}

/// `s` without leading and trailing white space. Most values have none: when both ends are
/// printable ASCII (never white space) this is two byte tests, not `str::trim`'s Unicode scan.
pub(super) fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(b)) if a.is_ascii_graphic() && b.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// The days since 1970-01-01 that the calendar (chrono's `NaiveDate`) can hold, worked out once.
pub(super) static CALENDAR_DAYS: std::sync::LazyLock<std::ops::RangeInclusive<i32>> =
    std::sync::LazyLock::new(|| to_epoch_days(NaiveDate::MIN)..=to_epoch_days(NaiveDate::MAX));

/// A date given as days since 1970-01-01, as text (`2020-01-31`); days beyond the calendar's
/// range (a date column can hold them) are written as a day count instead of failing.
pub(super) fn day_text(days: i32) -> String {
    match crate::data::period::checked_from_epoch_days(days) {
        Some(d) => d.to_string(),
        None => format!("{days} days from 1970-01-01"),
    }
}

pub(super) fn truncate(s: &str) -> String {
    if s.chars().count() > 200 {
        s.chars().take(200).collect::<String>() + "…"
    } else {
        s.to_string()
    }
}

pub(super) fn missing(field: &'static str) -> Problem {
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
pub(super) struct TextColumn<'f> {
    pub(super) name: &'static str,
    pub(super) source: Option<&'f TextArray>,
    pub(super) built: Option<StringChunkedBuilder>,
    pub(super) capacity: usize,
}

impl<'f> TextColumn<'f> {
    /// A column named `name` whose values come mostly from `field`'s first source.
    pub(super) fn new(name: &'static str, field: &'f Field, capacity: usize) -> Self {
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
    pub(super) fn push(&mut self, value: Option<&str>, i: usize, accepted: &[IdxSize]) {
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
    pub(super) fn finish(self, index: &IdxCa) -> Result<Column, EngineError> {
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
