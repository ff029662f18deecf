//! The report pack: one self-contained HTML file per run (`report.html`) for headquarters,
//! readable offline and printable. Everything in it is read back from the run folder (tables,
//! quality report, chart SVGs), so the run and `vigil report RUN` produce the same file.
//!
//! The page has no script and fetches nothing: styles are inline, charts are inline SVG, and
//! the text is escaped. A classification banner stands at the top and the bottom (repeated on
//! every printed page).

use polars::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use vigil_core::Classification;
use vigil_core::data::read::{float_values, text_values};
use vigil_core::error::EngineError;
use vigil_core::output::catalogue;

/// What the report says about the run itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportMeta {
    /// The job's name.
    pub job: String,
    /// The run id.
    pub run_id: String,
    /// The as-of date.
    pub as_of: String,
    /// The run's classification.
    pub classification: Classification,
}

/// The files of the run listed in the provenance section: (file, sha256).
pub type Provenance = Vec<(String, String)>;

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn read(dir: &Path, file: &str) -> Result<DataFrame, EngineError> {
    vigil_core::data::read::read_parquet(&dir.join(file))
}

/// A count with thousands separators.
fn count(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Key findings in words, from the run's tables.
pub fn findings(dir: &Path) -> Result<Vec<String>, EngineError> {
    let mut out = Vec::new();
    let regions = read(dir, catalogue::REGIONS.file)?;
    let names: BTreeMap<String, String> = text_values(&regions, "region_id")?
        .into_iter()
        .zip(text_values(&regions, "region_name")?)
        .collect();
    let level = text_values(&regions, "level")?
        .first()
        .cloned()
        .unwrap_or_default();
    // Only the last month's rows of the change table are needed; it has a row per region and
    // month at every level (36M rows at 50k regions), so read the last month alone.
    let path = dir.join(catalogue::CHANGE.file);
    let ctx = || format!("reading {}", path.display());
    let scan = vigil_core::data::read::scan_parquet(&path)?;
    let last = scan
        .clone()
        .select([col("ds").cast(DataType::Int32).max()])
        .collect()
        .map_err(EngineError::polars(ctx()))?;
    let last = last
        .columns()
        .first()
        .and_then(|c| c.get(0).ok())
        .and_then(|v| v.extract::<i32>());
    let (lv, id, sum, prev) = match last {
        None => Default::default(),
        Some(last) => {
            let change = scan
                .filter(
                    col("ds").eq(lit(last).cast(DataType::Date)).and(
                        col("level")
                            .eq(lit("country"))
                            .or(col("level").eq(lit(level.as_str()))),
                    ),
                )
                .select([
                    col("level"),
                    col("region_id"),
                    col("rolling_sum"),
                    col("rolling_sum_prev"),
                ])
                .collect()
                .map_err(EngineError::polars(ctx()))?;
            (
                text_values(&change, "level")?,
                text_values(&change, "region_id")?,
                float_values(&change, "rolling_sum")?,
                float_values(&change, "rolling_sum_prev")?,
            )
        }
    };
    let at_last = |l: &str| -> Vec<usize> { (0..lv.len()).filter(|i| lv[*i] == l).collect() };
    let (now, before): (f64, f64) = at_last("country")
        .into_iter()
        .filter(|i| sum[*i].is_finite() && prev[*i].is_finite())
        .fold((0.0, 0.0), |(a, b), i| (a + sum[i], b + prev[i]));
    if before > 0.0 {
        out.push(format!(
            "{} fatalities in the last 12 months across all countries, {} than the 12 months before ({:+.0}%).",
            count(now),
            if now >= before { "more" } else { "fewer" },
            100.0 * (now - before) / before
        ));
    }
    let mut rises: Vec<(usize, f64)> = at_last(&level)
        .into_iter()
        .filter(|i| prev[*i] >= 25.0 && sum[*i].is_finite())
        .map(|i| (i, (sum[i] - prev[i]) / prev[i]))
        .filter(|(_, r)| *r > 0.0)
        .collect();
    rises.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    for (i, r) in rises.into_iter().take(3) {
        let name = names.get(&id[i]).cloned().unwrap_or_else(|| id[i].clone());
        out.push(format!(
            "Violence in {name} rose {:.0}% year on year ({} → {} fatalities in 12 months).",
            100.0 * r,
            count(prev[i]),
            count(sum[i])
        ));
    }
    let alerts = read(dir, catalogue::ALERTS.file)?;
    let levels = text_values(&alerts, "level")?;
    let alert_regions = text_values(&alerts, "region_id")?;
    let high: std::collections::BTreeSet<&String> = alert_regions
        .iter()
        .zip(&levels)
        .filter(|(_, l)| *l == "high")
        .map(|(r, _)| r)
        .collect();
    if !levels.is_empty() {
        out.push(format!(
            "{} alerts for the next months: {} region(s) at a high level, where a month of 25 or more fatalities is more likely than not.",
            levels.len(),
            high.len()
        ));
    }
    let hot = read(dir, catalogue::HOTSPOTS.file)?;
    let (cells, classes) = (float_values(&hot, "grid_id")?, text_values(&hot, "class")?);
    let mut by_class: BTreeMap<&str, std::collections::BTreeSet<i64>> = BTreeMap::new();
    for (g, c) in cells.iter().zip(&classes) {
        if g.is_finite() {
            by_class.entry(c.as_str()).or_default().insert(*g as i64);
        }
    }
    let new = by_class.get("new hot spot").map_or(0, |s| s.len());
    let consecutive = by_class.get("consecutive hot spot").map_or(0, |s| s.len());
    if new + consecutive > 0 {
        out.push(format!(
            "{new} PRIO-GRID cells are new hot spots and {consecutive} are consecutive hot spots in the latest year."
        ));
    }
    let metrics = read(dir, catalogue::METRICS.file)?;
    let (models, msle) = (text_values(&metrics, "model")?, float_values(&metrics, "msle")?);
    let horizon = float_values(&metrics, "horizon")?;
    let overall = |m: &str| {
        (0..models.len())
            .find(|i| models[*i] == m && horizon[*i].is_nan())
            .map(|i| msle[i])
    };
    let best_baseline = vigil_core::forecast::catalogue::baselines()
        .iter()
        .filter(|b| **b != "zero")
        .filter_map(|b| overall(b).map(|v| (*b, v)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    if let (Some(e), Some((b, bv))) = (overall("ensemble"), best_baseline) {
        out.push(format!(
            "On the backtest the ensemble's squared log error is {:.0}% lower than the best simple baseline ({}).",
            100.0 * (1.0 - e / bv),
            b.replace('_', " ")
        ));
    }
    Ok(out)
}

/// How to read the fan charts, with how often the published model's bands held the outcome on
/// the backtest (so a reader knows whether "95%" means 95%).
fn fan_chart_note(dir: &Path) -> Result<String, EngineError> {
    let metrics = read(dir, catalogue::METRICS.file)?;
    let models = text_values(&metrics, "model")?;
    let horizon = float_values(&metrics, "horizon")?;
    // Runs made before the 95% band have no coverage_95: their report says nothing about it.
    let c95 = match metrics.column("coverage_95") {
        Ok(_) => float_values(&metrics, "coverage_95")?,
        Err(_) => vec![f64::NAN; models.len()],
    };
    let c80 = float_values(&metrics, "coverage_80")?;
    let mut note = String::from(
        "Fan charts (NN-<region>) show the regions with alerts first, then the largest \
         forecasts: the line after the last observed month is the published model's median, the \
         shaded bands its 50, 80, 90 and 95% intervals; naive (the last month carried forward) \
         is drawn for reference.",
    );
    let published = ["ensemble", "selected"]
        .into_iter()
        .find_map(|m| (0..models.len()).find(|i| models[*i] == m && horizon[*i].is_nan()));
    if let Some(i) = published.filter(|i| c95[*i].is_finite()) {
        let _ = write!(
            note,
            " On the backtest the {} model's 80% band held {:.0}% of the outcomes and its 95% band \
             {:.0}%{}",
            models[i],
            100.0 * c80[i],
            100.0 * c95[i],
            if c95[i] < 0.9 {
                ": the outer bands are narrower than their names say."
            } else {
                "."
            }
        );
    }
    Ok(note)
}

const STYLE: &str = "
body{font-family:'DejaVu Sans',Verdana,sans-serif;margin:0;color:#1a1a1a;line-height:1.45}
main{max-width:1040px;margin:0 auto;padding:0 24px 48px}
.banner{background:#1a1a1a;color:#fff;text-align:center;font-weight:bold;letter-spacing:.12em;padding:6px 0}
h1{font-size:1.7em;margin:.8em 0 .2em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ccc}
.meta{color:#4d4d4d}
table{border-collapse:collapse;font-size:.86em;width:100%}
th,td{border-bottom:1px solid #e2e2e2;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.high{color:#a33a00;font-weight:bold}.elevated{color:#8a6100;font-weight:bold}
figure{margin:1.2em 0;page-break-inside:avoid}figure svg{width:100%;height:auto}
figcaption{color:#4d4d4d;font-size:.85em}
code{font-size:.82em}
@media print{
 .banner{position:fixed;left:0;right:0}
 .banner.top{top:0}.banner.bottom{bottom:0}
 main{padding-top:32px;padding-bottom:32px}
 h2{page-break-before:always}h2.first{page-break-before:avoid}
 a{color:inherit;text-decoration:none}
}
@page{margin:18mm 12mm}
";

/// The report of the run in `dir`, listing `provenance` (the run's files and hashes).
pub fn render(dir: &Path, meta: &ReportMeta, provenance: &Provenance) -> Result<String, EngineError> {
    let marking = escape(&meta.classification.marking());
    let mut h = String::new();
    let w = |h: &mut String, s: &str| h.push_str(s);
    w(
        &mut h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
    );
    let _ = write!(
        h,
        "<title>{} — vigil run {}</title><style>{STYLE}</style></head><body>",
        escape(&meta.job),
        escape(&meta.run_id)
    );
    let _ = write!(
        h,
        "<div class=\"banner top\" id=\"classification-top\">{marking}</div><main>"
    );
    let _ = write!(
        h,
        "<h1>Early-warning report: {}</h1><p class=\"meta\">Data as of <b>{}</b> · vigil run <code>{}</code> · classification {}</p>",
        escape(&meta.job),
        escape(&meta.as_of),
        escape(&meta.run_id),
        marking
    );

    w(&mut h, "<h2 class=\"first\">Key findings</h2><ul>");
    for f in findings(dir)? {
        let _ = write!(h, "<li>{}</li>", escape(&f));
    }
    w(&mut h, "</ul>");

    // alerts
    let alerts = read(dir, catalogue::ALERTS.file)?;
    let (ids, levels) = (text_values(&alerts, "region_id")?, text_values(&alerts, "level")?);
    let (reasons, drivers) = (text_values(&alerts, "reasons")?, text_values(&alerts, "drivers")?);
    let (p_any, p_major, horizon) = (
        float_values(&alerts, "p_any")?,
        float_values(&alerts, "p_major")?,
        float_values(&alerts, "horizon")?,
    );
    let regions = read(dir, catalogue::REGIONS.file)?;
    let names: BTreeMap<String, String> = text_values(&regions, "region_id")?
        .into_iter()
        .zip(text_values(&regions, "region_name")?)
        .collect();
    let _ = write!(
        h,
        "<h2>Alerts</h2><p>{} region-months with a reason for concern, most serious first (the first 40 are listed; all are in <code>alerts.parquet</code>).</p>",
        ids.len()
    );
    w(
        &mut h,
        "<table><tr><th>region</th><th>months ahead</th><th>level</th><th>P(any)</th><th>P(≥ 25)</th><th>reasons</th><th>drivers</th></tr>",
    );
    for i in 0..ids.len().min(40) {
        let name = names.get(&ids[i]).cloned().unwrap_or_else(|| ids[i].clone());
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"{}\">{}</td><td class=\"num\">{:.2}</td><td class=\"num\">{:.2}</td><td>{}</td><td><code>{}</code></td></tr>",
            escape(&name),
            horizon[i],
            escape(&levels[i]),
            escape(&levels[i]),
            p_any[i],
            p_major[i],
            escape(&reasons[i]),
            escape(&drivers[i])
        );
    }
    w(&mut h, "</table>");

    // charts, in file-name order
    w(&mut h, "<h2>Charts</h2>");
    let _ = write!(h, "<p>{}</p>", escape(&fan_chart_note(dir)?));
    let mut svgs: Vec<std::path::PathBuf> = std::fs::read_dir(dir.join("charts"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "svg"))
                .collect()
        })
        .unwrap_or_default();
    svgs.sort();
    for path in &svgs {
        let text = std::fs::read_to_string(path).map_err(|e| EngineError::io(path, e))?;
        // the XML declaration may not stand inside HTML
        let body = text.find("<svg").map_or(text.as_str(), |i| &text[i..]);
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = write!(
            h,
            "<figure>{body}<figcaption>charts/{} (also as PNG)</figcaption></figure>",
            escape(&file)
        );
    }

    // methods and data quality
    w(
        &mut h,
        "<h2>Methods and data quality</h2><p>Incidents are checked against one canonical schema; \
         rows that break a rule are quarantined with the rule and row number, never dropped \
         silently. Counts are summed by region and month (a region with no event in a month \
         counts 0). Forecasts come from ten local models, two global count models (negative \
         binomial and hurdle) and their ensemble, each scored on a rolling-origin backtest; trends \
         from Mann-Kendall tests with Sen's slope; hot spots from Getis-Ord Gi* on PRIO-GRID cells.</p>",
    );
    let qpath = dir.join(catalogue::QUALITY.file);
    let quality: serde_json::Value = std::fs::read_to_string(&qpath)
        .map_err(|e| EngineError::io(&qpath, e))
        .and_then(|t| {
            serde_json::from_str(&t).map_err(|e| EngineError::Json {
                path: qpath.clone(),
                source: e,
            })
        })?;
    w(
        &mut h,
        "<table><tr><th>input</th><th>rows read</th><th>accepted</th><th>quarantined</th><th>by rule</th><th>warnings</th></tr>",
    );
    for input in quality["inputs"].as_array().into_iter().flatten() {
        let by = |key: &str| -> String {
            input[key]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "none".into())
        };
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            escape(input["file"].as_str().unwrap_or("")),
            input["rows_read"],
            input["rows_accepted"],
            input["rows_quarantined"],
            escape(&by("rules")),
            escape(&by("warnings"))
        );
    }
    w(&mut h, "</table>");

    // provenance
    w(
        &mut h,
        "<h2>Provenance</h2><p>Every file of the run with its sha256 (the full record, with inputs and their hashes, is <code>manifest.json</code>).</p><table><tr><th>file</th><th>sha256</th></tr>",
    );
    for (file, sha) in provenance {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td><code>{}</code></td></tr>",
            escape(file),
            escape(sha)
        );
    }
    w(&mut h, "</table>");
    let _ = writeln!(
        h,
        "</main><div class=\"banner bottom\" id=\"classification-bottom\">{marking}</div></body></html>"
    );
    Ok(h)
}

/// The provenance list of a finished run: the manifest's outputs without the report itself.
pub fn provenance_from_manifest(run: &Path) -> Result<Provenance, EngineError> {
    let path = run.join(catalogue::MANIFEST.file);
    let text = std::fs::read_to_string(&path).map_err(|e| EngineError::io(&path, e))?;
    let m: serde_json::Value = serde_json::from_str(&text).map_err(|e| EngineError::Json {
        path: path.clone(),
        source: e,
    })?;
    Ok(m["outputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| Some((o["file"].as_str()?.to_string(), o["sha256"].as_str()?.to_string())))
        .filter(|(f, _)| f != REPORT)
        .collect())
}

pub use vigil_core::output::REPORT;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_counts_are_grouped() {
        assert_eq!(escape("<b>\"R&D\"</b>"), "&lt;b&gt;&quot;R&amp;D&quot;&lt;/b&gt;");
        assert_eq!(count(1234567.0), "1,234,567");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(-1000.0), "-1,000");
    }

    /// Writes a table the way a run writes its outputs.
    fn write(dir: &Path, file: &str, columns: Vec<Column>) {
        let height = columns.first().map_or(0, |c| c.len());
        let mut df = DataFrame::new(height, columns).unwrap();
        vigil_core::output::write_parquet(&dir.join(file), &mut df, Classification::Public, "test").unwrap();
    }

    fn text(name: &str, v: &[&str]) -> Column {
        Column::new(name.into(), v)
    }

    /// The findings on the change table use its last month only, at the country level and at
    /// the run's own level: earlier months and other levels, with larger numbers, must not count.
    #[test]
    fn findings_read_the_last_month_of_the_change_table() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(
            d,
            "regions.parquet",
            vec![
                text("region_id", &["a1", "a2"]),
                text("region_name", &["North", "South"]),
                text("level", &["admin1", "admin1"]),
            ],
        );
        // (level, region, month, rolling sum, the 12 months before)
        let rows = [
            ("country", "C1", 599, 1000.0, 10.0),
            ("country", "C1", 600, 300.0, 100.0),
            ("country", "C2", 600, 60.0, 100.0),
            ("admin1", "a1", 599, 1000.0, 30.0),
            ("admin1", "a1", 600, 90.0, 30.0),
            ("admin1", "a2", 600, 40.0, 20.0),
            ("admin2", "x", 600, 500.0, 25.0),
        ];
        let months: Vec<i32> = rows.iter().map(|r| r.2).collect();
        write(
            d,
            "change.parquet",
            vec![
                text("level", &rows.map(|r| r.0)),
                text("region_id", &rows.map(|r| r.1)),
                Column::new("ds".into(), months).cast(&DataType::Date).unwrap(),
                Column::new("rolling_sum".into(), rows.map(|r| r.3)),
                Column::new("rolling_sum_prev".into(), rows.map(|r| r.4)),
            ],
        );
        write(
            d,
            "alerts.parquet",
            vec![text("level", &[]), text("region_id", &[])],
        );
        write(
            d,
            "hotspots.parquet",
            vec![
                Column::new("grid_id".into(), Vec::<f64>::new()),
                text("class", &[]),
            ],
        );
        write(
            d,
            "metrics.parquet",
            vec![
                text("model", &[]),
                Column::new("msle".into(), Vec::<f64>::new()),
                Column::new("horizon".into(), Vec::<f64>::new()),
            ],
        );
        assert_eq!(
            findings(d).unwrap(),
            [
                "360 fatalities in the last 12 months across all countries, more than the 12 months before (+80%).",
                "Violence in North rose 200% year on year (30 → 90 fatalities in 12 months).",
            ]
        );
    }
}
