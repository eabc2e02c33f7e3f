"""A plain Python reference of the fund walk with ADL, written from docs/model.md 5, 10.2.

The insurance fund walked step by step (:func:`fund_waterfall`): each step's
penalties in, bad debt out, and a shortfall, with the losses past the fund (the
backstop vault's beyond its capital, 10.3, and bad debt past the fund's bound,
10.4), deleveraging profitable opposite positions at the mark by the ``[adl]``
policy (:func:`deleverage_side`: a full sort of the scores of :func:`adl_score`
or :func:`hyperliquid_score` with the documented threshold-order tie-break, or
``pro_rata``), with each event's cover and Gini coefficient and the path's
fairness figures (:func:`gini`, :func:`top_shares`). Used by
:mod:`tests.reference_mechanics` and :mod:`tests.reference_partial_adl`. No numba.

Units: prices quote per base, quantities base units, money quote units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class FundWalk:
    """The fund walked during the loop (docs/model.md 5 with the ADL cover of 10.2)."""

    fund: float
    fund_min: float
    peak: float
    max_drawdown: float = 0.0
    socialized: float = 0.0
    cumulative: float = 0.0
    required: float = 0.0

    def summary(self) -> dict[str, float]:
        return {
            "fund_end": self.fund,
            "fund_min": self.fund_min,
            "fund_max_drawdown": self.max_drawdown,
            "socialized_loss": self.socialized,
            "fund_required": self.required,
        }


def adl_score(profit: float, qty: float, collateral: float, mark: float) -> float:
    """``(u / c) (q O / (c + u))`` for unrealized profit ``u > 0``; ``inf`` if ``c = 0``."""
    if collateral == 0.0:
        return math.inf
    return (profit / collateral) * (qty * mark / (collateral + profit))


def hyperliquid_score(
    side: float, profit: float, qty: float, entry: float, collateral: float, mark: float
) -> float:
    """``(O / e)`` (``e / O`` for a short) times ``q O / (c + u)``: docs/model.md 10.2."""
    ratio = mark / entry if side > 0 else entry / mark
    return ratio * (qty * mark / (collateral + profit))


def gini(values: list[float]) -> float:
    """``sum_i sum_j |h_i - h_j| / (2 n sum h)``, the direct form (0 when ``sum h = 0``)."""
    total = math.fsum(values)
    if not total > 0.0:
        return 0.0
    spread = math.fsum(abs(a - b) for a in values for b in values)
    return spread / (2.0 * len(values) * total)


def top_shares(given: list[float]) -> tuple[float, float]:
    """Shares of the cover paid by the top ``ceil(0.01 n)`` and ``ceil(0.1 n)`` of the ``n``
    traders with ``given > 0``; ``(0, 0)`` without any (docs/model.md 10.2)."""
    paid = sorted((value for value in given if value > 0.0), reverse=True)
    if not paid:
        return 0.0, 0.0
    total = math.fsum(paid)
    n = len(paid)
    return (
        math.fsum(paid[: math.ceil(0.01 * n)]) / total,
        math.fsum(paid[: math.ceil(0.1 * n)]) / total,
    )


@dataclass
class AdlState:
    """A path's ADL state: each position's remaining fraction and what it gave up, the
    closes ``q_closed x price`` and each event's ``(cover, Gini)``."""

    policy: str
    remain: list[float]
    given: list[float]
    closes: list[float]
    events: list[tuple[float, float]]

    def fairness(self) -> tuple[float, float, float]:
        """``(adl_top1_share, adl_top10_share, adl_gini)`` of the path."""
        top1, top10 = top_shares(self.given)
        covered = math.fsum(cover for cover, _ in self.events)
        weighted = math.fsum(cover * value for cover, value in self.events)
        return top1, top10, (weighted / covered if covered > 0.0 else 0.0)


def threshold_ranks(
    side: np.ndarray, qty: np.ndarray, entry: np.ndarray, collateral: np.ndarray
) -> list[int]:
    """Each position's index in the stable order by ``e - s c / q`` within its side."""
    threshold = entry - side * collateral / qty
    ranks = np.zeros(len(side), dtype=int)
    for sign in (1, -1):
        members = np.flatnonzero(side == sign)
        order = np.argsort(threshold[members], kind="stable")
        ranks[members[order]] = np.arange(len(members))
    return [int(rank) for rank in ranks]


def deleverage_side(
    adl: AdlState,
    need: float,
    other: float,
    book: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    ranks: list[int],
    open_now: list[bool],
    price: float,
    shortfall: float,
    score_ties: bool = False,
) -> tuple[float, float, float]:
    """Cover ``need`` from side ``other`` at ``price`` by ``adl.policy``: ``(cover, left, gap)``.

    With ``score_ties`` the gap includes the relative distance between the score of
    the last position taken and its neighbours in the ranking: positions kept by a
    partial close carry a quantity and collateral the engine computes in another
    form, so scores equal in exact arithmetic (a cohort's members of one entry
    price) may round apart differently, and the tie rule then decides nothing.
    """
    side, qty, entry, collateral = book
    gap = math.inf
    candidates = []
    for j in range(len(side)):
        q = float(qty[j]) * adl.remain[j]
        profit = float(side[j]) * q * (price - float(entry[j]))
        if float(side[j]) == other and open_now[j] and profit > 0.0:
            c = float(collateral[j]) * adl.remain[j]
            if adl.policy == "hyperliquid":
                score = hyperliquid_score(other, profit, q, float(entry[j]), c, price)
            else:
                score = adl_score(profit, q, c, price)
            candidates.append((-score, ranks[j], j, profit))
    if not candidates:
        return 0.0, need, gap
    cover = 0.0
    haircuts: list[float] = []
    if adl.policy == "pro_rata":
        total = math.fsum(profit for *_, profit in candidates)
        gap = min(gap, abs(need - total) / shortfall)
        fraction = min(1.0, need / total)
        for _, _, j, profit in candidates:
            taken = fraction * profit
            cover += taken
            adl.given[j] += taken
            adl.closes.append(float(qty[j]) * adl.remain[j] * fraction * price)
            adl.remain[j] = 0.0 if fraction >= 1.0 else adl.remain[j] * (1.0 - fraction)
            haircuts.append(taken / profit)
        left = max(0.0, need - total)
    else:
        candidates.sort()
        left = need
        last_taken = -1
        for k, (_, _, j, profit) in enumerate(candidates):
            if not left > 0.0:
                haircuts.append(0.0)
                continue
            last_taken = k
            if profit < left:
                gap = min(gap, (left - profit) / shortfall)
            taken = min(profit, left)
            left -= taken
            cover += taken
            adl.given[j] += taken
            adl.closes.append(float(qty[j]) * price)
            adl.remain[j] = 0.0
            open_now[j] = False
            haircuts.append(taken / profit)
        if score_ties:  # the order taken, up to the first not taken, is decided by rounding
            for k in range(min(last_taken + 1, len(candidates) - 1)):
                gap = min(gap, _score_gap(candidates[k][0], candidates[k + 1][0]))
    adl.events.append((cover, gini(haircuts)))
    return cover, left, gap


def _score_gap(first: float, second: float) -> float:
    """Relative distance of two (negated) scores; ``inf`` unless both are finite."""
    if math.isinf(first) or math.isinf(second):
        return math.inf
    return abs(first - second) / max(abs(first), abs(second), 1e-300)


def fund_waterfall(
    walk: FundWalk,
    to_fund: float,
    bad_long: float,
    bad_short: float,
    book: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    ranks: list[int],
    open_now: list[bool],
    adl: AdlState | None,
    price: float,
    passed_long: float = 0.0,
    passed_short: float = 0.0,
    score_ties: bool = False,
) -> float:
    """One step of the fund walk with ADL at ``price`` (docs/model.md 10.2); returns the
    smallest tie gap.

    ``bad_*`` is the bad debt that reached the fund; ``passed_*`` the losses past the
    fund (the vault's beyond its capital, 10.3, and bad debt past the fund's bound,
    10.4), by the side that lost. ``adl`` ``None``: no ADL, everything short is
    socialized.
    """
    gap = math.inf
    net = to_fund - (bad_long + bad_short)
    walk.cumulative += net
    walk.required = max(walk.required, -walk.cumulative)
    fund = walk.fund + net
    if to_fund + bad_long + bad_short > 0.0:
        gap = min(gap, abs(fund) / (to_fund + bad_long + bad_short))
    fund_need = max(0.0, -fund)
    passed = passed_long + passed_short
    if adl is not None and fund_need + passed > 0.0:
        cover = 0.0
        uncovered = 0.0
        # Longs' losses are covered by shorts and the other way round.
        for bankrupt_bad, passed_side, other in (
            (bad_long, passed_long, -1.0),
            (bad_short, passed_short, 1.0),
        ):
            need = passed_side
            if fund_need > 0.0:
                need += fund_need * bankrupt_bad / (bad_long + bad_short)
            if not need > 0.0:
                continue
            got, left, side_gap = deleverage_side(
                adl, need, other, book, ranks, open_now, price, fund_need + passed, score_ties
            )
            gap = min(gap, side_gap)
            cover += got
            uncovered += left
        # Fully covered: the fund ends at 0 exactly; else what is left is socialized.
        to_fund_cover = min(cover, fund_need)
        if uncovered == 0.0:
            fund = max(fund, 0.0)
        else:
            fund += to_fund_cover
            walk.socialized += max(0.0, passed - (cover - to_fund_cover))
        if fund < 0.0:
            walk.socialized += -fund
            fund = 0.0
    else:
        walk.socialized += passed
        if fund < 0.0:
            walk.socialized += -fund
            fund = 0.0
    walk.fund = fund
    walk.fund_min = min(walk.fund_min, fund)
    walk.peak = max(walk.peak, fund)
    walk.max_drawdown = max(walk.max_drawdown, walk.peak - fund)
    return gap
