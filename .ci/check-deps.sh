#!/usr/bin/env bash
# The crate directions that must never exist, checked on Cargo's own resolved graph.
# - vigil-core (the analytics core) reaches none of the HTTP server, differential privacy or
#   plotting stacks at any depth, and depends on neither clap nor anyhow directly;
# - tokio and tower-http come into the core's graph only through polars: its csv, ipc and parquet
#   features turn on its streaming engine, whose file cache enables polars-io's cloud support
#   (object_store → reqwest → hyper, tokio, tower-http). With polars pruned from the tree, they
#   must be gone, so nothing of vigil's own brings them in;
# - each heavy stack lives in its own crate: opendp only under vigil-share, plotters only under
#   vigil-report, axum and governor only under vigil-api.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0

# names of every crate in `cargo tree` of $1 with extra arguments after it, one per line
crates() { local p=$1; shift; cargo tree -q --locked -p "$p" -e normal --prefix none "$@" | awk '{print $1}' | sort -u; }

# forbid PACKAGE WHAT NAMES...: fails when any NAME is among `crates`
forbid() {
  local pkg=$1 what=$2; shift 2
  local found
  found=$(comm -12 <(printf '%s\n' "$@" | sort -u) <(echo "$list")) || true
  if [ -n "$found" ]; then
    echo "FAIL: $pkg $what: $(echo $found)"; fail=1
  else
    echo "ok:   $pkg $what: none of $*"
  fi
}

list=$(crates vigil-core); forbid vigil-core "at any depth" axum governor opendp plotters plotters-backend
list=$(crates vigil-core --depth 1); forbid vigil-core "as direct dependencies" clap anyhow tokio tower-http
list=$(crates vigil-core --prune polars); forbid vigil-core "with polars pruned" tokio tower-http hyper axum
list=$(crates vigil-models); forbid vigil-models "at any depth" polars vigil-core axum opendp plotters
list=$(crates vigil-report); forbid vigil-report "at any depth" opendp axum governor vigil-share vigil-api
list=$(crates vigil-share); forbid vigil-share "at any depth" plotters axum governor vigil-report vigil-api
list=$(crates vigil-api); forbid vigil-api "at any depth" plotters vigil-report
exit $fail
