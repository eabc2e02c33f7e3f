"""The close stage of the partial-liquidation loop for one side at one step (10.1, 10.2).

:func:`close_due_side` closes one side's flags of one flag step at the close step:
by the venue-style rule (:func:`stresstest.kernels.partial_rules.close_side_fraction`)
or by the target rule (:func:`stresstest.kernels.partial.close_side`), with ADL's
per-position state updated first (:func:`stresstest.kernels.partial_adl.track_close`).
Called by :func:`stresstest.kernels.pipeline_partial.partial_pipeline_path` for longs,
then shorts. Pure numba over arrays.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels.adl_index import AdlWork
from stresstest.kernels.fund import FLOW_BAD_DEBT
from stresstest.kernels.jit import kernel
from stresstest.kernels.partial import Q_FLAG, close_side
from stresstest.kernels.partial_adl import PartialAdlWork, track_close
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
) -> tuple[np.ndarray, int, np.ndarray, int, int, float, float]:
    """Close ``side``'s queued flags of ``flag_step`` at ``step``, if the queue holds any.

    ``exit_price`` is the side's execution price, ``target`` the target threshold of
    the target rule and ``series`` the breach series of the fraction rule (quote per
    base), ``mark`` the mark the notional threshold reads. Returns the updated
    segments, cohorts and queue head, the bad debt passed on past the fund's bound
    and the bad debt the closes added to the step's flow (quote units; 0 under the
    fraction rule, which does not run with ADL).
    """
    beyond = 0.0
    bad = 0.0
    if not (head < n_queue and queue[head, Q_FLAG] == flag_step):
        return segments, n_segments, cohorts, n_cohorts, head, beyond, bad
    if fraction_rule:
        segments, n_segments, cohorts, n_cohorts, head, _, beyond = close_side_fraction(
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
            queue,
            head,
            n_queue,
            segments,
            n_segments,
            cohorts,
            n_cohorts,
            totals,
            flows,
            True,
        )
        return segments, n_segments, cohorts, n_cohorts, head, beyond, bad
    if with_adl:  # each position's state, before the cohort table changes
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
    bad_before = flows[FLOW_BAD_DEBT, step]
    segments, n_segments, cohorts, n_cohorts, head, _, beyond = close_side(
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
        True,
    )
    bad = flows[FLOW_BAD_DEBT, step] - bad_before
    return segments, n_segments, cohorts, n_cohorts, head, beyond, bad
