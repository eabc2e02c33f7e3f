"""Geometric Brownian motion paths from per-path counter-based normals."""

from __future__ import annotations

import numba
import numpy as np

from stresstest.kernels.enums import STREAM_GBM
from stresstest.kernels.jit import parallel_kernel
from stresstest.kernels.rng import normal_pair


@parallel_kernel
def gbm_paths(
    k0: np.uint64,
    k1: np.uint64,
    first_path: int,
    s0: float,
    sigma: float,
    drift: float,
    out: np.ndarray,
) -> None:
    """Fill ``out`` (paths x (T + 1)) with GBM prices.

    Row ``i`` is global path ``first_path + i``. ``P_0 = s0`` and for t >= 1
    ``P_t = s0 exp(sum_{u<=t} ((drift - sigma^2 / 2) + sigma Z_u))`` where
    ``Z_{2j+1}, Z_{2j+2}`` is the Box-Muller pair of Philox block ``j`` of stream
    ``STREAM_GBM`` for that path. ``sigma`` and ``drift`` are per step.
    """
    n_paths, n_points = out.shape
    n_steps = n_points - 1
    log_mean = drift - 0.5 * sigma * sigma
    for row in numba.prange(n_paths):
        path = first_path + row
        out[row, 0] = s0
        log_return_sum = 0.0
        for block in range((n_steps + 1) // 2):
            z0, z1 = normal_pair(k0, k1, block, STREAM_GBM, path)
            step = 2 * block + 1
            log_return_sum += log_mean + sigma * z0
            out[row, step] = s0 * np.exp(log_return_sum)
            if step + 1 <= n_steps:
                log_return_sum += log_mean + sigma * z1
                out[row, step + 1] = s0 * np.exp(log_return_sum)
