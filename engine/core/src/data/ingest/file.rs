//! One input file read and checked, whole or a chunk at a time, into incidents and quarantine.

use super::checker::*;
use super::schema::*;
use crate::data::mapping::SchemaMapping;
use crate::data::quality::InputQuality;
use crate::data::read::ChunkedSource;
use crate::error::EngineError;
use polars::prelude::*;
use std::path::Path;

/// Reads one input and applies the quality rules.
pub fn ingest(
    path: &Path,
    mapping: &SchemaMapping,
    options: &IngestOptions,
) -> Result<Ingested, EngineError> {
    let columns = mapping.source_columns();
    let separator = mapping.csv.separator_byte();
    // the same source ingest_chunked reads (ragged CSV records found, reader errors explained)
    let source = ChunkedSource::open(path, &columns, separator, &mapping.path)?;
    let df = source.read(&columns, 0, source.rows())?;
    let notices = notices(mapping, options, df.height(), source.columns());
    let mut duplicates = Duplicates::new(suspect_hashes(id_hashes(&df, mapping)?));
    duplicates.scan(&df, 0, mapping)?;
    let mut checker = Checker::new(mapping, options, df.height(), duplicates.found, source.ragged());
    let incidents = checker.check(&df, 0)?;
    let (quarantine, mut quality) = checker.finish()?;
    quality.notices = notices;
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
    let source = ChunkedSource::open(path, &columns, separator, &mapping.path)?;
    let rows = source.rows();
    let notices = notices(mapping, options, rows, source.columns());
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
    let mut checker = Checker::new(mapping, options, rows, duplicates, source.ragged());
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
    let (quarantine, mut quality) = checker.finish()?;
    quality.notices = notices;
    Ok((quarantine, quality))
}

/// The mapping's notices about an input (no rows, unknown columns), each logged as a warning.
fn notices(mapping: &SchemaMapping, options: &IngestOptions, rows: usize, columns: &[String]) -> Vec<String> {
    let notices = mapping.notices(rows, columns);
    for n in &notices {
        tracing::warn!("{}: {n}", options.label);
    }
    notices
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
