#!/usr/bin/env bash
# Integration test of the Slurm scale-out path, on a one-node Slurm brought up on localhost.
#
# 1. A single-process run of the monthly job is the reference.
# 2. jobs/slurm/submit.sh submits it as a 4-task array plus a dependent merge; the merged run
#    folder must hold the same files as the reference, byte for byte (manifest.json aside: it
#    records its own time, timings and the shard count).
# 3. Again with shard 2 made to fail: the merge must be cancelled without running (no run
#    folder, `latest` absent), and resubmitting only task 2 with a new merge completes the
#    run, again byte-identical to the reference.
#
# Needs root (or sudo) for apt and to run the daemons; installs Debian's slurmctld, slurmd,
# slurm-client and munge if missing. Everything else lives in a temporary folder that is
# removed at the end, daemons included.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
t0=$(date +%s)
say() { printf '[slurm-test %3ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

as_root=()
if [ "$(id -u)" != 0 ]; then as_root=(sudo); fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null ||
   ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  say "installing Slurm and munge (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  pkgs=(slurmctld slurmd slurm-client munge)
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null ||
    { "${as_root[@]}" apt-get update -qq &&
      "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; }
fi

say "building vigil"
cargo build -q -p vigil --locked
export VIGIL="$CARGO_TARGET_DIR/debug/vigil"

sandbox=$(mktemp -d /tmp/vigil-slurm.XXXXXX)
# munged wants its socket folder reachable (execute permission) by everyone.
chmod 755 "$sandbox"
cleanup() {
  for pidfile in "$sandbox"/slurmd.pid "$sandbox"/slurmctld.pid "$sandbox"/munged.pid; do
    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
  done
  sleep 2
  rm -rf "$sandbox"
}
trap cleanup EXIT

say "starting munge and a one-node Slurm in $sandbox"
mkdir -p "$sandbox"/{state,spool,logs,out}
mungekey --create --keyfile="$sandbox/munge.key" >/dev/null 2>&1 ||
  head -c 1024 /dev/urandom > "$sandbox/munge.key"
chmod 600 "$sandbox/munge.key"
munged --socket="$sandbox/munge.sock" --key-file="$sandbox/munge.key" \
  --pid-file="$sandbox/munged.pid" --log-file="$sandbox/logs/munged.log" \
  --seed-file="$sandbox/munge.seed"

node=$(slurmd -C | head -1)
cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node")
boards=$(sed -n 's/.*Boards=\([0-9]*\).*/\1/p' <<<"$node")
sockets=$(sed -n 's/.*SocketsPerBoard=\([0-9]*\).*/\1/p' <<<"$node")
cores=$(sed -n 's/.*CoresPerSocket=\([0-9]*\).*/\1/p' <<<"$node")
threads=$(sed -n 's/.*ThreadsPerCore=\([0-9]*\).*/\1/p' <<<"$node")
memory=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
export SLURM_CONF="$sandbox/slurm.conf"
cat > "$SLURM_CONF" <<CONF
ClusterName=vigil-ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sandbox/munge.sock
StateSaveLocation=$sandbox/state
SlurmdSpoolDir=$sandbox/spool
SlurmctldPidFile=$sandbox/slurmctld.pid
SlurmdPidFile=$sandbox/slurmd.pid
SlurmctldLogFile=$sandbox/logs/slurmctld.log
SlurmdLogFile=$sandbox/logs/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0
MinJobAge=300
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus Boards=$boards SocketsPerBoard=$sockets CoresPerSocket=$cores ThreadsPerCore=$threads RealMemory=$((memory - 512)) State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -f "$SLURM_CONF" -c
slurmd -f "$SLURM_CONF" -N localhost
for _ in $(seq 1 60); do
  state=$(sinfo -h -N -n localhost -o %t 2>/dev/null || true)
  [ "$state" = "idle" ] && break
  sleep 0.5
done
if [ "$state" != "idle" ]; then
  say "the node never became idle (state '$state')"
  tail -20 "$sandbox"/logs/*.log
  exit 1
fi
say "node idle"

# States of a job, "<task>:<state>" per array task in task order ("0:COMPLETED 1:FAILED …"),
# or just "<state>" for a plain job.
states() {
  scontrol show job -o "$1" |
    sed -E 's/.*ArrayTaskId=([0-9]+) .*JobState=([A-Z_]+).*/\1:\2/; t; s/.*JobState=([A-Z_]+).*/\1/' |
    sort -n | tr '\n' ' '
}
# Waits until no task of job $1 is pending or running.
wait_job() {
  for _ in $(seq 1 1200); do
    s=$(states "$1")
    if ! grep -qE 'PENDING|RUNNING|CONFIGURING|COMPLETING|REQUEUED|SUSPENDED' <<<"$s"; then
      echo "$s"
      return 0
    fi
    sleep 0.5
  done
  say "job $1 did not finish: $(states "$1")"
  return 1
}
# Every file of run $2 is byte-identical to the reference run $1 but manifest.json.
same_run() {
  local a=$1 b=$2 n=0
  diff <(cd "$a" && find . -type f ! -name manifest.json | sort) \
       <(cd "$b" && find . -type f ! -name manifest.json | sort)
  while read -r f; do
    cmp -s "$a/$f" "$b/$f" || { say "differs: $f"; return 1; }
    n=$((n + 1))
  done < <(cd "$a" && find . -type f ! -name manifest.json | sort)
  say "$n files byte-identical to the single-process run"
}

# Short backtest (3 origins) to keep CI quick; every stage still runs.
opts=(--origins 3)
spec=jobs/specs/monthly.toml

say "reference: one process"
single=$("$VIGIL" -q run "$spec" --out "$sandbox/out/single" "${opts[@]}")

say "sharded: 4-task array and a dependent merge"
cd "$sandbox"   # job logs land here; the spec path is absolute below
read -r array merge < <("$repo/jobs/slurm/submit.sh" "$repo/$spec" 4 --out "$sandbox/out/sharded" "${opts[@]}")
say "array $array, merge $merge"
shard_states=$(wait_job "$array")
merge_state=$(wait_job "$merge")
say "array: $shard_states; merge: $merge_state"
[ "$shard_states" = "0:COMPLETED 1:COMPLETED 2:COMPLETED 3:COMPLETED " ] || { cat vigil-shard-*.log; exit 1; }
[ "$merge_state" = "COMPLETED " ] || { cat vigil-merge-*.log; exit 1; }
sharded=$(readlink -f "$sandbox/out/sharded/monthly/latest")
[ "$(basename "$sharded")" = "$(basename "$single")" ] || { say "run ids differ"; exit 1; }
same_run "$single" "$sharded"
grep -q '"shards": 4' "$sharded/manifest.json"
[ ! -e "$sharded.parts" ] || { say "the parts were not cleaned up"; exit 1; }

say "a failing shard: task 2 fails, the merge must not run"
rm -f vigil-*.log
read -r array merge < <(VIGIL_FAILPOINT=shard_2 "$repo/jobs/slurm/submit.sh" "$repo/$spec" 4 \
  --out "$sandbox/out/failing" "${opts[@]}")
shard_states=$(wait_job "$array")
merge_state=$(wait_job "$merge")
say "array: $shard_states; merge: $merge_state"
[ "$shard_states" = "0:COMPLETED 1:COMPLETED 2:FAILED 3:COMPLETED " ] || { cat vigil-shard-*.log; exit 1; }
[ "$merge_state" = "CANCELLED " ] || { say "the merge was not cancelled"; exit 1; }
ls vigil-merge-*.log >/dev/null 2>&1 && { say "the merge ran"; exit 1; }
[ ! -e "$sandbox/out/failing/monthly/latest" ] || { say "a run folder appeared"; exit 1; }
grep -q "failpoint shard_2" vigil-shard-*_2.log
parts=$(ls "$sandbox/out/failing/monthly/"*.parts/)
say "parts left by the tasks that succeeded: $(echo $parts)"

say "resubmitting only task 2 and a new merge"
read -r array merge < <("$repo/jobs/slurm/submit.sh" --only 2 "$repo/$spec" 4 \
  --out "$sandbox/out/failing" "${opts[@]}")
shard_states=$(wait_job "$array")
merge_state=$(wait_job "$merge")
say "array: $shard_states; merge: $merge_state"
[ "$shard_states" = "2:COMPLETED " ] && [ "$merge_state" = "COMPLETED " ] || { cat vigil-*.log; exit 1; }
same_run "$single" "$(readlink -f "$sandbox/out/failing/monthly/latest")"
say "ok"
