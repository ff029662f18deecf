//! AutoETS and MSTL+ETS fits per CPU-second on 1,000 synthetic 240-month series × 12 origins.
//!
//! Run: `cargo bench -p vigil-benches --bench ets_fits` (release build). Options after `--`:
//! `--series N` (1000), `--len N` (240), `--origins N` (12), `--model auto_ets|mstl_ets|both`
//! (both), `--threads N` (1: fits per CPU-second is a one-core figure), `--dump FILE` (write
//! the series as CSV, one per line, for the same workload in another tool).
//!
//! Each fit is what a backtest does at one origin: fit on the first `len − 12 + k` values
//! (k = 0..origins) and forecast 6 periods with seven quantiles.

use rayon::prelude::*;
use std::time::Instant;
use vigil_benches::{process_cpu_seconds, synthetic_series};
use vigil_models::{AutoEts, Forecaster, MstlEts};

/// The seven quantile levels (the 50/80/90% intervals) that the statsforecast script asks for,
/// fixed here so the two tools do the same work whatever the job's default grid is.
const PROBS: [f64; 7] = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95];

struct Args {
    series: usize,
    len: usize,
    origins: usize,
    model: String,
    threads: usize,
    dump: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        series: 1000,
        len: 240,
        origins: 12,
        model: "both".into(),
        threads: 1,
        dump: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().ok_or(format!("{k} needs a value"));
        let num = |v: String| v.parse::<usize>().map_err(|e| format!("{k}: {e}"));
        match k.as_str() {
            "--series" => a.series = num(val()?)?,
            "--len" => a.len = num(val()?)?,
            "--origins" => a.origins = num(val()?)?,
            "--threads" => a.threads = num(val()?)?.max(1),
            "--model" => a.model = val()?,
            "--dump" => a.dump = Some(val()?),
            "--bench" => {} // cargo bench passes this
            other => return Err(format!("unknown option {other}")),
        }
    }
    if a.len < 12 + a.origins + 24 {
        return Err(format!("--len {} is too short for {} origins", a.len, a.origins));
    }
    Ok(a)
}

fn run(name: &str, model: &dyn Forecaster, data: &[Vec<f64>], a: &Args) {
    let jobs: Vec<(usize, usize)> = (0..data.len())
        .flat_map(|s| (0..a.origins).map(move |k| (s, a.len - 12 + k)))
        .collect();
    let cpu0 = process_cpu_seconds();
    let t0 = Instant::now();
    let failed: usize = jobs
        .par_iter()
        .map(|(s, cut)| {
            let ok = model
                .fit(&data[*s][..*cut])
                .and_then(|m| m.predict(6, &PROBS))
                .is_ok();
            usize::from(!ok)
        })
        .sum();
    let wall = t0.elapsed().as_secs_f64();
    let cpu = match (cpu0, process_cpu_seconds()) {
        (Some(a), Some(b)) => b - a,
        _ => wall * a.threads as f64,
    };
    let fits = jobs.len();
    println!(
        "{name:<9} {fits:>6} fits ({failed} failed) in {wall:>7.2} s wall, {cpu:>7.2} s CPU on {} thread(s): \
         {:>7.1} fits per CPU-second, {:>7.1} fits per wall-second",
        a.threads,
        fits as f64 / cpu,
        fits as f64 / wall
    );
}

fn main() {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ets_fits: {e}");
            std::process::exit(2);
        }
    };
    let data = synthetic_series(a.series, a.len, 20261125);
    if let Some(path) = &a.dump {
        let text: String = data
            .iter()
            .map(|s| s.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",") + "\n")
            .collect();
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("ets_fits: {path}: {e}");
            std::process::exit(1);
        }
    }
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads)
        .build_global()
    {
        eprintln!("ets_fits: {e}");
        std::process::exit(1);
    }
    println!(
        "{} synthetic series × {} months × {} origins (seed 20261125)",
        a.series, a.len, a.origins
    );
    if a.model == "auto_ets" || a.model == "both" {
        run("auto_ets", &AutoEts::default(), &data, &a);
    }
    if a.model == "mstl_ets" || a.model == "both" {
        match MstlEts::new(12) {
            Ok(m) => run("mstl_ets", &m, &data, &a),
            Err(e) => eprintln!("ets_fits: {e}"),
        }
    }
}
