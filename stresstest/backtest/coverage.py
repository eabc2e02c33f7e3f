"""How often the adverse move over the liquidation horizon exceeded the margin in force.

For a historical close series (contiguous segments only, docs/data.md), the
margin rate ``m_t`` is computed exactly as the engine does on a path
(docs/model.md section 3; the EWMA restarts at ``initial_variance`` at the start
of every segment). A window starts at ``t`` and ends at ``t + H`` in the same
segment, ``H`` the horizon in steps. A long has an exception when
``P_{t+H} < P_t (1 - m_t)`` and a short when ``P_{t+H} > P_t (1 + m_t)``: the move
to the close at the horizon ate more than the maintenance margin. Windows start
every ``stride`` steps (default ``H``: non-overlapping, so that the
independence test is not rejected merely because overlapping windows share moves).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stresstest.backtest.tests import CoverageTest, coverage_test
from stresstest.data.candles import Candles, contiguous_segments, load_candles
from stresstest.engine.procyclicality import scenario_margin_arguments
from stresstest.errors import InputError
from stresstest.kernels.dense import margin_rates
from stresstest.scenario import Scenario, load_scenario, schema
from stresstest.scenario.schema import design_label


@dataclass(frozen=True)
class Backtest:
    """Exception series and tests, per side and for either side."""

    scenario: str
    design: str
    data: Path
    data_sha256: str
    horizon_steps: int
    stride: int
    coverage: float
    timestamp: np.ndarray
    margin_rate: np.ndarray
    move: np.ndarray
    long_exception: np.ndarray
    short_exception: np.ndarray
    tests: dict[str, CoverageTest]


def default_horizon(scenario: Scenario) -> int:
    """The margin's horizon (vol_scaled) or the liquidation latency (at least one step)."""
    if isinstance(scenario.margin, schema.VolScaledMargin):
        return scenario.margin.horizon_steps
    return max(1, scenario.liquidation.latency_steps)


def backtest_candles(
    candles: Candles,
    scenario: Scenario,
    *,
    coverage: float = 0.99,
    horizon_steps: int | None = None,
    stride: int | None = None,
) -> Backtest:
    """Backtest the scenario's margin model on a candle series."""
    if not 0.5 <= coverage < 1.0:
        raise InputError(
            "out of range", key="coverage", value=coverage, expected="a number in [0.5, 1)"
        )
    horizon = horizon_steps if horizon_steps is not None else default_horizon(scenario)
    step = stride if stride is not None else horizon
    for key, value in (("horizon", horizon), ("stride", step)):
        if value < 1:
            raise InputError("out of range", key=key, value=value, expected="an integer >= 1")
    margin = scenario_margin_arguments(scenario)
    starts: list[np.ndarray] = []
    rates: list[np.ndarray] = []
    moves: list[np.ndarray] = []
    segments: list[np.ndarray] = []
    close = np.asarray(candles.close, dtype=np.float64)
    for segment_index, (first, stop) in enumerate(contiguous_segments(candles)):
        prices = np.ascontiguousarray(close[first:stop])
        if prices.shape[0] <= horizon:
            continue
        rate = margin_rates(prices, margin)
        window = np.arange(0, prices.shape[0] - horizon, step)
        starts.append(first + window)
        rates.append(rate[window])
        moves.append(prices[window + horizon] / prices[window] - 1.0)
        segments.append(np.full(window.shape[0], segment_index))
    if not starts:
        raise InputError(
            "no window of the horizon fits in the data",
            file=candles.path,
            value=horizon,
            expected="a horizon shorter than a contiguous stretch of the data",
        )
    start = np.concatenate(starts)
    rate = np.concatenate(rates)
    move = np.concatenate(moves)
    segment = np.concatenate(segments)
    long_exception = move < -rate
    short_exception = move > rate
    expected = 1.0 - coverage
    tests = {
        "long": coverage_test(long_exception, segment, expected),
        "short": coverage_test(short_exception, segment, expected),
        "either": coverage_test(long_exception | short_exception, segment, 2.0 * expected),
    }
    return Backtest(
        scenario=scenario.name,
        design=design_label(scenario.margin),
        data=candles.path,
        data_sha256=candles.sha256,
        horizon_steps=horizon,
        stride=step,
        coverage=coverage,
        timestamp=np.asarray(candles.timestamp)[start],
        margin_rate=rate,
        move=move,
        long_exception=long_exception,
        short_exception=short_exception,
        tests=tests,
    )


def backtest(
    data: Path,
    scenario_file: Path,
    *,
    coverage: float = 0.99,
    horizon_steps: int | None = None,
    stride: int | None = None,
) -> Backtest:
    """Load candles and a scenario, then :func:`backtest_candles`."""
    return backtest_candles(
        load_candles(data),
        load_scenario(scenario_file),
        coverage=coverage,
        horizon_steps=horizon_steps,
        stride=stride,
    )


def backtest_document(result: Backtest) -> dict[str, object]:
    """backtest.json: settings, data provenance and the three tests."""
    return {
        "scenario": result.scenario,
        "design": result.design,
        "data": str(result.data),
        "data_sha256": result.data_sha256,
        "horizon_steps": result.horizon_steps,
        "stride": result.stride,
        "coverage": result.coverage,
        "windows": int(result.move.shape[0]),
        "tests": {
            side: {**test.__dict__, "rate": test.rate} for side, test in result.tests.items()
        },
    }


def write_backtest(result: Backtest, out_dir: Path) -> None:
    """Write backtest.json and windows.parquet (one row per window), whole or not at all."""
    import polars as pl

    from stresstest.io.atomic import atomic_dir, write_json, write_parquet

    frame = pl.DataFrame(
        {
            "timestamp": result.timestamp,
            "margin_rate": result.margin_rate,
            "move": result.move,
            "long_exception": result.long_exception,
            "short_exception": result.short_exception,
        }
    )
    with atomic_dir(out_dir) as staging:
        write_json(backtest_document(result), staging / "backtest.json")
        write_parquet(frame, staging / "windows.parquet")
