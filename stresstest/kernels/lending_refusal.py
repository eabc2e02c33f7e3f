"""Liquidations that are surely refused, known without pricing them (docs/model.md 13.7).

A liquidation of 13.4 is executed only if the liquidator's profit

    profit = sum_a pool(v_a; s_a) - (R / O_b) P_b - G

is positive. Each leg sells at most ``v_a <= k_a x_a`` (``x_a`` the debt it covers,
quote at the oracle, ``k_a = (1 + bonus_top_a (1 - fee_a)) P_a / O_a``: the seized
value is the cover times ``1 + bonus``, less the protocol's ``fee_a`` of the bonus,
sold at the market; ``bonus_top_a``
the largest bonus the leg can get, ``bonus_max`` with the ramp of 13.3, else
``liquidation_bonus``), the covers add up to ``R`` and each is at most
``X = d O_b`` (the loan's debt at the oracle). The pool's proceeds grow with the
value sold, so

    profit <= sum_a max_{0 <= x <= X} [pool(k_a x; s_a) - c x] - G,   c = P_b / O_b

and each term has a closed form (the pool is concave in the value sold): with
``A = D_a + s_a`` and ``y* = D_a sqrt(k_a / c) - A`` (the sale at which the pool's
marginal price falls to ``c / k_a``), the term is 0 if ``y* <= 0``,
``(D_a - A sqrt(c / k_a))^2 / A`` if ``0 < y* < k_a X``, else
``pool(k_a X; s_a) - c X``. ``s_a`` only grows within a step (sales add to it) and
each term falls as ``s_a`` grows, so the terms at the step's rested pools bound
every liquidation of the step. The liquidation is refused, whatever the close
factor, bonus ramp, seize order or collateral, if

    sum_a term_a + REFUSAL_MARGIN (d (O_b max_a k_a + P_b) + G + sum_a term_a)
                 + DEPTH_MARGIN sum_a A_a  <=  G

the margins far above the rounding of the profit (a few operations per leg, relative
to the debt) and of the closed form (relative to the pool's depth). Only the
constant-product pools have this bound (a depth curve's proceeds are differences of
integrals with no such closed form in floating point); with zero gas it never holds.
Pure numba over arrays.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.jit import inline_kernel, kernel

#: Relative margin of the refusal bound over the magnitudes of the profit (the loan's
#: debt at the oracle and market prices, the seizable value, gas): far above the
#: rounding of the profit's few operations per leg, so a liquidation the bound refuses
#: has a floating-point profit <= 0 (docs/model.md 13.7).
REFUSAL_MARGIN = 1e-9

#: Margin of the closed form per pool, relative to its depth ``D + s`` (quote): above
#: the rounding of ``D - A sqrt(c / k)`` (a few ulps of ``D``), squared over ``A``.
DEPTH_MARGIN = 1e-12


@kernel
def sale_gains(
    bonus_top: np.ndarray,
    fee: np.ndarray,
    market_prices: np.ndarray,
    marks: np.ndarray,
    step: int,
    gain: np.ndarray,
) -> None:
    """Each path asset's ``k_a = (1 + bonus_top_a (1 - fee_a)) P_a,t / O_a,t`` at ``step``:
    the most market value a liquidator sells per quote of debt covered with collateral
    of ``a`` (the seized ``1 + bonus`` less the protocol's ``fee`` of the bonus)."""
    for asset in range(gain.shape[0]):
        kept = 1.0 + bonus_top[asset] * (1.0 - fee[asset])
        gain[asset] = kept * (market_prices[asset, step] / marks[asset, step])


@inline_kernel
def pool_turn(depth: float, used: float, gain: float, price: float) -> tuple[float, float]:
    """The sale ``y* = D sqrt(k / c) - (D + s)`` at which a constant-product pool's
    marginal price falls to ``c / k`` (quote; <= 0: already below), and the most a
    liquidator makes past it, ``(D - (D + s) sqrt(c / k))^2 / (D + s)`` (quote): the
    parts of :func:`pool_gain` that do not depend on the cover."""
    if not gain > 0.0:
        return 0.0, 0.0
    rested = depth + used
    turn = depth * np.sqrt(gain / price) - rested
    if not turn > 0.0:
        return turn, 0.0
    shortfall = depth - rested * np.sqrt(price / gain)
    return turn, shortfall * shortfall / rested


@inline_kernel
def gain_at(
    turn: float, peak: float, depth: float, used: float, gain: float, price: float, cover: float
) -> float:
    """:func:`pool_gain` from its :func:`pool_turn` ``turn`` and ``peak``."""
    if not turn > 0.0:
        return 0.0
    if turn < gain * cover:
        return peak
    return max(pool_edge(depth, used, gain, price, cover), 0.0)


@inline_kernel
def pool_gain(depth: float, used: float, gain: float, price: float, cover: float) -> float:
    """``max_{0 <= x <= cover} [pool(gain x; used) - price x]`` (quote units, >= 0).

    The most a liquidator can make on one leg, before gas, covering at most ``cover``
    (quote at the oracle) whose repayment costs ``price`` per quote of cover, from a
    constant-product pool of depth ``depth`` with ``used`` unrefilled (module docstring).
    """
    turn, peak = pool_turn(depth, used, gain, price)
    return gain_at(turn, peak, depth, used, gain, price, cover)


@inline_kernel
def refusal_holds(
    total: float, widest: float, pools: float, cover: float, cost: float, gas: float
) -> bool:
    """The bound's verdict: ``total`` the legs' :func:`pool_gain` (quote), ``widest`` their
    largest gain, ``pools`` their pools' ``D + s`` (quote), ``cover = d O_b`` and
    ``cost = d P_b`` (quote), ``gas`` (quote, >= 0)."""
    scale = cover * widest + cost + gas + max(total, 0.0)
    return total + REFUSAL_MARGIN * scale + DEPTH_MARGIN * pools <= gas


@inline_kernel
def surely_refused(
    loan: int,
    start: np.ndarray,
    leg_asset: np.ndarray,
    depth: np.ndarray,
    used: np.ndarray,
    gain: np.ndarray,
    debt: float,
    debt_mark: float,
    debt_price: float,
    gas: float,
) -> bool:
    """Whether every liquidation of ``loan`` the step could try has profit <= 0.

    ``debt`` (units of its debt asset) with the debt asset's oracle ``debt_mark`` and
    market ``debt_price``; ``depth``, ``used`` the pools (quote), ``gain`` the step's
    :func:`sale_gains`, ``gas`` the step's gas (quote units, >= 0). Every collateral
    row counts (a row with nothing left only loosens the bound).
    """
    cover = debt * debt_mark
    price = debt_price / debt_mark
    total = 0.0
    widest = 0.0
    pools = 0.0
    for leg in range(start[loan], start[loan + 1]):
        asset = leg_asset[leg]
        total += pool_gain(depth[asset], used[asset], gain[asset], price, cover)
        widest = max(widest, gain[asset])
        pools += depth[asset] + used[asset]
    return refusal_holds(total, widest, pools, cover, debt * debt_price, gas)


@inline_kernel
def pool_edge(depth: float, used: float, gain: float, price: float, cover: float) -> float:
    """``pool(gain cover; used) - price cover`` (quote units, of either sign)."""
    rested = depth + used
    sale = gain * cover
    edge: float = depth * depth * sale / (rested * (rested + sale)) - price * cover
    return edge


@kernel
def leg_refused(
    turn: float,
    peak: float,
    depth: float,
    used: float,
    gain: float,
    least: float,
    most: float,
    debt: float,
    debt_mark: float,
    debt_price: float,
    gas: float,
) -> bool:
    """:func:`surely_refused` of a loan with one collateral row, whose cover lies in
    ``[least, most]`` (quote at the oracle).

    One row covers ``x = min(v / (1 + bonus), f d O_b)`` (13.3), so
    ``least = min(v / (1 + bonus_top), min(close_factor, 1) d O_b)`` and
    ``most = min(v / (1 + liquidation_bonus), d O_b)`` bound it, and the profit is at
    most ``max over least <= x <= most`` of ``pool(k x; s) - c x - G`` (concave: the peak
    if the turn lies between, else the nearer end, which may be negative). ``turn`` and
    ``peak`` are the pool's :func:`pool_turn` at the price ``c = debt_price / debt_mark``,
    computed once per step for a group of loans.
    """
    price = debt_price / debt_mark
    if turn < gain * least:  # past the turn already at the least cover
        total = pool_edge(depth, used, gain, price, least)
    elif turn < gain * most:
        total = peak
    else:
        total = pool_edge(depth, used, gain, price, most)
    return refusal_holds(total, gain, depth + used, debt * debt_mark, debt * debt_price, gas)


@kernel
def step_refused(
    depth: np.ndarray,
    used: np.ndarray,
    gain: np.ndarray,
    held: np.ndarray,
    borrowed: np.ndarray,
    market_prices: np.ndarray,
    marks: np.ndarray,
    step: int,
    cover: float,
    cost: float,
    gas: float,
) -> bool:
    """Whether every liquidation still to be tried in the step is refused (the step's cut).

    :func:`surely_refused` for a loan that would hold every asset of ``held`` (the path
    assets some loan holds as collateral), repay at the lowest ``price = P_b / O_b`` at
    ``step`` of the assets of ``borrowed`` (those some loan borrows; ``market_prices``
    and ``marks`` per asset and step, the quote asset last) and cover ``cover = d O_b``
    at a cost ``cost = d P_b`` (quote), both the largest of the step's candidates: a
    loan's legs are distinct assets of ``held`` and each leg's gain is at most its pool's
    peak, which falls as ``price`` rises, so the bound of every candidate is at most this
    one. ``depth``, ``used`` the pools (quote; ``used`` the step's sales so far, which only
    grow), ``gain`` the step's :func:`sale_gains`, ``gas`` the step's gas (quote, >= 0).
    """
    price = np.inf
    for asset in range(borrowed.shape[0]):
        if borrowed[asset]:
            price = min(price, market_prices[asset, step] / marks[asset, step])
    total = 0.0
    widest = 0.0
    pools = 0.0
    for asset in range(depth.shape[0]):
        if held[asset]:
            total += pool_turn(depth[asset], used[asset], gain[asset], price)[1]
            widest = max(widest, gain[asset])
            pools += depth[asset] + used[asset]
    return refusal_holds(total, widest, pools, cover, cost, gas)
