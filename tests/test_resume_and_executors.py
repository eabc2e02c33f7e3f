"""Interrupted runs resume to the same bytes; a Dask cluster gives the local results."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stresstest.engine import plan as plan_module
from stresstest.engine.checkpoint import checkpoint_dir_for, missing_ranges
from stresstest.engine.run import run
from stresstest.errors import InputError
from stresstest.jobs import run_to_dir
from stresstest.scenario import load_scenario

SCENARIO_TOML = """
[scenario]
name = "resume"
seed = 99

[paths]
source = "gbm"
s0 = 100.0
sigma = 0.01
n_paths = 40
n_steps = 50

[book]
source = "synthetic"
n_positions = 3000
leverage_max = 40.0

[margin]
model = "static"
maintenance = 0.01

[liquidation]
latency_steps = 1
slippage = 0.001
fee = 0.01

[insurance_fund]
initial = 100000.0
"""


class InterruptedRunError(Exception):
    """Stands for a Ctrl-C in the middle of a run."""


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO_TOML)
    return path


def test_missing_ranges() -> None:
    assert missing_ranges(10, []) == [(0, 10)]
    assert missing_ranges(10, [(0, 3), (6, 2)]) == [(3, 6), (8, 10)]
    assert missing_ranges(4, [(0, 4)]) == []


def test_resume_gives_the_same_bytes(
    scenario_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole_dir = tmp_path / "whole"
    run_to_dir(scenario_file, whole_dir, chunk_size=8)

    out_dir = tmp_path / "interrupted"

    def stop_after_two_chunks(done: int, total: int) -> None:
        if done >= 16:
            raise InterruptedRunError

    with pytest.raises(InterruptedRunError):
        run_to_dir(scenario_file, out_dir, chunk_size=8, progress=stop_after_two_chunks)
    assert not out_dir.exists()
    saved = sorted(path.name for path in checkpoint_dir_for(out_dir).glob("paths-*.npz"))
    assert saved == ["paths-000000000000-000000000008.npz", "paths-000000000008-000000000008.npz"]

    computed: list[tuple[int, int]] = []
    original = plan_module.replay_chunk

    def counting(plan: Any, first: int, count: int) -> np.ndarray:
        computed.append((first, count))
        return original(plan, first, count)

    # run plans with prepare_run, which names the chunk function of a single-asset run
    monkeypatch.setattr(sys.modules["stresstest.engine.run"], "replay_chunk", counting)
    run_to_dir(scenario_file, out_dir, chunk_size=5, resume=True)
    assert computed == [(16, 5), (21, 5), (26, 5), (31, 5), (36, 4)]
    for name in ("paths.parquet", "summary.json", "scenario.resolved.toml"):
        assert (out_dir / name).read_bytes() == (whole_dir / name).read_bytes(), name
    assert not checkpoint_dir_for(out_dir).exists()


def test_resume_refuses_a_checkpoint_of_another_scenario(
    scenario_file: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "out"

    def interrupt(done: int, total: int) -> None:
        if done >= 8:
            raise InterruptedRunError

    with pytest.raises(InterruptedRunError):
        run_to_dir(scenario_file, out_dir, chunk_size=8, progress=interrupt)
    scenario_file.write_text(SCENARIO_TOML.replace("maintenance = 0.01", "maintenance = 0.02"))
    with pytest.raises(InputError, match="checkpoint was made by a different scenario"):
        run_to_dir(scenario_file, out_dir, chunk_size=8, resume=True)
    # Without --resume the stale checkpoint is discarded and the run completes.
    run_to_dir(scenario_file, out_dir, chunk_size=8)
    assert (out_dir / "paths.parquet").exists()


@pytest.mark.slow
def test_dask_cluster_matches_local_run(scenario_file: Path) -> None:
    distributed = pytest.importorskip("distributed")
    scenario = load_scenario(scenario_file)
    local = run(scenario, chunk_size=7)
    with distributed.LocalCluster(
        n_workers=2, processes=False, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        remote = run(scenario, chunk_size=6, executor="dask", scheduler=cluster.scheduler_address)
    assert np.array_equal(local.metrics, remote.metrics)
    assert local.metrics[:, 0].sum() > 0  # liquidations happened, so the comparison has teeth


def test_unknown_executor_is_an_input_error(scenario_file: Path) -> None:
    with pytest.raises(InputError, match="unknown executor"):
        run(load_scenario(scenario_file), executor="spark")
