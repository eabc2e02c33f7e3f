"""The default run with and without the attribution (docs/model.md 6b): verified, then timed.

    python benchmarks/bench_attribution.py [--paths N]

Not a generated section: prints a markdown table for docs/performance.md
("Attribution"). First checks, on the run with attribution, that the cohorts and
the flag-step buckets add up to paths.parquet (counts exactly, money within
``ATTRIBUTION_SUM_RTOL_PER_NOTIONAL`` of each path's liquidated notional) and
that paths.parquet is the same without attribution, byte for byte in values; a
failure exits 1 before anything is timed. Then times ``stresstest.run`` plus
writing the result folder, alternately with and without, best of each.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.harness.machine import machine_description
from benchmarks.harness.timing import interleaved_times
from stresstest.engine.result import Result
from stresstest.engine.run import run
from stresstest.kernels import enums
from stresstest.scenario import load_scenario
from stresstest.scenario.schema import Scenario

REPO = Path(__file__).resolve().parents[1]
#: Same as tests/tolerances.py ATTRIBUTION_SUM_RTOL_PER_NOTIONAL.
SUM_RTOL_PER_NOTIONAL = 1e-12


def verify(with_attribution: Result, without: Result) -> None:
    """Raise ``AssertionError`` unless the attribution adds up and paths are unchanged."""
    np.testing.assert_array_equal(with_attribution.metrics, without.metrics)
    attribution = with_attribution.attribution
    assert attribution is not None and attribution.values is not None
    metrics = with_attribution.metrics
    scale = float(metrics[:, enums.LIQUIDATED_NOTIONAL].max()) * SUM_RTOL_PER_NOTIONAL
    for groups in (
        attribution.values[:, : attribution.n_cohorts],
        attribution.values[:, attribution.n_cohorts :],
    ):
        np.testing.assert_array_equal(groups[:, :, 0].sum(axis=1), metrics[:, enums.N_LIQUIDATIONS])
        for field, column in ((1, enums.LIQUIDATED_NOTIONAL), (3, enums.BAD_DEBT)):
            assert np.max(np.abs(groups[:, :, field].sum(axis=1) - metrics[:, column])) <= scale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paths", type=int, default=None, help="paths (default: the scenario's)")
    options = parser.parse_args(argv)
    base = load_scenario(REPO / "scenarios" / "default.toml")
    if options.paths is not None:
        base = base.with_overrides({"paths.n_paths": options.paths})
    scenarios: dict[str, Scenario] = {
        "with attribution (default)": base,
        "without ([attribution] enabled = false)": base.with_overrides(
            {"attribution": {"enabled": False}}
        ),
    }
    results = {label: run(scenario) for label, scenario in scenarios.items()}
    try:
        verify(*results.values())
    except AssertionError as error:
        print(f"attribution check failed: {error}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as folder:

        def timed(label: str) -> object:
            def call() -> None:
                result = run(scenarios[label])
                result.write(
                    Path(folder) / f"out-{len(label)}-{np.random.default_rng().integers(1 << 30)}"
                )

            return call

        timings = interleaved_times([timed(label) for label in scenarios], min_runs=3, max_runs=3)
    print(f"Machine: {machine_description()}")
    print(f"Scenario: scenarios/default.toml, {base.paths.n_paths:,} paths")  # type: ignore[union-attr]
    print("| run | best wall s | cpu share | runs |\n|---|---:|---:|---:|")
    for label, timing in zip(scenarios, timings, strict=True):
        print(f"| {label} | {timing.seconds:.2f} | {timing.cpu_share:.2f} | {timing.runs} |")
    ratio = timings[0].seconds / timings[1].seconds
    print(f"\nwith / without: {ratio:.3f} (target <= 1.30)")
    return 0 if ratio <= 1.30 else 1


if __name__ == "__main__":
    sys.exit(main())
