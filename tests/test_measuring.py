"""Measuring replays of a match: the same per-path numbers as full runs, paths from memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stresstest.comparison.engine import run_variants
from stresstest.comparison.measuring import MeasureMemo, StaticFamily, static_variant
from stresstest.engine.run import PrepareCache, prepare
from stresstest.paths import memory, path_source
from stresstest.paths.memory import MemoryPathSource, held_in_memory
from stresstest.scenario import load_scenario
from stresstest.scenario.compare import Variant, parse_compare
from tests.test_compare import BASE, COMPARE

RATES = (0.004, 0.011, 0.05)


def vol_k1(folder: Path) -> Variant:
    """The ``vol_k1`` variant of tests/test_compare.py's comparison on 45 paths."""
    path = folder / "compare.toml"
    path.write_text(BASE.replace("n_paths = 60", "n_paths = 45") + COMPARE)
    spec = parse_compare(load_scenario(path))
    return next(variant for variant in spec.variants if variant.name == "vol_k1")


@pytest.fixture
def vol_variant(tmp_path: Path) -> Variant:
    return vol_k1(tmp_path)


def test_family_metrics_equal_full_runs_bit_for_bit(vol_variant: Variant) -> None:
    """Each static rate's per-path metrics from the family (paths from memory, one sorted
    book, no records, attribution or findings) are the full replay's, exactly; across
    calls and chunk sizes."""
    family = StaticFamily(vol_variant, "cost", {"chunk_size": 7})
    measured = family.results(RATES[:2]) + family.results(RATES[2:])
    designs = [static_variant(vol_variant, rate, "cost") for rate in RATES]
    full = run_variants(designs, {"chunk_size": 16})
    assert isinstance(family.cache.source, MemoryPathSource)
    assert len(family.cache.books) == 1  # built and sorted once for every rate
    for quick, whole in zip(measured, full, strict=True):
        assert quick.grid.shape == (0,) and quick.records.shape[-1] == 0
        assert quick.scenario.margin == whole.scenario.margin
        np.testing.assert_array_equal(quick.metrics, whole.metrics)
        assert quick.metrics.tobytes() == whole.metrics.tobytes()
    # Not vacuous: the rates give different bad debt.
    assert len({float(result.column("bad_debt").sum()) for result in measured}) == len(RATES)


def test_memo_replays_each_static_design_once(vol_variant: Variant) -> None:
    """Families of variants that differ only in their margin share the static designs
    they measure: each distinct design is replayed once, and what the memo serves is
    the same bytes as a replay of its own; a design that differs elsewhere (the
    liquidation latency) is replayed."""
    steeper = Variant(
        "vol_k3", {"margin.k": 3.0}, vol_variant.scenario.with_overrides({"margin.k": 3.0})
    )
    slow = Variant(
        "slow",
        {"liquidation.latency_steps": 6},
        vol_variant.scenario.with_overrides({"liquidation.latency_steps": 6}),
    )
    cache, memo = PrepareCache(), MeasureMemo()
    first = StaticFamily(vol_variant, "cost", {"chunk_size": 7}, cache, memo).results(RATES)
    assert memo.replayed == len(RATES)
    rates = (0.02, *RATES[::-1])
    served = StaticFamily(steeper, "cost", {"chunk_size": 7}, cache, memo).results(rates)
    assert memo.replayed == len(RATES) + 1  # only 0.02 is new
    assert [result.scenario.margin for result in served] == [
        static_variant(steeper, rate, "cost").scenario.margin for rate in rates
    ]
    own = StaticFamily(steeper, "cost", {"chunk_size": 16}).results(rates)
    for quick, whole in zip(served, own, strict=True):
        assert quick.metrics.tobytes() == whole.metrics.tobytes()
    for early, late in zip(first, served[:0:-1], strict=True):
        assert early is late
    slower = StaticFamily(slow, "cost", {"chunk_size": 7}, cache, memo).results(RATES)
    assert memo.replayed == 2 * len(RATES) + 1
    # Not vacuous: the slower liquidation changes the metrics.
    assert any(
        a.metrics.tobytes() != b.metrics.tobytes() for a, b in zip(first, slower, strict=True)
    )


def test_memory_source_serves_the_same_prices(vol_variant: Variant) -> None:
    source = path_source(vol_variant.scenario)
    held = MemoryPathSource(source)
    for first, count in ((0, 45), (3, 11), (44, 1), (20, 25)):
        np.testing.assert_array_equal(held.chunk(first, count), source.chunk(first, count))
        assert held.chunk(first, count).flags.c_contiguous
    np.testing.assert_array_equal(held.path_ids(), source.path_ids())
    assert held.start_price() == source.start_price()


def test_paths_too_large_for_memory_are_streamed(
    vol_variant: Variant, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = path_source(vol_variant.scenario)
    monkeypatch.setattr(memory, "MEMORY_PATHS_BYTES", 45 * 121 * 8 - 1)
    assert held_in_memory(source) is source
    monkeypatch.setattr(memory, "MEMORY_PATHS_BYTES", 45 * 121 * 8)
    assert isinstance(held_in_memory(source), MemoryPathSource)


def test_prepare_without_records_and_findings(vol_variant: Variant) -> None:
    scenario = vol_variant.scenario.with_overrides(
        {"margin": {"model": "static", "maintenance": 0.5}}  # a finding: most breach at once
    )
    plan, _ = prepare([scenario])
    assert plan.grid.shape[0] > 0 and plan.variants[0].warnings
    cache = PrepareCache()
    quiet, _ = prepare([scenario], records=False, findings=False, cache=cache)
    assert quiet.grid.shape == (0,) and quiet.variants[0].warnings == ()
    again, _ = prepare([scenario], records=False, findings=False, cache=cache)
    assert again.source is quiet.source and again.variants[0].book is quiet.variants[0].book
