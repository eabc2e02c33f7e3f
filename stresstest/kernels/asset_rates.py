"""Each asset's posted maintenance rate ``m_a,t`` of an accounts replay (docs/model.md 11.3).

Every accounts kernel (the filtered one, its dense twin and the defence kernel)
posts its rates through :func:`step_rates`: per asset, the EWMA variance of the
asset's own market returns (docs/model.md 3) and the rate of
:func:`stresstest.kernels.margin.posted_rate`, which is the APC rate of 3.1
(:func:`stresstest.kernels.margin.apc_rate`, with the state carried step to step
per asset and the asset's own variance floor) when an APC option is on, else the
plain rate of 3. One rate step, one state per asset: O(A) per step.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.jit import kernel
from stresstest.kernels.margin import apc_state, has_apc, next_variance, posted_rate


@kernel
def asset_designs(margin: np.ndarray, n_assets: int) -> np.ndarray:
    """``(A, N_MARGIN_ARGS)``: asset ``a``'s margin design vector, its own variance floor set.

    ``margin`` is the accounts margin vector: ``N_MARGIN_ARGS`` values, followed by
    one variance floor per asset (``enums.MARGIN_ARG_ASSET_FLOORS``, per step) when
    the APC volatility floor is on; without them every row is ``margin`` itself.
    """
    designs = np.empty((n_assets, enums.N_MARGIN_ARGS))
    per_asset = margin.shape[0] > enums.N_MARGIN_ARGS
    for asset in range(n_assets):
        designs[asset] = margin[: enums.N_MARGIN_ARGS]
        if per_asset:
            designs[asset, enums.MARGIN_ARG_VOL_FLOOR_VARIANCE] = margin[
                enums.MARGIN_ARG_ASSET_FLOORS + asset
            ]
    return designs


@kernel
def rate_state(
    margin: np.ndarray, n_assets: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """A path's fresh rate state: ``(designs, variance, apc_states, apc)``, before step 0.

    ``designs`` from :func:`asset_designs`; ``variance`` the EWMA ``v_a`` per asset
    (``initial_variance``, per step); ``apc_states`` one
    :func:`stresstest.kernels.margin.apc_state` row per asset (``enums.APC_STATE_*``);
    ``apc`` whether an APC option is on for some asset
    (:func:`stresstest.kernels.margin.has_apc` of its design).
    """
    designs = asset_designs(margin, n_assets)
    variance = np.full(n_assets, margin[enums.MARGIN_ARG_INITIAL_VARIANCE])
    states = np.empty((n_assets, enums.N_APC_STATE))
    apc = False
    for asset in range(n_assets):
        states[asset] = apc_state()
        apc = apc or has_apc(designs[asset])
    return designs, variance, states, apc


@kernel
def step_rates(
    prices: np.ndarray,
    step: int,
    state: tuple[np.ndarray, np.ndarray, np.ndarray, bool],
    sqrt_horizon: float,
    rates_now: np.ndarray,
) -> None:
    """Update each asset's EWMA variance with the return into ``step`` and post ``m_a,t``.

    ``prices`` ``(A, T + 1)`` are the market prices (quote per base); ``state`` from
    :func:`rate_state`, updated; ``rates_now[a]`` receives ``m_a,t`` (fraction of
    notional). Called once per step, in step order.
    """
    designs, variance, states, apc = state
    for asset in range(prices.shape[0]):
        design = designs[asset]
        if step >= 1:
            variance[asset] = next_variance(
                design, variance[asset], prices[asset, step], prices[asset, step - 1]
            )
        rates_now[asset] = posted_rate(design, sqrt_horizon, variance[asset], apc, states[asset])
