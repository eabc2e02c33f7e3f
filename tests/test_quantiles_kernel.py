"""The per-step quantile kernel equals numpy's "linear" quantiles bit for bit.

docs/model.md 6a: ``column_quantiles`` replaces ``np.quantile(values,
STEP_QUANTILES, axis=0, method="linear")`` in the per-step files, so the files'
bytes must not change. The reference is numpy itself.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from stresstest.engine.result import STEP_QUANTILES, step_quantiles
from stresstest.kernels.quantiles import (
    COLUMN_BLOCK,
    PATH_TILE,
    column_bands,
    column_quantiles,
    key_value,
    needed_ranks,
    order_key,
    select_ranks,
    sort_small,
)
from tests.tiers import examples

LEVELS = np.asarray(STEP_QUANTILES, dtype=np.float64)

#: Values with many ties, zeros and negatives; no NaN, no -0.0 (see below).
_TIED = st.sampled_from([-3.5, -1.0, 0.0, 0.25, 1.0, 2.0, 1e9])
_FINITE = st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False)


def _reference(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    return np.asarray(np.quantile(values, levels, axis=0, method="linear"))


@settings(deadline=None, database=None, max_examples=examples(300))
@given(
    values=st.integers(1, 40).flatmap(
        lambda n: hnp.arrays(
            np.float64,
            st.tuples(st.just(n), st.integers(1, 5)),
            elements=st.one_of(_TIED, _FINITE).map(lambda x: x + 0.0),
        )
    ),
    levels=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=9),
)
def test_kernel_equals_numpy_linear_bit_for_bit(values: np.ndarray, levels: list[float]) -> None:
    """Random columns (ties, zeros, negatives, n from 1), random levels in [0, 1]."""
    level_array = np.asarray(levels, dtype=np.float64)
    got = column_quantiles(values, level_array)
    assert got.tobytes() == _reference(values, level_array).tobytes()


def test_small_and_constant_columns_by_hand() -> None:
    """n = 1, 2, 3 and a constant column, hand-computed."""
    one = np.array([[7.5]])
    assert np.all(column_quantiles(one, LEVELS) == 7.5)
    two = np.array([[2.0], [1.0]])
    # (n - 1) * q = q: 1 + (2 - 1) * q
    np.testing.assert_array_equal(
        column_quantiles(two, np.array([0.0, 0.25, 1.0]))[:, 0], [1.0, 1.25, 2.0]
    )
    three = np.array([[3.0], [-1.0], [1.0]])
    # (n - 1) * 0.75 = 1.5 -> halfway between 1 and 3
    np.testing.assert_array_equal(column_quantiles(three, np.array([0.5, 0.75]))[:, 0], [1.0, 2.0])
    constant = np.full((9, 3), -4.0)
    assert np.all(column_quantiles(constant, LEVELS) == -4.0)
    for values in (one, two, three, constant):
        assert column_quantiles(values, LEVELS).tobytes() == _reference(values, LEVELS).tobytes()


def test_strided_view_like_the_records() -> None:
    """A strided (n_paths, n_grid) view of (n_paths, n_grid, rows) records, as the engine passes."""
    records = np.random.default_rng(19).normal(size=(257, 31, 4))
    view = records[:, :, 2]
    assert not view.flags.c_contiguous
    assert column_quantiles(view, LEVELS).tobytes() == _reference(view, LEVELS).tobytes()


def test_needed_ranks_are_the_floor_and_next_of_each_index() -> None:
    """Ranks for n = 101: (n - 1) * q = 100 q, each with its successor, clipped at 100."""
    ranks = needed_ranks(101, np.array([0.0, 0.255, 1.0]))
    np.testing.assert_array_equal(ranks, [0, 1, 25, 26, 100])


def test_step_file_table_unchanged() -> None:
    """The per-step table built with the kernel equals the one built with np.quantile."""
    values = np.random.default_rng(6).standard_t(3, size=(300, 17)) * 1e6
    grid = np.arange(17) * 45
    table = step_quantiles(values, grid)
    expected = _reference(values, LEVELS)
    for level, row in zip(STEP_QUANTILES, expected, strict=True):
        column = table[f"q{round(level * 100):02d}"].to_numpy()
        assert column.tobytes() == row.tobytes()
    assert table["mean"].to_numpy().tobytes() == values.mean(axis=0).tobytes()
    assert isinstance(table, pl.DataFrame)


@settings(deadline=None, database=None, max_examples=examples(200))
@given(
    values=hnp.arrays(
        np.float64,
        st.integers(1, 3000),
        elements=st.one_of(_TIED, _FINITE).map(lambda x: x + 0.0),
    ),
    data=st.data(),
)
def test_select_ranks_places_each_order_statistic(values: np.ndarray, data: st.DataObject) -> None:
    """Every wanted rank holds the value a full sort puts there (lengths to 3,000, many ties);
    the other indices keep their values."""
    n = values.shape[0]
    wanted = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=14, unique=True))
    ranks = np.array(sorted(wanted), dtype=np.int64)
    selected = values.copy()
    select_ranks(selected, ranks)
    assert selected[ranks].tobytes() == np.sort(values)[ranks].tobytes()


def test_select_ranks_on_awkward_inputs() -> None:
    """Sorted, reversed, organ-pipe, sawtooth, constant and one-binade inputs of 5,001 values,
    and values that differ only in their last mantissa bits (every radix digit is used)."""
    n = 5001
    ramp = np.arange(n, dtype=np.float64)
    shapes = {
        "sorted": ramp,
        "reversed": ramp[::-1].copy(),
        "organ pipe": np.minimum(ramp, ramp[::-1]),
        "sawtooth": ramp % 7.0,
        "constant": np.zeros(n),
        "one binade": 1.0 + ramp / n,
        "last bits": np.nextafter(np.full(n, 3.0), 4.0) + 0.0 * ramp,
        "neighbours": 1.0 + (ramp % 97.0) * np.finfo(float).eps,
        "mixed signs": (ramp - n / 2) * 1e-300,
    }
    ranks = needed_ranks(n, LEVELS)
    for name, values in shapes.items():
        selected = values.copy()
        select_ranks(selected, ranks)
        assert selected[ranks].tobytes() == np.sort(values)[ranks].tobytes(), name


def test_wide_columns_in_blocks_equal_numpy() -> None:
    """More paths than one tile and more grid columns than two blocks, neither a multiple."""
    records = np.random.default_rng(7).standard_t(3, size=(1001, 3, 2 * COLUMN_BLOCK + 5))
    view = records[:, 1, :]
    assert view.shape[1] % COLUMN_BLOCK != 0 and view.shape[0] % PATH_TILE != 0
    means, levels = column_bands(view, LEVELS)
    assert levels.tobytes() == _reference(view, LEVELS).tobytes()
    assert means.tobytes() == view.mean(axis=0).tobytes()


@settings(deadline=None, database=None, max_examples=examples(200))
@given(
    records=st.tuples(st.integers(1, 60), st.integers(2, 70)).flatmap(
        lambda shape: hnp.arrays(
            np.float64,
            (shape[0], 2, shape[1]),
            elements=st.one_of(_TIED, _FINITE, st.just(-0.0), st.floats(-1e300, 1e300)),
        )
    ),
)
def test_means_equal_numpy_mean_bit_for_bit(records: np.ndarray) -> None:
    """Two or more grid columns, strided as the records, any magnitudes and signed zeros:
    each column summed in path order from +0.0, then divided by n, is numpy's mean."""
    view = records[:, 1, :]
    means, _ = column_bands(view, LEVELS)
    assert means.tobytes() == view.mean(axis=0).tobytes()


def test_means_sum_in_path_order_by_hand() -> None:
    """1e16 + 1 + 1 = 1e16 in path order (each 1 is lost); pairwise it would be 1e16 + 2;
    a column of -0.0 sums to +0.0 (from +0.0), as numpy's."""
    values = np.array([[1e16, -0.0], [1.0, -0.0], [1.0, -0.0]])
    means, _ = column_bands(values, LEVELS)
    assert means[0] == 1e16 / 3.0
    assert means[0] != (1e16 + 2.0) / 3.0
    assert means[1] == 0.0 and not np.signbit(means[1])
    assert means.tobytes() == values.mean(axis=0).tobytes()


@settings(deadline=None, database=None, max_examples=examples(200))
@given(keys=hnp.arrays(np.uint64, st.integers(0, 40)))
def test_sort_small_sorts_in_place_like_numpy(keys: np.ndarray) -> None:
    """The insertion sort of the small sets gives numpy's ascending order, in place."""
    expected = np.sort(keys)
    sort_small(keys)
    assert keys.tobytes() == expected.tobytes()


def test_key_value_inverts_order_key_bit_for_bit() -> None:
    """Signed zeros, infinities, subnormals, extremes and ordinary values survive the round
    trip through the order key with their exact bits."""
    tiny = np.finfo(np.float64).smallest_subnormal
    big = np.finfo(np.float64).max
    values = np.array([-0.0, 0.0, np.inf, -np.inf, tiny, -tiny, big, -big, 1.5, -2.25, 1e-300])
    back = np.array([key_value(np.uint64(order_key(bits))) for bits in values.view(np.uint64)])
    assert back.tobytes() == values.tobytes()
