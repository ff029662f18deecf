"""Rolling-origin backtest in statsforecast, the peer of vigil's backtest on a series file.

    python backtest_statsforecast.py --series SERIES.parquet --out FORECASTS.parquet \
        [--models naive,seasonal_naive,historic_mean,croston,tsb,auto_ets] \
        [--origins 12] [--horizon 6] [--step 1] [--jobs N] [--fallback naive|none]

Input (series file): `unique_id` str, `ds` date (month start), `y` f64 >= 0; every series the
same number of consecutive months, sorted by unique_id, ds.

Work: `StatsForecast(models, freq="MS", n_jobs=N).cross_validation(h=H, n_windows=ORIGINS,
step_size=STEP)` with `refit=True` (every model refitted at every origin on all the data up to
it, as vigil does), point forecasts only (no `level`: vigil's side of the benchmark forecasts
points too). With n = series length, origin k = 0..ORIGINS-1 trains on the first
n - H - (ORIGINS-1-k)*STEP values; `cutoff` is the last training month, so the last origin's
cutoff is the month just before the final H months (month n - H) and its forecasts cover the
last H months. Models, with vigil's names:

    naive           Naive()
    seasonal_naive  SeasonalNaive(season_length=12)
    historic_mean   HistoricAverage()
    croston         CrostonClassic()               SES alpha 0.1 on sizes and intervals, no bias correction
    tsb             TSB(alpha_d=0.1, alpha_p=0.1)
    auto_ets        AutoETS(season_length=1, model="ZZN")   non-seasonal search: ANN, AAN, AAdN,
                                                  and MNN, MAN, MAdN for strictly positive data

vigil never forecasts counts below zero, so the auto_ets mean is clipped at 0 before writing
(an additive ETS can forecast slightly negative values); the other five models cannot go below
zero on non-negative data and are written as they are. `--fallback naive` (the default, as in
vigil) makes statsforecast use Naive() where a model raises; statsforecast does not say where it
did, so the script fails instead with `--fallback none`.

Output (forecast file): `unique_id` str, `cutoff` date, `ds` date, `horizon` int32 (1..H),
`model` str, `mean` f64; sorted by unique_id, model, cutoff, horizon.

Timing: the process's import time and a warm-up (the same cross-validation on the first two
series, one origin, one process: first-call overheads; statsforecast 2.x's models are numpy and
compiled C++, with no numba JIT to compile) are printed on stderr, separately from the timed
cross-validation. The one-line summary on stdout gives the cross-validation's wall and CPU
seconds (this process and its worker processes) and the peak RSS.
"""

import os
import time

T_START = time.perf_counter()

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(var, "1")  # one thread per worker process; parallelism is n_jobs

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import statsforecast  # noqa: E402
from statsforecast import StatsForecast  # noqa: E402
from statsforecast.models import (  # noqa: E402
    TSB,
    AutoETS,
    CrostonClassic,
    HistoricAverage,
    Naive,
    SeasonalNaive,
)

MODELS = {
    "naive": lambda: Naive(alias="naive"),
    "seasonal_naive": lambda: SeasonalNaive(season_length=12, alias="seasonal_naive"),
    "historic_mean": lambda: HistoricAverage(alias="historic_mean"),
    "croston": lambda: CrostonClassic(alias="croston"),
    "tsb": lambda: TSB(alpha_d=0.1, alpha_p=0.1, alias="tsb"),
    "auto_ets": lambda: AutoETS(season_length=1, model="ZZN", alias="auto_ets"),
}
CLIP_AT_ZERO = {"auto_ets"}  # vigil clips every forecast at 0; only ETS can go below it here


def cpu_seconds():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def read_series(path):
    df = pq.read_table(path, columns=["unique_id", "ds", "y"]).to_pandas(date_as_object=False)
    df["ds"] = df["ds"].astype("datetime64[ns]")
    df["y"] = df["y"].astype(np.float64)
    if df.isna().any().any():
        sys.exit(f"{path}: nulls in unique_id, ds or y")
    months = df["ds"].to_numpy().astype("datetime64[M]").astype(np.int64)
    ids = df["unique_id"].to_numpy()
    new = np.r_[True, ids[1:] != ids[:-1]]
    if not np.all((np.diff(months) == 1) | new[1:]):
        sys.exit(f"{path}: each series must be consecutive months, sorted by unique_id, ds")
    lengths = np.diff(np.r_[np.flatnonzero(new), len(ids)])
    if len(set(ids[new])) != new.sum():
        sys.exit(f"{path}: rows of a series are not contiguous (sort by unique_id, ds)")
    return df, int(new.sum()), int(lengths.min()), int(lengths.max())


def to_long(cv, models):
    """statsforecast's wide cross-validation frame -> vigil's long forecast table (arrow)."""
    ds = cv["ds"].to_numpy().astype("datetime64[M]")
    cutoff = cv["cutoff"].to_numpy().astype("datetime64[M]")
    horizon = (ds.astype(np.int64) - cutoff.astype(np.int64)).astype(np.int32)
    n = len(cv)
    parts = []
    for m in models:
        mean = cv[m].to_numpy(dtype=np.float64)
        if m in CLIP_AT_ZERO:
            mean = np.maximum(mean, 0.0)
        parts.append(
            pd.DataFrame(
                {
                    "unique_id": cv["unique_id"].to_numpy(),
                    "cutoff": cutoff.astype("datetime64[D]"),
                    "ds": ds.astype("datetime64[D]"),
                    "horizon": horizon,
                    "model": np.full(n, m, dtype=object),
                    "mean": mean,
                }
            )
        )
    out = pd.concat(parts, ignore_index=True).sort_values(
        ["unique_id", "model", "cutoff", "horizon"], kind="stable", ignore_index=True
    )
    schema = pa.schema(
        [
            ("unique_id", pa.string()),
            ("cutoff", pa.date32()),
            ("ds", pa.date32()),
            ("horizon", pa.int32()),
            ("model", pa.string()),
            ("mean", pa.float64()),
        ]
    )
    return pa.Table.from_pandas(out, schema=schema, preserve_index=False)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--series", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated (default: %(default)s)")
    p.add_argument("--origins", type=int, default=12)
    p.add_argument("--horizon", type=int, default=6)
    p.add_argument("--step", type=int, default=1)
    p.add_argument("--jobs", type=int, default=1, help="statsforecast n_jobs (worker processes)")
    p.add_argument("--fallback", choices=["naive", "none"], default="naive")
    a = p.parse_args()
    models = [m.strip() for m in a.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        p.error(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
    t_import = time.perf_counter() - T_START

    t0 = time.perf_counter()
    df, n_series, len_min, len_max = read_series(a.series)
    need = a.horizon + (a.origins - 1) * a.step + 1
    if len_min < need:
        sys.exit(f"{a.series}: the shortest series has {len_min} months; {need} needed")
    t_read = time.perf_counter() - t0

    def make(n_jobs):
        return StatsForecast(
            models=[MODELS[m]() for m in models],
            freq="MS",
            n_jobs=n_jobs,
            fallback_model=Naive() if a.fallback == "naive" else None,
        )

    # warm-up: first two series, one origin, in this process; untimed in the summary
    t0 = time.perf_counter()
    # (two non-constant series, so that AutoETS runs its search rather than its constant shortcut)
    varying = df.groupby("unique_id", sort=False)["y"].agg(lambda y: y.iloc[: -a.horizon].nunique() > 1)
    first = (varying[varying].index if varying.any() else varying.index)[:2]
    make(1).cross_validation(h=a.horizon, df=df[df["unique_id"].isin(first)], n_windows=1)
    t_warm = time.perf_counter() - t0
    print(
        f"backtest_statsforecast.py: imports {t_import:.2f} s, read {t_read:.2f} s, "
        f"warm-up {t_warm:.2f} s (2 series, 1 origin, 1 process)",
        file=sys.stderr,
    )

    c0, t0 = cpu_seconds(), time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow etc. inside ETS candidates
        cv = make(a.jobs).cross_validation(h=a.horizon, df=df, n_windows=a.origins, step_size=a.step)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0

    table = to_long(cv, models)
    expected = n_series * a.origins * a.horizon * len(models)
    if table.num_rows != expected:
        sys.exit(f"wrote {table.num_rows} forecasts, expected {expected}")
    pq.write_table(table, a.out, compression="zstd")

    rss = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    )
    print(
        f"statsforecast {statsforecast.__version__}: {n_series} series x {len_max} months, "
        f"{a.origins} origins x h={a.horizon}, {len(models)} models ({','.join(models)}) -> {expected} forecasts; "
        f"cross-validation {wall:.2f} s wall, {cpu:.2f} s CPU, n_jobs={a.jobs}; "
        f"peak RSS {rss / 1024:.0f} MiB (largest process); warm-up {t_warm:.2f} s: {a.out}"
    )


if __name__ == "__main__":
    main()
