//! Every file a run folder holds, listed once: its name, the API table that serves it (if any)
//! and what it holds. The run writer writes through these entries, the HTTP API serves the ones
//! with a table name, the report reads the tables by them, and a test checks that docs/ documents
//! each one.

/// One file (or one family of files) of a run folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// Path in the run folder. A part in angle brackets varies (`models/<model>/card.json`), and
    /// `NN` is a two-digit rank (`charts/NN-<region>.svg`).
    pub file: &'static str,
    /// The table's name in the HTTP API (`/runs/{run}/tables/{table}`); `None`: not served (the
    /// event-level files stay in the run folder for the analysts who run the job).
    pub table: Option<&'static str>,
    /// What the file holds, as the manifest lists it (a family's files each say which one).
    pub description: &'static str,
}

impl Output {
    /// Whether the HTTP API serves the file as a table.
    pub fn served(&self) -> bool {
        self.table.is_some()
    }

    /// Whether `file` (a path in a run folder) is this entry's file or one of its family.
    pub fn matches(&self, file: &str) -> bool {
        pattern_matches(self.file, file)
    }
}

/// Whether `file` fits `pattern`: `<…>` stands for one or more characters other than `/`, `NN`
/// for two digits, everything else for itself.
fn pattern_matches(pattern: &str, file: &str) -> bool {
    if let Some(rest) = pattern.strip_prefix('<') {
        let Some((_, after)) = rest.split_once('>') else {
            return false;
        };
        // the variable part is as short as it can be, at least one character, never a `/`
        return (1..=file.len())
            .take_while(|&n| file.is_char_boundary(n) && !file[..n].contains('/'))
            .any(|n| pattern_matches(after, &file[n..]));
    }
    if let Some(rest) = pattern.strip_prefix("NN") {
        let b = file.as_bytes();
        return b.len() >= 2
            && b[0].is_ascii_digit()
            && b[1].is_ascii_digit()
            && pattern_matches(rest, &file[2..]);
    }
    match (pattern.chars().next(), file.chars().next()) {
        (None, None) => true,
        (Some(p), Some(f)) if p == f => pattern_matches(&pattern[p.len_utf8()..], &file[f.len_utf8()..]),
        _ => false,
    }
}

macro_rules! outputs {
    ($($(#[$doc:meta])* $name:ident: $file:literal, $table:expr, $description:literal;)*) => {
        $($(#[$doc])* pub const $name: Output = Output { file: $file, table: $table, description: $description };)*
        /// Every file of a run folder: first the tables the API serves, in the order it lists
        /// them, then the rest.
        pub const OUTPUTS: &[Output] = &[$($name),*];
    };
}

outputs! {
    /// Trend tests per region.
    TREND: "trend.parquet", Some("trends"),
        "Mann-Kendall, Hamed-Rao and seasonal Mann-Kendall tests with Sen's slope per region";
    /// Every model's forecasts.
    FORECASTS: "forecasts.parquet", Some("forecasts"),
        "forecasts with quantiles per region, model and horizon; `chosen` marks each region's backtest pick, `published` the forecast the report, charts and alerts use";
    /// The alerts.
    ALERTS: "alerts.parquet", Some("alerts"),
        "early-warning alerts per region and horizon: level, probabilities, reasons and drivers";
    /// Hot spots per PRIO-GRID cell.
    HOTSPOTS: "hotspots.parquet", Some("hotspots"),
        "Getis-Ord Gi* per PRIO-GRID cell and year with emerging hot-spot classes";
    /// Backtest scores.
    METRICS: "metrics.parquet", Some("metrics"),
        "backtest scores per model and horizon (horizon null = all)";
    /// Skill against the best baseline.
    SKILL: "skill.parquet", Some("skill"),
        "skill of each model against the best baseline";
    /// The rolling-origin backtest.
    BACKTEST: "backtest.parquet", Some("backtest"),
        "rolling-origin backtest in long format: every model, origin and horizon";
    /// Reliability of event probabilities.
    RELIABILITY: "reliability.parquet", Some("reliability"),
        "reliability of event probabilities on the backtest: forecast vs observed frequency in ten probability bins per model and threshold";
    /// Forecasts made coherent across levels.
    RECONCILED: "reconciled.parquet", Some("reconciled"),
        "point forecasts made coherent across levels (children sum to parents), proportional from the top";
    /// Seasonal profiles.
    SEASONALITY: "seasonality.parquet", Some("seasonality"),
        "seasonal profile per region and season, with bootstrap band, peaks and STL strength";
    /// STL decomposition.
    DECOMPOSITION: "decomposition.parquet", Some("decomposition"),
        "STL trend, seasonal and remainder per region and period of the seasonality window";
    /// Change points.
    CHANGEPOINTS: "changepoints.parquet", Some("changepoints"),
        "change points per region (BOCPD) with the level before and after";
    /// Rolling and year-on-year change at every level.
    CHANGE: "change.parquet", Some("change"),
        "rolling sums and their change on a year earlier";
    /// The panel.
    PANEL: "panel.parquet", Some("panel"),
        "zero-filled region × period counts";
    /// The panel's regions.
    REGIONS: "regions.parquet", Some("regions"),
        "one row per region: names, level, span, totals";
    /// The run's manifest, written last.
    MANIFEST: "manifest.json", None,
        "every file of the run with its sha256, rows and classification; inputs, timings and warnings";
    /// The report.
    REPORT_HTML: "report.html", None,
        "the report: findings, alerts, charts, data quality and provenance in one offline HTML file";
    /// Input quality and gates.
    QUALITY: "quality.json", None,
        "rows read, accepted, quarantined per rule; gates; panel counts";
    /// Rejected source rows.
    QUARANTINE: "quarantine.parquet", None,
        "rejected source rows: one row per broken rule";
    /// Accepted incidents.
    INCIDENTS: "incidents.parquet", None,
        "accepted incidents in the canonical schema";
    /// The model chosen per region.
    MODEL_CHOICE: "model_choice.parquet", None,
        "the model chosen for each region and its backtest MSLE";
    /// Regions where a model could not be fitted.
    FALLBACKS: "fallbacks.parquet", None,
        "regions where a model could not be fitted";
    /// A saved global model.
    MODEL_JSON: "models/<model>/model.json", None,
        "the fitted model, one per horizon";
    /// A saved global model's card.
    MODEL_CARD: "models/<model>/card.json", None,
        "model card: training window, hashes, features, hyperparameters, backtest scores";
    /// A saved global model's forecast.
    MODEL_FORECAST: "models/<model>/forecast.parquet", None,
        "the model's forecast, reproducible with `vigil forecast --model RUN/<model>`";
    /// Fan charts of the top regions (SVG).
    FAN_SVG: "charts/NN-<region>.svg", None,
        "history and forecasts of a top region";
    /// Fan charts of the top regions (PNG).
    FAN_PNG: "charts/NN-<region>.png", None,
        "history and forecasts of a top region";
    /// The reliability diagram (SVG).
    RELIABILITY_SVG: "charts/reliability-any.svg", None,
        "reliability diagram of the probability of any fatality on the backtest";
    /// The reliability diagram (PNG).
    RELIABILITY_PNG: "charts/reliability-any.png", None,
        "reliability diagram of the probability of any fatality on the backtest";
    /// Skill by horizon (SVG).
    SKILL_SVG: "charts/skill-by-horizon.svg", None,
        "MSLE skill of every model by horizon against the best baseline";
    /// Skill by horizon (PNG).
    SKILL_PNG: "charts/skill-by-horizon.png", None,
        "MSLE skill of every model by horizon against the best baseline";
    /// The region × period heatmap (SVG).
    HEATMAP_SVG: "charts/heatmap.svg", None,
        "region × period heatmap of the most violent regions";
    /// The region × period heatmap (PNG).
    HEATMAP_PNG: "charts/heatmap.png", None,
        "region × period heatmap of the most violent regions";
    /// Seasonal profiles (SVG).
    SEASONAL_SVG: "charts/seasonal-profile.svg", None,
        "month-of-year profile of the three most violent regions, with bootstrap bands";
    /// Seasonal profiles (PNG).
    SEASONAL_PNG: "charts/seasonal-profile.png", None,
        "month-of-year profile of the three most violent regions, with bootstrap bands";
    /// Trends' small multiples (SVG).
    TRENDS_SVG: "charts/trends.svg", None,
        "small multiples of the six most violent regions' trends with Sen's slope";
    /// Trends' small multiples (PNG).
    TRENDS_PNG: "charts/trends.png", None,
        "small multiples of the six most violent regions' trends with Sen's slope";
    /// Hot-spot maps (SVG).
    HOTSPOTS_SVG: "charts/hotspots-<country>.svg", None,
        "emerging hot-spot classes of the PRIO-GRID cells of a country";
    /// Hot-spot maps (PNG).
    HOTSPOTS_PNG: "charts/hotspots-<country>.png", None,
        "emerging hot-spot classes of the PRIO-GRID cells of a country";
}

/// The entry a file of a run folder belongs to.
pub fn find(file: &str) -> Option<&'static Output> {
    OUTPUTS.iter().find(|o| o.matches(file))
}

/// The entry of API table `name`.
pub fn by_table(name: &str) -> Option<&'static Output> {
    OUTPUTS.iter().find(|o| o.table == Some(name))
}

/// The tables the API serves, in the order it lists them.
pub fn served() -> impl Iterator<Item = &'static Output> {
    OUTPUTS.iter().filter(|o| o.served())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_and_table_is_listed_once() {
        let mut files: Vec<&str> = OUTPUTS.iter().map(|o| o.file).collect();
        files.sort_unstable();
        files.dedup();
        assert_eq!(files.len(), OUTPUTS.len());
        let mut tables: Vec<&str> = OUTPUTS.iter().filter_map(|o| o.table).collect();
        let served = tables.len();
        tables.sort_unstable();
        tables.dedup();
        assert_eq!(tables.len(), served);
        assert_eq!(served, 15);
        // the served tables come first
        assert!(OUTPUTS[..served].iter().all(Output::served));
    }

    #[test]
    fn families_match_their_files_and_nothing_else() {
        assert_eq!(find("charts/01-70-michoacan-state.svg"), Some(&FAN_SVG));
        assert_eq!(find("charts/12-pg153000.png"), Some(&FAN_PNG));
        assert_eq!(find("charts/hotspots-mex.png"), Some(&HOTSPOTS_PNG));
        assert_eq!(find("models/hurdle/card.json"), Some(&MODEL_CARD));
        assert_eq!(find("charts/heatmap.svg"), Some(&HEATMAP_SVG));
        assert_eq!(find("forecasts.parquet"), Some(&FORECASTS));
        for stray in [
            "charts/1-x.svg",
            "charts/ab-x.svg",
            "charts/01-.svg",
            "models/a/b/card.json",
            "models//card.json",
            "forecasts.csv",
            "notes.txt",
        ] {
            assert_eq!(find(stray), None, "{stray}");
        }
        assert_eq!(by_table("trends"), Some(&TREND));
        assert_eq!(by_table("incidents"), None);
    }
}
