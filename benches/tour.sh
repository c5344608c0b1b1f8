#!/usr/bin/env bash
# Runs the README tour with the given binary in a scratch directory and prints one line per output
# file: its SHA-256 and path. Two builds give the same outputs when the two listings are equal:
#   benches/tour.sh target/release/ntk-perturb /tmp/tour-new > new.txt
# Timing files (bench) and the full-size commands are left out. The data directory is the
# repository's data/.
set -euo pipefail
bin=$(realpath "$1")
out=$2
repo=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$out" && mkdir -p "$out" && cd "$out"
ln -s "$repo/data" data
ln -s "$repo/examples" examples
run() { "$bin" "$@" --quiet; }
run reproduce shifted-gauss-a --quick --out out/shifted-gauss-a
run reproduce mnist-a --quick --out out/mnist-a
run data shifted-gauss --n 1000 --d 100 --seed 0 --out train.csv
run data shifted-gauss --n 1000 --d 100 --seed 1 --out test.csv
run data gauss --n 1000 --d 100 --seed 1 --out noise.csv.gz
run gram --train train.csv --test test.csv --kernel infinite --what ntk --out gram
run gram --train train.csv --kernel empirical --width 4096 --seed 3 --out gram-m4096
run dynamics --train train.csv --test test.csv --loss mse --times 0,1,10,100,inf --out dyn
run dynamics --train train.csv --loss logistic --times logspace:1e-2:1e4:50 --rtol 1e-8 --out dyn-log
run train --train train.csv --test test.csv --width 100 --lr 1 --steps 1000 \
    --loss identity --momentum 0.9 --record-every 10 --out run
run data shifted-gauss --n 200 --d 20 --seed 0 --out cc_train.csv
run data shifted-gauss --n 200 --d 20 --seed 1 --out cc_test.csv
run crosscheck --train cc_train.csv --test cc_test.csv --widths 100,400,1600,6400 \
    --seeds 5 --time 1 --lr 0.01 --loss identity --out cc
run experiment examples/shifted_gauss_a.toml --out out/sg-a
run experiment examples/shifted_gauss_a_eps_sweep.toml --out out/eps --shard 0/2
run experiment examples/shifted_gauss_a_eps_sweep.toml --out out/eps --resume
run perturb --train train.csv --width 1000 --time 100 --lr 1 --loss identity \
    --eps-per-coordinate 0.01 --targets random --norm l2 --source net --out pert
run data shifted-gauss --n 1000 --d 100 --seed 0 --out sg.csv
run parallel --train sg.csv --widths 100,1000 --times 1,3,10,30,100,300,1000 \
    --seeds 3 --lr 1 --loss identity --out par
run reproduce maps --quick --out out/maps
find . -type f -not -path './data/*' -not -path './examples/*' | LC_ALL=C sort | xargs sha256sum
