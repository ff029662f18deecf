//! Curves on two numeric axes with a reference line (reliability diagrams, skill by horizon).

use super::draw::DrawResult;
use super::draw::*;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// One model's curve on an [`XyChart`], e.g. its reliability per probability bin or its skill
/// per horizon. Points are drawn in the order given, joined by a line, each with a marker.
#[derive(Debug, Clone, Copy)]
pub struct XyCurve<'a> {
    /// The model, shown in the legend.
    pub label: &'a str,
    /// Points `(x, y)`.
    pub points: &'a [(f64, f64)],
    /// An uncertainty band `(x, low, high)` shaded in the curve's colour (empty: none).
    pub band: &'a [(f64, f64, f64)],
}

/// A dashed grey reference drawn under the curves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reference {
    /// None.
    None,
    /// The diagonal y = x (perfect calibration).
    Diagonal,
    /// A horizontal line at this y (e.g. zero skill).
    Horizontal(f64),
}

/// A chart of curves over numeric axes (reliability diagrams, skill by horizon).
#[derive(Debug, Clone, Copy)]
pub struct XyChart<'a> {
    /// Chart title.
    pub title: &'a str,
    /// Line under the title.
    pub subtitle: &'a str,
    /// x axis label, with units.
    pub x_label: &'a str,
    /// y axis label, with units.
    pub y_label: &'a str,
    /// x axis range.
    pub x_range: (f64, f64),
    /// y axis range.
    pub y_range: (f64, f64),
    /// Decimals of the tick labels (x, y).
    pub decimals: (usize, usize),
    /// The reference line and its legend label.
    pub reference: (Reference, &'a str),
    /// One curve per model.
    pub curves: &'a [XyCurve<'a>],
    /// Source line.
    pub footer: &'a str,
    /// Classification marking.
    pub classification: &'a str,
}

/// Draws an [`XyChart`] as SVG at `svg_path` and PNG at `png_path` (same content).
///
/// # Errors
///
/// [`ChartError::Empty`] when no curve has a point; [`ChartError::Draw`] as for
/// [`render_series_chart`].
pub fn render_xy_chart(chart: &XyChart<'_>, svg_path: &Path, png_path: &Path) -> Result<(), ChartError> {
    if chart.curves.iter().all(|c| c.points.is_empty()) {
        return Err(ChartError::Empty {
            title: chart.title.to_string(),
        });
    }
    render_figure(chart, CHART_SIZE, svg_path, png_path)
}

impl Figure for XyChart<'_> {
    fn frame(&self) -> [&str; 4] {
        [self.title, self.subtitle, self.footer, self.classification]
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        size: (i32, i32),
    ) -> DrawResult<(), DB> {
        draw_xy(root, self, size)
    }
}

fn draw_xy<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &XyChart<'_>,
    (width, _): (i32, i32),
) -> DrawResult<(), DB> {
    let (reference, reference_label) = chart.reference;
    let entries: Vec<LegendEntry<'_>> = (reference != Reference::None)
        .then_some((reference_label, &MARKER_GREY, Sample::Dashed(4, 4)))
        .into_iter()
        .chain(chart.curves.iter().enumerate().map(|(i, c)| {
            let sample = if i < PALETTE.len() {
                Sample::Line
            } else {
                let (dash, gap) = forecast_dash(i);
                Sample::Dashed(dash, gap)
            };
            (c.label, forecast_colour(i), sample)
        }))
        .collect();
    let legend_bottom = draw_legend_entries(root, &entries, width)?;
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
    let (x0, x1) = chart.x_range;
    let (y0, y1) = chart.y_range;
    let mut plot = ChartBuilder::on(&body)
        .margin_right(PAD_X + 8)
        .margin_top(6)
        .x_label_area_size(56)
        .y_label_area_size(84)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let (dx, dy) = chart.decimals;
    let fx = move |v: &f64| format!("{v:.dx$}");
    let fy = move |v: &f64| format!("{v:.dy$}");
    plot.configure_mesh()
        .x_labels(11)
        .y_labels(6)
        .x_max_light_lines(0)
        .y_max_light_lines(0)
        .label_style(tick_style)
        .axis_desc_style(desc_style)
        .x_desc(chart.x_label)
        .y_desc(chart.y_label)
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(AXIS_GREY.stroke_width(1))
        .draw()?;
    let line = match reference {
        Reference::None => None,
        Reference::Diagonal => Some(vec![(x0.max(y0), x0.max(y0)), (x1.min(y1), x1.min(y1))]),
        Reference::Horizontal(y) => Some(vec![(x0, y), (x1, y)]),
    };
    if let Some(line) = line {
        plot.draw_series(std::iter::once(DashedPathElement::new(
            line,
            4,
            4,
            MARKER_GREY.stroke_width(1),
        )))?;
    }
    for (i, c) in chart.curves.iter().enumerate() {
        if c.band.is_empty() {
            continue;
        }
        let mut polygon: Vec<(f64, f64)> = c.band.iter().map(|(x, lo, _)| (*x, *lo)).collect();
        polygon.extend(c.band.iter().rev().map(|(x, _, hi)| (*x, *hi)));
        plot.draw_series(std::iter::once(Polygon::new(
            polygon,
            forecast_colour(i).mix(BAND_ALPHA).filled(),
        )))?;
    }
    for (i, c) in chart.curves.iter().enumerate() {
        let colour = forecast_colour(i);
        let (dash, gap) = forecast_dash(i);
        if i < PALETTE.len() {
            plot.draw_series(std::iter::once(PathElement::new(
                c.points.to_vec(),
                colour.stroke_width(3),
            )))?;
        } else {
            plot.draw_series(std::iter::once(DashedPathElement::new(
                c.points.to_vec(),
                dash,
                gap,
                colour.stroke_width(3),
            )))?;
        }
        plot.draw_series(c.points.iter().map(|p| Circle::new(*p, 5, colour.filled())))?;
    }
    Ok(())
}
