"""Lending through the command: bad input exits 2 naming file, row or key; perps tables,
the fund's bound and stray oracle assets are refused naming both settings; an oracle print
runs; the shipped markets run on the shipped data (docs/model.md 13)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import tomli_w

from stresstest.engine.run import run
from stresstest.scenario import load_scenario
from tests.test_lending import (
    invoke,
    lending_scenario,
    wide_error_console,  # noqa: F401  (autouse: error lines unwrapped)
)

BAD_FILES = {
    "negative collateral": (
        "loan,asset,collateral,debt_asset,debt\n0,ETH,-1,USDC,100\n",
        ["key 'collateral'", "row 0", "-1"],
    ),
    "unknown asset": (
        "loan,asset,collateral,debt_asset,debt\n0,ETH,1,USDC,100\n1,SOL,1,USDC,100\n",
        ["key 'asset'", "row 1", "SOL", "'BTC', 'ETH'"],
    ),
    "no collateral": (
        "loan,asset,collateral,debt_asset,debt\n0,ETH,1,USDC,100\n7,ETH,0,USDC,100\n"
        "7,BTC,0,USDC,100\n",
        ["no collateral", "row 1", "7"],
    ),
    "negative debt": (
        "loan,asset,collateral,debt_asset,debt\n0,ETH,1,USDC,-100\n",
        ["key 'debt'", "row 0"],
    ),
}
BAD_KEYS = {
    "LT above 1": (
        {"liquidation_threshold": [0.78, 1.2]},
        ["lending.liquidation_threshold", "1.2", "ETH"],
    ),
    "LT (1 + bonus) >= 1": (
        {"liquidation_threshold": [0.78, 0.95], "liquidation_bonus": [0.05, 0.06]},
        ["lending.liquidation_bonus", "0.06", "ETH", "1.007"],
    ),
    "negative bonus": ({"liquidation_bonus": [0.05, -0.01]}, ["lending.liquidation_bonus"]),
    "one depth for two assets": ({"pool_depth": [1e6]}, ["lending.pool_depth", "2 numbers"]),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_bad_loan_file_exits_2_naming_file_and_row(tmp_path: Path, case: str) -> None:
    raw = lending_scenario(tmp_path)
    text, fragments = BAD_FILES[case]
    (tmp_path / "loans.csv").write_text(text, encoding="utf-8")
    file = tmp_path / "lend.toml"
    file.write_text(tomli_w.dumps(raw), encoding="utf-8")
    code, message = invoke(file, tmp_path / "out")
    assert code == 2, message
    for fragment in [str(tmp_path / "loans.csv"), *fragments]:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


@pytest.mark.parametrize("case", list(BAD_KEYS), ids=list(BAD_KEYS))
def test_bad_lending_key_exits_2_naming_the_key(tmp_path: Path, case: str) -> None:
    changes, fragments = BAD_KEYS[case]
    file = tmp_path / "lend.toml"
    file.write_text(tomli_w.dumps(lending_scenario(tmp_path, **changes)), encoding="utf-8")
    code, message = invoke(file, tmp_path / "out")
    assert code == 2, message
    for fragment in [str(file), *fragments]:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert not (tmp_path / "out").exists()


PERPS_TABLES = {
    "margin": {"model": "static", "maintenance": 0.01},
    "liquidation": {"fee": 0.01},
    "market": {"impact": "linear", "depth": 1e6},
    "adl": {},
    "backstop": {"capital": 1e6},
    "procyclicality": {"horizon_steps": 24},
}


@pytest.mark.parametrize("table", list(PERPS_TABLES))
def test_a_perps_table_with_a_loan_book_is_refused_naming_both(tmp_path: Path, table: str) -> None:
    raw = lending_scenario(tmp_path)
    raw[table] = PERPS_TABLES[table]
    file = tmp_path / "lend.toml"
    file.write_text(tomli_w.dumps(raw), encoding="utf-8")
    code, message = invoke(file, tmp_path / "out")
    assert code == 2, message
    assert f"key 'book.source, {table}'" in message, message
    assert not (tmp_path / "out").exists()


BAD_ORACLES = {  # [oracle] keys of a lending scenario whose asset is BTC or ETH
    "unknown asset": {"manipulation_step": 3, "manipulation_asset": "DAI"},
    "no step": {"manipulation_asset": "ETH"},
}


@pytest.mark.parametrize("case", list(BAD_ORACLES))
def test_a_manipulation_asset_that_names_nothing_is_refused(tmp_path: Path, case: str) -> None:
    raw = lending_scenario(tmp_path)
    raw["oracle"] = {"model": "lag", **BAD_ORACLES[case]}
    file = tmp_path / "lend.toml"
    file.write_text(tomli_w.dumps(raw), encoding="utf-8")
    code, message = invoke(file, tmp_path / "out")
    assert code == 2, message
    assert "key 'oracle.manipulation_asset'" in message, message
    assert not (tmp_path / "out").exists()


def test_a_manipulation_asset_with_a_single_asset_path_is_refused(tmp_path: Path) -> None:
    raw = {
        "scenario": {"name": "one", "seed": 1},
        "paths": {"source": "gbm", "s0": 100.0, "sigma": 0.01, "n_paths": 4, "n_steps": 10},
        "book": {"source": "synthetic", "n_positions": 100},
        "margin": {"model": "static", "maintenance": 0.01},
        "oracle": {"model": "lag", "manipulation_step": 2, "manipulation_asset": "BTC"},
    }
    file = tmp_path / "one.toml"
    file.write_text(tomli_w.dumps(raw), encoding="utf-8")
    code, message = invoke(file, tmp_path / "out")
    assert code == 2, message
    assert "key 'oracle.manipulation_asset, paths.source'" in message, message


def test_a_lending_run_with_an_oracle_print_matches_the_reference(tmp_path: Path) -> None:
    """``[oracle]`` in a lending scenario runs through the engine and changes the outcome."""
    raw = lending_scenario(tmp_path)
    raw["oracle"] = {
        "model": "twap",
        "twap_steps": 3,
        "manipulation_step": 10,
        "manipulation_steps": 5,
        "manipulation_size": -0.25,
        "manipulation_asset": "ETH",
    }
    file = tmp_path / "lend.toml"
    file.write_text(tomli_w.dumps(raw), encoding="utf-8")
    code, message = invoke(file, tmp_path / "out")
    assert code == 0, message
    printed = pl.read_parquet(tmp_path / "out" / "paths.parquet")
    del raw["oracle"]
    file.write_text(tomli_w.dumps(raw), encoding="utf-8")
    code, message = invoke(file, tmp_path / "honest")
    assert code == 0, message
    honest = pl.read_parquet(tmp_path / "honest" / "paths.parquet")
    assert printed["n_liquidations"].sum() > honest["n_liquidations"].sum()


def test_the_fund_bound_with_a_loan_book_is_refused_naming_both(tmp_path: Path) -> None:
    raw = lending_scenario(tmp_path)
    raw.setdefault("insurance_fund", {})["pays_past_bankruptcy"] = 0.01
    file = tmp_path / "lend.toml"
    file.write_text(tomli_w.dumps(raw), encoding="utf-8")
    code, message = invoke(file, tmp_path / "out")
    assert code == 2, message
    assert "key 'book.source, insurance_fund.pays_past_bankruptcy'" in message, message


SHIPPED_SETS = {
    "aave_v3_eth_usdc": ("paths.n_paths=8", "paths.n_steps=48", "book.n_loans=300"),
    "compound_v3_usdc": ("paths.n_paths=8", "paths.n_steps=48", "book.n_loans=300"),
    "replay_2021_05_aave": ("book.n_loans=300",),  # one path, the real window
}


@pytest.mark.parametrize("name", list(SHIPPED_SETS))
def test_shipped_lending_scenarios_run_on_the_shipped_data(tmp_path: Path, name: str) -> None:
    """The shipped markets and the replay load, read data/ and run (with fewer loans)."""
    file = Path(__file__).parent.parent / "scenarios" / "lending" / f"{name}.toml"
    result = run(load_scenario(file, sets=SHIPPED_SETS[name]))
    assert result.book.n_positions == 300
    assert np.all(result.column("fund_end") >= 0.0)
    result.write(tmp_path / "out")
