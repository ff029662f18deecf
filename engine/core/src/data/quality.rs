//! Quality rules, the per-input quality report and the gates a job can set on it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A named check on one source row. Rules that reject put the row in quarantine; warnings keep
/// the row and are only counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// A CSV record has more or fewer fields than the header.
    WrongFieldCount,
    /// A required canonical field is empty.
    MissingRequiredField,
    /// A date matches none of the mapping's formats.
    UnparsableDate,
    /// `date_end` is before `date_start`.
    DateEndBeforeStart,
    /// `date_start` is later than the input's extract date (or the run's as-of date).
    DateAfterAsOf,
    /// A numeric field holds text that is not a number.
    UnparsableNumber,
    /// A date is before the field's earliest plausible date.
    DateOutOfRange,
    /// A count is below zero.
    NegativeCount,
    /// A count is above the field's largest plausible value.
    CountOutOfRange,
    /// A count has a fractional part.
    NonIntegerCount,
    /// Latitude outside [-90, 90] or longitude outside [-180, 180].
    CoordinatesOutOfRange,
    /// Only one of latitude and longitude is given.
    CoordinatesIncomplete,
    /// The PRIO-GRID id does not contain the coordinates.
    GridIdMismatch,
    /// The incident id was already used by an earlier row of the same input.
    DuplicateIncidentId,
    /// The category, after recoding, is not one the mapping allows.
    UnknownCategory,
    /// Warning: the best estimate lies outside [low, high] (a known quirk of UCDP GED).
    BestOutsideLowHigh,
    /// Warning: the low estimate is above the high estimate.
    LowAboveHigh,
    /// Warning: a date was read by a lenient field although it is not written as its format
    /// writes dates (`2021-3-5` for `%Y-%m-%d`).
    LenientDate,
    /// Warning: an empty field was filled from the field the mapping names as its `fallback`.
    FilledFromFallback,
}

impl Rule {
    /// Every rule, rejecting ones first.
    pub const ALL: [Rule; 19] = [
        Rule::WrongFieldCount,
        Rule::MissingRequiredField,
        Rule::UnparsableDate,
        Rule::DateEndBeforeStart,
        Rule::DateAfterAsOf,
        Rule::DateOutOfRange,
        Rule::UnparsableNumber,
        Rule::NegativeCount,
        Rule::CountOutOfRange,
        Rule::NonIntegerCount,
        Rule::CoordinatesOutOfRange,
        Rule::CoordinatesIncomplete,
        Rule::GridIdMismatch,
        Rule::DuplicateIncidentId,
        Rule::UnknownCategory,
        Rule::BestOutsideLowHigh,
        Rule::LowAboveHigh,
        Rule::LenientDate,
        Rule::FilledFromFallback,
    ];

    /// The rule's name in quarantine files and quality reports.
    pub fn name(self) -> &'static str {
        match self {
            Rule::WrongFieldCount => "wrong_field_count",
            Rule::MissingRequiredField => "missing_required_field",
            Rule::UnparsableDate => "unparsable_date",
            Rule::DateEndBeforeStart => "date_end_before_start",
            Rule::DateAfterAsOf => "date_after_as_of",
            Rule::UnparsableNumber => "unparsable_number",
            Rule::DateOutOfRange => "date_out_of_range",
            Rule::NegativeCount => "negative_count",
            Rule::CountOutOfRange => "count_out_of_range",
            Rule::NonIntegerCount => "non_integer_count",
            Rule::CoordinatesOutOfRange => "coordinates_out_of_range",
            Rule::CoordinatesIncomplete => "coordinates_incomplete",
            Rule::GridIdMismatch => "grid_id_mismatch",
            Rule::DuplicateIncidentId => "duplicate_incident_id",
            Rule::UnknownCategory => "unknown_category",
            Rule::BestOutsideLowHigh => "best_outside_low_high",
            Rule::LowAboveHigh => "low_above_high",
            Rule::LenientDate => "lenient_date",
            Rule::FilledFromFallback => "filled_from_fallback",
        }
    }

    /// True for rules that keep the row.
    pub fn is_warning(self) -> bool {
        matches!(
            self,
            Rule::BestOutsideLowHigh | Rule::LowAboveHigh | Rule::LenientDate | Rule::FilledFromFallback
        )
    }
}

/// What happened to one input's rows.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InputQuality {
    /// The source file, as given in the job spec.
    pub file: String,
    /// The schema mapping's name.
    pub mapping: String,
    /// Rows in the file.
    pub rows_read: u64,
    /// Rows that passed every rejecting rule and are inside the as-of window.
    pub rows_accepted: u64,
    /// Rows rejected by at least one rule (each is in quarantine.parquet).
    pub rows_quarantined: u64,
    /// Valid rows dated after the run's as-of date but not after the input's extract date:
    /// left out of this run's window, not errors.
    pub rows_excluded_after_as_of: u64,
    /// Rows rejected by each rule (a row can break several rules).
    pub rules: BTreeMap<String, u64>,
    /// Rows kept with a warning, per warning rule.
    pub warnings: BTreeMap<String, u64>,
    /// Up to 20 source row numbers per warning rule, to look at.
    pub warning_examples: BTreeMap<String, Vec<u64>>,
    /// Warnings about the input as a whole (no rows, columns the mapping does not know).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
}

impl InputQuality {
    /// Quarantined rows as a share of rows read (0 for an empty file).
    pub fn quarantined_fraction(&self) -> f64 {
        if self.rows_read == 0 {
            0.0
        } else {
            self.rows_quarantined as f64 / self.rows_read as f64
        }
    }
}

/// Limits a job sets on data quality.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct QualityGates {
    /// Fail the run when more than this share of an input's rows is quarantined (0..=1).
    pub max_quarantined_fraction: Option<f64>,
}

/// The outcome of checking gates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GateResult {
    /// True when every gate passed.
    pub passed: bool,
    /// One sentence per failed gate, naming the input and the figures.
    pub failures: Vec<String>,
}

impl QualityGates {
    /// Checks every input against the gates.
    pub fn check(&self, inputs: &[InputQuality]) -> GateResult {
        let mut failures = Vec::new();
        if let Some(max) = self.max_quarantined_fraction {
            for q in inputs {
                let fraction = q.quarantined_fraction();
                if fraction > max {
                    failures.push(format!(
                        "{}: {:.2}% of rows quarantined ({} of {}), above the gate of {:.2}% (quality.max_quarantined_fraction)",
                        q.file,
                        fraction * 100.0,
                        q.rows_quarantined,
                        q.rows_read,
                        max * 100.0
                    ));
                }
            }
        }
        GateResult {
            passed: failures.is_empty(),
            failures,
        }
    }
}
