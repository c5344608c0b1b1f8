#!/usr/bin/env bash
# Time and peak memory of gram and dynamics versus N, and of train versus the width m, for the
# README's scaling table. Usage:
#   benches/scaling.sh [max_gram_N] [max_dynamics_N]     # the whole table
#   DYN_SIZES="4000 8000 12000" benches/scaling.sh        # only `dynamics --loss mse` at these N,
#                                                         # with the peak in units of 8N² bytes
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
dynamics() { # prints "seconds peak_MiB" of closed-form mse dynamics on $1
  measure "$bin" dynamics --train "$1" --loss mse --times 1,10,inf --f0 zero --quiet --force --out "$work/d"
}
if [ -n "${DYN_SIZES:-}" ]; then
  echo "stage,size,seconds,peak_mib,peak_over_8n2"
  for n in $DYN_SIZES; do
    "$bin" data gauss --n "$n" --d 784 --seed 1 --quiet --force --out "$work/x$n.csv"
    read -r s m < <(dynamics "$work/x$n.csv")
    echo "dynamics (mse),N=$n,$s,$m,$(awk -v m="$m" -v n="$n" 'BEGIN{printf "%.2f", m*1048576/(8*n*n)}')"
    rm -f "$work/x$n.csv"
  done
  exit 0
fi
echo "stage,size,seconds,peak_mib"
for n in 1000 2000 4000 8000 16000 20000; do
  "$bin" data gauss --n "$n" --d 784 --seed 1 --quiet --force --out "$work/x$n.csv"
  if [ "$n" -le "$max_gram" ]; then
    read -r s m < <(measure "$bin" gram --train "$work/x$n.csv" --quiet --force --out "$work/g")
    echo "gram,N=$n,$s,$m"
  fi
  if [ "$n" -le "$max_dyn" ]; then
    read -r s m < <(dynamics "$work/x$n.csv")
    echo "dynamics (mse),N=$n,$s,$m"
  fi
done
"$bin" data shifted-gauss --n 1000 --d 100 --seed 1 --quiet --force --out "$work/sg.csv"
for m in 100 300 1000 3000 10000; do
  read -r s p < <(measure "$bin" train --train "$work/sg.csv" --width "$m" --lr 1 --steps 1000 --record-every 1000 --quiet --force --out "$work/t$m")
  echo "train (1000 steps N=1000 d=100),m=$m,$s,$p"
done
