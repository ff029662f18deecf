//! The run's figures: which regions and models each chart shows, with what titles, drawn into
//! the run folder and recorded in its manifest.
//!
//! The runner calls [`hotspot_maps`] after the hot-spot stage and [`run_charts`] once the
//! forecasts, alerts and trend tables exist; [`crate::charts`] does the drawing. Which models a
//! chart shows comes from the model catalogue ([`Model::SKILL_CHART`],
//! [`Model::RELIABILITY_CHART`]); which forecast a region publishes, from the forecast stage.

use crate::charts::{
    CellMap, ForecastBand, ForecastLine, HeatmapChart, Reference, SeriesChart, SmallMultiples, TrendPanel,
    XyChart, XyCurve, render_cell_map, render_heatmap, render_series_chart, render_small_multiples,
    render_xy_chart,
};
use chrono::NaiveDate;
use polars::prelude::DataFrame;
use std::collections::HashMap;
use vigil_core::analysis::hotspots::CellClasses;
use vigil_core::data::read::{float_values, region_lookup, text_values};
use vigil_core::data::region::grid_id;
use vigil_core::data::series::RegionSeries;
use vigil_core::error::EngineError;
use vigil_core::forecast::catalogue::Model;
use vigil_core::forecast::stage::ForecastStage;
use vigil_core::output::RunWriter;
use vigil_core::{Classification, Frequency, Level};
use vigil_models::calibration::{ReliabilityRow, calibration_error};
use vigil_models::metrics::Skill;

/// Errors from drawing the run's figures.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    /// A chart could not be drawn.
    #[error(transparent)]
    Chart(#[from] crate::charts::ChartError),
    /// A table of the run could not be read, or a file recorded.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A table of the run lacks a column a chart reads, or has it with another type.
    #[error("reading a table of the run for a chart: {0}")]
    Polars(#[from] polars::error::PolarsError),
}

type Result<T> = std::result::Result<T, FigureError>;

/// How many regions get a fan chart when a job does not say.
pub const DEFAULT_TOP_REGIONS: usize = 6;

/// What every chart of a run says about the job: its titles, subtitles and footers.
#[derive(Debug, Clone)]
pub struct ChartSettings<'a> {
    /// The panel column forecast, e.g. `fatalities_best`.
    pub target: &'a str,
    /// The panel's period.
    pub frequency: Frequency,
    /// The job's geographic level.
    pub level: Level,
    /// The run's as-of date.
    pub as_of: NaiveDate,
    /// Years of the seasonal and hot-spot windows.
    pub cycles: usize,
    /// Backtest origins.
    pub origins: usize,
    /// Forecast horizon in periods.
    pub horizon: usize,
    /// Periods of the Mann-Kendall window.
    pub mk_window: usize,
    /// How many regions get a fan chart (0: none).
    pub top_regions: usize,
    /// The source datasets, as the footer names them (e.g. `UCDP GED`).
    pub sources: String,
    /// The run's classification, marked on every chart.
    pub classification: Classification,
}

/// The run's tables the charts draw from (no `Debug`: the forecast stage has none).
#[derive(Clone, Copy)]
pub struct RunTables<'a> {
    /// The panel's region table (names).
    pub regions: &'a DataFrame,
    /// Every region's series at the job's level.
    pub series: &'a [RegionSeries],
    /// Every model's backtest and forecasts: the fan charts draw the model each region
    /// publishes ([`ForecastStage::published_model`]).
    pub forecasts: &'a ForecastStage,
    /// alerts.parquet as written.
    pub alerts: &'a DataFrame,
    /// The backtest's reliability rows, and the event threshold the diagram shows.
    pub reliability: (&'a [ReliabilityRow], f64),
    /// Backtest skill per model and horizon.
    pub skill: &'a [Skill],
    /// seasonality.parquet as written.
    pub seasonality: &'a DataFrame,
    /// trend.parquet as written.
    pub trend: &'a DataFrame,
}

/// Draws the fan charts of the top regions, the reliability diagram, the skill chart, the
/// heatmap, the seasonal profile and the trends' small multiples, in that order; returns how
/// many regions got a fan chart.
///
/// # Errors
///
/// When a table lacks a column a chart reads, a chart cannot be drawn, or a file cannot be
/// recorded.
pub fn run_charts(cfg: &ChartSettings<'_>, writer: &mut RunWriter, t: &RunTables<'_>) -> Result<usize> {
    let charted = charts(cfg, writer, t.regions, t.series, t.forecasts, t.alerts)?;
    reliability_chart(cfg, writer, t.reliability.0, t.reliability.1)?;
    skill_chart(cfg, writer, t.skill)?;
    heatmap_chart(cfg, writer, t.regions, t.series)?;
    seasonal_chart(cfg, writer, t.regions, t.series, t.seasonality)?;
    trends_chart(cfg, writer, t.regions, t.series, t.trend)?;
    Ok(charted)
}

/// The ASCII letter a Latin letter with a diacritic is filed under (`á` → `a`); other
/// characters that are not ASCII letters or digits become `-`.
fn ascii_letter(c: char) -> char {
    const FOLDS: [(&str, char); 7] = [
        ("àáâãäåā", 'a'),
        ("ç", 'c'),
        ("èéêëē", 'e'),
        ("ìíîïī", 'i'),
        ("ñ", 'n'),
        ("òóôõöøō", 'o'),
        ("ùúûüū", 'u'),
    ];
    if c.is_ascii_alphanumeric() {
        return c;
    }
    FOLDS
        .iter()
        .find(|(from, _)| from.contains(c))
        .map_or('-', |(_, to)| *to)
}

/// File-name-safe form of a region id.
fn slug(s: &str) -> String {
    let mut out: String = s.to_lowercase().chars().map(ascii_letter).collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').chars().take(60).collect()
}

/// Rank of an alert level in the chart order: high first, regions without an alert last.
fn alert_rank(level: Option<&str>) -> u8 {
    match level {
        Some("high") => 0,
        Some("elevated") => 1,
        Some("watch") => 2,
        _ => 3,
    }
}

/// The regions the fan charts show, most urgent first, with their places in `series`: by the
/// highest alert level the region has at any horizon, then by the published model's forecast
/// total over the horizon, then by id. Regions with neither an alert nor a forecast above zero
/// are left out.
fn chart_regions<'a>(
    series: &'a [RegionSeries],
    fc: &ForecastStage,
    frequency: Frequency,
    alerts: &DataFrame,
) -> Result<Vec<(usize, &'a RegionSeries)>> {
    let mut level: HashMap<String, u8> = HashMap::new();
    let ids = alerts.column("region_id")?.str()?;
    let levels = alerts.column("level")?.str()?;
    for (id, l) in ids.iter().zip(levels.iter()) {
        if let Some(id) = id {
            let r = alert_rank(l);
            let best = level.entry(id.to_string()).or_insert(r);
            *best = (*best).min(r);
        }
    }
    let mut ranked: Vec<(usize, &RegionSeries, u8, f64)> = series
        .iter()
        .enumerate()
        .map(|(r, s)| {
            let total = fan(series, fc, frequency, r, fc.published_model(r))
                .iter()
                .map(|(_, v)| v[0])
                .filter(|m| m.is_finite())
                .fold(0.0, |a, b| a + b);
            let rank = level.get(&s.region_id).copied().unwrap_or(alert_rank(None));
            (r, s, rank, total)
        })
        .filter(|(_, _, l, t)| *l < alert_rank(None) || *t > 0.0)
        .collect();
    ranked.sort_by(|a, b| {
        a.2.cmp(&b.2)
            .then_with(|| b.3.total_cmp(&a.3))
            .then_with(|| a.1.region_id.cmp(&b.1.region_id))
    });
    Ok(ranked.into_iter().map(|(r, s, _, _)| (r, s)).collect())
}

/// Fan charts for the top regions by alert, then by forecast (see [`chart_regions`]).
#[allow(clippy::too_many_arguments)]
fn charts(
    cfg: &ChartSettings<'_>,
    writer: &mut RunWriter,
    regions: &DataFrame,
    series: &[RegionSeries],
    forecasts: &ForecastStage,
    alerts: &DataFrame,
) -> Result<usize> {
    let class = cfg.classification;
    if cfg.top_regions == 0 {
        return Ok(0);
    }
    let year = cfg.frequency.periods_per_year();
    let names = region_lookup(regions, "region_name")?;
    let dir = writer.dir().join("charts");
    std::fs::create_dir_all(&dir).map_err(|e| EngineError::io(&dir, e))?;
    let ranked = chart_regions(series, forecasts, cfg.frequency, alerts)?;
    let naive = forecasts.backtest.models.iter().position(|m| m == "naive");
    let mut n = 0;
    for (rank, (r, s)) in ranked.into_iter().take(cfg.top_regions).enumerate() {
        let keep = (year * 5).min(s.y.len());
        let history: Vec<_> = s.ds[s.ds.len() - keep..]
            .iter()
            .copied()
            .zip(s.y[s.y.len() - keep..].iter().copied())
            .collect();
        let mut lines_data: Vec<(String, Vec<(NaiveDate, f64)>)> = Vec::new();
        // The region's published model (the ensemble, else its chosen model) as a fan chart
        // around its median, and naive for reference. The median, not the table's point
        // forecast: that one minimises squared log error and sits below the median of a skewed
        // distribution, sometimes below its 25% quantile, which would look wrong inside the fan.
        let published = forecasts.published_model(r);
        let pick = forecasts.backtest.models[published].as_str();
        let mut shown = vec![(published, "q50", format!("{} (median)", pick.replace('_', " ")))];
        if let Some(naive) = naive.filter(|m| *m != published) {
            shown.push((naive, "mean", "naive".to_string()));
        }
        let points = |m: usize, col: &str| -> Vec<(NaiveDate, f64)> {
            let Some(c) = FAN_COLUMNS.iter().position(|x| *x == col) else {
                return Vec::new();
            };
            fan(series, forecasts, cfg.frequency, r, m)
                .into_iter()
                .map(|(d, v)| (d, v[c]))
                .collect()
        };
        for (m, col, label) in shown {
            let pts = points(m, col);
            if !pts.is_empty() {
                lines_data.push((label, pts));
            }
        }
        let lines: Vec<ForecastLine<'_>> = lines_data
            .iter()
            .map(|(l, p)| ForecastLine { label: l, points: p })
            .collect();
        let bands_data: Vec<(&str, Vec<_>, Vec<_>)> = [
            ("95% interval", "q025", "q975"),
            ("90% interval", "q05", "q95"),
            ("80% interval", "q10", "q90"),
            ("50% interval", "q25", "q75"),
        ]
        .iter()
        .map(|(label, lo, hi)| (*label, points(published, lo), points(published, hi)))
        .filter(|(_, lo, hi)| !lo.is_empty() && lo.len() == hi.len())
        .collect();
        let bands: Vec<ForecastBand<'_>> = bands_data
            .iter()
            .map(|(label, lo, hi)| ForecastBand {
                label,
                lower: lo,
                upper: hi,
            })
            .collect();
        let name = names
            .get(&s.region_id)
            .cloned()
            .unwrap_or_else(|| s.region_id.clone());
        let subtitle = format!(
            "{} per {}, {} level, as of {}",
            cfg.target.replace('_', " "),
            cfg.frequency,
            cfg.level,
            cfg.as_of
        );
        let footer = chart_footer(cfg, writer);
        let marking = class.marking();
        let chart = SeriesChart {
            title: &name,
            subtitle: &subtitle,
            y_label: &cfg.target.replace('_', " "),
            history: &history,
            forecasts: &lines,
            bands: &bands,
            footer: &footer,
            classification: &marking,
        };
        let stem = format!("{:02}-{}", rank + 1, slug(&s.region_id));
        let (svg, png) = (format!("charts/{stem}.svg"), format!("charts/{stem}.png"));
        render_series_chart(&chart, &writer.dir().join(&svg), &writer.dir().join(&png))?;
        let what = format!("history and forecasts for {name}");
        record_chart(writer, &svg, &png, class, &what)?;
        n += 1;
    }
    Ok(n)
}

/// The reliability diagram of P(any fatality) for the pooled models and the best baseline.
fn reliability_chart(
    cfg: &ChartSettings<'_>,
    writer: &mut RunWriter,
    rows: &[ReliabilityRow],
    threshold: f64,
) -> Result<()> {
    let class = cfg.classification;
    let wanted = Model::RELIABILITY_CHART.map(Model::as_str);
    let curves_data: Vec<(&str, Vec<(f64, f64)>)> = wanted
        .iter()
        .map(|m| {
            let pts = rows
                .iter()
                .filter(|r| r.model == *m && r.threshold == threshold && r.n > 0)
                .map(|r| (r.mean_forecast, r.observed))
                .collect::<Vec<_>>();
            (*m, pts)
        })
        .filter(|(_, p)| !p.is_empty())
        .collect();
    if curves_data.is_empty() {
        return Ok(());
    }
    let labels: Vec<String> = curves_data
        .iter()
        .map(|(m, _)| {
            format!(
                "{} (ECE {:.3})",
                m.replace('_', " "),
                calibration_error(rows, m, threshold)
            )
        })
        .collect();
    let curves: Vec<XyCurve<'_>> = curves_data
        .iter()
        .zip(&labels)
        .map(|((_, p), l)| XyCurve {
            label: l,
            points: p,
            band: &[],
        })
        .collect();
    let title = format!("Reliability of P({} ≥ {threshold})", cfg.target.replace('_', " "));
    let subtitle = format!(
        "backtest, {} origins × horizons 1..{}, {} level; ten probability bins",
        cfg.origins, cfg.horizon, cfg.level
    );
    let footer = chart_footer(cfg, writer);
    let marking = class.marking();
    let chart = XyChart {
        title: &title,
        subtitle: &subtitle,
        x_label: "forecast probability (mean in bin)",
        y_label: "observed frequency",
        x_range: (0.0, 1.0),
        y_range: (0.0, 1.0),
        decimals: (1, 1),
        reference: (Reference::Diagonal, "perfect calibration"),
        curves: &curves,
        footer: &footer,
        classification: &marking,
    };
    let dir = writer.dir().join("charts");
    std::fs::create_dir_all(&dir).map_err(|e| EngineError::io(&dir, e))?;
    let (svg, png) = ("charts/reliability-any.svg", "charts/reliability-any.png");
    render_xy_chart(&chart, &writer.dir().join(svg), &writer.dir().join(png))?;
    let what = "reliability diagram of the probability of any fatality on the backtest";
    record_chart(writer, svg, png, class, what)?;
    Ok(())
}

/// The month-of-year profile (index: the month's mean over the overall mean) of the three most
/// violent regions of the last year that have one, with the bootstrap band.
fn seasonal_chart(
    cfg: &ChartSettings<'_>,
    writer: &mut RunWriter,
    regions: &DataFrame,
    series: &[RegionSeries],
    seasonality: &DataFrame,
) -> Result<()> {
    let class = cfg.classification;
    let ids = text_values(seasonality, "region_id")?;
    let status = text_values(seasonality, "status")?;
    let season = seasonality
        .column("season")?
        .cast(&polars::prelude::DataType::Float64)?;
    let season = season.f64()?.clone();
    let get = |c: &str| float_values(seasonality, c);
    let (index, lo, hi) = (get("index")?, get("index_lo")?, get("index_hi")?);
    let year = cfg.frequency.periods_per_year();
    let ranked: Vec<(&RegionSeries, f64)> = most_violent(series, year)
        .into_iter()
        .filter(|(s, _)| (0..ids.len()).any(|i| ids[i] == s.region_id && status[i] == "ok"))
        .collect();
    let names = region_lookup(regions, "region_name")?;
    // (region name, index by month, band by month)
    type Profile = (String, Vec<(f64, f64)>, Vec<(f64, f64, f64)>);
    let mut data: Vec<Profile> = Vec::new();
    for (s, _) in ranked.into_iter().take(3) {
        let mut pts = Vec::new();
        let mut band = Vec::new();
        for i in (0..ids.len()).filter(|i| ids[*i] == s.region_id) {
            if let Some(m) = season.get(i)
                && index[i].is_finite()
            {
                pts.push((m, index[i]));
                if lo[i].is_finite() && hi[i].is_finite() {
                    band.push((m, lo[i], hi[i]));
                }
            }
        }
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        band.sort_by(|a, b| a.0.total_cmp(&b.0));
        let name = names
            .get(&s.region_id)
            .cloned()
            .unwrap_or_else(|| s.region_id.clone());
        data.push((name, pts, band));
    }
    if data.is_empty() {
        return Ok(());
    }
    let top = data
        .iter()
        .flat_map(|(_, p, b)| p.iter().map(|x| x.1).chain(b.iter().map(|x| x.2)))
        .fold(1.0f64, f64::max);
    let curves: Vec<XyCurve<'_>> = data
        .iter()
        .map(|(l, p, b)| XyCurve {
            label: l,
            points: p,
            band: b,
        })
        .collect();
    let subtitle = format!(
        "month-of-year index (1 = an average month) with its 90% bootstrap band, last {} years, as of {}",
        cfg.cycles, cfg.as_of
    );
    let footer = chart_footer(cfg, writer);
    let marking = class.marking();
    let y_label = format!("{} index", cfg.target.replace('_', " "));
    let chart = XyChart {
        title: "Seasonal profile of the most violent regions",
        subtitle: &subtitle,
        x_label: "month of the year (1 = January)",
        y_label: &y_label,
        x_range: (0.5, 12.5),
        y_range: (0.0, (top * 1.1).min(12.0)),
        decimals: (0, 1),
        reference: (Reference::Horizontal(1.0), "an average month"),
        curves: &curves,
        footer: &footer,
        classification: &marking,
    };
    let (svg, png) = ("charts/seasonal-profile.svg", "charts/seasonal-profile.png");
    render_xy_chart(&chart, &writer.dir().join(svg), &writer.dir().join(png))?;
    let what = "month-of-year profile of the three most violent regions, with bootstrap bands";
    record_chart(writer, svg, png, class, what)?;
    Ok(())
}

/// Small multiples of the six most violent regions of the last year: the Mann-Kendall window
/// of history with Sen's slope line.
fn trends_chart(
    cfg: &ChartSettings<'_>,
    writer: &mut RunWriter,
    regions: &DataFrame,
    series: &[RegionSeries],
    trend: &DataFrame,
) -> Result<()> {
    let class = cfg.classification;
    let ids = text_values(trend, "region_id")?;
    let tests = text_values(trend, "test")?;
    let directions = text_values(trend, "direction")?;
    let num = |c: &str| float_values(trend, c);
    let (slope, intercept, n, p) = (num("slope")?, num("intercept")?, num("n")?, num("p")?);
    let year = cfg.frequency.periods_per_year();
    let ranked = most_violent(series, year);
    let names = region_lookup(regions, "region_name")?;
    // (region name, history, Sen's line, note)
    type Dated = (NaiveDate, f64);
    type Row = (String, Vec<Dated>, Option<[Dated; 2]>, String);
    let mut data: Vec<Row> = Vec::new();
    for (s, _) in ranked.into_iter().take(6) {
        let Some(i) = (0..ids.len()).find(|i| ids[*i] == s.region_id && tests[*i] == "mann_kendall") else {
            continue;
        };
        let keep = (n[i].max(0.0) as usize).clamp(1, s.y.len());
        let history: Vec<_> = s.ds[s.ds.len() - keep..]
            .iter()
            .copied()
            .zip(s.y[s.y.len() - keep..].iter().copied())
            .collect();
        let line = (slope[i].is_finite() && intercept[i].is_finite()).then(|| {
            [
                (history[0].0, intercept[i]),
                (history[keep - 1].0, intercept[i] + slope[i] * (keep - 1) as f64),
            ]
        });
        let note = if slope[i].is_finite() {
            let p = if p[i] < 0.001 {
                "p < 0.001".to_string()
            } else {
                format!("p = {:.3}", p[i])
            };
            format!("{:+.1} per {}, {p}: {}", slope[i], cfg.frequency, directions[i])
        } else {
            directions[i].clone()
        };
        let name = names
            .get(&s.region_id)
            .cloned()
            .unwrap_or_else(|| s.region_id.clone());
        data.push((name, history, line, note));
    }
    if data.is_empty() {
        return Ok(());
    }
    let panels: Vec<TrendPanel<'_>> = data
        .iter()
        .map(|(t, h, l, note)| TrendPanel {
            title: t,
            history: h,
            trend: *l,
            note,
        })
        .collect();
    let subtitle = format!(
        "{} per {}, the last {} {}s: Mann-Kendall test and Sen's slope, as of {}",
        cfg.target.replace('_', " "),
        cfg.frequency,
        cfg.mk_window,
        cfg.frequency,
        cfg.as_of
    );
    let footer = chart_footer(cfg, writer);
    let marking = class.marking();
    let chart = SmallMultiples {
        title: "Trends in the most violent regions",
        subtitle: &subtitle,
        panels: &panels,
        columns: 3,
        trend_label: "Sen's slope",
        footer: &footer,
        classification: &marking,
    };
    let (svg, png) = ("charts/trends.svg", "charts/trends.png");
    render_small_multiples(&chart, &writer.dir().join(svg), &writer.dir().join(png))?;
    let what = "small multiples of the six most violent regions' trends with Sen's slope";
    record_chart(writer, svg, png, class, what)?;
    Ok(())
}

/// Map categories of the emerging hot-spot classes (the first is the background).
const MAP_CATEGORIES: [&str; 7] = [
    "no pattern",
    "new hot spot",
    "consecutive hot spot",
    "intensifying hot spot",
    "persistent hot spot",
    "other hot spot",
    "cold spot",
];

fn map_category(class: &str) -> usize {
    match class {
        "new hot spot" => 1,
        "consecutive hot spot" => 2,
        "intensifying hot spot" => 3,
        "persistent hot spot" => 4,
        c if c.ends_with("hot spot") => 5,
        c if c.ends_with("cold spot") => 6,
        _ => 0,
    }
}

/// Maps of PRIO-GRID cells coloured by emerging hot-spot class for the (at most three)
/// countries with the most hot or cold cells; returns how many were drawn.
///
/// # Errors
///
/// When the hot-spot table lacks a column, a map cannot be drawn, or a file cannot be recorded.
pub fn hotspot_maps(
    cfg: &ChartSettings<'_>,
    writer: &mut RunWriter,
    classes: &CellClasses,
    cell_country: &HashMap<String, String>,
    country_names: &HashMap<String, String>,
) -> Result<usize> {
    let class = cfg.classification;
    // `country_names`: country code → name
    use std::collections::BTreeMap;
    // country → cell → category, for the cells with events (the ones with a country)
    let mut by_country: BTreeMap<String, BTreeMap<i64, usize>> = BTreeMap::new();
    for (g, cell_class) in classes {
        let Some(c) = cell_country.get(&grid_id(*g)) else {
            continue;
        };
        by_country
            .entry(c.clone())
            .or_default()
            .insert(*g, map_category(cell_class));
    }
    let mut ranked: Vec<(String, usize)> = by_country
        .iter()
        .map(|(c, cells)| (c.clone(), cells.values().filter(|k| **k != 0).count()))
        .filter(|(_, n)| *n > 0)
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let footer = chart_footer(cfg, writer);
    let marking = class.marking();
    let mut drawn = 0;
    for (country, n) in ranked.into_iter().take(3) {
        let cells: Vec<(i64, usize)> = by_country[&country].iter().map(|(g, k)| (*g, *k)).collect();
        let name = country_names
            .get(&country)
            .cloned()
            .unwrap_or_else(|| country.clone());
        let title = format!("Emerging hot spots: {name}");
        let subtitle = format!(
            "PRIO-GRID cells with events, Getis-Ord Gi* over {} yearly steps to {}; {n} hot or cold cells",
            cfg.cycles, cfg.as_of
        );
        let chart = CellMap {
            title: &title,
            subtitle: &subtitle,
            cells: &cells,
            categories: &MAP_CATEGORIES,
            footer: &footer,
            classification: &marking,
        };
        let charts = writer.dir().join("charts");
        std::fs::create_dir_all(&charts).map_err(|e| EngineError::io(&charts, e))?;
        let stem = format!("charts/hotspots-{}", slug(&country));
        let (svg, png) = (format!("{stem}.svg"), format!("{stem}.png"));
        render_cell_map(&chart, &writer.dir().join(&svg), &writer.dir().join(&png))?;
        let what = format!("emerging hot-spot classes of the PRIO-GRID cells of {name}");
        record_chart(writer, &svg, &png, class, &what)?;
        drawn += 1;
    }
    Ok(drawn)
}

/// The regions with violence in their last `periods` periods, most first (ties by id), with
/// their totals.
fn most_violent(series: &[RegionSeries], periods: usize) -> Vec<(&RegionSeries, f64)> {
    let mut ranked: Vec<(&RegionSeries, f64)> = series
        .iter()
        .map(|s| (s, s.y.iter().rev().take(periods).sum::<f64>()))
        .filter(|(_, v)| *v > 0.0)
        .collect();
    ranked.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then_with(|| a.0.region_id.cmp(&b.0.region_id))
    });
    ranked
}

/// Periods shown by the heatmap, and its most regions.
const HEATMAP_PERIODS: usize = 24;
const HEATMAP_REGIONS: usize = 20;

/// Region × period heatmap of the last [`HEATMAP_PERIODS`] periods for the regions with the
/// largest totals over them.
fn heatmap_chart(
    cfg: &ChartSettings<'_>,
    writer: &mut RunWriter,
    regions: &DataFrame,
    series: &[RegionSeries],
) -> Result<()> {
    let class = cfg.classification;
    let Some(first) = series.first() else {
        return Ok(());
    };
    let n = first.y.len();
    let keep = HEATMAP_PERIODS.min(n);
    let mut ranked = most_violent(series, keep);
    ranked.truncate(HEATMAP_REGIONS);
    if ranked.is_empty() {
        return Ok(());
    }
    let names = region_lookup(regions, "region_name")?;
    let rows: Vec<String> = ranked
        .iter()
        .map(|(s, _)| {
            names
                .get(&s.region_id)
                .cloned()
                .unwrap_or_else(|| s.region_id.clone())
        })
        .collect();
    let values: Vec<Vec<f64>> = ranked.iter().map(|(s, _)| s.y[n - keep..].to_vec()).collect();
    let columns = &first.ds[n - keep..];
    let subtitle = format!(
        "the {} {} regions with the most {} in the last {keep} {}s, as of {}",
        rows.len(),
        cfg.level,
        cfg.target.replace('_', " "),
        cfg.frequency,
        cfg.as_of
    );
    let value_label = format!("{} per {}", cfg.target.replace('_', " "), cfg.frequency);
    let footer = chart_footer(cfg, writer);
    let marking = class.marking();
    let chart = HeatmapChart {
        title: "Where and when: the most violent regions",
        subtitle: &subtitle,
        rows: &rows,
        columns,
        values: &values,
        value_label: &value_label,
        footer: &footer,
        classification: &marking,
    };
    let (svg, png) = ("charts/heatmap.svg", "charts/heatmap.png");
    render_heatmap(&chart, &writer.dir().join(svg), &writer.dir().join(png))?;
    let what = "region × period heatmap of the most violent regions";
    record_chart(writer, svg, png, class, what)?;
    Ok(())
}

/// Backtest skill by horizon: MSLE skill (1 − MSLE / the best baseline's MSLE at the same
/// horizon) of the pooled models and the local models, one line each.
fn skill_chart(cfg: &ChartSettings<'_>, writer: &mut RunWriter, skill: &[Skill]) -> Result<()> {
    let class = cfg.classification;
    let wanted = Model::SKILL_CHART.map(Model::as_str);
    let models: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|m| skill.iter().any(|s| s.model == *m))
        .collect();
    let data: Vec<(String, Vec<(f64, f64)>)> = models
        .iter()
        .map(|m| {
            let mut pts: Vec<(f64, f64)> = skill
                .iter()
                .filter(|s| s.model == *m && s.msle.is_finite())
                .filter_map(|s| s.horizon.map(|h| (h as f64, s.msle)))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            (m.replace('_', " "), pts)
        })
        .filter(|(_, p)| !p.is_empty())
        .collect();
    if data.is_empty() {
        return Ok(());
    }
    let lo = data
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(0.0f64, f64::min);
    let hi = data
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(0.0f64, f64::max);
    let curves: Vec<XyCurve<'_>> = data
        .iter()
        .map(|(l, p)| XyCurve {
            label: l,
            points: p,
            band: &[],
        })
        .collect();
    let title = "Backtest skill by horizon";
    let subtitle = format!(
        "MSLE skill against the best baseline at each horizon (above 0: better), {} origins, {} level",
        cfg.origins, cfg.level
    );
    let footer = chart_footer(cfg, writer);
    let marking = class.marking();
    let chart = XyChart {
        title,
        subtitle: &subtitle,
        x_label: "horizon (periods ahead)",
        y_label: "MSLE skill",
        x_range: (0.5, cfg.horizon as f64 + 0.5),
        y_range: ((lo * 1.1).max(-1.0), (hi * 1.1).max(0.05)),
        decimals: (0, 2),
        reference: (Reference::Horizontal(0.0), "no skill"),
        curves: &curves,
        footer: &footer,
        classification: &marking,
    };
    let (svg, png) = ("charts/skill-by-horizon.svg", "charts/skill-by-horizon.png");
    render_xy_chart(&chart, &writer.dir().join(svg), &writer.dir().join(png))?;
    let what = "MSLE skill of every model by horizon against the best baseline";
    record_chart(writer, svg, png, class, what)?;
    Ok(())
}

/// The source line of every chart: the inputs and the run.
fn chart_footer(cfg: &ChartSettings<'_>, writer: &RunWriter) -> String {
    format!("Source: {}; vigil run {}", cfg.sources, writer.run_id())
}

/// Records a chart's SVG and PNG files in the run.
fn record_chart(
    writer: &mut RunWriter,
    svg: &str,
    png: &str,
    class: Classification,
    what: &str,
) -> Result<()> {
    writer.record(svg, None, class, what)?;
    writer.record(png, None, class, what)?;
    Ok(())
}

/// Columns of a forecast that a fan chart draws (as forecasts.parquet names them).
const FAN_COLUMNS: [&str; 10] = [
    "mean", "q025", "q05", "q10", "q25", "q50", "q75", "q90", "q95", "q975",
];

/// Region `r`'s forecast by model `m` (a place in `fc.backtest.models`), by period after the
/// region's last observed one, as the fan charts draw it: the mean, then the quantiles at the
/// run's probabilities (the order of [`FAN_COLUMNS`]).
fn fan(
    series: &[RegionSeries],
    fc: &ForecastStage,
    frequency: Frequency,
    r: usize,
    m: usize,
) -> Vec<(NaiveDate, [f64; 10])> {
    let Some(f) = fc
        .forecasts
        .get(m)
        .and_then(|per| per.iter().find(|f| f.index == r))
    else {
        return Vec::new();
    };
    let Some(mut period) = series[r].ds.last().copied() else {
        return Vec::new();
    };
    (0..f.forecast.horizon())
        .map(|k| {
            period = frequency.next(period);
            let mut v = [f64::NAN; 10];
            v[0] = f.forecast.mean[k];
            for (slot, q) in v[1..].iter_mut().zip(&f.forecast.quantiles) {
                *slot = q[k];
            }
            (period, v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn slugs_fold_accents_and_keep_ids_readable() {
        assert_eq!(slug("70/Michoacán state"), "70-michoacan-state");
        assert_eq!(slug("432/Ménaka région"), "432-menaka-region");
        assert_eq!(slug("pg153000"), "pg153000");
        assert_eq!(slug("482/unknown"), "482-unknown");
    }
}
