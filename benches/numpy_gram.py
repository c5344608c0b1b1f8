#!/usr/bin/env python3
"""NumPy baseline of the `gram` benchmark rows: the closed-form infinite-width NTK Gram matrix of
docs/theory.md §4.1–§4.4 (two-layer Leaky-ReLU network with biases, readout fixed, slope γ; the
defaults of `ntk-perturb gram`), computed in memory on data already loaded, timed with its own
timer. Usage:

    python3 benches/numpy_gram.py X.npy [K.npy] [--gamma G] [--reps R]

X.npy holds the N×d inputs. Prints one line `seconds=<median> max_abs_diff=<d>` where seconds is
the median of R timings (after one warm-up) and max_abs_diff compares the matrix with K.npy (the
k_train_train.npy that `ntk-perturb gram` wrote for the same X), or `nan` without K.npy.

    Θ(x, z) = Φ_γ(θ)·(x·z + 1),   Φ_γ(θ) = [(1 + γ²)(π − θ) + 2γθ] / (2π),
    cos θ = (x·z/d + 1) / √((‖x‖²/d + 1)(‖z‖²/d + 1)),   θ = 0 on the diagonal.
"""
import sys
import time

import numpy as np


def ntk_gram(x: np.ndarray, gamma: float) -> np.ndarray:
    """The N×N NTK Gram matrix of the rows of x, in place where numpy allows."""
    d = x.shape[1]
    g = x @ x.T                                   # x·z (symmetric GEMM through BLAS)
    s = np.sqrt(np.diagonal(g) / d + 1.0)        # s_x
    cos = g / d
    cos += 1.0                                    # c = x·z/d + 1
    cos /= s[:, None]
    cos /= s[None, :]
    np.clip(cos, -1.0, 1.0, out=cos)
    theta = np.arccos(cos, out=cos)
    np.fill_diagonal(theta, 0.0)
    # Φ_γ = [(1 + γ²)π − ((1 + γ²) − 2γ)θ] / (2π) = a − bθ
    a = (1.0 + gamma * gamma) / 2.0
    b = (1.0 - gamma) ** 2 / (2.0 * np.pi)
    phi = theta
    phi *= -b
    phi += a
    g += 1.0
    g *= phi                                      # Θ = Φ·(x·z + 1)
    return g


def main() -> None:
    args = sys.argv[1:]
    gamma, reps = 0.0, 3
    if "--gamma" in args:
        i = args.index("--gamma")
        gamma = float(args[i + 1])
        del args[i : i + 2]
    if "--reps" in args:
        i = args.index("--reps")
        reps = int(args[i + 1])
        del args[i : i + 2]
    x = np.load(args[0])
    x = np.ascontiguousarray(x, dtype=np.float64)
    k = ntk_gram(x, gamma)                        # warm-up
    times = []
    for _ in range(max(reps, 1)):
        del k
        start = time.perf_counter()
        k = ntk_gram(x, gamma)
        times.append(time.perf_counter() - start)
    times.sort()
    diff = float("nan")
    if len(args) > 1:
        ours = np.load(args[1], mmap_mode="r")
        diff = float(np.max(np.abs(ours - k)))
    print(f"seconds={times[len(times) // 2]:.6f} max_abs_diff={diff:.3e}")


if __name__ == "__main__":
    main()
