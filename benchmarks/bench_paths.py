"""Path-generation benchmark that verifies before it times.

    python benchmarks/bench_paths.py [--quick | --smoke] [--write]

1. Warm-up: every kernel is compiled (or loaded from numba's cache) first.
2. Verification, before anything is timed: on a subset (8 paths x 300 steps) of
   every case, the compiled generator's innovations equal the documented draws of
   ``tests/garch_twin.py`` and its prices equal the pure-Python twin, exactly
   (``np.array_equal``). A mismatch exits non-zero and nothing is timed.
3. Timings: steps per second (paths x steps / wall seconds) of ``garch_paths``
   (GJR with the BTC-hourly Student-t fit of scenarios/garch_btc.toml, and with
   normal and skewed-t innovations), FHS draws, the stationary bootstrap and
   GBM, at 1 and 2 numba threads; best of 3 or more runs of 10,000 x 1,000 steps
   (``--quick``: 2,000 x 1,000; ``--smoke``: 64 x 300, retrying for 2 s at most).
   Every timed output is checked again against the
   verified subset (a path's first steps do not depend on its length).
4. A yardstick row last: the same GJR-t recursion in a plain numba loop calling
   ``np.random.standard_t`` (not counter-based, so not verified or reproducible).

``--before TREE [--rounds N]`` instead compares the GARCH-family generators of an
earlier commit (a worktree at ``TREE``) with this tree's, per core, interleaved
(benchmarks/paths_compare.py); it prints a table and writes nothing.

``--write`` replaces the text between ``<!-- paths:begin -->`` and
``<!-- paths:end -->`` in docs/performance.md (creating the file with those
markers if needed) and touches nothing else. Seeded: the same command gives the
same paths.
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numba  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.harness import cli, parity  # noqa: E402
from benchmarks.harness.machine import load_average, machine_description  # noqa: E402
from benchmarks.harness.markdown import table  # noqa: E402
from benchmarks.harness.timing import interleaved_times  # noqa: E402
from benchmarks.paths_compare import compare  # noqa: E402
from stresstest.kernels import enums  # noqa: E402
from stresstest.kernels.garch import garch_innovations, garch_paths  # noqa: E402
from stresstest.kernels.gbm import gbm_paths  # noqa: E402
from stresstest.kernels.resample import bootstrap_paths  # noqa: E402
from stresstest.paths.fit import skew_t_constants  # noqa: E402
from stresstest.paths.gbm import PATHS_SEED_CHILD, philox_key  # noqa: E402
from stresstest.paths.historical import successors  # noqa: E402
from tests import fast_math_twin, garch_twin  # noqa: E402

SECTION = "paths"
SEED = 20261124
#: GJR-t fitted on BTC hourly (scenarios/garch_btc.toml), arch's units.
BTC_GJR = (0.0, 0.0030946220590318874, 0.0789809625851088, 0.018914635751229564, 0.9115620952946821)
#: EGARCH with Student-t innovations: the test values of tests/test_garch.py.
EGARCH = (0.0, -0.02, 0.15, -0.06, 0.95)
BTC_NU = 3.224639823063318
SIGMA0 = 0.5852462532357069
VERIFY_PATHS, VERIFY_STEPS = 8, 300
TARGET = 40e6  # GARCH-t steps per second on 2 cores
#: (paths, steps) timed per case; the smoke case is as long as the verified subset.
FULL_SIZE, QUICK_SIZE, SMOKE_SIZE = (10_000, 1_000), (2_000, 1_000), (64, VERIFY_STEPS)
#: Wall seconds spent retrying a case whose best run did not have the cores to itself.
PATIENCE, SMOKE_PATIENCE = 20.0, 2.0


@dataclass(frozen=True)
class Case:
    """One generator: a name and ``run(first_path, out)`` filling ``out`` in place."""

    name: str
    run: Callable[[int, np.ndarray], None]
    twin: Callable[[int, int], np.ndarray]


def key() -> tuple[np.uint64, np.uint64]:
    return philox_key(SEED, PATHS_SEED_CHILD)


def garch_case(
    name: str,
    dist: int,
    lam: float = 0.0,
    residuals: np.ndarray | None = None,
    model: int = enums.VOL_GJR,
) -> Case:
    k0, k1 = key()
    a, b = skew_t_constants(BTC_NU, lam) if dist == enums.DIST_SKEWT else (0.0, 1.0)
    shape = (
        (BTC_NU - 2.0, -2.0 / BTC_NU, lam, a, b)
        if dist != enums.DIST_NORMAL
        else (
            0.0,
            0.0,
            0.0,
            0.0,
            1.0,
        )
    )
    table = np.empty(0) if residuals is None else residuals
    stream = enums.STREAM_FHS if dist == enums.DIST_EMPIRICAL else enums.STREAM_GARCH
    egarch = model == enums.VOL_EGARCH
    variance, state0 = (EGARCH, 2.0 * math.log(SIGMA0)) if egarch else (BTC_GJR, SIGMA0**2)

    def run(first: int, out: np.ndarray) -> None:
        garch_paths(
            k0, k1, first, stream, dist, shape, table, model, variance, state0, 30000.0, out
        )

    def twin(first: int, n_steps: int) -> np.ndarray:
        z = np.array(
            [
                garch_twin.innovations(
                    int(k0), int(k1), first + row, n_steps, dist, BTC_NU, lam, (a, b), table, stream
                )
                for row in range(VERIFY_PATHS)
            ]
        )
        compiled = np.empty((VERIFY_PATHS, n_steps))
        garch_innovations(k0, k1, first, stream, dist, shape, table, compiled)
        parity.require_identical(
            compiled, z, what=f"{name}: compiled innovations vs the documented draws"
        )
        return garch_twin.prices(z, model, variance, state0, 30000.0)

    return Case(name, run, twin)


def gbm_case() -> Case:
    k0, k1 = key()
    sigma, drift, s0 = 0.006, 0.0, 30000.0

    def run(first: int, out: np.ndarray) -> None:
        gbm_paths(k0, k1, first, s0, sigma, drift, out)

    def twin(first: int, n_steps: int) -> np.ndarray:
        out = np.empty((VERIFY_PATHS, n_steps + 1))
        for row in range(VERIFY_PATHS):
            z = garch_twin.innovations(
                int(k0), int(k1), first + row, n_steps, enums.DIST_NORMAL, stream=enums.STREAM_GBM
            )
            log_sum, out[row, 0] = 0.0, s0
            for step in range(n_steps):
                log_sum += (drift - 0.5 * sigma * sigma) + sigma * z[step]
                out[row, step + 1] = s0 * fast_math_twin.exp(log_sum)
        return out

    return Case("GBM", run, twin)


def bootstrap_case(returns: np.ndarray, segment: np.ndarray, mean_block: float) -> Case:
    k0, k1 = key()
    successor = successors(segment)
    inv_log_stay = 1.0 / math.log(1.0 - 1.0 / mean_block)

    def run(first: int, out: np.ndarray) -> None:
        bootstrap_paths(k0, k1, first, returns, successor, inv_log_stay, 30000.0, out)

    def twin(first: int, n_steps: int) -> np.ndarray:
        rows = [
            garch_twin.bootstrap_path(
                int(k0), int(k1), first + row, returns, successor, mean_block, 30000.0, n_steps
            )[0]
            for row in range(VERIFY_PATHS)
        ]
        return np.array(rows)

    return Case(f"stationary bootstrap (mean block {mean_block:g})", run, twin)


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _standard_t_loop(nu: float, state0: float, out: np.ndarray) -> None:
    """The yardstick: the same GJR recursion with ``np.random.standard_t`` innovations."""
    mu, omega, alpha, gamma, beta = BTC_GJR
    scale = math.sqrt((nu - 2.0) / nu)
    for row in numba.prange(out.shape[0]):
        state, log_sum = state0, 0.0
        out[row, 0] = 30000.0
        for step in range(1, out.shape[1]):
            eps = math.sqrt(state) * (np.random.standard_t(nu) * scale)  # noqa: NPY002
            slope = alpha + gamma if eps < 0.0 else alpha
            state = omega + slope * (eps * eps) + beta * state
            log_sum += mu + eps
            out[row, step] = 30000.0 * math.exp(0.01 * log_sum)


def yardstick_case() -> Case:
    def run(first: int, out: np.ndarray) -> None:
        _standard_t_loop(BTC_NU, SIGMA0**2, out)

    return Case("yardstick: numba loop with np.random.standard_t", run, lambda f, n: np.empty(0))


def cases() -> list[Case]:
    from stresstest.data import load_candles, log_returns_segments

    rng = np.random.default_rng(SEED)
    residuals = rng.standard_t(4.0, 50_000)
    residuals = (residuals - residuals.mean()) / residuals.std()
    returns, segment = log_returns_segments(
        load_candles(REPO / "data" / "btc_usdt_spot_1h.parquet")
    )
    return [
        garch_case("GJR-t (BTC fit)", enums.DIST_T),
        garch_case("GJR-normal", enums.DIST_NORMAL),
        garch_case("GJR-skew-t (lambda -0.03)", enums.DIST_SKEWT, lam=-0.03),
        garch_case("EGARCH-t", enums.DIST_T, model=enums.VOL_EGARCH),
        garch_case("FHS (GJR, 50k residuals)", enums.DIST_EMPIRICAL, residuals=residuals),
        bootstrap_case(np.ascontiguousarray(returns), segment, 24.0),
        gbm_case(),
    ]


def verify(case: Case) -> np.ndarray:
    """The subset's prices, checked against the twin; raises ``ParityError``."""
    out = np.empty((VERIFY_PATHS, VERIFY_STEPS + 1))
    first = 123_456_789
    case.run(first, out)
    expected = case.twin(first, VERIFY_STEPS)
    parity.require_identical(out, expected, what=f"{case.name}: compiled prices vs the Python twin")
    return out


def time_case(
    case: Case, n_paths: int, n_steps: int, verified: np.ndarray, patience: float = PATIENCE
) -> dict[int, tuple]:
    """Best steps per second at 1 and 2 threads, and CPU seconds per wall second.

    Best of 3 runs; on a shared machine more, for up to ``patience`` s, until a
    run had the cores to itself (CPU seconds per wall second >= 0.9 x threads).
    """
    out = np.empty((n_paths, n_steps + 1))
    results = {}
    for threads in (1, 2):
        numba.set_num_threads(threads)
        best = interleaved_times(
            [lambda: case.run(123_456_789, out)],
            min_runs=3,
            max_runs=3,
            busy=0.9 * threads,
            max_busy_runs=sys.maxsize,
            busy_budget=patience,
        )[0]
        if verified.size:
            parity.require_identical(
                out[:VERIFY_PATHS, : VERIFY_STEPS + 1],
                verified,
                what=f"{case.name}: timed output vs the verified subset",
            )
        results[threads] = (n_paths * n_steps / best.seconds, best.seconds, best.cpu_share)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return results


def render(
    rows: list[tuple[str, dict]],
    n_paths: int,
    n_steps: int,
    load: tuple[float, float],
    command: str,
    patience: float,
) -> str:
    """The paths section's markdown."""
    garch_t = rows[0][1][2][0]
    verdict = "meets" if garch_t >= TARGET else "misses"
    lines = [
        "## Path generation: verified, then timed",
        "",
        f"Measured {datetime.date.today()} on: {machine_description().rstrip('.')}.",
        f"Command: `{command}`. Verified first: on {VERIFY_PATHS} paths x {VERIFY_STEPS} "
        "steps of every case the compiled innovations equal the documented draws and the prices "
        "equal the pure-Python twin `tests/garch_twin.py` exactly; every timed output is checked "
        "again against them.",
        "",
        f"Steps per second = {n_paths:,} paths x {n_steps:,} steps / best wall time of 3 or "
        "more runs (kernels compiled beforehand; on a shared machine runs are repeated, up to "
        f"{patience:g} s, until one had the cores to itself). *cpu* is CPU seconds per wall "
        "second of the best run (2.00 = both cores busy). GJR parameters: the BTC-hourly "
        f"Student-t fit of scenarios/garch_btc.toml (nu = {BTC_NU:.3f}); GBM sigma 0.006 per "
        "step.",
        "",
        f"Load average (1 min) before / after: {load[0]:.2f} / {load[1]:.2f}.",
        "",
        *table(
            [
                ("generator", "l"),
                ("1 thread (M steps/s)", "r"),
                ("2 threads (M steps/s)", "r"),
                ("speed-up", "r"),
                ("cpu (2 threads)", "r"),
            ],
            [
                [
                    name,
                    f"{result[1][0] / 1e6:.1f}",
                    f"{result[2][0] / 1e6:.1f}",
                    f"{result[2][0] / result[1][0]:.2f}x",
                    f"{result[2][2]:.2f}",
                ]
                for name, result in rows
            ],
        ),
    ]
    baseline = rows[-1][1][2][0]
    lines += [
        "",
        f"GARCH-t on 2 threads: {garch_t / 1e6:.1f} M steps/s, which {verdict} the target of "
        f"{TARGET / 1e6:.0f} M; the last row, a plain numba loop calling `np.random.standard_t` "
        f"(not counter-based, not reproducible across threads: a yardstick only), makes "
        f"{baseline / 1e6:.1f} M in the same run. The Student-t variates come from Bailey's "
        "method in its trigonometric form on 32-bit Philox words, without rejection: one "
        "logarithm, one exponential and one sine per step, half a Philox block per step; "
        "GARCH-family paths are made 64 at a time in SIMD lanes (docs/model.md 1.6).",
    ]
    return "\n".join(lines)


def run(options: argparse.Namespace) -> str:
    """Warm up, verify every generator, then time it; the paths section."""
    if options.before is not None:
        if options.write:
            raise SystemExit("--before prints a comparison; it cannot be used with --write")
        return compare(
            options, *(SMOKE_SIZE if options.smoke else QUICK_SIZE if options.quick else FULL_SIZE)
        )
    if options.smoke:
        (n_paths, n_steps), patience, flag = SMOKE_SIZE, SMOKE_PATIENCE, " --smoke"
    elif options.quick:
        (n_paths, n_steps), patience, flag = QUICK_SIZE, PATIENCE, " --quick --write"
    else:
        (n_paths, n_steps), patience, flag = FULL_SIZE, PATIENCE, " --write"
    all_cases = cases()
    started = time.perf_counter()
    for case in all_cases:  # warm-up: compile or load every kernel
        case.run(0, np.empty((2, 3)))
    cli.say(f"warm-up {time.perf_counter() - started:.1f} s")
    verified = {case.name: verify(case) for case in all_cases}
    all_cases.append(yardstick_case())
    all_cases[-1].run(0, np.empty((2, 3)))
    verified[all_cases[-1].name] = np.empty(0)
    cli.say("verified: compiled == twin on every case")
    load_before = load_average()
    rows = []
    for case in all_cases:
        result = time_case(case, n_paths, n_steps, verified[case.name], patience)
        rows.append((case.name, result))
        cli.say(f"{case.name}: {result[1][0] / 1e6:.1f} / {result[2][0] / 1e6:.1f} M steps/s")
    load = (load_before, load_average())
    command = f"python benchmarks/bench_paths.py{flag}"
    return render(rows, n_paths, n_steps, load, command, patience)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--before TREE`` and ``--rounds N``: the before/after comparison."""
    parser.add_argument(
        "--before",
        metavar="TREE",
        default=None,
        help="a worktree of an earlier commit: compare its GARCH-family generators, per core",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the comparison")


FAMILY = cli.Family(
    SECTION, __doc__, run, quick="2,000 paths instead of 10,000", add_arguments=add_arguments
)
main = cli.main_function(FAMILY)

if __name__ == "__main__":
    sys.exit(main())
