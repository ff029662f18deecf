#!/bin/bash
# Submits a sharded vigil job to Slurm: an N-task array and a merge that runs only if every
# task succeeded. Prints the two job ids ("<array id> <merge id>").
#
#   jobs/slurm/submit.sh SPEC N [vigil run options...]
#   jobs/slurm/submit.sh jobs/specs/monthly.toml 4 --out /shared/vigil/runs
#
# To redo failed tasks after fixing the cause:  jobs/slurm/submit.sh --only 2,3 SPEC N [options]
# (submits those tasks and a new merge that waits for them; the parts of the tasks that
# succeeded are still there and are not recomputed).
# Extra sbatch options (partition, account, …) go in SBATCH_EXTRA, e.g. SBATCH_EXTRA="-p main".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
only=""
if [ "${1:-}" = "--only" ]; then
  only=$2
  shift 2
fi
if [ $# -lt 2 ]; then
  echo "usage: $0 [--only I,J,...] SPEC N [vigil run options...]" >&2
  exit 2
fi
spec=$1
shards=$2
shift 2
array=${only:-0-$((shards - 1))}
# shellcheck disable=SC2086
array_id=$(sbatch --parsable ${SBATCH_EXTRA:-} --array="$array" "$here/shard.sbatch" "$spec" "$shards" "$@")
array_id=${array_id%%;*}
# shellcheck disable=SC2086
merge_id=$(sbatch --parsable ${SBATCH_EXTRA:-} --dependency="afterok:$array_id" --kill-on-invalid-dep=yes \
  "$here/merge.sbatch" "$spec" "$shards" "$@")
merge_id=${merge_id%%;*}
echo "$array_id $merge_id"
