#!/usr/bin/env python3
"""Memory timeline of one measured run: where in the job its resident memory rose.

    python3 benches/timeline.py WORK/logs/job-10M-10000r-vigil-COMMIT-1.log

reads the run's log and the VmRSS samples e2e.sh took beside it (the same name ending in
.rss: one line per sample, `unix-seconds KiB`), and prints for each timestamped log line the
highest and the last sample taken since the line before it, so a peak is placed between two
things the job said it did. Samples after the last line are the output files being written.
Standard library only: it runs with any python3.
"""

import sys
from datetime import datetime
from pathlib import Path


def log_lines(path):
    """(unix seconds, text) of each line of a tracing log that starts with an RFC 3339 time."""
    out = []
    for line in Path(path).read_text(errors="replace").splitlines():
        stamp, _, rest = line.partition(" ")
        try:
            t = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue
        out.append((t, rest.strip()))
    return out


def samples(path):
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.split()
        if len(parts) != 2:
            sys.exit(f"{path}, line {n}: expected `unix-seconds KiB`, found {line!r}")
        out.append((float(parts[0]), int(parts[1])))
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    log = Path(sys.argv[1])
    rss = log.with_suffix(".rss")
    if not rss.is_file():
        sys.exit(f"{rss}: no memory samples beside the log (e2e.sh writes them when RSS_EVERY > 0)")
    lines, taken = log_lines(log), samples(rss)
    if not taken:
        sys.exit(f"{rss}: no samples (the run was shorter than one sampling interval)")
    gib = 1024 * 1024
    print(f"{'highest GiB':>11} {'last GiB':>8}  up to")
    start = float("-inf")
    for t, text in lines + [(float("inf"), "(end of the run: output files written)")]:
        got = [kib for at, kib in taken if start < at <= t]
        start = t
        if got:
            print(f"{max(got) / gib:11.2f} {got[-1] / gib:8.2f}  {text[:110]}")
    top = max(kib for _, kib in taken)
    print(f"highest sample {top / gib:.2f} GiB of {len(taken)} (GNU time's peak may fall between samples)")


if __name__ == "__main__":
    main()
