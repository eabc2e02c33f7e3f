"""GBM generation fused with the core replay gives the unfused engine's bits (issue 19).

The fused kernel (kernels/gbm_replay.py) generates each group of 64 paths into a
buffer of its own and replays it at once; the unfused engine generates a whole
chunk (``gbm_paths``) and replays it afterwards. Both are compared byte for byte
(metrics, attribution and per-step records) on hypothesis cases: either margin,
attribution on or off, every step recorded or a grid, chunks that start and end
inside a lane group, 1 to 2 groups and a half. The unfused side is the same plan
on the paths held in memory (``MemoryPathSource``, which the engine never fuses).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.engine_cases import MARGINS
from stresstest.engine.plan import (
    ReplayPlan,
    fuses_generation,
    record_grid_steps,
    replay_chunk,
    replay_gbm_chunk,
)
from stresstest.engine.run import prepare, run
from stresstest.kernels.gbm import LANES
from stresstest.paths.memory import MemoryPathSource
from stresstest.scenario import load_scenario


def _scenario(
    margin: str, n_paths: int, n_steps: int, seed: int, attribution: bool
) -> dict[str, object]:
    table: dict[str, object] = {
        "scenario": {"name": "fused", "seed": seed},
        "paths": {
            "source": "gbm",
            "s0": 30_000.0,
            "sigma": 0.02,
            "drift": 0.0,
            "n_paths": n_paths,
            "n_steps": n_steps,
        },
        "book": {"source": "synthetic", "n_positions": 2_000},
        "margin": dict(MARGINS[margin]),
        "liquidation": {
            "latency_steps": 1,
            "slippage": 0.002,
            "fee": 0.01,
            "liquidator_share": 0.5,
        },
        "insurance_fund": {"initial": 1e5},
    }
    if not attribution:
        table["attribution"] = {"enabled": False}
    return table


def _unfused(plan: ReplayPlan) -> ReplayPlan:
    return dataclasses.replace(plan, source=MemoryPathSource(plan.source))


@settings(max_examples=40, deadline=None)
@given(
    margin=st.sampled_from(sorted(MARGINS)),
    n_paths=st.integers(1, 2 * LANES + LANES // 2),
    n_steps=st.integers(1, 40),
    seed=st.integers(0, 2**31),
    attribution=st.booleans(),
    coarse_grid=st.booleans(),
    data=st.data(),
)
def test_fused_chunk_is_the_unfused_chunk_bit_for_bit(
    margin: str,
    n_paths: int,
    n_steps: int,
    seed: int,
    attribution: bool,
    coarse_grid: bool,
    data: st.DataObject,
) -> None:
    scenario = load_scenario(_scenario(margin, n_paths, n_steps, seed, attribution))
    plan, _ = prepare([scenario])
    if coarse_grid:  # the grid of a run whose records do not fit (every step otherwise)
        plan = dataclasses.replace(plan, grid=record_grid_steps(10**9, n_steps, 1))
    assert fuses_generation(plan)
    assert (plan.variants[0].attribution is not None) == attribution
    first = data.draw(st.integers(0, n_paths - 1), label="first")
    count = data.draw(st.integers(1, n_paths - first), label="count")
    fused_metrics, fused_records = replay_gbm_chunk(plan, first, count)
    metrics, records = replay_chunk(_unfused(plan), first, count)
    assert fused_metrics.shape == metrics.shape and fused_records.shape == records.shape
    assert fused_metrics.tobytes() == metrics.tobytes()
    assert fused_records.tobytes() == records.tobytes()


def test_the_engine_fuses_only_a_plain_gbm_source_with_one_core_design() -> None:
    scenario = load_scenario(_scenario("static", 70, 12, 3, True))
    plan, _ = prepare([scenario])
    assert fuses_generation(plan)
    assert not fuses_generation(_unfused(plan))  # paths held in memory: a chunk is a slice
    assert not fuses_generation(dataclasses.replace(plan, variants=plan.variants * 2))
    table = _scenario("static", 70, 12, 3, True)
    table["partial_liquidation"] = {"buffer": 0.01}
    table["attribution"] = {"enabled": False}
    staged, _ = prepare([load_scenario(table)])
    assert not fuses_generation(staged)  # a pipeline stage: the stage kernels read the chunk


@pytest.mark.parametrize("margin", sorted(MARGINS))
def test_a_run_is_the_same_whatever_the_chunks_and_threads(margin: str) -> None:
    """Fused runs in chunks that cut lane groups, on one thread and two, give the same bytes."""
    scenario = load_scenario(_scenario(margin, 150, 30, 5, True))
    whole = run(scenario, chunk_size=150, threads=2)
    cut = run(scenario, chunk_size=37, threads=1)
    assert whole.metrics.tobytes() == cut.metrics.tobytes()
    assert whole.records.tobytes() == cut.records.tobytes()
    assert np.sum(whole.column("n_liquidations")) > 0
