//! Criterion benchmarks of vigil's hot paths: ingest + quality + panel, each model's fit and
//! forecast, the global models' fit (cold and from the previous origin's fit), the backtest
//! metrics, the ensemble's stacking search, and Getis-Ord Gi*.
//!
//! Run: `cargo bench -p vigil-benches --bench hot_paths` (release profile); one group:
//! `cargo bench -p vigil-benches --bench hot_paths -- models`. Criterion reports the time per
//! iteration with its confidence interval and compares with the previous run on this machine.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use vigil_benches::synth::{SynthSchema, SynthSpec, generate};
use vigil_benches::synthetic_series;
use vigil_core::data::ingest::{CHUNK_ROWS, IngestOptions, JobInput, ingest_job};
use vigil_core::data::mapping::SchemaMapping;
use vigil_core::data::panel::{PanelOptions, build_panel};
use vigil_core::{Frequency, Level};
use vigil_models::{
    AutoEts, Conformal, Croston, CrostonKind, DEFAULT_PROBS, Forecaster, HistoricMean, MstlEts, Naive,
    SeasonalNaive, Tsb, WindowMean,
};

/// Events → quality rules → aggregate → zero-filled admin-1 × month panel, on 200,000
/// synthetic events in 1,000 regions × 240 months.
fn ingest_and_panel(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = dir.path().join("events.parquet");
    let spec = SynthSpec {
        events: 200_000,
        regions: 1_000,
        months: 240,
        intermittent: 0.4,
        seed: 7,
        schema: SynthSchema::Canonical,
    };
    generate(&spec, &events, None).expect("synthetic events");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mapping = SchemaMapping::load(&root.join("data/schemas/canonical.toml")).expect("mapping");
    let as_of = chrono::NaiveDate::from_ymd_opt(2020, 12, 31).expect("date");
    let mut group = c.benchmark_group("ingest_and_panel");
    group.sample_size(10);
    group.bench_function("200k events, 1k regions x 240 months", |b| {
        b.iter(|| {
            let inputs = [JobInput {
                path: &events,
                mapping: &mapping,
                options: IngestOptions {
                    as_of,
                    extracted: None,
                    label: "events".into(),
                },
            }];
            let job = ingest_job(&inputs, Frequency::Month, CHUNK_ROWS, None).expect("ingest");
            let panel = build_panel(
                &job.aggregated,
                &PanelOptions {
                    level: Level::Admin1,
                    frequency: Frequency::Month,
                    start: None,
                    as_of,
                },
            )
            .expect("panel");
            black_box(panel.frame.height())
        });
    });
    group.finish();
}

/// One fit and a 6-month forecast with the job's quantiles, per model, on a 240-month series.
fn models(c: &mut Criterion) {
    let y = synthetic_series(1, 240, 11).remove(0);
    let conformal = |m| Conformal::new(m, 24, 6).expect("settings");
    let models: Vec<Box<dyn Forecaster>> = vec![
        Box::new(Naive),
        Box::new(SeasonalNaive::new(12).expect("season")),
        Box::new(HistoricMean),
        Box::new(conformal(WindowMean::new(12).expect("window"))),
        Box::new(Conformal::new(Croston::new(CrostonKind::Sba), 24, 6).expect("settings")),
        Box::new(Conformal::new(Tsb::new(0.1, 0.1).expect("alphas"), 24, 6).expect("settings")),
        Box::new(AutoEts::default()),
        Box::new(MstlEts::new(12).expect("period")),
    ];
    let mut group = c.benchmark_group("models");
    for m in &models {
        group.bench_with_input(BenchmarkId::new("fit+predict", m.name()), &y, |b, y| {
            b.iter(|| {
                let f = m.fit(black_box(y)).expect("fit");
                black_box(f.predict(6, &DEFAULT_PROBS).expect("predict"))
            });
        });
    }
    group.finish();
}

/// The global models' fit on 50,000 rows × 20 features of overdispersed counts (the job fits
/// regions × 120 months of such rows per origin and horizon): from scratch, and from the fit
/// of the rows one "month" earlier (a window shifted by 5%), as the backtest does.
fn global_models(c: &mut Criterion) {
    use vigil_models::rng::SplitMix64;
    use vigil_models::{GlobalKind, GlobalModel};
    let (n, k, shift) = (50_000usize, 20usize, 2_500usize);
    let mut rng = SplitMix64::new(19);
    let mut x = Vec::with_capacity((n + shift) * k);
    let mut y = Vec::with_capacity(n + shift);
    for _ in 0..n + shift {
        let row: Vec<f64> = (0..k)
            .map(|j| {
                if j < 5 {
                    (4.0 * rng.uniform()).ln_1p()
                } else {
                    rng.normal()
                }
            })
            .collect();
        let mu = (-1.5 + 0.8 * row[0] + 0.3 * row[1] - 0.2 * row[5]).exp();
        // a Poisson count with a gamma(1)-mixed mean: NB2 with α = 1
        let lambda = mu * -rng.uniform().max(1e-300).ln();
        let (mut count, mut p) = (0.0, (-lambda).exp());
        let (u, mut cdf) = (rng.uniform(), p);
        while cdf < u && count < 1e4 {
            count += 1.0;
            p *= lambda / count;
            cdf += p;
        }
        x.extend(row);
        y.push(count);
    }
    let names: Vec<String> = (0..k).map(|j| format!("f{j}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (earlier, later) = ((0, n), (shift, n + shift));
    let rows = |(a, b): (usize, usize)| (&x[a * k..b * k], &y[a..b]);
    let mut group = c.benchmark_group("global");
    group.sample_size(10);
    for kind in [GlobalKind::NegBin, GlobalKind::Hurdle] {
        let (xe, ye) = rows(earlier);
        let before = GlobalModel::fit(kind, 1, &names, xe, ye, 1.0).expect("fits");
        let (xl, yl) = rows(later);
        group.bench_function(
            format!("{} fit, 50k rows x 20 features, cold", kind.name()),
            |b| {
                b.iter(|| black_box(GlobalModel::fit(kind, 1, &names, black_box(xl), yl, 1.0).expect("fits")))
            },
        );
        group.bench_function(
            format!("{} fit, 50k rows x 20 features, warm", kind.name()),
            |b| {
                b.iter(|| {
                    black_box(
                        GlobalModel::fit_from(kind, 1, &names, black_box(xl), yl, 1.0, Some(&before))
                            .expect("fits"),
                    )
                })
            },
        );
    }
    group.finish();
}

/// A backtest of `models` on 100 synthetic series × 240 months (seed `seed`): 12 origins,
/// horizons 1..6, the job's nine quantiles.
fn backtest_100(seed: u64, models: &[&dyn Forecaster]) -> vigil_models::Backtest {
    let series = synthetic_series(100, 240, seed);
    let refs: Vec<&[f64]> = series.iter().map(Vec::as_slice).collect();
    let settings = vigil_models::BacktestSettings {
        origins: 12,
        step: 1,
        horizon: 6,
        probs: DEFAULT_PROBS.to_vec(),
        season: 12,
    };
    vigil_models::backtest(&refs, models, &Naive, &settings).expect("backtest")
}

/// Scores of a 100-series × 12-origin backtest of three models (all the metrics the job writes).
fn metrics(c: &mut Criterion) {
    let sn = SeasonalNaive::new(12).expect("season");
    let bt = backtest_100(13, &[&Naive, &sn, &HistoricMean]);
    c.bench_function("metrics/summarise 21,600 backtest rows", |b| {
        b.iter(|| black_box(vigil_models::metrics::summarise(black_box(&bt), [1.0, 25.0])))
    });
}

/// Stacking five members' quantiles (a 100-series × 12-origin × 6-horizon backtest: 7,200 rows
/// of 9 levels) on the ensemble's 0.1 grid of the simplex: the search the job runs, and the
/// exhaustive search of all 1,001 grid points it replaced (the same answer).
fn stacking(c: &mut Criterion) {
    let sn = SeasonalNaive::new(12).expect("season");
    let wm = Conformal::new(WindowMean::new(12).expect("window"), 24, 6).expect("settings");
    let sba = Conformal::new(Croston::new(CrostonKind::Sba), 24, 6).expect("settings");
    let models: [&dyn Forecaster; 5] = [&Naive, &sn, &HistoricMean, &wm, &sba];
    let mut bt = backtest_100(29, &models);
    bt.rows.sort_by_key(|r| (r.model, r.series, r.cutoff, r.horizon));
    let per_model = bt.rows.len() / models.len();
    let rows: Vec<_> = bt.rows.iter().collect();
    let q: Vec<Vec<Vec<f64>>> = rows
        .chunks(per_model)
        .map(|rows| rows.iter().map(|r| r.quantiles.to_vec()).collect())
        .collect();
    let y: Vec<f64> = rows[..per_model].iter().map(|r| r.y).collect();
    let mut group = c.benchmark_group("stacking");
    group.sample_size(10);
    type Search = fn(&[Vec<Vec<f64>>], &[f64], &[f64], usize) -> Vec<f64>;
    let searches: [(&str, Search); 2] = [
        ("cutting planes", vigil_models::stacking::stack_crps),
        ("exhaustive", vigil_models::stacking::stack_crps_exhaustive),
    ];
    for (name, search) in searches {
        group.bench_function(format!("5 members, 7,200 rows, {name}"), |b| {
            b.iter(|| black_box(search(black_box(&q), &y, &DEFAULT_PROBS, 10)))
        });
    }
    group.finish();
}

/// Gi* on a 100 × 100 lattice with queen neighbours (and each cell itself).
fn gi_star(c: &mut Criterion) {
    let side = 100usize;
    let y: Vec<f64> = synthetic_series(1, side * side, 17).remove(0);
    let neighbors: Vec<Vec<usize>> = (0..side * side)
        .map(|i| {
            let (r, col) = ((i / side) as i64, (i % side) as i64);
            let mut n = Vec::new();
            for dr in -1..=1 {
                for dc in -1..=1 {
                    let (rr, cc) = (r + dr, col + dc);
                    if (0..side as i64).contains(&rr) && (0..side as i64).contains(&cc) {
                        n.push(rr as usize * side + cc as usize);
                    }
                }
            }
            n
        })
        .collect();
    c.bench_function("gi_star/10,000 cells", |b| {
        b.iter(|| black_box(vigil_core::analysis::hotspots::gi_star(black_box(&y), &neighbors)))
    });
}

criterion_group!(
    hot_paths,
    ingest_and_panel,
    models,
    global_models,
    metrics,
    stacking,
    gi_star
);
criterion_main!(hot_paths);
