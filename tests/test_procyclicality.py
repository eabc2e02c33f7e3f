"""Procyclicality columns and the EMIR Art. 28 APC margin options (docs/model.md 3.1, 3.2).

Known answers (static margin: ratio 1, increase 0, no procyclical liquidation; a
hand-computed APC rate sequence; a hand-computed volatility floor), the compiled
rates and columns against the plain reference of tests/reference_procyclicality.py
on hypothesis cases, and the refusals and warnings of the scenario keys.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stresstest.book import sort_book
from stresstest.engine.plan import margin_arguments
from stresstest.engine.procyclicality import YEAR_MS, history_variance, vol_floor_variance
from stresstest.errors import InputError
from stresstest.kernels import enums
from stresstest.kernels.dense import margin_rates
from stresstest.kernels.enums import N_GRID
from stresstest.kernels.margin import apc_rate, apc_state
from stresstest.kernels.replay import replay_paths
from stresstest.scenario.procyclicality import apc_findings
from stresstest.scenario.validate import scenario_from_dict
from tests.reference_procyclicality import (
    reference_apc_rates,
    reference_procyclical_closes,
    reference_rate_measures,
    smallest_gap,
)
from tests.test_replay_reference import (
    KERNEL_SETTINGS,
    NEAR_TIE_RELATIVE_GAP,
    ReplayCase,
    liquidation_vector,
    margin_config,
    replay_cases,
)
from tests.tiers import examples
from tests.tolerances import (
    ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL,
    ENGINE_VS_REFERENCE_RTOL,
    HAND_COMPUTED_RTOL,
    SAME_FORMULA_RTOL,
    assert_close,
)

PROCYC_COLUMNS = slice(enums.MARGIN_PEAK_TO_TROUGH, enums.PROCYCLICAL_NOTIONAL + 1)


def run_kernel(case: ReplayCase, margin: np.ndarray) -> np.ndarray:
    """The core kernel on the sorted book, ``(n_paths, N_METRICS_ALL)``."""
    book = sort_book(case.book)
    n_paths = case.prices.shape[0]
    out = np.zeros((n_paths, enums.N_METRICS_ALL))
    replay_paths(
        np.ascontiguousarray(case.prices),
        margin,
        liquidation_vector(case),
        book.long_threshold,
        book.long_prefix,
        book.short_threshold,
        book.short_prefix,
        case.fund_initial,
        np.empty(0, dtype=np.int64),
        out,
        np.empty((n_paths, N_GRID, 0)),
    )
    return out


@settings(KERNEL_SETTINGS, max_examples=examples(100))
@given(case=replay_cases(), horizon=st.integers(1, 5), maintenance=st.floats(1e-4, 0.3))
def test_static_margin_is_not_procyclical(
    case: ReplayCase, horizon: int, maintenance: float
) -> None:
    """Known answer: a constant rate has peak/trough 1, increase 0 and flags nobody extra."""
    margin = {"model": "static", "maintenance": maintenance}
    out = run_kernel(case, margin_arguments(margin_config(margin), procyclicality_horizon=horizon))
    assert np.all(out[:, enums.MARGIN_PEAK_TO_TROUGH] == 1.0)
    assert np.all(out[:, enums.MARGIN_MAX_INCREASE] == 0.0)
    assert np.all(out[:, enums.PROCYCLICAL_LIQUIDATIONS] == 0.0)
    assert np.all(out[:, enums.PROCYCLICAL_NOTIONAL] == 0.0)


@st.composite
def apc_margins(draw: st.DrawFn) -> tuple[dict[str, Any], float]:
    """A vol-scaled ``[margin]`` table with random APC options, and a variance floor."""
    floor = draw(st.floats(1e-3, 0.1))
    margin: dict[str, Any] = {
        "model": "vol_scaled",
        "k": draw(st.floats(0.5, 5.0)),
        "horizon_steps": draw(st.integers(1, 24)),
        "ewma_lambda": draw(st.floats(0.5, 0.99)),
        "initial_variance": draw(st.floats(0.0, 0.005)),
        "floor": floor,
        "cap": draw(st.floats(floor, 0.3)),
    }
    if draw(st.booleans()):
        margin["apc_buffer"] = draw(st.floats(0.0, 1.0))
    if draw(st.booleans()):
        margin["stressed_weight"] = draw(st.floats(0.0, 1.0))
        if draw(st.booleans()):
            margin["stressed_variance"] = draw(st.floats(0.0, 0.01))
    vol_floor = draw(st.sampled_from([0.0, 1e-5, 1e-3]))
    return margin, vol_floor


@settings(KERNEL_SETTINGS, max_examples=examples(300))
@given(case=replay_cases(), drawn=apc_margins(), horizon=st.integers(1, 8))
def test_kernel_matches_reference(
    case: ReplayCase, drawn: tuple[dict[str, Any], float], horizon: int
) -> None:
    """Rates, peak/trough, n-step increase and procyclical closes against the reference."""
    margin, vol_floor = drawn
    vector = margin_arguments(
        margin_config(margin), vol_floor_variance=vol_floor, procyclicality_horizon=horizon
    )
    out = run_kernel(case, vector)
    for path, prices in enumerate(case.prices):
        rates = reference_apc_rates(prices, margin, vol_floor)
        assert_close(
            margin_rates(np.ascontiguousarray(prices), vector),
            rates,
            rtol=SAME_FORMULA_RTOL,
            atol=0.0,
            what="APC rates",
        )
        ratio, increase = reference_rate_measures(rates, horizon)
        row = out[path]
        assert_close(
            row[enums.MARGIN_PEAK_TO_TROUGH], ratio, rtol=SAME_FORMULA_RTOL, atol=0.0, what="ratio"
        )
        assert_close(
            row[enums.MARGIN_MAX_INCREASE],
            increase,
            rtol=SAME_FORMULA_RTOL,
            atol=SAME_FORMULA_RTOL,
            what="max increase",
        )
        assume(smallest_gap(prices, rates, case.book) > NEAR_TIE_RELATIVE_GAP)
        count, notional = reference_procyclical_closes(
            prices, rates, case.book, case.latency_steps, case.slippage
        )
        assert row[enums.PROCYCLICAL_LIQUIDATIONS] == count
        assert_close(
            row[enums.PROCYCLICAL_NOTIONAL],
            notional,
            rtol=ENGINE_VS_REFERENCE_RTOL,
            atol=ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL * case.scale,
            what="procyclical notional",
        )


@settings(KERNEL_SETTINGS, max_examples=examples(50))
@given(case=replay_cases(), drawn=apc_margins(), horizon=st.integers(1, 8))
def test_measuring_leaves_the_core_columns_alone(
    case: ReplayCase, drawn: tuple[dict[str, Any], float], horizon: int
) -> None:
    """The procyclicality columns are extra: every core column is bit for bit the same."""
    margin, vol_floor = drawn
    config = margin_config(margin)
    plain = run_kernel(case, margin_arguments(config, vol_floor_variance=vol_floor))
    measured = run_kernel(
        case,
        margin_arguments(config, vol_floor_variance=vol_floor, procyclicality_horizon=horizon),
    )
    assert np.array_equal(plain[:, : enums.N_METRICS], measured[:, : enums.N_METRICS])
    assert np.all(plain[:, PROCYC_COLUMNS] == 0.0)


def _hand_rates(**options: float) -> list[float]:
    """apc_rate over variances 1e-4, 4e-4, 9e-4, 1e-4 with k = 1, h = 1, floor 0, cap 0.5:
    model rates (sqrt of the variance) 0.01, 0.02, 0.03, 0.01 without options."""
    margin = {
        "model": "vol_scaled",
        "k": 1.0,
        "horizon_steps": 1,
        "ewma_lambda": 0.9,
        "initial_variance": 1e-4,
        "floor": 0.0,
        "cap": 0.5,
    }
    floor = options.pop("vol_floor", 0.0)
    vector = margin_arguments(margin_config({**margin, **options}), vol_floor_variance=floor)
    state = apc_state()
    return [apc_rate(vector, 1.0, v, state) for v in (1e-4, 4e-4, 9e-4, 1e-4)]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        # m_0 = 1.5 u_0; then the buffer absorbs the rise until u exceeds the posted rate,
        # and is rebuilt at once when u falls: 0.015, 0.02, 0.03, 0.015.
        ({"apc_buffer": 0.5}, [0.015, 0.02, 0.03, 0.015]),
        # s_t = running max: sigma = 0.5 sqrt(v) + 0.5 sqrt(s) = 0.01, 0.02, 0.03, 0.02.
        ({"stressed_weight": 0.5}, [0.01, 0.02, 0.03, 0.02]),
        # s = 0.0016 given: sigma = 0.75 sqrt(v) + 0.25 x 0.04 = 0.0175, 0.025, 0.0325, 0.0175.
        ({"stressed_weight": 0.25, "stressed_variance": 0.0016}, [0.0175, 0.025, 0.0325, 0.0175]),
        # floor f = 4e-4: sigma = max(sqrt(v), 0.02) = 0.02, 0.02, 0.03, 0.02.
        ({"vol_floor": 4e-4}, [0.02, 0.02, 0.03, 0.02]),
    ],
)
def test_apc_rate_hand_cases(options: dict[str, float], expected: list[float]) -> None:
    assert_close(
        np.asarray(_hand_rates(**options)),
        np.asarray(expected),
        rtol=HAND_COMPUTED_RTOL,
        atol=0.0,
        what="APC rates",
    )


def test_history_variance_hand_case(tmp_path: Path) -> None:
    """Closes 100, 110, 99, 99 hourly: r = ln 1.1, ln 0.9, 0; one hour back keeps the last two."""
    data = tmp_path / "closes.csv"
    data.write_text(
        "timestamp,close\n"
        "2024-01-01T00:00:00Z,100\n2024-01-01T01:00:00Z,110\n"
        "2024-01-01T02:00:00Z,99\n2024-01-01T03:00:00Z,99\n"
    )
    everything = (math.log(1.1) ** 2 + math.log(0.9) ** 2) / 3.0
    assert math.isclose(history_variance(data, 10.0), everything, rel_tol=HAND_COMPUTED_RTOL)
    hour = 3600 * 1000 / YEAR_MS
    last_two = math.log(0.9) ** 2 / 2.0
    assert math.isclose(history_variance(data, hour), last_two, rel_tol=HAND_COMPUTED_RTOL)


BASE: dict[str, Any] = {
    "scenario": {"name": "apc", "seed": 1},
    "paths": {"source": "gbm", "s0": 100.0, "sigma": 0.01, "n_paths": 4, "n_steps": 20},
    "book": {"source": "synthetic", "n_positions": 100},
    "margin": {
        "model": "vol_scaled",
        "k": 2.0,
        "horizon_steps": 2,
        "ewma_lambda": 0.94,
        "initial_variance": 1e-4,
        "floor": 0.004,
        "cap": 0.045,
    },
    "liquidation": {},
    "insurance_fund": {"initial": 1e6},
}


def scenario(**tables: dict[str, Any]) -> Any:
    raw = {**BASE, **tables}
    return scenario_from_dict(raw, file=None)


def with_margin(**keys: Any) -> dict[str, Any]:
    return {**BASE["margin"], **keys}


def test_gbm_floor_is_sigma_squared() -> None:
    built = scenario(margin=with_margin(vol_floor_lookback_years=10.0))
    assert vol_floor_variance(built) == 0.01**2


@pytest.mark.parametrize(
    ("tables", "keys"),
    [
        ({"margin": with_margin(stressed_variance=1e-3)}, "margin.stressed_variance"),
        ({"margin": with_margin(apc_buffer=30.0)}, "margin.apc_buffer"),
        ({"margin": with_margin(apc_buffer=9.0, cap=0.2)}, "margin.apc_buffer, margin.cap"),
        ({"procyclicality": {"horizon_steps": 21}}, "procyclicality.horizon_steps"),
        ({"procyclicality": {"horizon_steps": 2}, "margin": with_margin(floor=0.0)}, "floor"),
        ({"procyclicality": {"horizon_steps": 0}}, "procyclicality.horizon_steps"),
    ],
)
def test_meaningless_settings_are_refused(tables: dict[str, Any], keys: str) -> None:
    with pytest.raises(InputError) as caught:
        scenario(**tables)
    assert keys in str(caught.value)


def test_vol_floor_needs_a_history(tmp_path: Path) -> None:
    prices = tmp_path / "paths.csv"
    prices.write_text("path,step,price\n0,0,100\n0,1,101\n")
    paths = {"source": "file", "file": str(prices)}
    with pytest.raises(InputError) as caught:
        scenario(paths=paths, margin=with_margin(vol_floor_lookback_years=10.0))
    assert "margin.vol_floor_lookback_years, paths.source" in str(caught.value)


def test_below_emir_minima_warns() -> None:
    margin = with_margin(apc_buffer=0.1, stressed_weight=0.2, vol_floor_lookback_years=5.0)
    built = scenario(margin=margin)
    findings = apc_findings(built)
    assert [f.key for f in findings] == [
        "margin.apc_buffer",
        "margin.stressed_weight",
        "margin.vol_floor_lookback_years",
    ]
    assert all("EMIR RTS 153/2013 Art. 28" in f.implication for f in findings)
    at_minimum = with_margin(apc_buffer=0.25, stressed_weight=0.25, vol_floor_lookback_years=10.0)
    assert apc_findings(scenario(margin=at_minimum)) == []


# ----------------------------------------------------------------------------- end to end
def end_to_end_raw(**tables: Any) -> dict[str, Any]:
    """A small GBM scenario (200 positions up to 50x, 30 paths of 48 steps), [procyclicality]."""
    raw: dict[str, Any] = {
        **BASE,
        "scenario": {"name": "procyc_e2e", "seed": 7},
        "paths": {"source": "gbm", "s0": 100.0, "sigma": 0.02, "n_paths": 30, "n_steps": 48},
        "book": {"source": "synthetic", "n_positions": 200, "leverage_max": 50.0},
        "procyclicality": {"horizon_steps": 6},
    }
    raw.update(tables)
    return raw


def test_run_writes_the_columns_and_checks_the_limits(tmp_path: Path) -> None:
    from stresstest.check.appetite import check_limits, parse_appetite
    from stresstest.engine.run import run

    appetite = {"margin_max_increase_mean_max": 0.5, "procyclical_liquidations_mean_max": 1e6}
    raw = end_to_end_raw(
        margin=with_margin(apc_buffer=0.25, vol_floor_lookback_years=10.0), appetite=appetite
    )
    built = scenario_from_dict(raw, file=None)
    result = run(built)
    result.write(tmp_path / "run")  # validated against the schemas by tests/conftest.py
    assert result.metric_names[-4:] == enums.PROCYCLICALITY_METRIC_NAMES
    assert np.all(result.column("margin_peak_to_trough") >= 1.0)
    increase = result.column("margin_max_increase")
    parsed = parse_appetite(result.scenario)
    assert parsed is not None
    checks = {check.key: check for check in check_limits(parsed, result)}
    assert checks["margin_max_increase_mean_max"].value == float(np.mean(increase))
    summary = result.summary()["metrics"]
    assert summary["procyclical_liquidations"]["mean"] == pytest.approx(
        float(np.mean(result.column("procyclical_liquidations"))), rel=SAME_FORMULA_RTOL
    )


def test_a_procyclicality_limit_needs_the_table() -> None:
    from stresstest.check.appetite import parse_appetite

    raw = end_to_end_raw(appetite={"margin_max_increase_mean_max": 0.5})
    del raw["procyclicality"]
    with pytest.raises(InputError) as caught:
        parse_appetite(scenario_from_dict(raw, file=None))
    assert "appetite.margin_max_increase_mean_max, procyclicality" in str(caught.value)


@pytest.mark.slow  # a comparison and its whole report: about 6 s
def test_compare_tables_and_report_page(tmp_path: Path) -> None:
    from stresstest.comparison.engine import compare
    from stresstest.comparison.output import write_comparison
    from stresstest.report.build import report_figures

    raw = end_to_end_raw(
        compare={
            "baseline": "vol_scaled",
            "bootstrap_samples": 50,
            "variants": [
                {"name": "static", "margin": {"model": "static", "maintenance": 0.01}},
                {"name": "vol_scaled"},
                {"name": "apc", "margin.apc_buffer": 0.25, "margin.stressed_weight": 0.25},
            ],
        }
    )
    comparison = compare(scenario_from_dict(raw, file=None))
    table = comparison.table
    static = table.filter(table["variant"] == "static").row(0, named=True)
    assert static["margin_peak_to_trough_mean"] == 1.0
    assert static["margin_max_increase_mean"] == 0.0
    assert static["procyclical_liquidations_mean"] == 0.0
    statistics = set(comparison.differences_table["statistic"].to_list())
    assert {f"{name}_mean" for name in enums.PROCYCLICALITY_METRIC_NAMES} <= statistics
    folder = tmp_path / "compare"
    write_comparison(comparison, folder)
    pages = dict(report_figures(folder))
    assert "procyclicality" in pages
    axes = pages["procyclicality"].axes
    assert len(axes) == 2 and all(ax.has_data() for ax in axes)


def test_columns_do_not_depend_on_threads_or_chunks() -> None:
    """docs/model.md 8: the same bytes whatever the thread count or chunk size."""
    from stresstest.engine.run import run

    raw = end_to_end_raw(margin=with_margin(apc_buffer=0.25, stressed_weight=0.3))
    built = scenario_from_dict(raw, file=None)
    one = run(built, threads=1, chunk_size=30).paths_frame()
    two = run(built, threads=2, chunk_size=7).paths_frame()
    assert one.equals(two)
    assert set(enums.PROCYCLICALITY_METRIC_NAMES) <= set(one.columns)
