//! vigil-report: what a person reads of a run.
//!
//! [`charts`] draws the run's charts as SVG and PNG with an embedded font (plotters only here),
//! and [`report`] builds the self-contained `report.html` from a finished run folder. Both read
//! what vigil-core wrote; nothing here computes a statistic.

pub mod charts;
pub mod report;
