"""A plain Python reference of the stage pipeline, written from docs/model.md sections 9, 10, 12.

Position by position and step by step, in the direct form: the maintenance
breach is ``E_i,t < R_i,t`` at the oracle price, the predictive trigger compares
the first-passage probability ``2 Phi(-d / (sigma sqrt(h)))`` (computed with
``math.erfc``) with ``p*``, every close of a step is priced from the
``math.fsum`` of the quantities closing at it, and with ``[adl]`` the fund is
walked during the loop and a shortfall deleverages profitable opposite positions
at the mark (the oracle price) by a full sort of their scores. With
``[partial_liquidation]`` each due position is closed to its target in the direct
form of docs/model.md 10.1 (remaining equity at the mark against the target rate
of the remaining notional), keeps its reduced quantity and collateral, and is
checked again like any position. No numba and no sorted book (its order serves
only the documented ADL tie-break).

Units: prices quote per base, quantities base units, money quote units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from stresstest.kernels.enums import METRIC_INDEX, N_METRICS_ALL
from tests.reference import _fund_walk, _penalty_paid, reference_margin_rates
from tests.reference_backstop import Vault, bounded_bad_debt
from tests.reference_procyclicality import reference_apc_rates, reference_staged_measures

_COLUMN = METRIC_INDEX


@dataclass(frozen=True)
class Mechanisms:
    """The scenario's tables as plain dicts (defaults filled as docs/model.md 9 says).

    ``liquidation`` holds every ``[liquidation]`` key; ``oracle``, ``market``,
    ``adl`` and ``partial`` (``[partial_liquidation]``) are the tables or ``None``.
    """

    margin: dict[str, Any]
    liquidation: dict[str, Any]
    oracle: dict[str, Any] | None = None
    market: dict[str, Any] | None = None
    fund_initial: float = 0.0
    adl: dict[str, Any] | None = None
    partial: dict[str, Any] | None = None
    backstop: dict[str, Any] | None = None  # [backstop]: capital, takeover_fraction, hold_steps
    fund_bound: float | None = None  # [insurance_fund] pays_past_bankruptcy
    vol_floor_variance: float = 0.0  # the resolved APC variance floor f (3.1), per step
    procyclicality: int = 0  # [procyclicality] horizon_steps n (3.2); 0: not measured


@dataclass
class _Walk:
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
class _Adl:
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


def _metrics_row(
    closes: list[tuple[float, float, float]],
    share: float,
    fund: dict[str, float],
    requirement_terms: list[float],
    open_notional_terms: list[float],
    n_points: int,
) -> np.ndarray:
    """A path's metric row from its closes ``(notional, penalty paid, bad debt)``, its
    fund summary and the per-step requirement and open-notional terms (quote units)."""
    row = np.zeros(N_METRICS_ALL)
    row[_COLUMN["n_liquidations"]] = len(closes)
    row[_COLUMN["liquidated_notional"]] = math.fsum(close[0] for close in closes)
    row[_COLUMN["bad_debt"]] = math.fsum(close[2] for close in closes)
    row[_COLUMN["fees_to_fund"]] = math.fsum((1.0 - share) * close[1] for close in closes)
    row[_COLUMN["fees_to_liquidators"]] = math.fsum(share * close[1] for close in closes)
    for name, value in fund.items():
        row[_COLUMN[name]] = value
    requirement_sum = math.fsum(requirement_terms)
    open_notional_sum = math.fsum(open_notional_terms)
    row[_COLUMN["requirement_mean"]] = requirement_sum / n_points
    row[_COLUMN["margin_rate_mean"]] = (
        requirement_sum / open_notional_sum if open_notional_sum > 0.0 else 0.0
    )
    return row


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


def _margin_rate(market: list[float], mechanisms: Mechanisms) -> float:
    """``m_t`` at the last step of ``market``: §3, with the APC options of §3.1 when set."""
    margin = mechanisms.margin
    apc = any(margin.get(key) for key in ("apc_buffer", "stressed_weight"))
    if apc or mechanisms.vol_floor_variance > 0.0:
        return float(
            reference_apc_rates(np.array(market), margin, mechanisms.vol_floor_variance)[-1]
        )
    return float(reference_margin_rates(np.array(market), margin)[-1])


def _sigma_series(market: list[float], mechanisms: Mechanisms) -> float:
    """``sigma_t`` at the last step of ``market``: sqrt of the EWMA variance (9.2)."""
    liquidation = mechanisms.liquidation
    margin = mechanisms.margin
    decay = liquidation.get("vol_ewma_lambda")
    start = liquidation.get("vol_initial_variance")
    if decay is None:
        decay = margin["ewma_lambda"] if margin["model"] == "vol_scaled" else 0.5
    if start is None:
        start = margin["initial_variance"] if margin["model"] == "vol_scaled" else 0.0
    as_margin = {
        "model": "vol_scaled",
        "k": 1.0,
        "horizon_steps": 1,
        "ewma_lambda": decay,
        "initial_variance": start,
        "floor": 0.0,
        "cap": math.inf,
    }
    return float(reference_margin_rates(np.array(market), as_margin)[-1])


def _oracle(market: list[float], ema: float, step: int, oracle: dict[str, Any] | None) -> float:
    """``O_t`` (9.1) from the market prices ``P_0..P_t`` and the ema state."""
    if oracle is None:
        value = market[step]
    elif oracle["model"] == "lag":
        value = market[max(0, step - int(oracle.get("lag_steps", 0)))]
    elif oracle["model"] == "twap":
        window = market[max(0, step - int(oracle.get("twap_steps", 1)) + 1) : step + 1]
        value = math.fsum(window) / len(window)
    else:
        value = ema
    if oracle is not None and oracle.get("manipulation_step") is not None:
        first = int(oracle["manipulation_step"])
        if first <= step < first + int(oracle.get("manipulation_steps", 1)):
            value *= 1.0 + float(oracle.get("manipulation_size", 0.0))
    return value


def _impact(notional: float, market: dict[str, Any]) -> float:
    """Log-price impact ``I`` of a net order of ``notional`` quote units (9.4)."""
    if market["impact"] == "linear":
        raw = 0.01 * notional / float(market["depth"])
    else:
        raw = float(market["coefficient"]) * math.sqrt(
            notional / float(market.get("reference_notional", 1_000_000.0))
        )
    return min(float(market.get("max_impact", 1.0)), raw)


def _fee(sigma: float, liquidation: dict[str, Any]) -> float:
    if liquidation.get("fee_model", "static") == "vol_scaled":
        raw = float(liquidation["fee_base"]) + float(liquidation["fee_k"]) * sigma
        return min(float(liquidation["fee_max"]), max(float(liquidation["fee_min"]), raw))
    return float(liquidation["fee"])


def _breaches(
    s: float, q: float, e: float, c: float, oracle: float, rate: float, sigma: float, liq: dict
) -> tuple[bool, float]:
    """Whether the position is flagged now, and how far it is from the boundary (relative)."""
    if liq.get("trigger", "maintenance") == "maintenance":
        equity = c + s * q * (oracle - e)
        requirement = rate * q * oracle
        return equity < requirement, abs(equity - requirement) / (q * oracle)
    bankruptcy = e - s * c / q
    if bankruptcy <= 0.0:  # a long that cannot go bankrupt
        return False, math.inf
    distance = math.log(oracle / bankruptcy) if s > 0 else math.log(bankruptcy / oracle)
    horizon = liq.get("trigger_horizon_steps")
    horizon = liq["latency_steps"] if horizon is None else horizon
    scale = sigma * math.sqrt(horizon)
    if scale == 0.0:
        return distance < 0.0, abs(distance)
    probability = math.erfc(distance / (scale * math.sqrt(2.0)))  # 2 Phi(-d / scale)
    p_star = float(liq.get("trigger_probability", 0.05))
    # The boundary in log-price: d = z sigma sqrt(h), z = -Phi^-1(p* / 2).
    boundary = -NormalDist().inv_cdf(p_star / 2.0) * scale
    return probability > p_star, abs(distance - boundary)


def _deleverage_side(
    adl: _Adl,
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


def _waterfall(
    walk: _Walk,
    to_fund: float,
    bad_long: float,
    bad_short: float,
    book: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    ranks: list[int],
    open_now: list[bool],
    adl: _Adl | None,
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
            got, left, side_gap = _deleverage_side(
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


def _replay_one(
    prices: list[float],
    book: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    mechanisms: Mechanisms,
    with_impact: bool,
    baseline_flag_step: list[int] | None,
) -> tuple[np.ndarray, list[int], int, float]:
    """One path: metrics row, each position's threshold-crossing step (large if never), depth, gap.

    The crossing step is the flag step, or for a position deleveraged before it
    crossed, the step its threshold was crossed (it is not flagged then).
    """
    side, qty, entry, collateral = book
    liq = mechanisms.liquidation
    market_table = mechanisms.market
    with_adl = mechanisms.adl is not None
    n_points = len(prices)
    last = n_points - 1
    n = len(side)
    never = n_points + 1
    flag_step = [never] * n
    crossed = [never] * n  # first step the breach series crossed i's threshold
    policy = mechanisms.adl.get("policy", "profit_leverage") if mechanisms.adl else ""
    adl = _Adl(policy, [1.0] * n, [0.0] * n, [], [])
    ranks = threshold_ranks(side, qty, entry, collateral)
    market: list[float] = []
    factor = 1.0
    ema = 0.0
    impact_generation = 0
    generation_of_step = [0] * n_points
    depth = 0
    gap = math.inf
    closes: list[tuple[float, float, float]] = []
    to_fund_by_step: list[list[float]] = [[] for _ in range(n_points)]
    bad_by_step: list[list[float]] = [[] for _ in range(n_points)]
    walk = _Walk(mechanisms.fund_initial, mechanisms.fund_initial, mechanisms.fund_initial)
    requirement_terms: list[float] = []
    open_notional_terms: list[float] = []
    decay = float(mechanisms.oracle.get("ema_lambda", 0.0)) if mechanisms.oracle else 0.0
    previous_oracle = 0.0
    vault = Vault.of(mechanisms.backstop)
    bound = mechanisms.fund_bound
    online = with_adl or vault is not None or bound is not None  # the fund walked in the loop
    fund_passed: list[float] = []
    rates: list[float] = []  # m_t and O_t, and the market closes (i, q, x), for 3.2
    marks: list[float] = []
    market_closes: list[tuple[int, float, float]] = []
    for t in range(n_points):
        price = prices[t] * factor
        market.append(price)
        ema = price if t == 0 else decay * ema + (1.0 - decay) * price
        oracle = _oracle(market, ema, t, mechanisms.oracle)
        # ADL's price: the mark O_t, or the previous mark O_{t-1} (O_0 at t = 0).
        adl_price = previous_oracle if policy == "hyperliquid" and t >= 1 else oracle
        previous_oracle = oracle
        rate = _margin_rate(market, mechanisms)
        rates.append(rate)
        marks.append(oracle)
        sigma = _sigma_series(market, mechanisms)
        open_qty = math.fsum(
            float(qty[i]) * adl.remain[i]
            for i in range(n)
            if flag_step[i] == never and adl.remain[i] > 0.0
        )
        requirement_terms.append(rate * oracle * open_qty)
        open_notional_terms.append(oracle * open_qty)
        caused = False
        for i in range(n):
            # A deleveraged position is never flagged, but its threshold crossing is
            # still recorded: the impact comparison of 9.4 is by threshold, not by flag.
            if flag_step[i] != never or crossed[i] != never:
                continue
            hit, distance = _breaches(
                float(side[i]),
                float(qty[i]),
                float(entry[i]),
                float(collateral[i]),
                oracle,
                rate,
                sigma,
                liq,
            )
            gap = min(gap, distance)
            if hit:
                crossed[i] = t
                if adl.remain[i] == 0.0:
                    continue
                flag_step[i] = t
                if with_impact and baseline_flag_step is not None and baseline_flag_step[i] > t:
                    caused = True
        generation_of_step[t] = impact_generation + 1 if caused else 0
        depth = max(depth, generation_of_step[t])
        closing = [
            i
            for i in range(n)
            if flag_step[i] != never and min(flag_step[i] + liq["latency_steps"], last) == t
        ]
        bad_sides: dict[float, list[float]] = {1.0: [], -1.0: []}
        passed_sides: dict[float, list[float]] = {1.0: [], -1.0: []}
        if closing and vault is not None and vault.equity(price) > 0.0:
            closing, takeover_gap = vault.take_over(
                closing, book, adl.remain, oracle, rate, t, last
            )
            gap = min(gap, takeover_gap)
        if closing:
            execution = price
            impact = 0.0
            direction = -1.0
            if with_impact and market_table is not None:
                net = math.fsum(
                    float(side[i]) * -1.0 * float(qty[i]) * adl.remain[i] for i in closing
                )
                direction = 1.0 if net > 0.0 else -1.0
                impact = _impact(price * abs(net), market_table)
                execution = price * math.exp(direction * impact)
            fee = _fee(sigma, liq)
            for i in closing:
                s = float(side[i])
                q = float(qty[i]) * adl.remain[i]
                x = execution * (1.0 - s * liq["slippage"])
                remaining = float(collateral[i]) * adl.remain[i] + s * q * (x - float(entry[i]))
                paid = _penalty_paid(remaining, fee * q * x)
                bad = max(0.0, -remaining)
                closes.append((q * x, paid, bad))
                market_closes.append((i, q, x))
                to_fund_by_step[t].append((1.0 - liq["liquidator_share"]) * paid)
                bad_by_step[t].append(bad)
                fund_part, passed = bounded_bad_debt(bad, bound, q * x)
                bad_sides[s].append(fund_part)
                passed_sides[s].append(passed)
                fund_passed.append(passed)
                if bound is not None and bad > 0.0:
                    gap = min(gap, abs(bad - bound * q * x) / (q * x))
                if with_adl:
                    gap = min(gap, abs(remaining - fee * q * x) / (q * x), abs(remaining) / (q * x))
            permanent = float(market_table.get("permanent_fraction", 0.0)) if market_table else 0.0
            if with_impact and permanent * impact > 0.0:
                factor *= math.exp(direction * permanent * impact)
                impact_generation = max(
                    [impact_generation, *(generation_of_step[flag_step[i]] for i in closing)]
                )
        passed_long = math.fsum(passed_sides[1.0])
        passed_short = math.fsum(passed_sides[-1.0])
        if vault is not None:  # the fund first, then the vault (10.3)
            vault_long, vault_short = vault.step(t, price)
            passed_long += vault_long
            passed_short += vault_short
        if online:
            open_now = [flag_step[i] == never and adl.remain[i] > 0.0 for i in range(n)]
            gap = min(
                gap,
                _waterfall(
                    walk,
                    math.fsum(to_fund_by_step[t]),
                    math.fsum(bad_sides[1.0]),
                    math.fsum(bad_sides[-1.0]),
                    book,
                    ranks,
                    open_now,
                    adl if with_adl else None,
                    adl_price,
                    passed_long,
                    passed_short,
                ),
            )
    if online:
        fund = walk.summary()
    else:
        fund = _fund_walk(
            [math.fsum(values) for values in to_fund_by_step],
            [math.fsum(values) for values in bad_by_step],
            mechanisms.fund_initial,
        )
    row = _metrics_row(
        closes, liq["liquidator_share"], fund, requirement_terms, open_notional_terms, n_points
    )
    if with_adl:
        row[_COLUMN["adl_notional"]] = math.fsum(adl.closes)
        row[_COLUMN["adl_count"]] = len(adl.closes)
        top1, top10, adl_gini = adl.fairness()
        row[_COLUMN["adl_top1_share"]] = top1
        row[_COLUMN["adl_top10_share"]] = top10
        row[_COLUMN["adl_gini"]] = adl_gini
    if vault is not None:
        for name, value in vault.columns().items():
            row[_COLUMN[name]] = value
    if bound is not None:
        row[_COLUMN["fund_passed_bad_debt"]] = math.fsum(fund_passed)
    if mechanisms.procyclicality > 0:
        predictive = liq.get("trigger") == "predictive"
        columns, held_gap = reference_staged_measures(
            rates, marks, market_closes, book, mechanisms.procyclicality, predictive
        )
        for name, value in columns.items():
            row[_COLUMN[name]] = value
        gap = min(gap, held_gap)
    return row, crossed, depth, gap


def target_rate(side: float, rate: float, shift: float, buffer: float, predictive: bool) -> float:
    """The equity a partial close leaves, per unit of remaining notional at the mark (10.1).

    Maintenance trigger: ``m_tau + b``. Predictive trigger: the equity fraction at
    which the trigger fires at the mark, ``1 - exp(-z sigma sqrt(h))`` for a long and
    ``exp(z sigma sqrt(h)) - 1`` for a short (``shift = z sigma sqrt(h)``), plus ``b``.
    """
    if not predictive:
        return rate + buffer
    boundary = 1.0 - math.exp(-shift) if side > 0 else math.exp(shift) - 1.0
    return boundary + buffer


def partial_decision(
    s: float, q: float, e: float, c: float, x: float, y: float, rho: float, fee: float
) -> tuple[str, float, float]:
    """How a due position is closed at exit price ``x`` with the mark ``y`` (10.1, direct form).

    ``g(q') = A - q' D`` is the remaining equity at ``y`` minus ``rho q' y`` when
    ``q'`` is kept, ``A = E_x - fee q x``, ``D = rho y - s (y - x) - fee x``:
    ``"rearm"`` if ``g(q) >= 0`` (nothing closed), else ``"full"`` if ``A <= 0`` or
    ``D <= 0`` (no partial close meets the target), else ``"partial"`` keeping
    ``q' = A / D``. Returns the decision, ``q'`` and the relative distance from the
    nearest boundary.
    """
    equity_x = c + s * q * (x - e)
    equity_y = c + s * q * (y - e)
    a = equity_x - fee * q * x
    d = rho * y - s * (y - x) - fee * x
    kept_all = equity_y - rho * q * y
    gap = min(abs(kept_all) / (q * y), abs(a) / (q * x), abs(d) / x)
    if kept_all >= 0.0:
        return "rearm", q, gap
    if a <= 0.0 or d <= 0.0:
        return "full", 0.0, gap
    return "partial", a / d, gap


def fraction_decision(
    s: float,
    q: float,
    e: float,
    c: float,
    x: float,
    fee: float,
    in_breach: bool,
    notional: float,
    rule: dict[str, Any],
    in_cooldown: bool,
) -> tuple[str, float, float]:
    """How a due position is closed by the rule ``'fraction'`` (10.1, direct form).

    ``"rearm"`` if it is no longer in breach at the mark of the close step, else
    ``"full"`` if ``E_x - fee q x <= 0`` (the closed share could not pay its
    penalty), if its notional at the mark is at most ``min_notional``, during its
    cool-down or if ``f = 1``, else ``"partial"`` keeping ``q - f q``. Returns the
    decision, the quantity kept and the relative distance of ``E_x - fee q x`` and of
    the notional from their boundaries.
    """
    f = float(rule["fraction"])
    floor = float(rule.get("min_notional") or 0.0)
    a = c + s * q * (x - e) - fee * q * x
    gap = abs(a) / (q * x)
    if floor > 0.0:
        gap = min(gap, abs(notional - floor) / floor)
    if not in_breach:
        return "rearm", q, gap
    if a <= 0.0 or notional <= floor or in_cooldown or f >= 1.0:
        return "full", 0.0, gap
    return "partial", q - f * q, gap


def _replay_partial_one(
    prices: list[float],
    book: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    mechanisms: Mechanisms,
    with_impact: bool,
    baseline_first_flag: list[int] | None,
) -> tuple[np.ndarray, list[int], int, float]:
    """One path with partial liquidation: metrics row, first flag steps, depth, gap.

    Each position carries its current quantity and collateral, the step from which
    it is checked (armed) and its pending close step. At a close step every due
    position is sized at the price before impact (the net of those closed
    quantities prices the impact, 9.4), then closed at the execution price: re-armed
    unchanged, closed in full as in 4, or partially, keeping ``q'`` and the
    collateral that leaves its equity at the mark ``rho q' y`` (10.1).
    """
    side, qty0, entry0, collateral0 = book
    liq = mechanisms.liquidation
    assert mechanisms.partial is not None
    buffer = float(mechanisms.partial.get("buffer", 0.0))
    fraction_rule = mechanisms.partial.get("rule") == "fraction"
    cooldown = int(mechanisms.partial.get("cooldown_steps") or 0)
    market_table = mechanisms.market
    slippage = float(liq["slippage"])
    share = float(liq["liquidator_share"])
    n_points = len(prices)
    last = n_points - 1
    n = len(side)
    never = n_points + 1
    sides = [float(value) for value in side]
    qty = [float(value) for value in qty0]
    entry = [float(value) for value in entry0]
    collateral = [float(value) for value in collateral0]
    armed_from = [0] * n
    due = [-1] * n
    flagged_at = [-1] * n
    gone = [False] * n
    deleveraged = [False] * n  # closed in full by ADL
    first_flag = [never] * n
    # step of each position's last partial close (rule 'fraction'); never: no cool-down
    last_partial: list[float] = [-math.inf] * n
    predictive = liq.get("trigger", "maintenance") == "predictive"
    horizon = liq.get("trigger_horizon_steps")
    horizon = liq["latency_steps"] if horizon is None else horizon
    z = -NormalDist().inv_cdf(float(liq.get("trigger_probability", 0.05)) / 2.0)
    market: list[float] = []
    factor = 1.0
    ema = 0.0
    impact_generation = 0
    generation_of_step = [0] * n_points
    depth = 0
    gap = math.inf
    closes: list[tuple[float, float, float]] = []
    to_fund_by_step: list[list[float]] = [[] for _ in range(n_points)]
    bad_by_step: list[list[float]] = [[] for _ in range(n_points)]
    requirement_terms: list[float] = []
    open_notional_terms: list[float] = []
    decay = float(mechanisms.oracle.get("ema_lambda", 0.0)) if mechanisms.oracle else 0.0
    bound = mechanisms.fund_bound
    vault = Vault.of(mechanisms.backstop)
    with_adl = mechanisms.adl is not None
    policy = mechanisms.adl.get("policy", "profit_leverage") if mechanisms.adl else ""
    adl = _Adl(policy, [1.0] * n, [0.0] * n, [], [])
    # Ties of the ranked policies by the sorted book's order (thresholds at the start).
    ranks = threshold_ranks(side, qty0, entry0, collateral0)
    previous_oracle = 0.0
    # The fund walked in the loop (10.2, 10.3, 10.4).
    online = bound is not None or vault is not None or with_adl
    walk = _Walk(mechanisms.fund_initial, mechanisms.fund_initial, mechanisms.fund_initial)
    fund_passed: list[float] = []
    for t in range(n_points):
        price = prices[t] * factor
        market.append(price)
        ema = price if t == 0 else decay * ema + (1.0 - decay) * price
        oracle = _oracle(market, ema, t, mechanisms.oracle)
        # ADL's price: the mark O_t, or the previous mark O_{t-1} (O_0 at t = 0).
        adl_price = previous_oracle if policy == "hyperliquid" and t >= 1 else oracle
        previous_oracle = oracle
        rate = _margin_rate(market, mechanisms)
        sigma = _sigma_series(market, mechanisms)
        bad_sides: dict[float, list[float]] = {1.0: [], -1.0: []}
        passed_sides: dict[float, list[float]] = {1.0: [], -1.0: []}
        armed = [i for i in range(n) if not gone[i] and due[i] < 0 and armed_from[i] <= t]
        open_qty = math.fsum(qty[i] for i in armed)
        requirement_terms.append(rate * oracle * open_qty)
        open_notional_terms.append(oracle * open_qty)
        caused = False
        for i in armed:
            hit, distance = _breaches(
                sides[i], qty[i], entry[i], collateral[i], oracle, rate, sigma, liq
            )
            gap = min(gap, distance)
            if not hit:
                continue
            due[i] = min(t + liq["latency_steps"], last)
            flagged_at[i] = t
            if first_flag[i] == never:
                first_flag[i] = t
                if with_impact and baseline_first_flag is not None and baseline_first_flag[i] > t:
                    caused = True
        for i in range(n):
            # A position ADL closed before its first flag: its threshold crossing is still
            # recorded (the impact comparison of 9.4 is by threshold), it is not flagged.
            if deleveraged[i] and first_flag[i] == never:
                hit, distance = _breaches(
                    sides[i], qty[i], entry[i], collateral[i], oracle, rate, sigma, liq
                )
                gap = min(gap, distance)
                if hit:
                    first_flag[i] = t
        generation_of_step[t] = impact_generation + 1 if caused else 0
        depth = max(depth, generation_of_step[t])
        closing = [i for i in range(n) if not gone[i] and due[i] == t]
        if closing and vault is not None and vault.equity(price) > 0.0:
            # Takeovers (10.3) before the market close, at the position's current quantity,
            # collateral and bankruptcy price (a remainder's: the target of its last close).
            market_closing = []
            for i in closing:
                s = sides[i]
                equity = collateral[i] + s * qty[i] * (oracle - entry[i])
                limit = vault.fraction * rate * qty[i] * oracle
                gap = min(gap, abs(equity - limit) / (qty[i] * oracle))
                if vault.takes(s, qty[i], entry[i], collateral[i], oracle, rate):
                    vault.take(s, qty[i], entry[i], collateral[i], oracle, t, last)
                    gone[i] = True
                    due[i] = -1
                else:
                    market_closing.append(i)
            closing = market_closing
        if closing:
            fee = _fee(sigma, liq)
            shift = z * sigma * math.sqrt(horizon)
            execution = price
            impact = 0.0
            direction = -1.0
            if with_impact and market_table is not None:
                sized = []
                for i in closing:
                    s = sides[i]
                    if fraction_rule:
                        decision, kept, _ = fraction_decision(
                            s,
                            qty[i],
                            entry[i],
                            collateral[i],
                            price * (1.0 - s * slippage),
                            fee,
                            _breaches(s, qty[i], entry[i], collateral[i], oracle, rate, sigma, liq)[
                                0
                            ],
                            qty[i] * oracle,
                            mechanisms.partial,
                            t <= last_partial[i] + cooldown,
                        )
                        closed = {"rearm": 0.0, "full": qty[i]}.get(decision, qty[i] - kept)
                        sized.append(-s * closed)
                        continue
                    decision, kept, _ = partial_decision(
                        s,
                        qty[i],
                        entry[i],
                        collateral[i],
                        price * (1.0 - s * slippage),
                        oracle * (1.0 - s * slippage),
                        target_rate(s, rate, shift, buffer, predictive),
                        fee,
                    )
                    closed = {"rearm": 0.0, "full": qty[i]}.get(decision, qty[i] - kept)
                    sized.append(-s * closed)
                net = math.fsum(sized)
                direction = 1.0 if net > 0.0 else -1.0
                impact = _impact(price * abs(net), market_table)
                execution = price * math.exp(direction * impact)
            for i in closing:
                s = sides[i]
                q = qty[i]
                x = execution * (1.0 - s * slippage)
                if fraction_rule:
                    in_breach, breach_gap = _breaches(
                        s, q, entry[i], collateral[i], oracle, rate, sigma, liq
                    )
                    decision, kept, decision_gap = fraction_decision(
                        s,
                        q,
                        entry[i],
                        collateral[i],
                        x,
                        fee,
                        in_breach,
                        q * oracle,
                        mechanisms.partial,
                        t <= last_partial[i] + cooldown,
                    )
                    decision_gap = min(decision_gap, breach_gap)
                else:
                    decision, kept, decision_gap = partial_decision(
                        s,
                        q,
                        entry[i],
                        collateral[i],
                        x,
                        oracle * (1.0 - s * slippage),
                        target_rate(s, rate, shift, buffer, predictive),
                        fee,
                    )
                gap = min(gap, decision_gap)
                due[i] = -1
                equity = collateral[i] + s * q * (x - entry[i])
                if decision == "full":
                    paid = _penalty_paid(equity, fee * q * x)
                    bad = max(0.0, -equity)
                    closes.append((q * x, paid, bad))
                    to_fund_by_step[t].append((1.0 - share) * paid)
                    bad_by_step[t].append(bad)
                    fund_part, passed = bounded_bad_debt(bad, bound, q * x)
                    bad_sides[s].append(fund_part)
                    passed_sides[s].append(passed)
                    fund_passed.append(passed)
                    if bound is not None and bad > 0.0:
                        gap = min(gap, abs(bad - bound * q * x) / (q * x))
                    gone[i] = True
                    continue
                armed_from[i] = t + 1  # re-armed or what remains: checked again from t + 1
                if decision == "partial":
                    closed = q - kept
                    penalty = fee * closed * x
                    closes.append((closed * x, penalty, 0.0))
                    to_fund_by_step[t].append((1.0 - share) * penalty)
                    collateral[i] = equity - penalty - s * kept * (x - entry[i])
                    qty[i] = kept
                    last_partial[i] = t
            permanent = float(market_table.get("permanent_fraction", 0.0)) if market_table else 0.0
            if with_impact and permanent * impact > 0.0:
                factor *= math.exp(direction * permanent * impact)
                impact_generation = max(
                    [impact_generation, *(generation_of_step[flagged_at[i]] for i in closing)]
                )
        passed_long = math.fsum(passed_sides[1.0])
        passed_short = math.fsum(passed_sides[-1.0])
        if vault is not None:  # the fund first, then the vault (10.3)
            vault_long, vault_short = vault.step(t, price)
            passed_long += vault_long
            passed_short += vault_short
        if online:
            # ADL's candidates: every position not closed and not awaiting a close (kept
            # or re-armed by a close of this step too), at its quantity and collateral now.
            current = (side, np.array(qty), entry0, np.array(collateral))
            open_now = [not gone[i] and due[i] < 0 for i in range(n)]
            adl.remain = [1.0] * n
            gap = min(
                gap,
                _waterfall(
                    walk,
                    math.fsum(to_fund_by_step[t]),
                    math.fsum(bad_sides[1.0]),
                    math.fsum(bad_sides[-1.0]),
                    current,
                    ranks,
                    open_now,
                    adl if with_adl else None,
                    adl_price,
                    passed_long,
                    passed_short,
                    score_ties=True,
                ),
            )
            for i in range(n):  # what ADL closed leaves the position (10.2)
                if adl.remain[i] == 0.0:
                    gone[i] = True
                    deleveraged[i] = True
                elif adl.remain[i] != 1.0:
                    qty[i] *= adl.remain[i]
                    collateral[i] *= adl.remain[i]
    if online:
        fund = walk.summary()
    else:
        fund = _fund_walk(
            [math.fsum(values) for values in to_fund_by_step],
            [math.fsum(values) for values in bad_by_step],
            mechanisms.fund_initial,
        )
    row = _metrics_row(closes, share, fund, requirement_terms, open_notional_terms, n_points)
    if with_adl:
        row[_COLUMN["adl_notional"]] = math.fsum(adl.closes)
        row[_COLUMN["adl_count"]] = len(adl.closes)
        top1, top10, adl_gini = adl.fairness()
        row[_COLUMN["adl_top1_share"]] = top1
        row[_COLUMN["adl_top10_share"]] = top10
        row[_COLUMN["adl_gini"]] = adl_gini
    if bound is not None:
        row[_COLUMN["fund_passed_bad_debt"]] = math.fsum(fund_passed)
    if vault is not None:
        for name, value in vault.columns().items():
            row[_COLUMN[name]] = value
    return row, first_flag, depth, gap


def reference_mechanics(
    prices: np.ndarray,
    side: np.ndarray,
    qty: np.ndarray,
    entry_price: np.ndarray,
    collateral: np.ndarray,
    mechanisms: Mechanisms,
) -> tuple[np.ndarray, float]:
    """Per-path metrics and the smallest breach gap over every path, position and step.

    Returns ``(n_paths, N_METRICS_ALL)`` in the engine's column slots
    (``enums.METRIC_INDEX``): ``cascade_depth`` and ``impact_bad_debt`` are filled
    with a ``[market]`` table, ``adl_notional`` and ``adl_count`` with ``[adl]``,
    zero otherwise; unsorted book, ``side`` +1 / -1. With ``[partial_liquidation]``
    the cascade compares first flags only (docs/model.md 10.1).
    The gap is the smallest relative distance of any open position to its trigger
    (``|E - R| / (q O)``, or ``|d - z sigma sqrt(h)|`` in log-price for the predictive
    trigger), and with ``[adl]`` of the fund and ADL decisions from their boundaries:
    where it is tiny the engine's threshold form may decide a step or a position
    apart, a rounding tie rather than a test. With partial liquidation it includes
    each close decision's distance from its boundaries (re-arm, full close, and a
    target beyond the full-close bound).
    """
    prices = np.asarray(prices, dtype=float)
    book = (side, qty, entry_price, collateral)
    out = np.zeros((prices.shape[0], N_METRICS_ALL))
    gap = math.inf
    replay = _replay_one if mechanisms.partial is None else _replay_partial_one
    for path in range(prices.shape[0]):
        path_prices = [float(value) for value in prices[path]]
        row, flags, _, path_gap = replay(path_prices, book, mechanisms, False, None)
        gap = min(gap, path_gap)
        if mechanisms.market is None:
            out[path] = row
            continue
        impacted, _, depth, impacted_gap = replay(path_prices, book, mechanisms, True, flags)
        gap = min(gap, impacted_gap)
        out[path] = impacted
        out[path, _COLUMN["cascade_depth"]] = depth
        out[path, _COLUMN["impact_bad_debt"]] = (
            impacted[_COLUMN["bad_debt"]] - row[_COLUMN["bad_debt"]]
        )
    return out, gap
