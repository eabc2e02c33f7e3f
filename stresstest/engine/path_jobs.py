"""Path jobs the CLI runs: write a scenario's paths to a file; fit a GARCH model to data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
from rich.table import Table

from stresstest._version import __version__
from stresstest.data import load_candles, select_window
from stresstest.errors import InputError
from stresstest.io.atomic import check_new_file, write_text
from stresstest.kernels.jit import thread_limit
from stresstest.paths import path_source
from stresstest.paths.file import write_path_file
from stresstest.paths.fit import (
    DISTS,
    MODELS,
    GarchFit,
    at_resolution,
    fit_garch,
    innovation_moments,
    parameter_unit,
    parse_resolution,
    persistence,
)
from stresstest.scenario import load_scenario

#: Largest path file ``write_paths`` builds in memory, in prices (2 GB of float64).
MAX_PATH_VALUES = 250_000_000


@dataclass(frozen=True)
class PathsWritten:
    """What ``stresstest paths`` wrote: file, paths, steps (T) and mean start price."""

    file: Path
    n_paths: int
    n_steps: int
    start_price: float


def write_paths(
    scenario_file: Path,
    out: Path,
    *,
    chunk_size: int | None = None,
    threads: int | None = None,
) -> PathsWritten:
    """Generate a scenario's paths and write them in long format (path, step, price).

    The file (Parquet, or CSV by suffix) is written atomically with
    :func:`stresstest.paths.file.write_path_file`; read back with
    ``[paths] source = "file"`` it gives the same prices. Paths are generated in
    chunks of ``chunk_size`` (results do not depend on it, nor on ``threads``).

    Raises
    ------
    InputError
        A bad scenario or data file, bad options, or more than
        ``MAX_PATH_VALUES`` prices.
    """
    if threads is not None:
        if not 1 <= threads <= thread_limit():
            raise InputError(
                "thread count out of range",
                key="threads",
                value=threads,
                expected=f"an integer from 1 to {thread_limit()}",
            )
        numba.set_num_threads(threads)
    if chunk_size is not None and chunk_size < 1:
        raise InputError("chunk size must be positive", key="chunk_size", value=chunk_size)
    scenario = load_scenario(scenario_file)
    source = path_source(scenario)
    total = source.n_paths * (source.n_steps + 1)
    if total > MAX_PATH_VALUES:
        raise InputError(
            "too many prices for one path file",
            file=scenario_file,
            key="paths.n_paths",
            value=f"{source.n_paths:,} paths x {source.n_steps + 1:,} points",
            expected=f"at most {MAX_PATH_VALUES:,} prices",
        )
    size = chunk_size or max(1, 4_000_000 // (source.n_steps + 1))
    prices = np.empty((source.n_paths, source.n_steps + 1))
    for first in range(0, source.n_paths, size):
        count = min(size, source.n_paths - first)
        prices[first : first + count] = source.chunk(first, count)
    write_path_file(prices, out, source.path_ids())
    return PathsWritten(out, source.n_paths, source.n_steps, source.start_price())


def _check_choice(name: str, value: str, choices: dict[str, int]) -> None:
    if value not in choices:
        raise InputError(
            "unknown value", key=f"--{name}", value=value, expected="one of " + ", ".join(choices)
        )


def fit_report(
    data: Path,
    *,
    model: str = "gjr",
    dist: str = "t",
    mean: str = "zero",
    resolution: str | None = None,
    start: str | None = None,
    end: str | None = None,
    n_paths: int = 1000,
    n_steps: int = 720,
) -> tuple[Table, str]:
    """Fit a GARCH-family model to a candle file: a table of estimates and a ``[paths]`` table.

    Parameters
    ----------
    data
        Candle file (docs/data.md).
    model, dist, mean
        As ``[paths] source = "garch"``.
    resolution
        Bar length to fit at (``"1h"``); a whole multiple of the data's. Default:
        the data's own.
    start, end
        Window of bars to use (ISO, UTC, end exclusive).
    n_paths, n_steps
        Written into the TOML table.

    Returns
    -------
    table
        Parameters, robust standard errors and units, titled with the fit's data.
    toml
        A ``[paths]`` table (with ``[paths.params]``) ready to paste, its provenance
        in comments: ``s0`` is the last close and ``sigma0`` the fit's volatility
        forecast for the step after the last bar.
    """
    _check_choice("model", model, MODELS)
    _check_choice("dist", dist, DISTS)
    _check_choice("mean", mean, {"zero": 0, "constant": 1})
    candles = load_candles(data)
    if start is not None or end is not None:
        candles = select_window(candles, start, end)
    if resolution is not None:
        candles = at_resolution(candles, parse_resolution(resolution))
    fit = fit_garch(candles, model, dist, mean, key="DATA")
    return _fit_table(fit), _paths_toml(fit, n_paths, n_steps)


def check_fit_out(out: Path, *, force: bool) -> None:
    """Refuse a ``fit --out`` file before the fit: not ``.toml``, a folder, or an existing
    file without ``force`` (``stresstest fit`` never overwrites a scenario by surprise)."""
    if out.suffix.lower() != ".toml":
        raise InputError(
            "unknown file format", file=out, key="--out", value=out.suffix, expected="'.toml'"
        )
    check_new_file(out, force=force, expected="a TOML file name for the [paths] table")


def write_fit_toml(toml: str, out: Path) -> None:
    """Write what :func:`fit_report` returned as ``toml`` to ``out``, whole or not at all.

    Missing parent folders are created. The file holds a ``[paths]`` table with
    ``[paths.params]``, the provenance in comments: paste it into a scenario (or
    add the other tables to it) and ``stresstest validate`` checks it.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(toml, out)


def _bar_text(step_ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if step_ms % size == 0:
            return f"{step_ms // size}{unit}"
    return f"{step_ms} ms"


def _fit_table(fit: GarchFit) -> Table:
    table = Table(
        title=f"{fit.model.upper()}-{fit.dist} on {fit.data.name}: {fit.n_returns:,} returns, "
        f"log-likelihood {fit.loglikelihood:,.2f}",
        title_justify="left",
    )
    for column in ("parameter", "estimate", "std error", "t", "unit"):
        table.add_column(column, justify="left" if column in ("parameter", "unit") else "right")
    for name, value in fit.params.items():
        error = fit.std_errors[name]
        ratio = value / error if error > 0 else math.nan
        unit = parameter_unit(name, fit.model)
        table.add_row(name, f"{value:.6g}", f"{error:.3g}", f"{ratio:.1f}", unit)
    return table


def _paths_toml(fit: GarchFit, n_paths: int, n_steps: int) -> str:
    nu, lam = fit.params.get("nu", 0.0), fit.params.get("lambda", 0.0)
    kappa = innovation_moments(fit.dist, nu, lam, mean_abs=False)[0]
    rho = persistence(fit.model, {"gamma": 0.0, **fit.params}, kappa)
    errors = ", ".join(f"{name} {error:.3g}" for name, error in fit.std_errors.items())
    lines = [
        f"# Fitted by `stresstest fit` (stresstest {__version__}, arch {fit.arch_version}) on",
        f"#   {fit.data}",
        f"#   SHA-256 {fit.data_sha256}",
        f"#   bars {fit.first_bar} .. {fit.last_bar} at {_bar_text(fit.step_ms)}: "
        f"{fit.n_returns:,} percent log returns in {fit.n_segments} gap-free segments",
        f"#   log-likelihood {fit.loglikelihood:.4f}; robust standard errors: {errors}",
        f"#   persistence {rho:.8f}"
        + ("" if rho < 1 else " (not stationary: keep sigma0, 'unconditional' is undefined)"),
        "# s0 is the last close; sigma0 the fit's volatility forecast for the next step (percent).",
        "[paths]",
        'source = "garch"',
        f'model = "{fit.model}"',
        f'dist = "{fit.dist}"',
        f'mean = "{fit.mean}"',
        f"n_paths = {n_paths}",
        f"n_steps = {n_steps}",
        f"s0 = {fit.last_close!r}",
        f"sigma0 = {math.sqrt(fit.next_variance)!r}",
        "",
        "[paths.params]",
        *(f"{name} = {value!r}" for name, value in fit.params.items()),
    ]
    return "\n".join(lines) + "\n"
