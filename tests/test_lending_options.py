"""Options of a lending market beyond the first cut (docs/model.md 13): the bonus ramp
and the gas cost path.

Hand-computed cases through the kernel, the engine against the plain reference
(tests/reference_lending.py) with the option on, and bad settings refused at the
command line naming the key; the hypothesis comparison of tests/test_lending.py
draws the same options.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w

from stresstest.engine.run import run
from stresstest.kernels import enums
from stresstest.scenario import load_scenario
from tests.reference_lending import reference_lending
from tests.test_lending import (
    NAMES,
    REFERENCE_ATOL,
    assert_hand,
    invoke,
    lending_scenario,
    market,
    one_asset,
    run_kernel,
    wide_error_console,  # noqa: F401  (autouse: error lines unwrapped)
)
from tests.tolerances import ENGINE_VS_REFERENCE_RTOL, assert_close

#: 10 ETH at LT 0.8 against 7600 USDC: HF = 8 P / 7600.
RAMP_LOAN = [{"collateral": [(0, 10.0)], "debt_asset": 1, "debt": 7600.0}]
#: Bonus 5% at HF 1, plus 0.5 per unit of HF below 1, at most 10%.
RAMP = {"bonus_slope": 0.5, "bonus_max": [0.1]}


# ----------------------------------------------------------------------------- bonus ramp
def test_the_bonus_ramps_with_how_far_hf_has_fallen() -> None:
    """At P = 940, HF = 7520 / 7600: bonus 0.05 + 0.5 x 80 / 7600 = 0.05 + 1 / 190.

    HF >= 0.95, so the close factor 0.5 repays 3800: collateral seized
    3800 (1.05 + 1 / 190) = 4010, protocol fee 0.1 x 210 = 21, the liquidators keep
    4010 - 21 - 3800 = 189. A fixed 5% bonus seizes 3990, fee 19, keeps 171.
    """
    prices = one_asset([1000.0, 940.0])
    ramp, _ = run_kernel(prices, RAMP_LOAN, market(**RAMP), 0.0)
    fixed, _ = run_kernel(prices, RAMP_LOAN, market(), 0.0)
    assert_hand(ramp["liquidated_notional"], 3800.0, "ramp: debt repaid")
    assert_hand(ramp["collateral_seized"], 4010.0, "ramp: collateral seized")
    assert_hand(ramp["fees_to_fund"], 21.0, "ramp: protocol fee")
    assert_hand(ramp["fees_to_liquidators"], 189.0, "ramp: liquidators' bonus")
    assert_hand(fixed["collateral_seized"], 3990.0, "fixed: collateral seized")
    assert_hand(fixed["fees_to_liquidators"], 171.0, "fixed: liquidators' bonus")


def test_the_ramp_stops_at_its_cap_and_the_rest_is_bad_debt() -> None:
    """At P = 800, HF = 6400 / 7600 < 0.95: 0.05 + 0.5 x 0.158 > 0.1, so the bonus is 0.1.

    The whole debt 7600 may be repaid; the leg (8000) covers 8000 / 1.1 = 7272.73, the
    whole leg is seized and 7600 - 8000 / 1.1 = 327.27 is bad debt.
    """
    ramp, _ = run_kernel(one_asset([1000.0, 800.0]), RAMP_LOAN, market(**RAMP), 0.0)
    assert_hand(ramp["collateral_seized"], 8000.0, "the whole leg")
    assert_hand(ramp["liquidated_notional"], 8000.0 / 1.1, "debt covered at the cap")
    assert_hand(ramp["bad_debt"], 7600.0 - 8000.0 / 1.1, "bad debt")
    assert_hand(ramp["fees_to_fund"], 0.1 * 0.1 * 8000.0 / 1.1, "protocol fee at the cap")


def test_a_zero_slope_ramp_is_the_fixed_bonus_bit_for_bit() -> None:
    rng = np.random.default_rng(4)
    prices = 1000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.05, (2, 30)), axis=1))[None]
    loans = [
        {"collateral": [(0, 1.0 + j % 3), (1, 0.5)], "debt_asset": 2, "debt": 900.0 + 90.0 * j}
        for j in range(20)
    ]
    values = market(threshold=[0.8, 0.7], bonus=[0.05, 0.08], fee=[0.1, 0.2], depth=[5e4, 5e4])
    fixed, _ = run_kernel(prices, loans, values, 10.0)
    capped, _ = run_kernel(prices, loans, {**values, "bonus_max": [0.09, 0.2]}, 10.0)
    assert fixed == capped  # slope 0: the cap is never read
    assert fixed["n_liquidations"] > 0


def test_an_engine_run_with_a_ramp_matches_the_reference(tmp_path: Path) -> None:
    from stresstest.engine.lending import build_loans
    from stresstest.paths.multi import multi_path_source

    ramp: dict[str, Any] = {"bonus_ramp_slope": 0.4, "bonus_max": [0.1, 0.12]}
    file = tmp_path / "lend.toml"
    file.write_text(tomli_w.dumps(lending_scenario(tmp_path, **ramp)), encoding="utf-8")
    scenario = load_scenario(file)
    result = run(scenario, chunk_size=9)
    source = multi_path_source(scenario.paths, scenario.seed, scenario.source_file)
    prices = source.chunk(0, source.n_paths)
    book = build_loans(scenario, source)
    loans = [
        {
            "collateral": [
                (int(book.asset[leg]), float(book.collateral[leg]))
                for leg in range(book.start[j], book.start[j + 1])
            ],
            "debt_asset": int(book.debt_asset[j]),
            "debt": float(book.debt[j]),
        }
        for j in range(len(book))
    ]
    values = market(
        threshold=[0.78, 0.83],
        bonus=[0.05, 0.05],
        depth=[5e7, 5e7],
        gas=5.0,
        fee=[0.1, 0.1],
        small_loan=2000.0,
        bonus_slope=0.4,
        bonus_max=[0.1, 0.12],
    )
    for path in range(source.n_paths):
        expected = reference_lending(prices[path], loans, values, 1000.0)
        for name in NAMES:
            assert_close(
                result.column(name)[path],
                expected[name],
                rtol=ENGINE_VS_REFERENCE_RTOL,
                atol=REFERENCE_ATOL,
                what=f"path {path} {name}",
            )
    assert result.column("n_liquidations").sum() > 0
    plain = run(load_scenario(_without_ramp(tmp_path)))
    # the ramp pays more than the fixed bonus on these paths, so the equality has teeth
    assert result.column("fees_to_liquidators").sum() > plain.column("fees_to_liquidators").sum()


def _without_ramp(folder: Path) -> Path:
    file = folder / "plain.toml"
    file.write_text(tomli_w.dumps(lending_scenario(folder)), encoding="utf-8")
    return file


BAD_RAMPS = {
    "slope without a cap": (
        {"bonus_ramp_slope": 0.5},
        ["lending.bonus_ramp_slope, lending.bonus_max", "0.5"],
    ),
    "a cap without a slope": (
        {"bonus_max": [0.1, 0.1]},
        ["lending.bonus_max, lending.bonus_ramp_slope", "ignored"],
    ),
    "a cap below the bonus": (
        {"bonus_ramp_slope": 0.5, "bonus_max": [0.1, 0.04]},
        ["lending.bonus_max", "0.04", "ETH"],
    ),
    "LT (1 + cap) >= 1": (
        {"bonus_ramp_slope": 0.5, "bonus_max": [0.3, 0.1]},
        ["lending.bonus_max", "0.3", "BTC", "1.014"],
    ),
    "one cap for two assets": (
        {"bonus_ramp_slope": 0.5, "bonus_max": [0.1]},
        ["lending.bonus_max", "2 numbers"],
    ),
    "a negative slope": ({"bonus_ramp_slope": -1.0}, ["lending.bonus_ramp_slope", "-1"]),
}


@pytest.mark.parametrize("case", list(BAD_RAMPS), ids=list(BAD_RAMPS))
def test_a_bad_ramp_exits_2_naming_the_key(tmp_path: Path, case: str) -> None:
    changes, fragments = BAD_RAMPS[case]
    file = tmp_path / "lend.toml"
    file.write_text(tomli_w.dumps(lending_scenario(tmp_path, **changes)), encoding="utf-8")
    code, message = invoke(file, tmp_path / "out")
    assert code == 2, message
    for fragment in [str(file), *fragments]:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- gas path
def test_a_gas_spike_delays_the_liquidation_to_the_next_cheap_step() -> None:
    """HF 7520 / 7600 at P = 940 for two steps; gas 500 at step 1, 0 at step 2.

    The fixed 5% bonus pays the liquidator 3990 - 19 - 3800 = 171 (before the deep
    pool's tiny impact): less than 500 of gas at step 1, so the loan waits and is
    liquidated at step 2. With gas 500 at step 2 too it is never liquidated and its
    debt is unprofitable at the end.
    """
    prices = one_asset([1000.0, 940.0, 940.0])
    spiked, records = run_kernel(prices, RAMP_LOAN, market(gas=[0.0, 500.0, 0.0]), 0.0)
    assert list(records[0, enums.GRID_COUNT]) == [0.0, 0.0, 1.0]
    assert_hand(spiked["liquidated_notional"], 3800.0, "repaid at step 2")
    assert_hand(spiked["liquidator_profit"], 171.0 - 3971.0**2 / (1e12 + 3971.0), "profit")
    stuck, _ = run_kernel(prices, RAMP_LOAN, market(gas=[0.0, 500.0, 500.0]), 0.0)
    assert stuck["n_liquidations"] == 0.0
    assert_hand(stuck["unprofitable_debt"], 7600.0, "left unprofitable at T")
    constant, _ = run_kernel(prices, RAMP_LOAN, market(gas=[7.0, 7.0, 7.0]), 0.0)
    scalar, _ = run_kernel(prices, RAMP_LOAN, market(gas=7.0), 0.0)
    assert constant == scalar  # a flat path is the constant gas_cost, bit for bit


def gas_scenario(folder: Path, text: str, **changes: Any) -> Path:
    """The engine scenario of tests/test_lending.py with ``gas.csv`` instead of gas_cost."""
    (folder / "gas.csv").write_text(text, encoding="utf-8")
    raw = lending_scenario(folder)
    raw["lending"].pop("gas_cost")
    raw["lending"]["gas_file"] = "gas.csv"
    raw["lending"].update(changes)
    file = folder / "lend.toml"
    file.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return file


def gas_text(values: list[float]) -> str:
    return "step,gas_cost\n" + "".join(f"{t},{g!r}\n" for t, g in enumerate(values))


def test_an_engine_run_with_a_gas_path_matches_the_reference(tmp_path: Path) -> None:
    from stresstest.engine.lending import build_loans
    from stresstest.paths.multi import multi_path_source

    gas = [0.0 if t % 7 else 400.0 for t in range(51)]  # 50 steps: rows 0..50
    scenario = load_scenario(gas_scenario(tmp_path, gas_text(gas)))
    result = run(scenario, chunk_size=11)
    source = multi_path_source(scenario.paths, scenario.seed, scenario.source_file)
    prices = source.chunk(0, source.n_paths)
    book = build_loans(scenario, source)
    loans = [
        {
            "collateral": [
                (int(book.asset[leg]), float(book.collateral[leg]))
                for leg in range(book.start[j], book.start[j + 1])
            ],
            "debt_asset": int(book.debt_asset[j]),
            "debt": float(book.debt[j]),
        }
        for j in range(len(book))
    ]
    values = market(
        threshold=[0.78, 0.83],
        bonus=[0.05, 0.05],
        depth=[5e7, 5e7],
        gas=gas,
        fee=[0.1, 0.1],
        small_loan=2000.0,
    )
    for path in range(source.n_paths):
        expected = reference_lending(prices[path], loans, values, 1000.0)
        for name in NAMES:
            assert_close(
                result.column(name)[path],
                expected[name],
                rtol=ENGINE_VS_REFERENCE_RTOL,
                atol=REFERENCE_ATOL,
                what=f"path {path} {name}",
            )
    assert result.column("n_liquidations").sum() > 0
    result.write(tmp_path / "out")  # the gas file is an input: hashed in the provenance
    resolved = tomllib.loads((tmp_path / "out" / "scenario.resolved.toml").read_text())
    digest = resolved["provenance"]["inputs"]["lending.gas_file"]
    assert digest == hashlib.sha256((tmp_path / "gas.csv").read_bytes()).hexdigest()


GOOD_GAS = gas_text([1.0] * 51)
BAD_GAS = {
    "negative gas": (
        GOOD_GAS.replace("\n3,1.0\n", "\n3,-2.0\n"),
        ["key 'gas_cost'", "row 3", "-2"],
    ),
    "not a number": (GOOD_GAS.replace("\n4,1.0\n", "\n4,abc\n"), ["key 'gas_cost'", "row 4"]),
    "a missing step": (
        GOOD_GAS.replace("\n5,1.0\n", "\n"),
        ["key 'step'", "row 5", "6", "step 5"],
    ),
    "too few rows": (gas_text([1.0] * 40), ["key 'step'", "40 rows for 51 steps"]),
    "too many rows": (gas_text([1.0] * 53), ["key 'step'", "row 51", "53 rows for 51 steps"]),
    "no gas column": ("step,gas\n0,1\n", ["missing column", "gas_cost"]),
}


@pytest.mark.parametrize("case", list(BAD_GAS), ids=list(BAD_GAS))
def test_a_bad_gas_file_exits_2_naming_file_and_row(tmp_path: Path, case: str) -> None:
    text, fragments = BAD_GAS[case]
    file = gas_scenario(tmp_path, text)
    code, message = invoke(file, tmp_path / "out")
    assert code == 2, message
    for fragment in [str(tmp_path / "gas.csv"), *fragments]:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert not (tmp_path / "out").exists()


def test_gas_cost_with_a_gas_file_is_refused_naming_both(tmp_path: Path) -> None:
    file = gas_scenario(tmp_path, GOOD_GAS, gas_cost=5.0)
    code, message = invoke(file, tmp_path / "out")
    assert code == 2, message
    assert "lending.gas_cost, lending.gas_file" in message
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- depth curve
#: ETH's curve: 1% impact after 1000 quote sold, 5% after 3000, flat 5% past it.
CURVE_TEXT = "asset,impact,depth\nETH,0,0\nETH,0.01,1000\nETH,0.05,3000\n"


def curve_of(folder: Path, text: str, assets: tuple[str, ...]) -> Any:
    from stresstest.io.lending_files import read_depth_curves

    file = folder / "depth.csv"
    file.write_text(text, encoding="utf-8")
    return read_depth_curves(file, assets)


def test_the_curve_pays_the_integral_of_one_minus_the_impact(tmp_path: Path) -> None:
    """Selling 2000 from rest: the impact integrates to 5 + (10 + 10) = 25, proceeds 1975.

    Selling 4000: 5 + 20 + 40 up to 3000, then 1000 at the flat 5%: 115, proceeds 3885;
    1000 more after those 4000: 50 lost, 950. From 500 to 1500: 12.5 - 1.25 = 11.25 lost.
    """
    from stresstest.kernels.lending import curve_proceeds

    curves = curve_of(tmp_path, CURVE_TEXT, ("ETH",))
    assert_hand(curve_proceeds(curves.knots, 0, 3, 0.0, 2000.0), 1975.0, "2000 from rest")
    assert_hand(curve_proceeds(curves.knots, 0, 3, 0.0, 4000.0), 3885.0, "past the last knot")
    assert_hand(curve_proceeds(curves.knots, 0, 3, 4000.0, 1000.0), 950.0, "after 4000 sold")
    assert_hand(curve_proceeds(curves.knots, 0, 3, 500.0, 1000.0), 1000.0 - 11.25, "500 to 1500")


def test_a_liquidation_sells_through_the_curve(tmp_path: Path) -> None:
    """10 ETH at LT 0.8 owing 7600, P = 940, fixed 5%, no fee: 3990 sold from rest.

    The impact integrates to 65 + 990 x 0.05 = 114.5: proceeds 3875.5, profit 75.5.
    """
    curves = curve_of(tmp_path, CURVE_TEXT, ("ETH",))
    columns, _ = run_kernel(
        one_asset([1000.0, 940.0]), RAMP_LOAN, market(fee=[0.0], curves=curves), 0.0
    )
    assert_hand(columns["liquidator_profit"], 75.5, "profit through the curve")
    expected = reference_lending(
        one_asset([1000.0, 940.0])[0], RAMP_LOAN, market(fee=[0.0], curves=curves), 0.0
    )
    assert_hand(expected["liquidator_profit"], 75.5, "the reference agrees")


def curve_scenario(folder: Path, text: str, **changes: Any) -> Path:
    """The engine scenario of tests/test_lending.py with depth curves instead of pool_depth."""
    (folder / "depth.csv").write_text(text, encoding="utf-8")
    raw = lending_scenario(folder)
    raw["lending"].pop("pool_depth")
    raw["lending"]["pool_depth_file"] = "depth.csv"
    raw["lending"].update(changes)
    file = folder / "lend.toml"
    file.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return file


#: Shallow books: 2% down after 20,000 sold, 10% after 100,000, 30% after 400,000.
TWO_CURVES = (
    "asset,impact,depth\n"
    "BTC,0,0\nBTC,0.02,20000\nBTC,0.1,100000\nBTC,0.3,400000\n"
    "ETH,0,0\nETH,0.05,30000\nETH,0.2,150000\n"
)


def test_an_engine_run_with_depth_curves_matches_the_reference(tmp_path: Path) -> None:
    from stresstest.engine.lending import build_loans
    from stresstest.paths.multi import multi_path_source

    scenario = load_scenario(curve_scenario(tmp_path, TWO_CURVES))
    result = run(scenario, chunk_size=13)
    source = multi_path_source(scenario.paths, scenario.seed, scenario.source_file)
    prices = source.chunk(0, source.n_paths)
    book = build_loans(scenario, source)
    loans = [
        {
            "collateral": [
                (int(book.asset[leg]), float(book.collateral[leg]))
                for leg in range(book.start[j], book.start[j + 1])
            ],
            "debt_asset": int(book.debt_asset[j]),
            "debt": float(book.debt[j]),
        }
        for j in range(len(book))
    ]
    values = market(
        threshold=[0.78, 0.83],
        bonus=[0.05, 0.05],
        depth=[0.0, 0.0],
        curves=curve_of(tmp_path, TWO_CURVES, ("BTC", "ETH")),
        gas=5.0,
        fee=[0.1, 0.1],
        small_loan=2000.0,
    )
    for path in range(source.n_paths):
        expected = reference_lending(prices[path], loans, values, 1000.0)
        for name in NAMES:
            assert_close(
                result.column(name)[path],
                expected[name],
                rtol=ENGINE_VS_REFERENCE_RTOL,
                atol=REFERENCE_ATOL,
                what=f"path {path} {name}",
            )
    assert result.column("n_liquidations").sum() > 0
    deep = run(load_scenario(_without_ramp(tmp_path)))  # pool_depth 5e7: nearly no impact
    # the shallow curves cost the liquidators, so the equality above has teeth
    assert result.column("liquidator_profit").sum() < deep.column("liquidator_profit").sum()
    result.write(tmp_path / "out")
    resolved = tomllib.loads((tmp_path / "out" / "scenario.resolved.toml").read_text())
    assert "lending.pool_depth_file" in resolved["provenance"]["inputs"]


BAD_CURVES = {
    "an asset without a curve": (
        "asset,impact,depth\nBTC,0,0\nBTC,0.1,1000\n",
        ["key 'asset'", "0 row(s) for asset ETH"],
    ),
    "one row": (
        "asset,impact,depth\nBTC,0,0\nBTC,0.1,1000\nETH,0,0\n",
        ["key 'asset'", "1 row(s) for asset ETH"],
    ),
    "not from (0, 0)": (
        "asset,impact,depth\nBTC,0,0\nBTC,0.1,1000\nETH,0.01,0\nETH,0.1,1000\n",
        ["row 2", "(0, 0)"],
    ),
    "depth not ascending": (
        "asset,impact,depth\nBTC,0,0\nBTC,0.1,1000\nBTC,0.2,1000\nETH,0,0\nETH,0.1,1000\n",
        ["key 'depth'", "row 2", "not strictly ascending"],
    ),
    "impact of 1": (
        "asset,impact,depth\nBTC,0,0\nBTC,1.0,1000\nETH,0,0\nETH,0.1,1000\n",
        ["key 'impact'", "row 1", "impact < 1"],
    ),
    "negative depth": (
        "asset,impact,depth\nBTC,0,0\nBTC,0.1,-5\nETH,0,0\nETH,0.1,1000\n",
        ["key 'depth'", "row 1", "-5"],
    ),
    "unknown asset": (
        "asset,impact,depth\nBTC,0,0\nBTC,0.1,1000\nSOL,0,0\n",
        ["key 'asset'", "row 2", "SOL"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CURVES), ids=list(BAD_CURVES))
def test_a_bad_depth_file_exits_2_naming_file_and_row(tmp_path: Path, case: str) -> None:
    text, fragments = BAD_CURVES[case]
    code, message = invoke(curve_scenario(tmp_path, text), tmp_path / "out")
    assert code == 2, message
    for fragment in [str(tmp_path / "depth.csv"), *fragments]:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("both", [True, False])
def test_pool_depth_and_its_file_go_one_at_a_time(tmp_path: Path, both: bool) -> None:
    file = curve_scenario(tmp_path, TWO_CURVES, **({"pool_depth": [1e6, 1e6]} if both else {}))
    if not both:
        raw = tomllib.loads(file.read_text())
        raw["lending"].pop("pool_depth_file")
        file.write_text(tomli_w.dumps(raw), encoding="utf-8")
    code, message = invoke(file, tmp_path / "out")
    assert code == 2, message
    assert "lending.pool_depth, lending.pool_depth_file" in message
    assert not (tmp_path / "out").exists()
