"""Each asset's posted maintenance rate ``m_a,t`` of an accounts replay (docs/model.md 11.3).

Every accounts kernel (the filtered one, its dense twin and the defence kernel)
posts its rates through :func:`step_rates`: per asset, the EWMA variance of the
asset's own market returns (docs/model.md 3), then the APC rate of 3.1
(:func:`stresstest.kernels.margin.apc_rate`, the single-asset function, with the
state carried step to step per asset and the asset's own variance floor) when an
APC option is on, else the plain rate of 3
(:func:`stresstest.kernels.margin.design_rate`). One rate step and one state array
per path (``(A, RATE_WIDTH)``): O(A) per step. The state is one array and the
branch on APC is taken once per step, not per asset: with several arrays (or a
tuple of them) passed per step the filtered kernel measured some 5-10% slower
(docs/performance.md, issue 15 APC with accounts).
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.jit import kernel
from stresstest.kernels.margin import apc_rate, apc_state, design_rate, has_apc, next_variance

#: Columns of a row of the rate state (:func:`rate_state`): the asset's margin design
#: vector (``enums.MARGIN_ARG_*``, its own variance floor set), its EWMA variance and its
#: APC state (``enums.APC_STATE_*``).
RATE_VARIANCE = enums.N_MARGIN_ARGS
RATE_APC = enums.N_MARGIN_ARGS + 1
RATE_WIDTH = RATE_APC + enums.N_APC_STATE


@kernel
def rate_state(margin: np.ndarray, n_assets: int) -> tuple[np.ndarray, bool]:
    """A path's fresh rate state ``(A, RATE_WIDTH)`` before step 0, and whether APC is on.

    Row ``a``: asset ``a``'s margin design vector (``margin``'s first
    ``N_MARGIN_ARGS`` values, with the asset's own variance floor when ``margin``
    goes on with one per asset, ``enums.MARGIN_ARG_ASSET_FLOORS``), its EWMA
    variance ``v_a`` (``initial_variance``, per step) at ``RATE_VARIANCE`` and a
    fresh :func:`stresstest.kernels.margin.apc_state` at ``RATE_APC``. The flag: an
    APC option is on for some asset (:func:`stresstest.kernels.margin.has_apc` of
    its design). One array, so the per-step call passes as few arrays as before.
    """
    state = np.empty((n_assets, RATE_WIDTH))
    per_asset = margin.shape[0] > enums.N_MARGIN_ARGS
    apc = False
    for asset in range(n_assets):
        state[asset, : enums.N_MARGIN_ARGS] = margin[: enums.N_MARGIN_ARGS]
        if per_asset:
            state[asset, enums.MARGIN_ARG_VOL_FLOOR_VARIANCE] = margin[
                enums.MARGIN_ARG_ASSET_FLOORS + asset
            ]
        state[asset, RATE_VARIANCE] = margin[enums.MARGIN_ARG_INITIAL_VARIANCE]
        state[asset, RATE_APC:] = apc_state()
        apc = apc or has_apc(state[asset])
    return state, apc


@kernel
def step_rates(
    prices: np.ndarray,
    step: int,
    state: np.ndarray,
    apc: bool,
    sqrt_horizon: float,
    rates_now: np.ndarray,
) -> None:
    """Update each asset's EWMA variance with the return into ``step`` and post ``m_a,t``.

    ``prices`` ``(A, T + 1)`` are the market prices (quote per base); ``state`` and
    ``apc`` from :func:`rate_state` (``state`` is updated); ``rates_now[a]`` receives
    ``m_a,t`` (fraction of notional): :func:`stresstest.kernels.margin.apc_rate` of the
    asset's own design and state when ``apc``, else
    :func:`stresstest.kernels.margin.design_rate`. Called once per step, in step order.
    """
    for asset in range(prices.shape[0]):
        if step >= 1:
            state[asset, RATE_VARIANCE] = next_variance(
                state[asset],
                state[asset, RATE_VARIANCE],
                prices[asset, step],
                prices[asset, step - 1],
            )
    if apc:
        for asset in range(prices.shape[0]):
            row = state[asset]
            rates_now[asset] = apc_rate(row, sqrt_horizon, row[RATE_VARIANCE], row[RATE_APC:])
        return
    for asset in range(prices.shape[0]):
        rates_now[asset] = design_rate(state[asset], sqrt_horizon, state[asset, RATE_VARIANCE])
