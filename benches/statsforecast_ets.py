"""AutoETS fits per CPU-second in Python's statsforecast, on the workload of the Rust `ets_fits` bench.

Each fit is one backtest origin: for series s and origin k = 0..11, fit on the first
len - 12 + k values and forecast h = 6 with 80% and 90% prediction intervals (the Rust side
forecasts seven quantiles 0.05..0.95, i.e. the 50/80/90% intervals). Models:

  auto_ets  AutoETS(season_length=1, model="ZZN")   non-seasonal, same candidates as the Rust side
  mstl_ets  MSTL(season_length=12, trend_forecaster=AutoETS(model="ZZN"))
  ets_zzz   AutoETS(season_length=12, model="ZZZ")  seasonal, for reference only

statsforecast is slow, so a deterministic subset is timed: the first --series series (100) for
auto_ets and mstl_ets, the first --seasonal-series series (20) for ets_zzz, all 12 origins each.
One process, one thread; each model first does one untimed fit and forecast (warm-up: JIT
where numba is used, imports and caches otherwise).
Each model is timed --repeats times (3); the line shows the medians of CPU and wall seconds.

Write the series (one per line, comma-separated, no header) from the Rust bench, then run:

    cargo bench -p vigil-benches --bench ets_fits -- --model none --dump SERIES.csv
    python3 benches/statsforecast_ets.py SERIES.csv [--series 100] [--repeats 3] [--seasonal-series 20]

Needs `pip install statsforecast==2.1.1`.
"""

import os

for var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, "1")  # before numpy and numba are imported

import argparse
import platform
import statistics
import time

import numpy as np
import statsforecast
from statsforecast.models import MSTL, AutoETS

ORIGINS, HOLDOUT, H, LEVELS = 12, 12, 6, [80, 90]

MODELS = {
    "auto_ets": lambda: AutoETS(season_length=1, model="ZZN"),
    "mstl_ets": lambda: MSTL(season_length=12, trend_forecaster=AutoETS(model="ZZN")),
    "ets_zzz": lambda: AutoETS(season_length=12, model="ZZZ"),
}


def fit_all(make, series):
    """Fit and forecast every (series, origin) pair; return (fits, failed, cpu s, wall s)."""
    fits = failed = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for y in series:
        for k in range(ORIGINS):
            fits += 1
            try:
                make().fit(y[: len(y) - HOLDOUT + k]).predict(h=H, level=LEVELS)
            except Exception:
                failed += 1
    return fits, failed, time.process_time() - cpu0, time.perf_counter() - wall0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("csv")
    p.add_argument("--series", type=int, default=100)
    p.add_argument("--seasonal-series", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()

    with open(a.csv) as f:
        data = [np.array(line.split(","), dtype=np.float64) for line in f if line.strip()]
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"statsforecast {statsforecast.__version__}; {len(data)} series of {len(data[0])} values, "
        f"{ORIGINS} origins, h={H}, levels {LEVELS}, median of {a.repeats}"
    )
    for name, make in MODELS.items():
        make().fit(data[0][: len(data[0]) - HOLDOUT]).predict(h=H, level=LEVELS)  # warm-up, untimed
        subset = data[: a.seasonal_series if name == "ets_zzz" else a.series]
        runs = [fit_all(make, subset) for _ in range(a.repeats)]
        fits, failed = runs[0][:2]
        cpu = statistics.median(r[2] for r in runs)
        wall = statistics.median(r[3] for r in runs)
        print(
            f"{name:<9} {fits:>5} fits ({failed} failed): {cpu:7.2f} s CPU, {wall:7.2f} s wall, "
            f"{fits / cpu:6.1f} fits per CPU-second, {fits / wall:6.1f} fits per wall-second",
            flush=True,
        )


if __name__ == "__main__":
    main()
