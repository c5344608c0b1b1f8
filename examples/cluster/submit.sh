#!/usr/bin/env bash
# Submits N shards of `ntk-perturb reproduce` as one job array and a merge job that starts when all
# of them succeeded (and is cancelled if one fails).
#
# usage: examples/cluster/submit.sh N [SBATCH_OPTION...]
#   e.g. PRESET=mnist-a REPRODUCE_ARGS="--seeds 5" SHARED=/scratch/$USER/mnist-a \
#        NTK_BIN=$PWD/target/release/ntk-perturb examples/cluster/submit.sh 8 --partition=cpu
#
# The settings of slurm_reproduce.sh (PRESET, REPRODUCE_ARGS, SHARED, NTK_BIN) are read from the
# environment; SBATCH_OPTIONs go to both jobs. Prints "ARRAY_JOB_ID MERGE_JOB_ID" on standard
# output (and what was submitted on standard error); the merged directory is $SHARED/merged.
set -euo pipefail

n=${1:?usage: $0 N [SBATCH_OPTION...]}
shift
if ! [[ $n =~ ^[1-9][0-9]*$ ]]; then
    echo "N must be a positive integer, got '$n'" >&2
    exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHARED=$(realpath -m "${SHARED:-$PWD/cluster-out}")
export SHARED N=$n
mkdir -p "$SHARED"

array=$(sbatch --parsable --array="0-$((n - 1))" --export=ALL "$@" "$here/slurm_reproduce.sh")
array=${array%%;*}
merge=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes \
    --export=ALL "$@" "$here/slurm_merge.sh")
merge=${merge%%;*}
echo "shards: job array $array (tasks 0-$((n - 1))) -> $SHARED/shard-*" >&2
echo "merge:  job $merge after all shards succeeded -> $SHARED/merged" >&2
echo "$array $merge"
