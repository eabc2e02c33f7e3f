"""The APC options of ``[margin]`` and ``[procyclicality]`` with the stages (docs/model.md 3, 12).

The stage pipeline posts the APC rates through the core engine's own function
(kernels/margin.py ``apc_rate``), step by step in its loop, and measures
procyclicality with the core kernel's tally (kernels/procyclicality.py). Here: a
hand case in which the buffer moves the flag step under a lagged oracle; every
single-asset stage runs with the options and they change its results; options set
to zero leave a staged run bit for bit as without them; neutral stages give the
core kernel's procyclicality columns bit for bit; partial liquidation measures them
too; the refusals name both settings.
The random cases of tests/test_mechanics_reference.py draw both with every stage
against the plain reference.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import stresstest
from stresstest.engine.run import margin_arguments
from stresstest.kernels import enums
from stresstest.scenario import load_scenario
from tests.reference_mechanics import Mechanisms
from tests.test_composition import ACCOUNTS, GBM, SINGLE_STAGES, with_stages
from tests.test_mechanics_hand_cases import check, longs, replay
from tests.test_mechanics_reference import liquidation_table, run_mechanics_kernel
from tests.test_procyclicality import apc_margins, run_kernel
from tests.test_replay_reference import KERNEL_SETTINGS, ReplayCase, margin_config, replay_cases
from tests.tiers import examples

#: k = 1, h = 1, lambda = 0.5, v_0 = 1e-4, floor 0, cap 0.5: the model rate is sqrt(v_t).
HAND_MARGIN: dict[str, Any] = {
    "model": "vol_scaled",
    "k": 1.0,
    "horizon_steps": 1,
    "ewma_lambda": 0.5,
    "initial_variance": 1e-4,
    "floor": 0.0,
    "cap": 0.5,
}
#: The APC options of the stage runs below: a buffer and a stressed weight (EMIR minima).
APC = {"apc_buffer": 0.25, "stressed_weight": 0.25}


def test_the_buffer_moves_the_flag_step_under_a_lagged_oracle() -> None:
    # P = 100, 100, 100, 98, 98; one long, q = 1, e = 100, c = 1.49: theta = 98.51.
    # v_t = 0.5 v_{t-1} + 0.5 r_t^2 on the market prices (9.0): v = 1e-4, 5e-5, 2.5e-5,
    # then r_3 = ln 0.98. Model rates u_t = sqrt(v_t): 0.01, 0.00707, 0.005, 0.01472, 0.01041.
    prices = [100.0, 100.0, 100.0, 98.0, 98.0]
    variances = [1e-4, 5e-5, 2.5e-5]
    variances.append(0.5 * variances[-1] + 0.5 * math.log(0.98) ** 2)
    variances.append(0.5 * variances[-1])
    u = [math.sqrt(v) for v in variances]
    # Oracle lag 1: O = 100, 100, 100, 100, 98. The long breaches when O_t (1 - m_t) < 98.51.
    oracle = {"model": "lag", "lag_steps": 1}
    marks = [100.0, 100.0, 100.0, 100.0, 98.0]
    # Without APC: O (1 - u) = 99, 99.29, 99.5, 98.53, 96.98: flagged at t = 4, closed at
    # P_4 = 98 (latency 0): e' = 1.49 - 2 = -0.51, bad debt 0.51; open at every step.
    plain = replay(prices, longs(1.49), HAND_MARGIN, oracle=oracle)
    requirement = math.fsum(rate * mark for rate, mark in zip(u, marks, strict=True))
    check(
        plain,
        {
            "n_liquidations": 1,
            "liquidated_notional": 98.0,
            "bad_debt": 0.51,
            "requirement_mean": requirement / 5.0,
        },
    )
    # apc_buffer b = 0.5 (3.1 a): m_0 = 1.5 u_0 = 0.015, so O_0 (1 - m_0) = 98.5 < 98.51:
    # flagged at t = 0 and closed at P_0 = 100: e' = 1.49, no bad debt. Open at t = 0 only
    # (a flagged position counts at its flag step): requirement_mean = m_0 O_0 / 5.
    buffered = replay(prices, longs(1.49), {**HAND_MARGIN, "apc_buffer": 0.5}, oracle=oracle)
    check(
        buffered,
        {
            "n_liquidations": 1,
            "liquidated_notional": 100.0,
            "bad_debt": 0.0,
            "requirement_mean": 1.5 * u[0] * 100.0 / 5.0,
            "margin_rate_mean": 1.5 * u[0],
        },
    )
    # The buffer's later steps (3.1 a), for the record: m_1 = min(1.5 u_1, max(u_1, m_0))
    # = 0.01061, m_2 = 0.0075, m_3 = u_3 (the rise exhausts the buffer), m_4 = m_3 (held).
    # With theta = 96.7 (c = 3.3) the buffered design flags at t = 4 (98 (1 - m_3) =
    # 96.56 < 96.7) and the plain one never (96.98): the held rate, not the buffer, flags.
    held = replay(prices, longs(3.3), {**HAND_MARGIN, "apc_buffer": 0.5}, oracle=oracle)
    check(held, {"n_liquidations": 1, "liquidated_notional": 98.0, "bad_debt": 0.0})
    check(replay(prices, longs(3.3), HAND_MARGIN, oracle=oracle), {"n_liquidations": 0})


def _vol_scaled(base: dict[str, Any], **margin: Any) -> dict[str, Any]:
    scenario = copy.deepcopy(base)
    scenario["margin"] = {
        "model": "vol_scaled",
        "k": 3.0,
        "horizon_steps": 4,
        "ewma_lambda": 0.9,
        "initial_variance": 1e-4,
        "floor": 0.005,
        "cap": 0.2,
        **margin,
    }
    return scenario


@pytest.mark.parametrize("stage", SINGLE_STAGES)
def test_every_single_asset_stage_runs_the_apc_rates(stage: str) -> None:
    """With each stage the options load, run, and change the maintenance rate it posts."""
    plain = stresstest.run(load_scenario(with_stages(_vol_scaled(GBM), (stage,))))
    apc = stresstest.run(load_scenario(with_stages(_vol_scaled(GBM, **APC), (stage,))))
    assert apc.paths.columns == plain.paths.columns
    rates = apc.column("margin_rate_mean") - plain.column("margin_rate_mean")
    assert np.all(rates > 0.0)  # calm GBM paths: the buffer and the stressed weight add


@pytest.mark.parametrize("stages", [("oracle",), ("market", "adl"), ("partial", "backstop")])
def test_options_at_zero_leave_a_staged_run_as_without_them(stages: tuple[str, ...]) -> None:
    """``apc_buffer = 0`` and ``stressed_weight = 0`` are off: the same bits (3.1)."""
    zero = {"apc_buffer": 0.0, "stressed_weight": 0.0}
    plain = stresstest.run(load_scenario(with_stages(_vol_scaled(GBM), stages)))
    zeros = stresstest.run(load_scenario(with_stages(_vol_scaled(GBM, **zero), stages)))
    assert plain.paths.equals(zeros.paths)


def test_accounts_accept_the_options() -> None:
    """Accounts post the APC rates per asset (docs/model.md 3.1, 11.3;
    tests/test_accounts_apc.py): the options load beside an accounts book."""
    scenario = load_scenario(
        _vol_scaled(ACCOUNTS, apc_buffer=0.25, stressed_weight=0.25, vol_floor_lookback_years=10)
    )
    assert scenario.margin.apc_buffer == 0.25


@settings(KERNEL_SETTINGS, max_examples=examples(100))
@given(
    case=replay_cases(),
    drawn=apc_margins(),
    horizon=st.integers(1, 8),
    oracle=st.sampled_from([None, {"model": "lag", "lag_steps": 0}]),
)
def test_neutral_stages_measure_as_the_core_kernel(
    case: ReplayCase,
    drawn: tuple[dict[str, Any], float],
    horizon: int,
    oracle: dict[str, Any] | None,
) -> None:
    """A lag-0 oracle (or the infinite-depth market when None): every column bit for bit."""
    margin, vol_floor = drawn
    case = replace(case, margin=margin)
    market = None if oracle else {"impact": "linear", "depth": 1e300, "permanent_fraction": 1.0}
    mechanisms = Mechanisms(
        margin=margin,
        liquidation=liquidation_table(case),
        oracle=oracle,
        market=market,
        fund_initial=case.fund_initial,
        vol_floor_variance=vol_floor,
        procyclicality=horizon,
    )
    staged = run_mechanics_kernel(case, mechanisms)
    vector = margin_arguments(
        margin_config(margin), vol_floor_variance=vol_floor, procyclicality_horizon=horizon
    )
    core = run_kernel(case, vector)
    columns = [
        *range(enums.N_METRICS),
        *range(enums.MARGIN_PEAK_TO_TROUGH, enums.N_METRICS_PROCYCLICALITY),
    ]
    np.testing.assert_array_equal(staged[:, columns], core[:, columns])


@pytest.mark.parametrize("stage", SINGLE_STAGES)
def test_every_stage_measures_procyclicality(stage: str) -> None:
    """Each stage, partial liquidation included, writes the four columns of docs/model.md 3.2."""
    stages = ("partial", stage) if stage == "partial_fraction" else (stage,)
    scenario = with_stages(_vol_scaled(GBM, **APC), stages)
    scenario["procyclicality"] = {"horizon_steps": 4}
    result = stresstest.run(load_scenario(scenario))
    for name in enums.PROCYCLICALITY_METRIC_NAMES:
        assert name in result.paths.columns
    assert np.all(result.column("margin_peak_to_trough") >= 1.0)
    assert np.all(result.column("procyclical_liquidations") <= result.column("n_liquidations"))
    assert np.all(
        result.column("procyclical_notional") <= result.column("liquidated_notional") * (1 + 1e-12)
    )
