#!/usr/bin/env bash
# Creates (or reuses) a Python venv from a pinned requirements file, and prints the venv's python
# on the last line of stdout (everything else goes to stderr). Shared by the notebooks
# (notebooks/run.sh) and the benchmark's Python peers (benches/peer/setup.sh):
#
#   py="$(bash .ci/venv.sh REQUIREMENTS.txt VENV_DIR | tail -n 1)"
#
# The venv is (re)built only when the requirements file or the Python version changes (a stamp
# file in the venv holds both), from wheels only (--only-binary=:all:), so a build never needs
# a compiler. PYTHON chooses the Python that creates it (default: python3; 3.11 or later).
set -euo pipefail
if [[ $# -ne 2 ]]; then
  echo "usage: bash .ci/venv.sh REQUIREMENTS.txt VENV_DIR" >&2
  exit 2
fi
requirements="$1"
venv="$2"
case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac
python="${PYTHON:-python3}"
stamp="$venv/.vigil-requirements"

want="$("$python" - "$requirements" <<'PY'
import hashlib, sys
if sys.version_info < (3, 11):
    sys.exit(f"vigil's Python side needs Python 3.11 or later, not {sys.version.split()[0]}; set PYTHON")
print(sys.version.split()[0], hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())
PY
)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "venv $venv is up to date ($(basename "$requirements") unchanged)" >&2
else
  if [[ -e "$venv" && ! -f "$venv/pyvenv.cfg" ]]; then
    echo "$venv exists and is not a Python venv: move it away or choose another folder" >&2
    exit 1
  fi
  echo "creating venv $venv from $requirements (Python and sha256: $want)" >&2
  start=$SECONDS
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv --clear "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --only-binary=:all: --requirement "$requirements" >&2
  printf '%s\n' "$want" >"$stamp"
  echo "venv ready in $((SECONDS - start)) s" >&2
fi
printf '%s\n' "$venv/bin/python"
