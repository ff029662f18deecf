//! Charts: history + forecast line charts as SVG and PNG, readable on a machine without system fonts.
//!
//! Text is rasterised with the DejaVu Sans font embedded in the binary (plotters' `ab_glyph`
//! feature), so PNG output never depends on fonts installed on the machine. The SVG output names
//! the generic `sans-serif` family, which every SVG viewer can resolve.
//!
//! The same drawing code runs for both outputs: [`render_series_chart`] hands an SVG backend and a
//! bitmap backend in turn to one function that is generic over plotters' `DrawingBackend`.

use chrono::{Datelike, NaiveDate};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::register_font;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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

/// Errors from drawing a chart.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// Drawing failed; `path` is the file being written.
    #[error("could not draw chart {path}: {message}")]
    Draw {
        /// The file being written when drawing failed.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Nothing to draw.
    #[error("chart '{title}' has no data points")]
    Empty {
        /// Title of the chart that had no data.
        title: String,
    },
}

/// Width and height of every chart in pixels.
pub const CHART_SIZE: (u32, u32) = (1000, 560);

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

/// A chart that draws itself on any plotters backend (SVG and bitmap alike). [`present`] draws
/// the frame every chart shares (header, footer, classification marking top and bottom) from
/// [`Figure::frame`], so no chart can leave the marking out, then the chart's own part.
trait Figure {
    /// Title, subtitle, footer (source line) and classification marking.
    fn frame(&self) -> [&str; 4];
    /// Draws the chart inside the frame; `size` is the drawing area's width and height in pixels.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, size: (i32, i32))
    -> DrawResult<(), DB>;
}

/// Loads the fonts, checks the PNG name, and draws `figure` at `size` as SVG and as PNG.
fn render_figure<F: Figure>(
    figure: &F,
    size: (u32, u32),
    svg_path: &Path,
    png_path: &Path,
) -> Result<(), ChartError> {
    ensure_fonts().map_err(|message| ChartError::Draw {
        path: svg_path.to_path_buf(),
        message,
    })?;
    let is_png = png_path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if !is_png {
        return Err(ChartError::Draw {
            path: png_path.to_path_buf(),
            message: "the PNG file name must end in .png".to_string(),
        });
    }
    present(SVGBackend::new(svg_path, size), svg_path, figure)?;
    present(BitMapBackend::new(png_path, size), png_path, figure)
}

fn present<DB: DrawingBackend, F: Figure>(backend: DB, path: &Path, figure: &F) -> Result<(), ChartError> {
    let root = backend.into_drawing_area();
    let [title, subtitle, footer, classification] = figure.frame();
    draw_frame(&root, title, subtitle, footer, classification)
        .and_then(|size| figure.draw(&root, size))
        .and_then(|()| root.present())
        .map_err(|e| ChartError::Draw {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
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
// Fonts

/// Registers DejaVu Sans (regular and bold) as plotters' `sans-serif` family, once per process.
fn ensure_fonts() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            // `InvalidFont` implements neither Debug nor Display, so only its presence is known.
            register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
                .map_err(|_| "the embedded DejaVu Sans font could not be loaded".to_string())?;
            register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold())
                .map_err(|_| "the embedded DejaVu Sans Bold font could not be loaded".to_string())
        })
        .clone()
}

// ---------------------------------------------------------------------------------------------
// Look

const INK: RGBColor = RGBColor(0x1a, 0x1a, 0x1a);
const MUTED: RGBColor = RGBColor(0x4d, 0x4d, 0x4d);
const FOOTER_GREY: RGBColor = RGBColor(0x6e, 0x6e, 0x6e);
const AXIS_GREY: RGBColor = RGBColor(0x88, 0x88, 0x88);
const GRID: RGBColor = RGBColor(0xe2, 0xe2, 0xe2);
const MARKER_GREY: RGBColor = RGBColor(0x70, 0x70, 0x70);
const HISTORY_COLOUR: RGBColor = RGBColor(0x22, 0x22, 0x22);

/// Okabe–Ito colour-blind-safe palette (without black, which the history uses).
const PALETTE: [RGBColor; 6] = [
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0xCC, 0x79, 0xA7),
];

// Font sizes are in plotters units: the bitmap backend scales glyphs to this height, the SVG
// backend writes `font-size = size / 1.24`. Tick labels at 18 are >= 14 px in both.
const TITLE_SIZE: f64 = 32.0;
const SUBTITLE_SIZE: f64 = 20.0;
const MARKING_SIZE: f64 = 19.0;
const LEGEND_SIZE: f64 = 18.0;
const TICK_SIZE: f64 = 18.0;
const AXIS_DESC_SIZE: f64 = 18.0;
const NOTE_SIZE: f64 = 16.0;
const FOOTER_SIZE: f64 = 16.0;

const PAD_X: i32 = 24;
const LEGEND_TOP: i32 = 86;
const LEGEND_ROW: i32 = 26;
const FOOTER_HEIGHT: i32 = 34;
/// Dash and gap lengths of forecast lines; after six forecasts the colours repeat with the
/// next pattern, so no two lines look alike.
const DASHES: [(i32, i32); 3] = [(9, 6), (3, 4), (18, 6)];

fn text_style(size: f64, style: FontStyle, colour: &'static RGBColor, pos: Pos) -> TextStyle<'static> {
    FontDesc::new(FontFamily::SansSerif, size, style)
        .color(colour)
        .pos(pos)
}

fn forecast_colour(index: usize) -> &'static RGBColor {
    &PALETTE[index % PALETTE.len()]
}

fn forecast_dash(index: usize) -> (i32, i32) {
    DASHES[(index / PALETTE.len()) % DASHES.len()]
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

fn day_number(date: NaiveDate) -> f64 {
    f64::from(date.num_days_from_ce())
}

fn date_of_day(day: f64) -> Option<NaiveDate> {
    let day = day.round();
    if day.abs() > f64::from(i32::MAX) {
        return None;
    }
    NaiveDate::from_num_days_from_ce_opt(day as i32)
}

/// A y range from 0 (or the minimum, if negative) to a round number a bit above the maximum;
/// never empty, even for all-zero data.
fn nice_y_range(lo: f64, hi: f64) -> Range<f64> {
    let extent = hi.max(-lo);
    if !(extent.is_finite() && extent > 0.0) {
        return 0.0..1.0;
    }
    // Round to a unit of about an eighth of the extent: 97 -> 120, 11 250 -> 12 000, 1 -> 1.2.
    let step = nice_step(extent * 1.05 / 8.0);
    let top = if hi > 0.0 {
        (hi * 1.05 / step).ceil() * step
    } else {
        step
    };
    let bottom = if lo < 0.0 {
        (lo * 1.05 / step).floor() * step
    } else {
        0.0
    };
    bottom..top
}

/// The smallest of 1, 2, 2.5, 5 times a power of ten that is >= `raw`.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// Tick label for the y axis: whole numbers with thousands separators, otherwise up to 3 decimals.
fn format_y(value: &f64) -> String {
    let v = *value;
    if v.fract().abs() < 1e-9 && v.abs() < 1e15 {
        let digits = format!("{:.0}", v.abs());
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if v < -0.5 { format!("-{grouped}") } else { grouped }
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Date axis

/// An x axis over day numbers (days since CE) whose ticks fall on month starts: every year, or
/// every 1/2/3/6 months for short spans, or every 2/5/10/... years for long ones.
#[derive(Debug, Clone)]
struct DateAxis {
    range: Range<f64>,
    /// How many "2019-06"-wide labels fit along the axis.
    max_month_ticks: usize,
    /// How many "2019"-wide labels fit along the axis.
    max_year_ticks: usize,
}

impl DateAxis {
    /// Month index (year * 12 + month0) of the first month start at or after `day`.
    fn first_month_at_or_after(day: f64) -> Option<i64> {
        let date = date_of_day(day.ceil())?;
        let index = i64::from(date.year()) * 12 + i64::from(date.month0());
        Some(if date.day() == 1 { index } else { index + 1 })
    }

    fn month_start(index: i64) -> Option<NaiveDate> {
        let year = i32::try_from(index.div_euclid(12)).ok()?;
        let month = u32::try_from(index.rem_euclid(12)).ok()? + 1;
        NaiveDate::from_ymd_opt(year, month, 1)
    }

    fn ticks(&self, step_months: i64, limit: usize) -> Option<Vec<f64>> {
        let first = Self::first_month_at_or_after(self.range.start)?;
        let first = first + (step_months - first.rem_euclid(step_months)) % step_months;
        let mut ticks = Vec::new();
        let mut index = first;
        loop {
            let day = day_number(Self::month_start(index)?);
            if day > self.range.end {
                return Some(ticks);
            }
            if ticks.len() == limit {
                return None;
            }
            ticks.push(day);
            index += step_months;
        }
    }
}

impl Ranged for DateAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        let fraction = if span > 0.0 {
            (value - self.range.start) / span
        } else {
            0.5
        };
        let pixels = f64::from(limit.1 - limit.0);
        limit.0 + (fraction * pixels).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let limit = hint.max_num_points();
        if limit == 0 {
            return Vec::new();
        }
        const STEPS: [i64; 13] = [1, 2, 3, 6, 12, 24, 60, 120, 240, 600, 1200, 2400, 6000];
        STEPS
            .iter()
            .find_map(|step| {
                let fits = if *step < 12 {
                    self.max_month_ticks
                } else {
                    self.max_year_ticks
                };
                self.ticks(*step, limit.min(fits.max(2)))
            })
            .unwrap_or_default()
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

impl ValueFormatter<f64> for DateAxis {
    /// "2019" for January ticks, "2019-06" for other months.
    fn format(value: &f64) -> String {
        match date_of_day(*value) {
            Some(date) if date.month() == 1 => format!("{}", date.year()),
            Some(date) => format!("{}-{:02}", date.year(), date.month()),
            None => String::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Drawing

type DrawResult<T, DB> = Result<T, DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Shortens `text` with an ellipsis until it fits in `max_width` pixels.
fn fit_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle<'_>,
    max_width: i32,
) -> DrawResult<String, DB> {
    let max_width = u32::try_from(max_width.max(0)).unwrap_or(0);
    if area.estimate_text_size(text, style)?.0 <= max_width {
        return Ok(text.to_string());
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let candidate = format!("{}…", chars.iter().collect::<String>().trim_end());
        if area.estimate_text_size(&candidate, style)?.0 <= max_width {
            return Ok(candidate);
        }
    }
    Ok(String::new())
}

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy)]
enum Sample {
    /// A solid line.
    Line,
    /// A dashed line (dash, gap).
    Dashed(i32, i32),
    /// A shaded box: `n` overlapping bands' worth of shade.
    Band(u8),
}

/// A legend sample: a short solid or dashed line, or a shaded box for a band.
fn legend_sample<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    (x, y): (i32, i32),
    colour: &RGBColor,
    sample: Sample,
) -> DrawResult<(), DB> {
    const SAMPLE: i32 = 30;
    match sample {
        Sample::Dashed(dash, gap) => root.draw(&DashedPathElement::new(
            vec![(x, y), (x + SAMPLE, y)],
            dash,
            gap,
            colour.stroke_width(3),
        )),
        Sample::Line => root.draw(&PathElement::new(
            vec![(x, y), (x + SAMPLE, y)],
            colour.stroke_width(3),
        )),
        Sample::Band(n) => {
            let alpha = 1.0 - (1.0 - BAND_ALPHA).powi(i32::from(n));
            root.draw(&Rectangle::new(
                [(x, y - 8), (x + SAMPLE, y + 8)],
                colour.mix(alpha).filled(),
            ))
        }
    }
}

/// One legend entry: label, colour and how it is drawn.
type LegendEntry<'a> = (&'a str, &'a RGBColor, Sample);

/// Opacity of one forecast band (bands overlap, so the centre of a fan is darker).
const BAND_ALPHA: f64 = 0.22;

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

/// Draws legend entries in rows under the subtitle; returns the y just below the last row.
fn draw_legend_entries<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry<'_>],
    width: i32,
) -> DrawResult<i32, DB> {
    let style = text_style(
        LEGEND_SIZE,
        FontStyle::Normal,
        &INK,
        Pos::new(HPos::Left, VPos::Center),
    );
    let (mut x, mut y) = (PAD_X, LEGEND_TOP + LEGEND_ROW / 2);
    for (label, colour, dash) in entries {
        let label = fit_text(root, label, &style, width - 2 * PAD_X - 40)?;
        let text_width = i32::try_from(root.estimate_text_size(&label, &style)?.0).unwrap_or(0);
        let entry_width = 38 + text_width;
        if x > PAD_X && x + entry_width > width - PAD_X {
            x = PAD_X;
            y += LEGEND_ROW;
        }
        legend_sample(root, (x, y), colour, *dash)?;
        root.draw_text(&label, &style, (x + 38, y))?;
        x += entry_width + 28;
    }
    Ok(y + LEGEND_ROW / 2)
}

/// Fills the background and draws the header (title, subtitle, classification marking) and
/// the footer (source line, marking) shared by every chart.
fn draw_frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
    footer: &str,
    classification: &str,
) -> DrawResult<(i32, i32), DB> {
    let (width, height) = root.dim_in_pixel();
    let (width, height) = (
        i32::try_from(width).unwrap_or(i32::MAX),
        i32::try_from(height).unwrap_or(i32::MAX),
    );
    root.fill(&WHITE)?;

    // Header: title and subtitle on the left, classification marking on the right.
    let marking = classification.trim().to_uppercase();
    let marking_style = text_style(
        MARKING_SIZE,
        FontStyle::Bold,
        &INK,
        Pos::new(HPos::Right, VPos::Top),
    );
    let marking_width = i32::try_from(root.estimate_text_size(&marking, &marking_style)?.0).unwrap_or(0);
    root.draw_text(&marking, &marking_style, (width - PAD_X, 20))?;

    let title_style = text_style(TITLE_SIZE, FontStyle::Bold, &INK, Pos::new(HPos::Left, VPos::Top));
    let title = fit_text(root, title, &title_style, width - 3 * PAD_X - marking_width)?;
    root.draw_text(&title, &title_style, (PAD_X, 16))?;

    let subtitle_style = text_style(
        SUBTITLE_SIZE,
        FontStyle::Normal,
        &MUTED,
        Pos::new(HPos::Left, VPos::Top),
    );
    let subtitle = fit_text(root, subtitle, &subtitle_style, width - 2 * PAD_X)?;
    root.draw_text(&subtitle, &subtitle_style, (PAD_X, 56))?;

    // Footer: source line on the left, classification marking on the right.
    let footer_y = height - FOOTER_HEIGHT / 2;
    let marking_bottom = marking_style.pos(Pos::new(HPos::Right, VPos::Center));
    root.draw_text(&marking, &marking_bottom, (width - PAD_X, footer_y))?;
    let footer_style = text_style(
        FOOTER_SIZE,
        FontStyle::Normal,
        &FOOTER_GREY,
        Pos::new(HPos::Left, VPos::Center),
    );
    let footer = fit_text(root, footer, &footer_style, width - 3 * PAD_X - marking_width)?;
    root.draw_text(&footer, &footer_style, (PAD_X, footer_y))?;
    Ok((width, height))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;
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

    fn series(
        start: NaiveDate,
        n: u32,
        f: impl Fn(u32) -> f64,
    ) -> Result<Vec<(NaiveDate, f64)>, Box<dyn Error>> {
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
}
