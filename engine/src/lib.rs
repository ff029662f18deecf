//! vigil-engine: frames in, frames out.
//!
//! The stages of a vigil job as library functions: [`mapping`] (schema mappings onto the
//! canonical incident schema), [`read`] (CSV, gzip CSV, Parquet, Arrow IPC), [`ingest`] (quality
//! rules and quarantine), [`panel`] (zero-filled region × period counts), [`series`] (per-region
//! forecasts and rolling change), [`charts`], and [`output`] (atomic run folders with a manifest).

pub mod charts;
pub mod classification;
pub mod error;
pub mod ingest;
pub mod mapping;
pub mod output;
pub mod panel;
pub mod period;
pub mod quality;
pub mod read;
pub mod series;

pub use classification::Classification;
pub use error::EngineError;
pub use panel::Level;
pub use period::Frequency;

/// The engine's version, recorded in every manifest.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
