//! The region × period heatmap.

use super::draw::DrawResult;
use super::draw::*;
use chrono::{Datelike, NaiveDate};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// A region × period heatmap: one row per region, one column per period, colour by value on
/// the log scale (viridis: perceptually uniform and readable with colour-blindness).
#[derive(Debug, Clone, Copy)]
pub struct HeatmapChart<'a> {
    /// Chart title.
    pub title: &'a str,
    /// Line under the title.
    pub subtitle: &'a str,
    /// Row labels, top to bottom.
    pub rows: &'a [String],
    /// Column periods, left to right.
    pub columns: &'a [NaiveDate],
    /// `values[row][column]`; NaN is drawn as missing (light grey).
    pub values: &'a [Vec<f64>],
    /// What the colour measures, with units (e.g. "fatalities per month").
    pub value_label: &'a str,
    /// Source line.
    pub footer: &'a str,
    /// Classification marking.
    pub classification: &'a str,
}

/// Height of a heatmap with `rows` rows (the width is [`CHART_SIZE`]'s).
pub fn heatmap_height(rows: usize) -> u32 {
    (190 + 26 * rows as u32).max(CHART_SIZE.1)
}

/// Draws a heatmap as SVG at `svg_path` and PNG at `png_path`, [`CHART_SIZE`] wide and
/// [`heatmap_height`] high.
///
/// # Errors
///
/// [`ChartError::Empty`] without rows or columns; [`ChartError::Draw`] as for
/// [`render_series_chart`].
pub fn render_heatmap(chart: &HeatmapChart<'_>, svg_path: &Path, png_path: &Path) -> Result<(), ChartError> {
    if chart.rows.is_empty() || chart.columns.is_empty() {
        return Err(ChartError::Empty {
            title: chart.title.to_string(),
        });
    }
    let size = (CHART_SIZE.0, heatmap_height(chart.rows.len()));
    render_figure(chart, size, svg_path, png_path)
}

impl Figure for HeatmapChart<'_> {
    fn frame(&self) -> [&str; 4] {
        [self.title, self.subtitle, self.footer, self.classification]
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        size: (i32, i32),
    ) -> DrawResult<(), DB> {
        draw_heatmap(root, self, size)
    }
}

fn heat_colour(value: f64, top: f64) -> RGBColor {
    use plotters::style::colors::colormaps::ViridisRGB;
    if !value.is_finite() {
        return GRID;
    }
    let h = if top > 0.0 {
        value.max(0.0).ln_1p() / top.ln_1p()
    } else {
        0.0
    };
    ViridisRGB::get_color(h.clamp(0.0, 1.0))
}

fn draw_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &HeatmapChart<'_>,
    _: (i32, i32),
) -> DrawResult<(), DB> {
    let top = chart
        .values
        .iter()
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |m, v| m.max(*v));
    // colour key under the subtitle: a bar from 0 to the maximum, log scale
    let key_style = text_style(
        LEGEND_SIZE,
        FontStyle::Normal,
        &INK,
        Pos::new(HPos::Left, VPos::Center),
    );
    let key_y = LEGEND_TOP + LEGEND_ROW / 2;
    let label = format!("{} (log scale):", chart.value_label);
    root.draw_text(&label, &key_style, (PAD_X, key_y))?;
    let label_w = i32::try_from(root.estimate_text_size(&label, &key_style)?.0).unwrap_or(0);
    let (bar_x, bar_w) = (PAD_X + label_w + 16, 240);
    root.draw_text("0", &key_style, (bar_x, key_y))?;
    let bar_x = bar_x + 18;
    for i in 0..bar_w {
        let v = (f64::from(i) / f64::from(bar_w) * top.ln_1p()).exp_m1();
        root.draw(&Rectangle::new(
            [(bar_x + i, key_y - 8), (bar_x + i + 1, key_y + 8)],
            heat_colour(v, top).filled(),
        ))?;
    }
    root.draw_text(&format_y(&top), &key_style, (bar_x + bar_w + 8, key_y))?;

    let n_rows = chart.rows.len();
    let n_cols = chart.columns.len();
    const LABELS: i32 = 300;
    let body = root
        .clone()
        .margin(LEGEND_TOP + LEGEND_ROW + 12, FOOTER_HEIGHT, 8, 0);
    let tick_style = text_style(
        TICK_SIZE,
        FontStyle::Normal,
        &MUTED,
        Pos::new(HPos::Center, VPos::Top),
    );
    let mut plot = ChartBuilder::on(&body)
        .margin_right(PAD_X)
        .x_label_area_size(40)
        .y_label_area_size(LABELS)
        .build_cartesian_2d(0.0f64..n_cols as f64, 0.0f64..n_rows as f64)?;
    let rows = chart.rows;
    let columns = chart.columns;
    let row_label = move |y: &f64| -> String {
        let i = y.floor() as usize;
        // row 0 is drawn at the top
        match n_rows.checked_sub(i + 1).and_then(|r| rows.get(r)) {
            Some(name) if (y - y.floor() - 0.5).abs() < 1e-6 => {
                let mut s: String = name.chars().take(34).collect();
                if name.chars().count() > 34 {
                    s.push('…');
                }
                s
            }
            _ => String::new(),
        }
    };
    let col_label = move |x: &f64| -> String {
        let i = x.floor() as usize;
        match columns.get(i) {
            Some(d) if (x - x.floor() - 0.5).abs() < 1e-6 && (d.month0() % 3 == 0) => {
                d.format("%Y-%m").to_string()
            }
            _ => String::new(),
        }
    };
    plot.configure_mesh()
        .disable_mesh()
        .x_labels(n_cols * 2 + 1)
        .y_labels(n_rows * 2 + 1)
        .label_style(tick_style)
        .x_label_formatter(&col_label)
        .y_label_formatter(&row_label)
        .axis_style(AXIS_GREY.stroke_width(1))
        .draw()?;
    for (r, row) in chart.values.iter().enumerate() {
        let y = (n_rows - 1 - r) as f64;
        for (c, v) in row.iter().enumerate() {
            plot.draw_series(std::iter::once(Rectangle::new(
                [(c as f64, y), (c as f64 + 1.0, y + 1.0)],
                heat_colour(*v, top).filled(),
            )))?;
        }
    }
    Ok(())
}
