#!/usr/bin/env bash
# Creates (or reuses) the Python venv of the benchmark's peer side from requirements.txt and
# prints the venv's python on the last line of stdout (everything else goes to stderr):
#
#   py="$(bash benches/peer/setup.sh | tail -n 1)"
#   "$py" benches/peer/panel.py --engine polars --events EVENTS.parquet --out PANEL.parquet
#
# The venv is made by .ci/venv.sh: rebuilt only when requirements.txt or the Python version
# changes, from wheels only.
#
# Environment (all optional):
#   VIGIL_BENCH_VENV  the venv (default: $HOME/.cache/vigil-bench-venv)
#   PYTHON            the Python that creates the venv (default: python3; 3.11 or later)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${VIGIL_BENCH_VENV:-$HOME/.cache/vigil-bench-venv}"
py="$(bash "$here/../../.ci/venv.sh" "$here/requirements.txt" "$venv" | tail -n 1)"
"$py" - >&2 <<'PY'
import numpy, pandas, polars, pyarrow, statsforecast
print(f"statsforecast {statsforecast.__version__}, polars {polars.__version__}, pandas {pandas.__version__}, "
      f"pyarrow {pyarrow.__version__}, numpy {numpy.__version__}")
PY
printf '%s\n' "$py"
