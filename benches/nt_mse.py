#!/usr/bin/env python3
"""External baselines for the closed-form mse flow (the `dynamics --loss mse` bench row).

    python3 benches/nt_mse.py K.npy TRAIN.csv TIMES REPS

K.npy is the N×N train Gram matrix (`ntk-perturb gram`), TRAIN.csv the data it was computed from
(labels in its last column), TIMES a comma-separated list of times (`inf` allowed). Prints one line
per baseline, `name median_wall_seconds cpu median_cpu_seconds`, the medians of REPS timings after
one warm-up, on data already in memory:

  neural_tangents  nt.predict.gradient_descent_mse(K, y)(t, f0 = 0) at every time (its own
                   eigendecomposition of K included), with jax on the CPU in float64;
  scipy_evd        scipy.linalg.eigh(K, driver="evd") alone (LAPACK dsyevd).

A baseline whose packages are missing prints `name unavailable REASON` instead.
"""
import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def median(times):
    times = sorted(times)
    return times[len(times) // 2]


def timed(reps, f):
    """Median wall seconds and median CPU seconds (all threads) of `reps` runs after a warm-up."""
    f()
    wall, cpu = [], []
    for _ in range(reps):
        start, start_cpu = time.perf_counter(), time.process_time()
        f()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return f"{median(wall):.4f} cpu {median(cpu):.4f}"


def main() -> None:
    import numpy as np

    k = np.load(sys.argv[1])
    y = np.loadtxt(sys.argv[2], delimiter=",", skiprows=1, usecols=-1)
    times = [float(t) for t in sys.argv[3].split(",")]
    reps = int(sys.argv[4])
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        import neural_tangents as nt

        kj = jnp.asarray(k)
        yj = jnp.asarray(y).reshape(-1, 1)
        f0 = jnp.zeros_like(yj)
        ts = jnp.asarray(times)

        def nt_flow_once():
            predict = nt.predict.gradient_descent_mse(kj, yj)
            out = predict(ts, f0)
            jax.block_until_ready(out)

        print(f"neural_tangents {timed(reps, nt_flow_once)}", flush=True)
    except Exception as e:  # noqa: BLE001 - any import or runtime failure makes it unavailable
        print(f"neural_tangents unavailable {type(e).__name__}: {e}".replace("\n", " "), flush=True)
    try:
        import scipy.linalg

        def evd():
            scipy.linalg.eigh(k, driver="evd", check_finite=False)

        print(f"scipy_evd {timed(reps, evd)}", flush=True)
    except Exception as e:  # noqa: BLE001
        print(f"scipy_evd unavailable {type(e).__name__}: {e}".replace("\n", " "), flush=True)


if __name__ == "__main__":
    main()
