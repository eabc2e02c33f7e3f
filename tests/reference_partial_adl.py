"""Plain Python references of partial liquidation and ADL, from docs/model.md 10.

Position by position and step by step, in the direct form: the breach is
``E_i,t < R_i,t``; a close happens when the loop reaches its close step ``tau``; a
partially closed position keeps its entry price and the collateral that leaves it
with equity ``(m_tau + b) q' x``, and is checked again, like any position, from
``tau + 1``. Sums use ``math.fsum``. No numba, no sorting tricks (the only use of
the sorted order is the documented tie-break of the ADL ranking).

Both return ``(metrics, smallest_gap)``: the metrics in column order, and the
smallest relative distance of any decision from its boundary (breach ``|E - R| /
(q P)``, full close ``|E - fee q x| / (q x)``, re-arm ``|q' - q| / q``, ADL need
``|shortfall - cover|``-free); where it is tiny the direct and threshold forms may
round to different decisions, and the tests discard the case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stresstest.kernels import enums
from tests.reference import _fund_walk, _penalty_paid, reference_margin_rates
from tests.reference_waterfall import adl_score as mechanics_adl_score
from tests.reference_waterfall import threshold_ranks

_COLUMN = {name: index for index, name in enumerate(enums.METRIC_NAMES)}
ADL_NOTIONAL = enums.ADL_NOTIONAL
ADL_COUNT = enums.ADL_COUNT


@dataclass
class _Position:
    side: float  # +1 long, -1 short
    qty: float  # base units
    entry: float  # quote per base
    collateral: float  # quote units
    rank: int  # index in the stable threshold order of its side (ADL tie-break)
    armed_from: int = 0  # first step at which it is checked
    close_step: int = -1  # scheduled close (-1: none)
    closed: bool = False


@dataclass
class _Books:
    """Per-step accounting of one path."""

    n_points: int

    def __post_init__(self) -> None:
        self.closes: list[tuple[float, float, float]] = []  # (notional, paid, bad)
        self.to_fund: list[list[float]] = [[] for _ in range(self.n_points)]
        self.bad: list[list[list[float]]] = [[[] for _ in range(self.n_points)] for _ in (0, 1)]

    def close(
        self, step: int, side: float, notional: float, paid: float, bad: float, share: float
    ) -> None:
        self.closes.append((notional, paid, bad))
        self.to_fund[step].append((1.0 - share) * paid)
        self.bad[0 if side > 0 else 1][step].append(bad)


def _positions(
    side: np.ndarray, qty: np.ndarray, entry: np.ndarray, collateral: np.ndarray
) -> list[_Position]:
    """The book as positions; ``rank`` is the stable order by threshold within a side."""
    ranks = threshold_ranks(side, qty, entry, collateral)
    return [
        _Position(
            float(side[i]), float(qty[i]), float(entry[i]), float(collateral[i]), int(ranks[i])
        )
        for i in range(len(side))
    ]


def _finish(
    row: np.ndarray,
    books: _Books,
    share: float,
    fund: dict[str, float],
    requirement_terms: list[float],
    notional_terms: list[float],
) -> None:
    row[_COLUMN["n_liquidations"]] = len(books.closes)
    row[_COLUMN["liquidated_notional"]] = math.fsum(c[0] for c in books.closes)
    row[_COLUMN["bad_debt"]] = math.fsum(c[2] for c in books.closes)
    row[_COLUMN["fees_to_fund"]] = math.fsum((1.0 - share) * c[1] for c in books.closes)
    row[_COLUMN["fees_to_liquidators"]] = math.fsum(share * c[1] for c in books.closes)
    for name, value in fund.items():
        row[_COLUMN[name]] = value
    requirement_sum = math.fsum(requirement_terms)
    notional_sum = math.fsum(notional_terms)
    row[_COLUMN["requirement_mean"]] = requirement_sum / len(requirement_terms)
    row[_COLUMN["margin_rate_mean"]] = requirement_sum / notional_sum if notional_sum > 0.0 else 0.0


def _flag(
    positions: list[_Position], t: int, price: float, rate: float, latency: int, last: int
) -> float:
    """Flag armed positions in breach at ``t``; returns the smallest breach gap seen."""
    gap = math.inf
    for p in positions:
        if p.closed or p.close_step >= 0 or p.armed_from > t:
            continue
        equity = p.collateral + p.side * p.qty * (price - p.entry)
        requirement = rate * p.qty * price
        gap = min(gap, abs(equity - requirement) / (p.qty * price))
        if equity < requirement:
            p.close_step = min(t + latency, last)
    return gap


def _armed_qty(positions: list[_Position], t: int) -> float:
    return math.fsum(
        p.qty for p in positions if not p.closed and p.close_step < 0 and p.armed_from <= t
    )


def reference_partial(
    prices: np.ndarray,
    side: np.ndarray,
    qty: np.ndarray,
    entry_price: np.ndarray,
    collateral: np.ndarray,
    margin: dict,
    latency_steps: int,
    slippage: float,
    fee: float,
    liquidator_share: float,
    fund_initial: float,
    buffer: float,
) -> tuple[np.ndarray, float]:
    """Partial liquidation (docs/model.md 10.1), ``(n_paths, N_METRICS)`` and the smallest gap."""
    prices = np.asarray(prices, dtype=float)
    n_paths, n_points = prices.shape
    last = n_points - 1
    out = np.zeros((n_paths, enums.N_METRICS))
    gap = math.inf
    for path in range(n_paths):
        rates = [float(r) for r in reference_margin_rates(prices[path], margin)]
        positions = _positions(side, qty, entry_price, collateral)
        books = _Books(n_points)
        requirement_terms: list[float] = []
        notional_terms: list[float] = []
        for t in range(n_points):
            price = float(prices[path, t])
            open_qty = _armed_qty(positions, t)
            requirement_terms.append(rates[t] * price * open_qty)
            notional_terms.append(price * open_qty)
            gap = min(gap, _flag(positions, t, price, rates[t], latency_steps, last))
            for p in positions:
                if p.closed or p.close_step != t:
                    continue
                p.close_step = -1
                x = price * (1.0 - p.side * slippage)
                equity = p.collateral + p.side * p.qty * (x - p.entry)
                level = rates[t] + buffer
                kept = (equity - fee * p.qty * x) / ((level - fee) * x)  # q'
                gap = min(
                    gap, abs(equity - fee * p.qty * x) / (p.qty * x), abs(kept - p.qty) / p.qty
                )
                if kept <= 0.0:  # full close, as in the core model
                    paid = _penalty_paid(equity, fee * p.qty * x)
                    books.close(t, p.side, p.qty * x, paid, max(0.0, -equity), liquidator_share)
                    p.closed = True
                elif kept >= p.qty:  # recovered: nothing closed, re-armed unchanged
                    p.armed_from = t + 1
                else:
                    closed = p.qty - kept
                    penalty = fee * closed * x
                    books.close(t, p.side, closed * x, penalty, 0.0, liquidator_share)
                    remaining_equity = equity - penalty  # = (m + b) q' x
                    p.collateral = remaining_equity - p.side * kept * (x - p.entry)
                    p.qty = kept
                    p.armed_from = t + 1
        fund = _fund_walk(
            [math.fsum(v) for v in books.to_fund],
            [math.fsum(books.bad[0][t] + books.bad[1][t]) for t in range(n_points)],
            fund_initial,
        )
        _finish(out[path], books, liquidator_share, fund, requirement_terms, notional_terms)
    return out, gap


def adl_score(p: _Position, price: float) -> float:
    """The ADL ranking score of docs/model.md 10.2 at ``price`` (reference_waterfall's formula)."""
    return mechanics_adl_score(p.side * p.qty * (price - p.entry), p.qty, p.collateral, price)


def reference_adl(
    prices: np.ndarray,
    side: np.ndarray,
    qty: np.ndarray,
    entry_price: np.ndarray,
    collateral: np.ndarray,
    margin: dict,
    latency_steps: int,
    slippage: float,
    fee: float,
    liquidator_share: float,
    fund_initial: float,
) -> tuple[np.ndarray, float]:
    """Auto-deleveraging (docs/model.md 10.2), ``(n_paths, N_METRICS_ADL)`` and the smallest gap."""
    prices = np.asarray(prices, dtype=float)
    n_paths, n_points = prices.shape
    last = n_points - 1
    out = np.zeros((n_paths, enums.N_METRICS_ADL))
    gap = math.inf
    for path in range(n_paths):
        rates = [float(r) for r in reference_margin_rates(prices[path], margin)]
        positions = _positions(side, qty, entry_price, collateral)
        books = _Books(n_points)
        requirement_terms: list[float] = []
        notional_terms: list[float] = []
        fund = fund_initial
        fund_min = fund_initial
        peak = fund_initial
        max_drawdown = 0.0
        socialized = 0.0
        cumulative = 0.0
        required = 0.0
        adl_notional: list[float] = []
        for t in range(n_points):
            price = float(prices[path, t])
            open_qty = _armed_qty(positions, t)
            requirement_terms.append(rates[t] * price * open_qty)
            notional_terms.append(price * open_qty)
            gap = min(gap, _flag(positions, t, price, rates[t], latency_steps, last))
            for p in positions:
                if p.closed or p.close_step != t:
                    continue
                x = price * (1.0 - p.side * slippage)
                equity = p.collateral + p.side * p.qty * (x - p.entry)
                paid = _penalty_paid(equity, fee * p.qty * x)
                gap = min(
                    gap, abs(equity - fee * p.qty * x) / (p.qty * x), abs(equity) / (p.qty * x)
                )
                books.close(t, p.side, p.qty * x, paid, max(0.0, -equity), liquidator_share)
                p.closed = True
            to_fund = math.fsum(books.to_fund[t])
            bad_long = math.fsum(books.bad[0][t])
            bad_short = math.fsum(books.bad[1][t])
            net = to_fund - (bad_long + bad_short)
            cumulative += net
            required = max(required, -cumulative)
            fund = fund + net
            if to_fund + bad_long + bad_short > 0.0:
                gap = min(gap, abs(fund) / (to_fund + bad_long + bad_short))
            if fund < 0.0:
                shortfall = -fund
                cover = 0.0
                uncovered = 0.0
                # Longs' bad debt is covered by shorts and the other way round.
                for bankrupt_bad, other in ((bad_long, -1.0), (bad_short, 1.0)):
                    need = shortfall * bankrupt_bad / (bad_long + bad_short)
                    candidates = [
                        p
                        for p in positions
                        if p.side == other
                        and not p.closed
                        and p.close_step < 0
                        and p.side * p.qty * (price - p.entry) > 0.0
                    ]
                    candidates.sort(key=lambda p: (-adl_score(p, price), p.rank))
                    for p in candidates:
                        if not need > 0.0:
                            break
                        profit = p.side * p.qty * (price - p.entry)
                        if profit < need:
                            gap = min(gap, (need - profit) / shortfall)
                        taken = min(profit, need)
                        need -= taken
                        cover += taken
                        p.closed = True
                        adl_notional.append(p.qty * price)
                    uncovered += max(0.0, need)
                # Fully covered: the fund ends at 0 exactly; else what is left is socialized.
                fund = 0.0 if uncovered == 0.0 else fund + cover
                if fund < 0.0:
                    socialized += -fund
                    fund = 0.0
            fund_min = min(fund_min, fund)
            peak = max(peak, fund)
            max_drawdown = max(max_drawdown, peak - fund)
        summary = {
            "fund_end": fund,
            "fund_min": fund_min,
            "fund_max_drawdown": max_drawdown,
            "socialized_loss": socialized,
            "fund_required": required,
        }
        _finish(out[path], books, liquidator_share, summary, requirement_terms, notional_terms)
        out[path, ADL_NOTIONAL] = math.fsum(adl_notional)
        out[path, ADL_COUNT] = len(adl_notional)
    return out, gap
