//! vigil-core: frames in, tables out.
//!
//! The analytics stages of a vigil job as library functions, one module per stage, in the order
//! data flows through them:
//!
//! 1. [`data`]: schema mappings, readers, ingest with quarantine, quality rules, periods,
//!    classification, zero-filled panels and per-region series;
//! 2. [`analysis`]: trend tests, seasonality, change points and hot spots;
//! 3. [`forecast`]: features, local and global models' backtests and forecasts, model choice,
//!    reconciliation across levels, the model registry and shard parts;
//! 4. [`alerts`]: early warnings with their reasons;
//! 5. [`output`]: run folders written atomically, manifests and integrity checks.
//!
//! A stage uses only the stages before it (and [`output`]'s table writers); none uses the report,
//! sharing or API crates. Charts and the report, sharing with partners and the HTTP API are crates of their
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
pub mod analysis;
pub mod data;
pub mod error;
pub mod forecast;
pub mod output;

pub use data::classification::Classification;
pub use data::period::Frequency;
pub use data::region::Level;
pub use error::EngineError;

/// The engine's version, recorded in every manifest.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
