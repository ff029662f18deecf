//! Integration tests of vigil-core: one binary, one module per area.

#![allow(clippy::unwrap_used)]

mod golden;
mod ingest;
mod panel;

use std::path::PathBuf;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}
