"""Congestion gas of a lending market (docs/model.md 13.4): each path's own gas path,
the gas times ``1 + slope x`` the fall of one asset's price from its rolling high.

Hand-computed cases through the kernel (a loan left unliquidated while gas is high and
liquidated when it falls back), the engine against the plain reference
(tests/reference_lending.py) path by path, and bad settings refused at the command
line naming the key; the hypothesis comparison of tests/test_lending.py draws it too.
"""

from __future__ import annotations

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
    run_kernel,
    wide_error_console,  # noqa: F401  (autouse: error lines unwrapped)
)
from tests.tolerances import ENGINE_VS_REFERENCE_RTOL, assert_close

#: 10 ETH at LT 0.8 against 7600 USDC: HF = 8 P / 7600, 0.9895 at P = 940.
LOAN = [{"collateral": [(0, 10.0)], "debt_asset": 1, "debt": 7600.0}]
#: Gas 50 quote, times 1 + 50 x the fall of asset 0 from its high of the last step.
CONGESTION = {"gas": 50.0, "gas_crash_slope": 50.0, "gas_crash_asset": 0, "gas_crash_window": 1}


def test_congestion_gas_follows_the_fall_from_the_rolling_high() -> None:
    """Prices 100, 80, 90, 60, 60, 100 with a window of 2 steps back: the highs are
    100, 100, 100, 90, 90, 100, the falls 0, 0.2, 0.1, 1/3, 1/3, 0; gas 10, slope 5:
    10, 20, 15, 26.67, 26.67, 10; over a gas path 1, 2, 3, 4, 5, 6 it scales each step.
    """
    from stresstest.kernels.lending_market import congestion_gas

    prices = np.array([100.0, 80.0, 90.0, 60.0, 60.0, 100.0])
    out = np.empty(6)
    congestion_gas(prices, np.zeros(0), 10.0, 5.0, 2, out)
    expected = [10.0, 20.0, 15.0, 10.0 + 50.0 / 3.0, 10.0 + 50.0 / 3.0, 10.0]
    for step in range(6):
        assert_hand(out[step], expected[step], f"gas at step {step}")
    congestion_gas(prices, np.arange(1.0, 7.0), 10.0, 5.0, 2, out)
    for step in range(6):
        assert_hand(out[step], (step + 1) * expected[step] / 10.0, f"gas path at step {step}")
    congestion_gas(prices, np.zeros(0), 10.0, 5.0, 10, out)  # the high of the whole path
    assert_hand(out[5], 10.0, "back at the high")
    assert_hand(out[4], 10.0 + 50.0 * 0.4, "40% below the high of 100")


def test_a_loan_waits_out_the_gas_spike_of_the_crash() -> None:
    """P = 1000, 1000, 940, 940, 940: the loan is liquidatable from step 2 (HF 0.9895).

    A liquidation repays 3800, seizes 3990 of ETH, pays a fee of 19 and sells 3971:
    the liquidator gains 171 before gas (and the deep pool's tiny impact). At step 2
    ETH has fallen 6% from its high of the step before: gas 50 (1 + 50 x 0.06) = 200
    > 171, so the loan waits; at step 3 the high of the last step is 940, the fall 0,
    gas 50: liquidated. With a window of 3 steps the high stays 1000 to the end: gas
    200 at every step, never liquidated, 7600 of debt left unprofitable. On a second
    path that starts at 940 (no fall, gas 50) the same loan is liquidated at step 0:
    each path has its own gas.
    """
    prices = np.array(
        [[[1000.0, 1000.0, 940.0, 940.0, 940.0]], [[940.0, 940.0, 940.0, 940.0, 940.0]]]
    )
    paths: list[np.ndarray] = []
    waited, records = run_kernel(prices, LOAN, market(**CONGESTION), 0.0, every_path=paths)
    assert list(records[0, enums.GRID_COUNT]) == [0.0, 0.0, 0.0, 1.0, 0.0]
    assert list(records[1, enums.GRID_COUNT]) == [1.0, 0.0, 0.0, 0.0, 0.0]
    impact = 3971.0**2 / (1e12 + 3971.0)
    assert_hand(waited["liquidated_notional"], 3800.0, "repaid at step 3")
    assert_hand(waited["liquidator_profit"], 171.0 - 50.0 - impact, "profit after gas 50")
    assert_hand(paths[0][1, enums.METRIC_INDEX["liquidator_profit"]], 121.0 - impact, "path 2")
    for path in range(2):  # the reference, path by path
        expected = reference_lending(prices[path], LOAN, market(**CONGESTION), 0.0)
        assert expected["n_liquidations"] == 1.0
        assert_hand(
            paths[0][path, enums.METRIC_INDEX["liquidator_profit"]],
            expected["liquidator_profit"],
            f"reference, path {path}",
        )
    stuck, _ = run_kernel(prices[:1], LOAN, market(**{**CONGESTION, "gas_crash_window": 3}), 0.0)
    assert stuck["n_liquidations"] == 0.0
    assert_hand(stuck["unprofitable_debt"], 7600.0, "left unprofitable at T")
    assert_hand(stuck["unprofitable_loans"], 1.0, "one loan")
    flat, _ = run_kernel(prices[:1], LOAN, market(gas=50.0), 0.0)
    assert list(flat.values()) != list(waited.values())  # without congestion: step 2


def test_a_zero_slope_and_a_calm_path_are_the_constant_gas_bit_for_bit() -> None:
    """Congestion never lowers gas; on a path that never falls it is gas_cost exactly."""
    rising = np.array([[[900.0, 920.0, 940.0, 960.0]]])
    loans = [{"collateral": [(0, 10.0)], "debt_asset": 1, "debt": 7300.0}]
    calm, _ = run_kernel(rising, loans, market(**CONGESTION), 0.0)
    constant, _ = run_kernel(rising, loans, market(gas=50.0), 0.0)
    assert calm["n_liquidations"] > 0.0
    assert calm == constant


# ----------------------------------------------------------------------------- engine
def congestion_scenario(folder: Path, **changes: Any) -> Path:
    """The engine scenario of tests/test_lending.py with congestion gas on ETH."""
    raw = lending_scenario(folder)
    raw["lending"].update(
        {"gas_cost": 40.0, "gas_crash_slope": 30.0, "gas_crash_asset": "ETH", **changes}
    )
    raw["lending"] = {key: value for key, value in raw["lending"].items() if value is not None}
    file = folder / "lend.toml"
    file.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return file


def test_an_engine_run_with_congestion_gas_matches_the_reference(tmp_path: Path) -> None:
    from stresstest.engine.lending import build_loans
    from stresstest.paths.multi import multi_path_source

    scenario = load_scenario(congestion_scenario(tmp_path, gas_crash_window=6))
    result = run(scenario, chunk_size=11)
    np.testing.assert_array_equal(result.metrics, run(scenario, chunk_size=40).metrics)
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
        fee=[0.1, 0.1],
        small_loan=2000.0,
        gas=40.0,
        gas_crash_slope=30.0,
        gas_crash_asset=1,  # ETH, the second path asset
        gas_crash_window=6,
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
    plain = congestion_scenario(tmp_path, gas_crash_slope=None, gas_crash_asset=None)
    flat = run(load_scenario(plain)).column("liquidator_profit")
    assert result.column("n_liquidations").sum() > 0
    assert (result.column("liquidator_profit") < flat).any()  # gas rose on some path


BAD_CONGESTION = {
    "a slope without an asset": (
        {"gas_crash_asset": None},
        ["lending.gas_crash_slope, lending.gas_crash_asset", "30", "['BTC', 'ETH']"],
    ),
    "an unknown asset": (
        {"gas_crash_asset": "SOL"},
        ["lending.gas_crash_asset", "SOL", "['BTC', 'ETH']"],
    ),
    "the quote asset": (
        {"gas_crash_asset": "USDC"},
        ["lending.gas_crash_asset", "USDC", "never falls"],
    ),
    "an asset without a slope": (
        {"gas_crash_slope": None},
        ["lending.gas_crash_asset, lending.gas_crash_slope", "ETH", "gas_crash_slope > 0"],
    ),
    "a window without a slope": (
        {"gas_crash_slope": None, "gas_crash_asset": None, "gas_crash_window": 4},
        ["lending.gas_crash_window, lending.gas_crash_slope", "4"],
    ),
    "a negative slope": ({"gas_crash_slope": -1.0}, ["lending.gas_crash_slope", "-1"]),
    "a window of 0": ({"gas_crash_window": 0}, ["lending.gas_crash_window", "0"]),
}


@pytest.mark.parametrize("case", list(BAD_CONGESTION), ids=list(BAD_CONGESTION))
def test_bad_congestion_gas_exits_2_naming_the_key(tmp_path: Path, case: str) -> None:
    changes, fragments = BAD_CONGESTION[case]
    file = congestion_scenario(tmp_path, **changes)
    code, message = invoke(file, tmp_path / "out")
    assert code == 2, message
    for fragment in [str(file), *fragments]:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert not (tmp_path / "out").exists()
