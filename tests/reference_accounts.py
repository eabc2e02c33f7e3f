"""A plain Python reference of the accounts replay, written from docs/model.md 11.

Account by account, step by step, in the direct form ``E_u,t < R_u,t`` on the
book's own rows (no margin units precomputed, no filter, no sorting). Sums use
``math.fsum``. No numba. With an ``[oracle]`` table the breach and the requirement
read each asset's mark ``O_a,t`` and the closes the market price; with the
volatility-scaled penalty each leg pays its own asset's rate (11.7).

Units: prices quote per base, quantities base units, money quote units.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stresstest.kernels.enums import METRIC_INDEX, METRIC_NAMES, N_METRICS, N_METRICS_PROCYCLICALITY
from tests.reference import _fund_walk, _penalty_paid, reference_margin_rates
from tests.reference_account_procyclicality import reference_account_measures
from tests.reference_procyclicality import reference_apc_rates

_COLUMN = {name: index for index, name in enumerate(METRIC_NAMES)}
#: The APC keys of ``[margin]`` (docs/model.md 3.1) a margin table of these references may hold.
APC_TABLE_KEYS = ("apc_buffer", "stressed_weight", "stressed_variance")
#: Test-only key of a margin table: each asset's resolved APC variance floor ``f_a`` (per step).
ASSET_FLOORS = "asset_floors"


def reference_asset_rates(prices: Any, margin: dict[str, Any], asset: int) -> np.ndarray:
    """``m_a,t`` for ``t = 0..T`` of asset ``a`` from its own market prices (11.3).

    The APC rate of docs/model.md 3.1 (the asset's own EWMA, running maximum and
    previous posted rate, its floor ``margin["asset_floors"][a]``) when the table sets
    an APC key or floors, else the plain rate of 3.
    """
    floors = margin.get(ASSET_FLOORS)
    if margin["model"] == "vol_scaled" and (
        floors is not None or any(margin.get(key) is not None for key in APC_TABLE_KEYS)
    ):
        floor = 0.0 if floors is None else float(floors[asset])
        return reference_apc_rates(np.asarray(prices, dtype=float), margin, floor)
    return reference_margin_rates(np.asarray(prices, dtype=float), margin)


def reference_requirement(
    notional: float,
    rate: float,
    brackets: list[tuple[float, float]],
    base_rate: float | None = None,
) -> float:
    """``R_t(n)`` of one position: ``rate n`` without brackets, else the tiered table.

    ``brackets`` lists ``(floor_b, rate_b)`` for the brackets above the first,
    whose rate is ``base_rate`` (the vol-scaled margin's floor; ``None``: ``rate``,
    static margin); the amounts are the continuity sums of 11.4, and the
    volatility add-on ``(rate - base_rate) n`` applies on top of the table.
    """
    if not brackets:
        return rate * notional
    base = rate if base_rate is None else base_rate
    floors = [0.0] + [floor for floor, _ in brackets]
    rates = [base] + [value for _, value in brackets]
    amount = 0.0
    chosen_rate, chosen_amount = rates[0], 0.0
    for b in range(1, len(floors)):
        amount += (rates[b] - rates[b - 1]) * floors[b]
        if notional >= floors[b]:
            chosen_rate, chosen_amount = rates[b], amount
    return chosen_rate * notional - chosen_amount + (rate - base) * notional


def reference_marks(
    market: list[float], oracle: dict[str, Any] | None, asset: int | None = None
) -> list[float]:
    """``O_t`` of asset ``asset`` for ``t = 0..T`` from its market prices (docs/model.md 9.1).

    ``oracle["manipulation_asset"]`` (an asset index; absent or ``None``: every asset)
    limits the manipulation to that asset (11.7).
    """
    if oracle is None:
        return list(market)
    target = oracle.get("manipulation_asset")
    if target is not None and target != asset:
        oracle = {key: value for key, value in oracle.items() if key != "manipulation_step"}
    marks = []
    ema = market[0]
    for t, price in enumerate(market):
        if t > 0:
            ema = (
                oracle.get("ema_lambda", 0.0) * ema + (1.0 - oracle.get("ema_lambda", 0.0)) * price
            )
        if oracle["model"] == "lag":
            value = market[max(0, t - int(oracle.get("lag_steps", 0)))]
        elif oracle["model"] == "twap":
            window = market[max(0, t - int(oracle.get("twap_steps", 1)) + 1) : t + 1]
            value = math.fsum(window) / len(window)
        else:
            value = ema
        first = oracle.get("manipulation_step")
        if first is not None and first <= t < first + int(oracle.get("manipulation_steps", 1)):
            value *= 1.0 + float(oracle.get("manipulation_size", 0.0))
        marks.append(value)
    return marks


def reference_fee_rates(market: list[float], fee_model: dict[str, Any] | None) -> list[float]:
    """``fee_a,t`` of one asset for ``t = 0..T`` (docs/model.md 9.2, 11.7); ``None``: flat.

    ``fee_model`` holds ``fee_base``, ``fee_k``, ``fee_min``, ``fee_max``,
    ``vol_ewma_lambda`` and ``vol_initial_variance`` (the resolved values).
    """
    if fee_model is None:
        return []
    decay = float(fee_model["vol_ewma_lambda"])
    variance = float(fee_model["vol_initial_variance"])
    rates = []
    for t, price in enumerate(market):
        if t > 0:
            r = math.log(price / market[t - 1])
            variance = decay * variance + (1.0 - decay) * r * r
        raw = float(fee_model["fee_base"]) + float(fee_model["fee_k"]) * math.sqrt(variance)
        rates.append(min(float(fee_model["fee_max"]), max(float(fee_model["fee_min"]), raw)))
    return rates


def schedule_base(margin: dict[str, Any]) -> float | None:
    """The first bracket's rate: ``None`` (the static rate) or the vol-scaled floor."""
    return None if margin["model"] == "static" else float(margin["floor"])


def reference_accounts(
    prices: np.ndarray,
    book: dict[str, np.ndarray],
    cross: np.ndarray,
    margin: dict[str, Any],
    latency_steps: int,
    slippage: float,
    fee: float,
    liquidator_share: float,
    fund_initial: float,
    brackets: list[tuple[float, float]] | None = None,
    oracle: dict[str, Any] | None = None,
    fee_model: dict[str, Any] | None = None,
    procyclicality: int = 0,
    held_gaps: list[float] | None = None,
) -> np.ndarray:
    """Per-path metrics ``(n_paths, N_METRICS)`` of an accounts book.

    ``procyclicality``: ``[procyclicality] horizon_steps`` (0: not measured); with it the
    rows are ``N_METRICS_PROCYCLICALITY`` wide and hold the four columns of docs/model.md
    3.2 "With accounts" (:func:`tests.reference_account_procyclicality.reference_account_measures`),
    and ``held_gaps``, when given, receives each path's nearest tie of the held test.

    ``oracle``: the ``[oracle]`` table (one for every asset), ``None`` for none;
    ``fee_model``: the volatility-scaled penalty's keys (:func:`reference_fee_rates`),
    ``None`` for the flat ``fee``.

    ``prices`` is ``(n_paths, n_assets, T + 1)``; ``book`` has per-position arrays
    ``account``, ``asset``, ``side``, ``qty``, ``entry_price``, ``collateral``;
    ``cross[account]`` is the account's mode. A cross account is one margin unit
    with collateral ``sum c``; an isolated account's positions are units of their own.
    """
    brackets = brackets or []
    base = schedule_base(margin)
    prices = np.asarray(prices, dtype=float)
    n_paths, n_assets, n_points = prices.shape
    last = n_points - 1
    units: list[list[int]] = []
    by_account: dict[int, list[int]] = {}
    for row, account in enumerate(book["account"].tolist()):
        by_account.setdefault(account, []).append(row)
    for account in sorted(by_account):
        rows = by_account[account]
        if cross[account]:
            units.append(rows)
        else:
            units.extend([row] for row in rows)
    out = np.zeros((n_paths, N_METRICS_PROCYCLICALITY if procyclicality else N_METRICS))
    for path in range(n_paths):
        rates = [
            reference_asset_rates(prices[path, asset], margin, asset) for asset in range(n_assets)
        ]
        price = [[float(v) for v in prices[path, asset]] for asset in range(n_assets)]
        mark = [reference_marks(price[asset], oracle, asset) for asset in range(n_assets)]
        fee_rate = [reference_fee_rates(price[asset], fee_model) for asset in range(n_assets)]
        is_open = [True] * len(units)
        closes: list[tuple[float, float, float, int, int]] = []
        to_fund_by_step: list[list[float]] = [[] for _ in range(n_points)]
        bad_by_step: list[list[float]] = [[] for _ in range(n_points)]
        requirement_terms: list[float] = []
        notional_terms: list[float] = []
        for t in range(n_points):
            for u, rows in enumerate(units):
                if not is_open[u]:
                    continue
                for row in rows:
                    a = int(book["asset"][row])
                    notional = float(book["qty"][row]) * mark[a][t]
                    notional_terms.append(notional)
                    requirement_terms.append(
                        reference_requirement(notional, float(rates[a][t]), brackets, base)
                    )
            for u, rows in enumerate(units):
                if not is_open[u]:
                    continue
                equity_terms = [float(book["collateral"][row]) for row in rows]
                requirement_terms_u = []
                for row in rows:
                    a = int(book["asset"][row])
                    s, q = float(book["side"][row]), float(book["qty"][row])
                    equity_terms.append(s * q * (mark[a][t] - float(book["entry_price"][row])))
                    requirement_terms_u.append(
                        reference_requirement(q * mark[a][t], float(rates[a][t]), brackets, base)
                    )
                if not math.fsum(equity_terms) < math.fsum(requirement_terms_u):
                    continue
                is_open[u] = False
                tau = min(t + latency_steps, last)
                remaining_terms = [float(book["collateral"][row]) for row in rows]
                notional_terms_u = []
                due_terms = []
                for row in rows:
                    a = int(book["asset"][row])
                    s, q = float(book["side"][row]), float(book["qty"][row])
                    x = price[a][tau] * (1.0 - s * slippage)
                    remaining_terms.append(s * q * (x - float(book["entry_price"][row])))
                    notional_terms_u.append(q * x)
                    due_terms.append((fee_rate[a][tau] if fee_model else fee) * q * x)
                remaining = math.fsum(remaining_terms)
                notional = math.fsum(notional_terms_u)
                due = math.fsum(due_terms) if fee_model else fee * notional
                paid = _penalty_paid(remaining, due)
                bad = max(0.0, -remaining)
                closes.append((notional, paid, bad, len(rows), u))
                to_fund_by_step[tau].append((1.0 - liquidator_share) * paid)
                bad_by_step[tau].append(bad)
        row_out = out[path]
        row_out[_COLUMN["n_liquidations"]] = sum(close[3] for close in closes)
        row_out[_COLUMN["liquidated_notional"]] = math.fsum(close[0] for close in closes)
        row_out[_COLUMN["bad_debt"]] = math.fsum(close[2] for close in closes)
        row_out[_COLUMN["fees_to_fund"]] = math.fsum(
            (1.0 - liquidator_share) * close[1] for close in closes
        )
        row_out[_COLUMN["fees_to_liquidators"]] = math.fsum(
            liquidator_share * close[1] for close in closes
        )
        fund = _fund_walk(
            [math.fsum(values) for values in to_fund_by_step],
            [math.fsum(values) for values in bad_by_step],
            fund_initial,
        )
        for name, value in fund.items():
            row_out[_COLUMN[name]] = value
        requirement_sum = math.fsum(requirement_terms)
        notional_sum = math.fsum(notional_terms)
        row_out[_COLUMN["requirement_mean"]] = requirement_sum / n_points
        row_out[_COLUMN["margin_rate_mean"]] = (
            requirement_sum / notional_sum if notional_sum > 0.0 else 0.0
        )
        if procyclicality:
            columns, gap = reference_account_measures(
                rates,
                mark,
                units,
                book,
                [(close[4], float(close[3]), close[0]) for close in closes],
                procyclicality,
                False,
                lambda n, rate: reference_requirement(n, rate, brackets, base),
            )
            for name, value in columns.items():
                row_out[METRIC_INDEX[name]] = value
            if held_gaps is not None:
                held_gaps.append(gap)
    return out


def smallest_gap(
    prices: np.ndarray,
    book: dict[str, np.ndarray],
    cross: np.ndarray,
    margin: dict[str, Any],
    brackets: list[tuple[float, float]] | None = None,
    oracle: dict[str, Any] | None = None,
) -> float:
    """Smallest ``|E_u,t - R_u,t|`` relative to the unit's notional, over paths, units and
    steps up to the unit's first breach: where tiny, rounding decides the breach step.
    With ``oracle`` the gap is measured at the marks."""
    brackets = brackets or []
    base = schedule_base(margin)
    prices = np.asarray(prices, dtype=float)
    n_paths, n_assets, n_points = prices.shape
    units: list[list[int]] = []
    by_account: dict[int, list[int]] = {}
    for row, account in enumerate(book["account"].tolist()):
        by_account.setdefault(account, []).append(row)
    for account in sorted(by_account):
        rows = by_account[account]
        units.extend([rows] if cross[account] else [[row] for row in rows])
    smallest = math.inf
    for path in range(n_paths):
        rates = [
            reference_asset_rates(prices[path, asset], margin, asset) for asset in range(n_assets)
        ]
        mark = [
            reference_marks([float(v) for v in prices[path, asset]], oracle, asset)
            for asset in range(n_assets)
        ]
        for rows in units:
            for t in range(n_points):
                equity, requirement, notional = [], [], []
                for row in rows:
                    a = int(book["asset"][row])
                    p = mark[a][t]
                    s, q = float(book["side"][row]), float(book["qty"][row])
                    equity.append(s * q * (p - float(book["entry_price"][row])))
                    equity.append(float(book["collateral"][row]))
                    requirement.append(
                        reference_requirement(q * p, float(rates[a][t]), brackets, base)
                    )
                    notional.append(q * p)
                gap = math.fsum(equity) - math.fsum(requirement)
                smallest = min(smallest, abs(gap) / math.fsum(notional))
                if gap < 0:
                    break
    return smallest
