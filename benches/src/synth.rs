//! Seeded synthetic incident data for benchmarks and scale tests (`vigil synth`).
//!
//! `regions` admin-1 units in `regions / 50` countries (at least one), each on its own PRIO-GRID
//! cell, over `months` months from January 2001. Each region's monthly event rate is
//! `level · exp(trend · t) · (1 + amplitude · sin(2πt/12 + phase))`, times a burst factor in a few
//! months; counts are negative binomial (a gamma-mixed Poisson) around that rate. A share of the
//! regions is intermittent (rates well below one event a month, so most months are zero), the
//! levels are log-normal (a few regions carry most events, as in real data), and the rates are
//! scaled so that the expected total is the number of events asked for. Each event gets a day in
//! its month, a category (state-based, non-state or one-sided), fatalities (zero-inflated, heavy
//! tailed, with low and high estimates around the best one) and coordinates inside its region's
//! cell.
//!
//! The output is parquet, written in batches so that memory does not grow with the number of
//! events, in vigil's canonical incident schema (read with `data/schemas/canonical.toml`) or in
//! UCDP GED's column names and types (read with `data/schemas/ucdp_ged.toml`). Optionally the
//! monthly event counts of every region are also written as long series (`unique_id`, `ds`, `y`),
//! the form forecasting tools take. Everything depends only on the settings and the seed: one
//! random stream per region (PCG-64), drawn in a fixed order.

use chrono::{Months, NaiveDate};
use polars::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Gamma, LogNormal, Poisson};
use rand_pcg::Pcg64Mcg;
use std::path::Path;
use vigil_core::data::ingest::prio_grid_id;
use vigil_core::error::EngineError;

/// Which column names and types the events file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynthSchema {
    /// vigil's canonical incident schema.
    Canonical,
    /// UCDP GED's names and types (`id`, `country_id`, `adm_1`, `type_of_violence`, `best`, …).
    Ged,
}

impl SynthSchema {
    /// Every schema.
    pub const ALL: [SynthSchema; 2] = [SynthSchema::Canonical, SynthSchema::Ged];

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            SynthSchema::Canonical => "canonical",
            SynthSchema::Ged => "ged",
        }
    }
}

vigil_core::named_enum!(SynthSchema, "schema");

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSpec {
    /// Expected number of events (the total is random around it).
    pub events: u64,
    /// Admin-1 regions.
    pub regions: usize,
    /// Months, from January 2001.
    pub months: usize,
    /// Share of regions with intermittent (mostly zero) series.
    pub intermittent: f64,
    /// Random seed.
    pub seed: u64,
    /// Column names and types of the events file.
    pub schema: SynthSchema,
}

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSummary {
    /// Events written.
    pub events: u64,
    /// Regions (all of them have a series, even when they have no event).
    pub regions: usize,
    /// Countries.
    pub countries: usize,
    /// Months.
    pub months: usize,
    /// Region-months without any event.
    pub zero_months: u64,
}

/// First month of the synthetic data.
fn first_month() -> NaiveDate {
    NaiveDate::from_ymd_opt(2001, 1, 1).unwrap_or_default()
}

/// A region's fixed traits.
struct Region {
    country: usize,
    level: f64,
    trend: f64,
    amplitude: f64,
    phase: f64,
    dispersion: f64,
    cell: (f64, f64),
}

/// The random stream of region `r` for purpose `what` (0: traits, 1: counts and events).
fn stream(seed: u64, r: usize, what: u64) -> Pcg64Mcg {
    // SplitMix-style mixing so that neighbouring regions get unrelated streams.
    let mut z =
        seed ^ (r as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ what.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    Pcg64Mcg::seed_from_u64(z ^ (z >> 31))
}

fn invalid(message: String) -> EngineError {
    EngineError::Invalid {
        context: "vigil synth".into(),
        message,
    }
}

impl SynthSpec {
    /// Checks the settings, naming each problem.
    pub fn check(&self) -> Result<(), EngineError> {
        let mut problems = Vec::new();
        if self.regions == 0 || self.regions > 250_000 {
            problems.push(format!(
                "--regions {} must be 1 to 250,000 (one PRIO-GRID cell each)",
                self.regions
            ));
        }
        if self.months < 12 || self.months > 1200 {
            problems.push(format!("--months {} must be 12 to 1,200", self.months));
        }
        if self.events == 0 || self.events > 2_000_000_000 {
            problems.push(format!("--events {} must be 1 to 2,000,000,000", self.events));
        }
        if !(0.0..=1.0).contains(&self.intermittent) {
            problems.push(format!(
                "--intermittent {} must be a share from 0 to 1",
                self.intermittent
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(invalid(problems.join("; ")))
        }
    }

    fn countries(&self) -> usize {
        self.regions.div_ceil(50).max(1)
    }

    /// Every region's traits; rates are scaled later.
    fn regions(&self) -> Result<Vec<Region>, EngineError> {
        let side = (self.regions as f64).sqrt().ceil() as usize;
        let bad = |e: String| invalid(format!("distribution: {e}"));
        let levels = LogNormal::new(0.0, 1.2).map_err(|e| bad(e.to_string()))?;
        Ok((0..self.regions)
            .map(|r| {
                let mut rng = stream(self.seed, r, 0);
                let intermittent = rng.random::<f64>() < self.intermittent;
                let level = levels.sample(&mut rng) * if intermittent { 0.02 } else { 1.0 };
                // Cells on a square from 60°S, 170°W: row r / side, column r % side.
                let (row, col) = (r / side, r % side);
                Region {
                    country: r * self.countries() / self.regions,
                    level,
                    trend: (rng.random::<f64>() - 0.5) * 4.0 / self.months as f64,
                    amplitude: 0.6 * rng.random::<f64>(),
                    phase: std::f64::consts::TAU * rng.random::<f64>(),
                    dispersion: 0.5 + 4.5 * rng.random::<f64>(),
                    cell: (-60.0 + 0.5 * row as f64 + 0.25, -170.0 + 0.5 * col as f64 + 0.25),
                }
            })
            .collect())
    }
}

/// A region's expected events in month `t` before scaling (bursts are drawn with the counts).
fn base_rate(g: &Region, t: usize) -> f64 {
    let t = t as f64;
    g.level * (g.trend * t).exp() * (1.0 + g.amplitude * (std::f64::consts::TAU * t / 12.0 + g.phase).sin())
}

/// Column buffers of one batch of events.
#[derive(Default)]
struct Batch {
    id: Vec<i64>,
    date: Vec<i32>,
    country_code: Vec<String>,
    country: Vec<String>,
    admin1: Vec<String>,
    lat: Vec<f64>,
    lon: Vec<f64>,
    grid: Vec<i64>,
    category: Vec<u8>,
    best: Vec<i64>,
    low: Vec<i64>,
    high: Vec<i64>,
}

impl Batch {
    fn len(&self) -> usize {
        self.id.len()
    }

    fn frame(&mut self, schema: SynthSchema) -> Result<DataFrame, EngineError> {
        let fail = EngineError::polars("building a synthetic batch");
        let n = self.len();
        let date = Column::new("d".into(), std::mem::take(&mut self.date))
            .cast(&DataType::Date)
            .map_err(EngineError::polars("synthetic dates"))?;
        let cat = std::mem::take(&mut self.category);
        let (ids, lat, lon, grid) = (
            std::mem::take(&mut self.id),
            std::mem::take(&mut self.lat),
            std::mem::take(&mut self.lon),
            std::mem::take(&mut self.grid),
        );
        let (best, low, high) = (
            std::mem::take(&mut self.best),
            std::mem::take(&mut self.low),
            std::mem::take(&mut self.high),
        );
        let (cc, country, admin1) = (
            std::mem::take(&mut self.country_code),
            std::mem::take(&mut self.country),
            std::mem::take(&mut self.admin1),
        );
        let columns = match schema {
            SynthSchema::Canonical => {
                const NAMES: [&str; 3] = ["state_based", "non_state", "one_sided"];
                vec![
                    Column::new(
                        "incident_id".into(),
                        ids.iter().map(|i| format!("syn-{i}")).collect::<Vec<_>>(),
                    ),
                    date.clone().with_name("date_start".into()),
                    date.with_name("date_end".into()),
                    Column::new("country_code".into(), cc),
                    Column::new("country".into(), country),
                    Column::new("admin1".into(), admin1),
                    Column::full_null("admin2".into(), n, &DataType::String),
                    Column::new("latitude".into(), lat),
                    Column::new("longitude".into(), lon),
                    Column::new("grid_id".into(), grid),
                    Column::new(
                        "category".into(),
                        cat.iter().map(|c| NAMES[*c as usize]).collect::<Vec<_>>(),
                    ),
                    Column::full_null("subcategory".into(), n, &DataType::String),
                    Column::new("fatalities_best".into(), best),
                    Column::new("fatalities_low".into(), low),
                    Column::new("fatalities_high".into(), high),
                    Column::new("source_dataset".into(), vec!["vigil synth"; n]),
                ]
            }
            SynthSchema::Ged => {
                let i32s = |v: Vec<i64>| {
                    v.into_iter()
                        .map(|x| i32::try_from(x).unwrap_or(i32::MAX))
                        .collect::<Vec<i32>>()
                };
                let country_id: Vec<i32> = cc.iter().map(|c| c.parse().unwrap_or(0)).collect();
                vec![
                    Column::new("id".into(), ids),
                    Column::new(
                        "type_of_violence".into(),
                        cat.iter().map(|c| i32::from(*c) + 1).collect::<Vec<_>>(),
                    ),
                    Column::new(
                        "conflict_new_id".into(),
                        cat.iter().map(|c| 10_000 + i64::from(*c)).collect::<Vec<_>>(),
                    ),
                    Column::new("where_prec".into(), vec![1i32; n]),
                    Column::new("adm_1".into(), admin1),
                    Column::full_null("adm_2".into(), n, &DataType::String),
                    Column::new("latitude".into(), lat),
                    Column::new("longitude".into(), lon),
                    Column::new("priogrid_gid".into(), grid),
                    Column::new("country".into(), country),
                    Column::new("country_id".into(), country_id),
                    Column::new("date_prec".into(), vec![1i32; n]),
                    date.clone().with_name("date_start".into()),
                    date.with_name("date_end".into()),
                    Column::new("best".into(), i32s(best)),
                    Column::new("high".into(), i32s(high)),
                    Column::new("low".into(), i32s(low)),
                ]
            }
        };
        DataFrame::new(n, columns).map_err(fail)
    }
}

/// Rows per parquet batch (bounded memory whatever the total).
const BATCH: usize = 1 << 20;

/// Writes the events (and, with `series`, each region's monthly counts) as `spec` says.
pub fn generate(spec: &SynthSpec, events: &Path, series: Option<&Path>) -> Result<SynthSummary, EngineError> {
    spec.check()?;
    let regions = spec.regions()?;
    let expected: f64 = regions
        .iter()
        .map(|g| (0..spec.months).map(|t| base_rate(g, t)).sum::<f64>())
        .sum();
    // Bursts: one month in sixty, times 3 + 12·U (mean 9), so the mean factor is 1 + 8/60.
    let scale = spec.events as f64 / (expected * (1.0 + 8.0 / 60.0)).max(f64::MIN_POSITIVE);
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let month_start: Vec<NaiveDate> = (0..spec.months)
        .map(|t| {
            first_month()
                .checked_add_months(Months::new(t as u32))
                .unwrap_or_default()
        })
        .collect();
    let month_days: Vec<i64> = month_start
        .iter()
        .map(|d| {
            let next = d.checked_add_months(Months::new(1)).unwrap_or(*d);
            (next - *d).num_days()
        })
        .collect();
    let categories = [0.5, 0.7, 1.0]; // cumulative: state-based, non-state, one-sided
    let bad = |e: String| invalid(format!("distribution: {e}"));
    let fat_size: Gamma<f64> = Gamma::new(0.6, 4.0).map_err(|e| bad(e.to_string()))?;

    let schema = Batch::default().frame(spec.schema)?.schema().as_ref().clone();
    let mut writer = vigil_core::output::TableWriter::create(events, schema, None)?;
    let mut batch = Batch::default();
    let mut counts: Vec<f64> = Vec::with_capacity(if series.is_some() {
        spec.regions * spec.months
    } else {
        0
    });
    let (mut total, mut zero_months, mut next_id) = (0u64, 0u64, 1i64);

    for (r, g) in regions.iter().enumerate() {
        let mut rng = stream(spec.seed, r, 1);
        let code = (100 + g.country).to_string();
        let name = format!("Synthland {}", g.country + 1);
        let admin1 = format!("Region {:06}", r + 1);
        for (t, start) in month_start.iter().enumerate() {
            // A burst in about one month in sixty, lasting that month.
            let burst = if rng.random::<f64>() < 1.0 / 60.0 {
                3.0 + 12.0 * rng.random::<f64>()
            } else {
                1.0
            };
            let rate = (base_rate(g, t) * scale * burst).max(0.0);
            let mixed = if rate > 0.0 {
                Gamma::new(g.dispersion, rate / g.dispersion)
                    .map_err(|e| bad(e.to_string()))?
                    .sample(&mut rng)
            } else {
                0.0
            };
            let n = if mixed > 0.0 {
                Poisson::new(mixed)
                    .map_err(|e| bad(e.to_string()))?
                    .sample(&mut rng) as u64
            } else {
                0
            };
            if series.is_some() {
                counts.push(n as f64);
            }
            if n == 0 {
                zero_months += 1;
            }
            let first_day = (*start - epoch).num_days();
            for _ in 0..n {
                let day = first_day + (rng.random::<f64>() * month_days[t] as f64) as i64;
                let u: f64 = rng.random();
                let category = categories.iter().position(|c| u < *c).unwrap_or(2) as u8;
                // Zero-inflated, heavy-tailed fatalities: a third of events kill no one.
                let best = if rng.random::<f64>() < 0.33 {
                    0
                } else {
                    1 + fat_size.sample(&mut rng).round() as i64
                };
                let lat = g.cell.0 + (rng.random::<f64>() - 0.5) * 0.45;
                let lon = g.cell.1 + (rng.random::<f64>() - 0.5) * 0.45;
                batch.id.push(next_id);
                next_id += 1;
                batch.date.push(i32::try_from(day).unwrap_or(i32::MAX));
                batch.country_code.push(code.clone());
                batch.country.push(name.clone());
                batch.admin1.push(admin1.clone());
                batch.lat.push(lat);
                batch.lon.push(lon);
                batch.grid.push(prio_grid_id(lat, lon));
                batch.category.push(category);
                batch.best.push(best);
                batch.low.push(best - best / 5);
                batch.high.push(best + (best + 1) / 2);
                if batch.len() >= BATCH {
                    writer.write(&batch.frame(spec.schema)?)?;
                }
            }
            total += n;
        }
    }
    writer.write(&batch.frame(spec.schema)?)?;
    writer.finish()?;
    if let Some(path) = series {
        let ids: Vec<String> = regions
            .iter()
            .enumerate()
            .flat_map(|(r, g)| {
                let id = format!("{}/Region {:06}", 100 + g.country, r + 1);
                std::iter::repeat_n(id, spec.months)
            })
            .collect();
        let ds: Vec<i32> = (0..spec.regions)
            .flat_map(|_| month_start.iter().map(|d| (*d - epoch).num_days() as i32))
            .collect();
        let ds = Column::new("ds".into(), ds)
            .cast(&DataType::Date)
            .map_err(EngineError::polars("series dates"))?;
        let mut df = DataFrame::new(
            counts.len(),
            vec![
                Column::new("unique_id".into(), ids),
                ds,
                Column::new("y".into(), counts),
            ],
        )
        .map_err(EngineError::polars("building the series"))?;
        let f = std::fs::File::create(path).map_err(|e| EngineError::io(path, e))?;
        ParquetWriter::new(f)
            .with_compression(ParquetCompression::Zstd(None))
            .finish(&mut df)
            .map_err(EngineError::polars(format!("writing {}", path.display())))?;
    }
    Ok(SynthSummary {
        events: total,
        regions: spec.regions,
        countries: spec.countries(),
        months: spec.months,
        zero_months,
    })
}

/// The month of a date as months since January 2001 (for tests).
#[cfg(test)]
fn month_index(d: NaiveDate) -> usize {
    use chrono::Datelike;
    ((d.year() - 2001) * 12 + d.month0() as i32) as usize
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec(schema: SynthSchema) -> SynthSpec {
        SynthSpec {
            events: 20_000,
            regions: 60,
            months: 48,
            intermittent: 0.4,
            seed: 7,
            schema,
        }
    }

    #[test]
    fn the_same_seed_writes_the_same_bytes_and_series_match_the_events() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, s) = (
            dir.path().join("a.parquet"),
            dir.path().join("b.parquet"),
            dir.path().join("s.parquet"),
        );
        let sum = generate(&spec(SynthSchema::Canonical), &a, Some(&s)).unwrap();
        generate(&spec(SynthSchema::Canonical), &b, None).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert!((15_000..25_000).contains(&sum.events), "{sum:?}");
        assert_eq!(sum.countries, 2);
        let events = ParquetReader::new(std::fs::File::open(&a).unwrap())
            .finish()
            .unwrap();
        assert_eq!(events.height() as u64, sum.events);
        let series = ParquetReader::new(std::fs::File::open(&s).unwrap())
            .finish()
            .unwrap();
        assert_eq!(series.height(), 60 * 48);
        let y: f64 = series.column("y").unwrap().f64().unwrap().sum().unwrap();
        assert_eq!(y as u64, sum.events, "the series count every event once");
        let zeros = series
            .column("y")
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .filter(|v| *v == Some(0.0))
            .count();
        assert_eq!(zeros as u64, sum.zero_months);
        assert!(
            zeros > 60 * 48 / 5,
            "intermittent regions give many zero months: {zeros}"
        );
        // Every event sits in its month range and in its region's cell.
        let d = events
            .column("date_start")
            .unwrap()
            .cast(&DataType::Int32)
            .unwrap();
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for v in d.i32().unwrap().iter().flatten().step_by(97) {
            let date = epoch + chrono::Duration::days(i64::from(v));
            assert!(month_index(date) < 48, "{date}");
        }
        let grid = events.column("grid_id").unwrap().i64().unwrap().clone();
        let lat = events.column("latitude").unwrap().f64().unwrap().clone();
        let lon = events.column("longitude").unwrap().f64().unwrap().clone();
        for i in (0..events.height()).step_by(101) {
            assert_eq!(
                grid.get(i),
                Some(prio_grid_id(lat.get(i).unwrap(), lon.get(i).unwrap()))
            );
        }
        let other = SynthSpec {
            seed: 8,
            ..spec(SynthSchema::Canonical)
        };
        generate(&other, &b, None).unwrap();
        assert_ne!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "another seed, other data"
        );
    }

    /// Synthetic events (`vigil synth`) in both schemas are read by the shipped mappings with no row
    /// quarantined, and their admin-1 × month panel holds exactly the counts the generator drew.
    #[test]
    fn synthetic_events_round_trip_through_ingest_and_panel() {
        use std::collections::BTreeMap;
        use vigil_core::data::ingest::{IngestOptions, ingest};
        use vigil_core::data::mapping::SchemaMapping;
        use vigil_core::data::panel::{PanelOptions, build_panel};
        use vigil_core::{Frequency, Level};
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (schema, mapping) in [
            (SynthSchema::Canonical, "canonical.toml"),
            (SynthSchema::Ged, "ucdp_ged.toml"),
        ] {
            let spec = SynthSpec {
                events: 30_000,
                regions: 120,
                months: 36,
                intermittent: 0.4,
                seed: 11,
                schema,
            };
            let (events, series) = (dir.path().join("e.parquet"), dir.path().join("s.parquet"));
            let summary = generate(&spec, &events, Some(&series)).unwrap();
            let mapping = SchemaMapping::load(&repo.join("data/schemas").join(mapping)).unwrap();
            let opts = IngestOptions {
                as_of: date("2003-12-31"),
                extracted: None,
                label: "synth".into(),
            };
            let got = ingest(&events, &mapping, &opts).unwrap();
            assert_eq!(
                got.quarantine.height(),
                0,
                "{schema}: {:?}",
                got.quarantine.head(Some(3))
            );
            assert_eq!(got.incidents.height() as u64, summary.events);
            let panel = build_panel(
                &got.incidents,
                &PanelOptions {
                    level: Level::Admin1,
                    frequency: Frequency::Month,
                    start: Some(date("2001-01-01")),
                    as_of: date("2003-12-31"),
                },
            )
            .unwrap();
            let drawn = ParquetReader::new(std::fs::File::open(&series).unwrap())
                .finish()
                .unwrap();
            // Regions with no event at all have no panel rows; every other region-month matches.
            let key = |df: &DataFrame, v: &str| -> BTreeMap<(String, i32), i64> {
                let ids = df
                    .column(if v == "y" { "unique_id" } else { "region_id" })
                    .unwrap();
                let ds = df.column("ds").unwrap().cast(&DataType::Int32).unwrap();
                let vals = df.column(v).unwrap().cast(&DataType::Int64).unwrap();
                (0..df.height())
                    .map(|i| {
                        let id = ids.str().unwrap().get(i).unwrap().to_string();
                        (
                            (id, ds.i32().unwrap().get(i).unwrap()),
                            vals.i64().unwrap().get(i).unwrap(),
                        )
                    })
                    .collect()
            };
            let built = key(&panel.frame, "events");
            let want: BTreeMap<(String, i32), i64> = key(&drawn, "y")
                .into_iter()
                .filter(|((id, _), _)| built.keys().any(|(b, _)| b == id))
                .collect();
            assert_eq!(built, want, "{schema}");
            assert!(built.len() >= 100 * 36, "{schema}: {} region-months", built.len());
        }
    }

    #[test]
    fn bad_settings_are_named_together() {
        let bad = SynthSpec {
            events: 0,
            regions: 0,
            months: 3,
            intermittent: 2.0,
            seed: 1,
            schema: SynthSchema::Ged,
        };
        let e = bad.check().unwrap_err().to_string();
        for part in ["--regions 0", "--months 3", "--events 0", "--intermittent 2"] {
            assert!(e.contains(part), "{part} not in {e}");
        }
    }
}
