//! The fan chart: a region's history with forecast lines and shaded quantile bands.

use super::draw::DrawResult;
use super::draw::*;
use chrono::NaiveDate;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::ops::Range;
use std::path::Path;

/// One forecast line drawn after the history.
#[derive(Debug, Clone, Copy)]
pub struct ForecastLine<'a> {
    /// Name of the forecast, shown in the legend (e.g. "linear trend").
    pub label: &'a str,
    /// Forecast values by date; NaN values are skipped.
    pub points: &'a [(NaiveDate, f64)],
}

/// A forecast interval drawn as a shaded band (e.g. the 10%–90% quantiles as "80%").
#[derive(Debug, Clone, Copy)]
pub struct ForecastBand<'a> {
    /// Name in the legend, e.g. "80% interval".
    pub label: &'a str,
    /// Lower edge by date.
    pub lower: &'a [(NaiveDate, f64)],
    /// Upper edge by date (same dates as `lower`).
    pub upper: &'a [(NaiveDate, f64)],
}

/// A region's history with forecasts.
#[derive(Debug, Clone, Copy)]
pub struct SeriesChart<'a> {
    /// Chart title, e.g. "Gao region (Mali)".
    pub title: &'a str,
    /// Line under the title, e.g. "Fatalities (best estimate) per month, as of 2021-12-31".
    pub subtitle: &'a str,
    /// Label of the y axis, e.g. "fatalities".
    pub y_label: &'a str,
    /// Observed values by date (drawn as "observed"); NaN values are skipped.
    pub history: &'a [(NaiveDate, f64)],
    /// Forecast lines drawn after the history, each in its own colour.
    pub forecasts: &'a [ForecastLine<'a>],
    /// Forecast bands, widest first, shaded in the first forecast's colour (a fan chart).
    pub bands: &'a [ForecastBand<'a>],
    /// Source line in small grey text at the bottom left, e.g.
    /// "Source: UCDP GED / mission data, vigil run 2021-12-31-ab12cd34".
    pub footer: &'a str,
    /// Classification marking shown in capitals top-right and bottom-right, e.g. "PUBLIC".
    pub classification: &'a str,
}

/// Draws the chart twice, as SVG at `svg_path` and PNG at `png_path` (same content).
///
/// The PNG encoder picks the image format from the file extension, so `png_path` must end in
/// `.png`. Parent directories must exist. History and forecast points need not be sorted; NaN
/// values are skipped (lines break at them).
///
/// # Errors
///
/// [`ChartError::Empty`] when the history has no (non-NaN) values; [`ChartError::Draw`] when the
/// embedded font cannot be loaded, `png_path` does not end in `.png`, or drawing or writing a
/// file fails.
pub fn render_series_chart(
    chart: &SeriesChart<'_>,
    svg_path: &Path,
    png_path: &Path,
) -> Result<(), ChartError> {
    let data = Prepared::new(chart).ok_or_else(|| ChartError::Empty {
        title: chart.title.to_string(),
    })?;
    render_figure(
        &SeriesFigure { chart, data: &data },
        CHART_SIZE,
        svg_path,
        png_path,
    )
}

struct SeriesFigure<'a> {
    chart: &'a SeriesChart<'a>,
    data: &'a Prepared,
}

impl Figure for SeriesFigure<'_> {
    fn frame(&self) -> [&str; 4] {
        [
            self.chart.title,
            self.chart.subtitle,
            self.chart.footer,
            self.chart.classification,
        ]
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        size: (i32, i32),
    ) -> DrawResult<(), DB> {
        draw_chart(root, self.chart, self.data, size)
    }
}

// ---------------------------------------------------------------------------------------------
// Data preparation

/// A line split at NaN values into runs of consecutive finite points, x in days since CE.
struct Line {
    runs: Vec<Vec<(f64, f64)>>,
}

impl Line {
    fn new(points: &[(NaiveDate, f64)]) -> Self {
        let mut sorted: Vec<(NaiveDate, f64)> = points.to_vec();
        sorted.sort_by_key(|(date, _)| *date);
        let mut runs = Vec::new();
        let mut run = Vec::new();
        for (date, value) in sorted {
            if value.is_finite() {
                run.push((day_number(date), value));
            } else if !run.is_empty() {
                runs.push(std::mem::take(&mut run));
            }
        }
        if !run.is_empty() {
            runs.push(run);
        }
        Self { runs }
    }

    fn points(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.runs.iter().flatten().copied()
    }
}

/// Everything the drawing needs, computed once for both backends.
struct Prepared {
    history: Line,
    forecasts: Vec<Line>,
    /// Each band as a closed polygon (lower edge forwards, upper edge backwards).
    bands: Vec<Vec<(f64, f64)>>,
    x_range: Range<f64>,
    y_range: Range<f64>,
    /// Day number and date of the last observed (finite) history value.
    last_observed: (f64, NaiveDate),
}

impl Prepared {
    /// `None` when the history has no finite values.
    fn new(chart: &SeriesChart<'_>) -> Option<Self> {
        let history = Line::new(chart.history);
        let last_observed = chart
            .history
            .iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(d, _)| *d)
            .max()?;
        let forecasts: Vec<Line> = chart.forecasts.iter().map(|f| Line::new(f.points)).collect();
        let bands: Vec<Vec<(f64, f64)>> = chart
            .bands
            .iter()
            .map(|b| {
                let edge = |pts: &[(NaiveDate, f64)]| -> Vec<(f64, f64)> {
                    let mut v: Vec<(f64, f64)> = pts
                        .iter()
                        .filter(|(_, y)| y.is_finite())
                        .map(|(d, y)| (day_number(*d), *y))
                        .collect();
                    v.sort_by(|a, b| a.0.total_cmp(&b.0));
                    v
                };
                let mut polygon = edge(b.lower);
                polygon.extend(edge(b.upper).into_iter().rev());
                polygon
            })
            .collect();

        let all = || {
            history
                .points()
                .chain(forecasts.iter().flat_map(Line::points))
                .chain(bands.iter().flatten().copied())
        };
        let (mut x_lo, mut x_hi) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut y_lo, mut y_hi) = (0.0_f64, 0.0_f64);
        for (x, y) in all() {
            x_lo = x_lo.min(x);
            x_hi = x_hi.max(x);
            y_lo = y_lo.min(y);
            y_hi = y_hi.max(y);
        }
        let span = x_hi - x_lo;
        let pad = (span * 0.015).max(15.0);
        let x_range = (x_lo - pad)..(x_hi + pad);

        Some(Self {
            history,
            forecasts,
            bands,
            x_range,
            y_range: nice_y_range(y_lo, y_hi),
            last_observed: (day_number(last_observed), last_observed),
        })
    }
}

/// The one drawing routine shared by the SVG and PNG backends.
fn draw_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &SeriesChart<'_>,
    data: &Prepared,
    (width, _): (i32, i32),
) -> DrawResult<(), DB> {
    let legend_bottom = draw_legend(root, chart, width)?;

    // Plot. Date ticks are spaced so that their labels never touch.
    const Y_LABEL_AREA: i32 = 84;
    const PLOT_LEFT: i32 = 8;
    const PLOT_RIGHT: i32 = PAD_X + 8;
    let tick_style = text_style(
        TICK_SIZE,
        FontStyle::Normal,
        &MUTED,
        Pos::new(HPos::Center, VPos::Top),
    );
    let plot_width = u32::try_from(width - PLOT_LEFT - Y_LABEL_AREA - PLOT_RIGHT).unwrap_or(0);
    let fitting = |sample: &str| -> DrawResult<usize, DB> {
        let label_width = root.estimate_text_size(sample, &tick_style)?.0 + 28;
        Ok(usize::try_from(plot_width / label_width).unwrap_or(usize::MAX))
    };
    let x_axis = DateAxis {
        range: data.x_range.clone(),
        max_month_ticks: fitting("2000-00")?,
        max_year_ticks: fitting("2000")?,
    };
    let body = root
        .clone()
        .margin(legend_bottom + 6, FOOTER_HEIGHT, PLOT_LEFT, 0);
    let mut plot = ChartBuilder::on(&body)
        .margin_right(PLOT_RIGHT)
        .margin_top(6)
        .x_label_area_size(56)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(x_axis, data.y_range.clone())?;

    let desc_style = text_style(
        AXIS_DESC_SIZE,
        FontStyle::Normal,
        &INK,
        Pos::new(HPos::Center, VPos::Top),
    );
    plot.configure_mesh()
        .x_labels(100)
        .y_labels(7)
        .x_max_light_lines(0)
        .y_max_light_lines(0)
        .label_style(tick_style)
        .axis_desc_style(desc_style)
        .x_desc("month")
        .y_desc(chart.y_label)
        .y_label_formatter(&format_y)
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(AXIS_GREY.stroke_width(1))
        .draw()?;

    // Boundary between observation and forecast.
    let (last_x, last_date) = data.last_observed;
    let (y_lo, y_hi) = (data.y_range.start, data.y_range.end);
    plot.draw_series(std::iter::once(DashedPathElement::new(
        vec![(last_x, y_lo), (last_x, y_hi)],
        4,
        4,
        MARKER_GREY.stroke_width(1),
    )))?;
    let note_style = text_style(
        NOTE_SIZE,
        FontStyle::Normal,
        &MUTED,
        Pos::new(HPos::Right, VPos::Top),
    );
    let (note_x, note_y) = plot.backend_coord(&(last_x, y_hi));
    let note = format!("last observed {}", last_date.format("%Y-%m-%d"));
    root.draw_text(&note, &note_style, (note_x - 6, note_y + 4))?;

    // Bands under everything, widest first; overlapping bands shade the centre darker.
    for polygon in &data.bands {
        plot.draw_series(std::iter::once(Polygon::new(
            polygon.clone(),
            forecast_colour(0).mix(BAND_ALPHA).filled(),
        )))?;
    }
    // Forecasts next so the observed line stays on top where they touch.
    for (i, line) in data.forecasts.iter().enumerate() {
        let (colour, (dash, gap)) = (forecast_colour(i), forecast_dash(i));
        plot.draw_series(
            line.runs
                .iter()
                .map(|run| DashedPathElement::new(run.clone(), dash, gap, colour.stroke_width(3))),
        )?;
        plot.draw_series(isolated_points(line, colour))?;
    }

    plot.draw_series(
        data.history
            .runs
            .iter()
            .map(|run| PathElement::new(run.clone(), HISTORY_COLOUR.stroke_width(2))),
    )?;
    plot.draw_series(isolated_points(&data.history, &HISTORY_COLOUR))?;
    Ok(())
}

/// Markers for points without a neighbour (a one-value forecast, a value between NaNs), which
/// would be invisible as lines.
fn isolated_points<'a>(
    line: &'a Line,
    colour: &'a RGBColor,
) -> impl Iterator<Item = Circle<(f64, f64), i32>> + 'a {
    line.runs
        .iter()
        .filter(|run| run.len() == 1)
        .flatten()
        .map(move |p| Circle::new(*p, 4, colour.filled()))
}

/// Draws the legend of a series chart in rows under the subtitle; returns the y just below the
/// last row.
fn draw_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &SeriesChart<'_>,
    width: i32,
) -> DrawResult<i32, DB> {
    let entries: Vec<LegendEntry<'_>> = std::iter::once(("observed", &HISTORY_COLOUR, Sample::Line))
        .chain(chart.forecasts.iter().enumerate().map(|(i, f)| {
            let (dash, gap) = forecast_dash(i);
            (f.label, forecast_colour(i), Sample::Dashed(dash, gap))
        }))
        .chain(
            // the narrowest band is shaded by every band over it
            chart
                .bands
                .iter()
                .enumerate()
                .map(|(i, b)| (b.label, forecast_colour(0), Sample::Band((i + 1) as u8))),
        )
        .collect();
    draw_legend_entries(root, &entries, width)
}
