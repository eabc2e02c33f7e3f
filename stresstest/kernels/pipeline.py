"""The per-path stage pipeline of a single-asset book (docs/model.md 12).

One loop per path; within a step the stages run in the order of docs/model.md 12:

1. **market price**: ``P~_t = P_t M_t`` with the permanent impact ``M_t`` of
   earlier closes (9.0, 9.4);
2. **oracle / mark**: ``O_t`` (lag, ema or twap, times a manipulation factor; 9.1);
3. **breach series**: ``S_t = O_t (1 - m_t)`` for longs (``O_t (1 + m_t)`` for
   shorts; ``m_t`` with the APC options of 3.1 when on, the core engine's
   ``apc_rate`` step by step), or the predictive ``O_t exp(-+ z sigma_t sqrt(h))`` (9.3);
4. **flag**: a new running extreme of ``S_t`` flags one contiguous range of the
   sorted book (4.1), found by binary search;
5. **close queue**: the ranges flagged at ``s`` close at ``min(s + L, T)``; all
   closes of a step execute together at one execution price (slippage, and with
   ``[market]`` the impact of their net quantity, 9.4); in full, or with
   ``[partial_liquidation]`` down to the target at the mark (10.1: segments,
   cohorts and a close queue of :mod:`stresstest.kernels.partial`);
6. **penalty**: flat or volatility-scaled (9.2), split with the liquidator;
7. **loss waterfall**: the insurance fund takes the step's fees and bad debt
   (with ``pays_past_bankruptcy`` only up to its bound per close, 10.4); then the
   backstop vault closes its due cohorts (10.3; its takeovers are decided in the
   close stage, at the mark, before the market close); the fund's shortfall and the
   losses past it (the vault's beyond its capital, bad debt beyond the bound) are
   covered with ``[adl]`` from the profit of opposite positions by the ADL policy,
   at the mark ``O_t`` (``O_{t-1}`` for ``hyperliquid``; 10.2); what is left is
   socialized (5).

A stage whose setting is off takes its neutral branch: ``O_t = P~_t``, no
impact, full closes, no ADL, no vault, no bound. The breach stays a threshold on one per-path series
and each close a range of the sorted book (or a cohort), so a path costs
``O(T + B log N)`` for ``B`` flag events, plus the ADL events (10.2), or
``O(T (S + K) + B log N)`` with partial liquidation. With partial liquidation
the per-path loop is :func:`stresstest.kernels.pipeline_partial.partial_pipeline_path`:
the same stages in the same order, its flag and close stages on segments,
cohorts and close queues (a loop of its own so that the loop without it keeps
its speed). A book with every stage off runs in the core kernel
:mod:`stresstest.kernels.replay`, whose results this pipeline reproduces bit for
bit with every stage off (tests/test_mechanics_reference.py); with ``[procyclicality]``
its columns too (:mod:`stresstest.kernels.procyclicality_staged`, 3.2).
"""

from __future__ import annotations

import numba
import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.adl import (
    FUND,
    FUND_SOCIALIZED,
    N_REMOVED,
    fund_step,
    init_fund_state,
    open_count,
    open_quantity,
    write_fund_state,
)
from stresstest.kernels.adl_index import (
    AdlIndex,
    AdlWork,
    build_static,
    leaf_base,
    new_work,
    restore_side,
)
from stresstest.kernels.adl_sides import deleverage_both_sides
from stresstest.kernels.backstop import (
    N_COHORT,
    close_bounded,
    init_vault,
    settle_passed,
    take_over,
    takeover_splits,
    vault_equity,
    vault_step,
)
from stresstest.kernels.fund import (
    FLOW_BAD_DEBT,
    FLOW_FUND,
    FLOW_TO_FUND,
    N_FLOWS,
    N_TOTALS,
    record_close,
    record_grid,
    write_totals,
)
from stresstest.kernels.jit import kernel, parallel_kernel
from stresstest.kernels.margin import (
    apc_state,
    ewma_variance,
    has_apc,
    liquidation_terms,
    next_variance,
    posted_rate,
    sqrt_horizon_of,
)
from stresstest.kernels.mechanics import (
    flag_steps_closing_at,
    manipulation_factor,
    oracle_price,
    penalty_rate,
    relative_impact,
)
from stresstest.kernels.partial import N_COH
from stresstest.kernels.partial_adl import PartialAdlWork, new_partial_work
from stresstest.kernels.procyclicality import track_rate, write_procyclicality
from stresstest.kernels.procyclicality_partial import measured_partial_path
from stresstest.kernels.procyclicality_staged import (
    new_measures,
    record_market_closes,
    tally_market_closes,
)
from stresstest.kernels.search import first_greater, first_not_less
from stresstest.kernels.waterfall_columns import write_waterfall_columns


@kernel
def pipeline_path(
    prices: np.ndarray,
    margin: np.ndarray,
    liquidation: np.ndarray,
    params: np.ndarray,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    long_positions: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
    short_positions: np.ndarray,
    fund_initial: float,
    with_impact: bool,
    baseline_long_from: np.ndarray,
    baseline_short_to: np.ndarray,
    long_from_at: np.ndarray,
    short_to_at: np.ndarray,
    market: np.ndarray,
    flows: np.ndarray,
    out_row: np.ndarray,
    long_index: AdlIndex,
    long_work: AdlWork,
    short_index: AdlIndex,
    short_work: AdlWork,
    heap_keys: np.ndarray,
    heap_tags: np.ndarray,
    long_partial: PartialAdlWork,
    short_partial: PartialAdlWork,
) -> int:
    """Replay the sorted book over one path through every stage of ``params``.

    ``prices`` are the path's prices ``P_0..P_T`` before impact; ``params`` the
    ``N_MECH`` stage vector (engine.mechanics.mechanics_vector). ``*_positions``
    are ``(3, n)`` rows ``q``, ``e``, ``c`` of each side in the sorted order when
    ``params[MECH_ADL]`` is on (any shape otherwise). On return ``market`` holds
    the market prices after permanent impact, ``flows`` (zeroed ``(N_FLOWS, T +
    1)``) the per-step closes and fund, and ``long_from_at[t]`` /
    ``short_to_at[t]`` the flagged ranges after step t (longs ``[long_from_at[t],
    n_long)``, shorts ``[0, short_to_at[t])``).

    With ``with_impact`` the closes move prices, and a flag at step t is caused by
    impact when it flags an open position beyond ``baseline_long_from[t]`` /
    ``baseline_short_to[t]`` (the range the same path replayed without impact had
    crossed by t). Returns the cascade depth: the
    largest generation of such flags (0 without impact). ``out_row`` has
    ``N_METRICS_ALL`` slots; the ADL columns are written only with ADL on.
    ``*_index`` / ``*_work`` are each side's ADL index
    (:func:`stresstest.kernels.adl_index.build_static`) and the thread's working
    state (:func:`stresstest.kernels.adl_index.new_work`), ``heap_*`` the
    selection heap; the path leaves the working state as it found it.
    ``*_partial`` (:func:`stresstest.kernels.partial_adl.new_partial_work`) are
    only passed on to :func:`stresstest.kernels.adl_sides.deleverage_both_sides`,
    which reads them with partial liquidation alone.
    """
    n_points = prices.shape[0]
    last_step = n_points - 1
    n_long = long_threshold.shape[0]
    n_short = short_threshold.shape[0]
    latency_steps, slippage, fee, liquidator_share = liquidation_terms(liquidation)
    sqrt_horizon = sqrt_horizon_of(margin)
    predictive = int(params[enums.MECH_TRIGGER]) == enums.TRIGGER_PREDICTIVE
    with_adl = int(params[enums.MECH_ADL]) != enums.ADL_NONE
    shift_per_sigma = params[enums.MECH_TRIGGER_Z] * params[enums.MECH_TRIGGER_SQRT_H]
    ema_weight = params[enums.MECH_ORACLE_EMA]
    vol_lambda = params[enums.MECH_VOL_LAMBDA]
    permanent = params[enums.MECH_PERMANENT]
    long_from = n_long
    short_to = 0
    running_min = np.inf
    running_max = -np.inf
    variance = margin[enums.MARGIN_ARG_INITIAL_VARIANCE]
    apc = has_apc(margin)  # the APC options (3.1): m_t carries a state of its own
    apc_margin = apc_state()
    # [procyclicality] (3.2): the rates' tally, the marks and the market closes by flag step
    tally, ring, marks, market_closes = new_measures(margin, n_points, n_long)
    measured = marks.shape[0] > 0
    vol_variance = params[enums.MECH_VOL_V0]
    ema_state = 0.0
    factor = 1.0  # permanent impact so far: market price = factor * P_t
    impact_generation = 0  # largest generation of the closes that moved the price so far
    depth = 0
    flag_generation = np.zeros(n_points, dtype=np.int64)
    # ADL removal state (docs/model.md 10.2): a single column means nothing removed yet.
    long_removed = np.zeros((N_REMOVED, 1))
    short_removed = np.zeros((N_REMOVED, 1))
    no_cohorts = np.zeros((0, N_COH))  # ADL without partial liquidation reads no cohort
    adl_policy = int(params[enums.MECH_ADL])
    adl_notional = 0.0
    adl_count = 0.0
    gini_weighted = 0.0  # sum over ADL events of cover x Gini
    gini_cover = 0.0  # sum of their covers
    previous_oracle = 0.0
    open_qty = open_quantity(long_prefix, long_removed, 0, n_long) + open_quantity(
        short_prefix, short_removed, 0, n_short
    )
    requirement_sum = 0.0
    open_notional_sum = 0.0
    totals = np.zeros(N_TOTALS)
    state = init_fund_state(fund_initial)
    # Backstop vault (10.3) and the fund's bound past bankruptcy (10.4).
    with_backstop = int(params[enums.MECH_BACKSTOP]) != 0
    takeover_fraction = params[enums.MECH_BACKSTOP_FRACTION]
    hold = int(params[enums.MECH_BACKSTOP_HOLD])
    vault = init_vault(params[enums.MECH_BACKSTOP_CAPITAL])
    cohorts = np.zeros((N_COHORT, n_points if with_backstop else 0))
    with_bound = int(params[enums.MECH_FUND_BOUND]) != 0
    bound = params[enums.MECH_FUND_BOUND_FRACTION] if with_bound else -1.0  # negative: no bound
    fund_passed = 0.0
    for step in range(n_points):
        # Market price, volatility and oracle.
        price = prices[step] * factor
        market[step] = price
        if step >= 1:
            variance = next_variance(margin, variance, price, market[step - 1])
            vol_variance = ewma_variance(vol_variance, price, market[step - 1], vol_lambda)
            ema_state = ema_weight * ema_state + (1.0 - ema_weight) * price
        else:
            ema_state = price
        oracle = oracle_price(params, market, step, ema_state) * manipulation_factor(params, step)
        # ADL's price: the mark, or with `hyperliquid` the previous step's (O_0 at t = 0).
        adl_price = oracle
        if adl_policy == enums.ADL_HYPERLIQUID and step >= 1:
            adl_price = previous_oracle
        previous_oracle = oracle
        # Breach series.
        rate = posted_rate(margin, sqrt_horizon, variance, apc, apc_margin)
        if measured:
            track_rate(tally, ring, step, rate)
            marks[step] = oracle
        if predictive:
            shift = shift_per_sigma * np.sqrt(vol_variance)
            long_series = oracle * np.exp(-shift)
            short_series = oracle * np.exp(shift)
        else:
            long_series = oracle * (1.0 - rate)
            short_series = oracle * (1.0 + rate)
        open_notional = oracle * open_qty
        requirement_sum += rate * open_notional
        open_notional_sum += open_notional
        # Flag.
        generation = 0
        if long_series < running_min:
            running_min = long_series
            start = first_greater(long_threshold, long_series, 0, long_from)
            if start < long_from:
                open_qty -= open_quantity(long_prefix, long_removed, start, long_from)
                if with_impact and start < baseline_long_from[step]:
                    beyond = min(long_from, baseline_long_from[step])
                    if open_count(long_prefix, long_removed, start, beyond) > 0.0:
                        generation = impact_generation + 1
                long_from = start
        if short_series > running_max:
            running_max = short_series
            stop = first_not_less(short_threshold, short_series, short_to, n_short)
            if stop > short_to:
                open_qty -= open_quantity(short_prefix, short_removed, short_to, stop)
                if with_impact and stop > baseline_short_to[step]:
                    beyond = max(short_to, baseline_short_to[step])
                    if open_count(short_prefix, short_removed, beyond, stop) > 0.0:
                        generation = impact_generation + 1
                short_to = stop
        long_from_at[step] = long_from
        short_to_at[step] = short_to
        flag_generation[step] = generation
        depth = max(depth, generation)
        # Close queue and penalty: the flags of steps [first, last], adjacent ranges.
        bad_long = 0.0
        bad_short = 0.0
        passed_long = 0.0  # losses past the fund this step: longs' (covered by shorts)
        passed_short = 0.0
        first, last = flag_steps_closing_at(step, last_step, latency_steps)
        if last >= 0:
            closing_from = long_from_at[last]
            closing_long_to = long_from_at[first - 1] if first >= 1 else n_long
            closing_short_from = short_to_at[first - 1] if first >= 1 else 0
            closing_to = short_to_at[last]
            if closing_from < closing_long_to or closing_short_from < closing_to:
                # Takeovers (10.3): longs [long_split, closing_long_to), shorts
                # [closing_short_from, short_split) go to the vault, not the market.
                long_split = closing_long_to
                short_split = closing_short_from
                if with_backstop and vault_equity(vault, price) > 0.0:
                    long_split, short_split = takeover_splits(
                        long_threshold,
                        short_threshold,
                        closing_from,
                        closing_long_to,
                        closing_short_from,
                        closing_to,
                        oracle,
                        rate,
                        takeover_fraction,
                    )
                    take_over(
                        vault,
                        cohorts,
                        step,
                        1,
                        long_prefix,
                        long_removed,
                        long_split,
                        closing_long_to,
                        oracle,
                    )
                    take_over(
                        vault,
                        cohorts,
                        step,
                        -1,
                        short_prefix,
                        short_removed,
                        closing_short_from,
                        short_split,
                        oracle,
                    )
                execution = price
                impact = 0.0
                direction = 0.0
                if with_impact:
                    sold = open_quantity(long_prefix, long_removed, closing_from, long_split)
                    bought = open_quantity(short_prefix, short_removed, short_split, closing_to)
                    net = bought - sold
                    direction = 1.0 if net > 0.0 else -1.0
                    impact = relative_impact(params, price * abs(net))
                    execution = price * np.exp(direction * impact)
                rate_paid = penalty_rate(params, fee, vol_variance)
                long_exit = execution * (1.0 - slippage)
                short_exit = execution * (1.0 + slippage)
                close_generation = 0
                for flag_step in range(first, last + 1):
                    close_generation = max(close_generation, flag_generation[flag_step])
                    upper = long_from_at[flag_step - 1] if flag_step >= 1 else n_long
                    lower = short_to_at[flag_step - 1] if flag_step >= 1 else 0
                    upper = min(upper, long_split)
                    lower = max(lower, short_split)
                    if measured:
                        record_market_closes(
                            market_closes, flag_step, upper, long_exit, lower, short_exit
                        )
                    if long_from_at[flag_step] < upper:
                        count, notional, paid, bad, beyond = close_bounded(
                            1,
                            long_threshold,
                            long_prefix,
                            long_removed,
                            long_from_at[flag_step],
                            upper,
                            long_exit,
                            rate_paid,
                            bound,
                        )
                        record_close(
                            totals, flows, step, count, notional, paid, bad, liquidator_share
                        )
                        bad_long += bad
                        if beyond > 0.0:
                            flows[FLOW_BAD_DEBT, step] -= beyond
                            passed_long += beyond
                    if short_to_at[flag_step] > lower:
                        count, notional, paid, bad, beyond = close_bounded(
                            -1,
                            short_threshold,
                            short_prefix,
                            short_removed,
                            lower,
                            short_to_at[flag_step],
                            short_exit,
                            rate_paid,
                            bound,
                        )
                        record_close(
                            totals, flows, step, count, notional, paid, bad, liquidator_share
                        )
                        bad_short += bad
                        if beyond > 0.0:
                            flows[FLOW_BAD_DEBT, step] -= beyond
                            passed_short += beyond
                if permanent * impact > 0.0:
                    factor *= np.exp(direction * permanent * impact)
                    impact_generation = max(impact_generation, close_generation)
        # Loss waterfall: the step's flows are final (later flags close at later steps).
        # Fund first, then the vault (10.3); what is past both goes to ADL, then socialized.
        fund_passed += passed_long + passed_short
        bad_long -= passed_long  # the bad debt that reached the fund, by side
        bad_short -= passed_short
        if with_backstop:
            vault_long, vault_short = vault_step(vault, cohorts, step, last_step, hold, price)
            passed_long += vault_long
            passed_short += vault_short
        passed = passed_long + passed_short
        net = flows[FLOW_TO_FUND, step] - flows[FLOW_BAD_DEBT, step]
        shortfall = -(state[FUND] + net)
        fund_need = shortfall if shortfall > 0.0 else 0.0
        need_long = passed_long  # longs' losses, covered by shorts
        need_short = passed_short
        if fund_need > 0.0:
            need_long += shortfall * bad_long / (bad_long + bad_short)
            need_short += shortfall * bad_short / (bad_long + bad_short)
        if with_adl and need_long + need_short > 0.0:
            (
                cover,
                left,
                adl_notional,
                adl_count,
                gini_weighted,
                gini_cover,
                open_qty,
                long_removed,
                short_removed,
            ) = deleverage_both_sides(
                False,
                adl_policy,
                need_long,
                need_short,
                adl_price,
                step,
                long_threshold,
                long_positions,
                long_from,
                no_cohorts,
                0,
                long_index,
                long_work,
                long_partial,
                long_removed,
                short_threshold,
                short_positions,
                short_to,
                no_cohorts,
                0,
                short_index,
                short_work,
                short_partial,
                short_removed,
                heap_keys,
                heap_tags,
                adl_notional,
                adl_count,
                gini_weighted,
                gini_cover,
                open_qty,
            )
            if passed > 0.0:
                settle_passed(state, net, cover, fund_need, passed, left == 0.0)
            else:
                fund_step(state, net, cover, left == 0.0)
        else:
            fund_step(state, net, 0.0, False)
            state[FUND_SOCIALIZED] += passed
        flows[FLOW_FUND, step] = state[FUND]
    write_totals(totals, out_row)
    out_row[enums.REQUIREMENT_MEAN] = requirement_sum / n_points
    out_row[enums.MARGIN_RATE_MEAN] = (
        requirement_sum / open_notional_sum if open_notional_sum > 0.0 else 0.0
    )
    write_fund_state(state, out_row)
    if measured:  # the predictive breach does not read m_t: m_0 held flags the same
        tally_market_closes(
            tally,
            marks if not predictive else marks[:0],
            market_closes,
            (long_threshold, long_prefix, long_removed, long_from_at),
            (short_threshold, short_prefix, short_removed, short_to_at),
        )
        write_procyclicality(tally, out_row)
    write_waterfall_columns(
        out_row,
        with_adl,
        adl_notional,
        adl_count,
        gini_weighted,
        gini_cover,
        long_work,
        short_work,
        with_backstop,
        vault,
        with_bound,
        fund_passed,
    )
    if with_adl:
        ranked = adl_policy != enums.ADL_PRO_RATA
        restore_side(ranked, long_index, long_work)
        restore_side(ranked, short_index, short_work)
    return depth


@kernel
def _replay_path(
    prices: np.ndarray,
    margin: np.ndarray,
    liquidation: np.ndarray,
    params: np.ndarray,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    long_positions: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
    short_positions: np.ndarray,
    fund_initial: float,
    with_impact: bool,
    baseline_long_from: np.ndarray,
    baseline_short_to: np.ndarray,
    long_from_at: np.ndarray,
    short_to_at: np.ndarray,
    market: np.ndarray,
    flows: np.ndarray,
    out_row: np.ndarray,
    long_index: AdlIndex,
    long_work: AdlWork,
    short_index: AdlIndex,
    short_work: AdlWork,
    heap_keys: np.ndarray,
    heap_tags: np.ndarray,
    long_partial: PartialAdlWork,
    short_partial: PartialAdlWork,
) -> int:
    """:func:`pipeline_path`, or with partial liquidation on its loop (docs/model.md 10.1).

    ``*_partial`` are each side's per-position state for ADL with partial
    liquidation (:func:`stresstest.kernels.partial_adl.new_partial_work`).
    """
    if int(params[enums.MECH_PARTIAL]) != 0:
        return measured_partial_path(
            prices,
            margin,
            liquidation,
            params,
            long_threshold,
            long_prefix,
            long_positions,
            short_threshold,
            short_prefix,
            short_positions,
            fund_initial,
            with_impact,
            baseline_long_from,
            baseline_short_to,
            long_from_at,
            short_to_at,
            market,
            flows,
            out_row,
            long_index,
            long_work,
            short_index,
            short_work,
            heap_keys,
            heap_tags,
            long_partial,
            short_partial,
        )
    return pipeline_path(
        prices,
        margin,
        liquidation,
        params,
        long_threshold,
        long_prefix,
        long_positions,
        short_threshold,
        short_prefix,
        short_positions,
        fund_initial,
        with_impact,
        baseline_long_from,
        baseline_short_to,
        long_from_at,
        short_to_at,
        market,
        flows,
        out_row,
        long_index,
        long_work,
        short_index,
        short_work,
        heap_keys,
        heap_tags,
        long_partial,
        short_partial,
    )


@parallel_kernel
def _pipeline_blocks(
    prices: np.ndarray,
    margin: np.ndarray,
    liquidation: np.ndarray,
    params: np.ndarray,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    long_positions: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
    short_positions: np.ndarray,
    fund_initial: float,
    grid: np.ndarray,
    out: np.ndarray,
    grid_out: np.ndarray,
    n_blocks: int,
) -> None:
    """:func:`pipeline_paths` over ``n_blocks`` blocks of rows (row i in block i % n_blocks).

    Each block allocates ADL's working state once; results do not depend on
    ``n_blocks``.
    """
    n_points = prices.shape[1]
    n_rows = prices.shape[0]
    with_impact = int(params[enums.MECH_IMPACT]) != enums.IMPACT_NONE
    # with_impact goes to _replay_path as a run-time bool: a literal compiles it twice
    # ADL's index is built once per call (docs/model.md 10.2), its working state once
    # per block of rows; every path restores what it touched, so the results do not
    # depend on the number of blocks (threads).
    with_adl = int(params[enums.MECH_ADL]) != enums.ADL_NONE
    ranked = with_adl and int(params[enums.MECH_ADL]) != enums.ADL_PRO_RATA
    long_index = build_static(long_positions if ranked else np.empty((3, 0)))
    short_index = build_static(short_positions if ranked else np.empty((3, 0)))
    n_long = long_positions.shape[1] if with_adl else 0
    n_short = short_positions.shape[1] if with_adl else 0
    heap_size = 2 * max(leaf_base(n_long), leaf_base(n_short)) + max(n_long, n_short) + 2
    if not ranked:
        heap_size = 0
    # With partial liquidation, ADL reads each position's state after partial closes.
    with_partial = with_adl and int(params[enums.MECH_PARTIAL]) != 0
    long_levels = long_threshold if with_partial else long_threshold[:0]
    short_levels = short_threshold if with_partial else short_threshold[:0]
    for block in numba.prange(n_blocks):
        long_work = new_work(n_long, long_index[0])
        short_work = new_work(n_short, short_index[0])
        long_partial = new_partial_work(long_levels)
        short_partial = new_partial_work(short_levels)
        heap_keys = np.empty(heap_size)
        heap_tags = np.empty(heap_size, dtype=np.int64)
        for row in range(block, n_rows, n_blocks):
            flows = np.zeros((N_FLOWS, n_points))
            market = np.empty(n_points)
            long_from_at = np.empty(n_points, dtype=np.int64)
            short_to_at = np.empty(n_points, dtype=np.int64)
            if with_impact:
                baseline_row = np.zeros(enums.N_METRICS_ALL)
                baseline_long_from = np.empty(n_points, dtype=np.int64)
                baseline_short_to = np.empty(n_points, dtype=np.int64)
                _replay_path(
                    prices[row],
                    margin,
                    liquidation,
                    params,
                    long_threshold,
                    long_prefix,
                    long_positions,
                    short_threshold,
                    short_prefix,
                    short_positions,
                    fund_initial,
                    not with_impact,  # False, as a run-time bool (above)
                    baseline_long_from,
                    baseline_short_to,
                    baseline_long_from,
                    baseline_short_to,
                    market,
                    np.zeros((N_FLOWS, n_points)),
                    baseline_row,
                    long_index,
                    long_work,
                    short_index,
                    short_work,
                    heap_keys,
                    heap_tags,
                    long_partial,
                    short_partial,
                )
                depth = _replay_path(
                    prices[row],
                    margin,
                    liquidation,
                    params,
                    long_threshold,
                    long_prefix,
                    long_positions,
                    short_threshold,
                    short_prefix,
                    short_positions,
                    fund_initial,
                    with_impact,  # True
                    baseline_long_from,
                    baseline_short_to,
                    long_from_at,
                    short_to_at,
                    market,
                    flows,
                    out[row],
                    long_index,
                    long_work,
                    short_index,
                    short_work,
                    heap_keys,
                    heap_tags,
                    long_partial,
                    short_partial,
                )
                out[row, enums.CASCADE_DEPTH] = depth
                out[row, enums.IMPACT_BAD_DEBT] = (
                    out[row, enums.BAD_DEBT] - baseline_row[enums.BAD_DEBT]
                )
            else:
                _replay_path(
                    prices[row],
                    margin,
                    liquidation,
                    params,
                    long_threshold,
                    long_prefix,
                    long_positions,
                    short_threshold,
                    short_prefix,
                    short_positions,
                    fund_initial,
                    with_impact,  # False
                    long_from_at,
                    short_to_at,
                    long_from_at,
                    short_to_at,
                    market,
                    flows,
                    out[row],
                    long_index,
                    long_work,
                    short_index,
                    short_work,
                    heap_keys,
                    heap_tags,
                    long_partial,
                    short_partial,
                )
            if grid.shape[0] > 0:
                record_grid(market, flows, grid, grid_out[row])


def pipeline_paths(
    prices: np.ndarray,
    margin: np.ndarray,
    liquidation: np.ndarray,
    params: np.ndarray,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    long_positions: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
    short_positions: np.ndarray,
    fund_initial: float,
    grid: np.ndarray,
    out: np.ndarray,
    grid_out: np.ndarray,
) -> None:
    """Replay every row of ``prices`` through the stages of ``params`` (``N_MECH`` slots).

    Arguments as :func:`pipeline_path` and :func:`stresstest.kernels.replay.replay_paths`;
    ``out`` has ``N_METRICS_ALL`` columns (or at least those of the stages on).
    With an impact law each path is replayed twice, without impact first (its
    flagged ranges and bad debt are the baseline; every other stage stays on) and
    then with it; ``cascade_depth`` and ``impact_bad_debt`` are then written. The
    grid records the market price after impact. Each thread owns whole paths.
    Rows are split into one block per thread (numba's current thread count); each
    block keeps ADL's working state (docs/model.md 10.2) and restores it after each
    path, so the results are the same for any thread count.
    """
    n_blocks = max(1, min(prices.shape[0], numba.get_num_threads()))
    _pipeline_blocks(
        prices,
        margin,
        liquidation,
        params,
        long_threshold,
        long_prefix,
        long_positions,
        short_threshold,
        short_prefix,
        short_positions,
        fund_initial,
        grid,
        out,
        grid_out,
        n_blocks,
    )
