//! The pooled models of a job: global models across regions and the ensemble.

use crate::forecast::global::GlobalSettings;
use vigil_models::GlobalKind;

/// The pooled models of a job: global models across regions and the ensemble.
#[derive(Debug, Clone, PartialEq)]
pub struct PooledOptions {
    /// Global models to run (none: local models only).
    pub global: Vec<GlobalKind>,
    /// Their settings, and the event thresholds of every model.
    pub settings: GlobalSettings,
    /// Whether to add the ensemble of all models but `zero`.
    pub ensemble: bool,
    /// Backtest origins before the scored ones from which the ensemble learns its first
    /// weights (not scored).
    pub warmup: usize,
    /// Whether to recalibrate the ensemble's event probabilities with Platt scaling fitted on
    /// the outcomes seen before each origin.
    pub platt: bool,
}

impl PooledOptions {
    /// The models the pooled stage appends to the local backtest: each global model, and the
    /// ensemble when asked for.
    pub fn appended_models(&self) -> usize {
        self.global.len() + usize::from(self.ensemble)
    }

    /// Local models only, with the default event thresholds.
    pub fn local_only() -> Self {
        PooledOptions {
            global: Vec::new(),
            settings: GlobalSettings::default(),
            ensemble: false,
            warmup: 0,
            platt: false,
        }
    }
}
