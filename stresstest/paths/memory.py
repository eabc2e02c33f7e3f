"""Another source's paths generated once and served from memory.

A family of replays on the same paths (the static rates a ``compare --match``
scans and refines) would otherwise generate every path again for every replay.
A path's prices never depend on the chunk it is generated in (every source's
stream is per path), so serving slices of one array gives the same bytes. Single-
and multi-asset sources alike: a chunk is ``(count, n_steps + 1)`` or ``(count,
n_assets, n_steps + 1)``, and the held array has the chunk's shape for every path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Largest price array held in memory for a family of replays, bytes.
MEMORY_PATHS_BYTES = 512 * 1024 * 1024
#: Paths generated per call of the wrapped source while filling the array.
_FILL_PATHS = 4096


class MemoryPathSource:
    """The prices of ``source``, all paths, generated at construction.

    ``chunk(first, count)`` returns rows ``first .. first + count - 1`` of the
    array (C-contiguous, float64, quote per base); every other attribute
    (``provenance``, ``references``, ``assets``, ``start_prices``, ...) is the
    wrapped source's. ``source`` is a single-asset :class:`PathSource` or a
    multi-asset source (``stresstest.paths.multi``): anything with ``n_paths``,
    ``n_steps`` and ``chunk``.
    """

    def __init__(self, source: Any) -> None:
        self.source = source
        self.n_paths = int(source.n_paths)
        self.n_steps = int(source.n_steps)
        self.prices = np.empty((self.n_paths, *_point_shape(source)))
        for first in range(0, self.n_paths, _FILL_PATHS):
            count = min(_FILL_PATHS, self.n_paths - first)
            self.prices[first : first + count] = source.chunk(first, count)

    def chunk(self, first: int, count: int) -> np.ndarray:
        """Prices of paths ``first .. first + count - 1``: ``(count, n_steps + 1)``, or
        ``(count, n_assets, n_steps + 1)`` for a multi-asset source."""
        return self.prices[first : first + count]

    def path_ids(self) -> np.ndarray:
        """The wrapped source's path ids."""
        ids: np.ndarray = self.source.path_ids()
        return ids

    def start_price(self) -> float:
        """The wrapped source's start price (quote per base)."""
        price: float = self.source.start_price()
        return price

    def __getattr__(self, name: str) -> Any:
        if name == "source":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.source, name)


def _point_shape(source: Any) -> tuple[int, ...]:
    """One path's prices: ``(n_steps + 1,)``, or ``(n_assets, n_steps + 1)`` (multi-asset)."""
    steps = int(source.n_steps) + 1
    assets = getattr(source, "assets", None)
    return (steps,) if assets is None else (len(assets), steps)


def held_in_memory(source: Any) -> Any:
    """``source`` served from memory when its prices fit :data:`MEMORY_PATHS_BYTES`, else itself.

    ``source`` is single- or multi-asset; the result serves the same chunks.
    """
    if isinstance(source, MemoryPathSource):
        return source
    if source.n_paths * int(np.prod(_point_shape(source))) * 8 > MEMORY_PATHS_BYTES:
        return source
    return MemoryPathSource(source)


def unwrapped(source: Any) -> Any:
    """The source a :class:`MemoryPathSource` serves, else ``source`` itself."""
    return source.source if isinstance(source, MemoryPathSource) else source
