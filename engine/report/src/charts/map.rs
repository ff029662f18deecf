//! Maps of PRIO-GRID cells coloured by category (emerging hot-spot classes).

use super::draw::DrawResult;
use super::draw::*;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// A map of PRIO-GRID cells (0.5° squares) coloured by category, on longitude/latitude axes.
#[derive(Debug, Clone, Copy)]
pub struct CellMap<'a> {
    /// Chart title.
    pub title: &'a str,
    /// Line under the title.
    pub subtitle: &'a str,
    /// Cells: `(PRIO-GRID id, category)`.
    pub cells: &'a [(i64, usize)],
    /// Category labels; the first is the background category (light grey), the others take
    /// the colour-blind-safe palette in order.
    pub categories: &'a [&'a str],
    /// Source line.
    pub footer: &'a str,
    /// Classification marking.
    pub classification: &'a str,
}

/// The centre (longitude, latitude) of PRIO-GRID cell `gid` (720 columns of 0.5° from
/// 180° W, rows from 90° S).
pub fn prio_grid_centre(gid: i64) -> (f64, f64) {
    let col = (gid - 1).rem_euclid(720);
    let row = (gid - 1).div_euclid(720);
    (
        -180.0 + (col as f64 + 0.5) * 0.5,
        -90.0 + (row as f64 + 0.5) * 0.5,
    )
}

fn category_colour(i: usize) -> RGBColor {
    if i == 0 {
        GRID
    } else {
        PALETTE[(i - 1) % PALETTE.len()]
    }
}

/// Draws a cell map as SVG at `svg_path` and PNG at `png_path` (same content, [`CHART_SIZE`]).
///
/// # Errors
///
/// [`ChartError::Empty`] without cells; [`ChartError::Draw`] as for [`render_series_chart`].
pub fn render_cell_map(chart: &CellMap<'_>, svg_path: &Path, png_path: &Path) -> Result<(), ChartError> {
    if chart.cells.is_empty() {
        return Err(ChartError::Empty {
            title: chart.title.to_string(),
        });
    }
    render_figure(chart, CHART_SIZE, svg_path, png_path)
}

impl Figure for CellMap<'_> {
    fn frame(&self) -> [&str; 4] {
        [self.title, self.subtitle, self.footer, self.classification]
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        size: (i32, i32),
    ) -> DrawResult<(), DB> {
        draw_map(root, self, size)
    }
}

fn draw_map<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &CellMap<'_>,
    (width, height): (i32, i32),
) -> DrawResult<(), DB> {
    let colours: Vec<RGBColor> = (0..chart.categories.len()).map(category_colour).collect();
    let entries: Vec<LegendEntry<'_>> = chart
        .categories
        .iter()
        .zip(&colours)
        .map(|(label, colour)| (*label, colour, Sample::Band(8)))
        .collect();
    let legend_bottom = draw_legend_entries(root, &entries, width)?;
    let centres: Vec<(f64, f64)> = chart.cells.iter().map(|(g, _)| prio_grid_centre(*g)).collect();
    let (mut x0, mut x1, mut y0, mut y1) =
        (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in &centres {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    // one degree of margin, and the same scale on both axes (degrees of latitude and longitude
    // drawn alike; a plate carrée map)
    let (mut x0, mut x1, mut y0, mut y1) = (x0 - 1.0, x1 + 1.0, y0 - 1.0, y1 + 1.0);
    let plot_w = f64::from(width - 2 * PAD_X - 84);
    let plot_h = f64::from(height - legend_bottom - FOOTER_HEIGHT - 70);
    let per_px = ((x1 - x0) / plot_w).max((y1 - y0) / plot_h);
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    (x0, x1) = (cx - per_px * plot_w / 2.0, cx + per_px * plot_w / 2.0);
    (y0, y1) = (cy - per_px * plot_h / 2.0, cy + per_px * plot_h / 2.0);
    let body = root.clone().margin(legend_bottom + 6, FOOTER_HEIGHT, 8, 0);
    let tick_style = text_style(
        TICK_SIZE,
        FontStyle::Normal,
        &MUTED,
        Pos::new(HPos::Center, VPos::Top),
    );
    let desc_style = text_style(
        AXIS_DESC_SIZE,
        FontStyle::Normal,
        &INK,
        Pos::new(HPos::Center, VPos::Top),
    );
    let mut plot = ChartBuilder::on(&body)
        .margin_right(PAD_X + 8)
        .margin_top(6)
        .x_label_area_size(56)
        .y_label_area_size(84)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let lon = |v: &f64| format!("{:.0}°{}", v.abs(), if *v < 0.0 { "W" } else { "E" });
    let lat = |v: &f64| format!("{:.0}°{}", v.abs(), if *v < 0.0 { "S" } else { "N" });
    plot.configure_mesh()
        .x_labels(8)
        .y_labels(6)
        .x_max_light_lines(0)
        .y_max_light_lines(0)
        .label_style(tick_style)
        .axis_desc_style(desc_style)
        .x_desc("longitude")
        .y_desc("latitude")
        .x_label_formatter(&lon)
        .y_label_formatter(&lat)
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(AXIS_GREY.stroke_width(1))
        .draw()?;
    // background cells first, so coloured ones are never hidden
    let mut order: Vec<usize> = (0..chart.cells.len()).collect();
    order.sort_by_key(|i| chart.cells[*i].1 != 0);
    for i in order {
        let (x, y) = centres[i];
        let colour = colours.get(chart.cells[i].1).copied().unwrap_or(GRID);
        plot.draw_series(std::iter::once(Rectangle::new(
            [(x - 0.25, y - 0.25), (x + 0.25, y + 0.25)],
            colour.filled(),
        )))?;
    }
    Ok(())
}
