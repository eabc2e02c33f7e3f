"""The static-rate search of ``--match``: every matching rate, the lowest chosen, and why not.

Measures here are plain functions of the rate with known roots, so the scan and
the refinement are checked exactly; tests/test_compare.py runs the search on a
book whose average requirement is not monotone in the rate.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from stresstest.comparison.matching import (
    MATCH_BRACKET,
    MATCH_GRID_POINTS,
    MATCH_XTOL,
    RateSearch,
    amount,
    find_matching_rates,
    no_match_text,
    scan_rates,
)


def _search(function: Callable[[float], float], target: float) -> tuple[RateSearch, list[float]]:
    """Search ``function``; also the rates it was evaluated at one by one."""
    calls: list[float] = []

    def one(rate: float) -> float:
        calls.append(rate)
        return function(rate)

    found = find_matching_rates(lambda rates: [function(rate) for rate in rates], one, target)
    return found, calls


def _hump(rate: float) -> float:
    """Rises then falls, like the cost of a rate that ends up liquidating the book."""
    return rate * (0.55 - rate)


def test_a_hump_has_two_matching_rates_and_both_are_found() -> None:
    target = 0.045  # rate * (0.55 - rate) = 0.045 at 0.1 and 0.45
    found, calls = _search(_hump, target)
    roots = [0.1, 0.45]
    assert _hump(MATCH_BRACKET[0]) < target and _hump(MATCH_BRACKET[1]) < target  # both ends
    assert len(found.matching_rates) == 2
    for rate, root in zip(found.matching_rates, roots, strict=True):
        assert abs(rate - root) <= 2 * MATCH_XTOL
    assert found.evaluations == MATCH_GRID_POINTS + len(calls)
    assert found.rates == tuple(scan_rates())
    assert found.values == tuple(_hump(rate) for rate in scan_rates())


def test_a_monotone_measure_has_one_match() -> None:
    found, _ = _search(lambda rate: 100.0 * rate, 1.234)
    (rate,) = found.matching_rates
    assert abs(rate - 0.01234) <= MATCH_XTOL


def test_a_flat_stretch_at_the_target_is_one_match_at_its_lowest_rate() -> None:
    """ES99 of bad debt is 0 for every rate above 0.07: the lowest of them is the match."""
    found, _ = _search(lambda rate: max(0.0, 0.07 - rate), 0.0)
    (rate,) = found.matching_rates
    assert 0.07 <= rate <= 0.07 + MATCH_XTOL
    constant, _ = _search(lambda rate: 3.0, 3.0)
    assert constant.matching_rates == (MATCH_BRACKET[0],)


@pytest.mark.parametrize(("target", "side"), [(1.0, "below"), (-1.0, "above")])
def test_no_match_says_what_was_tried(target: float, side: str) -> None:
    found, calls = _search(_hump, target)
    assert found.matching_rates == () and calls == []
    text = no_match_text("cost", target, found, MATCH_BRACKET)
    values = [_hump(rate) for rate in scan_rates()]
    lowest, highest = int(np.argmin(values)), int(np.argmax(values))
    for fragment in (
        "[0.0001, 0.5]",
        f"{MATCH_GRID_POINTS} log-spaced rates",
        f"from {amount(values[lowest])} (rate {scan_rates()[lowest]:.6g})",
        f"to {amount(values[highest])} (rate {scan_rates()[highest]:.6g})",
        f"all {side} the target",
    ):
        assert fragment in text, (fragment, text)


def test_the_search_is_deterministic() -> None:
    first, first_calls = _search(_hump, 0.045)
    again, again_calls = _search(_hump, 0.045)
    assert first == again and first_calls == again_calls
