"""Per-step quantile bands: parity with numpy, then timing (issue 19).

    python benchmarks/bench_quantiles.py [--paths N] [--steps N] [--runs N] [--smoke]

1. Parity: ``column_quantiles`` against ``np.quantile(..., method="linear")`` on
   every one of the four record rows the engine reads, byte for byte. Nothing is
   timed if this fails (exit 1).
2. Timing: the four ``(paths, steps + 1)`` strided views of one seeded record array
   ``(paths, 4, steps + 1)`` (Student-t values, as bad debt and fund series are
   heavy-tailed), numpy and the kernel run alternately ``--runs`` times after a
   warm-up; medians and each run printed, with the CPU seconds of each method.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

SEED = 19
ROWS = 4  # the four per-step files (docs/model.md 6a)


def records(n_paths: int, n_steps: int) -> np.ndarray:
    """Seeded records ``(n_paths, ROWS, n_steps + 1)``, Student-t (3) values x 1e6."""
    return np.random.default_rng(SEED).standard_t(3, size=(n_paths, ROWS, n_steps + 1)) * 1e6


def main(argv: list[str] | None = None) -> int:
    """Check, then time; exit 1 on a parity failure."""
    from stresstest.engine.result import STEP_QUANTILES
    from stresstest.kernels.quantiles import column_quantiles

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=720)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="tiny case, nothing timed long")
    args = parser.parse_args(argv)
    n_paths, n_steps, runs = (300, 30, 1) if args.smoke else (args.paths, args.steps, args.runs)
    levels = np.asarray(STEP_QUANTILES, dtype=np.float64)
    values = records(n_paths, n_steps)
    views = [values[:, row, :] for row in range(ROWS)]

    def with_numpy() -> list[np.ndarray]:
        return [np.quantile(view, levels, axis=0, method="linear") for view in views]

    def with_kernel() -> list[np.ndarray]:
        return [column_quantiles(view, levels) for view in views]

    expected = with_numpy()
    for row, (got, want) in enumerate(zip(with_kernel(), expected, strict=True)):
        if got.tobytes() != want.tobytes():
            print(f"parity FAILED on record row {row}: kernel != np.quantile", file=sys.stderr)
            return 1
    print(f"parity: {ROWS} rows of ({n_paths}, {n_steps + 1}) equal to np.quantile byte for byte")
    times: dict[str, list[tuple[float, float]]] = {"np.quantile": [], "column_quantiles": []}
    for _ in range(runs):
        for name, method in (("np.quantile", with_numpy), ("column_quantiles", with_kernel)):
            wall, cpu = time.perf_counter(), time.process_time()
            got = method()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
            if any(a.tobytes() != b.tobytes() for a, b in zip(got, expected, strict=True)):
                print(f"timed output of {name} changed", file=sys.stderr)
                return 1
    print(f"{ROWS} x ({n_paths} paths, {n_steps + 1} steps), {runs} alternating runs:")
    print("| method | wall runs (s) | median wall (s) | median cpu (s) |")
    print("| --- | --- | ---: | ---: |")
    for name, pairs in times.items():
        walls = " ".join(f"{wall:.2f}" for wall, _ in pairs)
        wall_median = float(np.median([wall for wall, _ in pairs]))
        cpu_median = float(np.median([cpu for _, cpu in pairs]))
        print(f"| `{name}` | {walls} | {wall_median:.2f} | {cpu_median:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
