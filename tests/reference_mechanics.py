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

This module holds the per-path loops; each step's formulas are in
:mod:`tests.reference_stages` (oracle, impact, fee, trigger, close decisions, the
metric row) and the fund walk with ADL in :mod:`tests.reference_waterfall`.

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
from tests.reference_stages import (
    breaches,
    fraction_decision,
    liquidation_fee,
    metrics_row,
    oracle_price,
    partial_decision,
    price_impact,
    target_rate,
)
from tests.reference_waterfall import AdlState, FundWalk, fund_waterfall, threshold_ranks

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
    adl = AdlState(policy, [1.0] * n, [0.0] * n, [], [])
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
    walk = FundWalk(mechanisms.fund_initial, mechanisms.fund_initial, mechanisms.fund_initial)
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
        oracle = oracle_price(market, ema, t, mechanisms.oracle)
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
            hit, distance = breaches(
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
                impact = price_impact(price * abs(net), market_table)
                execution = price * math.exp(direction * impact)
            fee = liquidation_fee(sigma, liq)
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
                fund_waterfall(
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
    row = metrics_row(
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
    adl = AdlState(policy, [1.0] * n, [0.0] * n, [], [])
    # Ties of the ranked policies by the sorted book's order (thresholds at the start).
    ranks = threshold_ranks(side, qty0, entry0, collateral0)
    previous_oracle = 0.0
    # The fund walked in the loop (10.2, 10.3, 10.4).
    online = bound is not None or vault is not None or with_adl
    walk = FundWalk(mechanisms.fund_initial, mechanisms.fund_initial, mechanisms.fund_initial)
    fund_passed: list[float] = []
    # [procyclicality] (3.2): the rates, marks and every close (partial or full) at the market
    rates: list[float] = []
    marks: list[float] = []
    market_closes: list[tuple[int, float, float]] = []
    for t in range(n_points):
        price = prices[t] * factor
        market.append(price)
        ema = price if t == 0 else decay * ema + (1.0 - decay) * price
        oracle = oracle_price(market, ema, t, mechanisms.oracle)
        # ADL's price: the mark O_t, or the previous mark O_{t-1} (O_0 at t = 0).
        adl_price = previous_oracle if policy == "hyperliquid" and t >= 1 else oracle
        previous_oracle = oracle
        rate = _margin_rate(market, mechanisms)
        rates.append(rate)
        marks.append(oracle)
        sigma = _sigma_series(market, mechanisms)
        bad_sides: dict[float, list[float]] = {1.0: [], -1.0: []}
        passed_sides: dict[float, list[float]] = {1.0: [], -1.0: []}
        armed = [i for i in range(n) if not gone[i] and due[i] < 0 and armed_from[i] <= t]
        open_qty = math.fsum(qty[i] for i in armed)
        requirement_terms.append(rate * oracle * open_qty)
        open_notional_terms.append(oracle * open_qty)
        caused = False
        for i in armed:
            hit, distance = breaches(
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
                hit, distance = breaches(
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
            fee = liquidation_fee(sigma, liq)
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
                            breaches(s, qty[i], entry[i], collateral[i], oracle, rate, sigma, liq)[
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
                impact = price_impact(price * abs(net), market_table)
                execution = price * math.exp(direction * impact)
            for i in closing:
                s = sides[i]
                q = qty[i]
                x = execution * (1.0 - s * slippage)
                if fraction_rule:
                    in_breach, breach_gap = breaches(
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
                    market_closes.append((i, q, x))
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
                    market_closes.append((i, closed, x))
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
                fund_waterfall(
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
    row = metrics_row(closes, share, fund, requirement_terms, open_notional_terms, n_points)
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
    if mechanisms.procyclicality > 0:  # every close of a position m_0 held never flags
        columns, held_gap = reference_staged_measures(
            rates, marks, market_closes, book, mechanisms.procyclicality, predictive
        )
        for name, value in columns.items():
            row[_COLUMN[name]] = value
        gap = min(gap, held_gap)
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
