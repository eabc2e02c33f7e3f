"""The engine benchmark verifies before it times, and its verification can fail.

Runs the engine family's parity check (benchmarks/engine_cases.py) on a tiny case
for both margin models, then shows that it rejects a perturbed engine output, a
vacuous case and a failing grid (benchmarks/bench_engine.py: exit status 1,
nothing timed). The other families' checks: tests/test_benchmark_families.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from benchmarks import bench_engine, engine_cases
from benchmarks.engine_cases import ParityError, check_parity, compare_metrics, make_scenario
from benchmarks.numpy_reference import ReferenceParams, reference_metrics
from stresstest.kernels import enums

N_POSITIONS = 2_000
N_PATHS = 8
N_STEPS = 50
MARGINS = ("static", "vol_scaled")


def tiny(margin: str):
    return make_scenario(N_POSITIONS, N_PATHS, margin, n_steps=N_STEPS)


@pytest.mark.parametrize("margin", MARGINS)
def test_parity_passes_on_a_tiny_case(margin: str) -> None:
    report = check_parity(tiny(margin))
    assert report.n_dense_paths == N_PATHS
    assert report.n_numpy_paths >= 1
    assert report.liquidations_per_path > 0
    assert report.worst_vs_dense < 1.0
    assert report.worst_vs_numpy < 1.0
    assert report.engine_rows.shape == (N_PATHS, enums.N_METRICS)


def _set(row: int, name: str, change: Callable[[float, float], float]):
    """An engine whose output has ``change(value, notional)`` in one cell."""

    def engine(scenario, sorted_book):
        out = engine_cases.engine_metrics(scenario, sorted_book).copy()
        column = enums.METRIC_NAMES.index(name)
        out[row, column] = change(out[row, column], _book_notional(scenario))
        return out

    return engine


def _book_notional(scenario) -> float:
    from stresstest.engine.run import build_book

    book = build_book(scenario, scenario.paths.s0)
    return float(np.sum(book.qty * book.entry_price))


PERTURBATIONS = {
    "one liquidation missing": (0, "n_liquidations", lambda v, n: v - 1.0),
    "notional off by 1e-7": (1, "liquidated_notional", lambda v, n: v * (1.0 + 1e-7)),
    "bad debt off by 1e-6 of the book": (2, "bad_debt", lambda v, n: v + 1e-6 * n),
    "fund end off by 1e-6 of the book": (N_PATHS - 1, "fund_end", lambda v, n: v + 1e-6 * n),
    "margin rate off by 1e-8": (3, "margin_rate_mean", lambda v, n: v * (1.0 + 1e-8)),
    "a NaN": (4, "fund_required", lambda v, n: math.nan),
}


@pytest.mark.parametrize("margin", MARGINS)
@pytest.mark.parametrize("perturbation", list(PERTURBATIONS))
def test_parity_fails_on_a_perturbed_engine(margin: str, perturbation: str) -> None:
    row, name, change = PERTURBATIONS[perturbation]
    with pytest.raises(ParityError):
        check_parity(tiny(margin), engine=_set(row, name, change))


def test_rows_beyond_the_numpy_subset_are_checked_by_the_dense_twin() -> None:
    engine = _set(N_PATHS - 1, "liquidated_notional", lambda v, n: v * (1.0 + 1e-7))
    with pytest.raises(ParityError, match="dense twin"):
        check_parity(tiny("static"), n_numpy_paths=2, engine=engine)


def test_parity_fails_when_replay_all_is_broken(monkeypatch: pytest.MonkeyPatch) -> None:
    original = engine_cases.replay_all

    def broken(*args, **kwargs):
        out = original(*args, **kwargs)
        out[:, enums.BAD_DEBT] *= 1.01
        out[:, enums.LIQUIDATED_NOTIONAL] *= 1.01
        return out

    monkeypatch.setattr(engine_cases, "replay_all", broken)
    with pytest.raises(ParityError, match="engine vs"):
        check_parity(tiny("vol_scaled"))


def test_parity_fails_on_a_shape_mismatch() -> None:
    def short(scenario, sorted_book):
        return engine_cases.engine_metrics(scenario, sorted_book)[:-1]

    with pytest.raises(ParityError, match="shape"):
        check_parity(tiny("static"), engine=short)


def test_a_vacuous_case_fails() -> None:
    """With 1x leverage and no entry dispersion nothing is liquidated: nothing to compare."""
    raw = engine_cases.scenario_dict(N_POSITIONS, N_PATHS, "static", N_STEPS)
    raw["book"].update(leverage_max=1.0, entry_dispersion=0.0)
    with pytest.raises(ParityError, match="vacuous"):
        check_parity(engine_cases.load_scenario(raw))


def test_compare_metrics_tolerances() -> None:
    names = enums.METRIC_NAMES
    expected = np.ones((2, len(names))) * 1e6
    expected[:, names.index("margin_rate_mean")] = 0.005
    assert compare_metrics(expected.copy(), expected, notional=1e9, what="same") == 0.0
    within = expected.copy()
    within[:, names.index("bad_debt")] += 0.5  # atol = 1e-9 x 1e9 = 1
    assert 0.0 < compare_metrics(within, expected, notional=1e9, what="within") < 1.0
    outside = expected.copy()
    outside[1, names.index("bad_debt")] += 2.5
    with pytest.raises(ParityError, match="bad_debt"):
        compare_metrics(outside, expected, notional=1e9, what="outside")


def test_failed_parity_exits_non_zero_and_times_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    original = engine_cases.replay_all

    def broken(*args, **kwargs):
        out = original(*args, **kwargs)
        out[:, enums.N_LIQUIDATIONS] += 1.0
        return out

    def must_not_time(*args, **kwargs):
        raise AssertionError("timed after a failed parity check")

    monkeypatch.setattr(engine_cases, "replay_all", broken)
    monkeypatch.setattr(bench_engine, "time_all", must_not_time)
    monkeypatch.setattr(bench_engine, "QUICK_POSITIONS", (N_POSITIONS,))
    monkeypatch.setattr(bench_engine, "QUICK_PATHS", (4,))
    assert bench_engine.main(["--quick"]) == 1
    assert "PARITY FAILED" in capsys.readouterr().err


def test_numpy_reference_by_hand() -> None:
    """One long: q 1, e 100, c 10, m 1%; breach at t = 2 (E = -1 < R = 0.89), close at t = 3."""
    params = ReferenceParams(
        margin_model="static",
        maintenance=0.01,
        k=0.0,
        horizon_steps=1.0,
        ewma_lambda=0.5,
        initial_variance=0.0,
        floor=0.0,
        cap=0.0,
        latency_steps=1,
        slippage=0.0,
        fee=0.01,
        liquidator_share=0.5,
        fund_initial=0.0,
    )
    prices = np.array([[100.0, 95.0, 89.0, 80.0, 85.0]])
    one = np.array([1.0])
    got = reference_metrics(prices, np.array([1]), one, np.array([100.0]), np.array([10.0]), params)
    expected = {
        "n_liquidations": 1.0,
        "liquidated_notional": 80.0,
        "bad_debt": 10.0,  # e' = 10 + (80 - 100) = -10
        "fees_to_fund": 0.0,
        "fees_to_liquidators": 0.0,
        "fund_end": 0.0,
        "fund_min": 0.0,
        "fund_max_drawdown": 0.0,
        "socialized_loss": 10.0,
        "fund_required": 10.0,
        "requirement_mean": 0.01 * (100.0 + 95.0 + 89.0) / 5,
        "margin_rate_mean": 0.01,
    }
    for column, name in enumerate(enums.METRIC_NAMES):
        assert got[0, column] == pytest.approx(expected[name], rel=1e-12, abs=1e-12), name
