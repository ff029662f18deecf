//! vigil's side of the backtest comparison with statsforecast (benches/e2e.sh).
//!
//! `backtest --series FILE --out FILE [--models naive,seasonal_naive,historic_mean,croston,tsb,auto_ets]
//! [--origins 12] [--horizon 6] [--threads N]` reads long series (`unique_id`, `ds`, `y`; every
//! series on the same consecutive months), runs a rolling-origin backtest of each model on every
//! series (origins 12, step 1, h = 6: the last origin's cutoff is the 6th-last month, as
//! statsforecast's `cross_validation(h=6, n_windows=12, step_size=1)`), and writes the point
//! forecasts (`unique_id`, `cutoff`, `ds`, `horizon`, `model`, `mean`).
//!
//! The models are vigil's, with the settings statsforecast's peers get: Naive, SeasonalNaive(12),
//! HistoricAverage, Croston (classic), TSB(0.1, 0.1) and AutoETS (the non-seasonal ZZN search,
//! forecasts clipped at 0). Point forecasts only, on both sides: the job wraps Croston and TSB in
//! conformal quantiles, which statsforecast's peers do not compute.

use polars::prelude::*;
use std::time::Instant;
use vigil_models::{
    AutoEts, BacktestSettings, Croston, CrostonKind, Fitted, Forecast, Forecaster, HistoricMean, ModelError,
    Naive, PointFit, PointModel, QuantileSource, SeasonalNaive, Tsb, backtest,
};

/// A point model as a forecaster without quantiles.
struct PointOnly<P: PointModel> {
    name: &'static str,
    inner: P,
}

struct PointOnlyFit(Box<dyn PointFit>);

impl<P: PointModel> Forecaster for PointOnly<P> {
    fn name(&self) -> &str {
        self.name
    }

    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>, ModelError> {
        Ok(Box::new(PointOnlyFit(self.inner.fit_point(y)?)))
    }
}

impl Fitted for PointOnlyFit {
    fn predict(&self, h: usize, _probs: &[f64]) -> Result<Forecast, ModelError> {
        Ok(Forecast {
            mean: self.0.mean(h),
            probs: Vec::new(),
            quantiles: Vec::new(),
            source: QuantileSource::Native,
        })
    }
}

struct Args {
    series: String,
    out: String,
    models: Vec<String>,
    origins: usize,
    horizon: usize,
    threads: Option<usize>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        series: String::new(),
        out: String::new(),
        models: "naive,seasonal_naive,historic_mean,croston,tsb,auto_ets"
            .split(',')
            .map(String::from)
            .collect(),
        origins: 12,
        horizon: 6,
        threads: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--series" => a.series = val()?,
            "--out" => a.out = val()?,
            "--models" => a.models = val()?.split(',').map(String::from).collect(),
            "--origins" => a.origins = val()?.parse().map_err(|_| "--origins: a number")?,
            "--horizon" => a.horizon = val()?.parse().map_err(|_| "--horizon: a number")?,
            "--threads" => a.threads = Some(val()?.parse().map_err(|_| "--threads: a number")?),
            "-h" | "--help" => return Err("usage: backtest --series FILE --out FILE [--models LIST] [--origins 12] [--horizon 6] [--threads N]".into()),
            other => return Err(format!("unknown option {other} (see --help)")),
        }
    }
    if a.series.is_empty() || a.out.is_empty() {
        return Err("--series and --out are required (see --help)".into());
    }
    Ok(a)
}

fn model(name: &str) -> Result<Box<dyn Forecaster>, String> {
    let bad = |e: ModelError| e.to_string();
    Ok(match name {
        "naive" => Box::new(Naive),
        "seasonal_naive" => Box::new(SeasonalNaive::new(12).map_err(bad)?),
        "historic_mean" => Box::new(HistoricMean),
        "croston" => Box::new(PointOnly {
            name: "croston",
            inner: Croston::new(CrostonKind::Classic),
        }),
        "tsb" => Box::new(PointOnly {
            name: "tsb",
            inner: Tsb::new(0.1, 0.1).map_err(bad)?,
        }),
        "auto_ets" => Box::new(AutoEts::default()),
        other => return Err(format!("unknown model {other}")),
    })
}

fn run() -> Result<(), String> {
    let a = parse()?;
    if let Some(t) = a.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .map_err(|e| e.to_string())?;
    }
    let started = Instant::now();
    let pe = |e: PolarsError| e.to_string();
    let df = ParquetReader::new(std::fs::File::open(&a.series).map_err(|e| format!("{}: {e}", a.series))?)
        .finish()
        .map_err(pe)?;
    let ids = df.column("unique_id").map_err(pe)?.str().map_err(pe)?.clone();
    let ds = df.column("ds").map_err(pe)?.cast(&DataType::Int32).map_err(pe)?;
    let ds = ds.i32().map_err(pe)?.clone();
    let y = df.column("y").map_err(pe)?.cast(&DataType::Float64).map_err(pe)?;
    let y: Vec<f64> = y.f64().map_err(pe)?.iter().map(|v| v.unwrap_or(0.0)).collect();
    // Series are contiguous runs of one unique_id.
    let mut starts = vec![0usize];
    for i in 1..df.height() {
        if ids.get(i) != ids.get(i - 1) {
            starts.push(i);
        }
    }
    starts.push(df.height());
    let series: Vec<&[f64]> = starts.windows(2).map(|w| &y[w[0]..w[1]]).collect();
    let models: Vec<Box<dyn Forecaster>> = a.models.iter().map(|m| model(m)).collect::<Result<_, _>>()?;
    let refs: Vec<&dyn Forecaster> = models.iter().map(|m| m.as_ref()).collect();
    let settings = BacktestSettings {
        origins: a.origins,
        step: 1,
        horizon: a.horizon,
        probs: Vec::new(),
        season: 12,
    };
    let read = started.elapsed().as_secs_f64();
    let bt = backtest(&series, &refs, &Naive, &settings).map_err(|e| e.to_string())?;
    let fitted = started.elapsed().as_secs_f64();
    let n = bt.rows.len();
    let (mut uid, mut cutoff, mut day, mut horizon, mut name, mut mean) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for r in bt.rows.rows() {
        let first = starts[r.series as usize];
        uid.push(ids.get(first).unwrap_or(""));
        cutoff.push(ds.get(first + r.cutoff as usize - 1));
        day.push(ds.get(first + r.resolves()));
        horizon.push(i32::from(r.horizon));
        name.push(bt.models[usize::from(r.model)].as_str());
        mean.push(r.mean);
    }
    let date = |name: &str, v: Vec<Option<i32>>| Column::new(name.into(), v).cast(&DataType::Date);
    let mut out = DataFrame::new(
        n,
        vec![
            Column::new("unique_id".into(), uid),
            date("cutoff", cutoff).map_err(pe)?,
            date("ds", day).map_err(pe)?,
            Column::new("horizon".into(), horizon),
            Column::new("model".into(), name),
            Column::new("mean".into(), mean),
        ],
    )
    .map_err(pe)?;
    ParquetWriter::new(std::fs::File::create(&a.out).map_err(|e| format!("{}: {e}", a.out))?)
        .finish(&mut out)
        .map_err(pe)?;
    eprintln!(
        "vigil backtest: {} series × {} origins × {} models × h {} = {} forecasts ({} fell back); read {:.1} s, fits {:.1} s, total {:.1} s",
        series.len(),
        a.origins,
        refs.len(),
        a.horizon,
        n,
        bt.fallbacks.len(),
        read,
        fitted - read,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("backtest: {e}");
        std::process::exit(2);
    }
}
