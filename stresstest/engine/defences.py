"""Partial liquidation and ADL in a replay plan: what they need besides the stage vector.

Both are stages of the pipeline (kernels/pipeline.py; partial liquidation is its
close rule, kernels/partial.py, and ADL a layer of its loss waterfall): the stage
vector (engine/mechanics.py) turns them on, and this module gives ADL the
positions it ranks. docs/model.md 10, 12.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stresstest.book import Book
from stresstest.errors import InputError
from stresstest.kernels import enums
from stresstest.scenario import schema


@dataclass(frozen=True)
class DefencePlan:
    """What ADL needs besides the stage vector (partial liquidation needs nothing more).

    Attributes
    ----------
    long_positions, short_positions
        ``(3, n)`` rows ``q`` (base units), ``e`` (quote per base) and ``c`` (quote
        units) of each side, in the order of the sorted book.
    """

    long_positions: np.ndarray
    short_positions: np.ndarray

    @property
    def n_metrics(self) -> int:
        """Row width the variant's kernel writes: ``N_METRICS_ADL``."""
        return enums.N_METRICS_ADL


def sorted_positions(book: Book) -> tuple[np.ndarray, np.ndarray]:
    """``(3, n)`` arrays ``q, e, c`` of longs and shorts in :func:`sort_book`'s order."""
    sides = []
    for is_side, sign in ((book.side == 1, 1.0), (book.side != 1, -1.0)):
        qty = book.qty[is_side]
        entry = book.entry_price[is_side]
        collateral = book.collateral[is_side]
        order = np.argsort(entry - sign * (collateral / qty), kind="stable")
        sides.append(np.ascontiguousarray(np.stack([qty[order], entry[order], collateral[order]])))
    return sides[0], sides[1]


def defence_plan(scenario: schema.Scenario, book: Book | None) -> DefencePlan | None:
    """ADL's positions, ``None`` without ``[adl]``.

    ``book`` is the unsorted book. Partial liquidation's buffer travels in the
    stage vector (engine.mechanics.mechanics_vector).
    """
    if scenario.adl is None:
        return None
    if book is None:
        raise InputError(
            "ADL needs the positions themselves, not only the sorted book",
            key="adl",
            expected="a run through stresstest.engine.run.run or compare",
        )
    long_positions, short_positions = sorted_positions(book)
    return DefencePlan(long_positions=long_positions, short_positions=short_positions)
