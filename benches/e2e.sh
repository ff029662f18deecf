#!/usr/bin/env bash
# End-to-end benchmark: vigil and the Python tools analysts would otherwise use, on the same
# generated data, in the same run, each whole process timed from outside (GNU time: wall,
# user + system CPU, peak RSS), every figure the median of RUNS runs taken in turn (A B A B …).
#
#   bash benches/e2e.sh panel      events → zero-filled region × month panel: vigil, polars, pandas
#   bash benches/e2e.sh backtest   12-origin, h = 6 backtest of six models: vigil, statsforecast
#   bash benches/e2e.sh scaling    the full monthly job on synthetic data of growing size
#   bash benches/e2e.sh all        the three
#
# Environment (all optional):
#   RUNS=3                          runs per figure (the median is reported)
#   PANEL_EVENTS="1000000 10000000 50000000"   panel sizes (events; 10,000 regions × 240 months)
#   PANEL_TOOLS="vigil polars pandas"           which panel implementations to time
#   BACKTEST_SERIES="1000 10000"    backtest sizes (series × 240 months)
#   SCALING="1000000:1000 10000000:10000"       full-job sizes, events:regions
#   WORK=$HOME/.cache/vigil-bench   data, outputs and results (results.md, results.csv)
#   CARGO_TARGET_DIR                $HOME/.cache/vigil-target; in a linked git worktree,
#                                   $HOME/.cache/vigil-target-<worktree folder> (see below)
#   RSS_EVERY=10                    seconds between samples of each measured process's resident
#                                   memory, written beside its log (WORK/logs/*.rss); 0: none.
#                                   `python3 benches/timeline.py WORK/logs/<run>.log` places
#                                   them against the job's log lines.
#
# Needs: a Rust toolchain, python3 (3.11+) with venv, GNU time (Debian's `time`, installed here
# if missing). The Python side installs into a venv from benches/peer/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
what="${1:-all}"
runs="${RUNS:-3}"
rss_every="${RSS_EVERY:-10}"
work="${WORK:-$HOME/.cache/vigil-bench}"
mkdir -p "$work"
results="$work/results.csv"
# Cargo decides that a build is fresh from file times, so a target dir shared by two checkouts
# can hand one of them the other's binary without rebuilding: a worktree checked out at an older
# commit has older files than the binary last built there from main. A linked worktree therefore
# builds into its own dir unless CARGO_TARGET_DIR says otherwise; and if this script last built
# into the target dir from another checkout, this checkout's sources are touched first, so that
# cargo finds them newer than what it built and rebuilds.
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  CARGO_TARGET_DIR="$HOME/.cache/vigil-target"
  if [ "$(git rev-parse --git-dir 2>/dev/null)" != "$(git rev-parse --git-common-dir 2>/dev/null)" ]; then
    CARGO_TARGET_DIR="$HOME/.cache/vigil-target-$(basename "$repo")"
  fi
fi
export CARGO_TARGET_DIR
stamp="$CARGO_TARGET_DIR/release/.e2e-checkout"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" != "$repo" ]; then
  echo "== $CARGO_TARGET_DIR was last built from $(cat "$stamp"): rebuilding from this checkout" >&2
  git ls-files -z -- '*.rs' '*.toml' Cargo.lock | xargs -0 touch
fi

if [ ! -x /usr/bin/time ]; then
  as_root=()
  if [ "$(id -u)" != 0 ]; then as_root=(sudo); fi
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq time >/dev/null
fi

echo "== building vigil and the benchmark binaries (release profile)" >&2
cargo build -q --release --locked -p vigil -p vigil-benches --bins
echo "$repo" >"$stamp"
bin="$CARGO_TARGET_DIR/release"
vigil="$bin/vigil"
echo "== the Python peers' venv" >&2
py="$(bash benches/peer/setup.sh | tail -n 1)"

# Machine and versions, once per run of this script.
{
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm); $(nproc) cores; $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "# $(rustc --version); vigil $("$vigil" --version | awk '{print $2}') (release profile)"
  echo "# $("$py" -c 'import sys, polars, pandas, statsforecast; print(f"Python {sys.version.split()[0]}, polars {polars.__version__}, pandas {pandas.__version__}, statsforecast {statsforecast.__version__}")')"
} | tee -a "$work/machine.txt" >&2
# Every measurement names the commit it was taken at (-dirty: with uncommitted changes), and
# medians are taken per commit: runs of different code are never pooled.
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD 2>/dev/null || commit="$commit-dirty"
header="task,size,tool,run,wall_s,user_s,sys_s,max_rss_kib,exit,commit"
if [ -f "$results" ] && [ "$(head -n 1 "$results")" != "$header" ]; then
  old="$results.$(date -u +%Y%m%dT%H%M%SZ).old"
  echo "== $results has another layout (no commit column); moved to $old" >&2
  mv "$results" "$old"
fi
[ -f "$results" ] || echo "$header" >"$results"

# sample_rss PID FILE: the resident memory of PID's child (the process GNU time runs) every
# RSS_EVERY seconds, as `unix-seconds KiB` lines, until PID ends. Reading /proc costs nothing
# the measured process would notice.
sample_rss() {
  local parent="$1" out="$2" child="" kib
  : >"$out"
  while kill -0 "$parent" 2>/dev/null; do
    read -r child _ <"/proc/$parent/task/$parent/children" 2>/dev/null || true
    if [ -n "$child" ]; then
      kib="$(awk '/^VmRSS/ {print $2}' "/proc/$child/status" 2>/dev/null || true)"
      [ -z "$kib" ] || echo "$(date +%s) $kib" >>"$out"
    fi
    sleep "$rss_every"
  done
}

# measure TASK SIZE TOOL CMD...: times one whole process; its output goes to a log. Runs are
# numbered on from those already in results.csv for the same task, size, tool and commit, so a
# figure whose runs do not fit one sitting can be taken in several (RUNS=1, at one commit) and
# its runs' logs are not overwritten.
measure() {
  local task="$1" size="$2" tool="$3" run
  shift 3
  run="$(awk -F, -v t="$task" -v s="$size" -v o="$tool" -v c="$commit" \
    '$1 == t && $2 == s && $3 == o && $10 == c {n++} END {print n + 1}' "$results")"
  local log="$work/logs/$task-$size-$tool-$commit-$run.log" tf code=0 wall user sys rss timer sampler=""
  mkdir -p "$work/logs"
  tf="$(mktemp)"
  /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" >"$log" 2>&1 &
  timer=$!
  if [ "$rss_every" -gt 0 ]; then
    sample_rss "$timer" "${log%.log}.rss" &
    sampler=$!
  fi
  wait "$timer" || code=$?
  if [ -n "$sampler" ]; then
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
  fi
  read -r wall user sys rss < <(tail -n 1 "$tf")
  rm -f "$tf"
  echo "$task,$size,$tool,$run,$wall,$user,$sys,$rss,$code,$commit" >>"$results"
  awk -v t="$task" -v s="$size" -v o="$tool" -v r="$run" -v w="$wall" -v u="$user" -v y="$sys" -v m="$rss" -v e="$code" -v l="$log" 'BEGIN {
      printf "   %-9s %-10s %-13s run %s: %7.1f s wall, %7.1f s CPU, %6.0f MiB peak%s\n",
        t, s, o, r, w, u + y, m / 1024, (e == 0 ? "" : ", EXIT " e " (see " l ")") }' >&2
}

# synth EVENTS REGIONS NAME [SERIES_FILE]: generated once, then reused; prints the events file.
synth() {
  local events="$1" regions="$2" out="$work/data/$3.parquet" series="${4:-}"
  mkdir -p "$work/data"
  if [ ! -f "$out" ] || { [ -n "$series" ] && [ ! -f "$series" ]; }; then
    "$vigil" synth --events "$events" --regions "$regions" --months 240 --seed 20261130 \
      --out "$out" ${series:+--series "$series"} >/dev/null
  fi
  echo "$out"
}

# spec FILE EVENTS [MODELS]: a job spec over synthetic canonical events.
spec() {
  local file="$1" events="$2" models="${3:-}"
  cat >"$file" <<EOF
[job]
name = "bench"
description = "benchmark on synthetic events"
as_of = "2020-12-31"

[[inputs]]
path = "$events"
mapping = "$repo/data/schemas/canonical.toml"
classification = "public"

[panel]
level = "admin1"
frequency = "month"
$models
EOF
}

panel() {
  for events in ${PANEL_EVENTS:-1000000 10000000 50000000}; do
    local data size="$((events / 1000000))M"
    data="$(synth "$events" 10000 "events-$size")"
    spec "$work/panel-$size.toml" "$data"
    echo "== panel, $size events, 10,000 regions × 240 months" >&2
    for _ in $(seq "$runs"); do
      for tool in ${PANEL_TOOLS:-vigil polars pandas}; do
        case "$tool" in
          vigil) measure panel "$size" vigil "$vigil" -q panel "$work/panel-$size.toml" --out "$work/out/panel-$size-vigil" ;;
          *) measure panel "$size" "$tool" "$py" benches/peer/panel.py --engine "$tool" --events "$data" --out "$work/out/panel-$size-$tool.parquet" ;;
        esac
      done
    done
    for tool in ${PANEL_TOOLS:-vigil polars pandas}; do
      [ "$tool" = polars ] && continue
      local file="$work/out/panel-$size-$tool.parquet"
      [ "$tool" = vigil ] && file="$work/out/panel-$size-vigil/panel.parquet"
      "$py" benches/peer/compare_panels.py "$work/out/panel-$size-polars.parquet" "$file" --columns common >&2
    done
  done
}

backtest() {
  # Two groups, timed apart: the AutoETS search, and the five cheap models (the issue's targets
  # differ: 20x for AutoETS-class models, 5x for the baselines and Croston/TSB).
  local groups="auto_ets naive,seasonal_naive,historic_mean,croston,tsb"
  for series in ${BACKTEST_SERIES:-1000 10000}; do
    local data="$work/data/series-$series.parquet"
    synth "$((series * 240 * 2))" "$series" "series-events-$series" "$data" >/dev/null
    for models in $groups; do
      local group="${models%%,*}"
      [ "$group" = naive ] && group=baselines
      local size="${series}x240-$group"
      echo "== backtest, $series series × 240 months, 12 origins, h = 6: $models" >&2
      for _ in $(seq "$runs"); do
        measure backtest "$size" vigil "$bin/backtest" --series "$data" --models "$models" \
          --out "$work/out/bt-$series-$group-vigil.parquet"
        measure backtest "$size" statsforecast "$py" benches/peer/backtest_statsforecast.py \
          --series "$data" --models "$models" --jobs "$(nproc)" --out "$work/out/bt-$series-$group-sf.parquet"
      done
      "$py" benches/peer/evaluate.py --series "$data" --out "$work/accuracy-$series-$group.csv" \
        --forecasts vigil="$work/out/bt-$series-$group-vigil.parquet" \
        statsforecast="$work/out/bt-$series-$group-sf.parquet" >&2
    done
  done
}

scaling() {
  local models='[forecast]
target = "events"
horizon = 6
models = ["zero", "naive", "seasonal_naive", "historic_mean", "window_mean", "conflictology", "auto_ets", "mstl_ets", "croston_sba", "tsb", "global_nb", "hurdle", "ensemble"]

[backtest]
origins = 12

[outputs]
top_regions = 6'
  for pair in ${SCALING:-1000000:1000 10000000:10000}; do
    local events="${pair%%:*}" regions="${pair##*:}" data size
    size="$((events / 1000000))M-${regions}r"
    data="$(synth "$events" "$regions" "job-$size")"
    spec "$work/job-$size.toml" "$data" "$models"
    # A run that was killed leaves the job's lock behind, and vigil then refuses every run
    # (by design: a human looks at what the crash left). Say so once rather than time refusals.
    local job_dir="$work/out/runs-$size/bench"
    if [ -e "$job_dir/.lock" ]; then
      echo "e2e.sh: $job_dir/.lock is held: $(cat "$job_dir/.lock")" >&2
      echo "  If no vigil run of this benchmark is going on, it was left by one that was killed:" >&2
      echo "  delete it and the $job_dir/.tmp-* folders, then run again." >&2
      exit 1
    fi
    echo "== the full monthly job, $size" >&2
    for _ in $(seq "$runs"); do
      measure job "$size" vigil "$vigil" run "$work/job-$size.toml" --out "$work/out/runs-$size" --force
    done
  done
}

case "$what" in
  panel) panel ;;
  backtest) backtest ;;
  scaling) scaling ;;
  all) panel; backtest; scaling ;;
  *) echo "usage: bash benches/e2e.sh panel|backtest|scaling|all" >&2; exit 2 ;;
esac
"$py" benches/summarize.py "$results" "$work" >"$work/results.md"
echo "== medians in $work/results.md" >&2
cat "$work/results.md"
