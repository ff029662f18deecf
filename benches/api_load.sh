#!/usr/bin/env bash
# Load test of `vigil serve` on loopback: one filtered trend query (Mexico's admin-1 trend tests,
# JSON) sent at a steady rate for a fixed time by benches/src/bin/api-load.rs, which measures
# each latency from the moment the request was due (no coordinated omission).
#
#   bash benches/api_load.sh [RATE per second (200)] [SECONDS (60)] [CONNECTIONS (16)]
#
# Builds vigil and the load generator (release profile; PROFILE=dev for the debug build), runs
# the monthly job on the shipped data into a scratch folder, makes an hq token, starts the
# server with rate limits far above the load (the per-token limit is its own test), warms it up
# for 3 s, then loads it. The generator and the server share the machine's cores.
set -euo pipefail
cd "$(dirname "$0")/.."
rate="${1:-200}"
seconds="${2:-60}"
connections="${3:-16}"
profile="${PROFILE:-release}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
cargo build -q --locked --profile "$profile" -p vigil -p vigil-benches --bin vigil --bin api-load
dir="$CARGO_TARGET_DIR/$([ "$profile" = dev ] && echo debug || echo "$profile")"
vigil="$dir/vigil"
load="$dir/api-load"

work="$(mktemp -d)"
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$vigil" -q run jobs/specs/monthly.toml --out "$work/runs" >/dev/null
token="$("$vigil" token new --role hq --file "$work/tokens.toml" 2>/dev/null)"
"$vigil" serve --bind 127.0.0.1:0 --runs "$work/runs" --tokens "$work/tokens.toml" \
  --rate 1000000 --burst 1000000 >"$work/addr" 2>"$work/serve.log" &
pid=$!
for _ in $(seq 100); do [ -s "$work/addr" ] && break; sleep 0.1; done
addr="$(head -1 "$work/addr")"
[ -n "$addr" ] || { cat "$work/serve.log" >&2; exit 1; }
url="$addr/v1/jobs/monthly/runs/latest/tables/trends?country=70&level=admin1"
echo "server $addr ($profile build); query: GET ${url#"$addr"} (JSON)"
"$load" --url "$url" --token "$token" --rate 50 --seconds 3 --connections 4 >/dev/null
echo "load: $rate requests/s for $seconds s over $connections connections"
"$load" --url "$url" --token "$token" --rate "$rate" --seconds "$seconds" --connections "$connections"
errors="$(grep -c '"status":5\|status=5' "$work/serve.log" || true)"
echo "server log: $(grep -c 'request' "$work/serve.log") requests logged, $errors with a 5xx status"
