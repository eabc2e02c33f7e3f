"""The close stage of the partial-liquidation loop for one side at one step (10.1, 10.2).

:func:`close_due_side` closes one side's flags of one flag step at the close step:
by the venue-style rule (:func:`stresstest.kernels.partial_rules.close_side_fraction`,
ADL's per-position state updated around it by
:func:`stresstest.kernels.partial_fraction_adl.track_fraction_close`) or by the target
rule (:func:`stresstest.kernels.partial.close_side`, the state updated first by
:func:`stresstest.kernels.partial_adl.track_close`). :func:`close_by_rule` is the one
call of either rule, for the close and for :func:`sized_due_side`'s sizing pass.
Called by :func:`stresstest.kernels.pipeline_partial.partial_pipeline_path` for longs,
then shorts. Pure numba over arrays.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.adl_index import W_REMAIN, AdlWork
from stresstest.kernels.fund import FLOW_BAD_DEBT
from stresstest.kernels.jit import kernel
from stresstest.kernels.partial import Q_FLAG, close_side, close_terms
from stresstest.kernels.partial_adl import PartialAdlWork, track_close
from stresstest.kernels.partial_fraction_adl import track_fraction_close
from stresstest.kernels.partial_rules import close_side_fraction


@kernel
def close_due_side(
    side: int,
    flag_step: int,
    step: int,
    last_step: int,
    exit_price: float,
    target: float,
    series: float,
    full_bound: float,
    denominator: float,
    rate_paid: float,
    liquidator_share: float,
    bound: float,
    mark: float,
    fraction_rule: bool,
    fraction: float,
    cooldown: int,
    min_notional: float,
    threshold: np.ndarray,
    prefix: np.ndarray,
    removed: np.ndarray,
    queue: np.ndarray,
    head: int,
    n_queue: int,
    segments: np.ndarray,
    n_segments: int,
    cohorts: np.ndarray,
    n_cohorts: int,
    totals: np.ndarray,
    flows: np.ndarray,
    with_adl: bool,
    heads: np.ndarray,
    tails: np.ndarray,
    ranked: bool,
    ranks: np.ndarray,
    work: AdlWork,
    partial: PartialAdlWork,
    tally: np.ndarray,
    held_from: int,
    held_to: int,
) -> tuple[np.ndarray, int, np.ndarray, int, int, float, float]:
    """Close ``side``'s queued flags of ``flag_step`` at ``step``, if the queue holds any.

    ``exit_price`` is the side's execution price, ``target`` the target threshold of
    the target rule and ``series`` the breach series of the fraction rule (quote per
    base), ``mark`` the mark the notional threshold reads. Returns the updated
    segments, cohorts and queue head, the bad debt passed on past the fund's bound
    and the bad debt the closes added to the step's flow (quote units), which splits
    the step's shortfall between the sides for ADL (10.2). ``tally`` (empty: not
    measured) takes the closes of the side's positions ``[held_from, held_to)``, which
    the rate held at ``m_0`` never flags (``[procyclicality]``, 3.2).
    """
    beyond = 0.0
    bad = 0.0
    if not (head < n_queue and queue[head, Q_FLAG] == flag_step):
        return segments, n_segments, cohorts, n_cohorts, head, beyond, bad
    first_head = head
    n_before = n_cohorts
    bad_before = flows[FLOW_BAD_DEBT, step]
    if with_adl and not fraction_rule:  # each position's state, before the cohort table changes
        track_close(
            side,
            flag_step,
            step,
            last_step,
            target,
            full_bound,
            denominator,
            threshold,
            queue,
            head,
            n_queue,
            cohorts,
            n_cohorts,
            heads,
            tails,
            ranked,
            ranks,
            work,
            partial,
        )
    # The fraction rule updates ADL's per-position state in two passes around the close
    # (10.2): the due rows before it updates them in place, the due ranges after it
    # appended their rows.
    for stage in range(3):
        if stage == 1:
            segments, n_segments, cohorts, n_cohorts, head, _, beyond = close_by_rule(
                side,
                flag_step,
                step,
                last_step,
                exit_price,
                fraction_rule,
                target,
                series,
                full_bound,
                denominator,
                rate_paid,
                liquidator_share,
                bound,
                mark,
                fraction,
                cooldown,
                min_notional,
                threshold,
                prefix,
                removed,
                work[W_REMAIN],
                queue,
                first_head,
                n_queue,
                segments,
                n_segments,
                cohorts,
                n_cohorts,
                totals,
                flows,
                True,
                tally,
                held_from,
                held_to,
            )
        elif with_adl and fraction_rule:
            track_fraction_close(
                stage == 2,
                side,
                flag_step,
                step,
                last_step,
                series,
                full_bound,
                mark,
                fraction,
                cooldown,
                min_notional,
                threshold,
                prefix,
                queue,
                first_head,
                n_queue,
                cohorts,
                n_before,
                ranked,
                ranks,
                work,
                partial,
            )
    bad = flows[FLOW_BAD_DEBT, step] - bad_before
    return segments, n_segments, cohorts, n_cohorts, head, beyond, bad


@kernel
def close_by_rule(
    side: int,
    flag_step: int,
    step: int,
    last_step: int,
    exit_price: float,
    fraction_rule: bool,
    target: float,
    series: float,
    full_bound: float,
    denominator: float,
    rate_paid: float,
    liquidator_share: float,
    bound: float,
    mark: float,
    fraction: float,
    cooldown: int,
    min_notional: float,
    threshold: np.ndarray,
    prefix: np.ndarray,
    removed: np.ndarray,
    remain: np.ndarray,
    queue: np.ndarray,
    head: int,
    n_queue: int,
    segments: np.ndarray,
    n_segments: int,
    cohorts: np.ndarray,
    n_cohorts: int,
    totals: np.ndarray,
    flows: np.ndarray,
    apply: bool,
    tally: np.ndarray,
    held_from: int,
    held_to: int,
) -> tuple[np.ndarray, int, np.ndarray, int, int, float, float]:
    """Close ``side``'s flags of ``flag_step`` by the side's close rule (10.1, 10.1.1).

    The fraction rule (:func:`~stresstest.kernels.partial_rules.close_side_fraction`,
    reading ``series``, ``mark``, ``fraction``, ``cooldown``, ``min_notional`` and
    ADL's remaining fraction ``remain``) or the target rule
    (:func:`~stresstest.kernels.partial.close_side`, reading ``target`` and
    ``denominator``), with the other arguments passed as they are. Returns theirs:
    the segments, cohorts and queue head after the close, the quantity closed (base
    units) and the bad debt passed on past the fund's bound (quote units).
    ``apply`` ``False`` changes nothing (a sizing pass). ``tally``, ``held_from`` and
    ``held_to``: the procyclicality tally of either rule (empty: not measured).
    """
    if fraction_rule:
        return close_side_fraction(
            side,
            flag_step,
            step,
            last_step,
            exit_price,
            series,
            full_bound,
            rate_paid,
            liquidator_share,
            bound,
            mark,
            fraction,
            cooldown,
            min_notional,
            threshold,
            prefix,
            removed,
            remain,
            queue,
            head,
            n_queue,
            segments,
            n_segments,
            cohorts,
            n_cohorts,
            totals,
            flows,
            apply,
            tally,
            held_from,
            held_to,
        )
    return close_side(
        side,
        flag_step,
        step,
        last_step,
        exit_price,
        target,
        full_bound,
        denominator,
        rate_paid,
        liquidator_share,
        bound,
        threshold,
        prefix,
        removed,
        queue,
        head,
        n_queue,
        segments,
        n_segments,
        cohorts,
        n_cohorts,
        totals,
        flows,
        apply,
        tally,
        held_from,
        held_to,
    )


@kernel
def sized_due_side(
    side: int,
    first: int,
    last: int,
    close_step: int,
    last_step: int,
    price: float,
    mark: float,
    level: float,
    series: float,
    slippage: float,
    fee: float,
    maintenance_form: bool,
    rate_and_buffer: float,
    fraction_rule: bool,
    fraction: float,
    cooldown: int,
    min_notional: float,
    threshold: np.ndarray,
    prefix: np.ndarray,
    removed: np.ndarray,
    remain: np.ndarray,
    queue: np.ndarray,
    head: int,
    n_queue: int,
    segments: np.ndarray,
    n_segments: int,
    cohorts: np.ndarray,
    n_cohorts: int,
) -> float:
    """Quantity (base units) one side closes at ``close_step`` if it executes at ``price``.

    The flags of steps ``[first, last]``, sized by the side's close rule at the price
    before impact (docs/model.md 10.1, 10.1.1): the order whose net notional prices
    the step's impact (9.4). The target rule reads ``level`` (its target threshold is
    the mark moved by slippage times ``level``), the fraction rule ``series`` (the
    breach series of the close step) and ``mark`` (its notional threshold); both close
    at ``x = price (1 - side slippage)`` with the full-close bound ``x (1 - side
    fee)``. ``remain`` is ADL's remaining fraction per position (empty without ADL).
    Changes nothing.
    """
    exit_price, target, full_bound, denominator = close_terms(
        side, price, mark, level, slippage, fee, maintenance_form, rate_and_buffer
    )
    no_totals = np.zeros(1)
    no_flows = np.zeros((1, 1))
    total = 0.0
    for flag_step in range(first, last + 1):
        _, _, _, _, head, closed, _ = close_by_rule(
            side,
            flag_step,
            close_step,
            last_step,
            exit_price,
            fraction_rule,
            target,
            series,
            full_bound,
            denominator,
            fee,
            0.0,
            -1.0,
            mark,
            fraction,
            cooldown,
            min_notional,
            threshold,
            prefix,
            removed,
            remain,
            queue,
            head,
            n_queue,
            segments,
            n_segments,
            cohorts,
            n_cohorts,
            no_totals,
            no_flows,
            False,
            no_totals[:0],
            0,
            0,
        )
        total += closed
    return total
