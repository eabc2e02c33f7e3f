"""The replay's requirement-only mode: the ``requirement_mean`` column alone, the same bits.

A cost match measures its static designs with the requirement-only mode of the
replay kernel (:func:`stresstest.kernels.replay.requirement_paths`) instead of a
full replay (comparison/measuring.py); these tests hold the mode to the full
replay exactly, on random books, paths and margins (the full replay itself is held
to the plain reference in tests/test_replay_reference.py), and the family's costs
to the mean of a full replay's column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from stresstest.book import sort_book
from stresstest.comparison import measuring
from stresstest.comparison.engine import cost_of, run_variants
from stresstest.comparison.measuring import MeasureMemo, StaticFamily, static_variant
from stresstest.engine.run import PrepareCache, margin_arguments
from stresstest.kernels import enums
from stresstest.kernels.replay import requirement_paths
from stresstest.scenario.compare import Variant
from tests.test_measuring import vol_k1
from tests.test_replay_reference import (
    KERNEL_SETTINGS,
    ReplayCase,
    liquidation_vector,
    margin_config,
    replay_cases,
    run_sorted_kernel,
)
from tests.tiers import examples

RATES = (0.0001, 0.004, 0.011, 0.05, 0.5)


@pytest.fixture
def vol_variant(tmp_path: Path) -> Variant:
    return vol_k1(tmp_path)


#: Marks the entries of a row the requirement-only mode must leave as they are.
UNTOUCHED = -12345.0
#: The column the requirement-only mode writes.
COST_COLUMNS = [enums.REQUIREMENT_MEAN]


def requirement_mode(case: ReplayCase) -> np.ndarray:
    """:func:`requirement_paths` on the case's sorted book, ``(n_paths, N_METRICS)``."""
    book = sort_book(case.book)
    out = np.full((case.prices.shape[0], enums.N_METRICS), UNTOUCHED)
    requirement_paths(
        np.ascontiguousarray(case.prices),
        margin_arguments(margin_config(case.margin)),
        liquidation_vector(case),
        book.long_threshold,
        book.long_prefix,
        book.short_threshold,
        book.short_prefix,
        case.fund_initial,
        out,
    )
    return out


@settings(KERNEL_SETTINGS, max_examples=examples(400))
@given(case=replay_cases())
def test_requirement_mode_is_the_replay_columns_bit_for_bit(case: ReplayCase) -> None:
    """Static and volatility-scaled margins, any latency, fee and book: the same bits (no
    tie is discarded: both modes take the same breach test on the same values), and
    the mode writes that column only."""
    replayed = run_sorted_kernel(case)[:, COST_COLUMNS]
    measured = requirement_mode(case)
    assert measured[:, COST_COLUMNS].tobytes() == np.ascontiguousarray(replayed).tobytes()
    others = np.delete(measured, COST_COLUMNS, axis=1)
    assert (others == UNTOUCHED).all()


@pytest.mark.parametrize("chunk_size", [None, 7, 45])
def test_family_costs_are_full_replays_means(vol_variant: Variant, chunk_size: int | None) -> None:
    """Each rate's cost is ``cost_of`` of a full replay of the rate (records and
    attribution on), bit for bit, whatever the chunk size; the memo serves them again."""
    memo = MeasureMemo()
    family = StaticFamily(vol_variant, "cost", {"chunk_size": chunk_size}, PrepareCache(), memo)
    costs = family.costs(RATES)
    full = run_variants([static_variant(vol_variant, rate, "cost") for rate in RATES], {})
    assert costs == [cost_of(result) for result in full]
    assert costs == [cost_of(result) for result in family.results(RATES)]
    assert memo.replayed == 2 * len(RATES)  # costs and results are held apart
    assert family.costs(RATES[::-1]) == costs[::-1]
    assert memo.replayed == 2 * len(RATES)
    # Not vacuous: the rates close different parts of the book (the cost is not linear).
    assert len(set(costs)) == len(RATES)
    assert costs[-1] / RATES[-1] < costs[0] / RATES[0]


def test_costs_of_a_pipeline_design_are_replayed(
    vol_variant: Variant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A design the requirement-only mode does not measure (partial liquidation: the stage
    pipeline) is replayed; its costs are still the full replays' means."""

    def refused(*_: object) -> list[float]:
        raise AssertionError("the requirement-only mode measured a pipeline design")

    monkeypatch.setattr(measuring, "requirement_costs", refused)
    partial = {"partial_liquidation": {"rule": "fraction", "fraction": 0.5}}
    variant = Variant("partial", partial, vol_variant.scenario.with_overrides(partial))
    costs = StaticFamily(variant, "cost", {}).costs(RATES[1:4])
    full = run_variants([static_variant(variant, rate, "cost") for rate in RATES[1:4]], {})
    assert costs == [cost_of(result) for result in full]
    with pytest.raises(AssertionError, match="pipeline design"):  # the spy is in place
        StaticFamily(vol_variant, "cost", {}).costs(RATES[1:2])
