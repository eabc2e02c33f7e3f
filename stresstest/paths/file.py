"""Paths from a long-format file: columns path, step, price."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from stresstest.errors import InputError
from stresstest.io.tables import (
    ROW_INDEX,
    check_column_range,
    check_positive,
    numeric_column,
    read_table,
)
from stresstest.limits import PRICE_MAX, PRICE_MIN

PATH_COLUMNS = ("path", "step", "price")


def read_path_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate a path file; return ``(path_ids, prices)``.

    Rows may be in any order. Every path must hold steps 0..T, each once, with
    the same T for all paths; ``path`` and ``step`` are whole numbers (a float
    column is accepted only if every value is whole: ``2.5`` is refused at its
    row, never truncated); prices (quote per base) must lie in
    ``[PRICE_MIN, PRICE_MAX]`` of :mod:`stresstest.limits`. ``prices`` has shape
    ``(n_paths, T + 1)`` with paths in ascending id order.
    """
    frame = read_table(path, PATH_COLUMNS)
    if frame.height == 0:
        raise InputError("path file has no rows", file=path, expected="at least one row")
    path_id = numeric_column(frame, "path", path, integer=True)
    step = numeric_column(frame, "step", path, integer=True)
    price = numeric_column(frame, "price", path, integer=False)
    check_positive(price, frame, "price", path, allow_zero=False)
    check_column_range(
        price, frame, "price", path, low=PRICE_MIN, high=PRICE_MAX, what="price (quote per base)"
    )
    if (step < 0).any():
        first = int(np.flatnonzero(step < 0)[0])
        raise InputError(
            "negative step",
            file=path,
            key="step",
            row=int(frame[ROW_INDEX][first]),
            value=int(step[first]),
            expected="steps 0..T",
        )
    rows = frame[ROW_INDEX].to_numpy()
    order = np.lexsort((step, path_id))
    path_sorted, step_sorted, rows_sorted = path_id[order], step[order], rows[order]
    same = (path_sorted[1:] == path_sorted[:-1]) & (step_sorted[1:] == step_sorted[:-1])
    if same.any():
        first = int(np.flatnonzero(same)[0]) + 1
        raise InputError(
            "duplicate step",
            file=path,
            key="step",
            row=int(rows_sorted[first]),
            value=f"path {path_sorted[first]}, step {step_sorted[first]}",
            expected="each step once per path",
        )
    ids, starts, counts = np.unique(path_sorted, return_index=True, return_counts=True)
    last_step = int(step_sorted[starts[0] + counts[0] - 1])
    for identifier, start, count in zip(ids, starts, counts, strict=True):
        expected = np.arange(count)
        steps_here = step_sorted[start : start + count]
        if not np.array_equal(steps_here, expected):
            missing = int(np.flatnonzero(steps_here != expected)[0])
            raise InputError(
                "gap in steps",
                file=path,
                key="step",
                value=f"path {identifier} has no step {missing}",
                expected="steps 0..T, each once",
            )
        if count - 1 != last_step:
            raise InputError(
                "paths of different lengths",
                file=path,
                key="step",
                value=f"path {identifier} ends at step {count - 1}, path {ids[0]} at {last_step}",
                expected="the same T for every path",
            )
    prices = np.ascontiguousarray(price[order].reshape(ids.shape[0], last_step + 1))
    return ids.astype(np.int64), prices


class FilePathSource:
    """Paths read once from a file and served in chunks."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.ids, self.prices = read_path_file(file)
        self.n_paths = int(self.prices.shape[0])
        self.n_steps = int(self.prices.shape[1] - 1)

    def chunk(self, first: int, count: int) -> np.ndarray:
        """Prices of paths ``first .. first + count - 1`` (in id order), quote per base."""
        return self.prices[first : first + count]

    def path_ids(self) -> np.ndarray:
        """The file's path identifiers, ascending."""
        return self.ids

    def start_price(self) -> float:
        """Mean step-0 price over the paths, quote per base."""
        return float(np.mean(self.prices[:, 0]))


def write_path_file(prices: np.ndarray, path: Path, ids: np.ndarray | None = None) -> None:
    """Write prices ``(n_paths, T + 1)`` in long format (path, step, price), atomically."""
    from stresstest.io.atomic import write_parquet

    n_paths, n_points = prices.shape
    identifiers = np.arange(n_paths) if ids is None else ids
    frame = pl.DataFrame(
        {
            "path": np.repeat(identifiers, n_points).astype(np.int64),
            "step": np.tile(np.arange(n_points), n_paths).astype(np.int64),
            "price": prices.reshape(-1),
        }
    )
    if path.suffix.lower() == ".csv":
        from stresstest.io.atomic import write_text

        write_text(frame.write_csv(), path)
    else:
        write_parquet(frame, path)
