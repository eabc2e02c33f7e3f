"""How much of a margin unit a settlement closes, and at what price (docs/model.md 11.8, 11.9).

Pure functions over one path's arrays, called by
:mod:`stresstest.kernels.account_defences` at a unit's close step: the sums of a
settlement at the exits (:func:`settle_terms`), the fraction of every leg a
partial close keeps (:func:`kept_fraction`, exact on the bracket breakpoints),
the share of a unit a settlement would close before any impact
(:func:`closed_share`), and with ``[market]`` the execution price of every asset
from the net quantity of the step's closes (:func:`execution_prices`, 9.4 per
asset). Units: prices quote per base, quantities base units, money quote units.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.account_predictive import adverse_moves, has_covariance
from stresstest.kernels.brackets import position_requirement
from stresstest.kernels.jit import kernel
from stresstest.kernels.margin import liquidation_terms
from stresstest.kernels.mechanics import relative_impact


@kernel
def settle_terms(
    unit: int,
    step: int,
    prices: np.ndarray,
    marks: np.ndarray,
    fee_rates: np.ndarray,
    fee: float,
    slippage: float,
    unit_start: np.ndarray,
    pos_asset: np.ndarray,
    pos_side: np.ndarray,
    qty: np.ndarray,
    pos_entry: np.ndarray,
) -> tuple[float, float, float, float]:
    """``(S_x, F_x, G, N_x)`` of a unit closed at ``step`` (quote units).

    ``S_x = sum s q (x - e)`` the pnl at the exits ``x_k = P_a,step (1 - s_k slippage)``,
    ``F_x = sum fee_k q x`` the penalty due (``fee_k`` the leg's rate, or ``fee``),
    ``G = sum s q (y - x)`` with ``y_k = O_a,step (1 - s_k slippage)`` (mark less the
    slippage), ``N_x = sum q x`` the exit notional.
    """
    pnl = 0.0
    due = 0.0
    to_mark = 0.0
    notional = 0.0
    per_leg = fee_rates.shape[0] > 0
    for position in range(unit_start[unit], unit_start[unit + 1]):
        quantity = qty[position]
        if quantity == 0.0:
            continue
        side = pos_side[position]
        asset = pos_asset[position]
        exit_price = prices[asset, step] * (1.0 - side * slippage)
        mark = marks[asset, step] * (1.0 - side * slippage)
        pnl += side * quantity * (exit_price - pos_entry[position])
        rate = fee_rates[asset, step] if per_leg else fee
        due += rate * quantity * exit_price
        to_mark += side * quantity * (mark - exit_price)
        notional += quantity * exit_price
    return pnl, due, to_mark, notional


@kernel
def kept_gap(
    kept: float,
    unit: int,
    step: int,
    marks: np.ndarray,
    slippage: float,
    rates_now: np.ndarray,
    shifts: np.ndarray,
    brackets: np.ndarray,
    buffer: float,
    units: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    after_fee: float,
    slope: float,
) -> float:
    """``h(phi) = after_fee + phi slope - R_u(phi) - b phi sum q y`` at ``phi = kept``, quote.

    ``R_u(phi)`` is the unit's requirement (rates, or tiered brackets with the
    volatility add-on, docs/model.md 11.4) with every leg scaled by ``phi``, at the
    sizing prices ``y_k = O_a,step (1 - s_k slippage)``. With the predictive trigger
    (``shifts`` = ``z sigma_a sqrt(h)`` per asset, not empty) the rate of a leg is the
    trigger's boundary of 10.1 instead: ``1 - exp(-shift)`` long, ``exp(shift) - 1`` short;
    in a unit of several legs ``-s (exp(r*_a) - 1)`` with the unit's move ``r*`` of
    :func:`stresstest.kernels.account_predictive.adverse_moves` (11.8).
    """
    unit_start, pos_asset, pos_side, qty = units
    target = 0.0
    several = unit_start[unit + 1] - unit_start[unit] > 1 and has_covariance(shifts, marks.shape[0])
    moves = (
        adverse_moves(unit, step, marks, shifts, unit_start, pos_asset, pos_side, qty)
        if several
        else shifts[:0]
    )
    for position in range(unit_start[unit], unit_start[unit + 1]):
        quantity = qty[position] * kept
        if quantity == 0.0:
            continue
        asset = pos_asset[position]
        notional = quantity * marks[asset, step] * (1.0 - pos_side[position] * slippage)
        if several:  # the cross trigger's boundary: the leg's loss at the move r* (11.8)
            target += -pos_side[position] * (np.exp(moves[asset]) - 1.0) * notional
        elif shifts.shape[0] > 0:
            shift = shifts[asset]
            boundary = 1.0 - np.exp(-shift) if pos_side[position] > 0 else np.exp(shift) - 1.0
            target += boundary * notional
        elif brackets.shape[1] > 1:
            target += position_requirement(
                notional, rates_now[asset], brackets[0], brackets[1], brackets[2]
            )
        else:
            target += rates_now[asset] * notional
        target += buffer * notional
    return after_fee + kept * slope - target


@kernel
def kept_fraction(
    unit: int,
    step: int,
    marks: np.ndarray,
    slippage: float,
    rates_now: np.ndarray,
    shifts: np.ndarray,
    brackets: np.ndarray,
    buffer: float,
    units: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    after_fee: float,
    slope: float,
) -> float:
    """The fraction ``phi`` of every leg a partial close keeps (docs/model.md 11.8).

    ``h`` of :func:`kept_gap` is concave (affine minus a convex piecewise-linear
    requirement) with ``h(0) = after_fee > 0``; when ``h(1) < 0`` its root is found
    on the linear piece between the bracket breakpoints ``phi = F_b / (q_k y_k)``
    that holds it, so it is exact. Returns 1 when ``h(1) >= 0`` (re-armed).
    """
    unit_start, pos_asset, pos_side, qty = units
    floors = brackets[0]
    high = kept_gap(
        1.0,
        unit,
        step,
        marks,
        slippage,
        rates_now,
        shifts,
        brackets,
        buffer,
        units,
        after_fee,
        slope,
    )
    if high >= 0.0:
        return 1.0
    low_phi = 0.0
    low = after_fee
    high_phi = 1.0
    for position in range(unit_start[unit], unit_start[unit + 1]):
        sized = (
            qty[position] * marks[pos_asset[position], step] * (1.0 - pos_side[position] * slippage)
        )
        for bracket in range(1, floors.shape[0]):
            point = floors[bracket] / sized if sized > 0.0 else 2.0
            if not low_phi < point < high_phi:
                continue
            value = kept_gap(
                point,
                unit,
                step,
                marks,
                slippage,
                rates_now,
                shifts,
                brackets,
                buffer,
                units,
                after_fee,
                slope,
            )
            if value >= 0.0:
                low_phi = point
                low = value
            else:
                high_phi = point
                high = value
    return low_phi + low * (high_phi - low_phi) / (low - high)


@kernel
def closed_share(
    unit: int,
    step: int,
    prices: np.ndarray,
    marks: np.ndarray,
    fee_rates: np.ndarray,
    rates_now: np.ndarray,
    shifts: np.ndarray,
    brackets: np.ndarray,
    liquidation: np.ndarray,
    buffer: float,
    units: tuple[np.ndarray, ...],
    qty: np.ndarray,
    collateral: np.ndarray,
) -> float:
    """The share ``1 - phi`` of every leg that settling ``unit`` at the exits of ``prices`` closes.

    The decision of :func:`stresstest.kernels.account_defences.settle_unit` without
    booking anything: 1 for a full close (always with ``buffer < 0``, no partial
    liquidation), 0 when the unit would be re-armed, else ``1 - phi`` of
    :func:`kept_fraction`. With ``[market]`` the step's order is sized by it at the
    price before impact (docs/model.md 10.1, 11.9).
    """
    unit_start, pos_asset, pos_side, _, pos_entry, _ = units
    if buffer < 0.0:
        return 1.0
    _, slippage, fee, _ = liquidation_terms(liquidation)
    pnl, due, to_mark, _ = settle_terms(
        unit,
        step,
        prices,
        marks,
        fee_rates,
        fee,
        slippage,
        unit_start,
        pos_asset,
        pos_side,
        qty,
        pos_entry,
    )
    after_fee = collateral[unit] + pnl - due
    if not after_fee > 0.0:
        return 1.0
    kept = kept_fraction(
        unit,
        step,
        marks,
        slippage,
        rates_now,
        shifts,
        brackets,
        buffer,
        (unit_start, pos_asset, pos_side, qty),
        after_fee,
        due + to_mark,
    )
    return 0.0 if kept >= 1.0 else 1.0 - kept


@kernel
def execution_prices(
    params: np.ndarray,
    step: int,
    market: np.ndarray,
    net: np.ndarray,
    execution: np.ndarray,
    direction: np.ndarray,
    impact: np.ndarray,
) -> None:
    """Per asset, the execution price of the step's net order (docs/model.md 9.4, 11.9).

    ``net[a] = D_a`` (base units of asset ``a``; bought minus sold) gives
    ``I_a = relative_impact(P~_a |D_a|)`` (log-price), ``direction[a] = sgn(D_a)``
    (-1 for ``D_a = 0``, where ``I_a = 0``) and
    ``execution[a, step] = P~_a exp(sgn(D_a) I_a)`` (quote per base), as the
    single-asset pipeline computes them.
    """
    for asset in range(market.shape[0]):
        price = market[asset, step]
        direction[asset] = 1.0 if net[asset] > 0.0 else -1.0
        impact[asset] = relative_impact(params, price * abs(net[asset]))
        execution[asset, step] = price * np.exp(direction[asset] * impact[asset])


@kernel
def closed_terms(
    unit: int,
    step: int,
    exits: np.ndarray,
    fee_rates: np.ndarray,
    liquidation: np.ndarray,
    units: tuple[np.ndarray, ...],
    qty: np.ndarray,
    closes: np.ndarray,
) -> tuple[float, float, float, float]:
    """``(legs, notional, penalty, realized)`` of closing ``closes[k]`` of each live leg.

    At the exits ``x_k = P_a,step (1 - s_k slippage)`` (``exits`` before slippage) and
    the leg's penalty rate ``fee_k`` (``fee``, or ``fee_rates[a, step]``): the count of
    live legs, ``sum dq_k x_k``, ``sum fee_k dq_k x_k`` and ``sum s_k dq_k (x_k - e_k)``,
    quote units, summed in leg order (a partial close of 11.8, either rule of legs).
    """
    unit_start, pos_asset, pos_side, _, pos_entry, _ = units
    _, slippage, fee, _ = liquidation_terms(liquidation)
    per_leg = fee_rates.shape[0] > 0
    legs = 0.0
    notional = 0.0
    penalty = 0.0
    realized = 0.0
    for position in range(unit_start[unit], unit_start[unit + 1]):
        if qty[position] == 0.0:
            continue
        closed = closes[position]
        side = pos_side[position]
        asset = pos_asset[position]
        exit_price = exits[asset, step] * (1.0 - side * slippage)
        rate = fee_rates[asset, step] if per_leg else fee
        legs += 1.0
        notional += closed * exit_price
        penalty += rate * closed * exit_price
        realized += side * closed * (exit_price - pos_entry[position])
    return legs, notional, penalty, realized
