"""A plain Python reference of partial liquidation and ADL with accounts (docs/model.md 11.8).

Written from the text of 11.8, unit by unit and step by step on the book's own
rows, with ``math.fsum`` sums, no numba: the kept fraction of a partial close is
found by bisection of the concave gap (not by the breakpoints the kernel uses),
the ADL ranking by a full sort on ``(-score, row)``, the Gini by its pairwise
definition and the top shares by sorting every trader's amount.

Units: prices quote per base, quantities base units, money quote units.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stresstest.kernels.enums import METRIC_INDEX, N_METRICS_ALL
from tests.reference import _fund_walk, _penalty_paid
from tests.reference_account_backstop import AccountVault
from tests.reference_account_procyclicality import reference_account_measures
from tests.reference_accounts import (
    reference_asset_rates,
    reference_fee_rates,
    reference_marks,
    reference_requirement,
    schedule_base,
)
from tests.reference_stages import price_impact

#: Bisection steps for the kept fraction: 2^-200 is far below a float64 ulp of 1.
BISECTION_STEPS = 200


def _units(book: dict[str, np.ndarray], cross: np.ndarray) -> list[list[int]]:
    by_account: dict[int, list[int]] = {}
    for row, account in enumerate(book["account"].tolist()):
        by_account.setdefault(account, []).append(row)
    units: list[list[int]] = []
    for account in sorted(by_account):
        rows = by_account[account]
        units.extend([rows] if cross[account] else [[row] for row in rows])
    return units


def _kept_gap(
    phi: float,
    legs: list[tuple[float, float, float, float, float, float | None]],
    after: tuple[float, float, float],
    brackets: list[tuple[float, float]],
    base: float | None,
) -> float:
    """Equity at the sizing prices ``y`` after closing ``1 - phi`` of every leg, less the
    target ``R(phi) + b phi sum q y`` (quote units). ``legs``: ``(s, q, y, e, m, boundary)``
    (``boundary``: the predictive trigger's rate, which replaces ``R``, or ``None``);
    ``after``: ``(c, S_x - F_x, b)``."""
    collateral, realized, buffer = after
    terms = [collateral + (1.0 - phi) * realized]
    for side, qty, y, entry, rate, boundary in legs:
        terms.append(phi * side * qty * (y - entry))
        if boundary is not None:
            terms.append(-boundary * phi * qty * y)
        else:
            terms.append(-reference_requirement(phi * qty * y, rate, brackets, base))
        terms.append(-buffer * phi * qty * y)
    return math.fsum(terms)


def _shifts(market: list[float], trigger: dict[str, float] | None) -> list[float]:
    """``z sigma_t sqrt(h)`` for ``t = 0..T`` (docs/model.md 9.3), ``sigma_t^2`` the EWMA of
    squared market log returns; empty without the predictive trigger."""
    if trigger is None:
        return []
    variance = trigger["vol_initial_variance"]
    shifts = []
    for t, price in enumerate(market):
        if t > 0:
            r = math.log(price / market[t - 1])
            variance = (
                trigger["vol_ewma_lambda"] * variance + (1.0 - trigger["vol_ewma_lambda"]) * r * r
            )
        shifts.append(trigger["z"] * trigger["sqrt_h"] * math.sqrt(variance))
    return shifts


def _covariances(market: list[list[float]], trigger: dict[str, float] | None) -> list[Any]:
    """``S_t = z^2 h C_t`` for ``t = 0..T`` (docs/model.md 11.8): ``C_ab`` the EWMA of
    ``r_a r_b`` (market log returns, decay ``vol_ewma_lambda``), ``C_aa,0`` the initial
    variance, ``C_ab,0 = 0`` off the diagonal; empty without the predictive trigger."""
    if trigger is None:
        return []
    n = len(market)
    decay = trigger["vol_ewma_lambda"]
    cov = [[trigger["vol_initial_variance"] if a == b else 0.0 for b in range(n)] for a in range(n)]
    scale = (trigger["z"] * trigger["sqrt_h"]) ** 2
    out = []
    for t in range(len(market[0])):
        if t > 0:
            r = [math.log(market[a][t] / market[a][t - 1]) for a in range(n)]
            cov = [
                [decay * cov[a][b] + (1.0 - decay) * r[a] * r[b] for b in range(n)]
                for a in range(n)
            ]
        out.append([[scale * cov[a][b] for b in range(n)] for a in range(n)])
    return out


def _adverse_moves(exposure: list[float], scaled: list[list[float]]) -> list[float]:
    """``r*_a = -(S g)_a / sqrt(g' S g)`` (0 when ``g' S g = 0``; docs/model.md 11.8)."""
    n = len(exposure)
    row = [math.fsum(scaled[a][b] * exposure[b] for b in range(n)) for a in range(n)]
    spread = math.fsum(exposure[a] * row[a] for a in range(n))
    if not spread > 0.0:
        return [0.0] * n
    return [-value / math.sqrt(spread) for value in row]


def _boundary(side: float, shift: float) -> float:
    """The predictive target rate of 10.1 without the buffer: ``1 - exp(-shift)`` long,
    ``exp(shift) - 1`` short (fraction of notional)."""
    return 1.0 - math.exp(-shift) if side > 0 else math.exp(shift) - 1.0


def _gini(haircuts: list[float]) -> float:
    total = math.fsum(haircuts)
    if total <= 0.0:
        return 0.0
    m = len(haircuts)
    pairs = math.fsum(abs(a - b) for a in haircuts for b in haircuts)
    return pairs / (2.0 * m * total)


def _top_shares(amounts: list[float]) -> tuple[float, float]:
    paid = sorted((value for value in amounts if value > 0.0), reverse=True)
    if not paid:
        return 0.0, 0.0
    total = math.fsum(paid)
    k1 = math.ceil(0.01 * len(paid))
    k10 = math.ceil(0.1 * len(paid))
    return math.fsum(paid[:k1]) / total, math.fsum(paid[:k10]) / total


def reference_account_defences(
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
    *,
    buffer: float | None = None,
    adl: str | None = None,
    trigger: dict[str, float] | None = None,
    market: dict[str, Any] | None = None,
    bound: float | None = None,
    backstop: dict[str, Any] | None = None,
    gaps: list[float] | None = None,
    fraction: dict[str, float] | None = None,
    seen: set[str] | None = None,
    procyclicality: int = 0,
    held_gaps: list[float] | None = None,
) -> np.ndarray:
    """Per-path metrics ``(n_paths, N_METRICS_ALL)`` (``enums.METRIC_INDEX`` slots).

    Arguments as :func:`tests.reference_accounts.reference_accounts`; ``buffer``:
    ``[partial_liquidation] buffer`` (``None``: closes in full); ``adl``: the ADL
    policy (``None``: no ADL, the ADL columns stay 0); ``trigger``: the predictive
    trigger's ``z``, ``sqrt_h``, ``vol_ewma_lambda``, ``vol_initial_variance`` (a unit of
    one position: 9.3; of several legs: the equity at the move ``r*`` of 11.8), ``None``:
    the maintenance trigger; ``market``: the
    ``[market]`` table (``impact``, ``depth`` or ``coefficient`` and
    ``reference_notional``, ``permanent_fraction``, ``max_impact``; docs/model.md
    11.9): each path is then replayed without impact first and with it second, and
    ``cascade_depth`` and ``impact_bad_debt`` are filled; ``bound``:
    ``insurance_fund.pays_past_bankruptcy`` ``f`` (any mode: a unit closed in full passes
    on its bad debt beyond ``f`` times its exit notional summed over its legs, 11.10;
    ``None``: the fund pays all bad debt), which fills ``fund_passed_bad_debt``;
    ``backstop``: the ``[backstop]`` table (``capital``, ``takeover_fraction``,
    ``hold_steps``; docs/model.md 11.11), which fills the ``backstop_*`` columns; ``gaps``,
    when given, receives each replay's smallest relative distance of a takeover decision
    from its tie (``|E - k R| / sum q O``); ``fraction``: ``[partial_liquidation] rule =
    "fraction"`` (``fraction``, ``cooldown_steps``, ``min_notional``; docs/model.md 11.8,
    *The fraction rule*), which replaces the target of ``buffer`` (then ignored), or
    ``{"tier_step_down": 1.0}`` for ``rule = "tier_step_down"`` (11.8, *The tier
    step-down*; needs ``brackets``); ``seen``, when given, receives the names of the
    rule's cases met (``re-armed``, ``bankrupt``, ``cool-down``, ``below threshold``,
    ``partial``, ``partial and full legs``; the step-down's ``stepped down``, ``stepped and
    full legs``, ``lowest bracket``, ``still in breach``); ``procyclicality``:
    ``[procyclicality] horizon_steps`` (0: not measured), which fills the four columns of
    docs/model.md 3.2 "With accounts" on the run's rates and marks (the replay with
    impact's, with ``market``), and ``held_gaps``, when given, receives each replay's
    nearest tie of the held test (:mod:`tests.reference_account_procyclicality`).
    """
    prices = np.asarray(prices, dtype=float)
    n_paths = prices.shape[0]
    out = np.zeros((n_paths, N_METRICS_ALL))
    keys = {
        "book": book,
        "cross": cross,
        "margin": margin,
        "liquidation": (latency_steps, slippage, fee, liquidator_share),
        "fund_initial": fund_initial,
        "brackets": brackets or [],
        "oracle": oracle,
        "fee_model": fee_model,
        "buffer": buffer,
        "adl": adl,
        "trigger": trigger,
        "bound": bound,
        "backstop": backstop,
        "gaps": gaps,
        "fraction": fraction,
        "seen": seen if seen is not None else set(),
        "procyclicality": procyclicality,
        "held_gaps": held_gaps,
    }
    for path in range(n_paths):
        if market is None:
            out[path], _, _ = _replay_path(prices[path], keys, None, None)
            continue
        baseline, touched, _ = _replay_path(prices[path], keys, None, None)
        out[path], _, depth = _replay_path(prices[path], keys, market, touched)
        out[path, METRIC_INDEX["cascade_depth"]] = depth
        out[path, METRIC_INDEX["impact_bad_debt"]] = (
            out[path, METRIC_INDEX["bad_debt"]] - baseline[METRIC_INDEX["bad_debt"]]
        )
    return out


def _replay_path(
    path_prices: np.ndarray,
    keys: dict[str, Any],
    market: dict[str, Any] | None,
    baseline: list[int] | None,
) -> tuple[np.ndarray, list[int], int]:
    """One path: ``(metrics row, step each unit was first flagged or deleveraged, cascade
    depth)``. With ``market`` the prices move by the impact of the closes (11.9) and every
    series (rates, marks, penalty rates, trigger shifts) is recomputed at every step from
    the impacted prices so far; ``baseline`` is the replay without impact's second value."""
    book = keys["book"]
    margin = keys["margin"]
    brackets = keys["brackets"]
    oracle = keys["oracle"]
    fee_model = keys["fee_model"]
    buffer = keys["buffer"]
    adl = keys["adl"]
    trigger = keys["trigger"]
    bound = keys["bound"]
    vault = AccountVault.of_table(keys["backstop"])
    fraction = keys["fraction"]
    seen = keys["seen"]
    latency_steps, slippage, fee, liquidator_share = keys["liquidation"]
    fund_initial = keys["fund_initial"]
    base = schedule_base(margin)
    n_assets, n_points = path_prices.shape
    last = n_points - 1
    units = _units(book, keys["cross"])
    unit_of = {row: u for u, rows in enumerate(units) for row in rows}
    side = [float(v) for v in book["side"]]
    entry = [float(v) for v in book["entry_price"]]
    asset_of = [int(v) for v in book["asset"]]
    raw = [[float(v) for v in path_prices[a]] for a in range(n_assets)]
    if market is None:
        price = raw
        rates = [reference_asset_rates(path_prices[a], margin, a) for a in range(n_assets)]
        mark = [reference_marks(price[a], oracle, a) for a in range(n_assets)]
        fee_rate = [reference_fee_rates(price[a], fee_model) for a in range(n_assets)]
        shift = [_shifts(price[a], trigger) for a in range(n_assets)]
        scaled_cov = _covariances(price, trigger)
    else:  # filled step by step from the impacted prices
        price = [[] for _ in range(n_assets)]
        rates = [[] for _ in range(n_assets)]
        mark = [[] for _ in range(n_assets)]
        fee_rate = [[] for _ in range(n_assets)]
        shift = [[] for _ in range(n_assets)]
        scaled_cov = []
    permanent = [0.0] * n_assets  # sum of the permanent log moves so far, per asset
    touched = [n_points] * len(units)
    first_flag = [-1] * len(units)
    flag_step = [0] * len(units)
    generation_of_step = [0] * n_points
    impact_generation = 0
    depth = 0
    qty = [float(v) for v in book["qty"]]
    coll = [math.fsum(float(book["collateral"][row]) for row in rows) for rows in units]
    status = ["armed"] * len(units)
    due = [0] * len(units)
    last_partial: list[int | None] = [None] * len(units)  # the fraction rule's cool-down
    closes: list[tuple[float, float, float, int, int]] = []  # ..., legs, unit
    adl_weakened: set[int] = set()  # units of several legs ADL changed (3.2 "With accounts")
    to_fund: list[list[float]] = [[] for _ in range(n_points)]
    bad_at: list[list[float]] = [[] for _ in range(n_points)]
    requirement_terms: list[float] = []
    notional_terms: list[float] = []
    given = [0.0] * len(qty)
    passed_all: list[float] = []  # bad debt past the fund's bound (10.4, 11.10)
    fund = fund_initial
    peak = low = fund_initial
    drawdown = socialized = cumulative = required = 0.0
    adl_notional = 0.0
    adl_count = 0
    gini_terms: list[tuple[float, float]] = []

    def breached_at(u: int, t: int) -> bool:
        """Whether unit ``u`` is in breach at the marks of ``t`` (11.3, 11.8): ``E < R``, or
        the predictive trigger (9.3 for a one-position unit, else the equity at ``r*``)."""
        rows = [row for row in units[u] if qty[row] > 0.0]
        if trigger is not None and len(units[u]) == 1:
            (row,) = rows
            bankrupt = entry[row] - side[row] * coll[u] / qty[row]
            move = math.exp(-side[row] * shift[asset_of[row]][t])
            return side[row] * (mark[asset_of[row]][t] * move - bankrupt) < 0.0
        if trigger is not None:  # 11.8: the equity at the most likely move to ruin
            moves = unit_moves(u, t)
            moved = [coll[u]]
            for row in rows:
                a = asset_of[row]
                moved.append(side[row] * qty[row] * (mark[a][t] * math.exp(moves[a]) - entry[row]))
            return math.fsum(moved) < 0.0
        equity = [coll[u]]
        needed = []
        for row in rows:
            a = asset_of[row]
            equity.append(side[row] * qty[row] * (mark[a][t] - entry[row]))
            needed.append(
                reference_requirement(qty[row] * mark[a][t], float(rates[a][t]), brackets, base)
            )
        return math.fsum(equity) < math.fsum(needed)

    def by_fraction(
        u: int, t: int, live: list[int], after_fee: float, exits: tuple[dict[int, float], ...]
    ) -> dict[int, float] | None:
        """The fraction rule's closed quantity per live leg (11.8), ``{}`` when re-armed,
        ``None`` when the unit is closed whole."""
        assert fraction is not None
        if not breached_at(u, t):
            seen.add("re-armed")
            return {}
        if after_fee <= 0.0:
            seen.add("bankrupt")
            return None
        if "tier_step_down" in fraction:
            return by_step_down(u, t, live, exits)
        f = float(fraction["fraction"])
        cooling = last_partial[u] is not None and t <= last_partial[u] + int(
            fraction.get("cooldown_steps", 0)
        )
        floor = float(fraction.get("min_notional", 0.0))
        small = {row for row in live if qty[row] * mark[asset_of[row]][t] <= floor}
        closed = {
            row: qty[row] if cooling or f >= 1.0 or row in small else f * qty[row] for row in live
        }
        if cooling:
            seen.add("cool-down")
        elif small and f < 1.0:
            seen.add("below threshold" if len(small) == len(live) else "partial and full legs")
        elif f < 1.0:
            seen.add("partial")
        return closed if any(closed[row] < qty[row] for row in live) else None

    def by_step_down(
        u: int, t: int, live: list[int], exits: tuple[dict[int, float], ...]
    ) -> dict[int, float] | None:
        """The tier step-down's closed quantity per live leg (11.8): down to the floor
        ``F_b`` of the leg's bracket at the mark (the largest ``F_b / O < q``), in full in
        the lowest bracket; ``None`` (closed whole) when every leg closes in full or the
        unit so reduced is still in breach at the marks of ``t``. ``exits = (x, fee)``."""
        x, rate = exits
        closed = {}
        for row in live:
            o = mark[asset_of[row]][t]
            keeps = [floor / o for floor, _ in brackets if floor / o < qty[row]]
            closed[row] = qty[row] - keeps[-1] if keeps else qty[row]
        stepped = [row for row in live if closed[row] < qty[row]]
        if not stepped:
            seen.add("lowest bracket")
            return None
        realized = math.fsum(side[row] * closed[row] * (x[row] - entry[row]) for row in live)
        paid = math.fsum(rate[row] * closed[row] * x[row] for row in live)
        saved = coll[u], {row: qty[row] for row in live}
        coll[u] += realized - paid
        for row in live:
            qty[row] -= closed[row]
        still = breached_at(u, t)
        coll[u] = saved[0]
        for row in live:
            qty[row] = saved[1][row]
        if still:
            seen.add("still in breach")
            return None
        seen.add("stepped down" if len(stepped) == len(live) else "stepped and full legs")
        return closed

    def unit_moves(u: int, t: int) -> list[float]:
        """``r*`` of unit ``u`` at step ``t`` from its exposures ``g_a`` at the marks."""
        exposure = [0.0] * n_assets
        for row in units[u]:
            exposure[asset_of[row]] += side[row] * qty[row] * mark[asset_of[row]][t]
        return _adverse_moves(exposure, scaled_cov[t])

    def boundary_of(u: int, row: int, t: int) -> float | None:
        """The predictive target rate of leg ``row`` (10.1, 11.8), ``None`` without it."""
        if not trigger:
            return None
        if len(units[u]) == 1:
            return _boundary(side[row], shift[asset_of[row]][t])
        return -side[row] * (math.exp(unit_moves(u, t)[asset_of[row]]) - 1.0)

    def settle(u: int, t: int, exit_of: list[float], book_it: bool) -> dict[int, float]:
        """Settle unit ``u`` at step ``t`` with asset prices ``exit_of`` (before slippage);
        returns the quantity of every live leg closed (all of it: full; none: re-armed).
        ``book_it`` False: only the quantities (the order's sizing before impact)."""
        rows = units[u]
        live = [row for row in rows if qty[row] > 0.0]
        x = {row: exit_of[asset_of[row]] * (1.0 - side[row] * slippage) for row in live}
        y = {row: mark[asset_of[row]][t] * (1.0 - side[row] * slippage) for row in live}
        rate = {row: (fee_rate[asset_of[row]][t] if fee_model else fee) for row in live}
        pnl = math.fsum(side[row] * qty[row] * (x[row] - entry[row]) for row in live)
        penalty = math.fsum(rate[row] * qty[row] * x[row] for row in live)
        exit_notional = math.fsum(qty[row] * x[row] for row in live)
        remaining = coll[u] + pnl
        whole = {row: qty[row] for row in live}
        if fraction is not None:
            closed_qty = by_fraction(u, t, live, remaining - penalty, (x, rate))
            if closed_qty is not None and (not book_it or not closed_qty):
                if book_it:
                    status[u] = "armed"  # re-armed: nothing closed
                return closed_qty
            if closed_qty is not None:  # a partial close: every live leg closes something
                paid = math.fsum(rate[row] * closed_qty[row] * x[row] for row in live)
                closes.append(
                    (math.fsum(closed_qty[row] * x[row] for row in live), paid, 0.0, len(live), u)
                )
                to_fund[t].append((1.0 - liquidator_share) * paid)
                realized = math.fsum(
                    side[row] * closed_qty[row] * (x[row] - entry[row]) for row in live
                )
                coll[u] += realized - paid
                for row in live:
                    qty[row] -= closed_qty[row]
                last_partial[u] = t
                status[u] = "armed"
                return closed_qty
        elif buffer is not None and remaining - penalty > 0.0:
            legs = [
                (
                    side[row],
                    qty[row],
                    y[row],
                    entry[row],
                    float(rates[asset_of[row]][t]),
                    boundary_of(u, row, t),
                )
                for row in live
            ]
            after = (coll[u], pnl - penalty, buffer)

            def gap(phi: float) -> float:
                return _kept_gap(phi, legs, after, brackets, base)

            if gap(1.0) >= 0.0:
                if book_it:
                    status[u] = "armed"  # re-armed: nothing closed
                return {}
            lo, hi = 0.0, 1.0
            for _ in range(BISECTION_STEPS):
                middle = 0.5 * (lo + hi)
                if gap(middle) >= 0.0:
                    lo = middle
                else:
                    hi = middle
            phi = lo
            closed = 1.0 - phi
            if not book_it:
                return {row: qty[row] * closed for row in live}
            paid = closed * penalty
            closes.append((closed * exit_notional, paid, 0.0, len(live), u))
            to_fund[t].append((1.0 - liquidator_share) * paid)
            coll[u] += closed * (pnl - penalty)
            for row in live:
                qty[row] *= phi
            status[u] = "armed"
            return {}
        if not book_it:
            return whole
        paid = _penalty_paid(remaining, penalty)
        bad = max(0.0, -remaining)
        beyond = 0.0
        if bound is not None and bad > 0.0:
            beyond = bad - min(bad, bound * exit_notional)
        closes.append((exit_notional, paid, bad, len(live), u))
        to_fund[t].append((1.0 - liquidator_share) * paid)
        bad_at[t].append(bad - beyond)
        passed_all.append(beyond)
        status[u] = "closed"
        if bad > 0.0:
            losses = {row: max(0.0, -side[row] * qty[row] * (x[row] - entry[row])) for row in live}
            total_loss = math.fsum(losses.values())
            for row, loss in losses.items():
                if loss > 0.0:
                    key = (asset_of[row], side[row])
                    bad_by.setdefault(key, []).append((bad - beyond) * loss / total_loss)
                    passed_by.setdefault(key, []).append(beyond * loss / total_loss)
        return whole

    for t in range(n_points):
        if market is not None:
            for a in range(n_assets):
                price[a].append(raw[a][t] * math.exp(permanent[a]))
                rates[a].append(float(reference_asset_rates(price[a], margin, a)[t]))
                mark[a].append(reference_marks(price[a], oracle, a)[t])
                if fee_model:
                    fee_rate[a].append(reference_fee_rates(price[a], fee_model)[t])
                if trigger:
                    shift[a].append(_shifts(price[a], trigger)[t])
            if trigger:
                scaled_cov.append(_covariances(price, trigger)[t])
        caused = False
        for u, rows in enumerate(units):
            if status[u] != "armed":
                continue
            for row in rows:
                a = asset_of[row]
                requirement_terms.append(
                    reference_requirement(qty[row] * mark[a][t], float(rates[a][t]), brackets, base)
                )
                notional_terms.append(qty[row] * mark[a][t])
            if breached_at(u, t):
                status[u] = "flagged"
                due[u] = min(t + latency_steps, last)
                flag_step[u] = t
                touched[u] = min(touched[u], t)
                if first_flag[u] < 0:
                    first_flag[u] = t
                    caused = caused or (baseline is not None and baseline[u] > t)
        if caused:
            generation_of_step[t] = impact_generation + 1
            depth = max(depth, impact_generation + 1)
        bad_by: dict[tuple[int, float], list[float]] = {}
        passed_by: dict[tuple[int, float], list[float]] = {}
        settling = [u for u in range(len(units)) if status[u] == "flagged" and due[u] == t]
        exit_of = [price[a][t] for a in range(n_assets)]
        if vault is not None and settling and vault.equity_at(exit_of) > 0.0:
            marks_now = [mark[a][t] for a in range(n_assets)]
            for u in settling:  # 11.11: at k of the requirement the vault takes the unit
                live = [row for row in units[u] if qty[row] > 0.0]
                equity = math.fsum(
                    [coll[u]]
                    + [side[r] * qty[r] * (marks_now[asset_of[r]] - entry[r]) for r in live]
                )
                requirement = math.fsum(
                    reference_requirement(
                        qty[r] * marks_now[asset_of[r]],
                        float(rates[asset_of[r]][t]),
                        brackets,
                        base,
                    )
                    for r in live
                )
                notional = math.fsum(qty[r] * marks_now[asset_of[r]] for r in live)
                if vault.decide(equity, requirement, notional):
                    legs = [(asset_of[r], side[r], qty[r], entry[r]) for r in live]
                    vault.take_legs(legs, coll[u], marks_now, t, last)
                    status[u] = "taken"
            settling = [u for u in settling if status[u] == "flagged"]
        moves = [0.0] * n_assets
        if market is not None and settling:
            # 11.9: the order is sized at the price before impact, netted per asset
            net: list[list[float]] = [[] for _ in range(n_assets)]
            for u in settling:
                for row, closed in settle(u, t, exit_of, book_it=False).items():
                    net[asset_of[row]].append(-side[row] * closed)
            for a in range(n_assets):
                quantity = math.fsum(net[a])
                sign = 1.0 if quantity > 0.0 else -1.0
                impact = price_impact(price[a][t] * abs(quantity), market)
                exit_of[a] = price[a][t] * math.exp(sign * impact)
                moves[a] = sign * float(market.get("permanent_fraction", 0.0)) * impact
            generation = max(generation_of_step[flag_step[u]] for u in settling)
            if any(move != 0.0 for move in moves):
                impact_generation = max(impact_generation, generation)
        for u in settling:
            settle(u, t, exit_of, book_it=True)
        for a in range(n_assets):
            permanent[a] += moves[a]
        net_flow = math.fsum(to_fund[t]) - math.fsum(bad_at[t])
        if vault is not None:  # after the fund, the vault closes what is due (10.3)
            for key, amount in vault.close_due(t, [price[a][t] for a in range(n_assets)]).items():
                passed_by.setdefault(key, []).append(amount)
        if adl is None:
            continue
        cover = 0.0
        left = 0.0
        shortfall = -(fund + net_flow)
        passed = sum(math.fsum(v) for v in passed_by.values())
        if shortfall > 0.0 or passed > 0.0:
            at = t - 1 if adl == "hyperliquid" and t > 0 else t
            adl_price = [mark[a][at] for a in range(n_assets)]
            bad_total = sum(math.fsum(v) for v in bad_by.values())
            for a in range(n_assets):
                for bankrupt in (1.0, -1.0):
                    bad_side = math.fsum(bad_by.get((a, bankrupt), []))
                    need = shortfall * bad_side / bad_total if shortfall > 0.0 else 0.0
                    need += math.fsum(passed_by.get((a, bankrupt), []))
                    if not need > 0.0:
                        continue
                    got, rest = _adl_event(
                        adl,
                        a,
                        -bankrupt,
                        need,
                        adl_price,
                        units,
                        unit_of,
                        status,
                        qty,
                        coll,
                        side,
                        entry,
                        asset_of,
                        given,
                        gini_terms,
                    )
                    cover += got[0]
                    adl_notional += got[1]
                    adl_count += int(got[2])
                    left += rest
            for row, amount in enumerate(given):
                if amount > 0.0:
                    touched[unit_of[row]] = min(touched[unit_of[row]], t)
                    if len(units[unit_of[row]]) >= 2:
                        adl_weakened.add(unit_of[row])
        covered = (shortfall > 0.0 or passed > 0.0) and left == 0.0
        # ADL's cover fills the fund's own shortfall first, then the losses passed on
        to_fund_cover = min(cover, max(shortfall, 0.0)) if passed > 0.0 else cover
        fund += net_flow
        cumulative += net_flow
        required = max(required, -cumulative)
        if fund < 0.0:
            fund = 0.0 if covered else fund + to_fund_cover
            if fund < 0.0:
                socialized += -fund
                fund = 0.0
        if passed > 0.0 and not covered:
            socialized += max(0.0, passed - (cover - to_fund_cover))
        low = min(low, fund)
        peak = max(peak, fund)
        drawdown = max(drawdown, peak - fund)
    row_out = np.zeros(N_METRICS_ALL)
    row_out[METRIC_INDEX["n_liquidations"]] = sum(close[3] for close in closes)
    row_out[METRIC_INDEX["liquidated_notional"]] = math.fsum(c[0] for c in closes)
    row_out[METRIC_INDEX["bad_debt"]] = math.fsum(c[2] for c in closes)
    row_out[METRIC_INDEX["fees_to_fund"]] = math.fsum(
        (1.0 - liquidator_share) * c[1] for c in closes
    )
    row_out[METRIC_INDEX["fees_to_liquidators"]] = math.fsum(
        liquidator_share * c[1] for c in closes
    )
    if adl is None:
        walked = _fund_walk(
            [math.fsum(v) for v in to_fund], [math.fsum(v) for v in bad_at], fund_initial
        )
        walked["socialized_loss"] += math.fsum(passed_all)  # nothing covers it: socialized
        if vault is not None:
            walked["socialized_loss"] += vault.passed
    else:
        walked = {
            "fund_end": fund,
            "fund_min": low,
            "fund_max_drawdown": drawdown,
            "socialized_loss": socialized,
            "fund_required": required,
        }
        top1, top10 = _top_shares(given)
        gini_cover = math.fsum(c for c, _ in gini_terms)
        row_out[METRIC_INDEX["adl_notional"]] = adl_notional
        row_out[METRIC_INDEX["adl_count"]] = adl_count
        row_out[METRIC_INDEX["adl_top1_share"]] = top1
        row_out[METRIC_INDEX["adl_top10_share"]] = top10
        row_out[METRIC_INDEX["adl_gini"]] = (
            math.fsum(c * g for c, g in gini_terms) / gini_cover if gini_cover > 0.0 else 0.0
        )
    for name, value in walked.items():
        row_out[METRIC_INDEX[name]] = value
    if bound is not None:
        row_out[METRIC_INDEX["fund_passed_bad_debt"]] = math.fsum(passed_all)
    if vault is not None:
        for name, value in vault.columns().items():
            row_out[METRIC_INDEX[name]] = value
        if keys["gaps"] is not None:
            keys["gaps"].append(vault.gap)
    requirement_sum = math.fsum(requirement_terms)
    notional_sum = math.fsum(notional_terms)
    row_out[METRIC_INDEX["requirement_mean"]] = requirement_sum / n_points
    row_out[METRIC_INDEX["margin_rate_mean"]] = (
        requirement_sum / notional_sum if notional_sum > 0.0 else 0.0
    )
    if keys["procyclicality"]:  # docs/model.md 3.2 "With accounts", on this replay's marks
        columns, held_gap = reference_account_measures(
            rates,
            mark,
            units,
            book,
            [
                (close[4], float(close[3]), close[0])
                for close in closes
                if close[4] not in adl_weakened
            ],
            keys["procyclicality"],
            trigger is not None,
            lambda n, rate: reference_requirement(n, rate, brackets, base),
        )
        for name, value in columns.items():
            row_out[METRIC_INDEX[name]] = value
        if keys["held_gaps"] is not None:
            keys["held_gaps"].append(held_gap)
    return row_out, touched, depth


def _adl_event(
    policy: str,
    asset: int,
    covering: float,
    need: float,
    adl_price: list[float],
    units: list[list[int]],
    unit_of: dict[int, int],
    status: list[str],
    qty: list[float],
    coll: list[float],
    side: list[float],
    entry: list[float],
    asset_of: list[int],
    given: list[float],
    gini_terms: list[tuple[float, float]],
) -> tuple[tuple[float, float, float], float]:
    """One ADL event of 11.8: ``((cover, notional, count), need left)``."""
    price = adl_price[asset]
    candidates = []
    for row in range(len(qty)):
        if asset_of[row] != asset or side[row] != covering or qty[row] == 0.0:
            continue
        if status[unit_of[row]] != "armed":
            continue
        profit = side[row] * qty[row] * (price - entry[row])
        if profit > 0.0:
            candidates.append((row, profit))
    if not candidates:
        return (0.0, 0.0, 0.0), need

    def close_if_empty(u: int) -> None:
        if all(qty[r] == 0.0 for r in units[u]):
            status[u] = "closed"

    if policy == "pro_rata":
        total = math.fsum(profit for _, profit in candidates)
        f = 1.0 if need >= total else need / total
        cover = notional = 0.0
        for row, profit in candidates:
            u = unit_of[row]
            cover += f * profit
            given[row] += f * profit
            notional += qty[row] * f * price
            qty[row] = 0.0 if f >= 1.0 else qty[row] * (1.0 - f)
            if len(units[u]) == 1:
                coll[u] = 0.0 if f >= 1.0 else coll[u] * (1.0 - f)
            close_if_empty(u)
        gini_terms.append((cover, 0.0))
        return (cover, notional, float(len(candidates))), (need - total if f >= 1.0 else 0.0)
    scored = []
    for row, profit in candidates:
        u = unit_of[row]
        value = coll[u] + math.fsum(
            side[r] * qty[r] * (adl_price[asset_of[r]] - entry[r]) for r in units[u]
        )
        notional_row = qty[row] * price
        if value <= 0.0:
            score = math.inf
        elif policy == "hyperliquid":
            ratio = price / entry[row] if side[row] > 0 else entry[row] / price
            score = ratio * notional_row / value
        elif coll[u] == 0.0:
            score = math.inf
        else:
            score = ((value - coll[u]) / coll[u]) * (notional_row / value)
        scored.append((-score, row, profit))
    scored.sort(key=lambda item: (item[0], item[1]))
    left = need
    cover = notional = 0.0
    count = 0
    haircuts = [0.0] * len(scored)
    for rank, (_, row, profit) in enumerate(scored):
        if not left > 0.0:
            break
        taken = min(profit, left)
        left -= taken
        cover += taken
        given[row] += taken
        notional += qty[row] * price
        count += 1
        haircuts[rank] = taken / profit
        u = unit_of[row]
        qty[row] = 0.0
        coll[u] += profit - taken
        close_if_empty(u)
    gini_terms.append((cover, _gini(haircuts)))
    return (cover, notional, float(count)), max(0.0, left)
