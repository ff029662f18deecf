//! vigil-report: what a person reads of a run.
//!
//! [`charts`] draws charts as SVG and PNG with an embedded font (plotters only here),
//! [`figures`] chooses what the run's charts show (regions, models, titles) and records them,
//! and [`report`] builds the self-contained `report.html` from a finished run folder. All of it
//! reads what vigil-core computed; nothing here computes a statistic.

pub mod charts;
pub mod figures;
pub mod report;
