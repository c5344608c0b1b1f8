#!/usr/bin/env bash
# A real Slurm check of examples/cluster: sets up a one-node Slurm cluster on this machine (as
# root), submits the shipped job array (3 shards of a small `reproduce --quick` run) with its
# dependent merge job through examples/cluster/submit.sh, and checks that the merged directory
# equals an unsharded run of the same figure byte for byte.
#
# Installs slurm-wlm and munge with apt-get when they are missing. Every file of the cluster
# (configuration, state, spool, logs) lives in one temporary directory; the slurm.conf is passed to
# daemons and commands by -f / SLURM_CONF, so an existing /etc/slurm is neither read nor changed.
# Daemons listen on loopback ports only. The daemons this script starts are stopped by their pids
# when it exits, whatever happened. Exit status 0 when the check passed, non-zero otherwise.
#
# Environment: NTK_BIN (binary to test; default: built with `cargo build`), SLURM_TEST_TIMEOUT
# (seconds for the jobs, default 300), SLURM_TEST_KEEP=1 (keep the temporary directory).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
timeout=${SLURM_TEST_TIMEOUT:-300}
started=$(date +%s)

say() { printf '[slurm-test %3ds] %s\n' "$(($(date +%s) - started))" "$*"; }
fail() {
    say "FAILED: $*"
    exit 1
}

[[ $(id -u) -eq 0 ]] || fail "run as root (it installs packages and starts slurmctld, slurmd and munged)"

# --- packages --------------------------------------------------------------------------------
missing=()
for cmd in slurmctld slurmd sbatch squeue sinfo scontrol munged munge unmunge; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
if ((${#missing[@]})); then
    say "installing slurm-wlm and munge (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi
say "$(slurmctld -V) with $(munged --version 2>&1 | head -n 1)"

# --- the binary ------------------------------------------------------------------------------
if [[ -z ${NTK_BIN:-} ]]; then
    say "building ntk-perturb (cargo build)"
    (cd "$repo" && cargo build --quiet --bin ntk-perturb)
    NTK_BIN=${CARGO_TARGET_DIR:-$repo/target}/debug/ntk-perturb
fi
NTK_BIN=$(realpath "$NTK_BIN")
[[ -x $NTK_BIN ]] || fail "no executable at $NTK_BIN"

# --- clean-up of whatever this script started ------------------------------------------------
work=$(mktemp -d /tmp/slurm-test.XXXXXX)
chmod 755 "$work"
pids=()     # daemons started here, stopped in reverse order
jobs_ids=() # jobs submitted here, cancelled if still there
cleanup() {
    local status=$?
    set +e
    if ((${#jobs_ids[@]})) && [[ -n ${SLURM_CONF:-} ]]; then
        scancel "${jobs_ids[@]}" >/dev/null 2>&1
    fi
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        local pid=${pids[i]}
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null
            for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
        fi
    done
    ((${#pids[@]})) && say "stopped the daemons started here (pids ${pids[*]})"
    if ((status != 0)); then
        for log in "$work"/log/*.log "$work"/out/slurm-*.out; do
            [[ -f $log ]] || continue
            echo "----- last lines of $log"
            tail -n 15 "$log"
        done
        say "kept $work for inspection"
    elif [[ ${SLURM_TEST_KEEP:-0} == 1 ]]; then
        say "kept $work"
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- munge -----------------------------------------------------------------------------------
if [[ ! -s /etc/munge/munge.key ]]; then
    say "creating /etc/munge/munge.key"
    install -d -o munge -g munge -m 0700 /etc/munge
    if command -v mungekey >/dev/null 2>&1; then
        mungekey --create --keyfile=/etc/munge/munge.key
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    say "munged already running"
else
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
    # setpriv execs munged as user munge in this process, so $! is munged's own pid.
    setpriv --reuid=munge --regid=munge --init-groups munged --foreground >"$work/munged.out" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n | unmunge >/dev/null || fail "munged did not start (see $work/munged.out)"
    say "munged started (pid ${pids[-1]})"
fi

# --- slurm.conf ------------------------------------------------------------------------------
host=$(hostname -s)
mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
real_mb=$((mem_mb - 1024 > 256 ? mem_mb - 1024 : mem_mb / 2))
# Ports above the defaults (6817/6818) so that a Slurm already configured here is left alone.
ctld_port=$((16817 + RANDOM % 1000 * 2))
slurmd_port=$((ctld_port + 1))
mkdir -p "$work"/{state,spool,log,out}
export SLURM_CONF=$work/slurm.conf
cat >"$SLURM_CONF" <<CONF
ClusterName=ntktest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SwitchType=switch/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
MinJobAge=600
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=2 RealMemory=$real_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
say "slurm.conf: node $host, CPUs=2, RealMemory=$real_mb MB, ports $ctld_port/$slurmd_port ($SLURM_CONF)"
say "this node as slurmd sees it: $(slurmd -C -f "$SLURM_CONF" | head -n 1)"

# --- daemons ---------------------------------------------------------------------------------
slurmctld -D -i -f "$SLURM_CONF" >"$work/log/slurmctld.out" 2>&1 &
pids+=($!)
say "slurmctld started (pid ${pids[-1]})"
slurmd -D -f "$SLURM_CONF" -N "$host" >"$work/log/slurmd.out" 2>&1 &
pids+=($!)
say "slurmd started (pid ${pids[-1]})"
scontrol show config 2>/dev/null | grep -q "^SLURM_CONF *= *$SLURM_CONF" ||
    say "note: scontrol does not report $SLURM_CONF yet"

state=""
for _ in $(seq 120); do
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || fail "a daemon (pid $pid) exited"
    done
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
    [[ $state == idle ]] && break
    sleep 0.5
done
[[ $state == idle ]] || fail "node $host not idle after 60 s (state: '${state:-none}')"
say "node $host is idle"
scontrol show config | grep -E "^(SLURM_CONF|SLURM_VERSION|SlurmctldHost\[0\]) " | sed 's/^/    /' || true

# --- the shipped job array and its merge job -------------------------------------------------
export PRESET=shifted-gauss-a
export REPRODUCE_ARGS="--quick --seeds 2 --panel eps,gamma"
export SHARED=$work/shared NTK_BIN
cd "$work/out"
ids=$("$repo/examples/cluster/submit.sh" 3 --cpus-per-task=1 --time=10)
read -r array merge <<<"$ids"
jobs_ids=("$array" "$merge")
say "submitted shards (array job $array) and merge (job $merge)"

job_state() { scontrol show job -o "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | sort -u | cut -d= -f2 | paste -sd, -; }
deadline=$(($(date +%s) + timeout))
while :; do
    shards=$(job_state "$array")
    merged=$(job_state "$merge")
    case $merged in
    COMPLETED) break ;;
    FAILED | CANCELLED* | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | "")
        fail "merge job $merge ended as '${merged:-gone}' (shards: $shards)"
        ;;
    esac
    (($(date +%s) < deadline)) || fail "jobs not done after $timeout s (shards: $shards; merge: $merged)"
    sleep 1
done
say "shards $(job_state "$array"), merge COMPLETED"
jobs_ids=()

# --- compare with an unsharded run -----------------------------------------------------------
read -r -a extra <<<"$REPRODUCE_ARGS"
"$NTK_BIN" reproduce "$PRESET" "${extra[@]}" --threads 1 --quiet --out "$work/single"
merged_dir=$SHARED/merged
(cd "$work/single" && find . -type f | sort) >"$work/single.files"
(cd "$merged_dir" && find . -type f | sort) >"$work/merged.files"
diff -u "$work/single.files" "$work/merged.files" ||
    fail "the merged directory has other files than the unsharded run"
count=0
while read -r f; do
    case $f in
    ./config.toml)
        # Records --out, which names another directory; every other line must agree.
        diff <(grep -v '^out = ' "$work/single/$f") <(grep -v '^out = ' "$merged_dir/$f") ||
            fail "config.toml differs beyond --out"
        ;;
    *) cmp "$work/single/$f" "$merged_dir/$f" || fail "$f differs from the unsharded run" ;;
    esac
    count=$((count + 1))
done <"$work/single.files"
cmp "$work/single/eps/results.csv" "$merged_dir/eps/results.csv"
say "merged directory equals the unsharded run: $count files, results.csv of each panel byte for byte"
say "PASSED in $(($(date +%s) - started)) s"
