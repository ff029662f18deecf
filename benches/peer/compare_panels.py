"""Check that two region x month panels are equal: same columns, same rows, same values.

    python compare_panels.py A.parquet B.parquet [--columns common | --columns c1,c2,...]

Without --columns both files must have exactly the same column names (order may differ). With
`--columns common` the columns present in both are compared (e.g. vigil's panel.parquet against
a peer's), with an explicit list just those. The compared columns always include the keys
`region_id` and `ds`, and the script prints which columns it compared and which it ignored.

Checks, each reported with examples when it fails (exit 1; 2 for bad usage or unreadable files):
  - the compared columns have the same types in both files (int64 counts, date ds, string ids);
  - no nulls, no duplicate (region_id, ds) keys, and each file sorted by region_id, ds;
  - the same set of (region_id, ds) keys (rows missing from either side are listed);
  - equal values in every compared column, row by row after joining on the keys.
"""

import argparse
import sys

import polars as pl

KEYS = ["region_id", "ds"]
SHOW = 5  # examples per problem


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument(
        "--columns",
        help="'common' (columns in both files) or a comma-separated list; default: all, which must match",
    )
    args = p.parse_args()

    try:
        a, b = pl.read_parquet(args.a), pl.read_parquet(args.b)
    except Exception as e:  # noqa: BLE001 - report any read error plainly
        print(f"compare_panels.py: cannot read: {e}", file=sys.stderr)
        return 2
    name_a, name_b = "A", "B"
    print(f"A = {args.a} ({a.height} rows, {a.width} columns)")
    print(f"B = {args.b} ({b.height} rows, {b.width} columns)")

    problems = []
    cols_a, cols_b = list(a.columns), list(b.columns)
    if args.columns is None:
        only_a = [c for c in cols_a if c not in cols_b]
        only_b = [c for c in cols_b if c not in cols_a]
        if only_a or only_b:
            problems.append(
                f"different columns: only in A {only_a}, only in B {only_b} "
                "(use --columns common to compare the shared ones)"
            )
        cols = [c for c in cols_a if c in cols_b]
    elif args.columns == "common":
        cols = [c for c in cols_a if c in cols_b]
    else:
        cols = [c.strip() for c in args.columns.split(",") if c.strip()]
        for c in cols:
            for name, df in ((name_a, a), (name_b, b)):
                if c not in df.columns:
                    problems.append(f"column {c!r} is not in {name}")
    for k in reversed(KEYS):
        if k not in cols:
            cols.insert(0, k)
    missing_keys = [(n, k) for k in KEYS for n, df in ((name_a, a), (name_b, b)) if k not in df.columns]
    if missing_keys:
        for n, k in missing_keys:
            problems.append(f"key column {k!r} is missing from {n}")
        return report(problems)
    cols = [c for c in cols if c in a.columns and c in b.columns]
    ignored = sorted(set(cols_a + cols_b) - set(cols))
    print(f"comparing {len(cols)} columns: {', '.join(cols)}")
    if ignored:
        print(f"ignoring {len(ignored)} columns: {', '.join(ignored)}")

    for c in cols:
        if a.schema[c] != b.schema[c]:
            problems.append(f"column {c!r} has type {a.schema[c]} in A but {b.schema[c]} in B")

    for name, df in ((name_a, a), (name_b, b)):
        nulls = {c: n for c, n in zip(cols, df.select(pl.col(cols).null_count()).row(0)) if n}
        if nulls:
            problems.append(f"{name} has nulls: {nulls}")
        dup = df.group_by(KEYS).len().filter(pl.col("len") > 1)
        if dup.height:
            problems.append(f"{name} has {dup.height} duplicate (region_id, ds) keys, e.g. {dup.head(SHOW).rows()}")
        keys = df.select(KEYS)
        if not keys.equals(keys.sort(KEYS)):
            bad = keys.with_row_index().filter(
                (pl.col("region_id") < pl.col("region_id").shift(1))
                | ((pl.col("region_id") == pl.col("region_id").shift(1)) & (pl.col("ds") < pl.col("ds").shift(1)))
            )
            problems.append(f"{name} is not sorted by region_id, ds (first out of order at row {bad['index'][0]})")

    if any("has type" in p for p in problems):
        return report(problems)

    only_a = a.select(KEYS).join(b.select(KEYS), on=KEYS, how="anti")
    only_b = b.select(KEYS).join(a.select(KEYS), on=KEYS, how="anti")
    if only_a.height:
        problems.append(f"{only_a.height} rows only in A, e.g. {fmt_rows(only_a)}")
        problems.append(f"  A's regions not in B: {missing_levels(a, b, 'region_id')}; months: {missing_levels(a, b, 'ds')}")
    if only_b.height:
        problems.append(f"{only_b.height} rows only in B, e.g. {fmt_rows(only_b)}")
        problems.append(f"  B's regions not in A: {missing_levels(b, a, 'region_id')}; months: {missing_levels(b, a, 'ds')}")

    values = [c for c in cols if c not in KEYS]
    joined = a.select(cols).join(b.select(cols), on=KEYS, how="inner", suffix="__b")
    for c in values:
        diff = joined.filter(pl.col(c).ne_missing(pl.col(f"{c}__b")))
        if diff.height:
            ex = diff.select(*KEYS, pl.col(c).alias("A"), pl.col(f"{c}__b").alias("B")).head(SHOW)
            problems.append(f"column {c!r}: {diff.height} of {joined.height} rows differ, e.g. {fmt_rows(ex)}")

    if not problems:
        print(
            f"OK: equal panels ({a.height} rows = {a['region_id'].n_unique()} regions x "
            f"{a['ds'].n_unique()} months, {len(values)} value columns)"
        )
        return 0
    return report(problems)


def missing_levels(x, y, col):
    m = sorted(set(x[col].unique().to_list()) - set(y[col].unique().to_list()))
    return f"{len(m)} {m[:SHOW]}{' ...' if len(m) > SHOW else ''}"


def fmt_rows(df):
    return "; ".join(str(r) for r in df.head(SHOW).rows())


def report(problems):
    print(f"DIFFERENT: {len(problems)} problem(s):", file=sys.stderr)
    for p in problems:
        print(f"  - {p}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
