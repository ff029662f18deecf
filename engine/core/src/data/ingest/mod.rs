//! Ingest: a source table + its schema mapping → canonical incidents, quarantine and a quality
//! report. Every source row ends up in exactly one place: accepted, quarantined (with the rule,
//! field, value and source row number), or excluded by the run's as-of window (counted).
//!
//! [`schema`] holds the schemas and options, [`field`] the per-value checks, [`checker`] the
//! rules applied row by row, [`file`] one input, [`job`] every input of a job.

mod checker;
mod field;
mod file;
mod job;
mod schema;

pub use file::{combine, ingest, ingest_chunked};
pub use job::{CHUNK_ROWS, IngestedJob, JobInput, incidents_schema, ingest_job};
pub use schema::{IngestOptions, Ingested, canonical_schema, prio_grid_id, quarantine_schema};
