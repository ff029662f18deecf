#!/usr/bin/env bash
# Runs every notebook headlessly, as CI does, from any working directory:
#   1. creates (or reuses) a Python venv from notebooks/requirements.txt,
#   2. makes sure the monthly job's run exists (vigil says "nothing to do" when it does),
#   3. makes the example partner package from it (notebooks/example-agreement.toml),
#   4. executes notebooks/*.ipynb in order with nbclient; any cell error fails the script.
# The committed notebooks are never written; executed copies go to $VIGIL_NOTEBOOK_OUTPUT.
#
# Environment (all optional):
#   VIGIL_BIN              path to a built vigil binary (default: cargo run -q -p vigil --locked --)
#   VIGIL_RUNS             runs folder (default: <repo>/runs)
#   VIGIL_EXPORTS          partner packages (default: <repo>/exports)
#   VIGIL_NOTEBOOK_VENV    the venv (default: $HOME/.cache/vigil-notebooks-venv)
#   VIGIL_NOTEBOOK_OUTPUT  executed copies with outputs (default: ${TMPDIR:-/tmp}/vigil-notebook-output)
#   VIGIL_NOTEBOOK_TIMEOUT seconds per cell (default: 600)
#   PYTHON                 the Python that creates the venv (default: python3; 3.11 or later)
set -euo pipefail

absolute() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
# Relative paths in the environment are relative to where the script was started.
VIGIL_RUNS="$(absolute "${VIGIL_RUNS:-$repo/runs}")"
VIGIL_EXPORTS="$(absolute "${VIGIL_EXPORTS:-$repo/exports}")"
export VIGIL_RUNS VIGIL_EXPORTS
venv="$(absolute "${VIGIL_NOTEBOOK_VENV:-$HOME/.cache/vigil-notebooks-venv}")"
output="$(absolute "${VIGIL_NOTEBOOK_OUTPUT:-${TMPDIR:-/tmp}/vigil-notebook-output}")"
if [[ -n "${VIGIL_BIN:-}" ]]; then
  # A path is made absolute (the notebooks run elsewhere); a bare name is looked up on PATH.
  if [[ "$VIGIL_BIN" == */* ]]; then VIGIL_BIN="$(absolute "$VIGIL_BIN")"; fi
  export VIGIL_BIN
  vigil=("$VIGIL_BIN")
else
  vigil=(cargo run -q -p vigil --locked --)
fi
cd "$repo"

start=$SECONDS
step_start=
step() {  # starts a step, after printing how long the previous one took
  if [[ -n "$step_start" ]]; then printf '   (%ss)\n' "$(( SECONDS - step_start ))"; fi
  step_start=$SECONDS
  printf '\n== %s\n' "$1"
}

step "Python venv $venv"
# .ci/venv.sh rebuilds it only when requirements.txt or the Python version changes.
bash "$repo/.ci/venv.sh" "$here/requirements.txt" "$venv" >/dev/null
"$venv/bin/python" -c 'import polars, matplotlib, nbclient; print(f"polars {polars.__version__}, matplotlib {matplotlib.__version__}, nbclient {nbclient.__version__}")'

step "vigil: ${vigil[*]}"
"${vigil[@]}" --version

step "the monthly job's run in $VIGIL_RUNS (vigil says \"nothing to do\" when it is complete)"
"${vigil[@]}" run jobs/specs/monthly.toml --out "$VIGIL_RUNS"
run="$(cd "$VIGIL_RUNS/monthly/latest" && pwd -P)"
run_id="$(basename "$run")"

step "the example partner package in $VIGIL_EXPORTS"
agreement="$here/example-agreement.toml"
package="$VIGIL_EXPORTS/notebook-example-$run_id"
# Every export is a release recorded in the audit log, so an existing package of this run, made
# under this agreement and intact, is kept rather than released again. Anything else is
# exported anew: vigil replaces the package folder atomically.
status=0
"$venv/bin/python" - "$package" "$agreement" "$run" <<'PY' || status=$?
import hashlib, json, sys
from pathlib import Path
package, agreement, run = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
def sha(p): return hashlib.sha256(p.read_bytes()).hexdigest()
if not (package / "manifest.json").is_file():
    print(f"no package {package.name} yet"); sys.exit(10)
m = json.loads((package / "manifest.json").read_text())
problems = []
if m.get("run_id") != run.name: problems.append(f"made from run {m.get('run_id')}")
if m.get("run_manifest_sha256") != sha(run / "manifest.json"): problems.append("the run was redone since")
if m.get("agreement_sha256") != sha(agreement): problems.append("made under another version of the agreement")
for name, digest in m.get("files", []):
    if not (package / name).is_file() or sha(package / name) != digest: problems.append(f"{name} changed or missing")
if problems:
    print(f"{package.name} is stale: " + "; ".join(problems)); sys.exit(10)
print(f"{package.name} exists, is intact and matches the agreement: not released again")
PY
if (( status == 10 )); then
  "${vigil[@]}" export --agreement "$agreement" "$run" --out "$VIGIL_EXPORTS"
elif (( status != 0 )); then
  exit "$status"
fi

step "notebooks (executed copies: $output)"
notebooks=("$here"/*.ipynb)
"$venv/bin/python" "$here/execute.py" --output-dir "$output" "${notebooks[@]}"

step "done in $(( SECONDS - start ))s"
