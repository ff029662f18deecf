//! The engine's typed errors. Each names the file (and where it helps, the row or field) and
//! says what to fix.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A schema mapping has problems; all of them are listed.
    #[error("schema mapping {path} has {} problem(s):\n  - {}", problems.len(), problems.join("\n  - "))]
    Mapping {
        /// The mapping file.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<String>,
    },
    /// A source table lacks columns the mapping reads.
    #[error("{path}: column(s) {} named in mapping {mapping} are not in the file (it has: {})", missing.join(", "), available.join(", "))]
    MissingColumns {
        /// The source file.
        path: PathBuf,
        /// The mapping file.
        mapping: PathBuf,
        /// Columns the mapping wants that the file does not have.
        missing: Vec<String>,
        /// Columns the file has.
        available: Vec<String>,
    },
    /// The file type is not one vigil reads.
    #[error("{path}: unsupported input format; use .csv, .csv.gz, .parquet or .arrow/.ipc/.feather")]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
    },
    /// polars failed while working on a file or stage.
    #[error("{context}: {source}")]
    Polars {
        /// What was being done.
        context: String,
        /// polars' error.
        source: polars::error::PolarsError,
    },
    /// Nothing to build a panel from.
    #[error("no incidents left to build a panel from ({0})")]
    EmptyPanel(String),
    /// An output could not be serialised.
    #[error("{path}: could not write JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// serde_json's error.
        source: serde_json::Error,
    },
    /// A forecasting model or backtest failed.
    #[error("{context}: {source}")]
    Model {
        /// What was being done (the region, model or setting).
        context: String,
        /// The model's error.
        source: vigil_models::ModelError,
    },
    /// Inputs to a computation do not fit together.
    #[error("{context}: {message}")]
    Invalid {
        /// What was being done.
        context: String,
        /// What is wrong.
        message: String,
    },
    /// A run folder cannot be created or committed.
    #[error("run folder {path}: {message}")]
    Run {
        /// The folder.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
}

impl EngineError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        EngineError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A polars error while doing `context`.
    pub fn polars(context: impl Into<String>) -> impl FnOnce(polars::error::PolarsError) -> Self {
        let context = context.into();
        move |source| EngineError::Polars { context, source }
    }
}
