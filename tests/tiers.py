"""The two test lanes: the fast lane (``pytest -m "not slow"``) and the full suite.

docs/testing.md says what each lane runs and how to mark a test. This module holds
the one rule by which property tests draw fewer examples in the fast lane:
``@settings(KERNEL_SETTINGS, max_examples=examples(600))`` draws 600 examples in the
full suite, exactly as before the lanes existed, and ``fast_examples(600)`` in the
fast lane. Property tests that leave ``max_examples`` unset draw what the Hypothesis
profile says: tests/conftest.py loads a ``fast`` profile with ``fast_examples`` of the
current profile's count in the fast lane, and leaves the profile alone otherwise.

The lane is chosen once, in ``pytest_configure`` (before any test module is
imported), by :func:`choose_tier`.
"""

from __future__ import annotations

import math
import re

#: Environment variable that chooses the lane explicitly: ``fast`` or ``full``.
TIER_VARIABLE = "STRESSTEST_TEST_TIER"
#: The lanes, in the words of docs/testing.md.
TIERS = ("fast", "full")
#: Share of its full-suite examples a property test draws in the fast lane.
FAST_EXAMPLES_FRACTION = 0.1
#: Fewest examples a property test draws in the fast lane (unless its full count is lower).
FAST_EXAMPLES_MIN = 10
#: ``-m`` expressions that deselect the slow tests select the fast lane.
_NOT_SLOW = re.compile(r"\bnot\s+slow\b")

_tier = "full"


def choose_tier(environment_value: str | None, mark_expression: str) -> str:
    """The lane of this pytest run.

    Parameters
    ----------
    environment_value : str or None
        The value of ``STRESSTEST_TEST_TIER`` (None when unset or empty): wins when set.
    mark_expression : str
        pytest's ``-m`` expression (``""`` without ``-m``): ``not slow`` in it means
        the fast lane.

    Returns
    -------
    str
        ``"fast"`` or ``"full"``.

    Raises
    ------
    ValueError
        If ``environment_value`` is set to anything but ``fast`` or ``full``; the
        message names the variable, its value and the valid values.
    """
    if environment_value:
        if environment_value not in TIERS:
            raise ValueError(
                f"{TIER_VARIABLE}={environment_value!r} is not a test lane; "
                f"expected one of {', '.join(TIERS)}"
            )
        return environment_value
    return "fast" if _NOT_SLOW.search(mark_expression) else "full"


def set_tier(tier: str) -> None:
    """Make ``tier`` the lane that :func:`examples` scales for (tests/conftest.py calls it)."""
    global _tier
    if tier not in TIERS:
        raise ValueError(f"test lane {tier!r} is not one of {', '.join(TIERS)}")
    _tier = tier


def current_tier() -> str:
    """The lane of this run: ``"fast"`` or ``"full"`` (``"full"`` outside pytest)."""
    return _tier


def fast_examples(full: int) -> int:
    """Examples a property test that draws ``full`` in the full suite draws in the fast lane.

    A tenth (rounded up), but at least ``FAST_EXAMPLES_MIN`` and never more than ``full``.
    """
    return min(full, max(FAST_EXAMPLES_MIN, math.ceil(full * FAST_EXAMPLES_FRACTION)))


def examples(full: int) -> int:
    """``max_examples`` for a property test: ``full`` in the full suite, fewer in the fast lane.

    Parameters
    ----------
    full : int
        The number of examples the test draws in the full suite.

    Returns
    -------
    int
        ``full`` in the full suite, ``fast_examples(full)`` in the fast lane.
    """
    return full if _tier == "full" else fast_examples(full)
