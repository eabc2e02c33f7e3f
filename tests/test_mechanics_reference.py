"""The stage pipeline against its plain reference (docs/model.md 9, 10.2, 12).

``pipeline_paths`` (sorted book, threshold form, queued closes, online fund) is
compared column by column with ``tests.reference_mechanics.reference_mechanics``
(position by position, direct form) on random books, paths and random
combinations of stages: oracle models with manipulation, the predictive
trigger, the vol-scaled penalty, price impact with cascades, ADL in the loss
waterfall, partial liquidation as the close rule, or both; with the APC options
of ``[margin]`` drawn beside any of them, and ``[procyclicality]`` beside any
(docs/model.md 3.1, 3.2). Absent or neutral stages must
reproduce the core kernel bit for bit.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import numpy as np
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from stresstest.book import sort_book
from stresstest.engine.defences import sorted_positions
from stresstest.engine.mechanics import mechanics_vector
from stresstest.engine.run import margin_arguments
from stresstest.kernels import enums
from stresstest.kernels.enums import N_GRID
from stresstest.kernels.pipeline import pipeline_paths
from stresstest.scenario import schema
from stresstest.scenario.defences import Adl, Backstop, PartialLiquidation
from stresstest.scenario.mechanics import Market, Oracle
from tests.reference_mechanics import Mechanisms, reference_mechanics
from tests.test_replay_reference import (
    KERNEL_SETTINGS,
    NEAR_TIE_RELATIVE_GAP,
    ReplayCase,
    assert_metrics_close,
    margin_config,
    replay_cases,
    run_sorted_kernel,
)
from tests.tiers import examples
from tests.tolerances import (
    ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL,
    ENGINE_VS_REFERENCE_RTOL,
    SAME_FORMULA_RTOL,
    assert_close,
)


def liquidation_table(case: ReplayCase, **keys: Any) -> dict[str, Any]:
    """Every ``[liquidation]`` key: the case's core ones, defaults, then ``keys``."""
    table = {
        field.name: field.default
        for field in schema.Liquidation.__dataclass_fields__.values()  # type: ignore[attr-defined]
    }
    table.update(
        latency_steps=case.latency_steps,
        slippage=case.slippage,
        fee=case.fee,
        liquidator_share=case.liquidator_share,
    )
    table.update(keys)
    return table


def mechanisms_of(case: ReplayCase, mechanisms: Mechanisms) -> np.ndarray:
    """The kernel's parameter vector of ``mechanisms`` (through the engine's own builder)."""
    scenario = SimpleNamespace(
        margin=margin_config(case.margin),
        liquidation=schema.Liquidation(**mechanisms.liquidation),
        oracle=Oracle(**mechanisms.oracle) if mechanisms.oracle else None,
        market=Market(**mechanisms.market) if mechanisms.market else None,
        adl=Adl(**mechanisms.adl) if mechanisms.adl is not None else None,
        partial_liquidation=(
            PartialLiquidation(**mechanisms.partial) if mechanisms.partial is not None else None
        ),
        backstop=Backstop(**mechanisms.backstop) if mechanisms.backstop is not None else None,
        insurance_fund=schema.InsuranceFund(
            initial=mechanisms.fund_initial, pays_past_bankruptcy=mechanisms.fund_bound
        ),
    )
    return mechanics_vector(scenario)  # type: ignore[arg-type]


def run_mechanics_kernel(case: ReplayCase, mechanisms: Mechanisms) -> np.ndarray:
    """The stage pipeline on the sorted book, ``(n_paths, N_METRICS_ALL)``.

    Columns of stages that are off stay NaN, so a stage writing outside its own
    columns is caught.
    """
    sorted_book = sort_book(case.book)
    long_positions, short_positions = sorted_positions(case.book)
    n_paths = case.prices.shape[0]
    out = np.full((n_paths, enums.N_METRICS_ALL), np.nan)
    liq = mechanisms.liquidation
    pipeline_paths(
        np.ascontiguousarray(case.prices),
        margin_arguments(
            margin_config(case.margin),
            vol_floor_variance=mechanisms.vol_floor_variance,
            procyclicality_horizon=mechanisms.procyclicality,
        ),
        np.array(
            [liq["latency_steps"], liq["slippage"], liq["fee"], liq["liquidator_share"]],
            dtype=np.float64,
        ),
        mechanisms_of(case, mechanisms),
        sorted_book.long_threshold,
        sorted_book.long_prefix,
        long_positions,
        sorted_book.short_threshold,
        sorted_book.short_prefix,
        short_positions,
        mechanisms.fund_initial,
        np.empty(0, dtype=np.int64),
        out,
        np.empty((n_paths, N_GRID, 0)),
    )
    return out


def stage_names(mechanisms: Mechanisms) -> str:
    """The stages of ``mechanisms`` other than partial liquidation, for hypothesis events."""
    liq = mechanisms.liquidation
    names = [
        name
        for name, on in (
            ("oracle", mechanisms.oracle is not None),
            ("market", mechanisms.market is not None),
            ("predictive", liq.get("trigger") == "predictive"),
            ("vol_fee", liq.get("fee_model") == "vol_scaled"),
        )
        if on
    ]
    return "+".join(names) or "nothing else"


def assert_money_close(
    case: ReplayCase, actual: np.ndarray, expected: np.ndarray, column: int, what: str
) -> None:
    """One money column (quote units) of the engine against the reference."""
    assert_close(
        actual[:, column],
        expected[:, column],
        rtol=ENGINE_VS_REFERENCE_RTOL,
        atol=ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL * case.scale,
        what=f"{what}: column {column}",
    )


def compare_procyclicality(
    case: ReplayCase, mechanisms: Mechanisms, actual: np.ndarray, expected: np.ndarray, what: str
) -> None:
    """The ``[procyclicality]`` columns (docs/model.md 3.2): NaN when not measured."""
    columns = slice(enums.MARGIN_PEAK_TO_TROUGH, enums.PROCYCLICAL_NOTIONAL + 1)
    if mechanisms.procyclicality == 0:
        assert np.all(np.isnan(actual[:, columns]))
        return
    counts = actual[:, enums.PROCYCLICAL_LIQUIDATIONS]
    event(f"procyclical liquidations with {stage_names(mechanisms)}: {bool(np.any(counts > 0))}")
    if mechanisms.partial is not None:
        rule = mechanisms.partial.get("rule", "to_buffer")
        adl = mechanisms.adl["policy"] if mechanisms.adl else None
        event(f"procyclical liquidations, partial {rule}, adl {adl}: {bool(np.any(counts > 0))}")
    names = enums.PROCYCLICALITY_METRIC_NAMES
    for column, atol in ((enums.MARGIN_PEAK_TO_TROUGH, 0.0), (enums.MARGIN_MAX_INCREASE, 1.0)):
        assert_close(  # dimensionless; the increase may be 0, so its atol is the rtol's scale
            actual[:, column],
            expected[:, column],
            rtol=SAME_FORMULA_RTOL,
            atol=atol * SAME_FORMULA_RTOL,
            what=f"{what}: {names[column - enums.MARGIN_PEAK_TO_TROUGH]}",
        )
    assert_close(counts, expected[:, enums.PROCYCLICAL_LIQUIDATIONS], rtol=0.0, atol=0.0, what=what)
    assert_money_close(case, actual, expected, enums.PROCYCLICAL_NOTIONAL, what)


def compare_with_reference(case: ReplayCase, mechanisms: Mechanisms, what: str) -> None:
    book = case.book
    expected, gap = reference_mechanics(
        case.prices, book.side, book.qty, book.entry_price, book.collateral, mechanisms
    )
    assume(gap > NEAR_TIE_RELATIVE_GAP)
    actual = run_mechanics_kernel(case, mechanisms)
    event(f"liquidations: {bool(np.any(actual[:, enums.N_LIQUIDATIONS] > 0))}")
    if mechanisms.market:
        event(f"cascade: {bool(np.any(actual[:, enums.CASCADE_DEPTH] > 0))}")
        event(f"impact bad debt: {bool(np.any(actual[:, enums.IMPACT_BAD_DEBT] != 0))}")
    else:
        assert np.all(np.isnan(actual[:, enums.CASCADE_DEPTH : enums.IMPACT_BAD_DEBT + 1]))
    if mechanisms.partial is not None:
        event(f"partial with {stage_names(mechanisms)}")
    margin = mechanisms.margin
    if margin.get("apc_buffer") or margin.get("stressed_weight") or mechanisms.vol_floor_variance:
        event(f"APC with {stage_names(mechanisms)}, partial: {mechanisms.partial is not None}")
    if mechanisms.adl is not None:
        event(f"adl {mechanisms.adl['policy']}: {bool(np.any(actual[:, enums.ADL_COUNT] > 0))}")
        assert_close(
            actual[:, enums.ADL_COUNT],
            expected[:, enums.ADL_COUNT],
            rtol=0.0,
            atol=0.0,
            what=f"{what}: adl_count",
        )
        assert_money_close(case, actual, expected, enums.ADL_NOTIONAL, what)
        for column in (enums.ADL_TOP1_SHARE, enums.ADL_TOP10_SHARE, enums.ADL_GINI):
            assert_close(  # dimensionless fractions of money sums
                actual[:, column],
                expected[:, column],
                rtol=ENGINE_VS_REFERENCE_RTOL,
                atol=ENGINE_VS_REFERENCE_RTOL,
                what=f"{what}: {enums.ADL_METRIC_NAMES[column - enums.ADL_NOTIONAL]}",
            )
    else:
        assert np.all(np.isnan(actual[:, enums.ADL_NOTIONAL : enums.ADL_GINI + 1]))
    compare_waterfall_columns(case, mechanisms, actual, expected, what)
    compare_procyclicality(case, mechanisms, actual, expected, what)
    assert_metrics_close(
        actual[:, : enums.N_METRICS],
        expected[:, : enums.N_METRICS],
        rtol=ENGINE_VS_REFERENCE_RTOL,
        scale=case.scale,
        what=what,
    )
    if mechanisms.market:
        assert_close(
            actual[:, enums.CASCADE_DEPTH],
            expected[:, enums.CASCADE_DEPTH],
            rtol=0.0,
            atol=0.0,
            what=f"{what}: cascade_depth",
        )
        assert_close(
            actual[:, enums.IMPACT_BAD_DEBT],
            expected[:, enums.IMPACT_BAD_DEBT],
            rtol=ENGINE_VS_REFERENCE_RTOL,
            atol=ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL * case.scale,
            what=f"{what}: impact_bad_debt",
        )


@st.composite
def oracle_tables(draw: st.DrawFn, n_steps: int) -> dict[str, Any] | None:
    model = draw(st.sampled_from([None, "lag", "ema", "twap"]))
    if model is None:
        return None
    table: dict[str, Any] = {"model": model}
    if model == "lag":
        table["lag_steps"] = draw(st.integers(0, 6))
    elif model == "ema":
        table["ema_lambda"] = draw(st.floats(0.0, 0.95))
    else:
        table["twap_steps"] = draw(st.integers(1, 8))
    if draw(st.booleans()):
        table["manipulation_step"] = draw(st.integers(0, n_steps))
        table["manipulation_size"] = draw(st.floats(-0.3, 0.3))
        table["manipulation_steps"] = draw(st.integers(1, 5))
    return table


@st.composite
def liquidation_keys(draw: st.DrawFn, static_margin: bool) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    if draw(st.booleans()):
        keys["trigger"] = "predictive"
        keys["trigger_probability"] = draw(st.floats(0.01, 0.6))
        keys["trigger_horizon_steps"] = draw(st.sampled_from([None, 0, 1, 4, 24]))
    if draw(st.booleans()):
        fee_min = draw(st.floats(0.0, 0.01))
        keys.update(
            fee_model="vol_scaled",
            fee_base=draw(st.floats(0.0, 0.02)),
            fee_k=draw(st.floats(0.0, 2.0)),
            fee_min=fee_min,
            fee_max=draw(st.floats(fee_min, 0.1)),
        )
    if static_margin or draw(st.booleans()):
        keys["vol_ewma_lambda"] = draw(st.floats(0.5, 0.99))
        keys["vol_initial_variance"] = draw(st.sampled_from([None, 0.0, 1e-4, 1e-3]))
    return keys


@st.composite
def market_tables(draw: st.DrawFn, notional: float) -> dict[str, Any] | None:
    law = draw(st.sampled_from([None, "linear", "sqrt"]))
    if law is None:
        return None
    table: dict[str, Any] = {
        "impact": law,
        "permanent_fraction": draw(st.floats(0.0, 1.0)),
        "max_impact": draw(st.sampled_from([0.05, 0.3, 1.0])),
    }
    if law == "linear":
        table["depth"] = notional * draw(st.floats(0.002, 2.0))
    else:
        table["coefficient"] = draw(st.floats(0.0, 0.2))
        table["reference_notional"] = notional * draw(st.floats(0.01, 1.0))
    return table


@st.composite
def apc_options(draw: st.DrawFn, margin: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """A vol-scaled ``margin`` with random APC options (docs/model.md 3.1), and a floor ``f``.

    Static margin and about half the vol-scaled cases come back unchanged with ``f = 0``.
    The buffer keeps ``(1 + b) cap < 1``, as validation asks.
    """
    if margin["model"] != "vol_scaled" or not draw(st.booleans()):
        return margin, 0.0
    options: dict[str, Any] = {}
    if draw(st.booleans()):
        options["apc_buffer"] = draw(st.floats(0.0, min(1.0, 0.99 / max(margin["cap"], 0.01) - 1)))
    if draw(st.booleans()):
        options["stressed_weight"] = draw(st.floats(0.0, 1.0))
        if draw(st.booleans()):
            options["stressed_variance"] = draw(st.floats(0.0, 0.01))
    return {**margin, **options}, draw(st.sampled_from([0.0, 1e-5, 1e-3]))


@st.composite
def mechanism_cases(draw: st.DrawFn) -> tuple[ReplayCase, Mechanisms]:
    case = draw(replay_cases())
    margin, vol_floor = draw(apc_options(case.margin))  # the APC rates with every stage
    case = replace(case, margin=margin)
    n_steps = case.prices.shape[1] - 1
    notional = float(np.sum(case.book.qty * case.book.entry_price))
    keys = draw(liquidation_keys(case.margin["model"] == "static"))
    mechanisms = Mechanisms(
        margin=case.margin,
        vol_floor_variance=vol_floor,
        liquidation=liquidation_table(case, **keys),
        oracle=draw(oracle_tables(n_steps)),
        market=draw(market_tables(notional)),
        # ADL acts only once the fund is empty: a small or empty fund makes it fire.
        fund_initial=case.fund_initial * draw(st.sampled_from([1.0, 0.01, 0.0])),
        adl=draw(
            st.sampled_from(
                [
                    None,
                    {"policy": "profit_leverage"},
                    {"policy": "hyperliquid"},
                    {"policy": "pro_rata"},
                ]
            )
        ),
    )
    if mechanisms.adl is None and draw(st.booleans()):  # [partial_liquidation] (10.1)
        mechanisms = replace(
            mechanisms,
            partial={"buffer": draw(partial_buffers(case))},
            backstop=draw(backstop_tables(notional)),  # 10.3 with 10.1
            fund_bound=draw(st.sampled_from([None, 0.0, 0.005, 0.05])),  # 10.4 with 10.1
        )
    elif draw(st.booleans()):  # the backstop vault and the fund's bound (10.3, 10.4)
        mechanisms = replace(
            mechanisms,
            backstop=draw(backstop_tables(notional)),
            fund_bound=draw(st.sampled_from([None, 0.0, 0.005, 0.05])),
        )
    margin = case.margin
    lowest = margin["maintenance"] if margin["model"] == "static" else margin["floor"]
    if lowest > 0.0 and draw(st.booleans()):  # [procyclicality] divides by m_t (3.2)
        mechanisms = replace(mechanisms, procyclicality=draw(st.integers(1, 8)))
    return case, mechanisms


@st.composite
def backstop_tables(
    draw: st.DrawFn, notional: float, optional: bool = True
) -> dict[str, Any] | None:
    """A ``[backstop]`` table (or with ``optional`` ``None``); capital from tiny to ample."""
    if optional and not draw(st.booleans()):
        return None
    return {
        "capital": notional * draw(st.sampled_from([1e-4, 0.01, 1.0])),
        "takeover_fraction": draw(st.sampled_from([2.0 / 3.0, 0.3, 1.0])),
        "hold_steps": draw(st.sampled_from([None, 0, 1, 5])),
    }


@st.composite
def partial_buffers(draw: st.DrawFn, case: ReplayCase) -> float:
    """A buffer the scenario validation accepts: ``lowest m + b > fee`` (fraction of notional)."""
    margin = case.margin
    lowest = margin["maintenance"] if margin["model"] == "static" else margin["floor"]
    return min(0.9, max(0.0, case.fee - lowest) + draw(st.floats(1e-3, 0.2)))


@settings(KERNEL_SETTINGS, max_examples=examples(400))
@given(drawn=mechanism_cases())
def test_pipeline_matches_reference(drawn: tuple[ReplayCase, Mechanisms]) -> None:
    case, mechanisms = drawn
    compare_with_reference(case, mechanisms, "pipeline_paths vs reference")


@settings(KERNEL_SETTINGS, max_examples=300)
@given(drawn=mechanism_cases(), data=st.data())
def test_partial_liquidation_in_the_pipeline_matches_reference(
    drawn: tuple[ReplayCase, Mechanisms], data: st.DataObject
) -> None:
    """Partial liquidation drawn every time, with whatever other stages were drawn (no ADL)."""
    case, mechanisms = drawn
    buffer = data.draw(partial_buffers(case))
    mechanisms = replace(
        mechanisms, adl=None, partial={"buffer": buffer}, backstop=None, fund_bound=None
    )
    compare_with_reference(case, mechanisms, "pipeline_paths with partial vs reference")


@settings(KERNEL_SETTINGS, max_examples=examples(200))
@given(drawn=mechanism_cases(), data=st.data())
def test_procyclicality_with_partial_liquidation_matches_reference(
    drawn: tuple[ReplayCase, Mechanisms], data: st.DataObject
) -> None:
    """``[procyclicality]`` and partial liquidation (3.2, 10.1) drawn every time, either rule.

    Every close (partial or in full) of a position the rate held at ``m_0`` never flags
    counts; the reference lists each close and judges the position as it opened, in the
    direct form, on the run's marks. ADL, the vault and the bound sometimes.
    """
    case, mechanisms = drawn
    if data.draw(st.integers(0, 3)) > 0:
        # Mostly a design that rises from a low m_0 under the maintenance trigger, so that
        # positions the held rate never flags are liquidated (random designs rarely are).
        floor = data.draw(st.floats(0.001, 0.02))
        rising = {
            "model": "vol_scaled",
            "k": data.draw(st.floats(1.0, 5.0)),
            "horizon_steps": data.draw(st.integers(1, 24)),
            "ewma_lambda": data.draw(st.floats(0.5, 0.95)),
            "initial_variance": 0.0,
            "floor": floor,
            "cap": data.draw(st.floats(max(floor, 0.05), 0.5)),
        }
        case = replace(case, margin=rising)
        liquidation = {**mechanisms.liquidation, "trigger": "maintenance"}
        mechanisms = replace(mechanisms, margin=rising, liquidation=liquidation)
    margin = case.margin
    lowest = margin["maintenance"] if margin["model"] == "static" else margin["floor"]
    assume(lowest > 0.0)  # the ratios divide by m_t (3.2)
    notional = float(np.sum(case.book.qty * case.book.entry_price))
    if data.draw(st.booleans()):
        partial: dict[str, Any] = {"buffer": data.draw(partial_buffers(case))}
    else:
        partial = {
            "rule": "fraction",
            "fraction": data.draw(st.sampled_from([0.2, 0.5, 1.0])),
            "cooldown_steps": data.draw(st.sampled_from([0, 1, 3])),
            "min_notional": notional * data.draw(st.sampled_from([0.0, 1e-3, 0.05])),
        }
    policy = data.draw(st.sampled_from([None, "profit_leverage", "hyperliquid", "pro_rata"]))
    mechanisms = replace(
        mechanisms,
        partial=partial,
        adl=None if policy is None else {"policy": policy},
        backstop=data.draw(backstop_tables(notional)),
        fund_bound=data.draw(st.sampled_from([None, 0.005])),
        procyclicality=data.draw(st.integers(1, 8)),
    )
    event(f"procyclicality with partial rule {partial.get('rule', 'to_buffer')}, adl {policy}")
    compare_with_reference(case, mechanisms, "pipeline_paths with partial and procyclicality")


@KERNEL_SETTINGS
@given(
    case=replay_cases(),
    lag_or_twap=st.sampled_from(["lag", "ema", "twap", "market"]),
    data=st.data(),
)
def test_neutral_mechanisms_are_bit_identical_to_the_core_kernel(
    case: ReplayCase, lag_or_twap: str, data: st.DataObject
) -> None:
    """lag 0, ema weight 0, twap of one point, infinite depth: the core kernel, bit for bit.

    With the APC options drawn too (docs/model.md 3.1): the pipeline posts them in its
    loop, the core kernel in a pass of its own, through the same ``apc_rate``.
    """
    margin, vol_floor = data.draw(apc_options(case.margin))
    case = replace(case, margin=margin)
    neutral = {
        "lag": ({"model": "lag", "lag_steps": 0}, None),
        "ema": ({"model": "ema", "ema_lambda": 0.0}, None),
        "twap": ({"model": "twap", "twap_steps": 1}, None),
        "market": (None, {"impact": "linear", "depth": 1e300, "permanent_fraction": 1.0}),
    }[lag_or_twap]
    mechanisms = Mechanisms(
        margin=case.margin,
        liquidation=liquidation_table(case),
        oracle=neutral[0],
        market=neutral[1],
        fund_initial=case.fund_initial,
        vol_floor_variance=vol_floor,
    )
    actual = run_mechanics_kernel(case, mechanisms)
    core = run_sorted_kernel(case, vol_floor)
    np.testing.assert_array_equal(actual[:, : enums.N_METRICS], core)
    if neutral[1] is not None:
        np.testing.assert_array_equal(
            actual[:, enums.CASCADE_DEPTH : enums.IMPACT_BAD_DEBT + 1], 0.0
        )


def compare_waterfall_columns(
    case: ReplayCase, mechanisms: Mechanisms, actual: np.ndarray, expected: np.ndarray, what: str
) -> None:
    """The backstop columns (10.3) and ``fund_passed_bad_debt`` (10.4), or NaN when off."""
    money_atol = ENGINE_VS_REFERENCE_ATOL_PER_NOTIONAL * case.scale
    if mechanisms.backstop is not None:
        event(f"backstop takeovers: {bool(np.any(actual[:, enums.BACKSTOP_TAKEOVERS] > 0))}")
        event(f"backstop exhausted: {bool(np.any(actual[:, enums.BACKSTOP_EXHAUSTED] > 0))}")
        for name in enums.BACKSTOP_METRIC_NAMES:
            column = enums.METRIC_INDEX[name]
            exact = name in ("backstop_takeovers", "backstop_exhausted")
            assert_close(
                actual[:, column],
                expected[:, column],
                rtol=0.0 if exact else ENGINE_VS_REFERENCE_RTOL,
                atol=0.0 if exact else money_atol,
                what=f"{what}: {name}",
            )
    else:
        columns = slice(enums.BACKSTOP_TAKEOVERS, enums.BACKSTOP_EXHAUSTED + 1)
        assert np.all(np.isnan(actual[:, columns]))
    if mechanisms.fund_bound is not None:
        event(f"fund bound passes: {bool(np.any(actual[:, enums.FUND_PASSED_BAD_DEBT] > 0))}")
        assert_close(
            actual[:, enums.FUND_PASSED_BAD_DEBT],
            expected[:, enums.FUND_PASSED_BAD_DEBT],
            rtol=ENGINE_VS_REFERENCE_RTOL,
            atol=money_atol,
            what=f"{what}: fund_passed_bad_debt",
        )
    else:
        assert np.all(np.isnan(actual[:, enums.FUND_PASSED_BAD_DEBT]))


@settings(KERNEL_SETTINGS, max_examples=examples(200))
@given(drawn=mechanism_cases(), data=st.data())
def test_backstop_and_fund_bound_match_reference(
    drawn: tuple[ReplayCase, Mechanisms], data: st.DataObject
) -> None:
    """The vault and the fund's bound drawn every time, with whatever else was drawn but partial."""
    case, mechanisms = drawn
    notional = float(np.sum(case.book.qty * case.book.entry_price))
    backstop = data.draw(backstop_tables(notional, optional=False))
    bound = data.draw(st.sampled_from([None, 0.0, 0.005, 0.05]))
    mechanisms = replace(mechanisms, partial=None, backstop=backstop, fund_bound=bound)
    compare_with_reference(case, mechanisms, "pipeline_paths with backstop vs reference")


@settings(KERNEL_SETTINGS, max_examples=examples(200))
@given(drawn=mechanism_cases(), data=st.data())
def test_partial_liquidation_with_the_fund_bound_matches_reference(
    drawn: tuple[ReplayCase, Mechanisms], data: st.DataObject
) -> None:
    """Partial liquidation and the fund's bound (10.1, 10.4) drawn every time, no ADL.

    The bound applies to every full close of the partial loop: ranges of the sorted
    book by binary search, cohorts (one threshold) whole; the reference bounds each
    position's bad debt on its own.
    """
    case, mechanisms = drawn
    buffer = data.draw(partial_buffers(case))
    bound = data.draw(st.sampled_from([0.0, 0.001, 0.005, 0.05]))
    mechanisms = replace(
        mechanisms, adl=None, partial={"buffer": buffer}, backstop=None, fund_bound=bound
    )
    compare_with_reference(case, mechanisms, "pipeline_paths with partial and bound vs reference")


@settings(KERNEL_SETTINGS, max_examples=examples(200))
@given(drawn=mechanism_cases(), data=st.data())
def test_partial_liquidation_with_the_backstop_matches_reference(
    drawn: tuple[ReplayCase, Mechanisms], data: st.DataObject
) -> None:
    """Partial liquidation and the vault (10.1, 10.3) drawn every time, the bound sometimes.

    The vault takes a due range of the sorted book by binary search and a cohort whole
    (its members share their bankruptcy price); the reference tests every due
    position on its own, remainders at their current quantity and collateral.
    """
    case, mechanisms = drawn
    notional = float(np.sum(case.book.qty * case.book.entry_price))
    buffer = data.draw(partial_buffers(case))
    backstop = data.draw(backstop_tables(notional, optional=False))
    bound = data.draw(st.sampled_from([None, 0.0, 0.005]))
    mechanisms = replace(
        mechanisms, adl=None, partial={"buffer": buffer}, backstop=backstop, fund_bound=bound
    )
    compare_with_reference(case, mechanisms, "pipeline_paths with partial and vault vs reference")


@settings(KERNEL_SETTINGS, max_examples=examples(300))
@given(drawn=mechanism_cases(), data=st.data())
def test_partial_liquidation_with_adl_matches_reference(
    drawn: tuple[ReplayCase, Mechanisms], data: st.DataObject
) -> None:
    """Partial liquidation and ADL (10.1, 10.2) drawn every time, the vault and bound sometimes.

    The pipeline keeps partial closes per cohort and materialises each touched
    position's quantity, collateral and status for ADL (kernels/partial_adl.py); the
    reference carries every position's own quantity and collateral through partial
    closes and ADL alike. A small or empty fund makes ADL fire.
    """
    case, mechanisms = drawn
    notional = float(np.sum(case.book.qty * case.book.entry_price))
    policy = data.draw(st.sampled_from(["profit_leverage", "hyperliquid", "pro_rata"]))
    mechanisms = replace(
        mechanisms,
        adl={"policy": policy},
        partial={"buffer": data.draw(partial_buffers(case))},
        fund_initial=case.fund_initial * data.draw(st.sampled_from([0.01, 0.0])),
        backstop=data.draw(backstop_tables(notional)),
        fund_bound=data.draw(st.sampled_from([None, None, 0.005])),
    )
    compare_with_reference(case, mechanisms, "pipeline_paths with partial and ADL vs reference")
