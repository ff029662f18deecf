"""Score backtest forecast files of several tools on the same series, side by side.

    python evaluate.py --series SERIES.parquet --forecasts vigil=A.parquet statsforecast=B.parquet \
        --out metrics.csv [--origins 12] [--horizon 6] [--step 1] [--season 12]

Checks first (exit 1 with every problem listed, before any score is computed):
  - each forecast file has `unique_id`, `cutoff`, `ds`, `horizon`, `model`, `mean`, no nulls or
    NaN, and no duplicate (unique_id, cutoff, ds, horizon, model) key;
  - every file covers exactly the expected keys: for each series of the series file, the ORIGINS
    cutoffs ending H months before its last month (the last cutoff is month n - H of n, i.e.
    statsforecast's cross_validation(h=H, n_windows=ORIGINS, step_size=STEP)), horizons 1..H with
    ds = cutoff + horizon months, and each model of the files: series x ORIGINS x H x models rows;
  - all files have the same models (so the same keys).

Scores, per tool x model and over all models (`all`), on rows joined to the outcome y (ds):
  MAE  = mean |y - f|
  MSLE = mean (log1p(max(y, 0)) - log1p(max(f, 0)))^2
  MASE = mean over rows of |y - f| / scale, where scale = mean |y_t - y_{t-SEASON}| over the
         series' months up to and including the row's cutoff; rows whose scale is 0 are left out
         and counted in `mase_excluded` (vigil's definition).
A table with the tools side by side is printed, and the long CSV (tool, model, n, mae, mase,
mase_excluded, msle) is written. For every pair of tools the largest |f_a - f_b| per model is
printed with where it occurs: the same algorithm should give near-identical forecasts.
"""

import argparse
import sys

import polars as pl

KEYS = ["unique_id", "cutoff", "ds", "horizon", "model"]
SHOW = 5


def expected_keys(series, origins, horizon, step, models):
    last = series.group_by("unique_id").agg(pl.col("ds").max().alias("last"))
    offsets = pl.DataFrame(
        [
            (-(horizon + (origins - 1 - k) * step), h)
            for k in range(origins)
            for h in range(1, horizon + 1)
        ],
        schema={"cut_off": pl.Int64, "horizon": pl.Int64},
        orient="row",
    )
    keys = last.join(offsets, how="cross").with_columns(
        pl.col("last").dt.offset_by(pl.format("{}mo", pl.col("cut_off"))).alias("cutoff")
    )
    keys = keys.with_columns(pl.col("cutoff").dt.offset_by(pl.format("{}mo", pl.col("horizon"))).alias("ds"))
    return keys.select("unique_id", "cutoff", "ds", "horizon").join(
        pl.DataFrame({"model": models}), how="cross"
    )


def read_forecasts(name, path, problems):
    try:
        f = pl.read_parquet(path)
    except Exception as e:  # noqa: BLE001
        problems.append(f"{name}: cannot read {path}: {e}")
        return None
    missing = [c for c in KEYS + ["mean"] if c not in f.columns]
    if missing:
        problems.append(f"{name}: {path} lacks columns {missing} (has {f.columns})")
        return None
    f = f.select(
        pl.col("unique_id").cast(pl.String),
        pl.col("cutoff").cast(pl.Date),
        pl.col("ds").cast(pl.Date),
        pl.col("horizon").cast(pl.Int64),
        pl.col("model").cast(pl.String),
        pl.col("mean").cast(pl.Float64),
    )
    nulls = {c: n for c, n in zip(f.columns, f.null_count().row(0)) if n}
    nans = f["mean"].is_nan().sum()
    if nulls or nans:
        problems.append(f"{name}: nulls {nulls}, NaN means {nans}")
    dup = f.group_by(KEYS).len().filter(pl.col("len") > 1)
    if dup.height:
        problems.append(f"{name}: {dup.height} duplicate keys, e.g. {dup.head(SHOW).rows()}")
    return f


def metrics():
    err = (pl.col("y") - pl.col("mean")).abs()
    ok = pl.col("scale").fill_null(0) > 0  # null: no seasonal difference before the cutoff
    return [
        pl.len().alias("n"),
        err.mean().alias("mae"),
        (err / pl.col("scale")).filter(ok).mean().alias("mase"),
        (~ok).sum().cast(pl.Int64).alias("mase_excluded"),
        ((pl.col("y").clip(0).log1p() - pl.col("mean").clip(0).log1p()) ** 2).mean().alias("msle"),
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--series", required=True)
    p.add_argument("--forecasts", nargs="+", required=True, metavar="NAME=FILE")
    p.add_argument("--out", required=True, help="metrics CSV (long)")
    p.add_argument("--origins", type=int, default=12)
    p.add_argument("--horizon", type=int, default=6)
    p.add_argument("--step", type=int, default=1)
    p.add_argument("--season", type=int, default=12, help="MASE's seasonal lag (default: %(default)s)")
    a = p.parse_args()

    tools = []
    for spec in a.forecasts:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            p.error(f"--forecasts takes NAME=FILE, not {spec!r}")
        if name in [t for t, _ in tools]:
            p.error(f"tool {name!r} given twice")
        tools.append((name, path))

    series = pl.read_parquet(a.series, columns=["unique_id", "ds", "y"]).with_columns(
        pl.col("unique_id").cast(pl.String), pl.col("ds").cast(pl.Date), pl.col("y").cast(pl.Float64)
    )
    series = series.sort("unique_id", "ds")
    n_series = series["unique_id"].n_unique()

    problems = []
    frames = {name: read_forecasts(name, path, problems) for name, path in tools}
    model_sets = {name: sorted(f["model"].unique().to_list()) for name, f in frames.items() if f is not None}
    models = sorted({m for ms in model_sets.values() for m in ms})
    for name, ms in model_sets.items():
        if ms != models:
            problems.append(f"{name}: models {ms}, but the files together have {models}")
    expected = expected_keys(series, a.origins, a.horizon, a.step, models)
    n_expected = n_series * a.origins * a.horizon * len(models)
    assert expected.height == n_expected
    for name, f in frames.items():
        if f is None:
            continue
        extra = f.select(KEYS).join(expected, on=KEYS, how="anti")
        missing = expected.join(f.select(KEYS), on=KEYS, how="anti")
        if extra.height or missing.height or f.height != n_expected:
            problems.append(
                f"{name}: {f.height} rows, expected {n_expected} (= {n_series} series x {a.origins} origins "
                f"x {a.horizon} horizons x {len(models)} models); {missing.height} expected keys missing, "
                f"{extra.height} unexpected"
                + (f"; missing e.g. {missing.head(SHOW).rows()}" if missing.height else "")
                + (f"; unexpected e.g. {extra.head(SHOW).rows()}" if extra.height else "")
            )
    if problems:
        print("evaluate.py: the forecast files do not cover the same expected keys:", file=sys.stderr)
        for pr in problems:
            print(f"  - {pr}", file=sys.stderr)
        return 1
    print(
        f"{n_series} series; {a.origins} origins x h={a.horizon}; models {', '.join(models)}; "
        f"{n_expected} forecasts per tool, the same keys in {', '.join(n for n, _ in tools)}"
    )

    # MASE scale per (series, cutoff): mean |y_t - y_{t-season}| over t <= cutoff
    d = (pl.col("y") - pl.col("y").shift(a.season).over("unique_id")).abs()
    scale = series.with_columns(d.alias("d")).select(
        "unique_id",
        pl.col("ds").alias("cutoff"),
        (
            pl.col("d").fill_null(0).cum_sum().over("unique_id")
            / pl.col("d").is_not_null().cum_sum().over("unique_id")
        ).alias("scale"),
    )

    rows = []
    scored = {}
    for name, f in frames.items():
        s = (
            f.join(series.select("unique_id", "ds", "y"), on=["unique_id", "ds"], how="left")
            .join(scale, on=["unique_id", "cutoff"], how="left")
            .with_columns(pl.col("scale").fill_nan(None))
        )
        if s["y"].null_count():
            print(f"evaluate.py: {name}: {s['y'].null_count()} forecasts without an outcome", file=sys.stderr)
            return 1
        scored[name] = s
        per_model = s.group_by("model").agg(metrics()).sort("model")
        overall = s.select(metrics()).with_columns(pl.lit("all").alias("model"))
        rows.append(pl.concat([per_model, overall.select(per_model.columns)]).with_columns(pl.lit(name).alias("tool")))
    table = pl.concat(rows).select("tool", "model", "n", "mae", "mase", "mase_excluded", "msle")
    table.write_csv(a.out)

    # side-by-side table
    names = [n for n, _ in tools]
    order = models + ["all"]
    w = max(12, *(len(n) for n in names))
    head1 = f"{'model':<16}{'n':>9}{'mase_excl':>10}"
    for metric in ("MAE", "MASE", "MSLE"):
        head1 += " |" + "".join(f"{metric + ' ' + n:>{w + 6}}" for n in names)
    print()
    print(head1)
    print("-" * len(head1))
    for m in order:
        r = {n: table.filter((pl.col("tool") == n) & (pl.col("model") == m)).row(0, named=True) for n in names}
        first = r[names[0]]
        line = f"{m:<16}{first['n']:>9}{first['mase_excluded']:>10}"
        for metric in ("mae", "mase", "msle"):
            line += " |" + "".join(f"{fmt(r[n][metric]):>{w + 6}}" for n in names)
        print(line)
    print(f"\nwrote {a.out}")

    # forecast differences between tools
    for i, ta in enumerate(names):
        for tb in names[i + 1 :]:
            j = frames[ta].join(frames[tb], on=KEYS, suffix="_b").with_columns(
                (pl.col("mean") - pl.col("mean_b")).abs().alias("diff")
            )
            print(f"\n|{ta} - {tb}| per model (point forecasts on the same keys)")
            print(f"{'model':<16}{'max':>14}{'mean':>14}{'> 1e-6':>9}{'> 1e-3':>9}  where the max is")
            for m in models:
                jm = j.filter(pl.col("model") == m)
                top = jm.sort("diff", descending=True).row(0, named=True)
                where = (
                    f"{top['unique_id']} cutoff {top['cutoff']} h={top['horizon']}: "
                    f"{top['mean']:.6g} vs {top['mean_b']:.6g}"
                    if top["diff"] > 0
                    else "identical"
                )
                print(
                    f"{m:<16}{top['diff']:>14.6g}{jm['diff'].mean():>14.6g}"
                    f"{(jm['diff'] > 1e-6).sum():>9}{(jm['diff'] > 1e-3).sum():>9}  {where}"
                )
    return 0


def fmt(x):
    return "-" if x is None else f"{x:.4f}"


if __name__ == "__main__":
    sys.exit(main())
