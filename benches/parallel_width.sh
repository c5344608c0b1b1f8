#!/usr/bin/env bash
# "Which theory does the wide network follow?" (README): the distance of the trained network's
# input gradient net − ∇f_0 to the three predictions lin, kernel and sum of docs/theory.md §13.3,
# against the width, on two datasets where kernel and sum differ by about 55 % of ‖sum‖.
# Usage: benches/parallel_width.sh [OUT_DIR] [SEEDS] [WIDTHS]
# Needs a release build (cargo build --release), GNU time (/usr/bin/time) and python3 (for the
# tables). Each setting took about 17 minutes on two heavily shared cores and 0.4 GiB.
set -euo pipefail
bin=${BIN:-target/release/ntk-perturb}
out=${1:-out/parallel-width}
seeds=${2:-4}
widths=${3:-100,300,1000,3000,10000,30000,100000}
mkdir -p "$out"
# A: shifted Gauss, d = 2, N = 200, inputs divided by 5 (class means ±0.06·1, noise sd 0.2).
"$bin" data shifted-gauss --n 200 --d 2 --seed 0 --quiet --force --out "$out/shifted_gauss_d2.csv"
# B: Gauss (random labels), d = 5, N = 200, inputs divided by 5.
"$bin" data gauss --n 200 --d 5 --seed 0 --quiet --force --out "$out/gauss_d5.csv"
for setting in shifted_gauss_d2 gauss_d5; do
  uptime | sed "s/^/$setting start: /"
  /usr/bin/time -f "$setting: %e s wall, peak %M KiB" \
    "$bin" parallel --train "$out/$setting.csv" --scale 5 \
      --widths "$widths" --times 10,30,100,300 --lr 1 --loss identity \
      --seeds "$seeds" --seed 0 --fit-from 100,3000 --threads 2 --quiet --force \
      --out "$out/$setting"
done
# The README tables: distances mean ± sd over seeds at every width, and the fitted slopes.
python3 - "$out" <<'PY'
import csv, sys
out = sys.argv[1]
for setting in ["shifted_gauss_d2", "gauss_d5"]:
    summary = list(csv.DictReader(open(f"{out}/{setting}/parallel_summary.csv")))
    cell = {(int(r["width"]), float(r["time"]), r["quantity"]): r for r in summary}
    widths = sorted({k[0] for k in cell})
    times = sorted({k[1] for k in cell})
    gap = float(cell[(widths[0], times[0], "dist_kernel_sum")]["mean"])
    print(f"\n{setting}: dist_kernel_sum = {gap:.3f}")
    print("| T | width | to lin | to kernel | to sum | pattern flips |")
    print("|---|---|---|---|---|---|")
    for t in times:
        for w in widths:
            vals = []
            for q in ["dist_net_lin", "dist_net_kernel", "dist_net_sum"]:
                r = cell[(w, t, q)]
                vals.append(f"{float(r['mean']):.3f} ± {float(r['std'] or 0):.3f}")
            flip = float(cell[(w, t, "pattern_flip_fraction")]["mean"])
            print(f"| {t:g} | {w} | " + " | ".join(vals) + f" | {flip:.4f} |")
    fits = list(csv.DictReader(open(f"{out}/{setting}/parallel_fit.csv")))
    ranges = sorted({(int(f["from_width"]), int(f["to_width"])) for f in fits})
    print("\n| T | quantity | " + " | ".join(f"slope, widths {a}–{b} [95 % CI]" for a, b in ranges) + " |")
    print("|---|---|" + "---|" * len(ranges))
    for t in times:
        for q in ["dist_net_lin", "dist_net_kernel", "dist_net_sum", "rel_finite_width"]:
            cols = []
            for f in fits:
                if float(f["time"]) == t and f["quantity"] == q:
                    if f["slope"] and f["slope_ci_low"]:
                        cols.append(f"{float(f['slope']):+.2f} [{float(f['slope_ci_low']):+.2f}, {float(f['slope_ci_high']):+.2f}]")
                    else:
                        cols.append("n/a")
            print(f"| {t:g} | {q} | " + " | ".join(cols) + " |")
PY
