//! Stage 3, forecast: models fitted, backtested, chosen and combined.
//!
//! [`catalogue`] names the models a job can run and builds them; [`local`] backtests and
//! forecasts the per-region models, by region, so shards can share the work; [`pooled`],
//! [`features`] and [`global`] are the models fitted across regions; [`stage`] runs the whole
//! stage (local part, global models, ensemble, scores, choices, final forecasts); [`choice`]
//! picks a model per region and scores that pick honestly; [`progress`] logs how far a long
//! backtest is; [`reconcile`] makes levels add up; [`registry`] saves the trained global models;
//! [`shard`] splits regions over shards; [`tables`] turns typed results into the tables a run
//! writes.

pub mod catalogue;
pub mod choice;
pub mod features;
pub mod global;
pub mod local;
pub mod pooled;
pub mod progress;
pub mod reconcile;
pub mod registry;
pub mod shard;
pub mod stage;
pub mod tables;
