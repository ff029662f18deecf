//! Tests of the chart renderers: files written, sizes, refusals, axis labels.

use super::draw::*;
use super::*;
use chrono::NaiveDate;
use plotters::coord::ranged1d::ValueFormatter;
use std::error::Error;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

type TestResult = Result<(), Box<dyn Error>>;

fn scratch_dir(name: &str) -> std::io::Result<PathBuf> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "vigil-charts-{}-{}-{}",
        name,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn month(start: NaiveDate, offset: u32) -> Option<NaiveDate> {
    start.checked_add_months(chrono::Months::new(offset))
}

fn series(start: NaiveDate, n: u32, f: impl Fn(u32) -> f64) -> Result<Vec<(NaiveDate, f64)>, Box<dyn Error>> {
    (0..n)
        .map(|i| Ok((month(start, i).ok_or("date out of range")?, f(i))))
        .collect()
}

#[test]
fn renders_svg_and_png() -> TestResult {
    let start = NaiveDate::from_ymd_opt(2012, 1, 1).ok_or("bad date")?;
    let history = series(start, 120, |i| {
        let i = f64::from(i);
        if i == 50.0 {
            f64::NAN
        } else {
            20.0 + 10.0 * (i / 7.0).sin() + i * 0.4
        }
    })?;
    let forecast_start = month(start, 120).ok_or("bad date")?;
    let trend = series(forecast_start, 12, |i| 68.0 + f64::from(i))?;
    let flat = series(forecast_start, 12, |_| 60.0)?;
    let forecasts = [
        ForecastLine {
            label: "linear trend",
            points: &trend,
        },
        ForecastLine {
            label: "last value",
            points: &flat,
        },
    ];
    let lower = series(forecast_start, 12, |i| 50.0 + f64::from(i))?;
    let upper = series(forecast_start, 12, |i| 90.0 + 2.0 * f64::from(i))?;
    let bands = [ForecastBand {
        label: "80% interval",
        lower: &lower,
        upper: &upper,
    }];
    let chart = SeriesChart {
        title: "Gao region (Mali)",
        subtitle: "Fatalities (best estimate) per month, as of 2021-12-31",
        y_label: "fatalities",
        history: &history,
        forecasts: &forecasts,
        bands: &bands,
        footer: "Source: UCDP GED / mission data, vigil run 2021-12-31-ab12cd34",
        classification: "public",
    };
    let dir = scratch_dir("render")?;
    let (svg_path, png_path) = (dir.join("gao.svg"), dir.join("gao.png"));
    render_series_chart(&chart, &svg_path, &png_path)?;

    let png = std::fs::read(&png_path)?;
    assert!(png.len() > 24);
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&png[12..16], b"IHDR");
    let w = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let h = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    assert_eq!((w, h), CHART_SIZE);

    let svg = std::fs::read_to_string(&svg_path)?;
    assert!(
        svg.starts_with("<svg"),
        "SVG starts with {:?}",
        &svg[..svg.len().min(40)]
    );
    assert!(svg.contains("Gao region (Mali)"));
    assert!(svg.contains("PUBLIC"));
    assert!(svg.contains("linear trend"));
    assert!(svg.contains("\n2015\n"), "year ticks are labelled");

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn xy_charts_render_with_their_reference_line_and_refuse_no_data() -> TestResult {
    let points = [(0.05, 0.07), (0.25, 0.3), (0.95, 0.9)];
    let band = [(0.05, 0.0, 0.1), (0.25, 0.2, 0.4), (0.95, 0.8, 1.0)];
    let curves = [XyCurve {
        label: "ensemble (ECE 0.03)",
        points: &points,
        band: &band,
    }];
    let chart = XyChart {
        title: "Reliability of P(fatalities ≥ 1)",
        subtitle: "backtest",
        x_label: "forecast probability",
        y_label: "observed frequency",
        x_range: (0.0, 1.0),
        y_range: (0.0, 1.0),
        decimals: (1, 1),
        reference: (Reference::Diagonal, "perfect calibration"),
        curves: &curves,
        footer: "Source: UCDP GED",
        classification: "restricted",
    };
    let dir = scratch_dir("xy")?;
    let (svg_path, png_path) = (dir.join("r.svg"), dir.join("r.png"));
    render_xy_chart(&chart, &svg_path, &png_path)?;
    let png = std::fs::read(&png_path)?;
    let w = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let h = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    assert_eq!((w, h), CHART_SIZE);
    let svg = std::fs::read_to_string(&svg_path)?;
    for text in [
        "Reliability of P(fatalities",
        "RESTRICTED",
        "perfect calibration",
        "observed frequency",
    ] {
        assert!(svg.contains(text), "{text} missing from the SVG");
    }
    let empty = XyChart { curves: &[], ..chart };
    let result = render_xy_chart(&empty, &svg_path, &png_path);
    assert!(matches!(result, Err(ChartError::Empty { .. })));
    Ok(())
}

#[test]
fn heatmaps_grow_with_their_rows_and_label_them() -> TestResult {
    let start = NaiveDate::from_ymd_opt(2020, 1, 1).ok_or("bad date")?;
    let columns: Vec<NaiveDate> = (0..24).filter_map(|m| month(start, m)).collect();
    let rows: Vec<String> = (0..30)
        .map(|i| format!("Region number {i} (Somewhere)"))
        .collect();
    let values: Vec<Vec<f64>> = (0..30)
        .map(|r| {
            (0..24)
                .map(|c| if c == 3 { f64::NAN } else { f64::from(r * c) })
                .collect()
        })
        .collect();
    let chart = HeatmapChart {
        title: "Where and when",
        subtitle: "test",
        rows: &rows,
        columns: &columns,
        values: &values,
        value_label: "fatalities per month",
        footer: "Source: test",
        classification: "public",
    };
    let dir = scratch_dir("heatmap")?;
    let (svg_path, png_path) = (dir.join("h.svg"), dir.join("h.png"));
    render_heatmap(&chart, &svg_path, &png_path)?;
    let png = std::fs::read(&png_path)?;
    let h = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    assert_eq!(h, heatmap_height(30));
    assert!(h > CHART_SIZE.1);
    let svg = std::fs::read_to_string(&svg_path)?;
    for text in [
        "Region number 0 (Somewhere)",
        "Region number 29",
        "2020-04",
        "PUBLIC",
    ] {
        assert!(svg.contains(text), "{text} missing from the SVG");
    }
    let none = HeatmapChart { rows: &[], ..chart };
    assert!(matches!(
        render_heatmap(&none, &svg_path, &png_path),
        Err(ChartError::Empty { .. })
    ));
    Ok(())
}

#[test]
fn prio_grid_cells_sit_where_the_grid_says() {
    // gid 1 is the south-west corner, 259,200 the north-east one; the cell near Bamako
    // centred at 12.75° N, 8.25° W is row 206, column 344: gid = 205 × 720 + 344
    assert_eq!(prio_grid_centre(1), (-179.75, -89.75));
    assert_eq!(prio_grid_centre(259_200), (179.75, 89.75));
    assert_eq!(prio_grid_centre(147_944), (-8.25, 12.75));
}

#[test]
fn cell_maps_render_and_refuse_no_cells() -> TestResult {
    let cells = [(147_944, 1), (147_945, 0), (148_664, 2)];
    let chart = CellMap {
        title: "Emerging hot spots",
        subtitle: "test",
        cells: &cells,
        categories: &["no pattern detected", "new hot spot", "consecutive hot spot"],
        footer: "Source: test",
        classification: "public",
    };
    let dir = scratch_dir("map")?;
    let (svg_path, png_path) = (dir.join("m.svg"), dir.join("m.png"));
    render_cell_map(&chart, &svg_path, &png_path)?;
    let svg = std::fs::read_to_string(&svg_path)?;
    for text in ["Emerging hot spots", "new hot spot", "longitude", "°W"] {
        assert!(svg.contains(text), "{text} missing from the SVG");
    }
    let none = CellMap { cells: &[], ..chart };
    assert!(matches!(
        render_cell_map(&none, &svg_path, &png_path),
        Err(ChartError::Empty { .. })
    ));
    Ok(())
}

#[test]
fn small_multiples_fill_a_grid_of_panels() -> TestResult {
    let start = NaiveDate::from_ymd_opt(2019, 1, 1).ok_or("bad date")?;
    let history = series(start, 36, |i| 10.0 + f64::from(i))?;
    let end = month(start, 35).ok_or("bad date")?;
    let panels: Vec<TrendPanel<'_>> = ["Gao", "Mopti", "Kidal", "Ménaka", "Tombouctou"]
        .iter()
        .map(|t| TrendPanel {
            title: t,
            history: &history,
            trend: Some([(start, 10.0), (end, 45.0)]),
            note: "+1.0 per month (p < 0.001)",
        })
        .collect();
    let chart = SmallMultiples {
        title: "Trends",
        subtitle: "test",
        panels: &panels,
        columns: 3,
        trend_label: "Sen's slope",
        footer: "Source: test",
        classification: "public",
    };
    let dir = scratch_dir("small")?;
    let (svg_path, png_path) = (dir.join("s.svg"), dir.join("s.png"));
    render_small_multiples(&chart, &svg_path, &png_path)?;
    let png = std::fs::read(&png_path)?;
    let h = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    assert_eq!(h, small_multiples_height(2));
    let svg = std::fs::read_to_string(&svg_path)?;
    for text in ["Ménaka", "Tombouctou", "Sen&apos;s slope", "+1.0 per month"] {
        assert!(
            svg.contains(text) || svg.contains(&text.replace("&apos;", "'")),
            "{text} missing"
        );
    }
    Ok(())
}

#[test]
fn empty_history_is_an_error() -> TestResult {
    let dir = scratch_dir("empty")?;
    let chart = SeriesChart {
        title: "Nowhere",
        subtitle: "",
        y_label: "events",
        history: &[],
        forecasts: &[],
        bands: &[],
        footer: "",
        classification: "PUBLIC",
    };
    let result = render_series_chart(&chart, &dir.join("a.svg"), &dir.join("a.png"));
    assert!(matches!(result, Err(ChartError::Empty { ref title }) if title == "Nowhere"));
    assert!(!dir.join("a.png").exists());
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn all_zero_and_single_point_histories_render() -> TestResult {
    let start = NaiveDate::from_ymd_opt(2020, 3, 31).ok_or("bad date")?;
    let zeros = series(start, 24, |_| 0.0)?;
    let single = [(start, 4.0)];
    let dir = scratch_dir("zero")?;
    for (name, history) in [("zeros", &zeros[..]), ("single", &single[..])] {
        let chart = SeriesChart {
            title: name,
            subtitle: "",
            y_label: "events",
            history,
            forecasts: &[],
            bands: &[],
            footer: "",
            classification: "PUBLIC",
        };
        render_series_chart(
            &chart,
            &dir.join(format!("{name}.svg")),
            &dir.join(format!("{name}.png")),
        )?;
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn wrong_png_extension_is_a_draw_error() -> TestResult {
    let dir = scratch_dir("ext")?;
    let start = NaiveDate::from_ymd_opt(2020, 1, 1).ok_or("bad date")?;
    let history = series(start, 3, f64::from)?;
    let chart = SeriesChart {
        title: "t",
        subtitle: "",
        y_label: "events",
        history: &history,
        forecasts: &[],
        bands: &[],
        footer: "",
        classification: "PUBLIC",
    };
    let png_path = dir.join("a.bin");
    let result = render_series_chart(&chart, &dir.join("a.svg"), &png_path);
    assert!(matches!(result, Err(ChartError::Draw { ref path, .. }) if *path == png_path));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn y_range_and_labels() {
    assert_eq!(nice_y_range(0.0, 0.0), 0.0..1.0);
    let r = nice_y_range(0.0, 97.0);
    assert!(r.start == 0.0 && r.end >= 97.0 && r.end <= 120.0, "{r:?}");
    assert_eq!(format_y(&12000.0), "12,000");
    assert_eq!(format_y(&0.0), "0");
    assert_eq!(format_y(&2.5), "2.5");
    assert_eq!(
        DateAxis::format(&day_number(
            NaiveDate::from_ymd_opt(2019, 1, 1).unwrap_or_default()
        )),
        "2019"
    );
    assert_eq!(
        DateAxis::format(&day_number(
            NaiveDate::from_ymd_opt(2019, 6, 1).unwrap_or_default()
        )),
        "2019-06"
    );
}
