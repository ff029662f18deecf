//! Charts: history + forecast line charts as SVG and PNG, readable on a machine without system fonts.
//!
//! Text is rasterised with the DejaVu Sans font embedded in the binary (plotters' `ab_glyph`
//! feature), so PNG output never depends on fonts installed on the machine. The SVG output names
//! the generic `sans-serif` family, which every SVG viewer can resolve.
//!
//! The same drawing code runs for both outputs: [`render_series_chart`] hands an SVG backend and a
//! bitmap backend in turn to one function that is generic over plotters' `DrawingBackend`.

mod draw;
mod heatmap;
mod map;
mod series;
mod small;
#[cfg(test)]
mod tests;
mod xy;

pub use draw::{CHART_SIZE, ChartError};
pub use heatmap::{HeatmapChart, heatmap_height, render_heatmap};
pub use map::{CellMap, prio_grid_centre, render_cell_map};
pub use series::{ForecastBand, ForecastLine, SeriesChart, render_series_chart};
pub use small::{SmallMultiples, TrendPanel, render_small_multiples, small_multiples_height};
pub use xy::{Reference, XyChart, XyCurve, render_xy_chart};
