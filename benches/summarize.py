"""Medians of benches/e2e.sh's measurements as Markdown tables.

    summarize.py RESULTS.csv WORK_DIR > results.md

RESULTS.csv has one line per timed process (task, size, tool, run, wall_s, user_s, sys_s,
max_rss_kib, exit, commit). For each task × size × commit × tool: the number of runs that
exited 0, the median wall time, the median CPU time (user + system, all threads and child
processes) and the median peak RSS; then each peer's median wall time divided by vigil's at the
same commit (how many times faster vigil is). Runs at different commits are never pooled.
Failed runs are counted, never averaged in. The backtest's accuracy tables
(WORK_DIR/accuracy-*.csv, from benches/peer/evaluate.py) are shown beside it.
"""

import sys
from pathlib import Path

import polars as pl


def main() -> None:
    results, work = Path(sys.argv[1]), Path(sys.argv[2])
    df = pl.read_csv(results, comment_prefix="#").with_columns(cpu_s=pl.col("user_s") + pl.col("sys_s"))
    ok = df.filter(pl.col("exit") == 0)
    keys = ["task", "size", "commit"]
    med = (
        ok.group_by("task", "size", "commit", "tool", maintain_order=True)
        .agg(
            runs=pl.len(),
            wall_s=pl.col("wall_s").median(),
            wall_min=pl.col("wall_s").min(),
            wall_max=pl.col("wall_s").max(),
            cpu_s=pl.col("cpu_s").median(),
            rss_mib=(pl.col("max_rss_kib").median() / 1024).round(0),
        )
    )
    failed = df.filter(pl.col("exit") != 0).group_by(*keys, "tool").agg(failed=pl.len())
    vigil = med.filter(pl.col("tool") == "vigil").select(*keys, vigil_wall=pl.col("wall_s"))
    med = (
        med.join(vigil, on=keys, how="left")
        .with_columns(vs_vigil=(pl.col("wall_s") / pl.col("vigil_wall")).round(2))
        .join(failed, on=[*keys, "tool"], how="left")
        .with_columns(pl.col("failed").fill_null(0))
    )
    for task in med["task"].unique(maintain_order=True):
        t = med.filter(pl.col("task") == task)
        print(f"\n### {task}\n")
        print("| size | commit | tool | runs (failed) | wall s, median (min–max) | CPU s | peak RSS MiB | wall ÷ vigil's |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in t.iter_rows(named=True):
            ratio = "" if r["tool"] == "vigil" or r["vs_vigil"] is None else f"{r['vs_vigil']}×"
            print(
                f"| {r['size']} | {r['commit']} | {r['tool']} | {r['runs']} ({r['failed']}) | {r['wall_s']:.1f} "
                f"({r['wall_min']:.1f}–{r['wall_max']:.1f}) | {r['cpu_s']:.1f} | {r['rss_mib']:.0f} | {ratio} |"
            )
    for acc in sorted(work.glob("accuracy-*.csv")):
        a = pl.read_csv(acc)
        wide = a.pivot(on="tool", index="model", values=["mae", "mase", "msle"])
        print(f"\n### accuracy, {acc.stem.removeprefix('accuracy-')} series (benches/peer/evaluate.py)\n")
        cols = [c for c in wide.columns if c != "model"]
        print("| model | " + " | ".join(cols) + " |")
        print("| --- |" + " --- |" * len(cols))
        for r in wide.iter_rows(named=True):
            print(f"| {r['model']} | " + " | ".join(f"{r[c]:.4f}" for c in cols) + " |")


if __name__ == "__main__":
    main()
