//! Schema mappings: how a source table's columns become vigil's canonical incident schema.
//!
//! A mapping is a TOML file (see `data/schemas/`). Each canonical field is taken `from` one
//! source column, as the `sum` of several count columns, or as a `constant`; text fields can be
//! recoded through a table; date fields list the formats to try. Columns that hold personal data
//! are declared under `personal`: vigil never reads them.

use crate::error::EngineError;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What kind of value a canonical field holds; decides how source values are parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Free text (ids, names, codes).
    Text,
    /// A calendar date.
    Date,
    /// A real number (coordinates).
    Real,
    /// A non-negative whole number (fatalities, PRIO-GRID ids).
    Count,
}

/// One canonical field: its name, kind and whether every row must have it.
#[derive(Debug, Clone, Copy)]
pub struct CanonicalField {
    /// Column name in the canonical schema.
    pub name: &'static str,
    /// How values are parsed.
    pub kind: FieldKind,
    /// Rows without a value are quarantined (`missing_required_field`).
    pub required: bool,
    /// What the field means, for documentation and error messages.
    pub doc: &'static str,
}

/// The canonical incident schema, in column order. `source_dataset` and `source_row` are added
/// by ingest, not mapped.
pub const CANONICAL_FIELDS: &[CanonicalField] = &[
    CanonicalField {
        name: "incident_id",
        kind: FieldKind::Text,
        required: true,
        doc: "identifier, unique within its source",
    },
    CanonicalField {
        name: "date_start",
        kind: FieldKind::Date,
        required: true,
        doc: "first day of the incident",
    },
    CanonicalField {
        name: "date_end",
        kind: FieldKind::Date,
        required: false,
        doc: "last day (defaults to date_start)",
    },
    CanonicalField {
        name: "country_code",
        kind: FieldKind::Text,
        required: true,
        doc: "country code (UCDP GED uses Gleditsch-Ward numbers)",
    },
    CanonicalField {
        name: "country",
        kind: FieldKind::Text,
        required: true,
        doc: "country name (an empty one is quarantined, or filled from country_code where the mapping says `fallback = \"country_code\"`)",
    },
    CanonicalField {
        name: "admin1",
        kind: FieldKind::Text,
        required: false,
        doc: "first-level administrative unit",
    },
    CanonicalField {
        name: "admin2",
        kind: FieldKind::Text,
        required: false,
        doc: "second-level administrative unit",
    },
    CanonicalField {
        name: "latitude",
        kind: FieldKind::Real,
        required: false,
        doc: "WGS84 latitude in degrees",
    },
    CanonicalField {
        name: "longitude",
        kind: FieldKind::Real,
        required: false,
        doc: "WGS84 longitude in degrees",
    },
    CanonicalField {
        name: "grid_id",
        kind: FieldKind::Count,
        required: false,
        doc: "PRIO-GRID cell id (derived from coordinates when not mapped)",
    },
    CanonicalField {
        name: "category",
        kind: FieldKind::Text,
        required: true,
        doc: "incident category after recoding",
    },
    CanonicalField {
        name: "subcategory",
        kind: FieldKind::Text,
        required: false,
        doc: "finer category",
    },
    CanonicalField {
        name: "fatalities_best",
        kind: FieldKind::Count,
        required: true,
        doc: "best estimate of deaths",
    },
    CanonicalField {
        name: "fatalities_low",
        kind: FieldKind::Count,
        required: false,
        doc: "low estimate (defaults to best)",
    },
    CanonicalField {
        name: "fatalities_high",
        kind: FieldKind::Count,
        required: false,
        doc: "high estimate (defaults to best)",
    },
];

/// Looks up a canonical field by name.
pub fn canonical_field(name: &str) -> Option<&'static CanonicalField> {
    CANONICAL_FIELDS.iter().find(|f| f.name == name)
}

/// The earliest date a mapping accepts when its date field declares no `earliest`: no source
/// vigil reads records incidents before it, and a date in year 1 or 1066 is a typo.
pub const DEFAULT_EARLIEST: &str = "1900-01-01";

/// The largest count a mapping accepts in one row when its count field declares no `max`: ten
/// million deaths or events in one record is a typo (a count of 2^40, say), not an incident.
pub const DEFAULT_MAX_COUNT: i64 = 10_000_000;

/// How one canonical field is filled from the source.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMap {
    /// The source column.
    pub from: Option<String>,
    /// Count columns whose sum is the value (nulls count as 0; all null gives null).
    pub sum: Option<Vec<String>>,
    /// The same value for every row.
    pub constant: Option<String>,
    /// Date formats to try, in order (chrono `strftime` syntax); a time part is allowed. A date
    /// must be written exactly as its format writes it, zero padding included (`2021-03-05`, not
    /// `2021-3-5`), unless `lenient` is set.
    #[serde(default)]
    pub formats: Vec<String>,
    /// Accept dates a format reads but does not write that way (`2021-3-5` for `%Y-%m-%d`),
    /// each counted as a `lenient_date` warning; off by default.
    #[serde(default)]
    pub lenient: bool,
    /// The earliest plausible date (`YYYY-MM-DD`, date fields); earlier dates are quarantined
    /// (`date_out_of_range`). Default [`DEFAULT_EARLIEST`].
    pub earliest: Option<String>,
    /// The largest plausible value (count fields); larger ones are quarantined
    /// (`count_out_of_range`). Default [`DEFAULT_MAX_COUNT`].
    pub max: Option<i64>,
    /// The canonical field whose value fills this one where the source's is empty, each such row
    /// counted as a `filled_from_fallback` warning. Only `country` has one: `country_code`.
    pub fallback: Option<String>,
    /// Recoding table for text fields: source value → canonical value.
    pub recode: Option<BTreeMap<String, String>>,
}

/// Options for reading CSV sources.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    /// Field separator, one character.
    #[serde(default = "default_separator")]
    pub separator: String,
}

impl CsvOptions {
    /// The separator as the byte the CSV reader takes (a checked mapping has exactly one ASCII
    /// character; `,` if it has none).
    pub fn separator_byte(&self) -> u8 {
        self.separator.as_bytes().first().copied().unwrap_or(b',')
    }
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            separator: default_separator(),
        }
    }
}

fn default_separator() -> String {
    ",".to_string()
}

/// A schema mapping file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaMapping {
    /// Short name, e.g. `ucdp_ged`.
    pub name: String,
    /// Written into every row's `source_dataset`.
    pub source_dataset: String,
    /// What the source is.
    #[serde(default)]
    pub description: String,
    /// Canonical field name → how to fill it.
    pub fields: BTreeMap<String, FieldMap>,
    /// Allowed category values after recoding; others are quarantined (`unknown_category`).
    pub categories: Vec<String>,
    /// Source columns carried into the canonical incidents table unchanged.
    #[serde(default)]
    pub extras: Vec<String>,
    /// Source columns holding personal data: never read, never written.
    #[serde(default)]
    pub personal: Vec<String>,
    /// Source columns the mapping knows and leaves out on purpose. A column of an input that is
    /// neither mapped, an extra, personal nor ignored is named in a warning: it may be a column
    /// the mapping should read, renamed by a new release of the source.
    #[serde(default)]
    pub ignored: Vec<String>,
    /// CSV reading options.
    #[serde(default)]
    pub csv: CsvOptions,
    /// Where the mapping was loaded from (not part of the file).
    #[serde(skip)]
    pub path: PathBuf,
}

impl SchemaMapping {
    /// Reads and checks a mapping; reports every problem in the file at once.
    pub fn load(path: &Path) -> Result<Self, EngineError> {
        let text = std::fs::read_to_string(path).map_err(|e| EngineError::io(path, e))?;
        let mut mapping: SchemaMapping = toml::from_str(&text).map_err(|e| EngineError::Mapping {
            path: path.to_path_buf(),
            problems: vec![e.to_string()],
        })?;
        mapping.path = path.to_path_buf();
        let problems = mapping.problems();
        if problems.is_empty() {
            Ok(mapping)
        } else {
            Err(EngineError::Mapping {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    /// Every problem in the mapping (empty when it is usable).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let personal: BTreeSet<&str> = self.personal.iter().map(String::as_str).collect();
        for (name, map) in &self.fields {
            let Some(field) = canonical_field(name) else {
                let known: Vec<_> = CANONICAL_FIELDS.iter().map(|f| f.name).collect();
                problems.push(format!(
                    "fields.{name}: not a canonical field (known: {})",
                    known.join(", ")
                ));
                continue;
            };
            let sources = [map.from.is_some(), map.sum.is_some(), map.constant.is_some()];
            if sources.iter().filter(|s| **s).count() != 1 {
                problems.push(format!(
                    "fields.{name}: give exactly one of `from`, `sum` or `constant`"
                ));
            }
            if map.sum.is_some() && field.kind != FieldKind::Count {
                problems.push(format!("fields.{name}: `sum` is only for count fields"));
            }
            if map.sum.as_ref().is_some_and(Vec::is_empty) {
                problems.push(format!("fields.{name}: `sum` needs at least one column"));
            }
            if !map.formats.is_empty() && field.kind != FieldKind::Date {
                problems.push(format!("fields.{name}: `formats` is only for date fields"));
            }
            if map.lenient && field.kind != FieldKind::Date {
                problems.push(format!("fields.{name}: `lenient` is only for date fields"));
            }
            if let Some(e) = &map.earliest {
                if field.kind != FieldKind::Date {
                    problems.push(format!("fields.{name}: `earliest` is only for date fields"));
                } else if chrono::NaiveDate::parse_from_str(e, "%Y-%m-%d").is_err() {
                    problems.push(format!(
                        "fields.{name}: earliest = '{e}' is not a date: write it as YYYY-MM-DD"
                    ));
                }
            }
            if let Some(f) = &map.fallback
                && !(*name == "country" && f == "country_code")
            {
                problems.push(format!(
                    "fields.{name}: fallback = '{f}' is not supported: only country may fall back, to country_code"
                ));
            }
            if let Some(max) = map.max {
                if field.kind != FieldKind::Count {
                    problems.push(format!("fields.{name}: `max` is only for count fields"));
                } else if max < 1 {
                    problems.push(format!("fields.{name}: max = {max} must be at least 1"));
                }
            }
            if map.recode.is_some() && field.kind != FieldKind::Text {
                problems.push(format!("fields.{name}: `recode` is only for text fields"));
            }
            for column in map.columns() {
                if personal.contains(column) {
                    problems.push(format!(
                        "fields.{name}: column '{column}' is declared personal and may not be mapped"
                    ));
                }
            }
            if name == "category"
                && let Some(recode) = &map.recode
            {
                for (from, to) in recode {
                    if !self.categories.contains(to) {
                        problems.push(format!(
                            "fields.category.recode: '{from}' → '{to}', but '{to}' is not in `categories`"
                        ));
                    }
                }
            }
        }
        for field in CANONICAL_FIELDS.iter().filter(|f| f.required) {
            if !self.fields.contains_key(field.name) {
                problems.push(format!(
                    "fields.{}: required canonical field is not mapped ({})",
                    field.name, field.doc
                ));
            }
        }
        if self.fields.contains_key("latitude") != self.fields.contains_key("longitude") {
            problems.push("fields: map both `latitude` and `longitude`, or neither".to_string());
        }
        if self.categories.is_empty() {
            problems.push("categories: list at least one allowed category".to_string());
        }
        for extra in &self.extras {
            if personal.contains(extra.as_str()) {
                problems.push(format!(
                    "extras: column '{extra}' is declared personal and may not be kept"
                ));
            }
            if canonical_field(extra).is_some() || extra == "source_dataset" || extra == "source_row" {
                problems.push(format!("extras: '{extra}' clashes with a canonical column name"));
            }
        }
        if self.csv.separator.len() != 1 {
            problems.push(format!(
                "csv.separator: must be one ASCII character, got '{}'",
                self.csv.separator
            ));
        }
        problems
    }

    /// Every source column the mapping reads (never a personal one), in a stable order.
    pub fn source_columns(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let mapped = self.fields.values().flat_map(FieldMap::columns);
        for column in mapped.chain(self.extras.iter().map(String::as_str)) {
            if seen.insert(column.to_string()) {
                out.push(column.to_string());
            }
        }
        out
    }
}

impl SchemaMapping {
    /// What is odd about an input as a whole, in words for quality.json and the log: no rows,
    /// or columns (`columns`, the input's) that the mapping does not know.
    pub fn notices(&self, rows: usize, columns: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        if rows == 0 {
            out.push("the input has no rows".to_string());
        }
        let known: BTreeSet<String> = self
            .source_columns()
            .into_iter()
            .chain(self.personal.iter().cloned())
            .chain(self.ignored.iter().cloned())
            .collect();
        let unknown: Vec<&str> = columns
            .iter()
            .filter(|c| !known.contains(*c))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            out.push(format!(
                "columns the mapping '{}' does not know: {} (map them, keep them as `extras`, or list them under `ignored`)",
                self.name,
                unknown.join(", ")
            ));
        }
        out
    }
}

impl FieldMap {
    /// The source columns this field reads.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.from
            .iter()
            .map(String::as_str)
            .chain(self.sum.iter().flatten().map(String::as_str))
    }
}
