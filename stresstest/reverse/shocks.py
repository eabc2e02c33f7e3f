"""Shock families of a reverse stress test, each a transform of the scenario's paths.

A shock is applied to the paths the scenario already generates (the same seed, so
every shock size sees the same random numbers: common random numbers), chunk by
chunk, so the memory stays that of a run. docs/reverse.md states each family.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from stresstest.errors import InputError
from stresstest.paths import PathSource
from stresstest.scenario import schema

#: Largest leverage a synthetic book may have (the schema's bound on leverage_max).
MAX_LEVERAGE = 1000.0

#: Family name -> (unit of its size, smallest and largest size searched, neutral size).
#: ``leverage``'s largest size is cut further to what the book's leverage_max allows.
FAMILIES: dict[str, tuple[str, float, float, float]] = {
    "crash": ("fraction of the price", 0.0, 0.99, 0.0),
    "vol": ("factor on the log returns", 1.0, 20.0, 1.0),
    "oracle": ("fraction of the price (oracle printed low)", 0.0, 0.99, 0.0),
    "depth": ("factor dividing the market depth", 1.0, 100.0, 1.0),
    "leverage": ("factor on every position's leverage", 1.0, 20.0, 1.0),
}
#: Families that transform the paths; the others change the scenario (scenario_for).
PATH_FAMILIES = frozenset({"crash", "vol"})
#: Families the issue names that this version does not build yet, and why.
NOT_BUILT: dict[str, str] = {}


@dataclass(frozen=True)
class Shock:
    """One shock of a family.

    Attributes
    ----------
    family
        ``"crash"`` or ``"vol"``.
    size
        In the family's unit: a fraction of the price for ``crash`` (0.2 is a 20%
        fall), a factor for ``vol`` (2.0 doubles every log return from the start).
    at_step
        First step the crash applies to (``crash`` only), 1 .. T.
    recover_steps
        ``crash``: 0 keeps the fall to the end; ``R > 0`` shrinks it linearly to
        nothing over the next ``R`` steps.
    """

    family: str
    size: float
    at_step: int = 1
    recover_steps: int = 0

    def factors(self, n_steps: int) -> np.ndarray:
        """``crash``: the multiplier of each step's price, ``(n_steps + 1,)``."""
        steps = np.arange(n_steps + 1, dtype=np.float64)
        after = steps - self.at_step
        if self.recover_steps > 0:
            remaining = np.clip(1.0 - after / self.recover_steps, 0.0, 1.0)
        else:
            remaining = np.ones_like(steps)
        factor = 1.0 - self.size * remaining
        factor[steps < self.at_step] = 1.0
        return factor

    def scenario_for(self, scenario: schema.Scenario) -> schema.Scenario:
        """The scenario with the shock in it (``oracle``, ``depth``, ``leverage``).

        ``oracle``: the oracle's manipulation becomes a fall of ``size`` from step
        ``at_step`` for ``max(1, recover_steps)`` steps; ``depth``: a linear market's
        depth is divided by ``size`` (a sqrt market's coefficient multiplied by
        ``sqrt(size)``, the same cut of the depth under the square-root law);
        ``leverage``: a synthetic book's ``leverage_min`` and ``leverage_max`` are
        multiplied by ``size`` (same seed: the same positions with less collateral).
        """
        if self.family == "oracle":
            assert scenario.oracle is not None
            oracle = dataclasses.replace(
                scenario.oracle,
                manipulation_step=self.at_step,
                manipulation_size=-self.size,
                manipulation_steps=max(1, self.recover_steps),
            )
            return dataclasses.replace(scenario, oracle=oracle)
        if self.family == "depth":
            market = scenario.market
            assert market is not None
            if market.impact == "linear":
                assert market.depth is not None
                cut = dataclasses.replace(market, depth=market.depth / self.size)
            else:
                assert market.coefficient is not None
                cut = dataclasses.replace(market, coefficient=market.coefficient * self.size**0.5)
            return dataclasses.replace(scenario, market=cut)
        book = scenario.book
        assert isinstance(book, schema.SyntheticBook)
        levered = dataclasses.replace(
            book,
            leverage_min=book.leverage_min * self.size,
            leverage_max=book.leverage_max * self.size,
        )
        return dataclasses.replace(scenario, book=levered)

    def apply(self, prices: np.ndarray) -> np.ndarray:
        """The shocked prices of a chunk ``(paths, T + 1)`` (a new array)."""
        if self.family == "crash":
            return np.ascontiguousarray(prices * self.factors(prices.shape[1] - 1))
        start = prices[:, :1]
        return np.ascontiguousarray(start * np.exp(self.size * np.log(prices / start)))


class ShockedSource:
    """A path source whose chunks are another source's with a :class:`Shock` applied."""

    def __init__(self, inner: PathSource, shock: Shock) -> None:
        self.inner = inner
        self.shock = shock
        self.n_paths = inner.n_paths
        self.n_steps = inner.n_steps

    def chunk(self, first: int, count: int) -> np.ndarray:
        """Prices of paths ``first .. first + count - 1`` after the shock, quote per base."""
        return self.shock.apply(self.inner.chunk(first, count))

    def path_ids(self) -> np.ndarray:
        """The inner source's path ids."""
        return self.inner.path_ids()

    def start_price(self) -> float:
        """The inner source's start price (no family moves step 0)."""
        return self.inner.start_price()


def family_range(family: str, scenario: schema.Scenario) -> tuple[float, float]:
    """Sizes searched: the family's range, for ``leverage`` cut to ``MAX_LEVERAGE``."""
    _unit, low, high, _neutral = FAMILIES[family]
    if family == "leverage" and isinstance(scenario.book, schema.SyntheticBook):
        high = min(high, MAX_LEVERAGE / scenario.book.leverage_max)
    return low, high


def check_family_scenario(family: str, scenario: schema.Scenario) -> None:
    """Refuse a family the scenario has nothing to shock with, naming what it needs."""
    needs = {
        "oracle": (
            scenario.oracle is None,
            "oracle",
            "an [oracle] table (its manipulation is the spike)",
        ),
        "depth": (scenario.market is None, "market", "a [market] table (docs/model.md 9.4)"),
        "leverage": (
            not isinstance(scenario.book, schema.SyntheticBook),
            "book",
            "a synthetic [book] (a file book's leverage is its data)",
        ),
    }
    if family in needs and needs[family][0]:
        _missing, key, expected = needs[family]
        raise InputError(
            f"the {family} family needs more in the scenario",
            file=scenario.source_file,
            key=key,
            expected=expected,
        )


def check_family(family: str, at_step: int, recover_steps: int, n_steps: int | None) -> None:
    """Refuse an unknown or unbuilt family, or a crash step outside the paths.

    ``n_steps`` ``None``: the paths are not prepared yet, the step is checked later.

    Raises
    ------
    InputError
        Naming the option, its value and what is valid.
    """
    if family in NOT_BUILT:
        raise InputError(
            f"shock family not available: {NOT_BUILT[family]}",
            key="shock",
            value=family,
            expected=f"one of {sorted(FAMILIES)}",
        )
    if family not in FAMILIES:
        raise InputError(
            "unknown shock family", key="shock", value=family, expected=f"one of {sorted(FAMILIES)}"
        )
    if n_steps is not None and not 1 <= at_step <= n_steps:
        raise InputError(
            "crash step outside the paths",
            key="at_step",
            value=at_step,
            expected=f"an integer from 1 to the scenario's n_steps ({n_steps})",
        )
    if recover_steps < 0:
        raise InputError(
            "negative recovery",
            key="recover_steps",
            value=recover_steps,
            expected="an integer >= 0",
        )
