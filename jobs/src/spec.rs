//! Job specs: TOML as written (every key optional but the job's name and each input's three),
//! checked one section at a time. Each section's check returns that section's engine settings,
//! with the engine's own defaults for what the spec leaves out, or adds every problem it finds,
//! each naming its key, so a spec's problems are all reported at once.

use chrono::{Months, NaiveDate};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use vigil_core::alerts::AlertSettings;
use vigil_core::analysis::changepoints::ChangepointSettings;
use vigil_core::analysis::hotspots::HotspotSettings;
use vigil_core::analysis::seasonality::SeasonalitySettings;
use vigil_core::analysis::trend::TrendSettings;
use vigil_core::data::mapping::SchemaMapping;
use vigil_core::data::panel::{DEFAULT_TARGET, TARGETS};
use vigil_core::data::quality::QualityGates;
use vigil_core::forecast::catalogue::{Model, ModelSettings, check_models, model_names};
use vigil_core::forecast::global::GlobalSettings;
use vigil_core::{Classification, Frequency, Level};
use vigil_models::BacktestSettings;

/// A job spec as written (see `jobs/specs/monthly.toml`). Enumerations are kept as text and
/// numbers as written here, so that the checks can report every bad value at once instead of
/// stopping at the first.
#[derive(Debug, Clone, Deserialize)]
pub struct JobSpec {
    pub job: JobSection,
    #[serde(default)]
    pub inputs: Vec<InputSection>,
    #[serde(default)]
    pub panel: PanelSection,
    #[serde(default)]
    pub forecast: ForecastSection,
    #[serde(default)]
    pub backtest: BacktestSection,
    #[serde(default)]
    pub trends: TrendsSection,
    #[serde(default)]
    pub alerts: AlertsSection,
    #[serde(default)]
    pub quality: QualitySection,
    #[serde(default)]
    pub outputs: OutputsSection,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JobSection {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `YYYY-MM-DD`, or `YYYY-MM` for the month's last day. Default: today.
    pub as_of: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InputSection {
    /// Relative to the spec file.
    pub path: String,
    /// Relative to the spec file.
    pub mapping: String,
    pub classification: String,
    /// The date the extract was taken; rows dated later are errors. Default: `job.as_of`
    /// (today when that is not set), whatever `--as-of` says.
    pub extracted: Option<String>,
}

/// `[panel]`; defaults: the engine's [`Level`] and [`Frequency`], the earliest incident.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PanelSection {
    pub level: Option<String>,
    pub frequency: Option<String>,
    pub start: Option<String>,
}

/// `[forecast]`; defaults: [`DEFAULT_TARGET`], the backtest's horizon, [`Model::DEFAULT`], the
/// global models' [`GlobalSettings`], no recalibration.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ForecastSection {
    pub target: Option<String>,
    pub horizon: Option<i64>,
    pub models: Option<Vec<String>>,
    /// Training periods per region of the global models.
    pub global_window: Option<i64>,
    /// Ridge penalty of the global models (on standardised features).
    pub global_l2: Option<f64>,
    /// Event thresholds (counts): any fatality, major violence.
    pub events: Option<[f64; 2]>,
    /// Recalibration of the ensemble's event probabilities: "none" or "platt".
    pub event_calibration: Option<String>,
}

/// `[backtest]`; defaults: [`BacktestSettings`] and [`ModelSettings`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BacktestSection {
    /// Rolling forecast origins; `--origins` overrides.
    pub origins: Option<i64>,
    /// Periods between origins; `--step` overrides.
    pub step: Option<i64>,
    /// Rolling origins inside each fit that calibrate conformal quantiles.
    pub conformal_windows: Option<i64>,
    /// Periods averaged by window_mean and resampled by conflictology.
    pub window: Option<i64>,
    /// TSB smoothing constants (demand size, demand probability).
    pub tsb_alphas: Option<[f64; 2]>,
    /// Unscored origins before the scored ones, from which the ensemble learns its first
    /// weights; default the horizon.
    pub ensemble_warmup: Option<i64>,
}

/// `[trends]`; defaults: a year of periods for the change window, [`TrendSettings`],
/// [`SeasonalitySettings`] and [`ChangepointSettings`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TrendsSection {
    /// Periods in the rolling window.
    pub window: Option<i64>,
    /// Periods tested by Mann-Kendall.
    pub mk_window: Option<i64>,
    /// Full cycles used by the seasonal test, the seasonality profile and the hot-spot years.
    pub cycles: Option<i64>,
    /// Significance level.
    pub alpha: Option<f64>,
    /// Bootstrap resamples of the seasonality band.
    pub bootstrap: Option<i64>,
    /// Expected periods between change points (BOCPD's hazard is its inverse).
    pub hazard_lambda: Option<f64>,
}

/// `[alerts]`; defaults: [`AlertSettings`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AlertsSection {
    /// P(y ≥ events[1]) at or above this raises a `high` alert.
    pub major_probability: Option<f64>,
    /// P(y ≥ events[0]) at or above this after a quiet spell raises an `elevated` alert.
    pub onset_probability: Option<f64>,
    /// Periods without an event that make a region quiet.
    pub quiet_periods: Option<i64>,
    /// Drivers named per alert.
    pub drivers: Option<i64>,
}

/// `[quality]`; no gate unless set.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QualitySection {
    pub max_quarantined_fraction: Option<f64>,
}

/// `[outputs]`; defaults: `runs`, [`vigil_report::figures::DEFAULT_TOP_REGIONS`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OutputsSection {
    /// Relative to the working directory; `--out` overrides.
    pub dir: Option<String>,
    pub top_regions: Option<i64>,
}

/// Where runs go when neither the spec nor `--out` says.
const DEFAULT_OUT: &str = "runs";

/// A checked input.
#[derive(Debug, Clone)]
pub struct ValidInput {
    pub label: String,
    pub path: PathBuf,
    pub mapping: SchemaMapping,
    pub classification: Classification,
    pub extracted: Option<NaiveDate>,
}

/// The checked `[panel]`.
#[derive(Debug, Clone)]
pub struct PanelSpec {
    pub level: Level,
    pub frequency: Frequency,
    pub start: Option<NaiveDate>,
}

/// The checked `[forecast]`.
#[derive(Debug, Clone)]
pub struct ForecastSpec {
    pub target: String,
    pub horizon: usize,
    pub models: Vec<Model>,
    pub global: GlobalSettings,
    /// Platt recalibration of the ensemble's event probabilities.
    pub platt: bool,
}

/// The checked `[backtest]` (with `--origins` and `--step`).
#[derive(Debug, Clone)]
pub struct BacktestSpec {
    pub origins: usize,
    pub step: usize,
    pub conformal_windows: usize,
    /// Periods of window_mean and conflictology.
    pub window: usize,
    pub tsb_alphas: (f64, f64),
    pub ensemble_warmup: usize,
}

/// The checked `[trends]`, as the settings of each analysis.
#[derive(Debug, Clone)]
pub struct TrendsSpec {
    /// Periods of the rolling sums of the change table.
    pub change_window: usize,
    pub trend: TrendSettings,
    pub seasonality: SeasonalitySettings,
    pub changepoints: ChangepointSettings,
    pub hotspots: HotspotSettings,
}

/// A checked spec, ready to run.
#[derive(Debug, Clone)]
pub struct ValidSpec {
    pub name: String,
    pub description: String,
    pub spec_path: PathBuf,
    pub spec_bytes: Vec<u8>,
    pub as_of: NaiveDate,
    pub inputs: Vec<ValidInput>,
    pub panel: PanelSpec,
    pub forecast: ForecastSpec,
    pub backtest: BacktestSpec,
    pub trends: TrendsSpec,
    pub alerts: AlertSettings,
    pub quality: QualityGates,
    pub out_dir: PathBuf,
    pub top_regions: usize,
}

/// Every problem with a spec, each naming its field.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecProblems {
    pub path: PathBuf,
    pub problems: Vec<String>,
}

impl std::fmt::Display for SpecProblems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "job spec {} has {} problem(s):",
            self.path.display(),
            self.problems.len()
        )?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecProblems {}

/// Parses `YYYY-MM-DD`, or `YYYY-MM` as the last day of that month.
pub fn parse_as_of(s: &str) -> Result<NaiveDate, String> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d);
    }
    if let Ok(first) = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
        && let Some(last) = first
            .checked_add_months(Months::new(1))
            .and_then(|d| d.pred_opt())
    {
        return Ok(last);
    }
    Err(format!(
        "'{s}' is not a date: use YYYY-MM-DD, or YYYY-MM for the month's last day"
    ))
}

/// Settings given on the command line that change the spec.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub as_of: Option<String>,
    pub out: Option<PathBuf>,
    pub origins: Option<usize>,
    pub step: Option<usize>,
    /// `--set key=value` pairs, applied to the spec in order before it is checked.
    pub sets: Vec<String>,
}

impl Overrides {
    /// The overrides that change results, as `key=value` lines for the manifest and run id.
    pub fn recorded(&self) -> Vec<String> {
        let mut out: Vec<String> = self.as_of.iter().map(|a| format!("as_of={a}")).collect();
        out.extend(self.origins.iter().map(|o| format!("origins={o}")));
        out.extend(self.step.iter().map(|s| format!("step={s}")));
        out.extend(self.sets.iter().map(|s| format!("set {s}")));
        out
    }
}

/// Applies one `--set key=value` to the parsed spec. The key is a dotted path (`forecast.horizon`,
/// `inputs.0.classification`: a number indexes an array); the value is read as TOML (`6`, `true`,
/// `["naive", "tsb"]`, `"text"`) and, if it is not valid TOML, taken as a string. A key the spec
/// does not know is not refused here: the checks that follow report it like a typo in the file.
fn apply_set(root: &mut toml::Value, set: &str) -> Result<(), String> {
    let (key, raw) = set
        .split_once('=')
        .ok_or_else(|| format!("--set {set}: expected key=value, e.g. --set forecast.horizon=3"))?;
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').collect();
    if key.is_empty() || parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "--set {set}: '{key}' is not a dotted key such as forecast.horizon"
        ));
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let mut here = root;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let at = parts[..=i].join(".");
        here = match here {
            toml::Value::Table(t) => {
                if last {
                    t.insert((*part).to_string(), value);
                    return Ok(());
                }
                t.entry((*part).to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            }
            toml::Value::Array(a) => {
                let n = a.len();
                let slot = part
                    .parse::<usize>()
                    .ok()
                    .and_then(|k| a.get_mut(k))
                    .ok_or_else(|| format!("--set {set}: {at} must be an index below {n} of that array"))?;
                if last {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
            _ => {
                return Err(format!(
                    "--set {set}: {} is a value, not a table, so it has no '{part}'",
                    parts[..i].join(".")
                ));
            }
        };
    }
    Ok(())
}

/// Reads a spec and checks all of it.
pub fn load(path: &Path, overrides: &Overrides) -> Result<ValidSpec, SpecProblems> {
    let fail = |problems: Vec<String>| SpecProblems {
        path: path.to_path_buf(),
        problems,
    };
    let bytes = std::fs::read(path).map_err(|e| fail(vec![format!("cannot read the file: {e}")]))?;
    let mut text =
        String::from_utf8(bytes.clone()).map_err(|_| fail(vec!["the file is not UTF-8 text".into()]))?;
    if !overrides.sets.is_empty() {
        // Apply --set to the parsed file and check the result exactly as a file would be
        // checked (unknown keys, types, ranges); the spec's hash stays the file's own, and the
        // sets are recorded next to it in the manifest and the run id.
        let table: toml::Table = toml::from_str(&text).map_err(|e| fail(vec![e.to_string()]))?;
        let mut root = toml::Value::Table(table);
        let errors: Vec<String> = overrides
            .sets
            .iter()
            .filter_map(|s| apply_set(&mut root, s).err())
            .collect();
        if !errors.is_empty() {
            return Err(fail(errors));
        }
        text = toml::to_string(&root).map_err(|e| fail(vec![format!("--set: {e}")]))?;
    }
    let mut problems = Vec::new();
    let de = toml::Deserializer::parse(&text).map_err(|e| fail(vec![e.to_string()]))?;
    let spec: JobSpec = serde_ignored::deserialize(de, |p| {
        problems.push(format!(
            "{p}: unknown field (check its spelling against jobs/specs/monthly.toml)"
        ));
    })
    .map_err(|e| {
        let mut all = problems.clone();
        all.push(e.to_string());
        fail(all)
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let result = spec.validate(base, path, bytes, overrides, &mut problems);
    match result {
        Some(v) if problems.is_empty() => Ok(v),
        _ => Err(fail(problems)),
    }
}

/// An integer key's value if it lies in `lo..=hi`, else `default` and a problem
/// `key: value must be between lo and hi{unit}`.
fn bounded(
    problems: &mut Vec<String>,
    key: &str,
    value: Option<i64>,
    default: usize,
    (lo, hi): (i64, i64),
    unit: &str,
) -> usize {
    match value {
        None => default,
        Some(v) if (lo..=hi).contains(&v) => v as usize,
        Some(v) => {
            problems.push(format!("{key}: {v} must be between {lo} and {hi}{unit}"));
            default
        }
    }
}

/// An enumeration's value parsed from its text, or `T::default()` and a problem naming the key.
fn parsed<T: std::str::FromStr<Err = String> + Default>(
    problems: &mut Vec<String>,
    key: &str,
    text: Option<&str>,
) -> T {
    match text.map(str::parse::<T>) {
        None => T::default(),
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            problems.push(format!("{key}: {e}"));
            T::default()
        }
    }
}

/// A date key's value, or a problem naming the key.
fn date(problems: &mut Vec<String>, key: &str, text: &str) -> Option<NaiveDate> {
    parse_as_of(text)
        .map_err(|e| problems.push(format!("{key}: {e}")))
        .ok()
}

impl JobSection {
    /// The job's name checked; the spec's own as-of date (when its data were extracted, default
    /// today) and the run's (`--as-of` may move the window earlier for a retrospective run).
    fn check(
        &self,
        overrides: &Overrides,
        problems: &mut Vec<String>,
    ) -> (Option<NaiveDate>, Option<NaiveDate>) {
        let name_ok = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            problems.push(format!(
                "job.name: '{}' must be non-empty and use only letters, digits, '-' and '_' (it names the runs folder)",
                self.name
            ));
        }
        let spec_as_of = match &self.as_of {
            Some(t) => date(problems, "job.as_of", t),
            None => Some(chrono::Utc::now().date_naive()),
        };
        let as_of = match &overrides.as_of {
            Some(t) => date(problems, "--as-of", t),
            None => spec_as_of,
        };
        (spec_as_of, as_of)
    }
}

/// The inputs, each with its file found, its mapping loaded and checked, its classification
/// and extract date.
fn check_inputs(
    inputs: &[InputSection],
    base: &Path,
    spec_as_of: Option<NaiveDate>,
    problems: &mut Vec<String>,
) -> Vec<ValidInput> {
    if inputs.is_empty() {
        problems.push(
            "inputs: the job has no [[inputs]]; add at least one with path, mapping and classification"
                .into(),
        );
    }
    let mut valid = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let at = format!("inputs[{i}]");
        let path = base.join(&input.path);
        if !path.is_file() {
            problems.push(format!(
                "{at}.path: file {} not found (paths are relative to the spec file)",
                path.display()
            ));
        }
        let mapping_path = base.join(&input.mapping);
        let mapping = match SchemaMapping::load(&mapping_path) {
            Ok(m) => Some(m),
            Err(vigil_core::EngineError::Mapping { problems: ps, .. }) => {
                problems.extend(
                    ps.into_iter()
                        .map(|p| format!("{at}.mapping ({}): {p}", mapping_path.display())),
                );
                None
            }
            Err(e) => {
                problems.push(format!("{at}.mapping: {e}"));
                None
            }
        };
        let classification = input
            .classification
            .parse::<Classification>()
            .map_err(|e| problems.push(format!("{at}.classification: {e}")))
            .ok();
        let extracted = match &input.extracted {
            Some(t) => date(problems, &format!("{at}.extracted"), t).map(Some),
            None => Some(spec_as_of),
        };
        if let (Some(mapping), Some(classification), Some(extracted)) = (mapping, classification, extracted) {
            valid.push(ValidInput {
                label: input.path.clone(),
                path,
                mapping,
                classification,
                extracted,
            });
        }
    }
    valid
}

impl PanelSection {
    fn check(&self, as_of: Option<NaiveDate>, problems: &mut Vec<String>) -> PanelSpec {
        let level = parsed(problems, "panel.level", self.level.as_deref());
        let frequency = parsed(problems, "panel.frequency", self.frequency.as_deref());
        let start = self
            .start
            .as_deref()
            .and_then(|t| date(problems, "panel.start", t));
        if let (Some(s), Some(a)) = (start, as_of)
            && s > a
        {
            problems.push(format!("panel.start: {s} is after the as-of date {a}"));
        }
        PanelSpec {
            level,
            frequency,
            start,
        }
    }
}

impl ForecastSection {
    fn check(&self, problems: &mut Vec<String>) -> ForecastSpec {
        let target = self.target.as_deref().unwrap_or(DEFAULT_TARGET);
        if !TARGETS.contains(&target) {
            problems.push(format!(
                "forecast.target: '{target}' is not one of {}",
                TARGETS.join(", ")
            ));
        }
        let horizon = bounded(
            problems,
            "forecast.horizon",
            self.horizon,
            BacktestSettings::default().horizon,
            (1, 120),
            " periods",
        );
        let known = model_names().join(", ");
        let models = match &self.models {
            None => Model::DEFAULT.to_vec(),
            Some(names) => {
                if names.is_empty() {
                    problems.push(format!("forecast.models: list at least one of {known}"));
                }
                let mut models = Vec::new();
                for (i, m) in names.iter().enumerate() {
                    match m.parse::<Model>() {
                        Ok(m) => models.push(m),
                        Err(_) => problems.push(format!(
                            "forecast.models[{i}]: unknown model '{m}' (known: {known})"
                        )),
                    }
                }
                if models.len() == names.len() {
                    problems.extend(
                        check_models(&models)
                            .into_iter()
                            .map(|p| format!("forecast.models: {p}")),
                    );
                }
                models
            }
        };
        let d = GlobalSettings::default();
        let window = bounded(
            problems,
            "forecast.global_window",
            self.global_window,
            d.window,
            (24, 600),
            " periods",
        );
        let l2 = self.global_l2.unwrap_or(d.l2);
        if !(0.0..=1e6).contains(&l2) {
            problems.push(format!("forecast.global_l2: {l2} must be between 0 and 1e6"));
        }
        let events = self.events.unwrap_or(d.events);
        let [e1, e2] = events;
        if !(e1 >= 1.0 && e2 > e1 && e2.is_finite()) {
            problems.push(format!(
                "forecast.events: [{e1}, {e2}] must be two increasing counts, the first at least 1 (e.g. [1, 25])"
            ));
        }
        let calibration = self.event_calibration.as_deref().unwrap_or("none");
        if !["none", "platt"].contains(&calibration) {
            problems.push(format!(
                "forecast.event_calibration: '{calibration}' must be \"none\" or \"platt\""
            ));
        }
        ForecastSpec {
            target: target.to_string(),
            horizon,
            models,
            global: GlobalSettings { window, l2, events },
            platt: calibration == "platt",
        }
    }
}

impl BacktestSection {
    /// `horizon` is the checked forecast horizon, the ensemble's default warm-up.
    fn check(&self, horizon: usize, overrides: &Overrides, problems: &mut Vec<String>) -> BacktestSpec {
        let d = BacktestSettings::default();
        let m = ModelSettings::default();
        let (origins, o_at) = match overrides.origins {
            Some(o) => (Some(o as i64), "--origins"),
            None => (self.origins, "backtest.origins"),
        };
        let (step, s_at) = match overrides.step {
            Some(s) => (Some(s as i64), "--step"),
            None => (self.step, "backtest.step"),
        };
        let origins = bounded(problems, o_at, origins, d.origins, (1, 240), " forecast origins");
        let step = bounded(problems, s_at, step, d.step, (1, 120), " periods");
        let conformal_windows = bounded(
            problems,
            "backtest.conformal_windows",
            self.conformal_windows,
            m.conformal_windows,
            (vigil_models::MIN_CONFORMAL_WINDOWS as i64, 120),
            " (more windows, steadier tails)",
        );
        let window = bounded(
            problems,
            "backtest.window",
            self.window,
            m.window,
            (1, 120),
            " periods",
        );
        // TSB's own constructor knows its valid smoothing constants
        let tsb_alphas = self.tsb_alphas.map_or(m.tsb_alphas, |[d, p]| (d, p));
        match vigil_models::Tsb::new(tsb_alphas.0, tsb_alphas.1) {
            Ok(_) => {}
            Err(vigil_models::ModelError::InvalidParams { message, .. }) => {
                problems.push(format!("backtest.tsb_alphas: {message}"));
            }
            Err(e) => problems.push(format!("backtest.tsb_alphas: {e}")),
        }
        let ensemble_warmup = bounded(
            problems,
            "backtest.ensemble_warmup",
            self.ensemble_warmup,
            horizon,
            (0, 120),
            " origins",
        );
        BacktestSpec {
            origins,
            step,
            conformal_windows,
            window,
            tsb_alphas,
            ensemble_warmup,
        }
    }
}

impl TrendsSection {
    /// `frequency` is the checked panel frequency: windows default to whole years of it.
    fn check(&self, frequency: Frequency, problems: &mut Vec<String>) -> TrendsSpec {
        let year = frequency.periods_per_year();
        let seasons = SeasonalitySettings::default();
        let change_window = bounded(
            problems,
            "trends.window",
            self.window,
            year,
            (1, 1000),
            " periods",
        );
        let mk_window = bounded(
            problems,
            "trends.mk_window",
            self.mk_window,
            TrendSettings::DEFAULT_YEARS * year,
            (4, 1000),
            " periods",
        );
        let cycles = bounded(
            problems,
            "trends.cycles",
            self.cycles,
            seasons.cycles,
            (2, 100),
            " cycles",
        );
        let alpha = self.alpha.unwrap_or(TrendSettings::DEFAULT_ALPHA);
        if !(alpha > 0.0 && alpha < 0.5) {
            problems.push(format!("trends.alpha: {alpha} must lie in (0, 0.5), e.g. 0.05"));
        }
        let bootstrap = bounded(
            problems,
            "trends.bootstrap",
            self.bootstrap,
            seasons.bootstrap,
            (10, 100_000),
            " resamples",
        );
        let changepoints = ChangepointSettings::default();
        let hazard_lambda = self.hazard_lambda.unwrap_or(changepoints.hazard_lambda);
        if !(2.0..=10_000.0).contains(&hazard_lambda) {
            problems.push(format!(
                "trends.hazard_lambda: {hazard_lambda} must be between 2 and 10000 periods"
            ));
        }
        TrendsSpec {
            change_window,
            trend: TrendSettings {
                window: mk_window,
                seasonal_window: cycles * year,
                period: year,
                alpha,
            },
            seasonality: SeasonalitySettings {
                period: year,
                cycles,
                bootstrap,
                ..seasons
            },
            changepoints: ChangepointSettings {
                hazard_lambda,
                ..changepoints
            },
            // one step a year
            hotspots: HotspotSettings {
                step_len: year,
                steps: cycles,
                alpha,
            },
        }
    }
}

impl AlertsSection {
    fn check(&self, problems: &mut Vec<String>) -> AlertSettings {
        let d = AlertSettings::default();
        for (name, p) in [
            ("alerts.major_probability", self.major_probability),
            ("alerts.onset_probability", self.onset_probability),
        ] {
            if let Some(p) = p
                && !(p > 0.0 && p <= 1.0)
            {
                problems.push(format!("{name}: {p} must be a probability in (0, 1]"));
            }
        }
        AlertSettings {
            major_probability: self.major_probability.unwrap_or(d.major_probability),
            onset_probability: self.onset_probability.unwrap_or(d.onset_probability),
            quiet_periods: bounded(
                problems,
                "alerts.quiet_periods",
                self.quiet_periods,
                d.quiet_periods,
                (1, 120),
                " periods",
            ),
            drivers: bounded(
                problems,
                "alerts.drivers",
                self.drivers,
                d.drivers,
                (0, 23),
                " features",
            ),
        }
    }
}

impl QualitySection {
    fn check(&self, problems: &mut Vec<String>) -> QualityGates {
        if let Some(f) = self.max_quarantined_fraction
            && !(0.0..=1.0).contains(&f)
        {
            problems.push(format!(
                "quality.max_quarantined_fraction: {f} must be between 0 and 1 (0.05 = 5%)"
            ));
        }
        QualityGates {
            max_quarantined_fraction: self.max_quarantined_fraction,
        }
    }
}

impl OutputsSection {
    /// Where runs go (`--out` first) and how many regions get a fan chart.
    fn check(&self, overrides: &Overrides, problems: &mut Vec<String>) -> (PathBuf, usize) {
        let dir = overrides
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from(self.dir.as_deref().unwrap_or(DEFAULT_OUT)));
        let top = bounded(
            problems,
            "outputs.top_regions",
            self.top_regions,
            vigil_report::figures::DEFAULT_TOP_REGIONS,
            (0, 50),
            "",
        );
        (dir, top)
    }
}

impl JobSpec {
    /// Checks every section; `None` when any problem was found (all of them are in `problems`).
    fn validate(
        &self,
        base: &Path,
        spec_path: &Path,
        spec_bytes: Vec<u8>,
        overrides: &Overrides,
        problems: &mut Vec<String>,
    ) -> Option<ValidSpec> {
        let (spec_as_of, as_of) = self.job.check(overrides, problems);
        let inputs = check_inputs(&self.inputs, base, spec_as_of, problems);
        let panel = self.panel.check(as_of, problems);
        let forecast = self.forecast.check(problems);
        let backtest = self.backtest.check(forecast.horizon, overrides, problems);
        let trends = self.trends.check(panel.frequency, problems);
        let alerts = self.alerts.check(problems);
        let quality = self.quality.check(problems);
        let (out_dir, top_regions) = self.outputs.check(overrides, problems);
        let as_of = as_of?;
        if !problems.is_empty() {
            return None;
        }
        Some(ValidSpec {
            name: self.job.name.clone(),
            description: self.job.description.clone(),
            spec_path: spec_path.to_path_buf(),
            spec_bytes,
            as_of,
            inputs,
            panel,
            forecast,
            backtest,
            trends,
            alerts,
            quality,
            out_dir,
            top_regions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::JobSpec;
    use serde_reflection::{ContainerFormat, Format, Samples, Tracer, TracerConfig};

    /// Every key a spec may hold, as `section.key`, read off the spec's own structs (what serde
    /// accepts), so the list cannot drift from the code.
    fn spec_keys() -> Vec<String> {
        let mut tracer = Tracer::new(TracerConfig::default());
        tracer
            .trace_type::<JobSpec>(&Samples::new())
            .expect("trace the spec");
        let registry = tracer.registry().expect("a complete registry");
        let Some(ContainerFormat::Struct(sections)) = registry.get("JobSpec") else {
            panic!("JobSpec is a struct of sections");
        };
        let mut keys = Vec::new();
        for section in sections {
            let name = match &section.value {
                Format::TypeName(n) => n,
                Format::Seq(inner) => match inner.as_ref() {
                    Format::TypeName(n) => n,
                    other => panic!("section {} is a list of {other:?}", section.name),
                },
                other => panic!("section {} is {other:?}", section.name),
            };
            let Some(ContainerFormat::Struct(fields)) = registry.get(name) else {
                panic!("section {} ({name}) is a struct", section.name);
            };
            keys.extend(fields.iter().map(|f| format!("{}.{}", section.name, f.name)));
        }
        keys
    }

    #[test]
    fn every_spec_key_is_documented_in_jobs_md_and_nothing_else_is() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/jobs.md");
        let text = std::fs::read_to_string(&path).expect("docs/jobs.md");
        // table rows whose first cell is a back-quoted `section.key`
        let documented: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split_once('`').map(|(k, _)| k))
            .filter(|k| k.contains('.') && !k.contains(' '))
            .collect();
        let keys = spec_keys();
        assert!(keys.len() > 30, "the spec has {} keys", keys.len());
        let missing: Vec<&String> = keys
            .iter()
            .filter(|k| !documented.contains(&k.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/jobs.md does not document these spec keys (add a row `| `section.key` | type | default | meaning |`): {missing:?}"
        );
        let unknown: Vec<&&str> = documented
            .iter()
            .filter(|d| !keys.iter().any(|k| k == **d))
            .collect();
        assert!(
            unknown.is_empty(),
            "docs/jobs.md documents keys the spec does not accept: {unknown:?}"
        );
    }
}
