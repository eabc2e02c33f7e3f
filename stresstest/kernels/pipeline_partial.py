"""The stage pipeline's per-path loop with partial liquidation as its close rule.

docs/model.md 10.1 and 12. The stages and their order are those of
:func:`stresstest.kernels.pipeline.pipeline_path`: market price (with the
permanent impact of earlier closes), oracle, breach series (maintenance or
predictive), flag, close queue (execution price with slippage and impact),
penalty (flat or volatility-scaled) and the loss waterfall: the insurance fund,
with ``pays_past_bankruptcy`` its bound per full close (10.4), and the backstop
vault (10.3), whose takeovers leave the close queue before the market close (a
range of the sorted book cut by binary search, a cohort whole); what passes the
fund and the vault is covered by ADL (10.2) and then socialized. With ADL each
position the partial stage touches has its own state for ADL
(:mod:`stresstest.kernels.partial_adl`): its quantity and collateral after partial
closes, and ADL's closes come off the range sums (the removal trees) and cohorts
the partial stage reads. The
flag and close stages work on the segments, cohorts and close queues of
:mod:`stresstest.kernels.partial`: a flag queues ranges of the sorted book and
cohorts, and at its close step each is re-armed, closed in full or closed down to
the target at the mark; with ``rule = "fraction"`` (``MECH_PARTIAL_RULE``) by
:mod:`stresstest.kernels.partial_rules` instead: a fixed share, a cool-down and a
notional threshold, each remainder a cohort row of its own (with ADL, its own
state too: :mod:`stresstest.kernels.partial_fraction_adl`). With ``[market]`` the
due closes are first sized at the price before impact; their net quantity sets
the step's impact. The loop is its own function so that the loop without partial
liquidation keeps its speed; the shared stages are the same kernels
(kernels/margin.py, kernels/mechanics.py). Per path: ``O(T (S + K) + B log N)``
time (plus the positions closed one by one under ``rule = "fraction"``),
``O(T + S + K)`` memory.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.adl import (
    FUND,
    FUND_SOCIALIZED,
    N_REMOVED,
    fund_step,
    init_fund_state,
    open_sums,
    write_fund_state,
)
from stresstest.kernels.adl_index import (
    W_REMAIN,
    AdlIndex,
    AdlWork,
    restore_side,
)
from stresstest.kernels.adl_sides import deleverage_both_sides
from stresstest.kernels.backstop import (
    N_COHORT,
    init_vault,
    settle_passed,
    vault_equity,
    vault_step,
)
from stresstest.kernels.fund import (
    FLOW_BAD_DEBT,
    FLOW_FUND,
    FLOW_TO_FUND,
    N_TOTALS,
    walk_fund,
    write_totals,
)
from stresstest.kernels.jit import kernel
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
from stresstest.kernels.partial import (
    N_COH,
    N_COH_HELD,
    N_Q,
    Q_FLAG,
    arm_due,
    close_terms,
    flag_side,
    initial_segments,
    take_over_due,
)
from stresstest.kernels.partial_adl import (
    PartialAdlWork,
    restore_partial,
    track_flags,
    track_takeovers,
)
from stresstest.kernels.partial_close import close_due_side, sized_due_side
from stresstest.kernels.partial_rules import N_COH_RULES
from stresstest.kernels.procyclicality import new_tally, track_rate
from stresstest.kernels.procyclicality_staged import finish_partial_measures
from stresstest.kernels.waterfall_columns import write_waterfall_columns


@kernel
def partial_pipeline_path(
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
    held: np.ndarray,
) -> int:
    """The pipeline's loop with partial liquidation as the close rule (10.1).

    :func:`stresstest.kernels.pipeline.pipeline_path`'s arguments, and the
    per-position state ``*_partial`` ADL reads
    (:func:`stresstest.kernels.partial_adl.new_partial_work`); its stages and
    outputs (docs/model.md 10.1, 10.2, 10.3, 10.4, 12); the flag and close stages use the
    segments, cohorts and close queues of :mod:`stresstest.kernels.partial`;
    ``buffer`` is ``params[MECH_BUFFER]`` (fraction of notional).
    ``long_from_at[t]`` / ``short_to_at[t]`` hold the first-flag boundaries after
    step t; with ``with_impact`` a step's flags are caused by impact when they
    first-flag a position beyond the baseline's first-flag boundary. Returns the
    cascade depth. With ``[procyclicality]`` (3.2) ``held`` holds the sorted book's
    positions the rate held at ``m_0`` never flags, longs ``[0, held[0])`` and shorts
    ``[held[1], n)``, whose closes are tallied; on return, those this run's marks give
    (:func:`stresstest.kernels.procyclicality_partial.measured_partial_path`).
    """
    n_points = prices.shape[0]
    last_step = n_points - 1
    n_long = long_threshold.shape[0]
    n_short = short_threshold.shape[0]
    latency_steps, slippage, fee, liquidator_share = liquidation_terms(liquidation)
    sqrt_horizon = sqrt_horizon_of(margin)
    predictive = int(params[enums.MECH_TRIGGER]) == enums.TRIGGER_PREDICTIVE
    with_oracle = int(params[enums.MECH_ORACLE_MODEL]) != enums.ORACLE_MARKET
    with_vol = predictive or int(params[enums.MECH_FEE_MODEL]) == enums.FEE_VOL_SCALED
    shift_per_sigma = params[enums.MECH_TRIGGER_Z] * params[enums.MECH_TRIGGER_SQRT_H]
    ema_weight = params[enums.MECH_ORACLE_EMA]
    vol_lambda = params[enums.MECH_VOL_LAMBDA]
    permanent = params[enums.MECH_PERMANENT]
    long_from = n_long
    short_to = 0
    variance = margin[enums.MARGIN_ARG_INITIAL_VARIANCE]
    apc = has_apc(margin)  # the APC options (3.1): m_t carries a state of its own
    apc_margin = apc_state()
    # [procyclicality] (3.2): the posted rate's tally, the marks, the closes of `held`
    tally, ring = new_tally(int(margin[enums.MARGIN_ARG_PROCYC_HORIZON]))
    measured = ring.shape[0] > 0
    marks = np.empty(n_points if measured else 0)
    counted = tally if measured else tally[:0]
    long_held_to = int(held[0])
    short_held_from = int(held[1])
    vol_variance = params[enums.MECH_VOL_V0]
    ema_state = 0.0
    factor = 1.0  # permanent impact so far: market price = factor * P_t
    impact_generation = 0  # largest generation of the closes that moved the price so far
    depth = 0
    flag_generation = np.zeros(n_points, dtype=np.int64)
    # Segments, cohorts and close queues per side (docs/model.md 10.1).
    buffer = params[enums.MECH_BUFFER]
    # The venue-style rule (10.1): a fixed fraction, a cool-down and a notional threshold.
    fraction_rule = int(params[enums.MECH_PARTIAL_RULE]) == enums.PARTIAL_RULE_FRACTION
    fraction = params[enums.MECH_PARTIAL_FRACTION]
    cooldown = int(params[enums.MECH_PARTIAL_COOLDOWN])
    min_notional = params[enums.MECH_PARTIAL_MIN_NOTIONAL]
    size = 16
    long_segments = initial_segments(n_long, 1)
    short_segments = initial_segments(n_short, -1)
    cohort_width = N_COH_RULES if fraction_rule else (N_COH_HELD if measured else N_COH)
    long_cohorts = np.zeros((size, cohort_width))
    short_cohorts = np.zeros((size, cohort_width))
    long_queue = np.zeros((size, N_Q))
    short_queue = np.zeros((size, N_Q))
    n_long_segments = 1
    n_short_segments = 1
    n_long_cohorts = 0
    n_short_cohorts = 0
    n_long_queue = 0
    n_short_queue = 0
    long_head = 0
    short_head = 0
    open_qty = 0.0  # armed quantity: the first segments are armed at step 0
    requirement_sum = 0.0
    open_notional_sum = 0.0
    totals = np.zeros(N_TOTALS)
    # The fund's bound past bankruptcy (10.4): the fund is then walked in the loop.
    with_bound = int(params[enums.MECH_FUND_BOUND]) != 0
    bound = params[enums.MECH_FUND_BOUND_FRACTION] if with_bound else -1.0  # negative: no bound
    # The backstop vault (10.3): takeovers in the close stage, its cohorts in the waterfall.
    with_backstop = int(params[enums.MECH_BACKSTOP]) != 0
    takeover_fraction = params[enums.MECH_BACKSTOP_FRACTION]
    hold = int(params[enums.MECH_BACKSTOP_HOLD])
    vault = init_vault(params[enums.MECH_BACKSTOP_CAPITAL])
    vault_cohorts = np.zeros((N_COHORT, n_points if with_backstop else 0))
    # ADL (10.2) with each position's state after partial closes (kernels/partial_adl.py).
    adl_policy = int(params[enums.MECH_ADL])
    with_adl = adl_policy != enums.ADL_NONE
    ranked = with_adl and adl_policy != enums.ADL_PRO_RATA
    long_ranks = long_index[2]
    short_ranks = short_index[2]
    long_removed = np.zeros((N_REMOVED, 1))  # one column: nothing removed yet
    short_removed = np.zeros((N_REMOVED, 1))
    members = n_points + 1 if with_adl else 0  # cohort ids: at most one per close step
    long_heads = np.full(members, -1, dtype=np.int64)
    long_tails = np.full(members, -1, dtype=np.int64)
    short_heads = np.full(members, -1, dtype=np.int64)
    short_tails = np.full(members, -1, dtype=np.int64)
    adl_notional = 0.0
    adl_count = 0.0
    gini_weighted = 0.0
    gini_cover = 0.0
    previous_oracle = 0.0
    online = with_bound or with_backstop or with_adl
    state = init_fund_state(fund_initial)
    fund_passed = 0.0
    for step in range(n_points):
        # Market price, volatility and oracle.
        price = prices[step] * factor
        market[step] = price
        if step >= 1:
            variance = next_variance(margin, variance, price, market[step - 1])
            if with_vol:  # sigma_t of 9.0, read by the predictive trigger and vol fee only
                vol_variance = ewma_variance(vol_variance, price, market[step - 1], vol_lambda)
            ema_state = ema_weight * ema_state + (1.0 - ema_weight) * price
        else:
            ema_state = price
        oracle = price  # no [oracle]: O_t = P~_t (the same float oracle_price gives)
        if with_oracle:
            oracle = oracle_price(params, market, step, ema_state)
            oracle *= manipulation_factor(params, step)
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
        shift = 0.0
        if predictive:
            shift = shift_per_sigma * np.sqrt(vol_variance)
            long_series = oracle * np.exp(-shift)
            short_series = oracle * np.exp(shift)
        else:
            long_series = oracle * (1.0 - rate)
            short_series = oracle * (1.0 + rate)
        # Arm the positions re-armed or remaining after a partial close.
        n_long_segments, n_long_cohorts, armed_long = arm_due(
            long_segments,
            n_long_segments,
            long_cohorts,
            n_long_cohorts,
            long_prefix,
            long_removed,
            step,
        )
        n_short_segments, n_short_cohorts, armed_short = arm_due(
            short_segments,
            n_short_segments,
            short_cohorts,
            n_short_cohorts,
            short_prefix,
            short_removed,
            step,
        )
        open_qty += armed_long + armed_short
        open_notional = oracle * open_qty
        requirement_sum += rate * open_notional
        open_notional_sum += open_notional
        # Flag.
        generation = 0
        long_rows = n_long_queue
        short_rows = n_short_queue
        long_queue, n_long_queue, flagged_long, first_from = flag_side(
            1,
            step,
            long_series,
            long_threshold,
            long_prefix,
            long_removed,
            long_segments,
            n_long_segments,
            long_cohorts,
            n_long_cohorts,
            long_queue,
            n_long_queue,
            long_from,
        )
        short_queue, n_short_queue, flagged_short, first_to = flag_side(
            -1,
            step,
            short_series,
            short_threshold,
            short_prefix,
            short_removed,
            short_segments,
            n_short_segments,
            short_cohorts,
            n_short_cohorts,
            short_queue,
            n_short_queue,
            short_to,
        )
        open_qty -= flagged_long + flagged_short
        if with_adl:  # the flagged positions are no ADL candidates until their close
            track_flags(
                long_queue,
                long_rows,
                n_long_queue,
                long_heads,
                long_cohorts,
                n_long_cohorts,
                ranked,
                long_ranks,
                long_work,
                long_partial,
            )
            track_flags(
                short_queue,
                short_rows,
                n_short_queue,
                short_heads,
                short_cohorts,
                n_short_cohorts,
                ranked,
                short_ranks,
                short_work,
                short_partial,
            )
        # Only first flags are compared with the replay without impact (9.4); the
        # first-flag boundaries are threshold crossings, so with ADL a crossing counts
        # only if it flags a position ADL has not closed (as in kernels/pipeline.py).
        if with_impact and first_from < min(long_from, baseline_long_from[step]):
            beyond = min(long_from, baseline_long_from[step])
            if not with_adl or open_sums(long_prefix, long_removed, first_from, beyond)[2] > 0.0:
                generation = impact_generation + 1
        if with_impact and first_to > max(short_to, baseline_short_to[step]):
            beyond = max(short_to, baseline_short_to[step])
            if not with_adl or open_sums(short_prefix, short_removed, beyond, first_to)[2] > 0.0:
                generation = impact_generation + 1
        long_from = first_from
        short_to = first_to
        long_from_at[step] = long_from
        short_to_at[step] = short_to
        flag_generation[step] = generation
        depth = max(depth, generation)
        # Close queue and penalty: the queued flags of steps [first, last].
        first, last = flag_steps_closing_at(step, last_step, latency_steps)
        step_passed = 0.0  # bad debt past the fund's bound at this step (10.4)
        passed_long = 0.0  # losses past the fund this step: longs' (covered by shorts)
        passed_short = 0.0
        bad_long = 0.0  # bad debt of the step's closes that reached the fund, by side
        bad_short = 0.0
        due = last >= 0 and (
            (long_head < n_long_queue and long_queue[long_head, Q_FLAG] <= last)
            or (short_head < n_short_queue and short_queue[short_head, Q_FLAG] <= last)
        )
        if due:
            if with_backstop and vault_equity(vault, price) > 0.0:
                # Takeovers (10.3) leave the queue before the market close is sized.
                long_before = long_queue[long_head:n_long_queue].copy()
                short_before = short_queue[short_head:n_short_queue].copy()
                take_over_due(
                    1,
                    first,
                    last,
                    oracle,
                    oracle * (1.0 - takeover_fraction * rate),
                    long_threshold,
                    long_prefix,
                    long_removed,
                    long_queue,
                    long_head,
                    n_long_queue,
                    long_cohorts,
                    n_long_cohorts,
                    vault,
                    vault_cohorts,
                    step,
                )
                take_over_due(
                    -1,
                    first,
                    last,
                    oracle,
                    oracle * (1.0 + takeover_fraction * rate),
                    short_threshold,
                    short_prefix,
                    short_removed,
                    short_queue,
                    short_head,
                    n_short_queue,
                    short_cohorts,
                    n_short_cohorts,
                    vault,
                    vault_cohorts,
                    step,
                )
                if with_adl:
                    track_takeovers(
                        1,
                        long_before,
                        long_queue,
                        long_head,
                        long_heads,
                        long_cohorts,
                        n_long_cohorts,
                        ranked,
                        long_ranks,
                        long_work,
                        long_partial,
                    )
                    track_takeovers(
                        -1,
                        short_before,
                        short_queue,
                        short_head,
                        short_heads,
                        short_cohorts,
                        n_short_cohorts,
                        ranked,
                        short_ranks,
                        short_work,
                        short_partial,
                    )
            rate_paid = penalty_rate(params, fee, vol_variance)
            if predictive:  # the trigger's boundary at the mark, less the buffer (10.1)
                long_level = np.exp(-shift) - buffer
                short_level = np.exp(shift) + buffer
            else:
                long_level = 1.0 - (rate + buffer)
                short_level = 1.0 + (rate + buffer)
            execution = price
            impact = 0.0
            direction = 0.0
            if with_impact:  # the order sized at the price before impact sets the impact
                sold = sized_due_side(
                    1,
                    first,
                    last,
                    step,
                    last_step,
                    price,
                    oracle,
                    long_level,
                    long_series,
                    slippage,
                    rate_paid,
                    not predictive,
                    rate + buffer,
                    fraction_rule,
                    fraction,
                    cooldown,
                    min_notional,
                    long_threshold,
                    long_prefix,
                    long_removed,
                    long_work[W_REMAIN],
                    long_queue,
                    long_head,
                    n_long_queue,
                    long_segments,
                    n_long_segments,
                    long_cohorts,
                    n_long_cohorts,
                )
                bought = sized_due_side(
                    -1,
                    first,
                    last,
                    step,
                    last_step,
                    price,
                    oracle,
                    short_level,
                    short_series,
                    slippage,
                    rate_paid,
                    not predictive,
                    rate + buffer,
                    fraction_rule,
                    fraction,
                    cooldown,
                    min_notional,
                    short_threshold,
                    short_prefix,
                    short_removed,
                    short_work[W_REMAIN],
                    short_queue,
                    short_head,
                    n_short_queue,
                    short_segments,
                    n_short_segments,
                    short_cohorts,
                    n_short_cohorts,
                )
                net = bought - sold
                direction = 1.0 if net > 0.0 else -1.0
                impact = relative_impact(params, price * abs(net))
                execution = price * np.exp(direction * impact)
            long_x, long_target, long_bound, long_denominator = close_terms(
                1, execution, oracle, long_level, slippage, rate_paid, not predictive, rate + buffer
            )
            short_x, short_target, short_bound, short_denominator = close_terms(
                -1,
                execution,
                oracle,
                short_level,
                slippage,
                rate_paid,
                not predictive,
                rate + buffer,
            )
            close_generation = 0
            for flag_step in range(first, last + 1):
                close_generation = max(close_generation, flag_generation[flag_step])
                (
                    long_segments,
                    n_long_segments,
                    long_cohorts,
                    n_long_cohorts,
                    long_head,
                    beyond,
                    bad,
                ) = close_due_side(
                    1,
                    flag_step,
                    step,
                    last_step,
                    long_x,
                    long_target,
                    long_series,
                    long_bound,
                    long_denominator,
                    rate_paid,
                    liquidator_share,
                    bound,
                    oracle,
                    fraction_rule,
                    fraction,
                    cooldown,
                    min_notional,
                    long_threshold,
                    long_prefix,
                    long_removed,
                    long_queue,
                    long_head,
                    n_long_queue,
                    long_segments,
                    n_long_segments,
                    long_cohorts,
                    n_long_cohorts,
                    totals,
                    flows,
                    with_adl,
                    long_heads,
                    long_tails,
                    ranked,
                    long_ranks,
                    long_work,
                    long_partial,
                    counted,
                    0,
                    long_held_to,
                )
                passed_long += beyond
                bad_long += bad
                (
                    short_segments,
                    n_short_segments,
                    short_cohorts,
                    n_short_cohorts,
                    short_head,
                    beyond,
                    bad,
                ) = close_due_side(
                    -1,
                    flag_step,
                    step,
                    last_step,
                    short_x,
                    short_target,
                    short_series,
                    short_bound,
                    short_denominator,
                    rate_paid,
                    liquidator_share,
                    bound,
                    oracle,
                    fraction_rule,
                    fraction,
                    cooldown,
                    min_notional,
                    short_threshold,
                    short_prefix,
                    short_removed,
                    short_queue,
                    short_head,
                    n_short_queue,
                    short_segments,
                    n_short_segments,
                    short_cohorts,
                    n_short_cohorts,
                    totals,
                    flows,
                    with_adl,
                    short_heads,
                    short_tails,
                    ranked,
                    short_ranks,
                    short_work,
                    short_partial,
                    counted,
                    short_held_from,
                    n_short,
                )
                passed_short += beyond
                bad_short += bad
            step_passed = passed_long + passed_short
            fund_passed += step_passed
            if long_head == n_long_queue:  # the queues are empty: reuse their rows
                long_head = 0
                n_long_queue = 0
            if short_head == n_short_queue:
                short_head = 0
                n_short_queue = 0
            if permanent * impact > 0.0:
                factor *= np.exp(direction * permanent * impact)
                impact_generation = max(impact_generation, close_generation)
        if online:  # the loss waterfall of the step (12): the fund takes its fees and bad debt
            if with_backstop:  # then the vault closes its due cohorts
                vault_long, vault_short = vault_step(
                    vault, vault_cohorts, step, last_step, hold, price
                )
                step_passed += vault_long + vault_short
                passed_long += vault_long
                passed_short += vault_short
            net = flows[FLOW_TO_FUND, step] - flows[FLOW_BAD_DEBT, step]
            shortfall = -(state[FUND] + net)
            fund_need = shortfall if shortfall > 0.0 else 0.0
            need_long = passed_long  # longs' losses, covered by shorts
            need_short = passed_short
            if with_adl and fund_need > 0.0:
                need_long += shortfall * bad_long / (bad_long + bad_short)
                need_short += shortfall * bad_short / (bad_long + bad_short)
            if with_adl and need_long + need_short > 0.0:  # ADL, then socialized (10.2)
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
                    True,
                    adl_policy,
                    need_long,
                    need_short,
                    adl_price,
                    step,
                    long_threshold,
                    long_positions,
                    n_long,
                    long_cohorts,
                    n_long_cohorts,
                    long_index,
                    long_work,
                    long_partial,
                    long_removed,
                    short_threshold,
                    short_positions,
                    0,
                    short_cohorts,
                    n_short_cohorts,
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
                if step_passed > 0.0:
                    settle_passed(state, net, cover, fund_need, step_passed, left == 0.0)
                else:
                    fund_step(state, net, cover, left == 0.0)
            else:
                fund_step(state, net, 0.0, False)
                state[FUND_SOCIALIZED] += step_passed  # past the fund: socialized
            flows[FLOW_FUND, step] = state[FUND]
    write_totals(totals, out_row)
    out_row[enums.REQUIREMENT_MEAN] = requirement_sum / n_points
    out_row[enums.MARGIN_RATE_MEAN] = (
        requirement_sum / open_notional_sum if open_notional_sum > 0.0 else 0.0
    )
    if online:
        write_fund_state(state, out_row)
    else:
        walk_fund(flows, fund_initial, out_row)
    if measured:
        finish_partial_measures(
            tally, marks, predictive, held, long_threshold, short_threshold, out_row
        )
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
        # The per-position state first (it reads the touched lists the restore clears).
        restore_partial(long_threshold, long_ranks, long_work, long_partial)
        restore_partial(short_threshold, short_ranks, short_work, short_partial)
        restore_side(ranked, long_index, long_work)
        restore_side(ranked, short_index, short_work)
    return depth
