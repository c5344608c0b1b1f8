#!/usr/bin/env bash
# One shard of `ntk-perturb reproduce` per task of a Slurm job array.
#
# Submit as an array of N tasks numbered 0..N-1; task k runs `--shard k/N` into $SHARED/shard-k.
# `submit.sh` does that and adds the merge job. By hand, for N = 4:
#
#   sbatch --array=0-3 examples/cluster/slurm_reproduce.sh
#
# Settings (environment variables, passed on by sbatch; defaults in brackets):
#   PRESET          preset name [shifted-gauss-a]
#   REPRODUCE_ARGS  further arguments of `reproduce`, e.g. "--seeds 5 --lr-grid-max" or
#                   "--quick --panel eps" [--quick]
#   SHARED          a directory every node sees; shard k writes $SHARED/shard-k [$PWD/cluster-out]
#   NTK_BIN         the ntk-perturb binary [ntk-perturb on the PATH]
#   N               number of shards [$SLURM_ARRAY_TASK_COUNT]
#
# A task that is requeued or resubmitted continues its shard (--resume keeps complete cells).
#
#SBATCH --job-name=ntk-shard
#SBATCH --array=0-3
#SBATCH --cpus-per-task=2
#SBATCH --output=slurm-%x-%A_%a.out
set -euo pipefail

k=${SLURM_ARRAY_TASK_ID:?run this script as a job array: sbatch --array=0-\$((N-1)) $0}
n=${N:-${SLURM_ARRAY_TASK_COUNT:?set N, the number of shards}}
if (( k < 0 || k >= n )); then
    echo "task $k is outside 0..$((n - 1)): number the array 0-$((n - 1))" >&2
    exit 2
fi
preset=${PRESET:-shifted-gauss-a}
shared=${SHARED:-$PWD/cluster-out}
bin=${NTK_BIN:-ntk-perturb}
read -r -a extra <<<"${REPRODUCE_ARGS:---quick}"

mkdir -p "$shared"
echo "shard $k/$n of reproduce $preset ${extra[*]} on $(hostname -s) -> $shared/shard-$k"
exec "$bin" reproduce "$preset" "${extra[@]}" \
    --shard "$k/$n" --threads "${SLURM_CPUS_PER_TASK:-1}" --resume --quiet \
    --out "$shared/shard-$k"
