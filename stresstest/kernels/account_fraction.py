"""The venue-style fraction rule of partial liquidation for margin units (docs/model.md 11.8).

``[partial_liquidation] rule = "fraction"`` with accounts: a unit due at step
``tau`` is re-armed when it is no longer in breach at the marks of ``tau``, closed
whole when its equity at the exits after the penalty is ``<= 0``, and otherwise
every live leg is closed by the fraction ``f`` of its current quantity, or in full
when the leg's notional at the mark is at or below ``N_min``, when ``f = 1`` or
when the unit is in its cool-down (a partial close at ``u`` and ``tau <= u + k``).
A unit with a leg left open stays open (a partial close of the unit, which starts
its cool-down); one with every leg closed is closed whole. For a one-position unit
this is the single-asset rule of docs/model.md 10.1.1, row for row.

Pure functions over one path's arrays, called by
:mod:`stresstest.kernels.account_defences`: :func:`fraction_closes` decides and
fills the quantity each leg closes (also to size the order before impact, 11.9),
:func:`book_fraction_close` books a partial close. Units: prices quote per base,
quantities base units, money quote units.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.account_close import closed_terms, settle_terms
from stresstest.kernels.account_step_down import step_down_closes
from stresstest.kernels.account_watch import unit_breached
from stresstest.kernels.fund import record_close
from stresstest.kernels.jit import kernel
from stresstest.kernels.margin import liquidation_terms

#: :func:`fraction_closes`'s answers: nothing closed, some leg kept open, closed whole.
FRACTION_REARMED = 0
FRACTION_PARTIAL = 1
FRACTION_FULL = 2


@kernel
def uses_fraction_rule(params: np.ndarray) -> bool:
    """Whether the stage vector turns on partial liquidation by a rule of legs: ``rule =
    "fraction"`` or ``"tier_step_down"`` (both settled by :func:`fraction_closes`)."""
    rule = int(params[enums.MECH_PARTIAL_RULE])
    return bool(
        params[enums.MECH_PARTIAL] > 0.0
        and (rule == enums.PARTIAL_RULE_FRACTION or rule == enums.PARTIAL_RULE_STEP_DOWN)
    )


@kernel
def fraction_closes(
    unit: int,
    step: int,
    exits: np.ndarray,
    inputs: tuple[np.ndarray, ...],
    units: tuple[np.ndarray, ...],
    state: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> int:
    """Decide the settlement of a due ``unit`` at ``step`` by the fraction rule (11.8).

    Cases, in this order: re-armed (``FRACTION_REARMED``, nothing closed) when the
    unit is not in breach at the marks of ``step`` (:func:`unit_breached`: ``E >= R``,
    or the predictive trigger); closed whole (``FRACTION_FULL``) when
    ``A = c + S_x - F_x <= 0`` at the exits of ``exits`` (before slippage); otherwise
    each live leg closes ``q`` (in full) when the unit is in its cool-down
    (``last_partial[unit] >= 0`` and ``step <= last_partial[unit] + k``), when
    ``f >= 1`` or when ``q O_a,step <= N_min``, else ``f q``; ``FRACTION_PARTIAL``
    when some leg keeps a quantity, else ``FRACTION_FULL``. With ``rule =
    "tier_step_down"`` the legs after the first two cases are stepped down one bracket
    instead, the unit closed whole if that leaves it in breach
    (:func:`stresstest.kernels.account_step_down.step_down_closes`; no cool-down, no
    threshold). ``closes[position]``
    receives each of the unit's legs' closed quantity (base units; 0 re-armed, ``q``
    closed whole). ``inputs = (marks, fee_rates, rates_now, shifts, brackets, liquidation,
    params)`` as :func:`stresstest.kernels.account_defences.defence_path` holds them;
    ``state = (qty, collateral, last_partial, closes)``.
    """
    marks, fee_rates, rates_now, shifts, brackets, liquidation, params = inputs
    qty, collateral, last_partial, closes = state
    unit_start, pos_asset, pos_side, _, pos_entry, _ = units
    start = unit_start[unit]
    end = unit_start[unit + 1]
    if not unit_breached(unit, step, marks, rates_now, brackets, shifts, units, qty, collateral):
        closes[start:end] = 0.0
        return FRACTION_REARMED
    _, slippage, fee, _ = liquidation_terms(liquidation)
    pnl, due, _, _ = settle_terms(
        unit,
        step,
        exits,
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
    closes[start:end] = qty[start:end]
    if not collateral[unit] + pnl - due > 0.0:
        return FRACTION_FULL
    if int(params[enums.MECH_PARTIAL_RULE]) == enums.PARTIAL_RULE_STEP_DOWN:
        kept = step_down_closes(unit, step, exits, inputs, units, state)
        return FRACTION_PARTIAL if kept else FRACTION_FULL
    fraction = params[enums.MECH_PARTIAL_FRACTION]
    cooldown = params[enums.MECH_PARTIAL_COOLDOWN]
    floor = params[enums.MECH_PARTIAL_MIN_NOTIONAL]
    if fraction >= 1.0 or (last_partial[unit] >= 0 and step <= last_partial[unit] + cooldown):
        return FRACTION_FULL
    kept = False
    for position in range(start, end):
        quantity = qty[position]
        if quantity == 0.0 or quantity * marks[pos_asset[position], step] <= floor:
            continue
        closes[position] = fraction * quantity
        kept = True
    return FRACTION_PARTIAL if kept else FRACTION_FULL


@kernel
def book_fraction_close(
    unit: int,
    step: int,
    exits: np.ndarray,
    fee_rates: np.ndarray,
    liquidation: np.ndarray,
    units: tuple[np.ndarray, ...],
    qty: np.ndarray,
    collateral: np.ndarray,
    closes: np.ndarray,
    totals: np.ndarray,
    flows: np.ndarray,
) -> None:
    """Book a partial close of ``unit`` at ``step``: each live leg closes ``closes[k]``.

    At the exits ``x_k = P_a,step (1 - s_k slippage)`` (``exits`` before slippage):
    the closed notional ``sum dq_k x_k`` and the penalty ``sum fee_k dq_k x_k``, paid in
    full (no bad debt: the case needs ``A > 0``), count every live leg;
    ``c' = c + sum s_k dq_k (x_k - e_k) - penalty``; ``q_k' = q_k - dq_k``.
    """
    unit_start = units[0]
    share = liquidation_terms(liquidation)[3]
    legs, notional, penalty, realized = closed_terms(
        unit, step, exits, fee_rates, liquidation, units, qty, closes
    )
    for position in range(unit_start[unit], unit_start[unit + 1]):
        if qty[position] != 0.0:
            qty[position] -= closes[position]
    record_close(totals, flows, step, legs, notional, penalty, 0.0, share)
    collateral[unit] += realized - penalty


@kernel
def settle_by_fraction(
    unit: int,
    step: int,
    exits: np.ndarray,
    inputs: tuple[np.ndarray, ...],
    units: tuple[np.ndarray, ...],
    state: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    totals: np.ndarray,
    flows: np.ndarray,
) -> int:
    """Settle a due ``unit`` by the fraction rule: the case of :func:`fraction_closes`.

    ``inputs`` and ``state = (qty, collateral, last_partial, closes)`` as there. A partial
    close is booked (:func:`book_fraction_close`) and starts the unit's cool-down
    (``last_partial[unit] = step``); a re-armed unit is left as it is; with
    ``FRACTION_FULL`` nothing is booked here: the caller closes the unit whole (11.3).
    """
    qty, collateral, last_partial, closes = state
    case = fraction_closes(unit, step, exits, inputs, units, state)
    if case == FRACTION_PARTIAL:
        fee_rates, liquidation = inputs[1], inputs[5]
        book_fraction_close(
            unit, step, exits, fee_rates, liquidation, units, qty, collateral, closes, totals, flows
        )
        last_partial[unit] = step
    return case
