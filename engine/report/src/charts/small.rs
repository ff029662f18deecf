//! Small multiples: one panel per region with its recent history and trend line.

use super::draw::DrawResult;
use super::draw::*;
use chrono::NaiveDate;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// One panel of a [`SmallMultiples`] chart: a region's recent history and its trend line.
#[derive(Debug, Clone)]
pub struct TrendPanel<'a> {
    /// Panel title (the region).
    pub title: &'a str,
    /// Observed values by period.
    pub history: &'a [(NaiveDate, f64)],
    /// The trend line from its first to its last point (Sen's slope), if any.
    pub trend: Option<[(NaiveDate, f64); 2]>,
    /// A note under the title, e.g. "+3.1 per month, p = 0.002".
    pub note: &'a str,
}

/// Small multiples: one small history-and-trend panel per region, in a grid, each with its
/// own y scale.
#[derive(Debug, Clone, Copy)]
pub struct SmallMultiples<'a> {
    /// Chart title.
    pub title: &'a str,
    /// Line under the title.
    pub subtitle: &'a str,
    /// The panels, filled row by row into a grid of `columns` columns.
    pub panels: &'a [TrendPanel<'a>],
    /// Panels per row.
    pub columns: usize,
    /// Label of the trend line in the legend.
    pub trend_label: &'a str,
    /// Source line.
    pub footer: &'a str,
    /// Classification marking.
    pub classification: &'a str,
}

/// Height of a small-multiples chart with `rows` rows of panels.
pub fn small_multiples_height(rows: usize) -> u32 {
    (170 + 250 * rows as u32).max(CHART_SIZE.1)
}

/// Draws small multiples as SVG at `svg_path` and PNG at `png_path`, [`CHART_SIZE`] wide and
/// [`small_multiples_height`] high.
///
/// # Errors
///
/// [`ChartError::Empty`] without panels; [`ChartError::Draw`] as for [`render_series_chart`].
pub fn render_small_multiples(
    chart: &SmallMultiples<'_>,
    svg_path: &Path,
    png_path: &Path,
) -> Result<(), ChartError> {
    if chart.panels.is_empty() {
        return Err(ChartError::Empty {
            title: chart.title.to_string(),
        });
    }
    let rows = chart.panels.len().div_ceil(chart.columns.max(1));
    let size = (CHART_SIZE.0, small_multiples_height(rows));
    render_figure(chart, size, svg_path, png_path)
}

impl Figure for SmallMultiples<'_> {
    fn frame(&self) -> [&str; 4] {
        [self.title, self.subtitle, self.footer, self.classification]
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        size: (i32, i32),
    ) -> DrawResult<(), DB> {
        draw_small(root, self, size)
    }
}

fn draw_small<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &SmallMultiples<'_>,
    (width, _): (i32, i32),
) -> DrawResult<(), DB> {
    let entries: Vec<LegendEntry<'_>> = vec![
        ("observed", &HISTORY_COLOUR, Sample::Line),
        (chart.trend_label, forecast_colour(4), Sample::Dashed(9, 6)),
    ];
    let legend_bottom = draw_legend_entries(root, &entries, width)?;
    let body = root.clone().margin(legend_bottom + 4, FOOTER_HEIGHT, 8, PAD_X);
    let columns = chart.columns.max(1);
    let rows = chart.panels.len().div_ceil(columns);
    let cells = body.split_evenly((rows, columns));
    let title_style = text_style(
        LEGEND_SIZE,
        FontStyle::Bold,
        &INK,
        Pos::new(HPos::Left, VPos::Top),
    );
    let note_style = text_style(
        NOTE_SIZE,
        FontStyle::Normal,
        &MUTED,
        Pos::new(HPos::Left, VPos::Top),
    );
    let tick_style = text_style(
        NOTE_SIZE,
        FontStyle::Normal,
        &MUTED,
        Pos::new(HPos::Center, VPos::Top),
    );
    for (panel, area) in chart.panels.iter().zip(cells.iter()) {
        let (w, _) = area.dim_in_pixel();
        let w = i32::try_from(w).unwrap_or(0);
        let title = fit_text(area, panel.title, &title_style, w - 12)?;
        area.draw_text(&title, &title_style, (6, 4))?;
        area.draw_text(panel.note, &note_style, (6, 26))?;
        let pts: Vec<(f64, f64)> = panel
            .history
            .iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(d, v)| (day_number(*d), *v))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let x0 = pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let x1 = pts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
        let hi = pts
            .iter()
            .map(|p| p.1)
            .chain(panel.trend.iter().flat_map(|t| t.iter().map(|p| p.1)))
            .fold(0.0f64, f64::max);
        let lo = panel
            .trend
            .iter()
            .flat_map(|t| t.iter().map(|p| p.1))
            .fold(0.0f64, f64::min);
        let y = nice_y_range(lo, hi);
        let mut plot = ChartBuilder::on(&area.margin(46, 4, 4, 10))
            .x_label_area_size(26)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1.max(x0 + 1.0), y)?;
        let date_label =
            |v: &f64| date_of_day(*v).map_or_else(String::new, |d| d.format("%Y-%m").to_string());
        plot.configure_mesh()
            .x_labels(3)
            .y_labels(4)
            .x_max_light_lines(0)
            .y_max_light_lines(0)
            .label_style(tick_style.clone())
            .x_label_formatter(&date_label)
            .y_label_formatter(&format_y)
            .bold_line_style(GRID.stroke_width(1))
            .light_line_style(TRANSPARENT)
            .axis_style(AXIS_GREY.stroke_width(1))
            .draw()?;
        plot.draw_series(std::iter::once(PathElement::new(
            pts,
            HISTORY_COLOUR.stroke_width(2),
        )))?;
        if let Some([a, b]) = panel.trend {
            plot.draw_series(std::iter::once(DashedPathElement::new(
                vec![(day_number(a.0), a.1), (day_number(b.0), b.1)],
                9,
                6,
                forecast_colour(4).stroke_width(3),
            )))?;
        }
    }
    Ok(())
}
