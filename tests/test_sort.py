"""The radix argsort of the book's thresholds gives numpy's stable order, index for index.

``threshold_orders`` (book/sorted_book.py) sorts each side of the book with
:func:`~stresstest.kernels.sort.stable_argsort`; every sorted book, cohort book and
result file depends on that order being exactly ``np.argsort(kind="stable")``'s,
ties (equal thresholds, ``0.0`` and ``-0.0``) in index order included.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from stresstest.book.sorted_book import threshold_orders
from stresstest.book.synthetic import synthetic_book
from stresstest.kernels.sort import order_keys, radix_argsort, rank_by_key, stable_argsort
from stresstest.scenario.schema import SyntheticBook
from tests.tiers import examples


def numpy_order(values: np.ndarray) -> np.ndarray:
    return np.argsort(values, kind="stable")


@settings(deadline=None, database=None, max_examples=examples(300))
@given(
    hnp.arrays(
        np.float64,
        st.integers(0, 400),
        elements=st.floats(allow_nan=False, width=64)
        | st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, np.inf, -np.inf, 5e-324, -5e-324]),
    )
)
def test_equals_numpy_stable_argsort(values: np.ndarray) -> None:
    """Any non-NaN floats, with many ties: the same indices as numpy, same dtype."""
    order = stable_argsort(values)
    expected = numpy_order(values)
    assert order.dtype == expected.dtype
    np.testing.assert_array_equal(order, expected)


def test_hand_cases() -> None:
    """Signed zeros tie (index order), negatives before positives, infinities at the ends."""
    values = np.array([0.0, -0.0, 3.0, -np.inf, -2.0, 0.0, np.inf, -0.0, 3.0])
    np.testing.assert_array_equal(stable_argsort(values), [3, 4, 0, 1, 5, 7, 2, 8, 6])
    assert stable_argsort(np.empty(0)).shape == (0,)
    np.testing.assert_array_equal(stable_argsort(np.array([7.0])), [0])


def test_keys_order_as_the_floats() -> None:
    """The unsigned keys compare as their floats; ``-0.0`` and ``0.0`` share one key."""
    values = np.array([-np.inf, -1e300, -1.0, -5e-324, -0.0, 0.0, 5e-324, 1.0, 1e300, np.inf])
    keys = order_keys(values)
    assert keys[4] == keys[5]
    distinct = np.delete(keys, 4)
    assert np.all(distinct[:-1] < distinct[1:])


def test_nan_is_left_to_numpy() -> None:
    """NaN sorts last, as numpy sorts it."""
    values = np.array([2.0, np.nan, 1.0, np.nan, -1.0])
    np.testing.assert_array_equal(stable_argsort(values), numpy_order(values))


def test_every_pass_is_exercised() -> None:
    """Keys differing in every 11-bit digit (no pass skipped), and keys equal in all but one."""
    rng = np.random.default_rng(7)
    spread = rng.integers(0, 2**63, 5_000, dtype=np.uint64) | np.uint64(1)
    np.testing.assert_array_equal(radix_argsort(spread), np.argsort(spread, kind="stable"))
    one_digit = np.full(5_000, 12345, dtype=np.uint64) + (
        rng.integers(0, 3, 5_000).astype(np.uint64) << np.uint64(33)
    )
    np.testing.assert_array_equal(radix_argsort(one_digit), np.argsort(one_digit, kind="stable"))


@pytest.mark.parametrize("seed", [1, 20261124])
def test_book_orders_equal_numpy(seed: int) -> None:
    """The synthetic book's two sides sort as numpy would sort them."""
    config = SyntheticBook(n_positions=50_000)
    book = synthetic_book(config, seed, 30_000.0)
    sides = threshold_orders(book)
    is_long = book.side == 1
    margin_per_unit = book.collateral / book.qty
    threshold = np.where(
        is_long, book.entry_price - margin_per_unit, book.entry_price + margin_per_unit
    )
    np.testing.assert_array_equal(sides.long_threshold, threshold[is_long])
    np.testing.assert_array_equal(sides.short_threshold, threshold[~is_long])
    np.testing.assert_array_equal(sides.long_qty, book.qty[is_long])
    np.testing.assert_array_equal(sides.short_qty, book.qty[~is_long])
    np.testing.assert_array_equal(sides.long_order, numpy_order(threshold[is_long]))
    np.testing.assert_array_equal(sides.short_order, numpy_order(threshold[~is_long]))


@settings(deadline=None, database=None, max_examples=examples(300))
@given(
    st.integers(0, 300).flatmap(
        lambda n: st.tuples(
            hnp.arrays(
                np.float64,
                n,
                elements=st.sampled_from([0.0, -0.0, 0.25, 0.5, 0.93, 0.99])
                | st.floats(0.0, 1.0, width=64),
            ),
            st.permutations(range(n)),
        )
    ),
    st.sampled_from([0, 1, 2, 7, 64, 10**9]),
)
def test_rank_by_key_is_key_then_label_whichever_sort_runs(
    case: tuple[np.ndarray, list[int]], radix_from: int
) -> None:
    """The lending candidates' order (docs/model.md 13.7): (health factor, loan), the
    same with the radix sort (``radix_from`` at or below the size) as with the
    quicksort, ties (``0.0`` and ``-0.0`` too) in label order whatever the input order."""
    key, labels = case
    labels_array = np.asarray(labels, dtype=np.int64) * 3 + 1  # distinct, not 0..n-1
    ranked = rank_by_key(key, labels_array, radix_from)
    expected = np.lexsort((labels_array, key + 0.0))  # -0.0 + 0.0 is 0.0: one key
    assert ranked.tolist() == expected.tolist()
