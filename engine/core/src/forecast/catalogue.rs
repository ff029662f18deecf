//! The models a job can name, and how each is built from the job's settings.

use crate::error::EngineError;
use vigil_models::ensemble::ENSEMBLE;
use vigil_models::{
    AutoEts, Conflictology, Conformal, Croston, CrostonKind, Forecaster, GlobalKind, HistoricMean, MstlEts,
    Naive, SeasonalNaive, Tsb, WindowMean, Zero,
};

/// How a model learns: from one region's series, from all regions at once, or from the other
/// models' backtests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// Fitted to each region's series alone (can be sharded by region).
    Local,
    /// One model per horizon fitted across all regions.
    Global,
    /// A weighted combination of the other models.
    Ensemble,
}

/// Every model a job can name: the one catalogue that the spec check, the run, the model cards,
/// the skill chart and the publication rule read. Adding a local model means a variant here,
/// its line in each `match` below, and the model itself in vigil-models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Model {
    /// Forecasts no violence at all.
    Zero,
    /// The last value, repeated.
    Naive,
    /// The value one season (year) before.
    SeasonalNaive,
    /// The mean of the whole history.
    HistoricMean,
    /// The mean of the last `window` periods.
    WindowMean,
    /// The recent past resampled: the distribution of the last `window` periods.
    Conflictology,
    /// Automatic exponential smoothing (ETS), chosen by AICc.
    AutoEts,
    /// Seasonal-trend decomposition with ETS on the deseasonalised series.
    MstlEts,
    /// Croston's method with the Syntetos–Boylan correction, for intermittent counts.
    CrostonSba,
    /// Teunter–Syntetos–Babai: demand size and probability smoothed separately.
    Tsb,
    /// Negative-binomial GLM across all regions, one per horizon.
    GlobalNb,
    /// Hurdle model across all regions: P(any) by logistic regression, size by a truncated
    /// negative binomial.
    Hurdle,
    /// Weighted combination of the other models (all but `zero`), weights learned per horizon.
    Ensemble,
}

crate::named_enum!(Model, "model");

impl Model {
    /// Every model, simplest first: the order of lists, tables and charts.
    pub const ALL: [Model; 13] = [
        Model::Zero,
        Model::Naive,
        Model::SeasonalNaive,
        Model::HistoricMean,
        Model::WindowMean,
        Model::Conflictology,
        Model::AutoEts,
        Model::MstlEts,
        Model::CrostonSba,
        Model::Tsb,
        Model::GlobalNb,
        Model::Hurdle,
        Model::Ensemble,
    ];

    /// The models the skill-by-horizon chart draws, in legend order: the pooled models and the
    /// strongest local ones (skill.parquet holds every model).
    pub const SKILL_CHART: [Model; 8] = [
        Model::Ensemble,
        Model::Hurdle,
        Model::GlobalNb,
        Model::Conflictology,
        Model::WindowMean,
        Model::AutoEts,
        Model::Tsb,
        Model::Naive,
    ];

    /// The models the reliability diagram draws, in legend order: the pooled models and the
    /// baselines that give probabilities worth comparing.
    pub const RELIABILITY_CHART: [Model; 5] = [
        Model::Ensemble,
        Model::Hurdle,
        Model::GlobalNb,
        Model::Conflictology,
        Model::Naive,
    ];

    /// The models a job runs when its spec names none: the two simplest baselines.
    pub const DEFAULT: [Model; 2] = [Model::Naive, Model::SeasonalNaive];

    /// The model's name in specs and in every output table.
    pub fn as_str(self) -> &'static str {
        match self {
            Model::Zero => "zero",
            Model::Naive => "naive",
            Model::SeasonalNaive => "seasonal_naive",
            Model::HistoricMean => "historic_mean",
            Model::WindowMean => "window_mean",
            Model::Conflictology => "conflictology",
            Model::AutoEts => "auto_ets",
            Model::MstlEts => "mstl_ets",
            Model::CrostonSba => "croston_sba",
            Model::Tsb => "tsb",
            Model::GlobalNb => GlobalKind::NegBin.name(),
            Model::Hurdle => GlobalKind::Hurdle.name(),
            Model::Ensemble => ENSEMBLE,
        }
    }

    /// How the model learns.
    pub fn kind(self) -> ModelKind {
        match self {
            Model::GlobalNb | Model::Hurdle => ModelKind::Global,
            Model::Ensemble => ModelKind::Ensemble,
            _ => ModelKind::Local,
        }
    }

    /// Whether the model is a baseline: skill is measured against the best of them.
    pub fn is_baseline(self) -> bool {
        matches!(
            self,
            Model::Zero
                | Model::Naive
                | Model::SeasonalNaive
                | Model::HistoricMean
                | Model::WindowMean
                | Model::Conflictology
        )
    }

    /// Whether the ensemble combines this model: every model but `zero` (which would pull every
    /// forecast towards a certainty of no violence) and the ensemble itself.
    pub fn joins_ensemble(self) -> bool {
        !matches!(self, Model::Zero | Model::Ensemble)
    }

    /// The model's description in model cards and docs (its doc comment, in one line).
    pub fn description(self) -> &'static str {
        match self {
            Model::Zero => "forecasts no violence at all (a baseline; never chosen unless alone)",
            Model::Naive => "the last value, repeated",
            Model::SeasonalNaive => "the value one season (year) before",
            Model::HistoricMean => "the mean of the whole history",
            Model::WindowMean => "the mean of the last `window` periods, with conformal intervals",
            Model::Conflictology => {
                "the recent past resampled: the distribution of the last `window` periods"
            }
            Model::AutoEts => "automatic exponential smoothing (ETS), chosen by AICc",
            Model::MstlEts => "seasonal-trend decomposition (MSTL) with ETS on the deseasonalised series",
            Model::CrostonSba => {
                "Croston's method with the Syntetos-Boylan correction, with conformal intervals"
            }
            Model::Tsb => "Teunter-Syntetos-Babai for intermittent counts, with conformal intervals",
            Model::GlobalNb => "negative-binomial GLM across all regions, one per horizon",
            Model::Hurdle => {
                "hurdle model across all regions: P(any) by logistic regression, size by a truncated negative binomial"
            }
            Model::Ensemble => {
                "weighted combination of the other models (all but zero), weights learned per horizon"
            }
        }
    }

    /// The global model's kind, for a global model.
    pub fn global_kind(self) -> Option<GlobalKind> {
        match self {
            Model::GlobalNb => Some(GlobalKind::NegBin),
            Model::Hurdle => Some(GlobalKind::Hurdle),
            _ => None,
        }
    }

    /// The local models, simplest first.
    pub fn local() -> impl Iterator<Item = Model> {
        Model::ALL.into_iter().filter(|m| m.kind() == ModelKind::Local)
    }

    /// Builds a local model from the job's settings; `None` for a global model or the
    /// ensemble, which the pooled stage fits across regions. The model's constructor checks
    /// its own parameters.
    pub fn build(self, s: &ModelSettings) -> Option<Result<Box<dyn Forecaster>, EngineError>> {
        let ctx = |e| EngineError::Model {
            context: format!("setting up model {self}"),
            source: e,
        };
        let conformal = |inner| Conformal::new(inner, s.conformal_windows, s.horizon);
        let built: Result<Box<dyn Forecaster>, vigil_models::ModelError> = match self {
            Model::Zero => Ok(Box::new(Zero)),
            Model::Naive => Ok(Box::new(Naive)),
            Model::SeasonalNaive => SeasonalNaive::new(s.season).map(|m| Box::new(m) as _),
            Model::HistoricMean => Ok(Box::new(HistoricMean)),
            Model::WindowMean => WindowMean::new(s.window)
                .and_then(conformal)
                .map(|m| Box::new(m) as _),
            Model::Conflictology => Conflictology::new(s.window).map(|m| Box::new(m) as _),
            Model::AutoEts => Ok(Box::new(AutoEts::default())),
            Model::MstlEts => MstlEts::new(s.season).map(|m| Box::new(m) as _),
            Model::CrostonSba => {
                Conformal::new(Croston::new(CrostonKind::Sba), s.conformal_windows, s.horizon)
                    .map(|m| Box::new(m) as _)
            }
            Model::Tsb => Tsb::new(s.tsb_alphas.0, s.tsb_alphas.1)
                .and_then(|m| Conformal::new(m, s.conformal_windows, s.horizon))
                .map(|m| Box::new(m) as _),
            Model::GlobalNb | Model::Hurdle | Model::Ensemble => return None,
        };
        Some(built.map_err(ctx))
    }
}

/// Why a list of models cannot run together, if it cannot: the problems a spec check reports.
/// The global models need `naive` (it stands in where a global fit fails); the ensemble needs
/// at least two members.
pub fn check_models(models: &[Model]) -> Vec<String> {
    let mut problems = Vec::new();
    let has = |m: Model| models.contains(&m);
    if models.iter().any(|m| m.kind() == ModelKind::Global) && !has(Model::Naive) {
        problems
            .push("the global models need \"naive\" too (it stands in where a global fit fails)".to_string());
    }
    let members: Vec<&str> = models
        .iter()
        .filter(|m| m.joins_ensemble())
        .map(|m| m.as_str())
        .collect();
    if has(Model::Ensemble) && members.len() < 2 {
        problems.push(format!(
            "the ensemble combines at least two models besides zero, and this list has {} ({}): add \
             another model, e.g. \"auto_ets\", or remove \"ensemble\"",
            members.len(),
            if members.is_empty() {
                "none".to_string()
            } else {
                members.join(", ")
            }
        ));
    }
    problems
}

/// Every model a job can name, simplest first (names of [`Model::ALL`]).
pub fn model_names() -> Vec<&'static str> {
    Model::ALL.iter().map(|m| m.as_str()).collect()
}

/// The names of the baselines among the models; skill is measured against the best of them.
pub fn baselines() -> Vec<&'static str> {
    Model::ALL
        .iter()
        .filter(|m| m.is_baseline())
        .map(|m| m.as_str())
        .collect()
}

/// The name of the honestly scored per-region choice in the metrics table.
pub const SELECTED: &str = "selected";

/// Settings shared by the models of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSettings {
    /// Periods per seasonal cycle (12 for months).
    pub season: usize,
    /// Forecast horizon; conformal quantiles are calibrated for 1..=horizon.
    pub horizon: usize,
    /// Rolling origins used to calibrate conformal quantiles inside each fit.
    pub conformal_windows: usize,
    /// Window of the window mean and of conflictology (periods).
    pub window: usize,
    /// TSB's smoothing constants for demand size and probability.
    pub tsb_alphas: (f64, f64),
}

impl Default for ModelSettings {
    /// Monthly seasons, the backtest's default horizon, 24 conformal windows, a 12-period window
    /// and TSB's customary smoothing of 0.1 for size and probability.
    fn default() -> Self {
        ModelSettings {
            season: 12,
            horizon: vigil_models::BacktestSettings::default().horizon,
            conformal_windows: 24,
            window: 12,
            tsb_alphas: (0.1, 0.1),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    fn settings() -> ModelSettings {
        ModelSettings {
            season: 12,
            horizon: 6,
            conformal_windows: 24,
            window: 12,
            tsb_alphas: (0.1, 0.1),
        }
    }

    #[test]
    fn every_local_model_builds_under_its_catalogue_name_and_no_other_does() {
        for m in Model::ALL {
            match (m.kind(), m.build(&settings())) {
                (ModelKind::Local, Some(built)) => assert_eq!(built.unwrap().name(), m.as_str()),
                (ModelKind::Local, None) => panic!("{m} is local but does not build"),
                (_, Some(_)) => panic!("{m} is pooled but built as a local model"),
                (_, None) => {}
            }
        }
        assert_eq!(Model::local().count(), 10);
        assert_eq!(
            baselines(),
            [
                "zero",
                "naive",
                "seasonal_naive",
                "historic_mean",
                "window_mean",
                "conflictology"
            ]
        );
    }

    #[test]
    fn names_read_back_and_an_unknown_one_lists_the_known() {
        for m in Model::ALL {
            assert_eq!(m.as_str().parse::<Model>(), Ok(m));
        }
        let e = "prophet".parse::<Model>().unwrap_err();
        assert!(
            e.contains("unknown model 'prophet'") && e.contains("global_nb, hurdle, ensemble"),
            "{e}"
        );
        let bad = ModelSettings {
            window: 0,
            ..settings()
        };
        assert!(
            Model::WindowMean.build(&bad).unwrap().is_err(),
            "the constructor checks its window"
        );
    }

    #[test]
    fn an_ensemble_of_fewer_than_two_members_and_globals_without_naive_are_refused() {
        let parse = |v: &[&str]| v.iter().map(|s| s.parse::<Model>().unwrap()).collect::<Vec<_>>();
        let p = check_models(&parse(&["naive", "ensemble"]));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].contains("at least two models besides zero") && p[0].contains("(naive)"),
            "{p:?}"
        );
        let p = check_models(&parse(&["zero", "ensemble"]));
        assert!(p[0].contains("has 0 (none)"), "{p:?}");
        assert!(check_models(&parse(&["naive", "auto_ets", "ensemble"])).is_empty());
        assert!(check_models(&parse(&["naive", "hurdle", "ensemble"])).is_empty());
        let p = check_models(&parse(&["hurdle", "auto_ets"]));
        assert!(p.len() == 1 && p[0].contains("need \"naive\""), "{p:?}");
    }
}
