//! Stage 5, output: what a run leaves on disk.
//!
//! [`run`] writes a run folder atomically (a hidden temporary folder, the manifest last, then a
//! rename and the `latest` link), with the parquet and JSON writers every stage's tables go
//! through; [`integrity`] checks a finished run against its manifest; [`catalogue`] lists every
//! file a run folder holds. The items of [`run`] are re-exported here, so callers write
//! `output::RunWriter`.

pub mod catalogue;
pub mod integrity;
pub mod run;

pub use run::{
    InputRecord, LATEST, Manifest, OutputRecord, REPORT, RunWriter, TMP_PREFIX, TableWriter, Timing, align,
    point_latest, read_latest, sha256_bytes, sha256_file, write_json, write_parquet, write_parquet_to,
};
