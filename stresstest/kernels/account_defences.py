"""Partial liquidation and ADL for margin units over multi-asset paths (docs/model.md 11.8).

The replay of margin units (every open unit decided in the direct form
``E_u,t < R_u,t``) with the two defences of docs/model.md 10 stated for units of
several legs:

- **partial liquidation**: a flagged unit is settled at its close step
  ``tau`` by keeping the same fraction ``phi`` of every leg, the largest that
  leaves the equity at the marks (less the exit slippage) at the requirement plus
  the buffer ``b`` of the kept notional; re-armed when ``phi >= 1``, closed in full
  when the equity at the exits after the penalty is ``<= 0``;
- **ADL**: a step's bad debt is attributed to the closed legs in proportion to
  their losses at the exit, so to (asset, side); the shortfall is split in
  proportion, and each (asset, side) part is covered by the profitable legs of
  the opposite side of that asset in open units, ranked by the account's score
  (:func:`stresstest.kernels.adl.adl_score` with the unit's collateral and
  account value) or reduced ``pro_rata``.

Used by the engine only when a defence (docs/model.md 11.8-11.11: ``[partial_liquidation]``,
``[adl]``, ``[market]``, the predictive trigger, the fund's bound, ``[backstop]``) is on,
so the filtered kernel (:mod:`stresstest.kernels.cross`) and its outputs are untouched
otherwise; ADL's choice of legs is :mod:`stresstest.kernels.account_adl`'s. Which units
are checked at a step is :mod:`stresstest.kernels.account_watch`'s: units no
close or ADL has changed stay in the cross filter (11.5), changed ones are checked
directly; the due units are settled in unit order, so the results are the dense
replay's bit for bit. ``requirement_mean`` and ``margin_rate_mean`` are summed as the
plain kernel sums them (:func:`stresstest.kernels.cross.open_sums`): per asset from
the armed quantity of each asset, kept up to date as units are flagged (in unit
order), re-armed and deleveraged. Cost per path: the filter's ``O(T G)`` plus one
direct check per wake-up and per changed unit and step, ``O(A T)`` for the two sums
(``O(N T)`` with brackets, as the plain kernel), ``O(L)`` per flag or re-arm of a
unit of ``L`` legs, and per ADL event the profitable prefix of its (asset, side)
plus ``O(n L + k log n)`` for ``n`` candidates and ``k`` legs taken
(:mod:`stresstest.kernels.account_adl`);
memory ``O(N)`` per thread, never units x paths x steps.
"""

from __future__ import annotations

import numba
import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.account_adl import (
    ARMED,
    CLOSED,
    FLAGGED,
    TAKEN,
    Buckets,
    adl_buckets,
    adl_work,
    changed_units,
    deleverage_legs,
)
from stresstest.kernels.account_backstop import (
    account_vault_equity,
    account_vault_step,
    take_unit,
    unit_taken_over,
    vault_books,
)
from stresstest.kernels.account_close import (
    closed_share,
    execution_prices,
    kept_fraction,
    settle_terms,
)
from stresstest.kernels.account_fraction import (
    FRACTION_FULL,
    fraction_closes,
    settle_by_fraction,
    uses_fraction_rule,
)
from stresstest.kernels.account_predictive import (
    has_covariance,
    trigger_state_size,
    update_covariance,
)
from stresstest.kernels.account_stages import (
    has_oracle,
    has_vol_fee,
    stage_series,
    stage_step,
    trigger_shifts,
)
from stresstest.kernels.account_watch import (
    due_units,
    new_watch,
    watch_breaches,
    watch_changed,
    watch_directly,
)
from stresstest.kernels.adl import (
    FUND,
    fund_step,
    init_fund_state,
    top_shares,
    write_fund_state,
)
from stresstest.kernels.asset_rates import rate_state, step_rates
from stresstest.kernels.backstop import VAULT_PASSED, init_vault, settle_passed
from stresstest.kernels.cross import add_legs, book_quantities, open_sums
from stresstest.kernels.fund import (
    FLOW_BAD_DEBT,
    FLOW_FUND,
    FLOW_TO_FUND,
    N_FLOWS,
    N_TOTALS,
    record_close,
    record_grid,
    walk_fund,
    write_totals,
)
from stresstest.kernels.jit import kernel, parallel_kernel
from stresstest.kernels.margin import liquidation_terms, sqrt_horizon_of
from stresstest.kernels.procyclicality_accounts import (
    adl_changed,
    close_booked,
    close_sink,
    finish_accounts_measure,
    new_accounts_measure,
    track_book_rate,
)
from stresstest.kernels.waterfall_columns import write_vault_columns


@kernel
def leg_loss(
    position: int,
    step: int,
    prices: np.ndarray,
    slippage: float,
    pos_asset: np.ndarray,
    pos_side: np.ndarray,
    qty: np.ndarray,
    pos_entry: np.ndarray,
) -> float:
    """``max(0, -s q (x - e))``: a leg's loss at its exit at ``step`` (quote units)."""
    side = pos_side[position]
    exit_price = prices[pos_asset[position], step] * (1.0 - side * slippage)
    return float(max(0.0, -side * qty[position] * (exit_price - pos_entry[position])))


@kernel
def attribute_bad_debt(
    unit: int,
    step: int,
    prices: np.ndarray,
    slippage: float,
    bad: float,
    units: tuple[np.ndarray, ...],
    qty: np.ndarray,
    bad_by_asset: np.ndarray,
) -> None:
    """Add a unit's bad debt to ``bad_by_asset[a, j]`` (``j`` 0 long, 1 short), by leg loss.

    Each leg's share is its :func:`leg_loss` over the unit's total loss (positive
    whenever ``bad > 0``).
    """
    unit_start, pos_asset, pos_side, _, pos_entry, _ = units
    total = 0.0
    for position in range(unit_start[unit], unit_start[unit + 1]):
        total += leg_loss(position, step, prices, slippage, pos_asset, pos_side, qty, pos_entry)
    for position in range(unit_start[unit], unit_start[unit + 1]):
        loss = leg_loss(position, step, prices, slippage, pos_asset, pos_side, qty, pos_entry)
        if loss > 0.0:
            side = 0 if pos_side[position] > 0 else 1
            bad_by_asset[pos_asset[position], side] += bad * loss / total


@kernel
def settle_unit(
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
    totals: np.ndarray,
    flows: np.ndarray,
    bad_by_asset: np.ndarray,
    bound: float,
    passed_by_asset: np.ndarray,
) -> bool:
    """Settle a flagged unit at its close step; whether it stays open.

    ``buffer < 0``: no partial liquidation, the unit is closed in full
    (docs/model.md 11.3). Otherwise 11.8: re-armed (nothing closed), closed in full
    when ``A = E_x - F_x <= 0``, else every leg keeps the fraction ``phi`` of
    :func:`kept_fraction`, the closed part pays its penalty in full and
    ``c' = c + (1 - phi) (S_x - F_x)``. With ``bound >= 0`` (the fund's bound past
    bankruptcy, 10.4, 11.10) the bad debt beyond ``bound`` of the closed notional is
    taken off the fund's flow and added to ``passed_by_asset`` (by leg loss, as
    ``bad_by_asset`` gets the part the fund pays).
    """
    unit_start, pos_asset, pos_side, _, pos_entry, _ = units
    _, slippage, fee, share = liquidation_terms(liquidation)
    pnl, due, to_mark, notional = settle_terms(
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
    legs = 0.0
    for position in range(unit_start[unit], unit_start[unit + 1]):
        if qty[position] > 0.0:
            legs += 1.0
    remaining = collateral[unit] + pnl
    after_fee = remaining - due
    if buffer >= 0.0 and after_fee > 0.0:
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
        if kept >= 1.0:
            return True
        closed = 1.0 - kept
        record_close(totals, flows, step, legs, closed * notional, closed * due, 0.0, share)
        collateral[unit] += closed * (pnl - due)
        for position in range(unit_start[unit], unit_start[unit + 1]):
            qty[position] *= kept
        return True
    if remaining >= due:
        paid = due
    elif remaining >= 0.0:
        paid = remaining
    else:
        paid = 0.0
    bad = max(0.0, -remaining)
    record_close(totals, flows, step, legs, notional, paid, bad, share)
    beyond = 0.0
    if bound >= 0.0 and bad > 0.0:
        beyond = bad - min(bad, bound * notional)
        if beyond > 0.0:
            flows[FLOW_BAD_DEBT, step] -= beyond
            attribute_bad_debt(unit, step, prices, slippage, beyond, units, qty, passed_by_asset)
    if bad > beyond and bad_by_asset.shape[0] > 0:
        attribute_bad_debt(unit, step, prices, slippage, bad - beyond, units, qty, bad_by_asset)
    return False


@kernel
def defence_path(
    prices: np.ndarray,
    marks: np.ndarray,
    fee_rates: np.ndarray,
    params: np.ndarray,
    margin: np.ndarray,
    brackets: np.ndarray,
    liquidation: np.ndarray,
    units: tuple[np.ndarray, ...],
    watch_index: tuple[np.ndarray, ...],
    fund_initial: float,
    impact: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    flows: np.ndarray,
    out_row: np.ndarray,
    buckets: Buckets,
) -> int:
    """Replay the units over one path with the stages of ``params`` (11.8, 11.9).

    Arguments as :func:`stresstest.kernels.cross_dense.dense_cross_path` plus the
    ``N_MECH`` stage vector ``params`` (``MECH_PARTIAL``, ``MECH_BUFFER``,
    ``MECH_ADL``, the trigger and the impact law); ``units`` in the book's order;
    ``watch_index`` the cross filter over them
    (:func:`stresstest.book.cross_index.watch_index`; ``dense_watch_index`` puts
    every unit in the direct list). Within a step: the market prices, marks and
    penalty rates (with impact), the armed book is counted in the requirement (per
    asset, :func:`stresstest.kernels.cross.open_sums`) and the units within reach checked
    (:mod:`stresstest.kernels.account_watch`), the units due at the step are offered
    to the backstop vault (11.11) in unit order, the rest settled in unit order (with
    impact: first sized at the price before impact, their net quantity per asset sets
    each asset's execution price, and the permanent part moves that asset's later
    prices), then the vault closes its due cohorts and the ADL layer walks the fund.

    ``impact = (raw, execution, baseline, touched)``: with ``raw`` not empty (the
    path's prices before impact, ``(A, T + 1)``) the closes move prices, and
    ``prices``, ``marks`` and ``fee_rates`` are buffers this replay fills step by step
    (``marks`` may be ``prices``); ``execution`` is an ``(A, T + 1)`` buffer;
    ``baseline[u]`` is the step by which the replay without impact had flagged unit
    ``u`` or deleveraged one of its legs (``T + 1``: never). Without impact
    ``prices``, ``marks`` and ``fee_rates`` are the path's whole series; a ``touched``
    not empty (one slot per unit, ``T + 1``) receives those steps for a later replay
    with impact. Returns ``cascade_depth`` (0 without impact).
    """
    unit_start, pos_asset, pos_side, pos_qty, _, unit_collateral = units
    raw, execution, baseline, touched = impact
    n_assets, n_points = prices.shape
    last_step = n_points - 1
    latency, _, fee, _ = liquidation_terms(liquidation)
    sqrt_horizon = sqrt_horizon_of(margin)
    buffer = params[enums.MECH_BUFFER] if params[enums.MECH_PARTIAL] > 0.0 else -1.0
    # rule 'fraction' (11.8): each leg's closed quantity, and each unit's last partial close
    fraction_rule = uses_fraction_rule(params)
    closes = np.zeros(pos_asset.shape[0] if fraction_rule else 0)
    last_partial = np.full(unit_collateral.shape[0] if fraction_rule else 0, -1, dtype=np.int64)
    policy = int(params[enums.MECH_ADL])
    with_adl = policy != enums.ADL_NONE
    n_units = unit_collateral.shape[0]
    qty = pos_qty.copy()
    collateral = unit_collateral.copy()
    state = np.zeros(n_units, dtype=np.int64)
    due = np.zeros(n_units, dtype=np.int64)
    pos_unit = np.empty(pos_asset.shape[0], dtype=np.int64)
    for unit in range(n_units):
        pos_unit[unit_start[unit] : unit_start[unit + 1]] = unit
    rates_state, apc = rate_state(margin, n_assets)
    rates_now = np.empty(n_assets)
    # [procyclicality] (3.2), not in the baseline replay of [market] (touched not empty)
    measure = new_accounts_measure(margin, units, n_assets, touched.shape[0] == 0)
    predictive = int(params[enums.MECH_TRIGGER]) == enums.TRIGGER_PREDICTIVE
    vol_variance = np.full(n_assets, params[enums.MECH_VOL_V0])
    # z sigma_a,t sqrt(h) (log-price), then with units of several legs the covariance (11.8)
    shifts = np.zeros(trigger_state_size(n_assets, predictive, pos_asset.shape[0] > n_units))
    covariance = np.zeros((n_assets, n_assets) if has_covariance(shifts, n_assets) else (0, 0))
    fraction_inputs = (marks, fee_rates, rates_now, shifts, brackets, liquidation, params)
    fraction_state = (qty, collateral, last_partial, closes)
    totals = np.zeros(N_TOTALS)
    bad_by_asset = np.zeros((n_assets if with_adl else 0, 2))
    # The fund's bound past bankruptcy (10.4, 11.10): negative, no bound.
    with_bound = int(params[enums.MECH_FUND_BOUND]) != 0
    bound = params[enums.MECH_FUND_BOUND_FRACTION] if with_bound else -1.0
    # The backstop vault (10.3, 11.11): its state, what it holds by (asset, side), cohorts.
    with_backstop = int(params[enums.MECH_BACKSTOP]) != 0
    takeover_fraction = params[enums.MECH_BACKSTOP_FRACTION]
    hold = int(params[enums.MECH_BACKSTOP_HOLD])
    vault = init_vault(params[enums.MECH_BACKSTOP_CAPITAL])
    held, cohorts, counts = vault_books(
        n_assets if with_backstop else 0, n_points if with_backstop else 0
    )
    # Losses past the fund by (asset, side): the bound's (10.4) and the vault's (10.3).
    passed_by_asset = np.zeros((n_assets if with_bound or with_backstop else 0, 2))
    fund_passed = 0.0
    given = np.zeros(pos_asset.shape[0] if with_adl else 0)
    fund = init_fund_state(fund_initial)
    adl_prices = np.empty(n_assets)
    adl_notional = 0.0
    adl_count = 0.0
    gini_weighted = 0.0
    gini_cover = 0.0
    requirement_sum = 0.0
    notional_sum = 0.0
    # The armed quantity per asset (11.5): less a unit's legs when it is flagged, plus
    # its kept legs when it is re-armed, less what ADL takes.
    open_qty = book_quantities(pos_asset, pos_qty, n_assets)
    # Price impact (11.9): the permanent factor per asset and the stage recursions.
    with_impact = raw.shape[0] > 0
    exits = execution if with_impact else prices
    permanent = params[enums.MECH_PERMANENT]
    factor = np.ones(n_assets)
    ema_state = np.zeros(n_assets)
    fee_variance = np.full(n_assets, params[enums.MECH_VOL_V0])
    net = np.zeros(n_assets)
    direction = np.zeros(n_assets)
    step_impact = np.zeros(n_assets)
    first_flag = np.full(n_units, -1, dtype=np.int64)
    flagged_at = np.zeros(n_units, dtype=np.int64)
    flag_generation = np.zeros(n_points if with_impact else 0, dtype=np.int64)
    impact_generation = 0  # largest generation of the closes that moved a price so far
    depth = 0
    # Which units are checked (account_watch): untouched ones in the filter, changed ones
    # directly; the flagged units wait for their close step.
    watch = new_watch(n_units, n_assets, watch_index, not predictive)
    breached = np.empty(n_units, dtype=np.int64)
    flagged = np.empty(n_units, dtype=np.int64)
    n_flagged = 0
    # ADL's work arrays, once per path; qty_before and collateral_before are kept only
    # for the units an event changed (account_adl.remember_unit)
    work = adl_work(pos_asset.shape[0], n_units, buckets)
    qty_before, collateral_before = work[7], work[8]
    for step in range(n_points):
        if with_impact:
            stage_step(
                params,
                raw,
                step,
                factor,
                fee,
                prices,
                marks,
                fee_rates,
                ema_state,
                fee_variance,
            )
        step_rates(prices, step, rates_state, apc, sqrt_horizon, rates_now)
        track_book_rate(measure, step, rates_now)
        if predictive:
            trigger_shifts(params, prices, step, vol_variance, shifts)
            if covariance.shape[0] > 0:
                update_covariance(params, prices, step, vol_variance, covariance, shifts)
        requirement, notional = open_sums(
            step, marks, rates_now, brackets, unit_start, pos_asset, qty, state, open_qty
        )
        requirement_sum += requirement
        notional_sum += notional
        n_breached = watch_breaches(
            step,
            marks,
            rates_now,
            brackets,
            shifts,
            units,
            qty,
            collateral,
            watch_index,
            watch,
            state,
            breached,
        )
        caused = False
        # in unit order, so the armed quantities do not depend on the order of the checks
        if n_breached > 1:
            breached[:n_breached] = np.sort(breached[:n_breached])
        for slot in range(n_breached):
            unit = breached[slot]
            state[unit] = FLAGGED
            add_legs(unit, -1.0, unit_start, pos_asset, qty, open_qty)
            due[unit] = min(step + latency, last_step)
            flagged[n_flagged] = unit
            n_flagged += 1
            flagged_at[unit] = step
            if first_flag[unit] < 0:
                first_flag[unit] = step
                if with_impact and baseline[unit] > step:
                    caused = True
            if touched.shape[0] > 0 and touched[unit] > step:
                touched[unit] = step
        if caused:
            flag_generation[step] = impact_generation + 1
            depth = max(depth, impact_generation + 1)
        settling = due_units(step, flagged, due, n_flagged)
        n_flagged = settling[-1]
        settling = settling[:-1]
        if with_backstop:  # takeovers, before the market close is sized (10.3, 11.11)
            taking = account_vault_equity(vault, held, prices, step) > 0.0
            for unit in settling:  # in unit order (account_watch.due_units)
                if not taking or state[unit] != FLAGGED:
                    continue
                if unit_taken_over(
                    unit,
                    step,
                    marks,
                    rates_now,
                    brackets,
                    units,
                    qty,
                    collateral,
                    takeover_fraction,
                ):
                    take_unit(
                        unit, step, marks, units, qty, collateral, vault, held, cohorts, counts
                    )
                    state[unit] = TAKEN
        close_generation = 0
        if with_impact:
            net[:] = 0.0
            for unit in settling:
                if state[unit] != FLAGGED:
                    continue
                close_generation = max(close_generation, flag_generation[flagged_at[unit]])
                if fraction_rule:  # sized by the rule at the price before impact
                    fraction_closes(unit, step, prices, fraction_inputs, units, fraction_state)
                    for position in range(unit_start[unit], unit_start[unit + 1]):
                        net[pos_asset[position]] -= pos_side[position] * closes[position]
                    continue
                share = closed_share(
                    unit,
                    step,
                    prices,
                    marks,
                    fee_rates,
                    rates_now,
                    shifts,
                    brackets,
                    liquidation,
                    buffer,
                    units,
                    qty,
                    collateral,
                )
                for position in range(unit_start[unit], unit_start[unit + 1]):
                    net[pos_asset[position]] -= pos_side[position] * qty[position] * share
            execution_prices(params, step, prices, net, execution, direction, step_impact)
        for unit in settling:
            if state[unit] != FLAGGED:
                continue
            case = FRACTION_FULL
            sink = close_sink(measure, totals)  # totals, or the unit's close (3.2)
            if fraction_rule:  # 11.8's fraction rule; settle_unit closes what it closes whole
                case = settle_by_fraction(
                    unit, step, exits, fraction_inputs, units, fraction_state, sink, flows
                )
            stays = case != FRACTION_FULL
            if not stays:  # no fraction rule, or closed whole by it
                stays = settle_unit(
                    unit,
                    step,
                    exits,
                    marks,
                    fee_rates,
                    rates_now,
                    shifts,
                    brackets,
                    liquidation,
                    -1.0 if fraction_rule else buffer,
                    units,
                    qty,
                    collateral,
                    sink,
                    flows,
                    bad_by_asset,
                    bound,
                    passed_by_asset,
                )
            close_booked(measure, sink, totals, unit)
            state[unit] = ARMED if stays else CLOSED
            if stays:  # re-armed, perhaps with legs closed: checked directly from now on
                watch_directly(unit, watch)
                add_legs(unit, 1.0, unit_start, pos_asset, qty, open_qty)
        if with_impact:
            moved = False
            for asset in range(n_assets):
                if permanent * step_impact[asset] > 0.0:
                    factor[asset] *= np.exp(direction[asset] * permanent * step_impact[asset])
                    moved = True
            if moved:
                impact_generation = max(impact_generation, close_generation)
            step_impact[:] = 0.0
        passed = 0.0
        if with_bound:
            for asset in range(n_assets):
                passed += passed_by_asset[asset, 0] + passed_by_asset[asset, 1]
            fund_passed += passed
        if with_backstop:  # after the fund, the vault closes its due cohorts (10.3)
            passed += account_vault_step(
                vault, held, cohorts, counts, step, hold, prices, passed_by_asset
            )
        if not with_adl:
            passed_by_asset[:] = 0.0
            continue
        net_flow = flows[FLOW_TO_FUND, step] - flows[FLOW_BAD_DEBT, step]
        shortfall = -(fund[FUND] + net_flow)
        cover = 0.0
        left = 0.0
        if shortfall > 0.0 or passed > 0.0:
            previous = step - 1 if policy == enums.ADL_HYPERLIQUID and step > 0 else step
            for asset in range(n_assets):
                adl_prices[asset] = marks[asset, previous]
            bad_total = 0.0
            for asset in range(n_assets):
                bad_total += bad_by_asset[asset, 0] + bad_by_asset[asset, 1]
            for asset in range(n_assets):
                for bankrupt in range(2):  # longs went bankrupt: shorts cover, then the mirror
                    need = 0.0
                    if shortfall > 0.0 and bad_by_asset[asset, bankrupt] > 0.0:
                        need = shortfall * bad_by_asset[asset, bankrupt] / bad_total
                    if passed_by_asset.shape[0] > 0:
                        need += passed_by_asset[asset, bankrupt]
                    if not need > 0.0:
                        continue
                    got, need_left, notional, count, gini = deleverage_legs(
                        policy,
                        asset,
                        -1.0 if bankrupt == 0 else 1.0,
                        need,
                        adl_prices,
                        units,
                        pos_unit,
                        state,
                        qty,
                        collateral,
                        given,
                        buckets,
                        work,
                        step,
                    )
                    cover += got
                    left += need_left
                    adl_notional += notional
                    adl_count += count
                    gini_weighted += got * gini
                    gini_cover += got
            changed = changed_units(work)  # in unit order, so positions in book order
            adl_changed(measure, changed, unit_start)  # their closes leave the measure (3.2)
            watch_changed(
                changed, unit_start, qty_before, collateral_before, qty, collateral, state, watch
            )
            for unit in changed:  # what ADL took leaves the armed book
                for position in range(unit_start[unit], unit_start[unit + 1]):
                    if qty[position] != qty_before[position]:
                        open_qty[pos_asset[position]] -= qty_before[position] - qty[position]
            if passed > 0.0:
                fund_need = shortfall if shortfall > 0.0 else 0.0
                settle_passed(fund, net_flow, cover, fund_need, passed, left == 0.0)
            else:
                fund_step(fund, net_flow, cover, left == 0.0)
            if touched.shape[0] > 0:  # a deleveraged unit differs in the replay with impact
                for unit in changed:
                    for position in range(unit_start[unit], unit_start[unit + 1]):
                        if given[position] > 0.0 and touched[unit] > step:
                            touched[unit] = step
        else:
            fund_step(fund, net_flow, 0.0, False)
        flows[FLOW_FUND, step] = fund[FUND]
        bad_by_asset[:] = 0.0
        passed_by_asset[:] = 0.0
    write_totals(totals, out_row)
    out_row[enums.REQUIREMENT_MEAN] = requirement_sum / n_points
    out_row[enums.MARGIN_RATE_MEAN] = requirement_sum / notional_sum if notional_sum > 0.0 else 0.0
    finish_accounts_measure(measure, marks, brackets, units, predictive, out_row)
    if with_bound:
        out_row[enums.FUND_PASSED_BAD_DEBT] = fund_passed
    if with_backstop:
        write_vault_columns(out_row, vault)
    if not with_adl:
        walk_fund(flows, fund_initial, out_row)
        # nothing covers the losses past the fund's bound or the vault: socialized (10.3, 10.4)
        if with_bound:
            out_row[enums.SOCIALIZED_LOSS] += fund_passed
        if with_backstop:
            out_row[enums.SOCIALIZED_LOSS] += vault[VAULT_PASSED]
        return depth
    write_fund_state(fund, out_row)
    out_row[enums.ADL_NOTIONAL] = adl_notional
    out_row[enums.ADL_COUNT] = adl_count
    top1, top10 = top_shares(given, np.empty(0))
    out_row[enums.ADL_TOP1_SHARE] = top1
    out_row[enums.ADL_TOP10_SHARE] = top10
    out_row[enums.ADL_GINI] = gini_weighted / gini_cover if gini_cover > 0.0 else 0.0
    return depth


@parallel_kernel
def defence_replay_paths(
    prices: np.ndarray,
    params: np.ndarray,
    margin: np.ndarray,
    brackets: np.ndarray,
    liquidation: np.ndarray,
    units: tuple[np.ndarray, ...],
    watch_index: tuple[np.ndarray, ...],
    fund_initial: float,
    grid: np.ndarray,
    out: np.ndarray,
    grid_out: np.ndarray,
) -> None:
    """Replay every path of ``prices`` (paths x assets x (T + 1)); row i of ``out`` is path i.

    ``params`` is the full ``N_MECH`` stage vector (oracle, volatility-scaled
    penalty, partial liquidation, ADL, predictive trigger, impact). With an impact
    law each path is replayed twice, without impact first (its bad debt and the step
    each unit was first flagged or deleveraged are the baseline; every other stage
    stays on) and then with it; ``cascade_depth`` and ``impact_bad_debt`` are then
    written (``out`` at least ``N_METRICS_MARKET`` wide) and the grid records the
    first asset's price after impact. Each thread owns whole paths, so results do
    not depend on threads or chunks.
    """
    n_points = prices.shape[2]
    with_impact = int(params[enums.MECH_IMPACT]) != enums.IMPACT_NONE
    n_units = units[5].shape[0]
    no_prices = np.empty((0, 0))
    no_steps = np.empty(0, dtype=np.int64)
    with_adl = int(params[enums.MECH_ADL]) != enums.ADL_NONE
    buckets = adl_buckets(units, prices.shape[1], with_adl)  # once per call, shared
    for row in numba.prange(prices.shape[0]):
        flows = np.zeros((N_FLOWS, n_points))
        market = prices[row]
        marks, fee_rates = stage_series(params, market, liquidation[enums.LIQUIDATION_ARG_FEE])
        if with_impact:
            touched = np.full(n_units, n_points, dtype=np.int64)
            baseline_row = np.zeros(out.shape[1])
            defence_path(
                market,
                marks,
                fee_rates,
                params,
                margin,
                brackets,
                liquidation,
                units,
                watch_index,
                fund_initial,
                (no_prices, no_prices, no_steps, touched),
                np.zeros((N_FLOWS, n_points)),
                baseline_row,
                buckets,
            )
            impacted = np.empty_like(market)
            impacted_marks = np.empty_like(market) if has_oracle(params) else impacted
            impacted_fees = np.empty_like(market) if has_vol_fee(params) else np.empty((0, 0))
            depth = defence_path(
                impacted,
                impacted_marks,
                impacted_fees,
                params,
                margin,
                brackets,
                liquidation,
                units,
                watch_index,
                fund_initial,
                (market, np.empty_like(market), touched, no_steps),
                flows,
                out[row],
                buckets,
            )
            out[row, enums.CASCADE_DEPTH] = depth
            out[row, enums.IMPACT_BAD_DEBT] = (
                out[row, enums.BAD_DEBT] - baseline_row[enums.BAD_DEBT]
            )
            first_asset = impacted[0]
        else:
            defence_path(
                market,
                marks,
                fee_rates,
                params,
                margin,
                brackets,
                liquidation,
                units,
                watch_index,
                fund_initial,
                (no_prices, no_prices, no_steps, no_steps),
                flows,
                out[row],
                buckets,
            )
            first_asset = market[0]
        if grid.shape[0] > 0:
            record_grid(first_asset, flows, grid, grid_out[row])
