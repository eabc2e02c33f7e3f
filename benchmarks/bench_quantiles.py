"""Per-step quantile bands: parity with numpy, then timing (issue 19).

    python benchmarks/bench_quantiles.py [--paths N] [--steps N] [--runs N] [--smoke]
        [--data engine|t] [--before OLD_QUANTILES_PY]

1. Parity: ``column_quantiles`` against ``np.quantile(..., method="linear")`` on
   every one of the four record rows the engine reads, byte for byte (and the
   ``--before`` kernel too). Nothing is timed if this fails (exit 1).
2. Timing: the four ``(paths, steps + 1)`` strided views of one record array
   ``(paths, 4, steps + 1)``, numpy and the kernel (and the ``--before`` kernel) run
   alternately ``--runs`` times after a warm-up; medians and each run printed, with
   the CPU seconds of each method.

``--data engine`` (the default) takes the records of a run of the shipped default
scenario with ``paths.n_paths`` set to ``--paths`` (prices, fund, counts and
notional closed per grid step: what the per-step files are made of; ``--steps`` is
the scenario's 720 then); ``--data t`` seeded Student-t values x 1e6 (heavy tails
spread over many binades). ``--before`` loads another version of
``stresstest/kernels/quantiles.py`` (say ``git show REV:stresstest/kernels/quantiles.py
> /tmp/old.py``) under another module name, so both kernels are timed in one process.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Callable
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


def engine_records(n_paths: int) -> np.ndarray:
    """The grid records ``(n_paths, ROWS, 721)`` of the default scenario over ``n_paths``."""
    from stresstest.engine.run import run
    from stresstest.scenario import load_scenario
    from stresstest.scenario.embedded import default_scenario_path

    scenario = load_scenario(default_scenario_path(), sets=[f"paths.n_paths={n_paths}"])
    return run(scenario).records


def kernel_from(path: Path) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``column_quantiles`` of another version of kernels/quantiles.py, loaded from ``path``."""
    spec = importlib.util.spec_from_file_location("quantiles_before", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered, so numba's cache of its kernels (cache=True) can find the module again.
    sys.modules["quantiles_before"] = module
    spec.loader.exec_module(module)
    function: Callable[[np.ndarray, np.ndarray], np.ndarray] = module.column_quantiles
    return function


def main(argv: list[str] | None = None) -> int:
    """Check, then time; exit 1 on a parity failure."""
    from stresstest.engine.result import STEP_QUANTILES
    from stresstest.kernels.quantiles import column_quantiles

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=720)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", choices=("engine", "t"), default="engine")
    parser.add_argument("--before", type=Path, help="another kernels/quantiles.py to time too")
    parser.add_argument("--smoke", action="store_true", help="tiny case, nothing timed long")
    args = parser.parse_args(argv)
    n_paths, n_steps, runs = (300, 30, 1) if args.smoke else (args.paths, args.steps, args.runs)
    levels = np.asarray(STEP_QUANTILES, dtype=np.float64)
    if args.data == "engine":
        values = engine_records(n_paths)
        n_steps = values.shape[2] - 1
    else:
        values = records(n_paths, n_steps)
    views = [values[:, row, :] for row in range(ROWS)]
    kernels = {"column_quantiles": column_quantiles}
    if args.before is not None:
        kernels["column_quantiles (before)"] = kernel_from(args.before)

    def with_numpy() -> list[np.ndarray]:
        return [np.quantile(view, levels, axis=0, method="linear") for view in views]

    def with_kernel(kernel: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> list[np.ndarray]:
        return [kernel(view, levels) for view in views]

    expected = with_numpy()
    for name, kernel in kernels.items():
        for row, (got, want) in enumerate(zip(with_kernel(kernel), expected, strict=True)):
            if got.tobytes() != want.tobytes():
                print(f"parity FAILED on record row {row}: {name} != np.quantile", file=sys.stderr)
                return 1
    print(f"parity: {ROWS} rows of ({n_paths}, {n_steps + 1}) equal to np.quantile byte for byte")
    methods: dict[str, Callable[[], list[np.ndarray]]] = {"np.quantile": with_numpy}
    for name, kernel in kernels.items():
        methods[name] = lambda kernel=kernel: with_kernel(kernel)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in methods}
    for _ in range(runs):
        for name, method in methods.items():
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
