"""A seeded synthetic book with documented distributions (docs/model.md, "Synthetic book")."""

from __future__ import annotations

import numpy as np

from stresstest.book.positions import Book
from stresstest.scenario.schema import SyntheticBook

#: Child index of ``SeedSequence(seed).spawn`` that seeds the synthetic book.
BOOK_SEED_CHILD = 1


def synthetic_book(config: SyntheticBook, seed: int, reference_price: float) -> Book:
    """Draw a book of ``config.n_positions`` positions.

    Draws, in this order, from ``numpy.random.default_rng(SeedSequence(seed, spawn_key=(1,)))``:
    ``U_side`` uniform, long if ``U_side < long_fraction``; leverage
    ``L = exp(uniform(ln leverage_min, ln leverage_max))``; entry notional
    ``N = notional_median exp(notional_sigma Z1)``; entry price
    ``e = reference_price exp(entry_dispersion Z2)``. Then ``q = N / e`` (base
    units) and collateral ``c = N / L`` (quote units).

    Parameters
    ----------
    reference_price
        Quote per base; used when ``config.reference_price`` is 0.
    """
    generator = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(BOOK_SEED_CHILD,)))
    n = config.n_positions
    centre = config.reference_price if config.reference_price > 0 else reference_price
    side_draw = generator.random(n)
    leverage = np.exp(
        generator.uniform(np.log(config.leverage_min), np.log(config.leverage_max), n)
    )
    notional = config.notional_median * np.exp(config.notional_sigma * generator.standard_normal(n))
    entry_price = centre * np.exp(config.entry_dispersion * generator.standard_normal(n))
    side = np.where(side_draw < config.long_fraction, 1, -1).astype(np.int8)
    return Book(
        side=side,
        qty=notional / entry_price,
        entry_price=entry_price,
        collateral=notional / leverage,
    )
