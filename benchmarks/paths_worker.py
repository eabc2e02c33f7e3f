"""One side of bench_paths.py's before/after comparison, run in a tree given by PYTHONPATH.

    PYTHONPATH=TREE python benchmarks/paths_worker.py N_PATHS N_STEPS RUNS

Imports ``stresstest`` and ``tests.garch_twin`` of ``TREE`` only (nothing from this
directory), so the same script times the generators of an older commit. For every
GARCH-family case it first checks, on 8 paths x 300 steps, that the tree's compiled
prices equal its own pure-Python twin exactly (exit 1 otherwise), then calls
``garch_paths`` ``RUNS`` times on ``N_PATHS x N_STEPS`` and prints one JSON line per
case: its name and the wall and CPU seconds (``time.process_time``) of every run.
Run it with ``NUMBA_NUM_THREADS=1`` to measure one core.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.garch import garch_paths
from stresstest.paths.fit import skew_t_constants
from stresstest.paths.gbm import PATHS_SEED_CHILD, philox_key
from tests import garch_twin

SEED = 20261124
#: GJR-t fitted on BTC hourly (scenarios/garch_btc.toml), arch's units; EGARCH: test values.
BTC_GJR = (0.0, 0.0030946220590318874, 0.0789809625851088, 0.018914635751229564, 0.9115620952946821)
EGARCH = (0.0, -0.02, 0.15, -0.06, 0.95)
BTC_NU = 3.224639823063318
SIGMA0 = 0.5852462532357069
S0 = 30000.0
VERIFY_PATHS, VERIFY_STEPS, VERIFY_FIRST = 8, 300, 123_456_789

#: name -> (model, dist, lambda, stream)
CASES = {
    "GJR-t (BTC fit)": (enums.VOL_GJR, enums.DIST_T, 0.0, enums.STREAM_GARCH),
    "GJR-normal": (enums.VOL_GJR, enums.DIST_NORMAL, 0.0, enums.STREAM_GARCH),
    "GJR-skew-t (lambda -0.03)": (enums.VOL_GJR, enums.DIST_SKEWT, -0.03, enums.STREAM_GARCH),
    "EGARCH-t": (enums.VOL_EGARCH, enums.DIST_T, 0.0, enums.STREAM_GARCH),
    "FHS (GJR, 50k residuals)": (enums.VOL_GJR, enums.DIST_EMPIRICAL, 0.0, enums.STREAM_FHS),
}


def residuals() -> np.ndarray:
    """50,000 standardized Student-t(4) residuals, seeded (bench_paths.py's)."""
    draws = np.random.default_rng(SEED).standard_t(4.0, 50_000)
    return np.asarray((draws - draws.mean()) / draws.std())


def arguments(name: str, table: np.ndarray) -> tuple:
    """``garch_paths``'s arguments but ``first_path`` and ``out``."""
    model, dist, lam, stream = CASES[name]
    k0, k1 = philox_key(SEED, PATHS_SEED_CHILD)
    a, b = skew_t_constants(BTC_NU, lam) if dist == enums.DIST_SKEWT else (0.0, 1.0)
    t_shape = dist in (enums.DIST_T, enums.DIST_SKEWT)
    shape = (BTC_NU - 2.0, -2.0 / BTC_NU, lam, a, b) if t_shape else (0.0, 0.0, 0.0, 0.0, 1.0)
    egarch = model == enums.VOL_EGARCH
    variance, state0 = (EGARCH, 2.0 * np.log(SIGMA0)) if egarch else (BTC_GJR, SIGMA0**2)
    drawn = table if dist == enums.DIST_EMPIRICAL else np.empty(0)
    return (k0, k1, stream, dist, shape, drawn, model, variance, float(state0), S0)


def verify(name: str, table: np.ndarray) -> None:
    """The tree's compiled prices equal its twin on the verified subset; exit 1 otherwise."""
    k0, k1, stream, dist, shape, drawn, model, variance, state0, s0 = arguments(name, table)
    out = np.empty((VERIFY_PATHS, VERIFY_STEPS + 1))
    garch_paths(k0, k1, VERIFY_FIRST, stream, dist, shape, drawn, model, variance, state0, s0, out)
    nu, lam = shape[0] + 2.0, shape[2]
    z = np.array(
        [
            garch_twin.innovations(
                int(k0),
                int(k1),
                VERIFY_FIRST + row,
                VERIFY_STEPS,
                dist,
                nu,
                lam,
                (shape[3], shape[4]),
                drawn,
                stream,
            )
            for row in range(VERIFY_PATHS)
        ]
    )
    if not np.array_equal(out, garch_twin.prices(z, model, variance, state0, s0)):
        print(f"{name}: compiled prices differ from the tree's twin", file=sys.stderr)
        sys.exit(1)


def main() -> None:
    n_paths, n_steps, runs = (int(value) for value in sys.argv[1:4])
    table = residuals()
    out = np.empty((n_paths, n_steps + 1))
    for name in CASES:
        verify(name, table)
        k0, k1, stream, dist, shape, drawn, model, variance, state0, s0 = arguments(name, table)
        times = []
        for _ in range(runs):
            wall, cpu = time.perf_counter(), time.process_time()
            garch_paths(k0, k1, 0, stream, dist, shape, drawn, model, variance, state0, s0, out)
            times.append((time.perf_counter() - wall, time.process_time() - cpu))
        print(json.dumps({"case": name, "times": times}), flush=True)


if __name__ == "__main__":
    main()
