"""``[procyclicality]`` beside ``[partial_liquidation]`` (docs/model.md 3.2, "With partial
liquidation"): hand-computed cases and known answers.

A partially closed position may be closed again; ``procyclical_liquidations`` counts
every close (the unit of ``n_liquidations``) of a position the rate held at ``m_0``
never flags, which is decided by the position's opening threshold, and
``procyclical_notional`` their closed notional. The random cases are in
tests/test_mechanics_reference.py
(``test_procyclicality_with_partial_liquidation_matches_reference``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numba
import numpy as np
import pytest

import stresstest
from stresstest.book import Book
from stresstest.kernels import enums
from stresstest.scenario import load_scenario
from tests.reference_mechanics import Mechanisms
from tests.test_composition import GBM, with_stages
from tests.test_mechanics_hand_cases import check, longs, replay
from tests.test_mechanics_reference import liquidation_table, run_mechanics_kernel
from tests.test_partial_adl import threads_case

#: k = 1, h = 1, lambda = 0.5, v_0 = 1e-4: the rate is sqrt(v_t) (the floor never binds).
RISING: dict[str, Any] = {
    "model": "vol_scaled",
    "k": 1.0,
    "horizon_steps": 1,
    "ewma_lambda": 0.5,
    "initial_variance": 1e-4,
    "floor": 0.001,
    "cap": 0.5,
}
#: The price swings up and down: the rate rises, the price never falls below 96.
SWINGS = [100.0, 100.0, 104.0, 96.0, 104.0, 96.0, 100.0]


def _rates(prices: list[float]) -> list[float]:
    """``m_t = sqrt(v_t)``, ``v_t = 0.5 v_{t-1} + 0.5 ln(P_t / P_{t-1})^2`` (docs/model.md 3)."""
    variance = 1e-4
    rates = []
    for t, price in enumerate(prices):
        if t >= 1:
            variance = 0.5 * variance + 0.5 * math.log(price / prices[t - 1]) ** 2
        rates.append(math.sqrt(variance))
    return rates


def _measure(
    prices: list[float], book: Book, margin: dict[str, Any], partial: dict[str, Any]
) -> dict[str, float]:
    """One path, latency 0, no fee or slippage, ``horizon_steps = 2``; checked against the
    plain reference (tests/reference_mechanics.py) too."""
    return replay(prices, book, margin, partial=partial, procyclicality=2)


def test_a_long_closed_partially_twice_by_a_rising_rate_counts_both_closes() -> None:
    # m_t = 0.01, 0.00707, 0.02818, 0.06000, 0.07074, 0.07553, 0.06071 (SWINGS). One long,
    # q = 1, e = 100, c = 6: theta = 94. The rate held at m_0 = 0.01 flags it when
    # O_t 0.99 < 94, i.e. O_t < 94.95: never (min O = 96, L = 95.04 >= 94).
    # Target rule, b = 0.01, latency 0, fee 0: t = 3, 96 (1 - 0.06000) = 90.24 < 94 flags;
    # E_x = 6 - 4 = 2, rho = 0.07000, q' = 2 / (0.07000 x 96) = 0.29760: 0.70240 closed at
    # 96, theta' = T = 96 (1 - 0.07000) = 89.280. t = 4: 104 x 0.92926 = 96.64 > 89.28.
    # t = 5: 96 (1 - 0.07553) = 88.749 < 89.280 flags again; E_x = q' (e - theta') + q' (96
    # - 100) = q' (96 - theta'), rho = 0.08553, q'' = E_x / (rho 96): closes q' - q''.
    rates = _rates(SWINGS)
    rho_3 = rates[3] + 0.01
    kept_3 = 2.0 / (rho_3 * 96.0)
    theta_3 = 96.0 * (1.0 - rho_3)
    rho_5 = rates[5] + 0.01
    kept_5 = kept_3 * (96.0 - theta_3) / (rho_5 * 96.0)
    assert 96.0 * (1.0 - rates[5]) < theta_3 < 104.0 * (1.0 - rates[4])  # flagged at 3, 5 only
    closed = (1.0 - kept_3) + (kept_3 - kept_5)
    expected = {
        "n_liquidations": 2.0,
        "liquidated_notional": 96.0 * closed,
        "procyclical_liquidations": 2.0,
        "procyclical_notional": 96.0 * closed,
        "margin_peak_to_trough": max(rates) / min(rates),
        "margin_max_increase": max((rates[t + 2] - rates[t]) / rates[t] for t in range(5)),
    }
    check(_measure(SWINGS, longs(6.0), RISING, {"buffer": 0.01}), expected)
    # The fraction rule, f = 0.5: t = 3 closes 0.5 at 96 (F = 96), theta' = (94 - 48) / 0.5
    # = 92; t = 4: 96.64 > 92; t = 5: 88.749 < 92 closes 0.25 at 96, theta'' = 88; t = 6:
    # 100 x 0.93929 = 93.93 > 88. Two closes of 0.75 in all, none the held rate makes.
    fraction = {"rule": "fraction", "fraction": 0.5}
    check(
        _measure(SWINGS, longs(6.0), RISING, fraction),
        {
            "n_liquidations": 2.0,
            "liquidated_notional": 72.0,
            "procyclical_liquidations": 2.0,
            "procyclical_notional": 72.0,
        },
    )


def test_a_cohort_counts_only_its_members_the_held_rate_never_flags() -> None:
    # Two longs flagged together at t = 3 and kept in one cohort (target rule): c = 6
    # (theta = 94, above) and c = 4.5 (theta = 95.5 > L = 95.04: the held rate flags it at
    # t = 3). The second: E_x = 0.5, q' = 0.5 / (rho_3 96), theta' = 89.280 as the first's,
    # so the cohort closes again at t = 5 with one factor. Four closes; the first long's two
    # are procyclical, with its notional of the case above.
    rates = _rates(SWINGS)
    rho_3 = rates[3] + 0.01
    theta_3 = 96.0 * (1.0 - rho_3)
    factor_5 = (96.0 - theta_3) / ((rates[5] + 0.01) * 96.0)
    first = 1.0 - 2.0 / (rho_3 * 96.0) * factor_5
    second = 1.0 - 0.5 / (rho_3 * 96.0) * factor_5
    check(
        _measure(SWINGS, longs(6.0, 4.5), RISING, {"buffer": 0.01}),
        {
            "n_liquidations": 4.0,
            "liquidated_notional": 96.0 * (first + second),
            "procyclical_liquidations": 2.0,
            "procyclical_notional": 96.0 * first,
        },
    )


@pytest.mark.parametrize(
    "partial", [{"buffer": 0.01}, {"rule": "fraction", "fraction": 0.2}], ids=["target", "fraction"]
)
def test_a_static_design_with_partial_liquidation_is_not_procyclical(
    partial: dict[str, Any],
) -> None:
    # Static 1%: m_t = m_0, so the design flags exactly what the held rate flags: ratio 1,
    # increase 0 and no procyclical liquidation, however often a position is closed. One
    # long, theta = 95.5: t = 1, 96 x 0.99 = 95.04 < 95.5 closes part of it at 96 (target:
    # q' = 0.5 / (0.02 x 96), theta' = 94.08; f = 0.2: theta' = 95.375); t = 3, 93 x 0.99
    # = 92.07 flags the rest, past its full-close bound 93: closed in full. Two closes.
    static = {"model": "static", "maintenance": 0.01}
    actual = _measure([100.0, 96.0, 100.0, 93.0, 100.0, 90.0], longs(4.5), static, partial)
    check(
        actual,
        {
            "n_liquidations": 2.0,
            "margin_peak_to_trough": 1.0,
            "margin_max_increase": 0.0,
            "procyclical_liquidations": 0.0,
            "procyclical_notional": 0.0,
        },
    )


@pytest.mark.parametrize("rule", ["partial", "partial_fraction"])
def test_a_scenario_with_partial_liquidation_measures_procyclicality(rule: str) -> None:
    """Loaded and run through the engine (the refusal of earlier versions is gone)."""
    stages = ("partial",) if rule == "partial" else ("partial", rule)
    scenario = with_stages(GBM, stages)
    scenario["margin"] = {**RISING, "k": 3.0, "horizon_steps": 4, "ewma_lambda": 0.9}
    scenario["procyclicality"] = {"horizon_steps": 4}
    result = stresstest.run(load_scenario(scenario))
    count = result.column("procyclical_liquidations")
    assert np.all(count <= result.column("n_liquidations"))
    assert np.all((count > 0) == (result.column("procyclical_notional") > 0))


@pytest.mark.parametrize("rule", ["target", "fraction"])
def test_the_two_replays_give_the_same_bits_on_one_thread_and_two(rule: str) -> None:
    """Each path's two runs (docs/model.md 3.2) restore ADL's per-thread state between them."""
    case = replace(threads_case(), margin={**RISING, "k": 3.0, "floor": 0.005})
    partial: dict[str, Any] = (
        {"buffer": 0.01} if rule == "target" else {"rule": "fraction", "fraction": 0.2}
    )
    mechanisms = Mechanisms(
        margin=case.margin,
        liquidation=liquidation_table(case),
        fund_initial=0.0,
        adl={"policy": "profit_leverage"},
        partial=partial,
        procyclicality=4,
    )
    before = numba.get_num_threads()
    results = []
    for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
        numba.set_num_threads(threads)
        try:
            results.append(run_mechanics_kernel(case, mechanisms))
        finally:
            numba.set_num_threads(before)
    assert np.array_equal(results[0], results[1], equal_nan=True)
    assert results[0][:, enums.ADL_COUNT].sum() > 0
    assert results[0][:, enums.PROCYCLICAL_LIQUIDATIONS].sum() > 0
