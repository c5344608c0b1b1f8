#!/usr/bin/env bash
# Time and peak memory of gram and dynamics versus N, and of train versus the width m, for the
# README's scaling table. Usage: benches/scaling.sh [max_gram_N] [max_dynamics_N]
# Needs a release build (cargo build --release) and GNU time (/usr/bin/time).
set -euo pipefail
bin=${BIN:-target/release/ntk-perturb}
max_gram=${1:-20000}
max_dyn=${2:-8000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
measure() { # prints "seconds peak_MiB" of a command
  /usr/bin/time -f "%e %M" -o "$work/t" "$@" >/dev/null 2>&1
  awk '{printf "%s %.0f\n", $1, $2/1024}' "$work/t"
}
echo "stage,size,seconds,peak_mib"
for n in 1000 2000 4000 8000 16000 20000; do
  "$bin" data gauss --n "$n" --d 784 --seed 1 --quiet --force --out "$work/x$n.csv"
  if [ "$n" -le "$max_gram" ]; then
    read -r s m < <(measure "$bin" gram --train "$work/x$n.csv" --quiet --force --out "$work/g")
    echo "gram,N=$n,$s,$m"
  fi
  if [ "$n" -le "$max_dyn" ]; then
    read -r s m < <(measure "$bin" dynamics --train "$work/x$n.csv" --loss mse --times 1,10,inf --f0 zero --quiet --force --out "$work/d")
    echo "dynamics (mse),N=$n,$s,$m"
  fi
done
"$bin" data shifted-gauss --n 1000 --d 100 --seed 1 --quiet --force --out "$work/sg.csv"
for m in 100 300 1000 3000 10000; do
  read -r s p < <(measure "$bin" train --train "$work/sg.csv" --width "$m" --lr 1 --steps 1000 --record-every 1000 --quiet --force --out "$work/t$m")
  echo "train (1000 steps N=1000 d=100),m=$m,$s,$p"
done
