"""Stationary block bootstrap of historical log returns, per path from Philox blocks.

Politis and Romano (1994): a path is a chain of blocks; each block starts at a
uniformly drawn return and runs for a geometric number of steps with mean
``mean_block``. A block that reaches the end of its gap-free segment wraps to
that segment's first return (``successor``), so no return ever follows one it
did not follow in the data except at a block start, and every return is
equally likely at every step. See docs/model.md 1.4.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from stresstest.kernels.enums import STREAM_BOOTSTRAP
from stresstest.kernels.garch import philox_block
from stresstest.kernels.jit import kernel, parallel_kernel
from stresstest.kernels.rng import uniform53


@kernel
def block_start_and_length(
    k0: np.uint64, k1: np.uint64, path: int, block: int, n_returns: int, inv_log_stay: float
) -> tuple[int, float]:
    """Block ``block`` of ``path``: ``(start index, length - 1)`` from one Philox block.

    Counter ``(block, STREAM_BOOTSTRAP, path)``; ``u_s = U(w0, w1)`` and
    ``u_l = U(w2, w3)`` (53-bit uniforms in [0, 1)). Start
    ``min(floor(u_s n), n - 1)``; extra length ``floor(ln(1 - u_l) / ln(1 - 1/mean_block))``
    (``inv_log_stay = 1 / ln(1 - 1/mean_block)``, ``-0.0`` for ``mean_block = 1``),
    returned as a float so that a huge draw does not overflow an integer.
    """
    w0, w1, w2, w3 = philox_block(k0, k1, block, STREAM_BOOTSTRAP, path)
    start = int(uniform53(w0, w1) * n_returns)
    if start >= n_returns:
        start = n_returns - 1
    extra = math.floor(math.log(1.0 - uniform53(w2, w3)) * inv_log_stay)
    return start, extra


@parallel_kernel
def bootstrap_paths(
    k0: np.uint64,
    k1: np.uint64,
    first_path: int,
    returns: np.ndarray,
    successor: np.ndarray,
    inv_log_stay: float,
    s0: float,
    out: np.ndarray,
) -> None:
    """Fill ``out`` (paths x (T + 1)) with bootstrapped prices, row ``i`` for ``first_path + i``.

    ``returns`` are log returns (dimensionless, per step); ``successor[i]`` is the
    index that follows return ``i`` within its segment (wrapping to the segment's
    first return). ``P_0 = s0``, ``P_t = s0 exp(sum_{u<=t} r_{i_u})``.
    """
    n_paths, n_points = out.shape
    n_steps = n_points - 1
    n_returns = returns.shape[0]
    for row in numba.prange(n_paths):
        path = first_path + row
        out[row, 0] = s0
        log_sum = 0.0
        step = 1
        block = 0
        while step <= n_steps:
            index, extra = block_start_and_length(k0, k1, path, block, n_returns, inv_log_stay)
            block += 1
            stop = n_steps if extra >= n_steps - step else step + int(extra)
            while True:
                log_sum += returns[index]
                out[row, step] = s0 * math.exp(log_sum)
                step += 1
                if step > stop:
                    break
                index = successor[index]
