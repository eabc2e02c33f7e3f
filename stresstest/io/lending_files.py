"""Data files of a lending market (docs/model.md 13.4): the gas cost path and the
pools' piecewise depth curves.

Each reader checks every row and raises :class:`~stresstest.errors.InputError`
naming the file, the column, the row, the value and what is valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stresstest.errors import InputError
from stresstest.io.tables import (
    ROW_INDEX,
    check_column_range,
    check_positive,
    numeric_column,
    read_table,
)
from stresstest.limits import AMOUNT_MAX

GAS_COLUMNS = ("step", "gas_cost")


def read_gas_path(path: Path, n_steps: int) -> np.ndarray:
    """The gas cost of a liquidation at each step ``0 .. n_steps`` (quote units), from a file.

    The file has one row per step, columns ``step`` (whole numbers ``0 .. n_steps``,
    ascending, each once) and ``gas_cost`` (``0 <= gas <= AMOUNT_MAX``).

    Raises
    ------
    InputError
        A missing column, a cell that is not a number, a negative or too large gas
        cost, a step out of order, missing or repeated, or a wrong number of rows.
    """
    frame = read_table(path, GAS_COLUMNS)
    step = numeric_column(frame, "step", path, integer=True)
    gas = numeric_column(frame, "gas_cost", path, integer=False)
    check_positive(gas, frame, "gas_cost", path, allow_zero=True)
    check_column_range(
        gas, frame, "gas_cost", path, low=0.0, high=AMOUNT_MAX, what="gas cost", zero_ok=True
    )
    expected = np.arange(min(step.shape[0], n_steps + 1))
    wrong = np.flatnonzero(step[: expected.shape[0]] != expected)
    if wrong.size:
        first = int(wrong[0])
        raise InputError(
            "steps out of order",
            file=path,
            key="step",
            row=int(frame[ROW_INDEX][first]),
            value=int(step[first]),
            expected=f"step {first}: one row per step 0 .. {n_steps} (paths.n_steps), ascending",
        )
    if step.shape[0] != n_steps + 1:
        raise InputError(
            f"{step.shape[0]} rows for {n_steps + 1} steps",
            file=path,
            key="step",
            row=n_steps + 1 if step.shape[0] > n_steps + 1 else None,
            value=step.shape[0],
            expected=f"one row per step 0 .. {n_steps} (paths.n_steps)",
        )
    return np.ascontiguousarray(gas, dtype=float)


DEPTH_COLUMNS = ("asset", "impact", "depth")


@dataclass(frozen=True)
class DepthCurves:
    """Piecewise depth curves of the assets' pools (docs/model.md 13.4), as knots.

    Attributes
    ----------
    start
        ``(A + 1,)`` int64: asset ``a``'s knots are ``start[a] .. start[a + 1] - 1``.
    knots
        ``(3, K)`` float64: per knot the depth (cumulative value sold at the market,
        quote units, from 0), the price impact there (fraction, from 0) and the
        integral of the impact from 0 to that depth (quote units).
    """

    start: np.ndarray
    knots: np.ndarray


def read_depth_curves(path: Path, assets: tuple[str, ...]) -> DepthCurves:
    """Read a depth-curve file: per path asset, rows ``(impact, depth)`` from ``(0, 0)``.

    Columns ``asset`` (a name of ``assets``), ``impact`` (``0 <= impact < 1``, the fall
    of the price, a fraction) and ``depth`` (quote units, ``<= AMOUNT_MAX``): the market
    value that can be sold before the price has fallen by ``impact``. Each asset of
    ``assets`` has at least two rows, in file order with ``impact`` and ``depth``
    strictly ascending, the first ``(0, 0)``. Between rows the impact is linear in
    the value sold; past the last row it stays at the last impact.

    Raises
    ------
    InputError
        Naming the file, the column, the row, the value and what is valid.
    """
    from stresstest.book.accounts import _string_column

    frame = read_table(path, DEPTH_COLUMNS)
    names = _string_column(frame, "asset", path, assets).to_list()
    impact = numeric_column(frame, "impact", path, integer=False)
    depth = numeric_column(frame, "depth", path, integer=False)
    check_positive(impact, frame, "impact", path, allow_zero=True)
    too_large = np.flatnonzero(impact >= 1.0)
    if too_large.size:
        raise InputError(
            "out of range",
            file=path,
            key="impact",
            row=int(frame[ROW_INDEX][int(too_large[0])]),
            value=float(impact[too_large[0]]),
            expected="a fall of the price 0 <= impact < 1",
        )
    check_positive(depth, frame, "depth", path, allow_zero=True)
    check_column_range(
        depth, frame, "depth", path, low=0.0, high=AMOUNT_MAX, what="depth", zero_ok=True
    )
    curves: list[tuple[np.ndarray, np.ndarray]] = []
    for asset in assets:
        rows = np.array([row for row, name in enumerate(names) if name == asset], dtype=np.int64)
        if rows.size < 2:
            raise InputError(
                f"{rows.size} row(s) for asset {asset}",
                file=path,
                key="asset",
                value=asset,
                expected=f"at least two rows, from (impact 0, depth 0), for every asset {assets}",
            )
        first = int(rows[0])
        if impact[first] != 0.0 or depth[first] != 0.0:
            raise InputError(
                f"the curve of {asset} does not start at (0, 0)",
                file=path,
                key="impact, depth",
                row=int(frame[ROW_INDEX][first]),
                value=f"{impact[first]:g}, {depth[first]:g}",
                expected="a first row of each asset with impact 0 and depth 0",
            )
        for column, values in (("impact", impact[rows]), ("depth", depth[rows])):
            flat = np.flatnonzero(np.diff(values) <= 0.0)
            if flat.size:
                row = int(rows[int(flat[0]) + 1])
                raise InputError(
                    f"the curve of {asset} is not strictly ascending",
                    file=path,
                    key=column,
                    row=int(frame[ROW_INDEX][row]),
                    value=float(values[int(flat[0]) + 1]),
                    expected=f"a {column} above the row before ({values[int(flat[0])]:g})",
                )
        curves.append((depth[rows], impact[rows]))
    return depth_curves(curves)


def depth_curves(curves: list[tuple[np.ndarray, np.ndarray]]) -> DepthCurves:
    """The knots of checked curves, one ``(depth, impact)`` pair of arrays per path asset.

    Adds the integral of the impact at each knot (trapezoids: the impact is linear
    between knots), quote units.
    """
    start = [0]
    columns: list[np.ndarray] = []
    for depth, impact in curves:
        integral = np.concatenate(
            [[0.0], np.cumsum(np.diff(depth) * 0.5 * (impact[1:] + impact[:-1]))]
        )
        columns.append(np.stack([depth, impact, integral]))
        start.append(start[-1] + int(depth.shape[0]))
    return DepthCurves(
        start=np.asarray(start, dtype=np.int64),
        knots=np.ascontiguousarray(np.concatenate(columns, axis=1), dtype=float),
    )
