"""Geometric Brownian motion paths from per-path counter-based normals."""

from __future__ import annotations

import numba
import numpy as np

from stresstest.kernels.enums import STREAM_GBM
from stresstest.kernels.fast_math import exp_lanes
from stresstest.kernels.jit import kernel, parallel_kernel
from stresstest.kernels.rng import normal_pairs_lanes

#: Paths generated together in SIMD lanes: one group per ``prange`` iteration.
LANES = 64


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
    ``STREAM_GBM`` for that path and ``exp`` is :func:`exp_lanes`. ``sigma`` and
    ``drift`` are per step. Paths are made :data:`LANES` at a time, each lane one
    path with its own stream, so a path's prices do not depend on its group.
    """
    n_paths, n_points = out.shape
    n_groups = (n_paths + LANES - 1) // LANES
    for group in numba.prange(n_groups):
        first_row = group * LANES
        rows = min(LANES, n_paths - first_row)
        prices = np.empty((n_points, LANES))  # step-major, so each step is a SIMD row
        gbm_group(k0, k1, first_path + first_row, s0, sigma, drift, prices)
        for lane in range(rows):
            for step in range(n_points):
                out[first_row + lane, step] = prices[step, lane]


@kernel
def gbm_group(
    k0: np.uint64,
    k1: np.uint64,
    first_path: int,
    s0: float,
    sigma: float,
    drift: float,
    prices: np.ndarray,
) -> None:
    """Fill ``prices`` (``(T + 1) x LANES``, step-major) with the GBM prices of one group.

    Column ``lane`` is global path ``first_path + lane``, every lane one path
    with its own stream (see :func:`gbm_paths`, which writes the lanes that are
    paths of its output); each step is a SIMD row. The one generator of GBM
    prices: :func:`gbm_paths` and the fused generation and replay
    (:mod:`stresstest.kernels.gbm_replay`) both call it, so their prices are the
    same bits.
    """
    n_steps = prices.shape[0] - 1
    log_mean = drift - 0.5 * sigma * sigma
    words = np.empty((4, LANES), dtype=np.uint64)
    z0 = np.empty(LANES)
    z1 = np.empty(LANES)
    log_return_sum = np.zeros(LANES)
    prices[0, :] = s0
    for block in range((n_steps + 1) // 2):
        normal_pairs_lanes(k0, k1, block, STREAM_GBM, first_path, words, z0, z1)
        step = 2 * block + 1
        price_step(log_return_sum, z0, log_mean, sigma, s0, prices[step])
        if step + 1 <= n_steps:
            price_step(log_return_sum, z1, log_mean, sigma, s0, prices[step + 1])


@kernel
def price_step(
    log_return_sum: np.ndarray,
    normals: np.ndarray,
    log_mean: float,
    sigma: float,
    s0: float,
    prices: np.ndarray,
) -> None:
    """Add one step's log return to every lane's sum and write ``s0 exp(sum)`` to ``prices``."""
    for lane in range(log_return_sum.shape[0]):
        log_return_sum[lane] += log_mean + sigma * normals[lane]
        prices[lane] = s0 * exp_lanes(log_return_sum[lane])
