"""GBM generation fused with the core replay, one group of 64 paths (``gbm.LANES``) at a time.

The unfused engine generates a chunk of paths (about 64 MB of prices,
:func:`stresstest.kernels.gbm.gbm_paths`) and replays it afterwards
(:func:`stresstest.kernels.replay.replay_paths_attributed`): every price is
written to memory and read back. Here each ``prange`` iteration generates one
group's prices into a buffer of its own (``(T + 1) x LANES`` floats, 369 KB at
720 steps, which stays in the core's second-level cache) with the same
:func:`~stresstest.kernels.gbm.gbm_group`, copies each lane into a path of
``T + 1`` contiguous prices and replays it with the same
:func:`~stresstest.kernels.replay.replay_row` as the unfused driver. The prices are the same bits as
``gbm_paths``'s and the replay reads the same values in the same order, so every
output is the same bits as generation followed by the replay
(tests/test_gbm_replay.py).
"""

from __future__ import annotations

import numba
import numpy as np

from stresstest.kernels.gbm import LANES, gbm_group
from stresstest.kernels.jit import parallel_kernel
from stresstest.kernels.replay import replay_row


@parallel_kernel
def gbm_replay_paths(
    k0: np.uint64,
    k1: np.uint64,
    first_path: int,
    s0: float,
    sigma: float,
    drift: float,
    n_steps: int,
    margin: np.ndarray,
    liquidation: np.ndarray,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
    fund_initial: float,
    grid: np.ndarray,
    out: np.ndarray,
    grid_out: np.ndarray,
    cohorts: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    step_edges: np.ndarray,
    attribution_out: np.ndarray,
) -> None:
    """Generate GBM paths ``first_path .. first_path + len(out) - 1`` and replay each.

    ``k0, k1, s0, sigma, drift`` are :func:`~stresstest.kernels.gbm.gbm_paths`'s
    (Philox key; start price, quote per base; ``sigma`` and ``drift`` per step),
    ``n_steps`` the steps per path (``T``); the other arguments are
    :func:`~stresstest.kernels.replay.replay_paths_attributed`'s, and row ``i``
    of ``out``, ``grid_out`` and ``attribution_out`` receives what that kernel
    writes for row ``i`` of ``gbm_paths``'s output: the same bits.

    Each thread owns whole groups of paths and writes only their rows, so the
    result does not depend on the thread count or on how paths are chunked.
    """
    n_paths = out.shape[0]
    n_points = n_steps + 1
    n_groups = (n_paths + LANES - 1) // LANES
    for group in numba.prange(n_groups):
        first_row = group * LANES
        rows = min(LANES, n_paths - first_row)
        lanes = np.empty((n_points, LANES))  # step-major, as gbm_group writes it
        gbm_group(k0, k1, first_path + first_row, s0, sigma, drift, lanes)
        prices = np.empty(n_points)
        for lane in range(rows):
            for step in range(n_points):
                prices[step] = lanes[step, lane]
            row = first_row + lane
            replay_row(
                prices,
                margin,
                liquidation,
                long_threshold,
                long_prefix,
                short_threshold,
                short_prefix,
                fund_initial,
                grid,
                out[row],
                grid_out[row],
                cohorts,
                step_edges,
                attribution_out[row],
            )
