"""``stresstest compare`` on lending designs (docs/lending.md, docs/model.md 13).

Close factor 50% against 100%, liquidation bonus 5% against 7.5%, on the same
paths and loans: each variant's ``paths.parquet`` is the same bytes as its own
run, the paired differences equal a direct computation from those files, and
the settings a lending comparison cannot honour are refused naming them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import tomli_w
from typer.testing import CliRunner

from stresstest.cli import app
from stresstest.comparison.engine import LENDING_DIFFERENCE_STATISTICS, compare
from stresstest.errors import InputError
from stresstest.jobs import compare_to_dir, run_to_dir
from stresstest.scenario import load_scenario
from stresstest.schemas import validate_result_folder
from tests.tolerances import assert_close

BASE: dict[str, Any] = {
    "scenario": {"name": "lending_compare", "seed": 11},
    "paths": {
        "source": "gbm_multi",
        "assets": ["ETH", "BTC"],
        "s0": [2000.0, 60000.0],
        "sigma": [0.03, 0.025],
        "correlation": [[1.0, 0.7], [0.7, 1.0]],
        "n_paths": 30,
        "n_steps": 40,
    },
    "book": {
        "source": "loans_synthetic",
        "n_loans": 300,
        "legs": 1,
        "value_median": 20000.0,
        "hf_min": 1.02,
        "hf_max": 1.6,
    },
    "lending": {
        "liquidation_threshold": [0.86, 0.82],
        "liquidation_bonus": [0.05, 0.05],
        "protocol_fee": [0.1, 0.1],
        "pool_depth": [3e6, 2e6],
        "pool_half_life": 2.0,
        "gas_cost": 15.0,
    },
    "insurance_fund": {"initial": 20000.0},
}
VARIANTS: dict[str, dict[str, Any]] = {
    "cf50_bonus5": {"lending.close_factor": 0.5},
    "cf100_bonus5": {"lending.close_factor": 1.0},
    "cf50_bonus7.5": {"lending.close_factor": 0.5, "lending.liquidation_bonus": [0.075, 0.075]},
    "cf50_ramp": {
        "lending.close_factor": 0.5,
        "lending.bonus_ramp_slope": 0.5,
        "lending.bonus_max": [0.1, 0.1],
    },
}
COMPARE: dict[str, Any] = {
    "baseline": "cf50_bonus5",
    "bootstrap_samples": 200,
    "confidence": 0.9,
    "variants": [{"name": name, **overrides} for name, overrides in VARIANTS.items()],
}
#: The money figures are 1e2 to 1e7 quote; a direct computation in another order of
#: summation differs from the engine's by rounding only.
DIRECT_RTOL = 1e-12
DIRECT_ATOL = 1e-6


def write_scenario(folder: Path, raw: dict[str, Any], name: str = "scenario.toml") -> Path:
    path = folder / name
    path.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return path


def alone(name: str) -> dict[str, Any]:
    """The base scenario with one variant's overrides written into its tables."""
    raw = json.loads(json.dumps(BASE))
    for key, value in VARIANTS[name].items():
        table, field = key.split(".")
        raw[table][field] = value
    return raw


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lending_compare")
    file = write_scenario(folder, {**BASE, "compare": COMPARE})
    _, target = compare_to_dir(file, folder / "compare", chunk_size=7)
    return target


def test_each_variant_is_its_own_run_bit_for_bit(compared: Path, tmp_path: Path) -> None:
    liquidated = {}
    for name in VARIANTS:
        _, own = run_to_dir(write_scenario(tmp_path, alone(name), f"{name}.toml"), tmp_path / name)
        variant = compared / "variants" / name
        assert (variant / "paths.parquet").read_bytes() == (own / "paths.parquet").read_bytes()
        frame = pl.read_parquet(own / "paths.parquet")
        liquidated[name] = float(frame["liquidated_notional"].sum())
        assert frame["n_liquidations"].sum() > 0
    # the designs repay different debt on these paths, so the equality above has teeth
    assert len(set(liquidated.values())) == len(liquidated)
    validate_result_folder(compared)


def direct_es99(values: np.ndarray) -> float:
    """Mean of the ceil(1% n) largest values, by a full sort (docs/model.md 7)."""
    count = max(1, math.ceil(values.shape[0] * 0.01 - 1e-9))
    return float(np.sort(values)[values.shape[0] - count :].mean())


def test_paired_differences_equal_a_direct_computation(compared: Path) -> None:
    """Estimates from the variants' paths.parquet, intervals by a plain paired bootstrap."""
    frames = {
        name: pl.read_parquet(compared / "variants" / name / "paths.parquet") for name in VARIANTS
    }
    differences = pl.read_parquet(compared / "differences.parquet")
    base = frames["cf50_bonus5"]
    functions = {
        "mean": lambda values: float(values.sum() / values.shape[0]),
        "es99": direct_es99,
        "positive": lambda values: float((values > 0.0).sum()) / values.shape[0],
    }
    checked = 0
    for name in VARIANTS:
        frame = frames[name]
        assert frame["path"].to_list() == base["path"].to_list()  # the same paths, paired
        rows = {
            row["statistic"]: row
            for row in differences.filter(pl.col("variant") == name).iter_rows(named=True)
        }
        assert set(rows) == set(LENDING_DIFFERENCE_STATISTICS)
        for statistic, row in rows.items():
            if statistic == "penalties_paid_mean":
                ours = (frame["fees_to_fund"] + frame["fees_to_liquidators"]).to_numpy()
                theirs = (base["fees_to_fund"] + base["fees_to_liquidators"]).to_numpy()
                kind = "mean"
            else:
                column = LENDING_DIFFERENCE_STATISTICS[statistic][0]
                ours, theirs = frame[column].to_numpy(), base[column].to_numpy()
                kind = (
                    "es99"
                    if statistic.endswith("es99")
                    else "positive"
                    if statistic == "probability_fund_depleted"
                    else "mean"
                )
            function = functions[kind]
            estimate = function(ours) - function(theirs)
            assert_close(
                row["difference"],
                estimate,
                rtol=DIRECT_RTOL,
                atol=DIRECT_ATOL,
                what=f"{name} {statistic}",
            )
            if kind == "mean":  # paired: the difference of means is the mean of differences
                assert_close(
                    row["difference"],
                    float(np.mean(ours - theirs)),
                    rtol=1e-9,
                    atol=DIRECT_ATOL,
                    what=f"{name} {statistic} per path",
                )
            generator = np.random.default_rng(
                np.random.SeedSequence(BASE["scenario"]["seed"], spawn_key=(2,))
            )
            resampled = []
            for _ in range(COMPARE["bootstrap_samples"]):
                pick = generator.integers(0, ours.shape[0], ours.shape[0])
                resampled.append(function(ours[pick]) - function(theirs[pick]))
            low, high = np.quantile(resampled, [0.05, 0.95])
            assert_close(
                row["ci_low"],
                float(low),
                rtol=1e-9,
                atol=DIRECT_ATOL,
                what=f"{name} {statistic} low",
            )
            assert_close(
                row["ci_high"],
                float(high),
                rtol=1e-9,
                atol=DIRECT_ATOL,
                what=f"{name} {statistic} high",
            )
            checked += 1
    assert checked == len(VARIANTS) * len(LENDING_DIFFERENCE_STATISTICS)
    # a baseline against itself differs by exactly zero
    own = differences.filter(pl.col("variant") == "cf50_bonus5")
    assert (own["difference"] == 0.0).all() and (own["ci_low"] == 0.0).all()


def test_bonus_and_close_factor_move_the_figures_the_way_the_model_says(compared: Path) -> None:
    """A 7.5% bonus seizes more collateral per unit repaid than 5% (13.3)."""
    frames = {
        name: pl.read_parquet(compared / "variants" / name / "paths.parquet") for name in VARIANTS
    }
    table = pl.read_parquet(compared / "compare.parquet")
    assert table["margin_model"].to_list() == ["lending"] * len(VARIANTS)
    assert table["design"].to_list() == [
        "close_factor=0.5 bonus=0.05",
        "close_factor=1 bonus=0.05",
        "close_factor=0.5 bonus=0.075",
        "close_factor=0.5 bonus=0.05 ramp=0.5 max=0.1",
    ]
    for name, bonus in (("cf50_bonus5", 0.05), ("cf50_bonus7.5", 0.075)):
        frame = frames[name]
        # every unit of debt repaid seizes collateral worth 1 + bonus of it at the oracle (13.3)
        ratio = frame["collateral_seized"].sum() / frame["liquidated_notional"].sum()
        assert_close(ratio, 1.0 + bonus, rtol=1e-9, atol=0.0, what=f"{name} seized per repaid")
    # the ramp pays at least the 5% bonus and at most its 10% cap per unit repaid
    ramp = frames["cf50_ramp"]
    ratio = ramp["collateral_seized"].sum() / ramp["liquidated_notional"].sum()
    assert 1.05 < ratio <= 1.1 + 1e-12
    # a 100% close factor repays more debt per liquidation than 50% on the same paths
    repaid = {name: frame["liquidated_notional"].sum() for name, frame in frames.items()}
    count = {name: frame["n_liquidations"].sum() for name, frame in frames.items()}
    assert (
        repaid["cf100_bonus5"] / count["cf100_bonus5"]
        > repaid["cf50_bonus5"] / count["cf50_bonus5"]
    )
    document = json.loads((compared / "compare.json").read_text())
    assert [variant["design"] for variant in document["variants"]] == table["design"].to_list()


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"match": "cost"}, "match, book.source"),
        ({"backtest_data": True}, "compare.backtest_data, book.source"),
    ],
)
def test_match_and_backtest_are_refused_naming_both(
    tmp_path: Path, change: dict[str, Any], key: str
) -> None:
    compare_table = dict(COMPARE)
    if "backtest_data" in change:
        (tmp_path / "candles.csv").write_text("timestamp,close\n0,1\n", encoding="utf-8")
        compare_table["backtest_data"] = "candles.csv"
    file = write_scenario(tmp_path, {**BASE, "compare": compare_table})
    with pytest.raises(InputError) as caught:
        compare(load_scenario(file), match=change.get("match"))
    assert caught.value.key == key


def test_a_margin_override_of_a_lending_variant_exits_2_naming_both(tmp_path: Path) -> None:
    bad = {**COMPARE, "variants": [*COMPARE["variants"], {"name": "m", "margin.maintenance": 0.01}]}
    file = write_scenario(tmp_path, {**BASE, "compare": bad})
    outcome = CliRunner().invoke(app, ["compare", str(file), "--out", str(tmp_path / "out")])
    assert outcome.exit_code == 2, outcome.output
    assert "margin" in outcome.output and "book.source" in outcome.output
    assert not (tmp_path / "out").exists()


def test_a_paths_override_of_a_lending_variant_names_the_lending_tables(tmp_path: Path) -> None:
    bad = {**COMPARE, "variants": [*COMPARE["variants"], {"name": "p", "paths.n_paths": 5}]}
    file = write_scenario(tmp_path, {**BASE, "compare": bad})
    with pytest.raises(InputError) as caught:
        compare(load_scenario(file))
    assert "[lending]" in str(caught.value.expected)
