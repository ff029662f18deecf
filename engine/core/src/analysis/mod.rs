//! Stage 2, analysis: what the panel shows, before any forecast.
//!
//! [`trend`] (Mann-Kendall tests and Sen's slopes), [`seasonality`] (month-of-year profiles and
//! decomposition), [`changepoints`] (Bayesian online change-point detection) and [`hotspots`]
//! (Getis-Ord Gi* with false-discovery control, and how hot spots emerge over time).

pub mod changepoints;
pub mod hotspots;
pub mod seasonality;
pub mod trend;
