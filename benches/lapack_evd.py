#!/usr/bin/env python3
"""External comparison for the eigendecomposition stage: LAPACK syevd through SciPy on the same
N×N NTK Gram matrix that ntk-perturb decomposes. Usage:

    target/release/ntk-perturb data gauss --n 4000 --d 50 --seed 1 --out /tmp/x.csv
    target/release/ntk-perturb gram --train /tmp/x.csv --out /tmp/k
    python3 benches/lapack_evd.py /tmp/k/k_train_train.npy

Prints the median of three timings of scipy.linalg.eigh(K, driver="evd") (values and vectors) with
the thread count NumPy's OpenBLAS was given; compare with the `eigendecomposition` row of
`ntk-perturb bench` on a matrix of the same size. Needs numpy and scipy (pip install numpy scipy).
"""
import sys
import time

import numpy as np
import scipy.linalg


def main() -> None:
    k = np.load(sys.argv[1])
    times = []
    for _ in range(4):
        start = time.perf_counter()
        scipy.linalg.eigh(k, driver="evd", check_finite=False)
        times.append(time.perf_counter() - start)
    times = sorted(times[1:])
    print(f"scipy eigh(driver=evd) N={k.shape[0]}: median {times[1]:.3f} s (of {len(times)})")


if __name__ == "__main__":
    main()
