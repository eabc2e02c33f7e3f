"""Accounts scenarios in the whole-job machinery (docs/model.md 11.6).

``stresstest compare`` pits isolated against cross margin on the same accounts
and paths (each variant bit-identical to its own run, differences paired), the
multi-asset data files are hashed in ``scenario.resolved.toml``, an interrupted
accounts run resumes to the same bytes, and ``stresstest report`` draws accounts
run and comparison folders.
"""

from __future__ import annotations

import pickle
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import tomli_w

from stresstest.comparison.engine import (
    ACCOUNTS_DIFFERENCE_STATISTICS,
    columns_of,
    compare,
)
from stresstest.comparison.paired import paired_differences
from stresstest.engine import accounts as accounts_module
from stresstest.engine.checkpoint import checkpoint_dir_for
from stresstest.engine.plan import record_grid_steps
from stresstest.engine.run import run
from stresstest.errors import InputError
from stresstest.jobs import compare_to_dir, run_to_dir
from stresstest.report.build import report_figures
from stresstest.scenario import load_scenario
from stresstest.scenario.provenance import sha256_of
from tests.test_accounts_paths import write_candles

BASE: dict[str, Any] = {
    "scenario": {"name": "accounts_compare", "seed": 3},
    "paths": {
        "source": "gbm_multi",
        "assets": ["BTC", "ETH"],
        "s0": [60000.0, 3000.0],
        "sigma": [0.012, 0.015],
        "correlation": [[1.0, 0.7], [0.7, 1.0]],
        "n_paths": 24,
        "n_steps": 60,
    },
    "book": {
        "source": "accounts_synthetic",
        "n_accounts": 400,
        "leverage_min": 5.0,
        "leverage_max": 40.0,
    },
    "margin": {"model": "static", "maintenance": 0.005},
    "liquidation": {"latency_steps": 1, "slippage": 0.001, "fee": 0.005},
    "insurance_fund": {"initial": 2000.0},
}
VARIANTS: dict[str, dict[str, Any]] = {
    "isolated": {"accounts.mode": "isolated"},
    "cross": {"accounts.mode": "cross"},
    "cross_half": {"accounts.mode": "cross", "accounts.collateral_scale": 0.5},
    "cross_tiers": {
        "accounts.mode": "cross",
        "accounts.bracket_floor": [50000.0],
        "accounts.bracket_rate": [0.02],
    },
}
COMPARE: dict[str, Any] = {
    "baseline": "isolated",
    "bootstrap_samples": 50,
    "variants": [{"name": name, **overrides} for name, overrides in VARIANTS.items()],
}


def write_scenario(folder: Path, raw: dict[str, Any], name: str = "scenario.toml") -> Path:
    path = folder / name
    path.write_text(tomli_w.dumps(raw))
    return path


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("accounts_compare")
    file = write_scenario(folder, {**BASE, "compare": COMPARE})
    _, target = compare_to_dir(file, folder / "compare", chunk_size=7)
    return target


def test_compare_variants_equal_their_own_runs_bit_for_bit(compared: Path, tmp_path: Path) -> None:
    liquidations = {}
    for name, overrides in VARIANTS.items():
        raw: dict[str, Any] = {**BASE, "accounts": {}}
        for key, value in overrides.items():
            raw["accounts"][key.split(".")[1]] = value
        file = write_scenario(tmp_path, raw, f"{name}.toml")
        _, alone = run_to_dir(file, tmp_path / name)
        variant = compared / "variants" / name
        assert (variant / "paths.parquet").read_bytes() == (alone / "paths.parquet").read_bytes()
        liquidations[name] = pl.read_parquet(alone / "paths.parquet")["n_liquidations"].sum()
    # the designs differ on these paths, so the equality above has teeth
    assert len(set(liquidations.values())) == len(liquidations)


def test_differences_are_paired_and_capital_is_collateral_posted(compared: Path) -> None:
    table = pl.read_parquet(compared / "compare.parquet")
    posted = dict(zip(table["variant"], table["collateral_posted"], strict=True))
    assert posted["cross"] == posted["isolated"]
    assert posted["cross_half"] == pytest.approx(0.5 * posted["isolated"], rel=1e-12)
    assert list(table["accounts_mode"]) == ["isolated", "cross", "cross", "cross"]
    frames = {
        name: pl.read_parquet(compared / "variants" / name / "paths.parquet") for name in VARIANTS
    }
    differences = pl.read_parquet(compared / "differences.parquet")
    scenario = load_scenario(compared / "scenario.resolved.toml")
    base = scenario.with_overrides({"accounts.mode": "isolated"})
    results = {name: run(base.with_overrides(overrides)) for name, overrides in VARIANTS.items()}
    baseline = columns_of(results["isolated"])
    for name in VARIANTS:
        assert np.array_equal(frames[name]["path"].to_numpy(), frames["isolated"]["path"])
        expected = paired_differences(
            columns_of(results[name]),
            baseline,
            ACCOUNTS_DIFFERENCE_STATISTICS,
            samples=50,
            confidence=0.95,
            seed=scenario.seed,
        )
        rows = differences.filter(pl.col("variant") == name)
        for row in rows.iter_rows(named=True):
            paired = expected[row["statistic"]]
            assert (row["difference"], row["ci_low"], row["ci_high"]) == (
                paired.estimate,
                paired.low,
                paired.high,
            )
    capital = differences.filter(
        (pl.col("variant") == "cross_half") & (pl.col("statistic") == "collateral_posted")
    ).row(0, named=True)
    assert capital["difference"] == pytest.approx(-0.5 * posted["isolated"], rel=1e-12)
    assert capital["ci_low"] == pytest.approx(capital["ci_high"], rel=1e-12)
    summary = tomllib.loads((compared / "scenario.resolved.toml").read_text())
    assert summary["compare"]["baseline"] == "isolated"


def test_accounts_plans_survive_pickling(tmp_path: Path) -> None:
    """A remote Dask worker receives the plans pickled: the round trip must replay the same."""
    scenario = load_scenario(write_scenario(tmp_path, BASE))
    source, book = accounts_module.prepare_accounts(scenario)
    grid = record_grid_steps(source.n_paths, source.n_steps, 1)
    plans = tuple(
        accounts_module.plan_for_mode(scenario, source, book, mode, grid)
        for mode in ("isolated", "cross")
    )
    shipped = pickle.loads(pickle.dumps(plans))
    here = accounts_module.replay_variants_chunk(plans, 3, 5)
    there = accounts_module.replay_variants_chunk(shipped, 3, 5)
    assert np.array_equal(here[0], there[0]) and np.array_equal(here[1], there[1])


@pytest.mark.slow
def test_dask_cluster_matches_local_accounts_run_and_compare(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    scenario = load_scenario(write_scenario(tmp_path, {**BASE, "compare": COMPARE}))
    local_run = run(scenario, chunk_size=7)
    local_compare = compare(scenario, chunk_size=7)
    with distributed.LocalCluster(
        n_workers=2, processes=False, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        remote_run = run(scenario, chunk_size=5, executor="dask", scheduler=address)
        remote_compare = compare(scenario, chunk_size=5, executor="dask", scheduler=address)
    assert np.array_equal(local_run.metrics, remote_run.metrics)
    assert np.array_equal(local_run.records, remote_run.records)
    assert local_run.metrics[:, 0].sum() > 0  # liquidations happened, so equality has teeth
    for here, there in zip(local_compare.results, remote_compare.results, strict=True):
        assert np.array_equal(here.metrics, there.metrics)
    assert len(local_compare.results) == len(COMPARE["variants"])


def test_compare_refuses_a_backtest_of_accounts(tmp_path: Path) -> None:
    candles = write_candles(tmp_path / "c.csv", np.arange(10), np.linspace(100.0, 110.0, 10))
    file = write_scenario(tmp_path, {**BASE, "compare": {**COMPARE, "backtest_data": str(candles)}})
    with pytest.raises(InputError) as caught:
        compare(load_scenario(file))
    assert caught.value.key == "compare.backtest_data"


# ----------------------------------------------------------------------------- provenance
@pytest.fixture
def historical_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(8)
    hours = np.arange(80)
    write_candles(tmp_path / "btc.csv", hours, 60000.0 * np.exp(np.cumsum(rng.normal(0, 0.02, 80))))
    write_candles(tmp_path / "eth.csv", hours, 3000.0 * np.exp(np.cumsum(rng.normal(0, 0.02, 80))))
    paths = {
        "source": "historical_multi",
        "assets": ["BTC", "ETH"],
        "data": ["btc.csv", "eth.csv"],
        "mode": "bootstrap",
        "n_steps": 30,
        "n_paths": 20,
        "mean_block": 5.0,
    }
    return write_scenario(tmp_path, {**BASE, "paths": paths})


def test_historical_multi_files_are_hashed_and_the_resolved_scenario_reruns(
    historical_file: Path, tmp_path: Path
) -> None:
    _, first = run_to_dir(historical_file, tmp_path / "first")
    resolved = tomllib.loads((first / "scenario.resolved.toml").read_text())
    folder = historical_file.parent
    assert resolved["provenance"]["inputs"] == {
        "paths.data[0]": sha256_of(folder / "btc.csv"),
        "paths.data[1]": sha256_of(folder / "eth.csv"),
    }
    assert resolved["paths"]["data"] == [str(folder / "btc.csv"), str(folder / "eth.csv")]
    _, again = run_to_dir(first / "scenario.resolved.toml", tmp_path / "again")
    assert (again / "paths.parquet").read_bytes() == (first / "paths.parquet").read_bytes()
    with (folder / "eth.csv").open("a") as handle:
        handle.write("2024-01-04T08:00:00Z,3100.0\n")
    with pytest.raises(InputError) as caught:
        load_scenario(first / "scenario.resolved.toml")
    assert caught.value.key == "provenance.inputs.paths.data[1]"


# ----------------------------------------------------------------------------- resume
class InterruptedRunError(Exception):
    """Stands for a Ctrl-C in the middle of a run."""


def test_accounts_run_resumes_to_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = write_scenario(tmp_path, {**BASE, "accounts": {"mode": "book"}})
    _, whole = run_to_dir(file, tmp_path / "whole", chunk_size=5)
    out_dir = tmp_path / "interrupted"

    def stop_after_two_chunks(done: int, total: int) -> None:
        if done >= 10:
            raise InterruptedRunError

    with pytest.raises(InterruptedRunError):
        run_to_dir(file, out_dir, chunk_size=5, progress=stop_after_two_chunks)
    assert not out_dir.exists()
    saved = sorted(path.name for path in checkpoint_dir_for(out_dir).glob("paths-*.npz"))
    assert saved == ["paths-000000000000-000000000005.npz", "paths-000000000005-000000000005.npz"]
    computed: list[tuple[int, int]] = []
    original = accounts_module.replay_variants_chunk

    def counting(plans: Any, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        computed.append((first, count))
        return original(plans, first, count)

    monkeypatch.setattr(accounts_module, "replay_variants_chunk", counting)
    run_to_dir(file, out_dir, chunk_size=7, resume=True)
    assert computed == [(10, 7), (17, 7)]
    for name in ("paths.parquet", "summary.json", "scenario.resolved.toml"):
        assert (out_dir / name).read_bytes() == (whole / name).read_bytes(), name
    assert not checkpoint_dir_for(out_dir).exists()
    # a checkpoint of another accounts design is refused, not silently reused
    with pytest.raises(InterruptedRunError):
        run_to_dir(file, tmp_path / "other", chunk_size=5, progress=stop_after_two_chunks)
    changed = write_scenario(tmp_path, {**BASE, "accounts": {"mode": "cross"}})
    with pytest.raises(InputError, match="checkpoint was made by a different scenario"):
        run_to_dir(changed, tmp_path / "other", chunk_size=5, resume=True)


# ----------------------------------------------------------------------------- report
def test_report_draws_accounts_run_and_comparison(compared: Path, tmp_path: Path) -> None:
    for folder in (compared, compared / "variants" / "cross"):
        pages = report_figures(folder)
        assert pages
        for slug, figure in pages:
            assert figure.get_suptitle()
            if slug.endswith("price"):
                titles = [ax.get_title() for ax in figure.axes]
                assert any("Price of BTC (first of 2 assets)" in title for title in titles)
            figure.clear()
