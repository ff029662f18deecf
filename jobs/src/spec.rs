//! Job specs: typed TOML, checked once, every problem reported at once with its field path.

use chrono::{Months, NaiveDate};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use vigil_core::data::mapping::SchemaMapping;
use vigil_core::forecast::catalogue::{Model, check_models, model_names};
use vigil_core::{Classification, Frequency, Level};

/// A job spec as written (see `jobs/specs/monthly.toml`). Enumerations are kept as text here so
/// that [`JobSpec::validate`] can report every bad value at once instead of stopping at the first.
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

#[derive(Debug, Clone, Deserialize)]
pub struct PanelSection {
    #[serde(default = "default_level")]
    pub level: String,
    #[serde(default = "default_frequency")]
    pub frequency: String,
    pub start: Option<String>,
}

impl Default for PanelSection {
    fn default() -> Self {
        PanelSection {
            level: default_level(),
            frequency: default_frequency(),
            start: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ForecastSection {
    #[serde(default = "default_target")]
    pub target: String,
    #[serde(default = "default_horizon")]
    pub horizon: i64,
    #[serde(default = "default_models")]
    pub models: Vec<String>,
    /// Training periods per region of the global models.
    #[serde(default = "default_global_window")]
    pub global_window: i64,
    /// Ridge penalty of the global models (on standardised features).
    #[serde(default = "default_l2")]
    pub global_l2: f64,
    /// Event thresholds (counts): any fatality, major violence.
    #[serde(default = "default_events")]
    pub events: [f64; 2],
    /// Recalibration of the ensemble's event probabilities: "none" or "platt".
    #[serde(default = "default_calibration")]
    pub event_calibration: String,
}

impl Default for ForecastSection {
    fn default() -> Self {
        ForecastSection {
            target: default_target(),
            horizon: default_horizon(),
            models: default_models(),
            global_window: default_global_window(),
            global_l2: default_l2(),
            events: default_events(),
            event_calibration: default_calibration(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct BacktestSection {
    /// Rolling forecast origins; `--origins` overrides.
    #[serde(default = "default_origins")]
    pub origins: i64,
    /// Periods between origins; `--step` overrides.
    #[serde(default = "default_step")]
    pub step: i64,
    /// Rolling origins inside each fit that calibrate conformal quantiles.
    #[serde(default = "default_conformal_windows")]
    pub conformal_windows: i64,
    /// Periods averaged by window_mean and resampled by conflictology.
    #[serde(default = "default_window")]
    pub window: i64,
    /// TSB smoothing constants (demand size, demand probability).
    #[serde(default = "default_tsb")]
    pub tsb_alphas: [f64; 2],
    /// Unscored origins before the scored ones, from which the ensemble learns its first
    /// weights; default the horizon.
    pub ensemble_warmup: Option<i64>,
}

impl Default for BacktestSection {
    fn default() -> Self {
        BacktestSection {
            origins: default_origins(),
            step: default_step(),
            conformal_windows: default_conformal_windows(),
            window: default_window(),
            tsb_alphas: default_tsb(),
            ensemble_warmup: None,
        }
    }
}

fn default_origins() -> i64 {
    12
}
fn default_step() -> i64 {
    1
}
fn default_conformal_windows() -> i64 {
    24
}
fn default_window() -> i64 {
    12
}
fn default_tsb() -> [f64; 2] {
    [0.1, 0.1]
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TrendsSection {
    /// Periods in the rolling window; default one year of periods.
    pub window: Option<i64>,
    /// Periods tested by Mann-Kendall; default three years of periods.
    pub mk_window: Option<i64>,
    /// Full cycles used by the seasonal test and the seasonality profile; default 10.
    pub cycles: Option<i64>,
    /// Significance level; default 0.05.
    pub alpha: Option<f64>,
    /// Bootstrap resamples of the seasonality band; default 500.
    pub bootstrap: Option<i64>,
    /// Expected periods between change points (BOCPD's hazard is its inverse); default 60.
    pub hazard_lambda: Option<f64>,
}

/// Alert thresholds; every field has a default.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AlertsSection {
    /// P(y ≥ events[1]) at or above this raises a `high` alert; default 0.5.
    pub major_probability: Option<f64>,
    /// P(y ≥ events[0]) at or above this after a quiet spell raises an `elevated` alert;
    /// default 0.5.
    pub onset_probability: Option<f64>,
    /// Periods without an event that make a region quiet; default 3.
    pub quiet_periods: Option<i64>,
    /// Drivers named per alert; default 3.
    pub drivers: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct QualitySection {
    pub max_quarantined_fraction: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OutputsSection {
    /// Relative to the working directory; `--out` overrides.
    #[serde(default = "default_out")]
    pub dir: String,
    #[serde(default = "default_top")]
    pub top_regions: i64,
}

impl Default for OutputsSection {
    fn default() -> Self {
        OutputsSection {
            dir: default_out(),
            top_regions: default_top(),
        }
    }
}

fn default_level() -> String {
    "admin1".into()
}
fn default_frequency() -> String {
    "month".into()
}
fn default_target() -> String {
    "fatalities_best".into()
}
fn default_global_window() -> i64 {
    120
}
fn default_l2() -> f64 {
    1.0
}
fn default_calibration() -> String {
    "none".into()
}
fn default_events() -> [f64; 2] {
    [1.0, 25.0]
}
fn default_horizon() -> i64 {
    6
}
fn default_models() -> Vec<String> {
    vec!["naive".into(), "seasonal_naive".into()]
}
fn default_out() -> String {
    "runs".into()
}
fn default_top() -> i64 {
    6
}

/// Panel columns a job can forecast.
pub const TARGETS: &[&str] = &["events", "fatalities_best", "fatalities_low", "fatalities_high"];

/// A checked input.
#[derive(Debug, Clone)]
pub struct ValidInput {
    pub label: String,
    pub path: PathBuf,
    pub mapping: SchemaMapping,
    pub classification: Classification,
    pub extracted: Option<NaiveDate>,
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
    pub level: Level,
    pub frequency: Frequency,
    pub start: Option<NaiveDate>,
    pub target: String,
    pub horizon: usize,
    pub models: Vec<Model>,
    pub global_window: usize,
    pub global_l2: f64,
    pub events: [f64; 2],
    pub alerts: vigil_core::alerts::AlertSettings,
    pub ensemble_warmup: usize,
    pub platt: bool,
    pub origins: usize,
    pub step: usize,
    pub conformal_windows: usize,
    pub model_window: usize,
    pub tsb_alphas: (f64, f64),
    pub window: usize,
    pub mk_window: usize,
    pub cycles: usize,
    pub alpha: f64,
    pub bootstrap: usize,
    pub hazard_lambda: f64,
    pub max_quarantined_fraction: Option<f64>,
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

impl JobSpec {
    fn validate(
        &self,
        base: &Path,
        spec_path: &Path,
        spec_bytes: Vec<u8>,
        overrides: &Overrides,
        problems: &mut Vec<String>,
    ) -> Option<ValidSpec> {
        let name_ok = !self.job.name.is_empty()
            && self
                .job
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            problems.push(format!(
                "job.name: '{}' must be non-empty and use only letters, digits, '-' and '_' (it names the runs folder)",
                self.job.name
            ));
        }
        // The spec's own as-of (default today) is when its data were extracted; `--as-of`
        // may move the run's window earlier for a retrospective run.
        let spec_as_of = match &self.job.as_of {
            Some(t) => parse_as_of(t)
                .map_err(|e| problems.push(format!("job.as_of: {e}")))
                .ok(),
            None => Some(chrono::Utc::now().date_naive()),
        };
        let as_of = match &overrides.as_of {
            Some(t) => parse_as_of(t)
                .map_err(|e| problems.push(format!("--as-of: {e}")))
                .ok(),
            None => spec_as_of,
        };
        if self.inputs.is_empty() {
            problems.push(
                "inputs: the job has no [[inputs]]; add at least one with path, mapping and classification"
                    .into(),
            );
        }
        let mut inputs = Vec::new();
        for (i, input) in self.inputs.iter().enumerate() {
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
                Some(t) => parse_as_of(t)
                    .map_err(|e| problems.push(format!("{at}.extracted: {e}")))
                    .ok()
                    .map(Some),
                None => Some(spec_as_of),
            };
            if let (Some(mapping), Some(classification), Some(extracted)) =
                (mapping, classification, extracted)
            {
                inputs.push(ValidInput {
                    label: input.path.clone(),
                    path,
                    mapping,
                    classification,
                    extracted,
                });
            }
        }
        let level = self
            .panel
            .level
            .parse::<Level>()
            .map_err(|e| problems.push(format!("panel.level: {e}")))
            .ok();
        let frequency = self
            .panel
            .frequency
            .parse::<Frequency>()
            .map_err(|e| problems.push(format!("panel.frequency: {e}")))
            .ok();
        let start = match &self.panel.start {
            Some(t) => parse_as_of(t)
                .map_err(|e| problems.push(format!("panel.start: {e}")))
                .ok()
                .map(Some),
            None => Some(None),
        };
        if let (Some(Some(s)), Some(a)) = (start, as_of)
            && s > a
        {
            problems.push(format!("panel.start: {s} is after the as-of date {a}"));
        }
        if !TARGETS.contains(&self.forecast.target.as_str()) {
            problems.push(format!(
                "forecast.target: '{}' is not one of {}",
                self.forecast.target,
                TARGETS.join(", ")
            ));
        }
        if !(1..=120).contains(&self.forecast.horizon) {
            problems.push(format!(
                "forecast.horizon: {} must be between 1 and 120 periods",
                self.forecast.horizon
            ));
        }
        let known = model_names().join(", ");
        if self.forecast.models.is_empty() {
            problems.push(format!("forecast.models: list at least one of {known}"));
        }
        let mut models = Vec::new();
        for (i, m) in self.forecast.models.iter().enumerate() {
            match m.parse::<Model>() {
                Ok(m) => models.push(m),
                Err(_) => problems.push(format!(
                    "forecast.models[{i}]: unknown model '{m}' (known: {known})"
                )),
            }
        }
        if models.len() == self.forecast.models.len() {
            problems.extend(
                check_models(&models)
                    .into_iter()
                    .map(|p| format!("forecast.models: {p}")),
            );
        }
        for (name, p) in [
            ("alerts.major_probability", self.alerts.major_probability),
            ("alerts.onset_probability", self.alerts.onset_probability),
        ] {
            if let Some(p) = p
                && !(p > 0.0 && p <= 1.0)
            {
                problems.push(format!("{name}: {p} must be a probability in (0, 1]"));
            }
        }
        if let Some(q) = self.alerts.quiet_periods
            && !(1..=120).contains(&q)
        {
            problems.push(format!(
                "alerts.quiet_periods: {q} must be between 1 and 120 periods"
            ));
        }
        if let Some(d) = self.alerts.drivers
            && !(0..=23).contains(&d)
        {
            problems.push(format!("alerts.drivers: {d} must be between 0 and 23 features"));
        }
        if !["none", "platt"].contains(&self.forecast.event_calibration.as_str()) {
            problems.push(format!(
                "forecast.event_calibration: '{}' must be \"none\" or \"platt\"",
                self.forecast.event_calibration
            ));
        }
        if let Some(w) = self.backtest.ensemble_warmup
            && !(0..=120).contains(&w)
        {
            problems.push(format!(
                "backtest.ensemble_warmup: {w} must be between 0 and 120 origins"
            ));
        }
        if !(24..=600).contains(&self.forecast.global_window) {
            problems.push(format!(
                "forecast.global_window: {} must be between 24 and 600 periods",
                self.forecast.global_window
            ));
        }
        if !(self.forecast.global_l2 >= 0.0 && self.forecast.global_l2 <= 1e6) {
            problems.push(format!(
                "forecast.global_l2: {} must be between 0 and 1e6",
                self.forecast.global_l2
            ));
        }
        let [e1, e2] = self.forecast.events;
        if !(e1 >= 1.0 && e2 > e1 && e2.is_finite()) {
            problems.push(format!(
                "forecast.events: [{e1}, {e2}] must be two increasing counts, the first at least 1 (e.g. [1, 25])"
            ));
        }
        let origins = overrides.origins.map_or(self.backtest.origins, |o| o as i64);
        let step = overrides.step.map_or(self.backtest.step, |s| s as i64);
        let (o_at, s_at) = (
            if overrides.origins.is_some() {
                "--origins"
            } else {
                "backtest.origins"
            },
            if overrides.step.is_some() {
                "--step"
            } else {
                "backtest.step"
            },
        );
        if !(1..=240).contains(&origins) {
            problems.push(format!(
                "{o_at}: {origins} must be between 1 and 240 forecast origins"
            ));
        }
        if !(1..=120).contains(&step) {
            problems.push(format!("{s_at}: {step} must be between 1 and 120 periods"));
        }
        if !(5..=120).contains(&self.backtest.conformal_windows) {
            problems.push(format!(
                "backtest.conformal_windows: {} must be between 5 and 120 (more windows, steadier tails)",
                self.backtest.conformal_windows
            ));
        }
        if !(1..=120).contains(&self.backtest.window) {
            problems.push(format!(
                "backtest.window: {} must be between 1 and 120 periods",
                self.backtest.window
            ));
        }
        for (name, a) in ["alpha_d", "alpha_p"].iter().zip(self.backtest.tsb_alphas) {
            if !(a > 0.0 && a <= 1.0) {
                problems.push(format!("backtest.tsb_alphas: {name} = {a} must lie in (0, 1]"));
            }
        }
        if let Some(w) = self.trends.window
            && !(1..=1000).contains(&w)
        {
            problems.push(format!("trends.window: {w} must be between 1 and 1000 periods"));
        }
        if let Some(w) = self.trends.mk_window
            && !(4..=1000).contains(&w)
        {
            problems.push(format!(
                "trends.mk_window: {w} must be between 4 and 1000 periods"
            ));
        }
        if let Some(c) = self.trends.cycles
            && !(2..=100).contains(&c)
        {
            problems.push(format!("trends.cycles: {c} must be between 2 and 100 cycles"));
        }
        if let Some(a) = self.trends.alpha
            && !(a > 0.0 && a < 0.5)
        {
            problems.push(format!("trends.alpha: {a} must lie in (0, 0.5), e.g. 0.05"));
        }
        if let Some(b) = self.trends.bootstrap
            && !(10..=100_000).contains(&b)
        {
            problems.push(format!(
                "trends.bootstrap: {b} must be between 10 and 100000 resamples"
            ));
        }
        if let Some(h) = self.trends.hazard_lambda
            && !(2.0..=10_000.0).contains(&h)
        {
            problems.push(format!(
                "trends.hazard_lambda: {h} must be between 2 and 10000 periods"
            ));
        }
        if let Some(f) = self.quality.max_quarantined_fraction
            && !(0.0..=1.0).contains(&f)
        {
            problems.push(format!(
                "quality.max_quarantined_fraction: {f} must be between 0 and 1 (0.05 = 5%)"
            ));
        }
        if !(0..=50).contains(&self.outputs.top_regions) {
            problems.push(format!(
                "outputs.top_regions: {} must be between 0 and 50",
                self.outputs.top_regions
            ));
        }
        let (Some(as_of), Some(level), Some(frequency), Some(start)) = (as_of, level, frequency, start)
        else {
            return None;
        };
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
            level,
            frequency,
            start,
            target: self.forecast.target.clone(),
            horizon: self.forecast.horizon as usize,
            models: self
                .forecast
                .models
                .iter()
                .filter_map(|m| m.parse().ok())
                .collect(),
            global_window: self.forecast.global_window as usize,
            global_l2: self.forecast.global_l2,
            events: self.forecast.events,
            alerts: {
                let d = vigil_core::alerts::AlertSettings::default();
                vigil_core::alerts::AlertSettings {
                    major_probability: self.alerts.major_probability.unwrap_or(d.major_probability),
                    onset_probability: self.alerts.onset_probability.unwrap_or(d.onset_probability),
                    quiet_periods: self.alerts.quiet_periods.map_or(d.quiet_periods, |q| q as usize),
                    drivers: self.alerts.drivers.map_or(d.drivers, |n| n as usize),
                }
            },
            ensemble_warmup: self
                .backtest
                .ensemble_warmup
                .map_or(self.forecast.horizon.max(0) as usize, |w| w as usize),
            platt: self.forecast.event_calibration == "platt",
            origins: origins as usize,
            step: step as usize,
            conformal_windows: self.backtest.conformal_windows as usize,
            model_window: self.backtest.window as usize,
            tsb_alphas: (self.backtest.tsb_alphas[0], self.backtest.tsb_alphas[1]),
            window: self
                .trends
                .window
                .map_or(frequency.periods_per_year(), |w| w as usize),
            mk_window: self
                .trends
                .mk_window
                .map_or(3 * frequency.periods_per_year(), |w| w as usize),
            cycles: self.trends.cycles.map_or(10, |c| c as usize),
            alpha: self.trends.alpha.unwrap_or(0.05),
            bootstrap: self.trends.bootstrap.map_or(500, |b| b as usize),
            hazard_lambda: self.trends.hazard_lambda.unwrap_or(60.0),
            max_quarantined_fraction: self.quality.max_quarantined_fraction,
            out_dir: overrides
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from(&self.outputs.dir)),
            top_regions: self.outputs.top_regions as usize,
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
