//! The engine's settings for each stage of a run, from a checked spec: where the checked
//! sections become the settings structs that vigil-core and vigil-report take.

use crate::spec::ValidSpec;
use anyhow::Result;
use vigil_core::data::panel::PanelOptions;
use vigil_core::forecast::catalogue::{Model, ModelSettings};
use vigil_core::forecast::pooled::PooledOptions;
use vigil_core::forecast::registry::CardJob;
use vigil_core::output::sha256_bytes;
use vigil_core::{Classification, Level};
use vigil_models::{BacktestSettings, DEFAULT_PROBS, Forecaster};
use vigil_report::figures::ChartSettings;

impl ValidSpec {
    /// The panel at the job's level.
    pub fn panel_options(&self) -> PanelOptions {
        self.panel_options_at(self.panel.level)
    }

    /// The panel at `level` instead of the job's own (hot spots need grid cells, the change
    /// table and reconciliation other levels).
    pub fn panel_options_at(&self, level: Level) -> PanelOptions {
        PanelOptions {
            level,
            frequency: self.panel.frequency,
            start: self.panel.start,
            as_of: self.as_of,
        }
    }

    /// The local models the spec names, built (global models and the ensemble are pooled).
    pub fn local_models(&self) -> Result<Vec<Box<dyn Forecaster>>> {
        let b = &self.backtest;
        let settings = ModelSettings {
            season: self.panel.frequency.periods_per_year(),
            horizon: self.forecast.horizon,
            conformal_windows: b.conformal_windows,
            window: b.window,
            tsb_alphas: b.tsb_alphas,
        };
        Ok(self
            .forecast
            .models
            .iter()
            .filter_map(|m| m.build(&settings))
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// The pooled models (global models and the ensemble) the spec asks for.
    pub fn pooled(&self) -> PooledOptions {
        let f = &self.forecast;
        PooledOptions {
            global: f.models.iter().filter_map(|m| m.global_kind()).collect(),
            settings: f.global.clone(),
            ensemble: f.models.contains(&Model::Ensemble),
            warmup: self.backtest.ensemble_warmup,
            platt: f.platt,
        }
    }

    /// The rolling-origin backtest.
    pub fn backtest(&self) -> BacktestSettings {
        BacktestSettings {
            origins: self.backtest.origins,
            step: self.backtest.step,
            horizon: self.forecast.horizon,
            probs: DEFAULT_PROBS.to_vec(),
            season: self.panel.frequency.periods_per_year(),
        }
    }

    /// What the run's charts say about the job.
    pub fn charts(&self, classification: Classification) -> ChartSettings<'_> {
        let mut sources: Vec<&str> = self
            .inputs
            .iter()
            .map(|i| i.mapping.source_dataset.as_str())
            .collect();
        sources.dedup();
        ChartSettings {
            target: &self.forecast.target,
            frequency: self.panel.frequency,
            level: self.panel.level,
            as_of: self.as_of,
            cycles: self.trends.seasonality.cycles,
            origins: self.backtest.origins,
            horizon: self.forecast.horizon,
            mk_window: self.trends.trend.window,
            top_regions: self.top_regions,
            sources: sources.join(" / "),
            classification,
        }
    }

    /// What the model cards say about the job.
    pub fn card_job(&self) -> CardJob<'_> {
        CardJob {
            target: &self.forecast.target,
            level: self.panel.level,
            frequency: self.panel.frequency,
            global_window: self.forecast.global.window,
            l2: self.forecast.global.l2,
            spec_sha256: sha256_bytes(&self.spec_bytes),
        }
    }
}
