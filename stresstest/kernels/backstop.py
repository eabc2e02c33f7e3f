"""The backstop vault and the fund's bound past bankruptcy (docs/model.md 10.3, 10.4).

Two options of the loss waterfall of the single-asset pipeline
(:mod:`stresstest.kernels.pipeline`), each off unless its table asks for it:

- **backstop vault** (``[backstop]``, Hyperliquid's liquidator vault): at a close
  step ``t`` a closing position whose equity at the mark is below
  ``k m_t q O_t`` (``k`` the takeover fraction) is taken over by the vault
  instead of being sold: the trader loses all its collateral, the vault holds the
  position from its bankruptcy price ``theta`` (long) / ``phi`` (short) and
  closes it at the market price ``P~`` of step ``min(t + h, T)`` (``h`` the hold
  steps; at ``T`` without them). Takeovers of one step form one cohort, whose sums
  ``q`` and ``q theta`` are all the vault needs (its P&L is linear in them).
  A loss that takes the vault's capital below 0 passes on to ADL, then is socialized.
- **fund bound past bankruptcy** (``[insurance_fund] pays_past_bankruptcy = f``,
  dYdX v4): the fund pays at most ``f q x`` of a market close's bad debt; the rest
  passes on to ADL, then is socialized.

Both are ``O(log N)`` per close step (two binary searches and prefix-sum ranges),
the vault ``O(T)`` memory per path, and nothing at all when off.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.adl import FUND_SOCIALIZED, close_range, fund_step, open_sums
from stresstest.kernels.jit import kernel
from stresstest.kernels.search import first_greater, first_not_less

# Slots of the per-path vault state.
VAULT_CAPITAL = 0  # realized capital V: initial capital plus realized P&L, floored at 0, quote
VAULT_LONG_QTY = 1  # held long q, base units
VAULT_LONG_QT = 2  # held long q theta, quote units
VAULT_SHORT_QTY = 3  # held short q, base units
VAULT_SHORT_QT = 4  # held short q phi, quote units
VAULT_TAKEOVERS = 5  # positions taken over, count
VAULT_NOTIONAL = 6  # sum q O_t over takeovers, quote units
VAULT_PNL = 7  # realized P&L over the path, quote units
VAULT_PASSED = 8  # loss beyond capital passed on to ADL / socialized, quote units
VAULT_MIN_EQUITY = 9  # lowest V + unrealized P&L at P~_t over the path (capital included)
VAULT_HELD = 10  # positions held, count (exact in float64)
N_VAULT = 11

# Rows of the per-path cohorts ``(N_COHORT, T + 1)``: what was taken over at each step.
COHORT_LONG_QTY = 0
COHORT_LONG_QT = 1
COHORT_SHORT_QTY = 2
COHORT_SHORT_QT = 3
COHORT_COUNT = 4  # positions taken at the step, count
N_COHORT = 5


@kernel
def init_vault(capital: float) -> np.ndarray:
    """The vault state at the start of a path: capital ``capital`` (quote units), nothing held."""
    vault = np.zeros(N_VAULT)
    vault[VAULT_CAPITAL] = capital
    vault[VAULT_MIN_EQUITY] = capital
    return vault


@kernel
def vault_equity(vault: np.ndarray, price: float) -> float:
    """``V + sum_long q (P - theta) + sum_short q (phi - P)`` at ``price`` (quote units)."""
    equity: float = (
        vault[VAULT_CAPITAL]
        + (vault[VAULT_LONG_QTY] * price - vault[VAULT_LONG_QT])
        + (vault[VAULT_SHORT_QT] - vault[VAULT_SHORT_QTY] * price)
    )
    return equity


@kernel
def takeover_splits(
    long_threshold: np.ndarray,
    short_threshold: np.ndarray,
    long_start: int,
    long_stop: int,
    short_start: int,
    short_stop: int,
    mark: float,
    rate: float,
    fraction: float,
) -> tuple[int, int]:
    """Where the closing ranges split into market closes and takeovers.

    A long is taken over when ``c + q (O - e) < k m q O``, i.e. ``theta > O (1 - k m)``:
    the suffix ``[long_split, long_stop)``; a short when ``phi < O (1 + k m)``: the
    prefix ``[short_start, short_split)``. ``mark`` is ``O_t``, ``rate`` ``m_t``,
    ``fraction`` ``k``.
    """
    long_split = first_greater(
        long_threshold, mark * (1.0 - fraction * rate), long_start, long_stop
    )
    short_split = first_not_less(
        short_threshold, mark * (1.0 + fraction * rate), short_start, short_stop
    )
    return long_split, short_split


@kernel
def take_over(
    vault: np.ndarray,
    cohorts: np.ndarray,
    step: int,
    side: int,
    prefix: np.ndarray,
    removed: np.ndarray,
    start: int,
    stop: int,
    mark: float,
) -> None:
    """The vault takes the open positions of ``[start, stop)`` of a side at bankruptcy."""
    if stop <= start:
        return
    qty, qt, count = open_sums(prefix, removed, start, stop)
    if count == 0.0:
        return
    take_cohort(vault, cohorts, step, side, qty, qt, count, mark)


@kernel
def take_cohort(
    vault: np.ndarray,
    cohorts: np.ndarray,
    step: int,
    side: int,
    qty: float,
    qt: float,
    count: float,
    mark: float,
) -> None:
    """The vault takes ``count`` positions of one side with sums ``qty`` and ``qt``.

    ``qty`` is ``sum q`` (base units), ``qt`` ``sum q theta`` (longs) or ``sum q phi``
    (shorts) at the positions' bankruptcy prices (quote units); ``mark`` is ``O_t``.
    """
    if side > 0:
        cohorts[COHORT_LONG_QTY, step] += qty
        cohorts[COHORT_LONG_QT, step] += qt
        vault[VAULT_LONG_QTY] += qty
        vault[VAULT_LONG_QT] += qt
    else:
        cohorts[COHORT_SHORT_QTY, step] += qty
        cohorts[COHORT_SHORT_QT, step] += qt
        vault[VAULT_SHORT_QTY] += qty
        vault[VAULT_SHORT_QT] += qt
    cohorts[COHORT_COUNT, step] += count
    vault[VAULT_HELD] += count
    vault[VAULT_TAKEOVERS] += count
    vault[VAULT_NOTIONAL] += qty * mark


@kernel
def vault_step(
    vault: np.ndarray, cohorts: np.ndarray, step: int, last_step: int, hold: int, price: float
) -> tuple[float, float]:
    """Close the cohorts due at ``step`` at ``price`` (``P~_t``) and book their P&L.

    Due: the cohort taken at ``step - hold`` (``hold >= 0``), and at the last step
    every cohort still held. Realized ``q P - q theta`` (longs) and ``q phi - q P``
    (shorts) enter ``V``; a ``V < 0`` passes ``-V`` on and ``V = 0``. Returns the
    passed loss split by side in proportion to each side's realized loss:
    ``(longs', shorts')`` (covered by the opposite side). Then the vault's equity at
    ``price`` updates its minimum.
    """
    first = step - hold if hold >= 0 else -1
    if step == last_step:
        first = 0 if hold < 0 else max(0, step - hold)
    long_qty = 0.0
    long_qt = 0.0
    short_qty = 0.0
    short_qt = 0.0
    count = 0.0
    if first >= 0:
        for due in range(first, step + 1 if step == last_step else first + 1):
            long_qty += cohorts[COHORT_LONG_QTY, due]
            long_qt += cohorts[COHORT_LONG_QT, due]
            short_qty += cohorts[COHORT_SHORT_QTY, due]
            short_qt += cohorts[COHORT_SHORT_QT, due]
            count += cohorts[COHORT_COUNT, due]
    passed_long = 0.0
    passed_short = 0.0
    if long_qty > 0.0 or short_qty > 0.0:
        vault[VAULT_LONG_QTY] -= long_qty
        vault[VAULT_LONG_QT] -= long_qt
        vault[VAULT_SHORT_QTY] -= short_qty
        vault[VAULT_SHORT_QT] -= short_qt
        vault[VAULT_HELD] -= count
        if step == last_step or vault[VAULT_HELD] == 0.0:
            # Nothing is held: no rounding residue either (a residue in W would let a
            # vault without capital take positions, 10.3).
            vault[VAULT_LONG_QTY] = 0.0
            vault[VAULT_LONG_QT] = 0.0
            vault[VAULT_SHORT_QTY] = 0.0
            vault[VAULT_SHORT_QT] = 0.0
        realized_long = long_qty * price - long_qt
        realized_short = short_qt - short_qty * price
        vault[VAULT_PNL] += realized_long + realized_short
        capital = vault[VAULT_CAPITAL] + realized_long + realized_short
        if capital < 0.0:
            loss_long = max(0.0, -realized_long)
            loss_short = max(0.0, -realized_short)
            # A side without a realized loss gets exactly 0: the complement
            # -V - passed_long would leave it a rounding residue, which ADL would act on.
            if loss_short == 0.0:
                passed_long = -capital
            elif loss_long == 0.0:
                passed_short = -capital
            else:
                passed_long = -capital * loss_long / (loss_long + loss_short)
                passed_short = -capital - passed_long
            vault[VAULT_PASSED] += -capital
            capital = 0.0
        vault[VAULT_CAPITAL] = capital
    equity = vault_equity(vault, price)
    if equity < vault[VAULT_MIN_EQUITY]:
        vault[VAULT_MIN_EQUITY] = equity
    return passed_long, passed_short


@kernel
def passed_bad_debt(
    side: int,
    threshold: np.ndarray,
    prefix: np.ndarray,
    removed: np.ndarray,
    start: int,
    stop: int,
    exit_price: float,
    bound: float,
) -> float:
    """Bad debt of the market closes of ``[start, stop)`` beyond ``bound q x`` per position.

    A long's bad debt ``q (theta - x)`` exceeds ``f q x`` when ``theta > x (1 + f)``;
    beyond that the fund pays ``f q x`` and ``q theta - x (1 + f) q`` passes on. A
    short's ``q (x - phi)`` exceeds it when ``phi < x (1 - f)``; then
    ``x (1 - f) q - q phi`` passes on. Quote units.
    """
    if stop <= start:
        return 0.0
    if side > 0:
        limit = exit_price * (1.0 + bound)
        cut = first_greater(threshold, limit, start, stop)
        qty, qt, _ = open_sums(prefix, removed, cut, stop)
        return max(0.0, qt - limit * qty)
    limit = exit_price * (1.0 - bound)
    cut = first_not_less(threshold, limit, start, stop)
    qty, qt, _ = open_sums(prefix, removed, start, cut)
    return max(0.0, limit * qty - qt)


@kernel
def close_bounded(
    side: int,
    threshold: np.ndarray,
    prefix: np.ndarray,
    removed: np.ndarray,
    start: int,
    stop: int,
    exit_price: float,
    fee: float,
    bound: float,
) -> tuple[float, float, float, float, float]:
    """:func:`stresstest.kernels.adl.close_range` and the bad debt past ``bound`` (negative: none).

    Returns ``(count, notional, penalty paid, bad debt, bad debt passed on)``.
    """
    count, _, notional, paid, bad = close_range(
        side, threshold, prefix, removed, start, stop, exit_price, fee
    )
    beyond = 0.0
    if bound >= 0.0 and bad > 0.0:
        beyond = passed_bad_debt(side, threshold, prefix, removed, start, stop, exit_price, bound)
    return count, notional, paid, bad, beyond


@kernel
def settle_passed(
    state: np.ndarray, net: float, cover: float, fund_need: float, passed: float, covered: bool
) -> None:
    """The fund's step (docs/model.md 5) with losses ``passed`` past the fund on top.

    ADL's ``cover`` first fills the fund's own shortfall ``fund_need``, then the
    passed losses; with ``covered`` (every need met) nothing is socialized.
    Otherwise what the cover leaves of ``passed`` is socialized besides the fund's.
    """
    to_fund = min(cover, fund_need)
    fund_step(state, net, to_fund, covered)
    if not covered:
        left = passed - (cover - to_fund)
        if left > 0.0:
            state[FUND_SOCIALIZED] += left
