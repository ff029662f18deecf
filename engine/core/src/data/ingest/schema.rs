//! The canonical incident and quarantine schemas, ingest options, and PRIO-GRID cell ids.

use crate::data::quality::InputQuality;
use chrono::NaiveDate;
use polars::prelude::*;

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
