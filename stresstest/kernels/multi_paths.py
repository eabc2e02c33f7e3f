"""Multi-asset price paths: correlated GBM, the joint block bootstrap and joint FHS.

Output arrays are ``(paths, n_assets, T + 1)``, C-contiguous, prices in quote
per base of each asset. Every path draws from its own Philox stream (counter
``(block, stream, path)``), so a path is the same whatever chunk or thread
generates it. See docs/model.md 11.1.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from stresstest.kernels.enums import STREAM_BOOTSTRAP_MULTI, STREAM_FHS_MULTI, STREAM_GBM_MULTI
from stresstest.kernels.garch import PERCENT, garch_step, philox_block
from stresstest.kernels.jit import kernel, parallel_kernel
from stresstest.kernels.rng import normal_pair, uniform53


@parallel_kernel
def correlated_gbm_paths(
    k0: np.uint64,
    k1: np.uint64,
    first_path: int,
    s0: np.ndarray,
    sigma: np.ndarray,
    drift: np.ndarray,
    cholesky: np.ndarray,
    out: np.ndarray,
) -> None:
    """Fill ``out`` (paths x assets x (T + 1)) with correlated GBM prices.

    For path ``p`` the standard normals are numbered ``i = (t - 1) n + a`` (step
    ``t >= 1``, asset ``a``, ``n`` assets); ``Z_i`` is element ``i mod 2`` of the
    Box-Muller pair of Philox block ``i // 2``, stream ``STREAM_GBM_MULTI``. With
    ``L`` the lower Cholesky factor of the correlation matrix,
    ``X_t = L Z_t`` and ``P_a,t = s0_a exp(sum_{u<=t} (drift_a - sigma_a^2/2 + sigma_a X_a,u))``.
    ``sigma`` and ``drift`` are per step; the sum runs in step order and ``exp``
    is taken afresh at every step.
    """
    n_paths, n_assets, n_points = out.shape
    n_normals = (n_points - 1) * n_assets
    for row in numba.prange(n_paths):
        path = first_path + row
        normals = np.empty(n_normals + 1)
        for block in range((n_normals + 1) // 2):
            z0, z1 = normal_pair(k0, k1, block, STREAM_GBM_MULTI, path)
            normals[2 * block] = z0
            normals[2 * block + 1] = z1
        log_sum = np.zeros(n_assets)
        for asset in range(n_assets):
            out[row, asset, 0] = s0[asset]
        for step in range(1, n_points):
            base = (step - 1) * n_assets
            for asset in range(n_assets):
                mixed = 0.0
                for other in range(asset + 1):
                    mixed += cholesky[asset, other] * normals[base + other]
                log_sum[asset] += (drift[asset] - 0.5 * sigma[asset] * sigma[asset]) + sigma[
                    asset
                ] * mixed
                out[row, asset, step] = s0[asset] * np.exp(log_sum[asset])


@kernel
def _joint_block(
    k0: np.uint64, k1: np.uint64, path: int, block: int, n_returns: int, inv_log_stay: float
) -> tuple[int, float]:
    """Start index and extra length of block ``block``, stream ``STREAM_BOOTSTRAP_MULTI``."""
    w0, w1, w2, w3 = philox_block(k0, k1, block, STREAM_BOOTSTRAP_MULTI, path)
    start = int(uniform53(w0, w1) * n_returns)
    if start >= n_returns:
        start = n_returns - 1
    extra = math.floor(math.log(1.0 - uniform53(w2, w3)) * inv_log_stay)
    return start, extra


@parallel_kernel
def joint_bootstrap_paths(
    k0: np.uint64,
    k1: np.uint64,
    first_path: int,
    returns: np.ndarray,
    successor: np.ndarray,
    inv_log_stay: float,
    s0: np.ndarray,
    out: np.ndarray,
) -> None:
    """Fill ``out`` (paths x assets x (T + 1)) by the stationary bootstrap of joint returns.

    ``returns`` is ``(n_returns, n_assets)``: row ``k`` holds every asset's log
    return over the same hour, so a block copies whole rows and keeps the
    cross-correlation and tail dependence of the data. Blocks are drawn as in
    the single-asset bootstrap (docs/model.md 1.4) from stream
    ``STREAM_BOOTSTRAP_MULTI``; ``successor`` wraps within a gap-free run.
    ``P_a,0 = s0_a``, ``P_a,t = s0_a exp(sum_{u<=t} r_{k(u), a})``.
    """
    n_paths, n_assets, n_points = out.shape
    n_returns = returns.shape[0]
    for row in numba.prange(n_paths):
        path = first_path + row
        log_sum = np.zeros(n_assets)
        for asset in range(n_assets):
            out[row, asset, 0] = s0[asset]
        step = 1
        block = 0
        while step < n_points:
            index, extra = _joint_block(k0, k1, path, block, n_returns, inv_log_stay)
            block += 1
            length = 1.0 + extra
            taken = 0
            while step < n_points and taken < length:
                for asset in range(n_assets):
                    log_sum[asset] += returns[index, asset]
                    out[row, asset, step] = s0[asset] * np.exp(log_sum[asset])
                index = successor[index]
                step += 1
                taken += 1


# ----------------------------------------------------------------------------- FHS
@kernel
def fhs_row_pair(
    k0: np.uint64, k1: np.uint64, path: int, block: int, n_rows: int
) -> tuple[int, int]:
    """Residual rows of steps ``2 block + 1`` and ``2 block + 2``, stream ``STREAM_FHS_MULTI``.

    ``min(floor(U(w0, w1) n), n - 1)`` and ``min(floor(U(w2, w3) n), n - 1)`` for
    the words of Philox block ``block`` of the path: the layout of the
    single-asset FHS draws (docs/model.md 1.6), one row index per step.
    """
    w0, w1, w2, w3 = philox_block(k0, k1, block, STREAM_FHS_MULTI, path)
    first = int(uniform53(w0, w1) * n_rows)
    second = int(uniform53(w2, w3) * n_rows)
    return min(first, n_rows - 1), min(second, n_rows - 1)


@parallel_kernel
def fhs_multi_rows(
    k0: np.uint64, k1: np.uint64, first_path: int, n_rows: int, out: np.ndarray
) -> None:
    """Rows drawn by :func:`fhs_multi_paths`: ``out[i, t - 1]`` of path ``first_path + i``."""
    n_paths, n_steps = out.shape
    for row in numba.prange(n_paths):
        path = first_path + row
        for block in range((n_steps + 1) >> 1):
            first, second = fhs_row_pair(k0, k1, path, block, n_rows)
            out[row, 2 * block] = first
            if 2 * block + 1 < n_steps:
                out[row, 2 * block + 1] = second


@kernel
def _fhs_multi_step(
    model: int,
    variance: np.ndarray,
    residuals: np.ndarray,
    index: int,
    s0: np.ndarray,
    state: np.ndarray,
    log_sum: np.ndarray,
    out_row: np.ndarray,
    step: int,
) -> None:
    """Apply residual row ``index`` to every asset at ``step``: ``state``, ``log_sum`` in place."""
    for asset in range(s0.shape[0]):
        parameters = (
            variance[asset, 0],
            variance[asset, 1],
            variance[asset, 2],
            variance[asset, 3],
            variance[asset, 4],
        )
        r, state[asset] = garch_step(model, parameters, state[asset], residuals[index, asset])
        log_sum[asset] += r
        out_row[asset, step] = s0[asset] * math.exp(PERCENT * log_sum[asset])


@parallel_kernel
def fhs_multi_paths(
    k0: np.uint64,
    k1: np.uint64,
    first_path: int,
    residuals: np.ndarray,
    model: int,
    variance: np.ndarray,
    state0: np.ndarray,
    s0: np.ndarray,
    out: np.ndarray,
) -> None:
    """Fill ``out`` (paths x assets x (T + 1)) by multi-asset filtered historical simulation.

    ``residuals`` is ``(n_rows, n_assets)``: row ``k`` holds every asset's
    standardized residual of the same hour. Step ``t`` of a path draws one row
    ``k(t)`` (:func:`fhs_row_pair`) and every asset ``a`` applies its own
    GARCH-family recursion (:func:`stresstest.kernels.garch.garch_step`, model
    ``model`` shared, parameters ``variance[a] = (mu, omega, alpha, gamma, beta)``
    in arch's units) to ``z_a,t = residuals[k(t), a]``:
    ``r_a,t = mu_a + sigma_a,t z_a,t`` (percent),
    ``P_a,t = s0_a exp(0.01 sum_{u<=t} r_a,u)``. ``state0[a]`` is
    ``sigma^2_a,1`` in percent^2 (``ln sigma^2_a,1`` for EGARCH); ``s0`` in
    quote per base of each asset. See docs/model.md 11.1.
    """
    n_paths, n_assets, n_points = out.shape
    n_steps = n_points - 1
    n_rows = residuals.shape[0]
    for row in numba.prange(n_paths):
        path = first_path + row
        state = state0.copy()
        log_sum = np.zeros(n_assets)
        for asset in range(n_assets):
            out[row, asset, 0] = s0[asset]
        for block in range((n_steps + 1) >> 1):
            first, second = fhs_row_pair(k0, k1, path, block, n_rows)
            step = 2 * block + 1
            _fhs_multi_step(model, variance, residuals, first, s0, state, log_sum, out[row], step)
            if step < n_steps:
                _fhs_multi_step(
                    model, variance, residuals, second, s0, state, log_sum, out[row], step + 1
                )
