#!/usr/bin/env bash
# Proves a refactoring by its output: compares two run folders of the same job and exits 0 only
# when they are byte-identical, except the manifest's clock fields (created_at, timings).
#
#   bash benches/compare-runs.sh RUN_A RUN_B
#
# Build the two commits into separate binaries (a shared target dir can hand one checkout the
# other's binary: touch the sources, or use separate target dirs), run the same spec with each
# (`vigil run jobs/specs/monthly.toml --out DIR`, from each checkout's root so the spec path in
# the manifest is the same), and compare the two folders. Every differing file is named, and for
# the manifest every differing field (and, per output file, its sha256, size, rows or description).
set -euo pipefail
if [ $# -ne 2 ] || [ ! -f "$1/manifest.json" ] || [ ! -f "$2/manifest.json" ]; then
  echo "usage: bash benches/compare-runs.sh RUN_A RUN_B (two run folders, each with a manifest.json)" >&2
  exit 2
fi
status=0
diff -rq --exclude=manifest.json "$1" "$2" || status=1
python3 - "$1/manifest.json" "$2/manifest.json" <<'PY' || status=1
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
for m in (a, b):
    m.pop("created_at", None)
    m.pop("timings", None)
if a == b:
    print("manifests equal (created_at and timings left out)")
    sys.exit(0)
for key in sorted(set(a) | set(b)):
    if a.get(key) == b.get(key):
        continue
    if key != "outputs":
        print(f"manifest: {key} differs: {a.get(key)!r} vs {b.get(key)!r}")
        continue
    files_a = [o["file"] for o in a[key]]
    files_b = [o["file"] for o in b[key]]
    if files_a != files_b:
        print("manifest: the outputs are listed in another order or differ in which files")
    oa = {o["file"]: o for o in a[key]}
    ob = {o["file"]: o for o in b[key]}
    for f in sorted(set(oa) | set(ob)):
        x, y = oa.get(f, {}), ob.get(f, {})
        diffs = [k for k in ("sha256", "bytes", "rows", "classification", "description") if x.get(k) != y.get(k)]
        if diffs:
            print(f"manifest: output {f}: {', '.join(diffs)} differ")
sys.exit(1)
PY
exit $status
