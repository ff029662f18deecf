//! What every chart shares: the frame (header, footer, classification marking), the embedded
//! fonts, colours and sizes, the date and value axes, and the legend.

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

/// A chart that draws itself on any plotters backend (SVG and bitmap alike). [`present`] draws
/// the frame every chart shares (header, footer, classification marking top and bottom) from
/// [`Figure::frame`], so no chart can leave the marking out, then the chart's own part.
pub(super) trait Figure {
    /// Title, subtitle, footer (source line) and classification marking.
    fn frame(&self) -> [&str; 4];
    /// Draws the chart inside the frame; `size` is the drawing area's width and height in pixels.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, size: (i32, i32))
    -> DrawResult<(), DB>;
}

/// Loads the fonts, checks the PNG name, and draws `figure` at `size` as SVG and as PNG.
pub(super) fn render_figure<F: Figure>(
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

pub(super) fn present<DB: DrawingBackend, F: Figure>(
    backend: DB,
    path: &Path,
    figure: &F,
) -> Result<(), ChartError> {
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

// ---------------------------------------------------------------------------------------------
// Fonts

/// Registers DejaVu Sans (regular and bold) as plotters' `sans-serif` family, once per process.
pub(super) fn ensure_fonts() -> Result<(), String> {
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

pub(super) const INK: RGBColor = RGBColor(0x1a, 0x1a, 0x1a);
pub(super) const MUTED: RGBColor = RGBColor(0x4d, 0x4d, 0x4d);
pub(super) const FOOTER_GREY: RGBColor = RGBColor(0x6e, 0x6e, 0x6e);
pub(super) const AXIS_GREY: RGBColor = RGBColor(0x88, 0x88, 0x88);
pub(super) const GRID: RGBColor = RGBColor(0xe2, 0xe2, 0xe2);
pub(super) const MARKER_GREY: RGBColor = RGBColor(0x70, 0x70, 0x70);
pub(super) const HISTORY_COLOUR: RGBColor = RGBColor(0x22, 0x22, 0x22);

/// Okabe–Ito colour-blind-safe palette (without black, which the history uses).
pub(super) const PALETTE: [RGBColor; 6] = [
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0xCC, 0x79, 0xA7),
];

// Font sizes are in plotters units: the bitmap backend scales glyphs to this height, the SVG
// backend writes `font-size = size / 1.24`. Tick labels at 18 are >= 14 px in both.
pub(super) const TITLE_SIZE: f64 = 32.0;
pub(super) const SUBTITLE_SIZE: f64 = 20.0;
pub(super) const MARKING_SIZE: f64 = 19.0;
pub(super) const LEGEND_SIZE: f64 = 18.0;
pub(super) const TICK_SIZE: f64 = 18.0;
pub(super) const AXIS_DESC_SIZE: f64 = 18.0;
pub(super) const NOTE_SIZE: f64 = 16.0;
pub(super) const FOOTER_SIZE: f64 = 16.0;

pub(super) const PAD_X: i32 = 24;
pub(super) const LEGEND_TOP: i32 = 86;
pub(super) const LEGEND_ROW: i32 = 26;
pub(super) const FOOTER_HEIGHT: i32 = 34;
/// Dash and gap lengths of forecast lines; after six forecasts the colours repeat with the
/// next pattern, so no two lines look alike.
pub(super) const DASHES: [(i32, i32); 3] = [(9, 6), (3, 4), (18, 6)];

pub(super) fn text_style(
    size: f64,
    style: FontStyle,
    colour: &'static RGBColor,
    pos: Pos,
) -> TextStyle<'static> {
    FontDesc::new(FontFamily::SansSerif, size, style)
        .color(colour)
        .pos(pos)
}

pub(super) fn forecast_colour(index: usize) -> &'static RGBColor {
    &PALETTE[index % PALETTE.len()]
}

pub(super) fn forecast_dash(index: usize) -> (i32, i32) {
    DASHES[(index / PALETTE.len()) % DASHES.len()]
}

// ---------------------------------------------------------------------------------------------
// Dates and values

pub(super) fn day_number(date: NaiveDate) -> f64 {
    f64::from(date.num_days_from_ce())
}

pub(super) fn date_of_day(day: f64) -> Option<NaiveDate> {
    let day = day.round();
    if day.abs() > f64::from(i32::MAX) {
        return None;
    }
    NaiveDate::from_num_days_from_ce_opt(day as i32)
}

/// A y range from 0 (or the minimum, if negative) to a round number a bit above the maximum;
/// never empty, even for all-zero data.
pub(super) fn nice_y_range(lo: f64, hi: f64) -> Range<f64> {
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
pub(super) fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// Tick label for the y axis: whole numbers with thousands separators, otherwise up to 3 decimals.
pub(super) fn format_y(value: &f64) -> String {
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
pub(super) struct DateAxis {
    pub(super) range: Range<f64>,
    /// How many "2019-06"-wide labels fit along the axis.
    pub(super) max_month_ticks: usize,
    /// How many "2019"-wide labels fit along the axis.
    pub(super) max_year_ticks: usize,
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

pub(super) type DrawResult<T, DB> = Result<T, DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Shortens `text` with an ellipsis until it fits in `max_width` pixels.
pub(super) fn fit_text<DB: DrawingBackend>(
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
pub(super) enum Sample {
    /// A solid line.
    Line,
    /// A dashed line (dash, gap).
    Dashed(i32, i32),
    /// A shaded box: `n` overlapping bands' worth of shade.
    Band(u8),
}

/// A legend sample: a short solid or dashed line, or a shaded box for a band.
pub(super) fn legend_sample<DB: DrawingBackend>(
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
pub(super) type LegendEntry<'a> = (&'a str, &'a RGBColor, Sample);

/// Opacity of one forecast band (bands overlap, so the centre of a fan is darker).
pub(super) const BAND_ALPHA: f64 = 0.22;

/// Draws legend entries in rows under the subtitle; returns the y just below the last row.
pub(super) fn draw_legend_entries<DB: DrawingBackend>(
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
pub(super) fn draw_frame<DB: DrawingBackend>(
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
