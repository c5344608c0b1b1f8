#!/usr/bin/env bash
# Merges the N shards of slurm_reproduce.sh ($SHARED/shard-0 … shard-(N-1)) into $SHARED/merged.
# Submitted by submit.sh with --dependency=afterok on the array, so it runs once every shard
# succeeded. Settings: SHARED, N (required), NTK_BIN [ntk-perturb on the PATH].
#
#SBATCH --job-name=ntk-merge
#SBATCH --cpus-per-task=1
#SBATCH --output=slurm-%x-%j.out
set -euo pipefail

n=${N:?set N, the number of shards}
shared=${SHARED:?set SHARED, the directory of the shards}
bin=${NTK_BIN:-ntk-perturb}
dirs=()
for ((k = 0; k < n; k++)); do
    dirs+=("$shared/shard-$k")
done
exec "$bin" merge --out "$shared/merged" "${dirs[@]}"
