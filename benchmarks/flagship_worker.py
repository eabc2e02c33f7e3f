"""One side of bench_flagship.py's before/after comparison, run in a tree given by PYTHONPATH.

    PYTHONPATH=TREE python benchmarks/flagship_worker.py MARGIN N_POSITIONS N_PATHS RUNS [records]

Imports ``stresstest`` and ``benchmarks.engine_cases`` of ``TREE`` only, so the
same script times an older commit. It first checks the engine against the dense
numba twin and the numpy reference on the first paths (``check_parity``: the
engine benchmark's check, exit 1 on a mismatch), then runs, ``RUNS`` times each
and alternately, GBM generation alone (the chunks the engine generates) and the
engine end to end (generation + replay, ``replay_all``), and prints one JSON
line: the wall and CPU seconds (``time.process_time``, all threads) of every run
and the SHA-256 of the engine's metric matrix (every timed run's must be equal,
and its first rows equal the verified ones), and ``fused``: whether the tree's
engine fuses GBM generation with the replay (``engine.plan.fuses_generation``;
then the engine's time is the fused kernel's, and engine minus generation is
what the replay costs beyond generating the paths). Run it with ``NUMBA_NUM_THREADS=1``
to measure one core.

With ``records`` the engine runs as ``stresstest run`` does, with the per-step records
(``engine.run.prepare`` with records, without attribution or findings, then
``engine.run.execute``, timed; docs/model.md 6a: 83 grid steps at 100k paths x 720
steps), and the SHA-256 covers the records too.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from typing import Any

import numpy as np

from benchmarks.engine_cases import (
    check_parity,
    check_timed_output,
    engine_metrics,
    generate_only,
    make_scenario,
    warm_up,
)
from stresstest.book import sort_book
from stresstest.engine.run import build_book, execute, margin_arguments, prepare
from stresstest.paths.gbm import GbmPathSource


def _timed(function: object, *args: object) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)  # type: ignore[operator]
    return time.perf_counter() - wall, time.process_time() - cpu, result


def fused_generation(scenario: Any, sorted_book: Any) -> bool:
    """Whether the tree's engine generates and replays the paths group by group (issue 19).

    ``engine.plan.fuses_generation`` of the plan ``replay_all`` makes (one core
    design on the scenario's GBM source); trees before the fused kernel have no
    such function: ``False``.
    """
    from stresstest.engine import plan

    fuses = getattr(plan, "fuses_generation", None)
    if fuses is None:
        return False
    variant = plan.VariantPlan(
        book=sorted_book,
        margin=margin_arguments(scenario.margin),
        liquidation=plan.liquidation_arguments(scenario.liquidation),
        fund_initial=scenario.insurance_fund.initial,
    )
    source = GbmPathSource(scenario.paths, scenario.seed)
    return bool(fuses(plan.ReplayPlan(source=source, variants=(variant,))))


def engine_with_records(plan: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(metrics, records)`` of the one design of ``plan`` (:func:`prepare`'s, with records)."""
    metrics, records = execute(plan)
    return metrics[0], records[0]


def main(margin: str, n_positions: int, n_paths: int, runs: int, records: bool = False) -> None:
    """Check, then time, one flagship case; print one JSON line."""
    warm_up()
    scenario = make_scenario(n_positions, n_paths, margin)
    source = GbmPathSource(scenario.paths, scenario.seed)
    book = build_book(scenario, source.start_price())
    sorted_book = sort_book(book)
    report = check_parity(scenario, book=book, sorted_book=sorted_book)
    record: dict[str, object] = {
        "margin": margin,
        "positions": n_positions,
        "paths": n_paths,
        "worst_vs_dense": report.worst_vs_dense,
        "worst_vs_numpy": report.worst_vs_numpy,
        "generation": [],
        "engine": [],
    }
    plan = prepare([scenario], attribution=False, findings=False)[0] if records else None
    record["grid_steps"] = 0 if plan is None else int(plan.grid.shape[0])
    digests = set()
    for _ in range(runs):
        wall, cpu, _ = _timed(generate_only, scenario)
        record["generation"].append((wall, cpu))  # type: ignore[attr-defined]
        if plan is None:
            wall, cpu, metrics = _timed(engine_metrics, scenario, sorted_book)
            digest = hashlib.sha256(np.ascontiguousarray(metrics).tobytes())
        else:
            wall, cpu, both = _timed(engine_with_records, plan)
            metrics, grid_records = both  # type: ignore[misc]
            digest = hashlib.sha256(np.ascontiguousarray(metrics).tobytes())
            digest.update(np.ascontiguousarray(grid_records).tobytes())
        record["engine"].append((wall, cpu))  # type: ignore[attr-defined]
        assert isinstance(metrics, np.ndarray)
        check_timed_output(metrics, report, book, f"{margin} {n_positions}x{n_paths}")
        digests.add(digest.hexdigest())
    if len(digests) != 1:
        sys.exit("timed engine runs gave different metrics")
    record["metrics_sha256"] = digests.pop()
    record["fused"] = fused_generation(scenario, sorted_book)
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main(
        sys.argv[1],
        int(sys.argv[2]),
        int(sys.argv[3]),
        int(sys.argv[4]),
        len(sys.argv) > 5 and sys.argv[5] == "records",
    )
