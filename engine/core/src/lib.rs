//! vigil-core: frames in, tables out.
//!
//! The analytics stages of a vigil job as library functions: [`mapping`] (schema mappings onto
//! the canonical incident schema), [`read`] (CSV, gzip CSV, Parquet, Arrow IPC), [`ingest`]
//! (quality rules and quarantine), [`panel`] (zero-filled region × period counts), [`series`]
//! (per-region series and rolling change), [`forecasting`] (backtests, model choice, forecast
//! tables), [`trend`] (Mann-Kendall, Sen's slope), and [`output`] (atomic run folders with a
//! manifest). Charts and the report, sharing with partners and the HTTP API are crates of their
//! own (vigil-report, vigil-share, vigil-api) that read what this crate writes.

/// Implements `Display` and `FromStr` for an enum with `ALL` and `as_str`, so that specs,
/// outputs and error messages spell its values the same way. A bad value gets a message that
/// lists the valid ones. Exported for the binary's own enums (e.g. `vigil synth --schema`).
#[macro_export]
macro_rules! named_enum {
    ($t:ty, $kind:literal) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $t {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$t>::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| {
                        let names: Vec<&str> = <$t>::ALL.iter().map(|v| v.as_str()).collect();
                        format!(
                            concat!("unknown ", $kind, " '{}': expected one of {}"),
                            s,
                            names.join(", ")
                        )
                    })
            }
        }
    };
}

pub mod alerts;
pub mod calibration;
pub mod changepoints;
pub mod classification;
pub mod ensemble;
pub mod error;
pub mod features;
pub mod forecasting;
pub mod global;
pub mod hotspots;
pub mod ingest;
pub mod integrity;
pub mod mapping;
pub mod output;
pub mod panel;
pub mod period;
pub mod quality;
pub mod read;
pub mod reconcile;
pub mod registry;
pub mod seasonality;
pub mod series;
pub mod shard;
pub mod trend;

pub use classification::Classification;
pub use error::EngineError;
pub use panel::Level;
pub use period::Frequency;

/// The engine's version, recorded in every manifest.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
