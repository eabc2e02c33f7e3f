"""Data files of a lending market (docs/model.md 13.4): the gas cost path.

Each reader checks every row and raises :class:`~stresstest.errors.InputError`
naming the file, the column, the row, the value and what is valid.
"""

from __future__ import annotations

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
