"""Per-step records: exact at the grid steps, consistent with the per-path metrics."""

from __future__ import annotations

import numpy as np
import pytest

from stresstest.engine import plan as plan_module
from stresstest.engine.result import step_quantiles
from stresstest.engine.run import run
from stresstest.kernels.enums import GRID_COUNT, GRID_FUND, GRID_NOTIONAL, GRID_PRICE
from stresstest.paths.gbm import GbmPathSource
from stresstest.scenario import load_scenario
from tests.tolerances import assert_close

SCENARIO = {
    "scenario": {"name": "steps", "seed": 4},
    "paths": {"source": "gbm", "s0": 100.0, "sigma": 0.01, "n_paths": 30, "n_steps": 90},
    "book": {"source": "synthetic", "n_positions": 2000, "leverage_max": 40.0},
    "margin": {"model": "static", "maintenance": 0.01},
    "liquidation": {"latency_steps": 3, "slippage": 0.002, "fee": 0.01},
    "insurance_fund": {"initial": 3000.0},
}


def test_records_agree_with_the_path_metrics() -> None:
    scenario = load_scenario(SCENARIO)
    result = run(scenario, chunk_size=7)
    assert np.array_equal(result.grid, np.arange(91))
    records = result.records
    assert np.array_equal(records[:, GRID_FUND, -1], result.column("fund_end"))
    assert np.array_equal(
        np.minimum(records[:, GRID_FUND, :].min(axis=1), 3000.0), result.column("fund_min")
    )
    assert np.array_equal(records[:, GRID_COUNT, :].sum(axis=1), result.column("n_liquidations"))
    assert result.column("n_liquidations").sum() > 0
    assert_close(
        records[:, GRID_NOTIONAL, :].sum(axis=1),
        result.column("liquidated_notional"),
        rtol=1e-12,
        atol=0.0,
        what="notional by step",
    )
    prices = GbmPathSource(scenario.paths, scenario.seed).chunk(0, 30)
    assert np.array_equal(records[:, GRID_PRICE, :], prices)
    frame = step_quantiles(records[:, GRID_FUND, :], result.grid)
    assert np.array_equal(
        frame["q99"].to_numpy(), np.quantile(records[:, GRID_FUND, :], 0.99, axis=0)
    )


def test_a_coarse_grid_when_records_exceed_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_scenario(SCENARIO)
    full = run(scenario)
    monkeypatch.setattr(plan_module, "RECORD_BUDGET_BYTES", 30 * 4 * 8 * 10)
    coarse = run(scenario, chunk_size=4)
    assert coarse.grid[0] == 0 and coarse.grid[-1] == 90 and len(coarse.grid) == 10
    assert np.array_equal(coarse.metrics, full.metrics)
    columns = np.searchsorted(full.grid, coarse.grid)
    assert np.array_equal(
        coarse.records[:, GRID_FUND, :], full.records[:, GRID_FUND, :][:, columns]
    )
    # Closes between grid steps are summed, not lost.
    assert np.array_equal(
        coarse.records[:, GRID_COUNT, :].sum(axis=1), full.column("n_liquidations")
    )
