"""Events -> zero-filled region x month panel, in Python polars or pandas (peer of `vigil panel`).

    python panel.py --engine polars|pandas --events EVENTS.parquet --out PANEL.parquet

Input: an events file in the canonical incident schema (as `vigil synth` writes it). Only
`date_start`, `country_code`, `admin1`, `category` and the three fatality columns are read.

Output: one row per region x month, sorted by `region_id, ds`:

    region_id  str    <country_code>/<admin1>; inside a segment `%` -> `%25`, `/` -> `%2F`;
                      a null admin1 counts as `unknown` (vigil's rules; synthetic data has none)
    ds         date   first day of the month; every month from the month of the earliest
                      `date_start` in the file to the month of the latest, for every region
    events, fatalities_best, fatalities_low, fatalities_high
                      int64: event count and sums, 0 where a region has no event in a month
    events_<c>, fatalities_<c>
                      int64, for each category c in sorted order: count and sum of
                      fatalities_best of that category's events

Events are assigned to the month of `date_start`. Categories are by default the three of the
canonical schema (non_state, one_sided, state_based); an event of another category is an error
(`--categories auto` takes them from the file instead, at the cost of one more pass).

How each engine does it (written for files of up to 50 million rows):

  polars  one lazy query on the streaming engine: scan_parquet of the seven columns, month
          truncation, one group_by (country_code, admin1, month) with conditional sums for the
          categories; the aggregate (at most regions x months rows) is then zero-filled by a
          cross join of regions and the month range and a left join. Memory is bounded by the
          aggregate, not the file.
  pandas  pandas cannot stream: the seven columns are read at once with pyarrow (strings as
          dictionaries, so they become Categoricals of small integer codes), the month is
          computed on the datetime64 values, one groupby (country_code, admin1, month,
          category) aggregates, unstack spreads the categories, and reindex on the full
          region x month MultiIndex zero-fills. Memory grows with the file: the arrow table,
          its pandas copy and the groupby's key codes peaked at about 0.9 GB for 5 million
          rows (so roughly 8-9 GB for 50 million).

The script prints one line to stderr: engine, rows read, regions, months, seconds, peak RSS.
"""

import argparse
import resource
import sys
import time

CATEGORIES = ["non_state", "one_sided", "state_based"]
EVENT_COLUMNS = [
    "date_start",
    "country_code",
    "admin1",
    "category",
    "fatalities_best",
    "fatalities_low",
    "fatalities_high",
]
SUMS = ["fatalities_best", "fatalities_low", "fatalities_high"]
UNKNOWN = "unknown"


def output_columns(categories):
    cols = ["region_id", "ds", "events", *SUMS]
    for c in categories:
        cols += [f"events_{c}", f"fatalities_{c}"]
    return cols


def escape_segment(s):
    """vigil's region_id segment escaping (`%` first, so the escape itself is unambiguous)."""
    return s.replace("%", "%25").replace("/", "%2F")


def fail(msg):
    sys.exit(f"panel.py: {msg}")


# --------------------------------------------------------------------------------------- polars
def panel_polars(events, out, categories):
    import polars as pl

    lf = pl.scan_parquet(events).select(EVENT_COLUMNS)
    if categories == "auto":
        categories = sorted(
            lf.select(pl.col("category").unique()).collect(engine="streaming")["category"].to_list()
        )
        if None in categories:
            fail("null category in the events file")

    cat = pl.col("category")
    agg = (
        lf.with_columns(
            pl.col("admin1").fill_null(UNKNOWN),
            pl.col("date_start").dt.truncate("1mo").alias("ds"),
        )
        .group_by("country_code", "admin1", "ds")
        .agg(
            pl.len().cast(pl.Int64).alias("events"),
            *[pl.col(c).sum().cast(pl.Int64) for c in SUMS],
            *[
                e
                for c in categories
                for e in (
                    (cat == c).sum().cast(pl.Int64).alias(f"events_{c}"),
                    pl.col("fatalities_best").filter(cat == c).sum().cast(pl.Int64).alias(f"fatalities_{c}"),
                )
            ],
        )
        .collect(engine="streaming")
    )
    if agg.height == 0:
        fail(f"{events} has no events")
    if agg["ds"].null_count():
        fail("null date_start in the events file")
    n_rows = int(agg["events"].sum())
    in_categories = int(agg.select(pl.sum_horizontal(f"events_{c}" for c in categories)).to_series().sum())
    if in_categories != n_rows:
        fail(f"{n_rows - in_categories} events have a category outside {categories} (try --categories auto)")

    seg = lambda c: pl.col(c).str.replace_all("%", "%25", literal=True).str.replace_all("/", "%2F", literal=True)
    agg = agg.with_columns(pl.concat_str(seg("country_code"), pl.lit("/"), seg("admin1")).alias("region_id"))
    months = pl.date_range(agg["ds"].min(), agg["ds"].max(), "1mo", eager=True).alias("ds").to_frame()
    regions = agg.select("region_id").unique()
    counts = output_columns(categories)[2:]
    panel = (
        regions.join(months, how="cross")
        .join(agg.select("region_id", "ds", *counts), on=["region_id", "ds"], how="left")
        .with_columns(pl.col(counts).fill_null(0))
        .select(output_columns(categories))
        .sort("region_id", "ds")
    )
    panel.write_parquet(out)
    return n_rows, regions.height, months.height


# --------------------------------------------------------------------------------------- pandas
def panel_pandas(events, out, categories):
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(events, columns=EVENT_COLUMNS, read_dictionary=["country_code", "admin1", "category"])
    df = table.to_pandas(date_as_object=False, split_blocks=True, self_destruct=True)
    del table
    if df.empty:
        fail(f"{events} has no events")
    if df["date_start"].isna().any():
        fail("null date_start in the events file")
    if df["category"].isna().any():
        fail("null category in the events file")
    if categories == "auto":
        categories = sorted(df["category"].unique().tolist())
    else:
        extra = df["category"].isin(categories).eq(False).sum()
        if extra:
            fail(f"{extra} events have a category outside {categories} (try --categories auto)")

    # null admin1 -> "unknown" (merging with a real "unknown" unit, as vigil does)
    a1 = df["admin1"]
    if a1.isna().any():
        if UNKNOWN not in a1.cat.categories:
            a1 = a1.cat.add_categories([UNKNOWN])
        df["admin1"] = a1.fillna(UNKNOWN)
    # months since 1970-01 as the grouping key
    df["month"] = df["date_start"].to_numpy().astype("datetime64[M]").astype(np.int64)
    df.drop(columns="date_start", inplace=True)

    g = df.groupby(["country_code", "admin1", "month", "category"], observed=True, sort=False).agg(
        events=("fatalities_best", "size"),
        fatalities_best=("fatalities_best", "sum"),
        fatalities_low=("fatalities_low", "sum"),
        fatalities_high=("fatalities_high", "sum"),
    )
    n_rows = len(df)
    del df
    keys = ["country_code", "admin1", "month"]
    totals = g.groupby(level=keys, observed=True).sum()
    by_cat = g[["events", "fatalities_best"]].unstack("category", fill_value=0)
    wide = totals.copy()
    for c in categories:
        wide[f"events_{c}"] = by_cat[("events", c)] if ("events", c) in by_cat else 0
        wide[f"fatalities_{c}"] = by_cat[("fatalities_best", c)] if ("fatalities_best", c) in by_cat else 0

    # region_id from the (few) distinct country_code/admin1 pairs, then zero-fill on the full index
    wide = wide.reset_index()
    pairs = wide[["country_code", "admin1"]].drop_duplicates()
    pairs["region_id"] = [
        f"{escape_segment(str(c))}/{escape_segment(str(a))}" for c, a in zip(pairs["country_code"], pairs["admin1"])
    ]
    wide = wide.merge(pairs, on=["country_code", "admin1"]).drop(columns=["country_code", "admin1"])
    wide = wide.set_index(["region_id", "month"])
    regions = sorted(wide.index.get_level_values("region_id").unique())
    months = np.arange(wide.index.get_level_values("month").min(), wide.index.get_level_values("month").max() + 1)
    full = pd.MultiIndex.from_product([regions, months], names=["region_id", "month"])
    counts = output_columns(categories)[2:]
    panel = wide[counts].reindex(full, fill_value=0).astype(np.int64).reset_index()
    panel.insert(1, "ds", panel.pop("month").to_numpy().astype("datetime64[M]").astype("datetime64[D]"))

    schema = pa.schema(
        [("region_id", pa.string()), ("ds", pa.date32())] + [(c, pa.int64()) for c in counts]
    )
    pq.write_table(
        pa.Table.from_pandas(panel, schema=schema, preserve_index=False), out, compression="zstd"
    )
    return n_rows, len(regions), len(months)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--engine", choices=["polars", "pandas"], required=True)
    p.add_argument("--events", required=True, help="events parquet (canonical incident schema)")
    p.add_argument("--out", required=True, help="panel parquet to write")
    p.add_argument(
        "--categories",
        default=",".join(CATEGORIES),
        help="comma-separated categories, or 'auto' to take them from the file (default: %(default)s)",
    )
    a = p.parse_args()
    categories = a.categories if a.categories == "auto" else sorted(a.categories.split(","))

    t0 = time.perf_counter()
    run = panel_polars if a.engine == "polars" else panel_pandas
    rows, regions, months = run(a.events, a.out, categories)
    secs = time.perf_counter() - t0
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"panel.py {a.engine}: {rows} events -> {regions} regions x {months} months "
        f"= {regions * months} rows in {secs:.2f} s (peak RSS {rss_mib:.0f} MiB): {a.out}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
