#!/usr/bin/env bash
# Creates (or reuses) the Python venv of the benchmark's peer side from requirements.txt and
# prints the venv's python on the last line of stdout (everything else goes to stderr):
#
#   py="$(bash benches/peer/setup.sh | tail -n 1)"
#   "$py" benches/peer/panel.py --engine polars --events EVENTS.parquet --out PANEL.parquet
#
# The venv is (re)built only when requirements.txt or the Python version changes (a stamp file
# in the venv holds both), with wheels only (--only-binary=:all:).
#
# Environment (all optional):
#   VIGIL_BENCH_VENV  the venv (default: $HOME/.cache/vigil-bench-venv)
#   PYTHON            the Python that creates the venv (default: python3; 3.11 or later)
set -euo pipefail

absolute() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(absolute "${VIGIL_BENCH_VENV:-$HOME/.cache/vigil-bench-venv}")"
python="${PYTHON:-python3}"
requirements="$here/requirements.txt"
stamp="$venv/.vigil-bench-requirements"

want="$("$python" - "$requirements" <<'PY'
import hashlib, sys
if sys.version_info < (3, 11):
    sys.exit(f"the benchmark needs Python 3.11 or later, not {sys.version.split()[0]}; set PYTHON")
print(sys.version.split()[0], hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())
PY
)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "venv $venv is up to date (requirements.txt unchanged)" >&2
else
  if [[ -e "$venv" && ! -f "$venv/pyvenv.cfg" ]]; then
    echo "$venv exists and is not a Python venv; set VIGIL_BENCH_VENV to another folder" >&2
    exit 1
  fi
  echo "creating venv $venv from requirements.txt (Python and sha256: $want)" >&2
  start=$SECONDS
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv --clear "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --only-binary=:all: --requirement "$requirements" >&2
  printf '%s\n' "$want" > "$stamp"
  echo "venv ready in $(( SECONDS - start )) s" >&2
fi
"$venv/bin/python" - >&2 <<'PY'
import numpy, pandas, polars, pyarrow, statsforecast
print(f"statsforecast {statsforecast.__version__}, polars {polars.__version__}, pandas {pandas.__version__}, "
      f"pyarrow {pyarrow.__version__}, numpy {numpy.__version__}")
PY
printf '%s\n' "$venv/bin/python"
