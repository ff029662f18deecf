//! Stage 1, data: from a source table to a zero-filled panel.
//!
//! [`mapping`] maps a source's columns onto the canonical incident schema; [`read`] reads CSV,
//! gzip CSV, Parquet and Arrow IPC; [`ingest`] applies the quality rules and quarantines what
//! fails them; [`quality`] holds the rules, the per-input report and the gates; [`period`] cuts
//! the calendar into a panel's periods; [`classification`] orders the classification levels;
//! [`panel`] builds region × period counts; [`region`] is the grammar of region ids; [`series`]
//! takes per-region series from a panel.

pub mod classification;
pub mod ingest;
pub mod mapping;
pub mod panel;
pub mod period;
pub mod quality;
pub mod read;
pub mod region;
pub mod series;
