"""Bit-identical results whatever the chunk size or thread count (docs/model.md 1.3, 8).

A small scenario (20,000 synthetic positions, 64 GBM paths of 100 steps) is run
with different chunk sizes in this process and with NUMBA_NUM_THREADS = 1 and 2
through the command line in subprocesses; outputs must be equal bit for bit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import tomli_w

from stresstest.engine import Result, run
from stresstest.kernels import enums
from stresstest.paths.gbm import GbmPathSource
from stresstest.scenario import load_scenario, schema

N_PATHS = 64
N_STEPS = 100
SEED = 4242

#: The command line, run as a module of this interpreter.
COMMAND = (sys.executable, "-m", "stresstest")

SCENARIO = {
    "scenario": {"name": "determinism", "seed": SEED},
    "paths": {
        "source": "gbm",
        "s0": 30000.0,
        "sigma": 0.01,
        "n_paths": N_PATHS,
        "n_steps": N_STEPS,
    },
    "book": {"source": "synthetic", "n_positions": 20_000, "leverage_max": 50.0},
    "margin": {
        "model": "vol_scaled",
        "k": 3.0,
        "horizon_steps": 4,
        "ewma_lambda": 0.94,
        "initial_variance": 1e-4,
        "floor": 0.005,
        "cap": 0.2,
    },
    "liquidation": {"latency_steps": 2, "slippage": 0.002, "fee": 0.01, "liquidator_share": 0.5},
    "insurance_fund": {"initial": 2e5},
}


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("determinism") / "scenario.toml"
    path.write_text(tomli_w.dumps(SCENARIO), encoding="utf-8")
    return path


def run_and_write(scenario_file: Path, out_dir: Path, chunk_size: int | None) -> Result:
    result = run(load_scenario(scenario_file), chunk_size=chunk_size)
    result.write(out_dir)
    return result


def test_chunk_size_does_not_change_results(scenario_file: Path, tmp_path: Path) -> None:
    results = {
        size: run_and_write(scenario_file, tmp_path / f"chunk_{size}", size)
        for size in (1, 7, N_PATHS)
    }
    reference = results[N_PATHS]
    # Not vacuous: positions are liquidated and bad debt arises.
    assert reference.column("n_liquidations").sum() > 0
    assert reference.column("bad_debt").sum() > 0.0
    reference_bytes = (tmp_path / f"chunk_{N_PATHS}" / "paths.parquet").read_bytes()
    for size, result in results.items():
        assert np.array_equal(result.metrics, reference.metrics), size
        assert (tmp_path / f"chunk_{size}" / "paths.parquet").read_bytes() == reference_bytes


def test_running_twice_gives_identical_summary(scenario_file: Path, tmp_path: Path) -> None:
    run_and_write(scenario_file, tmp_path / "first", None)
    run_and_write(scenario_file, tmp_path / "second", None)
    for name in ("summary.json", "paths.parquet"):
        first = (tmp_path / "first" / name).read_bytes()
        assert first == (tmp_path / "second" / name).read_bytes(), name


def cli_run(scenario_file: Path, out_dir: Path, threads: int) -> None:
    """``python -m stresstest run`` in a fresh process with ``NUMBA_NUM_THREADS = threads``."""
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads)}
    completed = subprocess.run(
        [*COMMAND, "run", str(scenario_file), "--out", str(out_dir), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr


@pytest.mark.slow
def test_thread_count_does_not_change_results(scenario_file: Path, tmp_path: Path) -> None:
    cli_run(scenario_file, tmp_path / "one", threads=1)
    cli_run(scenario_file, tmp_path / "two", threads=2)
    one = pl.read_parquet(tmp_path / "one" / "paths.parquet")
    two = pl.read_parquet(tmp_path / "two" / "paths.parquet")
    assert one.columns == two.columns == ["path", *enums.METRIC_NAMES]
    assert one.height == N_PATHS
    for column in one.columns:
        assert np.array_equal(one[column].to_numpy(), two[column].to_numpy()), column
    assert (tmp_path / "one" / "summary.json").read_bytes() == (
        tmp_path / "two" / "summary.json"
    ).read_bytes()


def test_a_path_does_not_depend_on_the_number_of_paths_or_its_chunk() -> None:
    def source(n_paths: int) -> GbmPathSource:
        return GbmPathSource(
            schema.GbmPaths(s0=100.0, sigma=0.02, n_paths=n_paths, n_steps=N_STEPS), SEED
        )

    five = source(5).chunk(0, 5)
    fifty = source(50)
    whole = fifty.chunk(0, 50)
    assert np.array_equal(whole[:5], five)
    for path in range(5):
        assert np.array_equal(fifty.chunk(path, 1)[0], five[path])
    # Paths 3..22 generated as one chunk: row r is path 3 + r.
    middle = fifty.chunk(3, 20)
    assert np.array_equal(middle, whole[3:23])
    assert np.array_equal(middle[:2], five[3:5])
    # Different paths do differ.
    assert not np.array_equal(whole[0], whole[1])
