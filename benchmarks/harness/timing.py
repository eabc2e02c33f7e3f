"""Best-of wall times, interleaved, with the CPU share of each best run.

The machine the benchmarks run on is often shared. Running the timed functions
in turn (a, b, a, b, ...) makes load from other processes hit them alike, and the
CPU seconds per wall second of each best run (2.0 = both cores busy) say whether
that run had the machine: while a best run had less than ``busy`` cores, more
rounds are run, within a separate budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numba


@dataclass(frozen=True)
class Timing:
    """One function's best run.

    Attributes
    ----------
    seconds : float
        Wall time of the best run, s.
    cpu_share : float
        CPU seconds of this process (all threads) per wall second of that run.
    runs : int
        How many times the function ran.
    result : Any
        What the last call returned (for checking the timed output).
    """

    seconds: float
    cpu_share: float
    runs: int
    result: Any = None


def interleaved_times(
    functions: Sequence[Callable[[], Any]],
    *,
    min_runs: int = 3,
    max_runs: int = 5,
    budget: float = 12.0,
    busy: float = 1.8,
    max_busy_runs: int = 10,
    busy_budget: float = 60.0,
) -> list[Timing]:
    """Time ``functions`` in turn; per function, its best run.

    Parameters
    ----------
    functions : sequence of callables
        Run in rounds, each once per round, in order.
    min_runs : int
        Rounds always run.
    max_runs : int
        More rounds while fewer than this and under ``budget``.
    budget : float
        Wall seconds (all functions) after which no round beyond ``min_runs`` starts, s.
    busy : float
        A best run with a CPU share below ``min(busy, 0.9 x numba threads)`` counts as
        contended; ``0`` turns the extra rounds off.
    max_busy_runs : int
        Rounds at most while a best run is contended.
    busy_budget : float
        Wall seconds after which no round starts even when contended, s.

    Returns
    -------
    list of Timing
        In the order of ``functions``.
    """
    best = [(math.inf, 0.0) for _ in functions]
    results: list[Any] = [None for _ in functions]
    spent = 0.0
    rounds = 0
    cores = numba.get_num_threads()

    def more() -> bool:
        if rounds < min_runs:
            return True
        if rounds < max_runs and spent < budget:
            return True
        contended = any(cpu < min(busy, 0.9 * cores) for _, cpu in best)
        return contended and rounds < max_busy_runs and spent < busy_budget

    while more():
        for index, function in enumerate(functions):
            results[index] = None  # let the previous result go before the next run
            cpu = time.process_time()
            started = time.perf_counter()
            results[index] = function()
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
            spent += elapsed
            if elapsed < best[index][0]:
                best[index] = (elapsed, cpu / elapsed if elapsed > 0 else 0.0)
        rounds += 1
    return [
        Timing(seconds, share, rounds, result)
        for (seconds, share), result in zip(best, results, strict=True)
    ]


def best_of(function: Callable[[], Any], runs: int) -> Timing:
    """Best of exactly ``runs`` calls (no extra rounds on a shared machine)."""
    return interleaved_times([function], min_runs=runs, max_runs=runs, busy=0.0)[0]


def best_within(function: Callable[[], Any], *, budget: float, max_runs: int) -> Timing:
    """Best of up to ``max_runs`` calls, stopping once ``budget`` s are spent (one at least)."""
    return interleaved_times([function], min_runs=1, max_runs=max_runs, budget=budget, busy=0.0)[0]
