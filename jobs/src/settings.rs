//! The engine's settings for each stage of a run, from a checked spec: the one place where the
//! spec's values become the settings structs that vigil-core and vigil-report take.

use crate::spec::ValidSpec;
use anyhow::Result;
use vigil_core::analysis::changepoints::ChangepointSettings;
use vigil_core::analysis::hotspots::HotspotSettings;
use vigil_core::analysis::seasonality::SeasonalitySettings;
use vigil_core::analysis::trend::TrendSettings;
use vigil_core::data::panel::PanelOptions;
use vigil_core::forecast::catalogue::{Model, ModelSettings};
use vigil_core::forecast::global::GlobalSettings;
use vigil_core::forecast::pooled::PooledOptions;
use vigil_core::forecast::registry::CardJob;
use vigil_core::output::sha256_bytes;
use vigil_core::{Classification, Level};
use vigil_models::{BacktestSettings, DEFAULT_PROBS, Forecaster};
use vigil_report::figures::ChartSettings;

impl ValidSpec {
    /// The panel at the job's level.
    pub fn panel_options(&self) -> PanelOptions {
        self.panel_options_at(self.level)
    }

    /// The panel at `level` instead of the job's own (hot spots need grid cells, the change
    /// table and reconciliation other levels).
    pub fn panel_options_at(&self, level: Level) -> PanelOptions {
        PanelOptions {
            level,
            frequency: self.frequency,
            start: self.start,
            as_of: self.as_of,
        }
    }

    /// The local models the spec names, built (global models and the ensemble are pooled).
    pub fn local_models(&self) -> Result<Vec<Box<dyn Forecaster>>> {
        let settings = ModelSettings {
            season: self.frequency.periods_per_year(),
            horizon: self.horizon,
            conformal_windows: self.conformal_windows,
            window: self.model_window,
            tsb_alphas: self.tsb_alphas,
        };
        Ok(self
            .models
            .iter()
            .filter_map(|m| m.build(&settings))
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// The pooled models (global models and the ensemble) the spec asks for.
    pub fn pooled(&self) -> PooledOptions {
        PooledOptions {
            global: self.models.iter().filter_map(|m| m.global_kind()).collect(),
            settings: GlobalSettings {
                window: self.global_window,
                l2: self.global_l2,
                events: self.events,
            },
            ensemble: self.models.contains(&Model::Ensemble),
            warmup: self.ensemble_warmup,
            platt: self.platt,
        }
    }

    /// The rolling-origin backtest.
    pub fn backtest(&self) -> BacktestSettings {
        BacktestSettings {
            origins: self.origins,
            step: self.step,
            horizon: self.horizon,
            probs: DEFAULT_PROBS.to_vec(),
            season: self.frequency.periods_per_year(),
        }
    }

    /// The trend tests.
    pub fn trend(&self) -> TrendSettings {
        let period = self.frequency.periods_per_year();
        TrendSettings {
            window: self.mk_window,
            seasonal_window: self.cycles * period,
            period,
            alpha: self.alpha,
        }
    }

    /// The seasonal profiles.
    pub fn seasonality(&self) -> SeasonalitySettings {
        SeasonalitySettings {
            period: self.frequency.periods_per_year(),
            cycles: self.cycles,
            bootstrap: self.bootstrap,
            ..SeasonalitySettings::default()
        }
    }

    /// The change points.
    pub fn changepoints(&self) -> ChangepointSettings {
        ChangepointSettings {
            hazard_lambda: self.hazard_lambda,
            ..ChangepointSettings::default()
        }
    }

    /// The emerging hot-spot analysis (a step a year).
    pub fn hotspots(&self) -> HotspotSettings {
        HotspotSettings {
            step_len: self.frequency.periods_per_year(),
            steps: self.cycles,
            alpha: self.alpha,
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
            target: &self.target,
            frequency: self.frequency,
            level: self.level,
            as_of: self.as_of,
            cycles: self.cycles,
            origins: self.origins,
            horizon: self.horizon,
            mk_window: self.mk_window,
            top_regions: self.top_regions,
            sources: sources.join(" / "),
            classification,
        }
    }

    /// What the model cards say about the job.
    pub fn card_job(&self) -> CardJob<'_> {
        CardJob {
            target: &self.target,
            level: self.level,
            frequency: self.frequency,
            global_window: self.global_window,
            l2: self.global_l2,
            spec_sha256: sha256_bytes(&self.spec_bytes),
        }
    }
}
