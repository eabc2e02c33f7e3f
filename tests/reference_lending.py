"""A plain Python reference of the lending replay, written from docs/model.md 13.

Loan by loan, step by step, with dicts and lists: no compressed rows, no numba,
no argsort (Python's stable ``sorted``). Units: prices quote per base of each
asset, amounts base units, money quote units.

A loan is ``{"collateral": [(asset, amount), ...], "debt_asset": a, "debt": d}``;
asset ``A`` (one past the path assets) is the quote asset, price 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stresstest.kernels import enums
from tests.reference_accounts import reference_marks as reference_feed


def reference_marks(prices: list[float], deviation: float, heartbeat: int) -> list[float]:
    """13.2: report when the price moved more than ``deviation`` or the heartbeat elapsed."""
    marks = [prices[0]]
    last = 0
    for t in range(1, len(prices)):
        if t - last >= heartbeat or abs(prices[t] / marks[-1] - 1.0) > deviation:
            marks.append(prices[t])
            last = t
        else:
            marks.append(marks[-1])
    return marks


def reference_curve_sale(curves: Any, asset: int, used: float, sale: float) -> float:
    """13.4: ``integral`` of ``1 - i(u)`` over ``[used, used + sale]``, segment by segment.

    ``i`` is linear in the value sold between the knots of ``asset``'s curve
    (``curves.knots`` rows 0 and 1 only) and flat past the last one.
    """
    first, end = int(curves.start[asset]), int(curves.start[asset + 1])
    depths = [float(d) for d in curves.knots[0, first:end]]
    impacts = [float(i) for i in curves.knots[1, first:end]]

    def impact_at(x: float) -> float:
        if x >= depths[-1]:
            return impacts[-1]
        k = max(k for k in range(len(depths)) if depths[k] <= x)
        share = (x - depths[k]) / (depths[k + 1] - depths[k])
        return impacts[k] + share * (impacts[k + 1] - impacts[k])

    bounds = [*depths, float("inf")]
    total = 0.0
    for k in range(len(depths)):
        low, high = max(used, bounds[k]), min(used + sale, bounds[k + 1])
        if high > low:
            total += (high - low) * (1.0 - 0.5 * (impact_at(low) + impact_at(high)))
    return total


def reference_lending(
    prices: np.ndarray,
    loans: list[dict[str, Any]],
    market: dict[str, Any],
    fund_initial: float,
    attempts: list[dict[str, Any]] | None = None,
) -> dict[str, float]:
    """Every per-path column of a lending run on one path ``prices`` ``(A, T + 1)``.

    ``market`` holds ``threshold``, ``bonus``, ``fee``, ``depth`` (lists per path
    asset), ``close_factor``, ``full_below_hf``, ``small_loan``, ``gas`` (quote units:
    a number, or a list per step, the gas path of 13.4),
    ``half_life``, ``seize_order`` ('highest_value' or 'book'), ``deviation``,
    ``heartbeat``, optionally ``curves`` (piecewise depth curves, 13.4, a
    :class:`~stresstest.io.lending_files.DepthCurves`, instead of ``depth``),
    ``bonus_slope`` with ``bonus_max`` (the bonus ramp of
    13.3; absent or 0: the fixed bonus), ``gas_crash_slope`` with ``gas_crash_asset`` (an
    asset index) and ``gas_crash_window`` (congestion gas, 13.4; absent or 0: the gas
    as given), and optionally ``oracle`` (the keys of ``[oracle]``, with
    ``manipulation_asset`` an asset index; absent or ``None``: no ``[oracle]``):
    each asset's Chainlink rule then reads the feed of 9.1 (tests/reference_accounts.py),
    not the market price (13.2). ``attempts``, if given, receives one record per priced
    liquidation: step, loan, its debt and debt asset, its collateral assets and amounts
    and health factor (before the liquidation), the pools'
    unrefilled sales before the step's liquidations and at the liquidation's turn, the
    gas, every asset's mark and market price at the step, and the profit.
    """
    n_assets, n_points = prices.shape
    last_step = n_points - 1
    oracle = market.get("oracle")
    marks = [
        reference_marks(
            reference_feed(list(prices[a]), oracle, a), market["deviation"], market["heartbeat"]
        )
        for a in range(n_assets)
    ]
    marks.append([1.0] * n_points)
    market_price = [list(prices[a]) for a in range(n_assets)] + [[1.0] * n_points]
    state = [
        {
            "collateral": [[asset, amount] for asset, amount in loan["collateral"]],
            "debt_asset": loan["debt_asset"],
            "debt": loan["debt"],
            "open": True,
            "refused": -1,
        }
        for loan in loans
    ]
    gas_at = [
        market["gas"][t] if isinstance(market["gas"], list) else market["gas"]
        for t in range(n_points)
    ]
    slope = market.get("gas_crash_slope", 0.0)
    if slope > 0.0:  # 13.4: gas times 1 + slope x the fall from the rolling high
        crash = market_price[market["gas_crash_asset"]]
        window = market["gas_crash_window"]
        for t in range(n_points):
            high = max(crash[max(0, t - window) : t + 1])
            gas_at[t] = gas_at[t] * (1.0 + slope * (1.0 - crash[t] / high))
    half_life = market["half_life"]
    decay = 0.0 if half_life == 0.0 else 0.5 ** (1.0 / half_life)
    used = [0.0] * (n_assets + 1)
    out = {name: 0.0 for name in (*enums.METRIC_NAMES, *enums.LENDING_METRIC_NAMES)}
    fund = peak = fund_min = fund_initial
    cumulative = 0.0
    debt_total = collateral_total = 0.0
    for t in range(n_points):
        if t > 0:
            used = [value * decay for value in used]
        rested = list(used)
        liquidatable = []
        for index, loan in enumerate(state):
            if not loan["open"]:
                continue
            debt_value = loan["debt"] * marks[loan["debt_asset"]][t]
            weighted = sum(
                amount * marks[a][t] * market["threshold"][a] for a, amount in loan["collateral"]
            )
            debt_total += debt_value
            collateral_total += sum(amount * marks[a][t] for a, amount in loan["collateral"])
            health = weighted / debt_value
            if health < 1.0:
                liquidatable.append((health, index))
        fees = bad_total = 0.0
        for health, index in sorted(liquidatable, key=lambda pair: pair[0]):
            loan = state[index]
            debt_mark = marks[loan["debt_asset"]][t]
            debt_value = loan["debt"] * debt_mark
            factor = market["close_factor"]
            if health < market["full_below_hf"] or debt_value < market["small_loan"]:
                factor = 1.0
            remaining = factor * debt_value
            legs = list(loan["collateral"])
            if market["seize_order"] == "highest_value":
                legs = sorted(legs, key=lambda leg: -leg[1] * marks[leg[0]][t])
            plan = []
            proceeds = seized_value = fee_value = 0.0
            for leg in legs:
                a, amount = leg
                mark = marks[a][t]
                value = amount * mark
                if value <= 0.0 or remaining <= 0.0:
                    continue
                bonus = market["bonus"][a]
                slope = market.get("bonus_slope", 0.0)
                if slope > 0.0:  # 13.3: the bonus ramps with how far HF has fallen below 1
                    bonus = min(market["bonus_max"][a], bonus + slope * (1.0 - health))
                if value / (1.0 + bonus) <= remaining:
                    cover, take = value / (1.0 + bonus), amount
                else:
                    cover = remaining
                    take = cover * (1.0 + bonus) / mark
                remaining -= cover
                fee_amount = market["fee"][a] * cover * bonus / mark
                sale = (take - fee_amount) * market_price[a][t]
                s = used[a]
                if market.get("curves") is not None:  # 13.4: a piecewise depth curve
                    proceeds += reference_curve_sale(market["curves"], a, s, sale)
                else:
                    d = market["depth"][a]
                    proceeds += d * d * sale / ((d + s) * (d + s + sale))
                seized_value += take * mark
                fee_value += fee_amount * mark
                plan.append((leg, take, sale))
            repaid_value = max(0.0, factor * debt_value - remaining)
            repaid = repaid_value / debt_mark
            profit = proceeds - repaid * market_price[loan["debt_asset"]][t] - gas_at[t]
            if attempts is not None:
                attempts.append(
                    {
                        "step": t,
                        "loan": index,
                        "debt": loan["debt"],
                        "debt_asset": loan["debt_asset"],
                        "assets": [a for a, _ in loan["collateral"]],
                        "collateral": [amount for _, amount in loan["collateral"]],
                        "health": health,
                        "used": rested,
                        "used_now": list(used),
                        "gas": gas_at[t],
                        "marks": [mark[t] for mark in marks],
                        "prices": [price[t] for price in market_price],
                        "profit": profit,
                    }
                )
            if not profit > 0.0:
                loan["refused"] = t
                continue
            for leg, take, sale in plan:
                leg[1] = 0.0 if take == leg[1] else leg[1] - take
                used[leg[0]] += sale
            if factor == 1.0 and remaining <= 0.0:
                loan["debt"] = 0.0
            else:
                loan["debt"] -= repaid
            bad = 0.0
            if sum(amount for _, amount in loan["collateral"]) <= 0.0 and loan["debt"] > 0.0:
                bad = loan["debt"] * debt_mark
                loan["debt"] = 0.0
            if loan["debt"] <= 0.0:
                loan["open"] = False
            out["n_liquidations"] += 1
            out["liquidated_notional"] += repaid_value
            out["bad_debt"] += bad
            out["fees_to_fund"] += fee_value
            out["fees_to_liquidators"] += seized_value - fee_value - repaid_value
            out["collateral_seized"] += seized_value
            out["liquidator_profit"] += profit
            fees += fee_value
            bad_total += bad
        net = fees - bad_total  # 13.5: the reserve, as the insurance fund of 5
        fund += net
        cumulative += net
        out["fund_required"] = max(out["fund_required"], -cumulative)
        if fund < 0.0:
            out["socialized_loss"] += -fund
            fund = 0.0
        fund_min = min(fund_min, fund)
        peak = max(peak, fund)
        out["fund_max_drawdown"] = max(out["fund_max_drawdown"], peak - fund)
    out["fund_end"] = fund
    out["fund_min"] = fund_min
    out["requirement_mean"] = debt_total / n_points
    out["margin_rate_mean"] = debt_total / collateral_total if collateral_total > 0 else 0.0
    for loan in state:
        if not loan["open"]:
            continue
        debt_value = loan["debt"] * marks[loan["debt_asset"]][last_step]
        value = sum(amount * marks[a][last_step] for a, amount in loan["collateral"])
        if loan["refused"] == last_step:
            out["unprofitable_debt"] += debt_value
            out["unprofitable_loans"] += 1
        out["underwater_debt"] += max(0.0, debt_value - value)
    return out
